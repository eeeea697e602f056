// C-simulation only: the fast, exact compute kernel behind onion::gemm (engine_gemm.h) in builds that
// are neither synthesis nor ONION_STREAMING_GEMM. Same result, bit for bit, as gemm_model:
// operands are packed into contiguous double rows and dot products run with independent
// accumulators. This is exact, not approximate: every product is an integer below 2^30 in magnitude
// and every partial sum below 2^53 (K <= 2^16, bias << lshift < 2^47), so doubles hold them exactly
// in any order. Never included by synthesis (engine_gemm.h guards the include).
#ifndef ONION_GEMM_CSIM_KERNEL_H
#define ONION_GEMM_CSIM_KERNEL_H

#ifndef __SYNTHESIS__  // the whole file is C-sim only

namespace onion {

inline void gemm_pack_row(const Operand &o, int r, int K, double *dst) {
    const long rr = o.row_idx ? o.row_idx[r] : r;
    const word_t *p = o.base + rr * o.row_stride;
    if (o.col_idx) {
        for (int k = 0; k < K; ++k) dst[k] = p[(long)o.col_idx[k] * o.col_stride];
    } else if (o.col_stride == 1) {
        for (int k = 0; k < K; ++k) dst[k] = p[k];
    } else {
        for (int k = 0; k < K; ++k) dst[k] = p[(long)k * o.col_stride];
    }
}

inline double gemm_dot(const double *a, const double *b, int K) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    int k = 0;
    for (; k + 8 <= K; k += 8) {
        s0 += a[k] * b[k]; s1 += a[k + 1] * b[k + 1]; s2 += a[k + 2] * b[k + 2]; s3 += a[k + 3] * b[k + 3];
        s4 += a[k + 4] * b[k + 4]; s5 += a[k + 5] * b[k + 5]; s6 += a[k + 6] * b[k + 6]; s7 += a[k + 7] * b[k + 7];
    }
    for (; k < K; ++k) s0 += a[k] * b[k];
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
}

// C = requantize(bias << bias_lshift + A B^T, shift) over Operand views (see engine_gemm.h).
inline void gemm_csim_kernel(const Operand &a, const Operand &b, const word_t *bias, int bias_lshift, word_t *c,
                             long c_row_stride, int M, int N, int K, int shift, uint32_t &sat) {
    static double bpack[GEMM_N_TILE * GEMM_MAX_K];
    static double apack[GEMM_MAX_K];
    for (int n0 = 0; n0 < N; n0 += GEMM_N_TILE) {
        const int nn = N - n0 < GEMM_N_TILE ? N - n0 : GEMM_N_TILE;
        for (int j = 0; j < nn; ++j) {
            gemm_pack_row(b, n0 + j, K, bpack + (long)j * K);
        }
        for (int m = 0; m < M; ++m) {
            gemm_pack_row(a, m, K, apack);
            word_t *crow = c + (long)m * c_row_stride + n0;
            for (int j = 0; j < nn; ++j) {
                acc_t acc = (acc_t)gemm_dot(apack, bpack + (long)j * K, K);
                if (bias) acc += (acc_t)bias[n0 + j] * ((acc_t)1 << bias_lshift);
                crow[j] = requantize_any(acc, shift, sat);
            }
        }
    }
}

}  // namespace onion

#endif  // __SYNTHESIS__
#endif
