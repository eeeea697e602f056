// The engine's one GEMM entry. Every matrix product of every op goes through `gemm`, which is
// bit-identical to onion::gemm_model (gemm.h) on the same operands; tests/hw check that.
//
//   C[m][n] = requantize((bias ? bias[n] << bias_lshift : 0) + sum_k A(m,k) * B(n,k), shift)
//   A(m,k) = base[row(m) * row_stride + col(k) * col_stride], row()/col() optional index lists
//
// Operands are views of the call's on-chip copies (engine.h): index lists express the gathers
// sparse attention and token pruning need, served from on-chip memory. The product runs on the one
// GEMM unit (gemm_unit.h: feeder -> MAC array -> drain); `gemm` adds the job's work to the counters:
// M*N*K MACs and the array's cycles (gemm_cycles, the RTL's exact cycle model).
#ifndef ONION_ENGINE_GEMM_H
#define ONION_ENGINE_GEMM_H

#include "onion/engine_common.h"
#include "onion/gemm.h"  // gemm_model: the specification gemm answers to
#include "onion/gemm_unit.h"

namespace onion {

// Jobs on the array without MAC accounting (the caller counts the useful MACs: masked attention).
inline void gemm_jobs(const Operand &a, const Operand &b, const word_t *bias, int bias_lshift, word_t *c,
                      long c_row_stride, int M, int N, int K, int shift, uint32_t &sat, Counters &cnt) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {  // an empty sum (no listed entry): C is the bias alone, no array job
        for (int m = 0; m < M; ++m) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS
            for (int n0 = 0; n0 < N; n0 += EW_LANES) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TILE_COLS_LANES
#pragma HLS PIPELINE II=1
                for (int l = 0; l < EW_LANES; ++l) {
#pragma HLS UNROLL
                    const int n = n0 + l;
                    if (n < N) {
                        const acc_t acc = bias ? ((acc_t)bias[n] * ((acc_t)1 << bias_lshift)) : 0;
                        c[(long)m * c_row_stride + n] = requantize_any(acc, shift, sat);
                    }
                }
            }
            count_elementwise(cnt, N, EW_LANES, 1, EW_DEPTH_REQUANT);
        }
        return;
    }
    cnt.cycles += gemm_cycles(M, N, K, bias != 0);
    // below SHIFT_MIN every non-zero value saturates and zero stays zero, exactly as at SHIFT_MIN
    gemm_unit(a, b, bias, bias_lshift, c, c_row_stride, M, N, K, shift < SHIFT_MIN ? SHIFT_MIN : shift, sat);
}

// The GEMM; adds M*N*K to cnt.macs and the array's cycles for its jobs to cnt.cycles.
inline void gemm(const Operand &a, const Operand &b, const word_t *bias, int bias_lshift, word_t *c,
                 long c_row_stride, int M, int N, int K, int shift, uint32_t &sat, Counters &cnt) {
    if (M > 0 && N > 0 && K > 0) cnt.macs += (uint64_t)M * N * K;
    gemm_jobs(a, b, bias, bias_lshift, c, c_row_stride, M, N, K, shift, sat, cnt);
}

}  // namespace onion

#endif
