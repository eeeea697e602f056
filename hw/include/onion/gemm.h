// The GEMM model: the specification that the HLS engine's GEMMs and the RTL MAC-array core both
// answer to, bit for bit.
//
//   C[m][n] = requantize( (bias ? bias[n] << bias_lshift : 0) + sum_k A(m,k) * B(n,k), shift )
//
// A(m,k) = A[m*a_row + k*a_col], B(n,k) = B[n*b_row + k*b_col]: strides express every transpose
// a ViT training step needs (X W^T, dY W, dY^T X, Q K^T, P V and their backward forms).
// Products are exact 32-bit values; the sum is exact in the 48-bit accumulator for K <= 2^16.
#ifndef ONION_GEMM_H
#define ONION_GEMM_H

#include "onion/fixed.h"
#include "onion/spec.h"  // ONION_TRIP_* trip counts

namespace onion {

struct GemmOperand {
    const word_t *base;
    int row_stride;  // step between rows (m for A, n for B)
    int col_stride;  // step along k
};

// Returns the number of multiply-accumulates performed (M*N*K).
inline uint64_t gemm_model(GemmOperand a, GemmOperand b, const word_t *bias, int bias_lshift,
                           word_t *c, int c_row_stride, int M, int N, int K, int shift,
                           uint32_t &sat_count) {
    for (int m = 0; m < M; ++m) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS
        for (int n = 0; n < N; ++n) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_MLP
            acc_t acc = bias ? ((acc_t)bias[n] * ((acc_t)1 << bias_lshift)) : 0;
            const word_t *pa = a.base + (long)m * a.row_stride;
            const word_t *pb = b.base + (long)n * b.row_stride;
            for (int k = 0; k < K; ++k) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_MLP
                acc += (acc_t)((int32_t)pa[(long)k * a.col_stride] * (int32_t)pb[(long)k * b.col_stride]);
            }
            c[(long)m * c_row_stride + n] = requantize(acc, shift, sat_count);
        }
    }
    return (uint64_t)M * N * K;
}

}  // namespace onion

#endif
