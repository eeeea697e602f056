// GELU (erf form, torch's default) forward and backward, elementwise on activation words, through
// the nonlinear units of nonlinear.h.
#ifndef ONION_GELU_H
#define ONION_GELU_H

#include "onion/engine_common.h"
#include "onion/nonlinear.h"

namespace onion {

inline void gelu_fwd(const word_t *u, word_t *y, long n, Stat &st, Counters &cnt) {
    for (long i0 = 0; i0 < n; i0 += EW_LANES) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS_X_MLP_LANES
#pragma HLS PIPELINE II=1
        for (int l = 0; l < EW_LANES; ++l) {  // one GELU unit (table ROM + quadratic) per lane
#pragma HLS UNROLL
            const long i = i0 + l;
            if (i < n) y[i] = requantize((acc_t)gelu_fx(u[i], spec::FRAC_ACTIVATION, spec::FRAC_ACTIVATION), 0, st.sat);
        }
    }
    count_elementwise(cnt, n, EW_LANES, 1, EW_DEPTH_NONLINEAR);
    stats_scan(st, y, n, cnt);
}

// du = dy * GELU'(u): dy at frac g_out, du at frac g_in.
inline void gelu_bwd(const word_t *u, const word_t *dy, int g_out, word_t *du, int g_in, long n, Stat &st, Counters &cnt) {
    for (long i0 = 0; i0 < n; i0 += EW_LANES) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS_X_MLP_LANES
#pragma HLS PIPELINE II=2
        for (int l = 0; l < EW_LANES; ++l) {  // one GELU' unit per lane; reads u, dy, writes du: EW_POOL_II
#pragma HLS UNROLL
            const long i = i0 + l;
            if (i < n) {
                const int32_t d = gelu_grad_fx(u[i], spec::FRAC_ACTIVATION, spec::GELU_GRAD_FRAC);
                du[i] = requantize_any((acc_t)dy[i] * d, g_out + spec::GELU_GRAD_FRAC - g_in, st.sat);
            }
        }
    }
    count_elementwise(cnt, n, EW_LANES, EW_POOL_II, EW_DEPTH_NONLINEAR);
    stats_scan(st, du, n, cnt);
}

}  // namespace onion

#endif
