// Weight-gradient accumulation on the fabric (engine_spec.json "grad_accumulation").
//
// A backward op with parameters, called with FLAG_GRAD_ACCUMULATE, writes its per-image parameter
// gradients (int16 at the tensor's frac f, as without the flag) and then adds each word into the
// op's int32 accumulator block in aux (gacc_off, same layout as the parameters) at the tensor's
// accumulator frac fa (fracs table, second half):
//
//   acc = sat32(acc + round_half_up(word * 2^(fa - f)))      (FLAG_GRAD_CLEAR: start from 0)
//
// Exact whenever fa >= f (a left shift); the host picks fa per step with room for the step's images,
// so it reads one int32 gradient per parameter per step instead of summing int16 images in numpy.
// Why aux: it is already the 32-bit port, and the accumulators are read-modify-written in bursts of
// GACC_CHUNK words (axi_burst.h, counted like every other transfer) against the int16 gradient the op
// has just written into the call's on-chip pool; they do not fit on chip (up to 4.7 MB at the limits),
// so they stream. A dedicated port would add an AXI master for about 2 x 4 bytes per parameter per image.
#ifndef ONION_GRAD_ACCUM_H
#define ONION_GRAD_ACCUM_H

#include <stdint.h>

#include "onion/axi_burst.h"
#include "onion/engine_common.h"
#include "onion/spec.h"

namespace onion {

const int GACC_CHUNK = 512;  // words per burst (ONION_TRIP_PARAM_CHUNKS = largest tensor / GACC_CHUNK)
const int64_t GACC_MAX = 2147483647LL;
const int64_t GACC_MIN = -2147483647LL - 1;

// word * 2^shift, rounded half up when shift < 0 (shift in [-GRAD_FRAC_MAX, GACC_FRAC_MAX])
inline int64_t gacc_term(word_t word, int shift) {
    const int64_t v = word;
    if (shift >= 0) return v * ((int64_t)1 << shift);
    return (v + ((int64_t)1 << (-shift - 1))) >> (-shift);
}

// One tensor: its gradient words are on chip (the op has just written them into the call's pool);
// the int32 accumulators stream through GACC_CHUNK words at a time over aux: burst_load (skipped
// with clear), add, burst_store. Both transfers are counted in cnt's AXI counters.
inline void accumulate_tensor(const word_t *grad, int32_t *aux, long acc_off, long n, int shift, bool clear,
                              Stat &st, Counters &cnt) {
    int32_t a[GACC_CHUNK];
#pragma HLS ARRAY_PARTITION variable=a cyclic factor=EW_LANES
    for (long c0 = 0; c0 < n; c0 += GACC_CHUNK) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_PARAM_CHUNKS
        const long len = n - c0 < GACC_CHUNK ? n - c0 : GACC_CHUNK;
        if (clear) {
            for (int i = 0; i < GACC_CHUNK; ++i) {
#pragma HLS PIPELINE II=1
                a[i] = 0;
            }
        } else {
            burst_load(aux, acc_off + c0, len, a, spec::PORT_AUX, cnt);
        }
        // EW_LANES accumulators per cycle (a is partitioned cyclic by the lanes; the gradient comes from the
        // laned pool); saturations and the largest magnitude kept per lane and combined after the chunk
        uint32_t lane_sat[EW_LANES];
        int32_t lane_max[EW_LANES];
#pragma HLS ARRAY_PARTITION variable=lane_sat complete
#pragma HLS ARRAY_PARTITION variable=lane_max complete
        lanes_clear(lane_sat);
        lanes_clear(lane_max);
        for (int i0 = 0; i0 < GACC_CHUNK; i0 += EW_LANES) {
#pragma HLS PIPELINE II=1
            for (int l = 0; l < EW_LANES; ++l) {
#pragma HLS UNROLL
                const int i = i0 + l;
                if (i < len) {
                    int64_t sum = (int64_t)a[i] + gacc_term(grad[c0 + i], shift);
                    if (sum > GACC_MAX) { sum = GACC_MAX; ++lane_sat[l]; }
                    if (sum < GACC_MIN) { sum = GACC_MIN; ++lane_sat[l]; }
                    const int32_t mag = sum < 0 ? (int32_t)(sum == GACC_MIN ? GACC_MAX : -sum) : (int32_t)sum;
                    if (mag > lane_max[l]) lane_max[l] = mag;
                    a[i] = (int32_t)sum;
                }
            }
        }
        for (int l = 0; l < EW_LANES; ++l) {
#pragma HLS UNROLL
            st.sat += lane_sat[l];
            if (lane_max[l] > st.max_abs) st.max_abs = lane_max[l];
        }
        count_elementwise(cnt, len, EW_LANES, 1, EW_DEPTH_REQUANT);
        burst_store(aux, acc_off + c0, len, a, spec::PORT_AUX, cnt);
        if (!clear) cnt.min_axi_bytes += axi_region_bytes(spec::PORT_AUX, acc_off + c0, len, 4);
        cnt.min_axi_bytes += axi_region_bytes(spec::PORT_AUX, acc_off + c0, len, 4);
    }
}

// Accumulator fracs (the second half of the frac table, loaded on chip) inside the declared range.
inline uint32_t check_gacc_fracs(const int32_t *acc_fracs, int count) {
    for (int i = 0; i < spec::OP_TENSORS_MAX; ++i) {
        if (i < count && (acc_fracs[i] < spec::GACC_FRAC_MIN || acc_fracs[i] > spec::GACC_FRAC_MAX))
            return spec::ST_BAD_FRAC;
    }
    return spec::ST_OK;
}

// After a backward op run on chip, with FLAG_GRAD_ACCUMULATE (a: the call's DDR offsets): add its
// parameter gradients (gw: on chip, the op's gradient block) into the accumulators at gacc_off.
// fr: the word fracs (on chip), acc_fracs: the accumulator fracs (on chip). Writes [max |acc|,
// saturations] per tensor at stats_off + 2 * count in one burst (0 for non-parameter tensors) and
// returns the saturations.
inline uint32_t accumulate_param_grads(const spec::Args &a, const word_t *gw, const int32_t *fr,
                                       const int32_t *acc_fracs, int32_t *aux, int count, Counters &cnt) {
    if (!(a.flags & spec::FLAG_GRAD_ACCUMULATE)) return 0;
    const bool clear = (a.flags & spec::FLAG_GRAD_CLEAR) != 0;
    int32_t so[2 * spec::OP_TENSORS_MAX];  // [max |acc|, saturations] per tensor
    for (int i = 0; i < 2 * spec::OP_TENSORS_MAX; ++i) so[i] = 0;
    const spec::Dims d = {(long)a.n_tokens, (long)a.n_keep, (long)a.dim,    (long)a.heads,
                          (long)a.mlp_dim,  (long)a.in_dim, (long)a.out_dim, 0};
    spec::ParamGradSlice slices[spec::MAX_PARAM_SLICES];
    const int n_slices = spec::param_grad_slices(a.opcode, d, slices);
    uint32_t sat = 0;
    for (int s = 0; s < n_slices; ++s) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_OP_TENSORS
        const int t = slices[s].tensor;
        Stat st = {0, 0};
        accumulate_tensor(gw + slices[s].offset, aux, (long)a.gacc_off + slices[s].offset, slices[s].size,
                          acc_fracs[t] - fr[t], clear, st, cnt);
        so[2 * t] = st.max_abs;
        so[2 * t + 1] = (int32_t)st.sat;
        sat += st.sat;
    }
    burst_store(aux, (long)a.stats_off + 2 * count, 2 * count, so, spec::PORT_AUX, cnt);
    cnt.min_axi_bytes += axi_region_bytes(spec::PORT_AUX, (long)a.stats_off + 2 * count, 2 * count, 4);
    return sat;
}

}  // namespace onion

#endif
