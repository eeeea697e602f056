// The MLP call of an encoder block (timm Block, second half) with token pruning:
// x_g = x[keep]; y = x_g + FC2(GELU(FC1(LN2(x_g)))). The backward scatters dx to the kept rows of
// an [N, D] gradient (zero rows for pruned tokens). Saved (layouts.mlp_save): x_g, LN2 output, FC1
// output, GELU output.
#ifndef ONION_ENCODER_MLP_H
#define ONION_ENCODER_MLP_H

#include "onion/gelu.h"
#include "onion/layernorm.h"
#include "onion/linear.h"

namespace onion {

struct MlpView {
    int n, k, D, M;
    spec::MlpParamsLayout pw;
    spec::MlpSaveLayout sv;
    spec::MlpScratchLayout sc;
};

inline MlpView mlp_view(int n, int k, int D, int M) {
    const spec::Dims d = {n, k, D, 0, M, 0, 0, 0};
    const MlpView v = {n, k, D, M, spec::mlp_params_layout(d), spec::mlp_save_layout(d), spec::mlp_scratch_layout(d)};
    return v;
}

// keep: kept row indices (k of them), or 0 for all rows.
inline void mlp_fwd(const MlpView &v, const word_t *x, const int32_t *keep, const word_t *w, word_t *save,
                    word_t *y, Stat *st, Counters &cnt) {
    namespace T = spec::mlp_fwd;
    const int k = v.k, D = v.D, M = v.M;
    word_t *xg = save + v.sv.x_in;
    for (int t = 0; t < k; ++t) {  // gather the kept tokens
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS
        const word_t *src = x + (long)(keep ? keep[t] : t) * D;
        for (int i0 = 0; i0 < D; i0 += EW_LANES) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_DIM_LANES
#pragma HLS PIPELINE II=1
            for (int l = 0; l < EW_LANES; ++l) {
#pragma HLS UNROLL
                if (i0 + l < D) xg[(long)t * D + i0 + l] = src[i0 + l];
            }
        }
        count_elementwise(cnt, D, EW_LANES, 1, EW_DEPTH_COPY);
    }
    stats_scan(st[T::X_IN], xg, (long)k * D, cnt);
    word_t *ln = save + v.sv.ln_out;
    word_t *u = save + v.sv.fc1_out;
    word_t *g = save + v.sv.gelu_out;
    layernorm_fwd(xg, D, k, D, w + v.pw.ln_w, w + v.pw.ln_b, ln, D, st[T::LN_OUT], cnt);
    linear_fwd(ln, D, k, D, w + v.pw.fc1_w, w + v.pw.fc1_b, M, u, M, st[T::FC1_OUT], cnt);
    gelu_fwd(u, g, (long)k * M, st[T::GELU_OUT], cnt);
    linear_fwd(g, M, k, M, w + v.pw.fc2_w, w + v.pw.fc2_b, D, y, D, st[T::FC2_OUT], cnt);
    residual_add(xg, y, (long)k * D, st[T::OUT].sat, cnt);
    stats_scan(st[T::OUT], y, (long)k * D, cnt);
}

// Zeroes the rows of dx [n, D] that no kept token writes (keep: k ascending row indices, or 0: all
// rows kept, nothing to zero). The kept rows are written whole by the LayerNorm backward.
inline void zero_pruned_rows(word_t *dx, int n, int D, const int32_t *keep, int k, Counters &cnt) {
    int next = 0;  // position in keep of the next kept row
    for (int r = 0; r < n && keep; ++r) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS
        if (next < k && keep[next] == r) {
            ++next;
        } else {
            fill_zero(dx + (long)r * D, D, cnt);
        }
    }
}

// dy [k, D] -> dx [n, D] (rows of pruned tokens zero); gw: mlp_params layout.
inline void mlp_bwd(const MlpView &v, const int32_t *keep, const word_t *w, const word_t *save, const word_t *dy,
                    word_t *dx, word_t *gw, word_t *gs, const int32_t *fr, Stat *st, Counters &cnt) {
    namespace T = spec::mlp_bwd;
    const int k = v.k, D = v.D, M = v.M;
    const word_t *xg = save + v.sv.x_in;
    const word_t *ln = save + v.sv.ln_out;
    const word_t *u = save + v.sv.fc1_out;
    const word_t *g = save + v.sv.gelu_out;
    word_t *d_g = gs + v.sc.d_gelu;
    word_t *d_u = gs + v.sc.d_fc1;
    word_t *d_ln = gs + v.sc.d_ln;
    linear_bwd(dy, D, fr[T::D_OUT], g, M, k, M, D, w + v.pw.fc2_w, gw + v.pw.fc2_w, fr[T::D_FC2_W], gw + v.pw.fc2_b,
               fr[T::D_FC2_B], d_g, M, fr[T::D_GELU], st[T::D_FC2_W], st[T::D_FC2_B], st[T::D_GELU], cnt);
    gelu_bwd(u, d_g, fr[T::D_GELU], d_u, fr[T::D_FC1], (long)k * M, st[T::D_FC1], cnt);
    linear_bwd(d_u, M, fr[T::D_FC1], ln, D, k, D, M, w + v.pw.fc1_w, gw + v.pw.fc1_w, fr[T::D_FC1_W], gw + v.pw.fc1_b,
               fr[T::D_FC1_B], d_ln, D, fr[T::D_LN], st[T::D_FC1_W], st[T::D_FC1_B], st[T::D_LN], cnt);
    zero_pruned_rows(dx, v.n, D, keep, k, cnt);  // pruned rows get no gradient
    layernorm_bwd(xg, D, k, D, w + v.pw.ln_w, d_ln, D, fr[T::D_LN], dy, fr[T::D_OUT], dx, D, keep, fr[T::D_IN],
                  gw + v.pw.ln_w, fr[T::D_LN_W], gw + v.pw.ln_b, fr[T::D_LN_B], st[T::D_IN], st[T::D_LN_W],
                  st[T::D_LN_B], cnt);
}

}  // namespace onion

#endif
