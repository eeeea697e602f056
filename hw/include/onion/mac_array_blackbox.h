// The RTL MAC array (hw/rtl/mac_array.v) as a Vitis HLS RTL blackbox, and its C-simulation model.
//
// `onion_mac_array_rtl` is the blackbox function named in hw/rtl/mac_array_blackbox.json: in synthesis
// Vitis HLS replaces its body with the RTL module mac_array_hls; in C-simulation the body below
// runs. The body consumes the three streams in exactly the RTL's beat order (see mac_array.v) and
// computes the job with onion::gemm_model, so C-sim and RTL agree bit for bit.
//
// `mac_array_rtl_gemm` is what the engine calls for one GEMM: it does the operand fetch (strides
// and index-list gathers happen HERE, in the engine, not in the core: docs/rtl.md says why), cuts
// M into jobs of at most MAC_MAX_M rows, streams the operands and unpacks the result rows.
#ifndef ONION_MAC_ARRAY_BLACKBOX_H
#define ONION_MAC_ARRAY_BLACKBOX_H

#include <vector>

#include "ap_int.h"
#include "hls_stream.h"
#include "onion/fixed.h"
#include "onion/gemm.h"
#include "onion/mac_array_timing.h"

namespace onion {

template <int ROWS> struct MacA { typedef ap_uint<ROWS * 16> beat; };
template <int COLS> struct MacBC { typedef ap_uint<COLS * 16> beat; };

typedef MacA<MAC_ROWS>::beat mac_a_beat;
typedef MacBC<MAC_COLS>::beat mac_bc_beat;

template <int W> inline word_t mac_lane(const ap_uint<W> &beat, int lane) {
    return (word_t)(int)beat.range(16 * lane + 15, 16 * lane).to_uint();
}

template <int W> inline void mac_set_lane(ap_uint<W> &beat, int lane, word_t v) {
    beat.range(16 * lane + 15, 16 * lane) = (unsigned)(uint16_t)v;
}

// C model of one job on a ROWS x COLS core; returns the saturation count (columns < N only).
template <int ROWS, int COLS>
uint32_t mac_array_model(hls::stream<typename MacA<ROWS>::beat> &a_stream,
                         hls::stream<typename MacBC<COLS>::beat> &b_stream,
                         hls::stream<typename MacBC<COLS>::beat> &c_stream,
                         int M, int N, int K, int shift, bool bias_en, int bias_lshift) {
    const int n_tiles = (N + COLS - 1) / COLS, k_tiles = (K + ROWS - 1) / ROWS;
    const int n_pad = n_tiles * COLS, k_pad = k_tiles * ROWS;
    std::vector<word_t> a((size_t)M * k_pad), b((size_t)n_pad * k_pad), bias(n_pad, 0), c((size_t)M * n_pad);
    uint32_t sat = 0;
    for (int nt = 0; nt < n_tiles; ++nt) {
        for (int kt = 0; kt < k_tiles; ++kt) {
            if (bias_en && kt == 0) {  // the RTL reads the bias beat, then the B tile, then A
                typename MacBC<COLS>::beat beat = b_stream.read();
                for (int j = 0; j < COLS; ++j) bias[nt * COLS + j] = mac_lane(beat, j);
            }
            for (int r = 0; r < ROWS; ++r) {
                typename MacBC<COLS>::beat beat = b_stream.read();
                for (int j = 0; j < COLS; ++j) b[(size_t)(nt * COLS + j) * k_pad + kt * ROWS + r] = mac_lane(beat, j);
            }
            for (int m = 0; m < M; ++m) {
                typename MacA<ROWS>::beat beat = a_stream.read();
                for (int r = 0; r < ROWS; ++r) a[(size_t)m * k_pad + kt * ROWS + r] = mac_lane(beat, r);
            }
        }
        const int nn = N - nt * COLS < COLS ? N - nt * COLS : COLS;
        GemmOperand ga = {a.data(), k_pad, 1}, gb = {b.data() + (size_t)nt * COLS * k_pad, k_pad, 1};
        // lanes past K are masked in the RTL: the model simply stops at K
        gemm_model(ga, gb, bias_en ? bias.data() + nt * COLS : 0, bias_lshift, c.data() + nt * COLS, n_pad,
                   M, nn, K, shift, sat);
        for (int m = 0; m < M; ++m) {
            typename MacBC<COLS>::beat beat = 0;
            for (int j = 0; j < nn; ++j) mac_set_lane(beat, j, c[(size_t)m * n_pad + nt * COLS + j]);
            c_stream.write(beat);
        }
    }
    return sat;
}

// One GEMM through the core: C[m][n] = requantize(bias[n] << bias_lshift + sum_k A(m,k) B(n,k)).
// `at(op, r, k)` fetches an operand element (any stride or index-list gather); `job` runs one
// job (onion_mac_array_rtl, or mac_array_model<ROWS, COLS> for another geometry).
template <int ROWS, int COLS, int MAX_M, class Op, class At, class Job>
void mac_array_gemm_with(const Op &a, const Op &b, At at, Job job, const word_t *bias, int bias_lshift,
                         word_t *c, long c_row_stride, int M, int N, int K, int shift, uint32_t &sat) {
    if (M <= 0 || N <= 0 || K <= 0) return;
    // below SHIFT_MIN every non-zero value saturates and zero stays zero, exactly as at SHIFT_MIN
    if (shift < SHIFT_MIN) shift = SHIFT_MIN;
    const int n_tiles = (N + COLS - 1) / COLS, k_tiles = (K + ROWS - 1) / ROWS;
    for (int m0 = 0; m0 < M; m0 += MAX_M) {
        const int mm = M - m0 < MAX_M ? M - m0 : MAX_M;
        hls::stream<typename MacA<ROWS>::beat> a_stream;
        hls::stream<typename MacBC<COLS>::beat> b_stream, c_stream;
        for (int nt = 0; nt < n_tiles; ++nt) {
            for (int kt = 0; kt < k_tiles; ++kt) {
                if (bias && kt == 0) {
                    typename MacBC<COLS>::beat beat = 0;
                    for (int j = 0; j < COLS && nt * COLS + j < N; ++j) mac_set_lane(beat, j, bias[nt * COLS + j]);
                    b_stream.write(beat);
                }
                for (int r = 0; r < ROWS; ++r) {
                    typename MacBC<COLS>::beat beat = 0;
                    const int k = kt * ROWS + r;
                    for (int j = 0; j < COLS && k < K && nt * COLS + j < N; ++j)
                        mac_set_lane(beat, j, at(b, nt * COLS + j, k));
                    b_stream.write(beat);
                }
                for (int m = 0; m < mm; ++m) {
                    typename MacA<ROWS>::beat beat = 0;
                    for (int r = 0; r < ROWS && kt * ROWS + r < K; ++r) mac_set_lane(beat, r, at(a, m0 + m, kt * ROWS + r));
                    a_stream.write(beat);
                }
            }
        }
        sat += job(a_stream, b_stream, c_stream, mm, N, K, shift, bias != 0, bias_lshift);
        for (int nt = 0; nt < n_tiles; ++nt) {
            for (int m = 0; m < mm; ++m) {
                typename MacBC<COLS>::beat beat = c_stream.read();
                for (int j = 0; j < COLS && nt * COLS + j < N; ++j)
                    c[(long)(m0 + m) * c_row_stride + nt * COLS + j] = mac_lane(beat, j);
            }
        }
    }
}

}  // namespace onion

// The blackbox function (default geometry), in the global namespace because the blackbox JSON
// (hw/rtl/mac_array_blackbox.json) names it: Vitis HLS swaps this body for mac_array_hls.v.
// Returns the job's saturation count.
inline uint32_t onion_mac_array_rtl(hls::stream<onion::mac_a_beat> &a_stream,
                                    hls::stream<onion::mac_bc_beat> &b_stream,
                                    hls::stream<onion::mac_bc_beat> &c_stream, int M, int N, int K, int shift,
                                    bool bias_en, int bias_lshift) {
    return onion::mac_array_model<onion::MAC_ROWS, onion::MAC_COLS>(a_stream, b_stream, c_stream, M, N, K, shift,
                                                                     bias_en, bias_lshift);
}

namespace onion {

// The engine's entry under ONION_USE_RTL_GEMM. Op is the engine's operand type; `operand_at(op,
// r, k)` (found by argument-dependent lookup) fetches one element, gathers included.
template <class Op>
void mac_array_rtl_gemm(const Op &a, const Op &b, const word_t *bias, int bias_lshift, word_t *c,
                        long c_row_stride, int M, int N, int K, int shift, uint32_t &sat) {
    struct Fetch {
        word_t operator()(const Op &o, int r, int k) const { return operand_at(o, r, k); }
    };
    mac_array_gemm_with<MAC_ROWS, MAC_COLS, MAC_MAX_M>(a, b, Fetch(), onion_mac_array_rtl, bias, bias_lshift, c,
                                                       c_row_stride, M, N, K, shift, sat);
}

}  // namespace onion

#endif
