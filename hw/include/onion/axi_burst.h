// The engine's DMA: burst loads of a DDR region into an on-chip buffer and burst stores back, the
// only code that touches the m_axi ports. Each counts what it moves, as the bus sees it:
//
//   bytes   whole beats of the port's width (spec::AXI_BITS_*) covering the region; ports start
//           4 KB-aligned (pynq.allocate), so a region's beats are its byte span rounded out to beats
//   bursts  AXI4 bursts: a run of beats that never crosses a 4 KB boundary and holds at most
//           spec::AXI_MAX_BURST_BEATS beats (the m_axi adapter cuts a long sequential access there)
//
// The copy loops are sequential, unit-stride and pipelined at II=1, the pattern Vitis HLS infers
// one long burst from and widens to the port's data width (max_widen_bitwidth in the generated
// interface pragmas); nothing in the op code reads DDR element by element.
#ifndef ONION_AXI_BURST_H
#define ONION_AXI_BURST_H

#include "onion/engine_common.h"

namespace onion {

// Beats and AXI4 bursts that carry the bytes [first_byte, first_byte + n_bytes) of a port.
inline void axi_beats_and_bursts(uint64_t first_byte, uint64_t n_bytes, int beat_bytes, uint64_t &beats,
                                 uint32_t &bursts) {
    beats = 0;
    bursts = 0;
    if (n_bytes == 0) return;
    const uint64_t bb = (uint64_t)beat_bytes;
    uint64_t at = first_byte / bb * bb;                               // first beat
    const uint64_t end = (first_byte + n_bytes + bb - 1) / bb * bb;   // past the last beat
    beats = (end - at) / bb;
    const uint64_t max_burst = (uint64_t)spec::AXI_MAX_BURST_BEATS * bb;
    const uint64_t boundary = (uint64_t)spec::AXI_BOUNDARY_BYTES;
    while (at < end) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_REGION_BURSTS
        uint64_t stop = (at / boundary + 1) * boundary;
        if (stop > at + max_burst) stop = at + max_burst;
        if (stop > end) stop = end;
        ++bursts;
        at = stop;
    }
}

// Adds one transfer of n words of `word_bytes` at word offset `off` of port `port` to the counters.
inline void axi_count(Counters &cnt, int port, bool write, long off, long n, int word_bytes) {
    uint64_t beats;
    uint32_t bursts;
    const int bb = spec::axi_beat_bytes(port);
    axi_beats_and_bursts((uint64_t)off * word_bytes, (uint64_t)n * word_bytes, bb, beats, bursts);
    if (write) {
        cnt.axi[port].wr_bytes += beats * bb;
        cnt.axi[port].wr_bursts += bursts;
    } else {
        cnt.axi[port].rd_bytes += beats * bb;
        cnt.axi[port].rd_bursts += bursts;
    }
}

// Bytes of a region rounded out to whole beats (what reading or writing it once costs).
inline uint64_t axi_region_bytes(int port, long off, long n, int word_bytes) {
    uint64_t beats;
    uint32_t bursts;
    const int bb = spec::axi_beat_bytes(port);
    axi_beats_and_bursts((uint64_t)off * word_bytes, (uint64_t)n * word_bytes, bb, beats, bursts);
    return beats * bb;
}

// DDR -> on-chip: dst[0, n) = ddr[off, off + n).
template <class T>
void burst_load(const T *ddr, long off, long n, T *dst, int port, Counters &cnt) {
    const T *src = ddr + off;
    for (long i = 0; i < n; ++i) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_REGION_WORDS
#pragma HLS PIPELINE II=1
        dst[i] = src[i];
    }
    axi_count(cnt, port, false, off, n, (int)sizeof(T));
}

// on-chip -> DDR: ddr[off, off + n) = src[0, n).
template <class T>
void burst_store(T *ddr, long off, long n, const T *src, int port, Counters &cnt) {
    T *dst = ddr + off;
    for (long i = 0; i < n; ++i) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_REGION_WORDS
#pragma HLS PIPELINE II=1
        dst[i] = src[i];
    }
    axi_count(cnt, port, true, off, n, (int)sizeof(T));
}

}  // namespace onion

#endif
