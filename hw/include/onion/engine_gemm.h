// The engine's one GEMM routine. Every matrix product of every op goes through `gemm`, which is
// bit-identical to onion::gemm_model (gemm.h) on the same operands; tests/hw check that.
//
//   C[m][n] = requantize((bias ? bias[n] << bias_lshift : 0) + sum_k A(m,k) * B(n,k), shift)
//   A(m,k) = base[row(m) * row_stride + col(k) * col_stride], row()/col() optional index lists
//
// Index lists express the gathers sparse attention needs (a query's key list, a key's query list)
// without copying operands. Build switches:
//   ONION_USE_RTL_GEMM  the RTL MAC-array blackbox (hw/rtl; onion/mac_array_blackbox.h streams the
//                       operands, fetched through operand_at, into it) computes the product.
//   __SYNTHESIS__ or ONION_STREAMING_GEMM
//                       plain streaming loops in gemm_model's order (C-sim can select them to
//                       check this branch: tests/hw/test_gemm_equivalence.py)
//   otherwise (C-sim)   operands are packed into contiguous double rows and dot products run with
//                       independent accumulators. This is exact, not approximate: every product is
//                       an integer below 2^30 in magnitude and every partial sum below 2^53 (K <= 2^16,
//                       bias << lshift < 2^47), so doubles hold them exactly in any order.
#ifndef ONION_ENGINE_GEMM_H
#define ONION_ENGINE_GEMM_H

#include "onion/engine_common.h"
#ifdef ONION_USE_RTL_GEMM
#include "onion/mac_array_blackbox.h"
#endif

namespace onion {

struct Operand {
    const word_t *base;
    long row_stride;
    long col_stride;
    const int32_t *row_idx;  // 0: row m is m
    const int32_t *col_idx;  // 0: column k is k
};

inline Operand operand(const word_t *base, long row_stride, long col_stride,
                       const int32_t *row_idx = 0, const int32_t *col_idx = 0) {
    Operand o;
    o.base = base;
    o.row_stride = row_stride;
    o.col_stride = col_stride;
    o.row_idx = row_idx;
    o.col_idx = col_idx;
    return o;
}

inline word_t operand_at(const Operand &o, int r, int k) {
    const long rr = o.row_idx ? o.row_idx[r] : r;
    const long kk = o.col_idx ? o.col_idx[k] : k;
    return o.base[rr * o.row_stride + kk * o.col_stride];
}

// Largest K (reduction length) any op uses; sizes the C-sim packing buffers.
constexpr int gemm_max2(int a, int b) { return a > b ? a : b; }
const int GEMM_MAX_K = gemm_max2(gemm_max2(gemm_max2(spec::MAX_MLP, spec::MAX_IN_DIM), gemm_max2(spec::MAX_OUT_DIM, 3 * spec::MAX_DIM)),
                                 gemm_max2(gemm_max2(spec::MAX_CLASSES, spec::MAX_PATCH_DIM), spec::MAX_TOKENS));
const int GEMM_N_TILE = 64;

}  // namespace onion

#if !defined(__SYNTHESIS__) && !defined(ONION_STREAMING_GEMM)
#include "onion/gemm_csim_kernel.h"  // C-sim only: the fast exact compute kernel
#endif

namespace onion {


// The GEMM; adds M*N*K to cnt.macs and the MAC array's cycles for this job (gemm_cycles) to cnt.cycles.
inline void gemm(const Operand &a, const Operand &b, const word_t *bias, int bias_lshift, word_t *c,
                 long c_row_stride, int M, int N, int K, int shift, uint32_t &sat, Counters &cnt) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {  // an empty sum (a key no query lists): C is the bias alone
        for (int m = 0; m < M; ++m) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS
            for (int n = 0; n < N; ++n) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_HEAD_DIM
                const acc_t acc = bias ? ((acc_t)bias[n] * ((acc_t)1 << bias_lshift)) : 0;
                c[(long)m * c_row_stride + n] = requantize_any(acc, shift, sat);
            }
        }
        return;
    }
    cnt.macs += (uint64_t)M * N * K;
    cnt.cycles += gemm_cycles(M, N, K, bias != 0);
#if defined(ONION_USE_RTL_GEMM)
    mac_array_rtl_gemm(a, b, bias, bias_lshift, c, c_row_stride, M, N, K, shift, sat);
#elif !defined(__SYNTHESIS__) && !defined(ONION_STREAMING_GEMM)
    gemm_csim_kernel(a, b, bias, bias_lshift, c, c_row_stride, M, N, K, shift, sat);
#else
    for (int m = 0; m < M; ++m) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS
        for (int n = 0; n < N; ++n) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_MLP
            acc_t acc = bias ? ((acc_t)bias[n] * ((acc_t)1 << bias_lshift)) : 0;
            for (int k = 0; k < K; ++k) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_MLP
#pragma HLS PIPELINE II=1
                acc += (acc_t)((int32_t)operand_at(a, m, k) * (int32_t)operand_at(b, n, k));
            }
            c[(long)m * c_row_stride + n] = requantize_any(acc, shift, sat);
        }
    }
#endif
}

}  // namespace onion

#endif
