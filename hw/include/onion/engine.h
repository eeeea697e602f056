// The engine: validates a call's arguments against the compile-time limits, dispatches the op and
// reports status, counters and per-tensor stats. One call = one op (spec::Opcode); on a bad
// argument the status names it and nothing is written.
#ifndef ONION_ENGINE_H
#define ONION_ENGINE_H

#include "onion/attention.h"
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

const int MAX_OP_TENSORS = 16;

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

// Every check of a call, before anything is written.
inline uint32_t validate(const spec::Args &a, const int32_t *aux) {
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
        if (a.flags & spec::FLAG_SPARSE) {
            const uint32_t k = check_key_lists(aux + a.keys_off, aux + a.keys_off + a.n_tokens + 1, (int)a.n_tokens);
            if (k != spec::ST_OK) return k;
        }
    }
    if (mlp) {
        if (!in_range(a.mlp_dim, 1, spec::MAX_MLP)) return spec::ST_BAD_MLP;
        if (a.flags & spec::FLAG_GATHER) {
            if (!in_range(a.n_keep, 1, (int)a.n_tokens)) return spec::ST_BAD_TOKENS;
            const uint32_t k = check_keep_list(aux + a.keep_off, (int)a.n_keep, (int)a.n_tokens);
            if (k != spec::ST_OK) return k;
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
    if (is_backward(op)) {
        const uint32_t f = check_fracs(aux + a.fracs_off, count);
        if (f != spec::ST_OK || !accumulates) return f;
        int32_t table[2 * spec::OP_TENSORS_MAX];
        burst_read_table(aux + a.fracs_off, table, 2 * count);
        return check_gacc_fracs(table, count);
    }
    return spec::ST_OK;
}

inline void dispatch(const spec::Args &a, word_t *wts, word_t *act, word_t *grd, int32_t *aux, Stat *st,
                     Counters &cnt) {
    static int32_t dense_ptr[spec::MAX_TOKENS + 1];
    static int32_t dense_keys[MAX_KEY_ENTRIES];
    const int n = (int)a.n_tokens, D = (int)a.dim;
    const int32_t *fr = aux + a.fracs_off;
    const int32_t *rp = dense_ptr;
    const int32_t *keys = dense_keys;
    const bool dense = !(a.flags & spec::FLAG_SPARSE);
    if (a.opcode == spec::OP_ATTN_FWD || a.opcode == spec::OP_ATTN_BWD) {
        if (a.flags & spec::FLAG_SPARSE) {
            rp = aux + a.keys_off;
            keys = aux + a.keys_off + n + 1;
        } else {
            csr_dense(n, dense_ptr, dense_keys);
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
                 act + a.attn_off, dense, rp, keys, st, cnt);
        break;
    case spec::OP_ATTN_BWD:
        attn_bwd(attn_view(n, D, (int)a.heads, rp[n]), act + a.x_off, wts + a.w_off, act + a.save_off, dense, rp, keys,
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
        linear_bwd_params(dy, O, fr[T::D_OUT], act + a.x_off, I, n, I, O, grd + a.gw_off, fr[T::D_W],
                          grd + a.gw_off + (long)O * I, fr[T::D_B], st[T::D_W], st[T::D_B], cnt);
        linear_bwd_data(dy, O, fr[T::D_OUT], n, I, O, wts + a.w_off, grd + a.gx_off, I, fr[T::D_IN], st[T::D_IN], cnt);
        break;
    }
    case spec::OP_LAYERNORM_FWD:
        layernorm_fwd(act + a.x_off, D, n, D, wts + a.w_off, wts + a.w_off + D, act + a.y_off, D, st[0]);
        break;
    case spec::OP_LAYERNORM_BWD: {
        namespace T = spec::layernorm_bwd;
        layernorm_bwd(act + a.x_off, D, n, D, wts + a.w_off, grd + a.gy_off, D, fr[T::D_OUT], 0, 0, grd + a.gx_off, D,
                      0, fr[T::D_IN], grd + a.gw_off, fr[T::D_W], grd + a.gw_off + D, fr[T::D_B], st[T::D_IN],
                      st[T::D_W], st[T::D_B]);
        break;
    }
    case spec::OP_GELU_FWD:
        gelu_fwd(act + a.x_off, act + a.y_off, (long)n * D, st[0]);
        break;
    case spec::OP_GELU_BWD: {
        namespace T = spec::gelu_bwd;
        gelu_bwd(act + a.x_off, grd + a.gy_off, fr[T::D_OUT], grd + a.gx_off, fr[T::D_IN], (long)n * D, st[T::D_IN]);
        break;
    }
    default:
        break;
    }
}

inline void run_engine(const spec::Args &a, word_t *wts, word_t *act, word_t *grd, int32_t *aux, spec::Outputs &out) {
    Counters cnt = {0, 0};
    Stat st[MAX_OP_TENSORS];
    stats_clear(st, MAX_OP_TENSORS);
    const uint32_t status = validate(a, aux);
    uint32_t sat = 0;
    if (status == spec::ST_OK) {
        dispatch(a, wts, act, grd, aux, st, cnt);
        const int count = op_tensor_count(a.opcode);
        int32_t *so = aux + a.stats_off;
        for (int i = 0; i < count; ++i) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_OP_TENSORS
            so[2 * i] = st[i].max_abs;
            so[2 * i + 1] = (int32_t)st[i].sat;
            sat += st[i].sat;
        }
        sat += accumulate_param_grads(a, grd + a.gw_off, aux, count);
    }
    out.status = status;
    out.macs_lo = (uint32_t)cnt.macs;
    out.macs_hi = (uint32_t)(cnt.macs >> 32);
    out.cycles_lo = (uint32_t)cnt.cycles;
    out.cycles_hi = (uint32_t)(cnt.cycles >> 32);
    out.saturations = sat;
}

}  // namespace onion

using onion::word_t;

#endif
