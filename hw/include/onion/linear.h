// Linear layer Y = X W^T + b (PyTorch layout W [out, in]) forward and backward, through the one
// GEMM. Leading dimensions are explicit so the attention can address column slices of qkv.
#ifndef ONION_LINEAR_H
#define ONION_LINEAR_H

#include "onion/engine_gemm.h"

namespace onion {

// y [rows, out] (activation) = x [rows, in] (activation) w^T (weight) + b (weight).
inline void linear_fwd(const word_t *x, long x_stride, int rows, int in, const word_t *w, const word_t *b,
                       int out, word_t *y, long y_stride, Stat &st, Counters &cnt) {
    gemm(operand(x, x_stride, 1), operand(w, in, 1), b, spec::FRAC_ACTIVATION, y, y_stride, rows, out, in,
         spec::FRAC_WEIGHT, st.sat, cnt);
    stats_scan_rows(st, y, rows, out, y_stride, cnt);
}

// dx [rows, in] (frac g_in) = dy [rows, out] (frac g_out) w.
inline void linear_bwd_data(const word_t *dy, long dy_stride, int g_out, int rows, int in, int out,
                            const word_t *w, word_t *dx, long dx_stride, int g_in, Stat &st, Counters &cnt) {
    gemm(operand(dy, dy_stride, 1), operand(w, 1, in), 0, 0, dx, dx_stride, rows, in, out,
         g_out + spec::FRAC_WEIGHT - g_in, st.sat, cnt);
    stats_scan_rows(st, dx, rows, in, dx_stride, cnt);
}

// dw [out, in] (frac g_w) = dy^T x; db [out] (frac g_b) = column sums of dy. x: activation words.
inline void linear_bwd_params(const word_t *dy, long dy_stride, int g_out, const word_t *x, long x_stride,
                              int rows, int in, int out, word_t *dw, int g_w, word_t *db, int g_b,
                              Stat &st_w, Stat &st_b, Counters &cnt) {
    gemm(operand(dy, 1, dy_stride), operand(x, 1, x_stride), 0, 0, dw, in, out, in, rows,
         g_out + spec::FRAC_ACTIVATION - g_w, st_w.sat, cnt);
    stats_scan(st_w, dw, (long)out * in, cnt);
    column_sums(dy, rows, out, dy_stride, g_out, db, g_b, st_b, cnt);
}

// A linear layer's whole backward: dw, db (linear_bwd_params) and dx [rows, in] (linear_bwd_data).
inline void linear_bwd(const word_t *dy, long dy_stride, int g_out, const word_t *x, long x_stride, int rows, int in,
                       int out, const word_t *w, word_t *dw, int g_w, word_t *db, int g_b, word_t *dx, long dx_stride,
                       int g_in, Stat &st_w, Stat &st_b, Stat &st_dx, Counters &cnt) {
    linear_bwd_params(dy, dy_stride, g_out, x, x_stride, rows, in, out, dw, g_w, db, g_b, st_w, st_b, cnt);
    linear_bwd_data(dy, dy_stride, g_out, rows, in, out, w, dx, dx_stride, g_in, st_dx, cnt);
}

}  // namespace onion

#endif
