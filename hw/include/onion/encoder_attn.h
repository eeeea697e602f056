// The ATTN call of an encoder block (timm Block, first half): y = x + proj(MHSA(LN1(x))), forward
// and backward. Saved activations (layouts.attn_save): LN1 output, qkv, per-head probabilities,
// context. The head-averaged attention rows go to attn_off for the TA-Selector.
#ifndef ONION_ENCODER_ATTN_H
#define ONION_ENCODER_ATTN_H

#include "onion/attention.h"
#include "onion/layernorm.h"
#include "onion/linear.h"

namespace onion {

struct AttnView {
    int n, D, H;
    spec::AttnParamsLayout pw;
    spec::AttnSaveLayout sv;
    spec::AttnScratchLayout sc;
};

inline AttnView attn_view(int n, int D, int H, long Z) {
    const spec::Dims d = {n, n, D, H, 0, 0, 0, Z};
    const AttnView v = {n, D, H, spec::attn_params_layout(d), spec::attn_save_layout(d), spec::attn_scratch_layout(d)};
    return v;
}

inline void attn_fwd(const AttnView &v, const word_t *x, const word_t *w, word_t *save, word_t *y, word_t *avg,
                     const int32_t *rp, const int32_t *keys, Stat *st, Counters &cnt) {
    namespace T = spec::attn_fwd;
    const int n = v.n, D = v.D;
    word_t *ln = save + v.sv.ln_out;
    word_t *qkv = save + v.sv.qkv;
    word_t *ctx = save + v.sv.ctx;
    layernorm_fwd(x, D, n, D, w + v.pw.ln_w, w + v.pw.ln_b, ln, D, st[T::LN_OUT], cnt);
    linear_fwd(ln, D, n, D, w + v.pw.qkv_w, w + v.pw.qkv_b, 3 * D, qkv, 3 * D, st[T::QKV], cnt);
    MhsaFwdStats ms = {&st[T::SCORES], &st[T::PROBS], &st[T::CTX], &st[T::ATTN_AVG]};
    mhsa_fwd(qkv, n, D, v.H, rp, keys, save + v.sv.probs, ctx, avg, ms, cnt);
    linear_fwd(ctx, D, n, D, w + v.pw.proj_w, w + v.pw.proj_b, D, y, D, st[T::PROJ_OUT], cnt);
    residual_add(x, y, (long)n * D, st[T::OUT].sat, cnt);
    stats_scan(st[T::OUT], y, (long)n * D, cnt);
}

// fr: gradient fracs in the order of spec::attn_bwd. gw: parameter gradients (attn_params layout).
inline void attn_bwd(const AttnView &v, const word_t *x, const word_t *w, const word_t *save,
                     const int32_t *rp,
                     const int32_t *keys, const word_t *dy, word_t *dx, word_t *gw, word_t *gs, const int32_t *fr,
                     Stat *st, Counters &cnt) {
    namespace T = spec::attn_bwd;
    const int n = v.n, D = v.D;
    const word_t *ln = save + v.sv.ln_out;
    const word_t *qkv = save + v.sv.qkv;
    const word_t *ctx = save + v.sv.ctx;
    word_t *d_ctx = gs + v.sc.d_ctx;
    word_t *d_qkv = gs + v.sc.d_qkv;
    word_t *d_ln = gs + v.sc.d_ln;
    // output projection
    linear_bwd(dy, D, fr[T::D_OUT], ctx, D, n, D, D, w + v.pw.proj_w, gw + v.pw.proj_w, fr[T::D_PROJ_W],
               gw + v.pw.proj_b, fr[T::D_PROJ_B], d_ctx, D, fr[T::D_CTX], st[T::D_PROJ_W], st[T::D_PROJ_B],
               st[T::D_CTX], cnt);
    // attention core
    MhsaBwdFracs g = {fr[T::D_CTX], fr[T::D_PROBS], fr[T::D_SCORES], fr[T::D_QKV]};
    MhsaBwdStats ms = {&st[T::D_PROBS], &st[T::D_SCORES], &st[T::D_QKV]};
    mhsa_bwd(qkv, n, D, v.H, rp, keys, save + v.sv.probs, d_ctx, gs + v.sc.d_scores, d_qkv, g, ms, cnt);
    // qkv projection
    linear_bwd(d_qkv, 3 * D, fr[T::D_QKV], ln, D, n, D, 3 * D, w + v.pw.qkv_w, gw + v.pw.qkv_w, fr[T::D_QKV_W],
               gw + v.pw.qkv_b, fr[T::D_QKV_B], d_ln, D, fr[T::D_LN], st[T::D_QKV_W], st[T::D_QKV_B], st[T::D_LN],
               cnt);
    // LN1 backward + the residual branch: dx = dy + LN1'(d_ln)
    layernorm_bwd(x, D, n, D, w + v.pw.ln_w, d_ln, D, fr[T::D_LN], dy, fr[T::D_OUT], dx, D, 0, fr[T::D_IN],
                  gw + v.pw.ln_w, fr[T::D_LN_W], gw + v.pw.ln_b, fr[T::D_LN_B], st[T::D_IN], st[T::D_LN_W],
                  st[T::D_LN_B], cnt);
}

}  // namespace onion

#endif
