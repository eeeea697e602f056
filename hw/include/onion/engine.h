// The engine: validates a call's arguments against the compile-time limits, dispatches the op and
// reports status, counters and per-tensor stats. One call = one op (spec::Opcode); on a bad
// argument the status names it and nothing is written.
#ifndef ONION_ENGINE_H
#define ONION_ENGINE_H

#include "onion/attention.h"
#include "onion/axi_burst.h"
#include "onion/encoder_attn.h"
#include "onion/encoder_mlp.h"
#include "onion/gelu.h"
#include "onion/grad_accum.h"
#include "onion/head.h"
#include "onion/layernorm.h"
#include "onion/linear.h"
#include "onion/patch_embed.h"
#include "onion/spec.h"

namespace onion {

const int MAX_OP_TENSORS = spec::OP_TENSORS_MAX;

inline bool in_range(uint32_t v, int lo, int hi) { return v >= (uint32_t)lo && v <= (uint32_t)hi; }

// CSR key lists: row_ptr[n + 1], then keys; rows non-empty, <= MAX_KEYS, strictly ascending, < n, with key 0.
inline uint32_t check_key_lists(const int32_t *rp, const int32_t *keys, int n) {
    if (rp[0] != 0) return spec::ST_BAD_KEYS;
    for (int i = 0; i < n; ++i) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS
        const int32_t c = rp[i + 1] - rp[i];
        if (c < 1 || c > spec::MAX_KEYS || c > n) return spec::ST_BAD_KEYS;
        if (keys[rp[i]] != 0) return spec::ST_BAD_KEYS;  // [CLS] key first (lists are ascending)
        for (int32_t z = rp[i] + 1; z < rp[i + 1]; ++z) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS
            if (keys[z] <= keys[z - 1] || keys[z] >= n) return spec::ST_BAD_KEYS;
        }
    }
    return spec::ST_OK;
}

// Kept-token list: k entries, strictly ascending, first 0 ([CLS]), all < n.
inline uint32_t check_keep_list(const int32_t *keep, int k, int n) {
    if (keep[0] != 0) return spec::ST_BAD_KEEP;
    for (int t = 1; t < k; ++t) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS
        if (keep[t] <= keep[t - 1] || keep[t] >= n) return spec::ST_BAD_KEEP;
    }
    return spec::ST_OK;
}

inline uint32_t check_fracs(const int32_t *fr, int count) {
    for (int i = 0; i < count; ++i) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_OP_TENSORS
        if (fr[i] < spec::GRAD_FRAC_MIN || fr[i] > spec::GRAD_FRAC_MAX) return spec::ST_BAD_FRAC;
    }
    return spec::ST_OK;
}

inline uint32_t check_heads(uint32_t dim, uint32_t heads) {
    if (!in_range(heads, 1, spec::MAX_HEADS) || dim % heads != 0) return spec::ST_BAD_HEADS;
    const int hd = (int)(dim / heads);
    if (hd > spec::MAX_HEAD_DIM || head_scale_shift(hd) < 0) return spec::ST_BAD_HEADS;
    return spec::ST_OK;
}

// Tensor count of an op's stats / frac table; 0 for an unknown op code.
inline int op_tensor_count(uint32_t op) {
    switch (op) {
    case spec::OP_PATCH_EMBED_FWD: return spec::patch_embed_fwd::COUNT;
    case spec::OP_PATCH_EMBED_BWD: return spec::patch_embed_bwd::COUNT;
    case spec::OP_ATTN_FWD: return spec::attn_fwd::COUNT;
    case spec::OP_ATTN_BWD: return spec::attn_bwd::COUNT;
    case spec::OP_MLP_FWD: return spec::mlp_fwd::COUNT;
    case spec::OP_MLP_BWD: return spec::mlp_bwd::COUNT;
    case spec::OP_HEAD_FWD: return spec::head_fwd::COUNT;
    case spec::OP_HEAD_BWD: return spec::head_bwd::COUNT;
    case spec::OP_LINEAR_FWD: return spec::linear_fwd::COUNT;
    case spec::OP_LINEAR_BWD: return spec::linear_bwd::COUNT;
    case spec::OP_LAYERNORM_FWD: return spec::layernorm_fwd::COUNT;
    case spec::OP_LAYERNORM_BWD: return spec::layernorm_bwd::COUNT;
    case spec::OP_GELU_FWD: return spec::gelu_fwd::COUNT;
    case spec::OP_GELU_BWD: return spec::gelu_bwd::COUNT;
    default: return 0;
    }
}

inline bool is_backward(uint32_t op) {
    return op == spec::OP_PATCH_EMBED_BWD || op == spec::OP_ATTN_BWD || op == spec::OP_MLP_BWD ||
           op == spec::OP_HEAD_BWD || op == spec::OP_LINEAR_BWD || op == spec::OP_LAYERNORM_BWD ||
           op == spec::OP_GELU_BWD;
}

// Backward ops that write parameter gradients (and so may accumulate them: grad_accum.h).
inline bool has_param_grads(uint32_t op) {
    return op == spec::OP_PATCH_EMBED_BWD || op == spec::OP_ATTN_BWD || op == spec::OP_MLP_BWD ||
           op == spec::OP_HEAD_BWD || op == spec::OP_LINEAR_BWD || op == spec::OP_LAYERNORM_BWD;
}

// The checks of a call's scalar registers (sizes, flags, heads): they bound every region it moves.
inline uint32_t validate_scalars(const spec::Args &a) {
    const uint32_t op = a.opcode;
    const int count = op_tensor_count(op);
    if (count == 0) return spec::ST_BAD_OPCODE;
    const bool patch = op == spec::OP_PATCH_EMBED_FWD || op == spec::OP_PATCH_EMBED_BWD;
    const bool attn = op == spec::OP_ATTN_FWD || op == spec::OP_ATTN_BWD;
    const bool mlp = op == spec::OP_MLP_FWD || op == spec::OP_MLP_BWD;
    const bool head = op == spec::OP_HEAD_FWD || op == spec::OP_HEAD_BWD;
    const bool linear = op == spec::OP_LINEAR_FWD || op == spec::OP_LINEAR_BWD;
    uint32_t allowed_flags = attn ? (uint32_t)spec::FLAG_SPARSE : mlp ? (uint32_t)spec::FLAG_GATHER : 0u;
    const bool accumulates = (a.flags & spec::FLAG_GRAD_ACCUMULATE) != 0;
    if (has_param_grads(op)) allowed_flags |= spec::FLAG_GRAD_ACCUMULATE | spec::FLAG_GRAD_CLEAR;
    if (a.flags & ~allowed_flags) return spec::ST_BAD_FLAGS;
    if ((a.flags & spec::FLAG_GRAD_CLEAR) && !accumulates) return spec::ST_BAD_FLAGS;
    if (!in_range(a.n_tokens, patch ? 2 : 1, spec::MAX_TOKENS)) return spec::ST_BAD_TOKENS;
    if (!linear && !in_range(a.dim, 1, spec::MAX_DIM)) return spec::ST_BAD_DIM;
    if (attn) {
        const uint32_t s = check_heads(a.dim, a.heads);
        if (s != spec::ST_OK) return s;
    }
    if (mlp) {
        if (!in_range(a.mlp_dim, 1, spec::MAX_MLP)) return spec::ST_BAD_MLP;
        if (a.flags & spec::FLAG_GATHER) {
            if (!in_range(a.n_keep, 1, (int)a.n_tokens)) return spec::ST_BAD_TOKENS;
        } else if (a.n_keep != 0 && a.n_keep != a.n_tokens) {
            return spec::ST_BAD_KEEP;
        }
    }
    if (patch && !in_range(a.in_dim, 1, spec::MAX_PATCH_DIM)) return spec::ST_BAD_IN_DIM;
    if (head && !in_range(a.out_dim, 1, spec::MAX_CLASSES)) return spec::ST_BAD_OUT_DIM;
    if (linear) {
        if (!in_range(a.in_dim, 1, spec::MAX_IN_DIM)) return spec::ST_BAD_IN_DIM;
        if (!in_range(a.out_dim, 1, spec::MAX_OUT_DIM)) return spec::ST_BAD_OUT_DIM;
    }
    return spec::ST_OK;
}

// The checks of the call's lists in aux (key lists, kept tokens, gradient fracs); scalars valid.
// acc_fracs: the accumulator fracs of a FLAG_GRAD_ACCUMULATE call (second half of the frac table).
inline uint32_t validate_lists(const spec::Args &a, const int32_t *aux, const int32_t *acc_fracs) {
    const uint32_t op = a.opcode;
    const bool attn = op == spec::OP_ATTN_FWD || op == spec::OP_ATTN_BWD;
    const bool mlp = op == spec::OP_MLP_FWD || op == spec::OP_MLP_BWD;
    if (attn && (a.flags & spec::FLAG_SPARSE)) {
        const uint32_t k = check_key_lists(aux + a.keys_off, aux + a.keys_off + a.n_tokens + 1, (int)a.n_tokens);
        if (k != spec::ST_OK) return k;
    }
    if (mlp && (a.flags & spec::FLAG_GATHER)) {
        const uint32_t k = check_keep_list(aux + a.keep_off, (int)a.n_keep, (int)a.n_tokens);
        if (k != spec::ST_OK) return k;
    }
    if (is_backward(op)) {
        const uint32_t f = check_fracs(aux + a.fracs_off, op_tensor_count(op));
        if (f != spec::ST_OK || !(a.flags & spec::FLAG_GRAD_ACCUMULATE)) return f;
        return check_gacc_fracs(acc_fracs, op_tensor_count(op));
    }
    return spec::ST_OK;
}

// Every check of a call, before anything is written (the C-sim backend's pre-check uses it on DDR).
inline uint32_t validate(const spec::Args &a, const int32_t *aux) {
    const uint32_t s = validate_scalars(a);
    return s != spec::ST_OK ? s : validate_lists(a, aux, aux + a.fracs_off + op_tensor_count(a.opcode));
}

// Runs one op on the on-chip copies. Every op's GEMMs call the one gemm_unit (INLINE off): the ops
// are inlined here and ALLOCATION limits gemm_unit to one instance, so there is one MAC array.
// csr_scratch: free on-chip aux words where a dense attention call builds its row pointers (every
// row lists every key; no key list is built or read, see csr_dense).
inline void dispatch(const spec::Args &a, word_t *wts, word_t *act, word_t *grd, int32_t *aux, int32_t *csr_scratch,
                     Stat *st, Counters &cnt) {
#pragma HLS INLINE recursive
#pragma HLS ALLOCATION function instances=gemm_unit limit=1
    int32_t *dense_ptr = csr_scratch;
    const int n = (int)a.n_tokens, D = (int)a.dim;
    const int32_t *fr = aux + a.fracs_off;
    const int32_t *rp = dense_ptr;
    const int32_t *keys = 0;
    if (a.opcode == spec::OP_ATTN_FWD || a.opcode == spec::OP_ATTN_BWD) {
        if (a.flags & spec::FLAG_SPARSE) {
            rp = aux + a.keys_off;
            keys = aux + a.keys_off + n + 1;
        } else {
            csr_dense(n, dense_ptr, cnt);
        }
    }
    const int32_t *keep = (a.flags & spec::FLAG_GATHER) ? aux + a.keep_off : 0;
    const int k = keep ? (int)a.n_keep : n;
    switch (a.opcode) {
    case spec::OP_PATCH_EMBED_FWD:
        patch_embed_fwd(n, D, (int)a.in_dim, act + a.x_off, wts + a.w_off, act + a.y_off, st, cnt);
        break;
    case spec::OP_PATCH_EMBED_BWD:
        patch_embed_bwd(n, D, (int)a.in_dim, act + a.x_off, grd + a.gy_off, grd + a.gw_off, fr, st, cnt);
        break;
    case spec::OP_ATTN_FWD:
        attn_fwd(attn_view(n, D, (int)a.heads, rp[n]), act + a.x_off, wts + a.w_off, act + a.save_off, act + a.y_off,
                 act + a.attn_off, rp, keys, st, cnt);
        break;
    case spec::OP_ATTN_BWD:
        attn_bwd(attn_view(n, D, (int)a.heads, rp[n]), act + a.x_off, wts + a.w_off, act + a.save_off, rp, keys,
                 grd + a.gy_off, grd + a.gx_off, grd + a.gw_off, grd + a.gs_off, fr, st, cnt);
        break;
    case spec::OP_MLP_FWD:
        mlp_fwd(mlp_view(n, k, D, (int)a.mlp_dim), act + a.x_off, keep, wts + a.w_off, act + a.save_off,
                act + a.y_off, st, cnt);
        break;
    case spec::OP_MLP_BWD:
        mlp_bwd(mlp_view(n, k, D, (int)a.mlp_dim), keep, wts + a.w_off, act + a.save_off, grd + a.gy_off,
                grd + a.gx_off, grd + a.gw_off, grd + a.gs_off, fr, st, cnt);
        break;
    case spec::OP_HEAD_FWD:
        head_fwd(D, (int)a.out_dim, act + a.x_off, wts + a.w_off, act + a.save_off, act + a.y_off, st, cnt);
        break;
    case spec::OP_HEAD_BWD:
        head_bwd(n, D, (int)a.out_dim, act + a.x_off, wts + a.w_off, act + a.save_off, grd + a.gy_off,
                 grd + a.gx_off, grd + a.gw_off, grd + a.gs_off, fr, st, cnt);
        break;
    case spec::OP_LINEAR_FWD: {
        const int I = (int)a.in_dim, O = (int)a.out_dim;
        const word_t *w = wts + a.w_off;
        linear_fwd(act + a.x_off, I, n, I, w, w + (long)O * I, O, act + a.y_off, O, st[0], cnt);
        break;
    }
    case spec::OP_LINEAR_BWD: {
        namespace T = spec::linear_bwd;
        const int I = (int)a.in_dim, O = (int)a.out_dim;
        const word_t *dy = grd + a.gy_off;
        linear_bwd(dy, O, fr[T::D_OUT], act + a.x_off, I, n, I, O, wts + a.w_off, grd + a.gw_off, fr[T::D_W],
                   grd + a.gw_off + (long)O * I, fr[T::D_B], grd + a.gx_off, I, fr[T::D_IN], st[T::D_W], st[T::D_B],
                   st[T::D_IN], cnt);
        break;
    }
    case spec::OP_LAYERNORM_FWD:
        layernorm_fwd(act + a.x_off, D, n, D, wts + a.w_off, wts + a.w_off + D, act + a.y_off, D, st[0], cnt);
        break;
    case spec::OP_LAYERNORM_BWD: {
        namespace T = spec::layernorm_bwd;
        layernorm_bwd(act + a.x_off, D, n, D, wts + a.w_off, grd + a.gy_off, D, fr[T::D_OUT], 0, 0, grd + a.gx_off, D,
                      0, fr[T::D_IN], grd + a.gw_off, fr[T::D_W], grd + a.gw_off + D, fr[T::D_B], st[T::D_IN],
                      st[T::D_W], st[T::D_B], cnt);
        break;
    }
    case spec::OP_GELU_FWD:
        gelu_fwd(act + a.x_off, act + a.y_off, (long)n * D, st[0], cnt);
        break;
    case spec::OP_GELU_BWD: {
        namespace T = spec::gelu_bwd;
        gelu_bwd(act + a.x_off, grd + a.gy_off, fr[T::D_OUT], grd + a.gx_off, fr[T::D_IN], (long)n * D, st[T::D_IN], cnt);
        break;
    }
    default:
        break;
    }
}

// The engine's on-chip copy of a call: every region it reads is burst-loaded here once, the op runs
// on these buffers only, every region it writes is burst-stored from here once. The 16-bit ports
// share one pool (only one call runs at a time), sized by the generator for the largest call at the
// compile-time limits (spec::POOL_WORDS; docs/engine.md sets it against the ZU9EG's BRAM).
struct OnChip {
    word_t words[spec::POOL_WORDS];      // wts, act and grd regions of the call, back to back
    int32_t aux[spec::POOL_WORDS_AUX];   // key lists, keep list, frac table, stats
};

// The 16-bit pool is partitioned cyclic by EW_LANES: any EW_LANES consecutive words (a laned loop's
// slice, at any alignment) sit in EW_LANES different banks, one port each per cycle. aux is read and
// written one word per cycle (lists, fracs, stats) and stays whole.
inline OnChip &on_chip() {
    static OnChip buffers;
#pragma HLS ARRAY_PARTITION variable=buffers.words cyclic factor=spec::EW_LANES dim=1
    return buffers;
}

// Words of a port's beat (the on-chip copy keeps each region beat-aligned, as it arrives).
inline long beat_words(int port) { return spec::axi_beat_bytes(port) / (port == spec::PORT_AUX ? 4 : 2); }

// Moves one region between its port and the on-chip copy (load: DDR -> chip, else chip -> DDR).
inline void move_region(const spec::Region &r, long chip_off, bool load, word_t *wts, word_t *act, word_t *grd,
                        int32_t *aux, OnChip &oc, Counters &cnt) {
    switch (r.port) {
    case spec::PORT_AUX:
        if (load) burst_load(aux, r.off, r.words, oc.aux + chip_off, r.port, cnt);
        else burst_store(aux, r.off, r.words, oc.aux + chip_off, r.port, cnt);
        break;
    case spec::PORT_WTS:
        if (load) burst_load(wts, r.off, r.words, oc.words + chip_off, r.port, cnt);
        else burst_store(wts, r.off, r.words, oc.words + chip_off, r.port, cnt);
        break;
    case spec::PORT_ACT:
        if (load) burst_load(act, r.off, r.words, oc.words + chip_off, r.port, cnt);
        else burst_store(act, r.off, r.words, oc.words + chip_off, r.port, cnt);
        break;
    default:
        if (load) burst_load(grd, r.off, r.words, oc.words + chip_off, r.port, cnt);
        else burst_store(grd, r.off, r.words, oc.words + chip_off, r.port, cnt);
        break;
    }
}

// Key-list entries Z of an attention call: N*N dense; sparse, row_ptr[N], read from aux (one beat).
// Returns false when Z is outside what N lists can hold (the key-list check then rejects the call).
inline bool key_entries(const spec::Args &a, const int32_t *aux, long &Z, Counters &cnt) {
    const long n = a.n_tokens;
    Z = 0;
    if (a.opcode != spec::OP_ATTN_FWD && a.opcode != spec::OP_ATTN_BWD) return true;
    if (!(a.flags & spec::FLAG_SPARSE)) {
        Z = n * n;
        return true;
    }
    int32_t z[1];
    burst_load(aux, (long)a.keys_off + n, 1, z, spec::PORT_AUX, cnt);
    Z = z[0];
    return Z >= n && Z <= n * spec::MAX_KEYS;
}

// Load -> compute -> store of one validated call. Returns the status (list checks run on the
// on-chip copy of aux, before anything is written).
inline uint32_t run_on_chip(const spec::Args &a, word_t *wts, word_t *act, word_t *grd, int32_t *aux, Stat *st,
                            Counters &cnt, uint32_t &sat) {
    OnChip &oc = on_chip();
    long Z;
    if (!key_entries(a, aux, Z, cnt)) return spec::ST_BAD_KEYS;
    spec::Region regions[spec::MAX_REGIONS];
    long chip_off[spec::MAX_REGIONS];
    const int count = spec::op_regions(a, Z, regions);
    spec::Args on = a;  // the same call, its offsets pointing into the on-chip copy
    long next_word = 0, next_aux = 0;  // the 16-bit ports share one pool
    for (int i = 0; i < count; ++i) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_REGIONS
        const int p = regions[i].port;
        long &next = p == spec::PORT_AUX ? next_aux : next_word;
        chip_off[i] = next;
        next += (regions[i].words + beat_words(p) - 1) / beat_words(p) * beat_words(p);
        spec::set_region_offset(on, regions[i].reg, (uint32_t)chip_off[i]);
        cnt.min_axi_bytes += axi_region_bytes(p, regions[i].off, regions[i].words, p == spec::PORT_AUX ? 4 : 2);
    }
    for (int i = 0; i < count; ++i) {  // lists first: checked before the bulk moves
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_REGIONS
        if (!regions[i].write && regions[i].port == spec::PORT_AUX)
            move_region(regions[i], chip_off[i], true, wts, act, grd, aux, oc, cnt);
    }
    const int tensors = op_tensor_count(a.opcode);
    int32_t acc_fracs[spec::OP_TENSORS_MAX];  // gradient accumulation: the accumulator fracs
    const bool accumulates = (a.flags & spec::FLAG_GRAD_ACCUMULATE) != 0;
    if (accumulates) {
        burst_load(aux, (long)a.fracs_off + tensors, tensors, acc_fracs, spec::PORT_AUX, cnt);
        cnt.min_axi_bytes += axi_region_bytes(spec::PORT_AUX, (long)a.fracs_off + tensors, tensors, 4);
    }
    const uint32_t status = validate_lists(on, oc.aux, acc_fracs);
    if (status != spec::ST_OK) return status;
    for (int i = 0; i < count; ++i) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_REGIONS
        if (!regions[i].write && regions[i].port != spec::PORT_AUX)
            move_region(regions[i], chip_off[i], true, wts, act, grd, aux, oc, cnt);
    }
    dispatch(on, oc.words, oc.words, oc.words, oc.aux, oc.aux + next_aux, st, cnt);
    int32_t *so = oc.aux + on.stats_off;
    for (int i = 0; i < tensors; ++i) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_OP_TENSORS
        so[2 * i] = st[i].max_abs;
        so[2 * i + 1] = (int32_t)st[i].sat;
        sat += st[i].sat;
    }
    for (int i = 0; i < count; ++i) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_REGIONS
        if (regions[i].write) move_region(regions[i], chip_off[i], false, wts, act, grd, aux, oc, cnt);
    }
    if (accumulates)  // after the op's own stores: the accumulators stream over aux (grad_accum.h)
        sat += accumulate_param_grads(a, oc.words + on.gw_off, oc.aux + on.fracs_off, acc_fracs, aux, tensors, cnt);
    return spec::ST_OK;
}

inline uint32_t lo32(uint64_t v) { return (uint32_t)v; }
inline uint32_t hi32(uint64_t v) { return (uint32_t)(v >> 32); }

inline void run_engine(const spec::Args &a, word_t *wts, word_t *act, word_t *grd, int32_t *aux, spec::Outputs &out) {
    Counters cnt;
    counters_clear(cnt);
    Stat st[MAX_OP_TENSORS];
    stats_clear(st, MAX_OP_TENSORS);
    uint32_t sat = 0;
    uint32_t status = validate_scalars(a);
    if (status == spec::ST_OK) status = run_on_chip(a, wts, act, grd, aux, st, cnt, sat);
    out.status = status;
    out.macs_lo = lo32(cnt.macs);
    out.macs_hi = hi32(cnt.macs);
    out.cycles_lo = lo32(cnt.cycles);
    out.cycles_hi = hi32(cnt.cycles);
    out.saturations = sat;
    out.ew_cycles_lo = lo32(cnt.ew_cycles);
    out.ew_cycles_hi = hi32(cnt.ew_cycles);
    out.min_axi_bytes_lo = lo32(cnt.min_axi_bytes);
    out.min_axi_bytes_hi = hi32(cnt.min_axi_bytes);
    spec::axi_counts_to_outputs(cnt.axi, out);
}

}  // namespace onion

using onion::word_t;

#endif
