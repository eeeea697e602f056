// LayerNorm over the last dim (timm ViT: eps 1e-6, affine), forward and backward, one token row
// at a time. Statistics are exact integer sums; 1/D comes from reciprocal_fx once per call and
// 1/sqrt(var + eps) from rsqrt_fx per row (nonlinear.h). The backward recomputes mean and rstd
// from the forward input instead of storing them.
#ifndef ONION_LAYERNORM_H
#define ONION_LAYERNORM_H

#include "onion/engine_common.h"
#include "onion/nonlinear.h"

namespace onion {

const int LN_C_FRAC = 14;  // centred values and x-hat carry 14 fractional bits inside the op

// 1/D with spec::INV_COUNT_FRAC fractional bits.
inline int64_t ln_inv_count(int D) { return (int64_t)reciprocal_fx((uint32_t)D, 0, spec::INV_COUNT_FRAC); }

// Row statistics: c[i] = x[i] - mean (frac LN_C_FRAC) and rstd (frac spec::LN_RSTD_FRAC). The sums
// are L lane partials folded at the end of the row (exact integer sums: the same result).
inline void ln_row_stats(const word_t *x, int D, int64_t inv_d, int64_t *c, int64_t &rstd, Counters &cnt) {
    const int up = LN_C_FRAC - spec::FRAC_ACTIVATION;
    int64_t part[EW_LANES];
#pragma HLS ARRAY_PARTITION variable=part complete
    lanes_clear(part);
    for (int i0 = 0; i0 < D; i0 += EW_LANES) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_DIM_LANES
#pragma HLS PIPELINE II=1
        for (int l = 0; l < EW_LANES; ++l) {
#pragma HLS UNROLL
            if (i0 + l < D) part[l] += x[i0 + l];
        }
    }
    const int64_t sum = fold_lanes(part);
    // mean at frac LN_C_FRAC: sum (frac act) * inv_d (frac INV_COUNT) -> shift away the rest
    const int64_t mean = round_shift(sum * inv_d, spec::FRAC_ACTIVATION + spec::INV_COUNT_FRAC - LN_C_FRAC);
    lanes_clear(part);  // now: sum of c^2, frac 2*LN_C_FRAC
    for (int i0 = 0; i0 < D; i0 += EW_LANES) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_DIM_LANES
#pragma HLS PIPELINE II=1
        for (int l = 0; l < EW_LANES; ++l) {
#pragma HLS UNROLL
            const int i = i0 + l;
            if (i < D) {
                c[i] = ((int64_t)x[i] << up) - mean;
                part[l] += c[i] * c[i];
            }
        }
    }
    const int64_t sq = fold_lanes(part);
    // var at frac LN_VAR_FRAC: (sq >> pre) * inv_d keeps the product below 2^63 for |x| < 2^15
    const int pre = 2 * LN_C_FRAC - spec::LN_VAR_FRAC;
    const int64_t var = round_shift(round_shift(sq, pre) * inv_d, spec::INV_COUNT_FRAC);
    rstd = (int64_t)rsqrt_fx((uint64_t)(var + spec::LN_EPS_Q), spec::LN_VAR_FRAC, spec::LN_RSTD_FRAC);
    count_elementwise(cnt, D, EW_LANES, 1, EW_DEPTH_COPY);     // sum
    count_elementwise(cnt, D, EW_LANES, 1, EW_DEPTH_REQUANT);  // centre, square-sum
    count_elementwise(cnt, 1, 1, 1, EW_DEPTH_NONLINEAR);       // rsqrt (one per row)
}

// y = (x - mean) * rstd * gamma + beta for `rows` rows of D (x, y activation words).
inline void layernorm_fwd(const word_t *x, long x_stride, int rows, int D, const word_t *gamma,
                          const word_t *beta, word_t *y, long y_stride, Stat &st, Counters &cnt) {
    const int64_t inv_d = ln_inv_count(D);
    int64_t c[spec::MAX_DIM];
#pragma HLS ARRAY_PARTITION variable=c cyclic factor=spec::EW_LANES
    for (int r = 0; r < rows; ++r) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS
        int64_t rstd;
        ln_row_stats(x + r * x_stride, D, inv_d, c, rstd, cnt);
        word_t *yr = y + r * y_stride;
        for (int i0 = 0; i0 < D; i0 += EW_LANES) {  // reads gamma, beta, writes y: EW_POOL_II
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_DIM_LANES
#pragma HLS PIPELINE II=2
            for (int l = 0; l < EW_LANES; ++l) {
#pragma HLS UNROLL
                const int i = i0 + l;
                if (i < D) {
                    const int64_t xhat = round_shift(c[i] * rstd, spec::LN_RSTD_FRAC);  // frac LN_C_FRAC
                    const acc_t acc = xhat * gamma[i] + ((acc_t)beta[i] << LN_C_FRAC);
                    yr[i] = requantize(acc, LN_C_FRAC + spec::FRAC_WEIGHT - spec::FRAC_ACTIVATION, st.sat);
                }
            }
        }
        count_elementwise(cnt, D, EW_LANES, EW_POOL_II, EW_DEPTH_REQUANT);
        stats_scan(st, yr, D, cnt);
    }
}

// Backward for `rows` rows: dy (frac g_out) -> dx (frac g_in), dgamma/dbeta (fracs g_w, g_b).
// Optional residual `res` (frac g_res, same row stride as dy) is added to dx before its single
// rounding (the residual branch of an encoder block). dx rows go to dx + dx_row[r] * dx_stride
// (dx_row 0: row r), so the MLP backward scatters to the kept tokens' rows directly.
inline void layernorm_bwd(const word_t *x, long x_stride, int rows, int D, const word_t *gamma,
                          const word_t *dy, long dy_stride, int g_out, const word_t *res, int g_res,
                          word_t *dx, long dx_stride, const int32_t *dx_row, int g_in,
                          word_t *dgamma, int g_w, word_t *dbeta, int g_b,
                          Stat &st_dx, Stat &st_dw, Stat &st_db, Counters &cnt) {
    const int64_t inv_d = ln_inv_count(D);
    int64_t c[spec::MAX_DIM];
    int64_t xhat[spec::MAX_DIM];
    int64_t dxhat[spec::MAX_DIM];
    int64_t acc_dg[spec::MAX_DIM];
    int64_t acc_db[spec::MAX_DIM];
#pragma HLS ARRAY_PARTITION variable=c cyclic factor=spec::EW_LANES
#pragma HLS ARRAY_PARTITION variable=xhat cyclic factor=spec::EW_LANES
#pragma HLS ARRAY_PARTITION variable=dxhat cyclic factor=spec::EW_LANES
#pragma HLS ARRAY_PARTITION variable=acc_dg cyclic factor=spec::EW_LANES
#pragma HLS ARRAY_PARTITION variable=acc_db cyclic factor=spec::EW_LANES
    for (int i0 = 0; i0 < D; i0 += EW_LANES) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_DIM_LANES
#pragma HLS PIPELINE II=1
        for (int l = 0; l < EW_LANES; ++l) {
#pragma HLS UNROLL
            if (i0 + l < D) {
                acc_dg[i0 + l] = 0;
                acc_db[i0 + l] = 0;
            }
        }
    }
    count_elementwise(cnt, D, EW_LANES, 1, EW_DEPTH_COPY);
    // dx = rstd/D * (D dxhat - sum(dxhat) - xhat sum(dxhat xhat)); dxhat = dy gamma (frac g+W)
    const int t_frac = spec::FRAC_WEIGHT + LN_C_FRAC;  // t below carries g_out + t_frac
    for (int r = 0; r < rows; ++r) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS
        int64_t rstd;
        ln_row_stats(x + r * x_stride, D, inv_d, c, rstd, cnt);
        const word_t *dyr = dy + r * dy_stride;
        int64_t p1[EW_LANES], p2[EW_LANES];  // lane partials of s1, s2
#pragma HLS ARRAY_PARTITION variable=p1 complete
#pragma HLS ARRAY_PARTITION variable=p2 complete
        lanes_clear(p1);
        lanes_clear(p2);
        for (int i0 = 0; i0 < D; i0 += EW_LANES) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_DIM_LANES
#pragma HLS PIPELINE II=1
            for (int l = 0; l < EW_LANES; ++l) {
#pragma HLS UNROLL
                const int i = i0 + l;
                if (i < D) {
                    xhat[i] = round_shift(c[i] * rstd, spec::LN_RSTD_FRAC);
                    dxhat[i] = (int64_t)dyr[i] * gamma[i];
                    p1[l] += dxhat[i];
                    p2[l] += dxhat[i] * xhat[i];  // frac g + W + C
                    acc_dg[i] += (int64_t)dyr[i] * xhat[i];
                    acc_db[i] += dyr[i];
                }
            }
        }
        const int64_t s1 = fold_lanes(p1), s2 = fold_lanes(p2);
        count_elementwise(cnt, D, EW_LANES, 1, EW_DEPTH_REQUANT);
        const int64_t s2r = round_shift(s2, LN_C_FRAC);  // frac g + W
        word_t *dxr = dx + (long)(dx_row ? dx_row[r] : r) * dx_stride;
        const word_t *resr = res ? res + r * dy_stride : 0;
        // total frac of t * rstd * inv_d: g_out + t_frac + RSTD + INV_COUNT
        const int total = g_out + t_frac + spec::LN_RSTD_FRAC + spec::INV_COUNT_FRAC;
        for (int i0 = 0; i0 < D; i0 += EW_LANES) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_DIM_LANES
#pragma HLS PIPELINE II=1
            for (int l = 0; l < EW_LANES; ++l) {
#pragma HLS UNROLL
                const int i = i0 + l;
                if (i < D) {
                    const wide_t t = ((wide_t)D * dxhat[i] - s1) * ((wide_t)1 << LN_C_FRAC) - (wide_t)xhat[i] * s2r;
                    wide_t v = t * rstd * inv_d;
                    if (resr) v += (wide_t)resr[i] << (total - g_res);
                    dxr[i] = requantize_wide(v, total - g_in, st_dx.sat);
                }
            }
        }
        count_elementwise(cnt, D, EW_LANES, 1, EW_DEPTH_REQUANT);
        stats_scan(st_dx, dxr, D, cnt);
    }
    for (int i0 = 0; i0 < D; i0 += EW_LANES) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_DIM_LANES
#pragma HLS PIPELINE II=1
        for (int l = 0; l < EW_LANES; ++l) {
#pragma HLS UNROLL
            const int i = i0 + l;
            if (i < D) {
                dgamma[i] = requantize_any(acc_dg[i], g_out + LN_C_FRAC - g_w, st_dw.sat);
                dbeta[i] = requantize_any(acc_db[i], g_out - g_b, st_db.sat);
            }
        }
    }
    count_elementwise(cnt, D, EW_LANES, 1, EW_DEPTH_REQUANT);
    stats_scan(st_dw, dgamma, D, cnt);
    stats_scan(st_db, dbeta, D, cnt);
}

}  // namespace onion

#endif
