// C model of the RTL MAC array (hw/rtl/mac_array.v): NOT design code. Compiled only into the
// blackbox's c_file (hw/rtl/mac_array_model.cpp) and the cocotb reference library
// (sim/cocotb/mac_array/gemm_ref.cpp); the synthesized engine includes mac_array_blackbox.h only.
//
// mac_array_model consumes the three streams in exactly the RTL's beat order and computes each
// n-tile with onion::gemm_model, so C-sim and RTL agree bit for bit. mac_array_gemm_with packs an
// arbitrary operand into that protocol for other geometries (the cocotb benches' reference).
#ifndef ONION_MAC_ARRAY_MODEL_H
#define ONION_MAC_ARRAY_MODEL_H

#ifdef __SYNTHESIS__
#error "hw/rtl/mac_array_model.h is the C model of the RTL blackbox: never part of synthesis"
#endif

#include <vector>

#include "onion/gemm.h"
#include "onion/mac_array_blackbox.h"

namespace onion {

// One job on a ROWS x COLS core over any stream types; returns the saturation count (columns < N).
template <int ROWS, int COLS, class AS, class BS, class CS>
uint32_t mac_array_model_on(AS &a_stream, BS &b_stream, CS &c_stream, int M, int N, int K, int shift, bool bias_en,
                            int bias_lshift) {
    const int n_tiles = (N + COLS - 1) / COLS, k_tiles = (K + ROWS - 1) / ROWS;
    const int n_pad = n_tiles * COLS, k_pad = k_tiles * ROWS;
    std::vector<word_t> a((size_t)M * k_pad), b((size_t)COLS * k_pad), bias(COLS, 0), c((size_t)M * COLS);
    uint32_t sat = 0;
    (void)n_pad;
    for (int nt = 0; nt < n_tiles; ++nt) {
        for (int kt = 0; kt < k_tiles; ++kt) {
            if (bias_en && kt == 0) {  // the RTL reads the bias beat, then the B tile, then A
                typename MacBC<COLS>::beat beat = b_stream.read();
                for (int j = 0; j < COLS; ++j) bias[j] = mac_lane(beat, j);
            }
            for (int r = 0; r < ROWS; ++r) {
                typename MacBC<COLS>::beat beat = b_stream.read();
                for (int j = 0; j < COLS; ++j) b[(size_t)j * k_pad + kt * ROWS + r] = mac_lane(beat, j);
            }
            for (int m = 0; m < M; ++m) {
                typename MacA<ROWS>::beat beat = a_stream.read();
                for (int r = 0; r < ROWS; ++r) a[(size_t)m * k_pad + kt * ROWS + r] = mac_lane(beat, r);
            }
        }
        const int nn = N - nt * COLS < COLS ? N - nt * COLS : COLS;
        GemmOperand ga = {a.data(), k_pad, 1}, gb = {b.data(), k_pad, 1};
        // lanes past K are masked in the RTL: the model simply stops at K
        gemm_model(ga, gb, bias_en ? bias.data() : 0, bias_lshift, c.data(), COLS, M, nn, K, shift, sat);
        for (int m = 0; m < M; ++m) {
            typename MacBC<COLS>::beat beat = 0;
            for (int j = 0; j < nn; ++j) mac_set_lane(beat, j, c[(size_t)m * COLS + j]);
            c_stream.write(beat);
        }
    }
    return sat;
}

template <int ROWS, int COLS>
uint32_t mac_array_model(hls::stream<typename MacA<ROWS>::beat> &a_stream,
                         hls::stream<typename MacBC<COLS>::beat> &b_stream,
                         hls::stream<typename MacBC<COLS>::beat> &c_stream, int M, int N, int K, int shift,
                         bool bias_en, int bias_lshift) {
    return mac_array_model_on<ROWS, COLS>(a_stream, b_stream, c_stream, M, N, K, shift, bias_en, bias_lshift);
}

// One GEMM through a ROWS x COLS core model, M cut into jobs of MAX_M rows: `at(op, r, k)` fetches an
// operand element, `job` runs one job (C-model test utility; the engine's own path is gemm_unit.h).
template <int ROWS, int COLS, int MAX_M, class Op, class At, class Job>
void mac_array_gemm_with(const Op &a, const Op &b, At at, Job job, const word_t *bias, int bias_lshift,
                         word_t *c, long c_row_stride, int M, int N, int K, int shift, uint32_t &sat) {
    if (M <= 0 || N <= 0 || K <= 0) return;
    if (shift < SHIFT_MIN) shift = SHIFT_MIN;  // below it every non-zero value saturates, as at SHIFT_MIN
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

// The default-geometry model behind an operand type with an ADL `operand_at(op, r, k)`.
template <class Op>
void mac_array_rtl_gemm(const Op &a, const Op &b, const word_t *bias, int bias_lshift, word_t *c,
                        long c_row_stride, int M, int N, int K, int shift, uint32_t &sat) {
    struct Fetch {
        word_t operator()(const Op &o, int r, int k) const { return operand_at(o, r, k); }
    };
    mac_array_gemm_with<MAC_ROWS, MAC_COLS, MAC_MAX_M>(a, b, Fetch(), mac_array_model<MAC_ROWS, MAC_COLS>, bias,
                                                       bias_lshift, c, c_row_stride, M, N, K, shift, sat);
}

}  // namespace onion

#endif
