// GELU (erf form, torch's default) forward and backward, elementwise on activation words, through
// the nonlinear units of nonlinear.h.
#ifndef ONION_GELU_H
#define ONION_GELU_H

#include "onion/engine_common.h"
#include "onion/nonlinear.h"

namespace onion {

inline void gelu_fwd(const word_t *u, word_t *y, long n, Stat &st, Counters &cnt) {
    for (long i = 0; i < n; ++i) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS_X_MLP
#pragma HLS PIPELINE II=1
        y[i] = requantize((acc_t)gelu_fx(u[i], spec::FRAC_ACTIVATION, spec::FRAC_ACTIVATION), 0, st.sat);
    }
    count_elementwise(cnt, n, 1, EW_DEPTH_NONLINEAR);
    stats_scan(st, y, n, cnt);
}

// du = dy * GELU'(u): dy at frac g_out, du at frac g_in.
inline void gelu_bwd(const word_t *u, const word_t *dy, int g_out, word_t *du, int g_in, long n, Stat &st, Counters &cnt) {
    for (long i = 0; i < n; ++i) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS_X_MLP
#pragma HLS PIPELINE II=1
        const int32_t d = gelu_grad_fx(u[i], spec::FRAC_ACTIVATION, spec::GELU_GRAD_FRAC);
        du[i] = requantize_any((acc_t)dy[i] * d, g_out + spec::GELU_GRAD_FRAC - g_in, st.sat);
    }
    count_elementwise(cnt, n, 1, EW_DEPTH_NONLINEAR);
    stats_scan(st, du, n, cnt);
}

}  // namespace onion

#endif
