// C-simulation only: the fast, exact compute kernel behind onion::gemm (engine_gemm.h) in builds that
// are neither synthesis nor ONION_STREAMING_GEMM. Same result, bit for bit, as gemm_model.
//
// Exact by construction, not approximately: operands are int16 words converted to double; every
// product is an integer below 2^30 in magnitude and every partial sum below 2^53 (K <= 2^16,
// bias << lshift < 2^47), so doubles hold every intermediate exactly, in any summation order and
// with or without fused multiply-add. That freedom is what makes the kernel fast:
//   - B's tile of up to GEMM_N_TILE rows is packed once, k-major (bt[k][j]), zero-padded to a
//     multiple of NR columns; A is packed MR rows at a time (zero-padded rows are computed, never
//     stored);
//   - an MR x NR register block of accumulators (GCC/Clang vector extensions: SIMD of whatever width
//     the target has; -march=native in the spec's csim_build flags gives AVX2/AVX-512) runs over k
//     with one broadcast of A and NR/VW loads of B per MR*NR/VW multiply-adds.
// Never included by synthesis (engine_gemm.h guards the include).
#ifndef ONION_GEMM_CSIM_KERNEL_H
#define ONION_GEMM_CSIM_KERNEL_H

#ifndef __SYNTHESIS__  // the whole file is C-sim only

namespace onion {

typedef double gemm_v4d __attribute__((vector_size(32)));  // 4 doubles; split into SSE halves without AVX

const int GEMM_MR = 4;                 // rows of A per register block
const int GEMM_NR = 8;                 // columns of B per register block (two 4-double vectors)
const int GEMM_N_PAD = (GEMM_N_TILE + GEMM_NR - 1) / GEMM_NR * GEMM_NR;
const long GEMM_PARALLEL_MACS = 1L << 17;  // below this a tile runs on one thread (built with -fopenmp)

inline word_t gemm_operand_word(const word_t *row, const Operand &o, int k) {
    return o.col_idx ? row[(long)o.col_idx[k] * o.col_stride] : row[(long)k * o.col_stride];
}

inline const word_t *gemm_operand_row(const Operand &o, int r) {
    const long rr = o.row_idx ? o.row_idx[r] : r;
    return o.base + rr * o.row_stride;
}

// B rows n0 .. n0+nn-1 into bt[k * np + j] (np = nn rounded up to NR, padding zero). A transposed
// view (rows adjacent in memory) is copied k-major so that reads and writes both run contiguously.
inline void gemm_pack_b(const Operand &b, int n0, int nn, int np, int K, double *bt) {
    if (!b.row_idx && !b.col_idx && b.row_stride == 1) {
        for (int k = 0; k < K; ++k) {
            const word_t *p = b.base + (long)k * b.col_stride + n0;
            double *dst = bt + (long)k * np;
            for (int j = 0; j < nn; ++j) dst[j] = p[j];
            for (int j = nn; j < np; ++j) dst[j] = 0.0;
        }
        return;
    }
    for (int j = 0; j < np; ++j) {
        if (j >= nn) {
            for (int k = 0; k < K; ++k) bt[(long)k * np + j] = 0.0;
            continue;
        }
        const word_t *p = gemm_operand_row(b, n0 + j);
        if (!b.col_idx && b.col_stride == 1) {
            for (int k = 0; k < K; ++k) bt[(long)k * np + j] = p[k];
        } else {
            for (int k = 0; k < K; ++k) bt[(long)k * np + j] = gemm_operand_word(p, b, k);
        }
    }
}

// A rows m0 .. m0+mm-1 into at[k * MR + r] (rows past mm zero).
inline void gemm_pack_a(const Operand &a, int m0, int mm, int K, double *at) {
    for (int r = 0; r < GEMM_MR; ++r) {
        if (r >= mm) {
            for (int k = 0; k < K; ++k) at[k * GEMM_MR + r] = 0.0;
            continue;
        }
        const word_t *p = gemm_operand_row(a, m0 + r);
        if (!a.col_idx && a.col_stride == 1) {
            for (int k = 0; k < K; ++k) at[k * GEMM_MR + r] = p[k];
        } else {
            for (int k = 0; k < K; ++k) at[k * GEMM_MR + r] = gemm_operand_word(p, a, k);
        }
    }
}

// acc[r][v] (MR rows x NR columns as NR/4 vectors) = sum_k at[k][r] * bt[k][j0 .. j0+NR).
inline void gemm_micro(const double *at, const double *bt, int np, int j0, int K, double out[GEMM_MR][GEMM_NR]) {
    gemm_v4d c00 = {0, 0, 0, 0}, c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    const double *bp = bt + j0;
    for (int k = 0; k < K; ++k, bp += np) {
        gemm_v4d b0, b1;
        __builtin_memcpy(&b0, bp, sizeof b0);
        __builtin_memcpy(&b1, bp + 4, sizeof b1);
        const double *ap = at + k * GEMM_MR;
        const gemm_v4d a0 = {ap[0], ap[0], ap[0], ap[0]}, a1 = {ap[1], ap[1], ap[1], ap[1]};
        const gemm_v4d a2 = {ap[2], ap[2], ap[2], ap[2]}, a3 = {ap[3], ap[3], ap[3], ap[3]};
        c00 += a0 * b0; c01 += a0 * b1;
        c10 += a1 * b0; c11 += a1 * b1;
        c20 += a2 * b0; c21 += a2 * b1;
        c30 += a3 * b0; c31 += a3 * b1;
    }
    __builtin_memcpy(&out[0][0], &c00, sizeof c00); __builtin_memcpy(&out[0][4], &c01, sizeof c01);
    __builtin_memcpy(&out[1][0], &c10, sizeof c10); __builtin_memcpy(&out[1][4], &c11, sizeof c11);
    __builtin_memcpy(&out[2][0], &c20, sizeof c20); __builtin_memcpy(&out[2][4], &c21, sizeof c21);
    __builtin_memcpy(&out[3][0], &c30, sizeof c30); __builtin_memcpy(&out[3][4], &c31, sizeof c31);
}

// C = requantize(bias << bias_lshift + A B^T, shift) over Operand views (see engine_gemm.h).
inline void gemm_csim_kernel(const Operand &a, const Operand &b, const word_t *bias, int bias_lshift, word_t *c,
                             long c_row_stride, int M, int N, int K, int shift, uint32_t &sat) {
    static double bt[(long)GEMM_MAX_K * GEMM_N_PAD];
    static double arow[GEMM_MAX_K];
    if (M < GEMM_MR) {  // e.g. one query's gathered keys: packing B would cost more than the product
        for (int m = 0; m < M; ++m) {
            const word_t *pa = gemm_operand_row(a, m);
            for (int k = 0; k < K; ++k) arow[k] = gemm_operand_word(pa, a, k);
            word_t *crow = c + (long)m * c_row_stride;
            for (int n = 0; n < N; ++n) {
                const word_t *pb = gemm_operand_row(b, n);
                double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
                int k = 0;
                if (!b.col_idx && b.col_stride == 1) {
                    for (; k + 4 <= K; k += 4) {
                        s0 += arow[k] * pb[k]; s1 += arow[k + 1] * pb[k + 1];
                        s2 += arow[k + 2] * pb[k + 2]; s3 += arow[k + 3] * pb[k + 3];
                    }
                }
                for (; k < K; ++k) s0 += arow[k] * gemm_operand_word(pb, b, k);
                acc_t acc = (acc_t)((s0 + s1) + (s2 + s3));
                if (bias) acc += (acc_t)bias[n] * ((acc_t)1 << bias_lshift);
                crow[n] = requantize_any(acc, shift, sat);
            }
        }
        return;
    }
    for (int n0 = 0; n0 < N; n0 += GEMM_N_TILE) {
        const int nn = N - n0 < GEMM_N_TILE ? N - n0 : GEMM_N_TILE;
        const int np = (nn + GEMM_NR - 1) / GEMM_NR * GEMM_NR;
        gemm_pack_b(b, n0, nn, np, K, bt);
        // Row blocks are independent (each writes its own rows of C); with OpenMP the CPU's cores
        // share them. Exact sums make the result the same for any thread count; only the saturation
        // count needs a reduction. Small tiles stay on one thread (a fork costs more than they do).
        uint32_t tile_sat = 0;
        const int blocks = (M + GEMM_MR - 1) / GEMM_MR;
#pragma omp parallel for schedule(static) reduction(+ : tile_sat) if ((long)M * nn * K >= GEMM_PARALLEL_MACS)
        for (int blk = 0; blk < blocks; ++blk) {
            double at[(long)GEMM_MAX_K * GEMM_MR];  // per thread: A's packed rows
            double block[GEMM_MR][GEMM_NR];
            const int m0 = blk * GEMM_MR;
            const int mm = M - m0 < GEMM_MR ? M - m0 : GEMM_MR;
            gemm_pack_a(a, m0, mm, K, at);
            for (int j0 = 0; j0 < np; j0 += GEMM_NR) {
                gemm_micro(at, bt, np, j0, K, block);
                for (int r = 0; r < mm; ++r) {
                    word_t *crow = c + (long)(m0 + r) * c_row_stride + n0;
                    const int jn = nn - j0 < GEMM_NR ? nn - j0 : GEMM_NR;
                    for (int j = 0; j < jn; ++j) {
                        acc_t acc = (acc_t)block[r][j];
                        if (bias) acc += (acc_t)bias[n0 + j0 + j] * ((acc_t)1 << bias_lshift);
                        crow[j0 + j] = requantize_any(acc, shift, tile_sat);
                    }
                }
            }
        }
        sat += tile_sat;
    }
}

}  // namespace onion

#endif  // __SYNTHESIS__
#endif
