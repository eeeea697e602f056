// Patch embedding as a GEMM over flattened patches (timm PatchEmbed's Conv2d with stride = kernel),
// plus the [CLS] token and the position embedding: y[0] = cls + pos[0], y[t] = patch[t-1] w^T + b + pos[t].
#ifndef ONION_PATCH_EMBED_H
#define ONION_PATCH_EMBED_H

#include "onion/linear.h"

namespace onion {

inline spec::PatchParamsLayout patch_layout(int n, int D, int I) {
    spec::Dims d = {n, n, D, 0, 0, I, 0, 0};
    return spec::patch_params_layout(d);
}

// patches [n-1, I] (activation) -> y [n, D] (activation).
inline void patch_embed_fwd(int n, int D, int I, const word_t *patches, const word_t *w, word_t *y, Stat *st,
                            Counters &cnt) {
    namespace T = spec::patch_embed_fwd;
    const spec::PatchParamsLayout l = patch_layout(n, D, I);
    linear_fwd(patches, I, n - 1, I, w + l.w, w + l.b, D, y + D, D, st[T::EMBED], cnt);
    const word_t *cls = w + l.cls;
    const word_t *pos = w + l.pos;
    for (int i0 = 0; i0 < D; i0 += EW_LANES) {  // [CLS] row: cls + pos (EW_POOL_II)
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_DIM_LANES
#pragma HLS PIPELINE II=2
        for (int l = 0; l < EW_LANES; ++l) {
#pragma HLS UNROLL
            const int i = i0 + l;
            if (i < D)
                y[i] = add_words(cls[i], spec::FRAC_WEIGHT, pos[i], spec::FRAC_WEIGHT, spec::FRAC_ACTIVATION,
                                 st[T::OUT].sat);
        }
    }
    count_elementwise(cnt, D, EW_LANES, EW_POOL_II, EW_DEPTH_REQUANT);
    for (long i0 = D; i0 < (long)n * D; i0 += EW_LANES) {  // patch rows: embedding + pos (EW_POOL_II)
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS_X_DIM_LANES
#pragma HLS PIPELINE II=2
        for (int l = 0; l < EW_LANES; ++l) {
#pragma HLS UNROLL
            const long i = i0 + l;
            if (i < (long)n * D)
                y[i] = add_words(y[i], spec::FRAC_ACTIVATION, pos[i], spec::FRAC_WEIGHT, spec::FRAC_ACTIVATION,
                                 st[T::OUT].sat);
        }
    }
    count_elementwise(cnt, (long)(n - 1) * D, EW_LANES, EW_POOL_II, EW_DEPTH_REQUANT);
    stats_scan(st[T::OUT], y, (long)n * D, cnt);
}

// dy [n, D] -> parameter gradients (patch_params layout) at gw. fr: spec::patch_embed_bwd order.
inline void patch_embed_bwd(int n, int D, int I, const word_t *patches, const word_t *dy, word_t *gw,
                            const int32_t *fr, Stat *st, Counters &cnt) {
    namespace T = spec::patch_embed_bwd;
    const spec::PatchParamsLayout l = patch_layout(n, D, I);
    linear_bwd_params(dy + D, D, fr[T::D_OUT], patches, I, n - 1, I, D, gw + l.w, fr[T::D_W], gw + l.b, fr[T::D_B],
                      st[T::D_W], st[T::D_B], cnt);
    convert_words(dy, fr[T::D_OUT], gw + l.cls, fr[T::D_CLS], D, st[T::D_CLS], cnt);
    convert_words(dy, fr[T::D_OUT], gw + l.pos, fr[T::D_POS], (long)n * D, st[T::D_POS], cnt);
}

}  // namespace onion

#endif
