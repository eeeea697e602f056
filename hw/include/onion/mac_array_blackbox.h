// The RTL MAC array (hw/rtl/mac_array.v, wrapper mac_array_hls.v) as a Vitis HLS RTL blackbox: the
// design side only. `onion_mac_array_rtl` is DECLARED here and never defined in design code; Vitis
// HLS binds the declaration to the RTL named in hw/rtl/mac_array_blackbox.json, and C-simulation
// links its C model from the JSON's c_file (hw/rtl/mac_array_model.cpp, which the C-sim build
// lists in engine_spec.json csim_build.sources).
//
// Beat protocol of one job (mac_array.v): for each n-tile of MAC_COLS columns, for each k-tile of
// MAC_ROWS k values: [one bias beat on the first k-tile when bias_en], MAC_ROWS B beats (lane j =
// B(n0 + j, k0 + r)), then M A beats (lane r = A(m, k0 + r)); after the last k-tile of an n-tile
// the core writes M C beats (lane j = C(m, n0 + j)). Lanes past K or N are zero.
#ifndef ONION_MAC_ARRAY_BLACKBOX_H
#define ONION_MAC_ARRAY_BLACKBOX_H

#include "ap_int.h"
#include "hls_stream.h"
#include "onion/fixed.h"
#include "onion/mac_array_timing.h"

namespace onion {

template <int ROWS> struct MacA { typedef ap_uint<ROWS * 16> beat; };
template <int COLS> struct MacBC { typedef ap_uint<COLS * 16> beat; };

typedef MacA<MAC_ROWS>::beat mac_a_beat;
typedef MacBC<MAC_COLS>::beat mac_bc_beat;

// FIFO depths between the operand feeder, the array and the drain (docs/engine.md "FIFO depths"):
//   A: the array takes one A beat per cycle while it streams; 4 absorbs the feeder's and the
//      array's pipeline latencies so neither stalls the other in steady state.
//   B: one whole stationary tile plus its bias beat (MAC_ROWS + 1): the feeder stages tile t+1
//      here while the array streams tile t's A rows, i.e. the B tile is double-buffered (this FIFO
//      and the array's loading registers).
//   C: the drain writes one result beat per cycle to on-chip memory; 4 covers its latency.
// None of them has to hold a job: all three processes run concurrently (DATAFLOW).
const int MAC_A_FIFO_DEPTH = 4;
const int MAC_B_FIFO_DEPTH = MAC_ROWS + 1;
const int MAC_C_FIFO_DEPTH = 4;

typedef hls::stream<mac_a_beat, MAC_A_FIFO_DEPTH> mac_a_fifo;
typedef hls::stream<mac_bc_beat, MAC_B_FIFO_DEPTH> mac_b_fifo;
typedef hls::stream<mac_bc_beat, MAC_C_FIFO_DEPTH> mac_c_fifo;

template <int W> inline word_t mac_lane(const ap_uint<W> &beat, int lane) {
    return (word_t)(int)beat.range(16 * lane + 15, 16 * lane).to_uint();
}

template <int W> inline void mac_set_lane(ap_uint<W> &beat, int lane, word_t v) {
    beat.range(16 * lane + 15, 16 * lane) = (unsigned)(uint16_t)v;
}

}  // namespace onion

// The blackbox (global namespace: the JSON names it). One job of at most MAC_MAX_M rows; returns
// the job's saturation count. Declared only: the RTL in synthesis, hw/rtl/mac_array_model.cpp in C-sim.
uint32_t onion_mac_array_rtl(onion::mac_a_fifo &a_stream, onion::mac_b_fifo &b_stream, onion::mac_c_fifo &c_stream,
                             int M, int N, int K, int shift, bool bias_en, int bias_lshift);

#endif
