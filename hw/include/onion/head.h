// Classifier head: final LayerNorm on the [CLS] token (row 0; the other rows never reach the loss)
// and a Linear to the classes, forward and backward.
#ifndef ONION_HEAD_H
#define ONION_HEAD_H

#include "onion/layernorm.h"
#include "onion/linear.h"

namespace onion {

struct HeadView {
    spec::HeadParamsLayout pw;
    spec::HeadSaveLayout sv;
    spec::HeadScratchLayout sc;
};

inline HeadView head_view(int D, int O) {
    const spec::Dims d = {1, 1, D, 0, 0, 0, O, 0};
    const HeadView v = {spec::head_params_layout(d), spec::head_save_layout(d), spec::head_scratch_layout(d)};
    return v;
}

inline void head_fwd(int D, int O, const word_t *x, const word_t *w, word_t *save, word_t *logits, Stat *st,
                     Counters &cnt) {
    namespace T = spec::head_fwd;
    const HeadView v = head_view(D, O);
    word_t *ln = save + v.sv.ln_out;
    layernorm_fwd(x, D, 1, D, w + v.pw.ln_w, w + v.pw.ln_b, ln, D, st[T::LN_OUT], cnt);
    linear_fwd(ln, D, 1, D, w + v.pw.w, w + v.pw.b, O, logits, O, st[T::LOGITS], cnt);
}

// d logits [O] -> dx [n, D] (row 0; rows 1.. zero), parameter gradients at gw (head_params layout).
inline void head_bwd(int n, int D, int O, const word_t *x, const word_t *w, const word_t *save, const word_t *dy,
                     word_t *dx, word_t *gw, word_t *gs, const int32_t *fr, Stat *st, Counters &cnt) {
    namespace T = spec::head_bwd;
    const HeadView v = head_view(D, O);
    word_t *d_ln = gs + v.sc.d_ln;
    linear_bwd(dy, O, fr[T::D_OUT], save + v.sv.ln_out, D, 1, D, O, w + v.pw.w, gw + v.pw.w, fr[T::D_W], gw + v.pw.b,
               fr[T::D_B], d_ln, D, fr[T::D_LN], st[T::D_W], st[T::D_B], st[T::D_LN], cnt);
    fill_zero(dx + D, (long)(n - 1) * D, cnt);  // rows 1..n-1; row 0 is written by the LayerNorm backward
    layernorm_bwd(x, D, 1, D, w + v.pw.ln_w, d_ln, D, fr[T::D_LN], 0, 0, dx, D, 0, fr[T::D_IN], gw + v.pw.ln_w,
                  fr[T::D_LN_W], gw + v.pw.ln_b, fr[T::D_LN_B], st[T::D_IN], st[T::D_LN_W], st[T::D_LN_B], cnt);
}

}  // namespace onion

#endif
