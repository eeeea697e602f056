// Multi-head self-attention core on a fused qkv [N, 3D] (timm layout: q | k | v, heads contiguous
// inside each), forward and backward, over per-query key lists (CSR). Dense attention is the same
// code with every key listed, so sparse attention touches exactly its listed keys.
//
//   S = (Q K^T) / sqrt(hd) over listed keys    (hd a power of 4: the scale is a shift)
//   P = softmax(S) per query row               (exp_neg_fx, reciprocal_fx)
//   ctx = P V
// Sparse: per (query, head) the products are small gathered GEMMs through the one gemm(), each one
// job on the MAC array (and counted as such); dense: whole GEMMs per head.
#ifndef ONION_ATTENTION_H
#define ONION_ATTENTION_H

#include "onion/engine_gemm.h"
#include "onion/nonlinear.h"

namespace onion {

const long MAX_KEY_ENTRIES = (long)spec::MAX_TOKENS * spec::MAX_KEYS;

// log4(hd) for hd a power of 4, else -1 (rejected by the engine as BAD_HEADS).
inline int head_scale_shift(int hd) {
    for (int s = 0; s < 16; ++s) {
        if (((int32_t)1 << (2 * s)) == hd) return s;
    }
    return -1;
}

// Every key listed for every query: row_ptr[i] = i n, keys = 0..n-1 per row.
inline void csr_dense(int n, int32_t *row_ptr, int32_t *keys) {
    for (int i = 0; i <= n; ++i) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS_PLUS_1
        row_ptr[i] = i * n;
    }
    for (int i = 0; i < n; ++i) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS
        for (int j = 0; j < n; ++j) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS
            keys[(long)i * n + j] = j;
        }
    }
}

// Transposed lists (per key: the queries listing it, ascending, and the CSR position of each).
inline void csr_transpose(int n, const int32_t *row_ptr, const int32_t *keys, int32_t *t_ptr, int32_t *t_query,
                          int32_t *t_pos) {
    int32_t fill[spec::MAX_TOKENS + 1];
    for (int j = 0; j <= n; ++j) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS_PLUS_1
        t_ptr[j] = 0;
    }
    for (long z = 0; z < row_ptr[n]; ++z) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS_X_TOKENS
        t_ptr[keys[z] + 1]++;
    }
    for (int j = 0; j < n; ++j) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS
        t_ptr[j + 1] += t_ptr[j];
    }
    for (int j = 0; j <= n; ++j) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS_PLUS_1
        fill[j] = t_ptr[j];
    }
    for (int i = 0; i < n; ++i) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS
        for (int32_t z = row_ptr[i]; z < row_ptr[i + 1]; ++z) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS
            const int32_t at = fill[keys[z]]++;
            t_query[at] = i;
            t_pos[at] = z;
        }
    }
}

// p = softmax(s) over one row of cnt scores (attn_score words) -> attn_prob words.
inline void softmax_row(const word_t *s, int cnt, word_t *p, uint32_t &sat) {
    int32_t e[spec::MAX_TOKENS];
    int32_t m = s[0];
    for (int j = 1; j < cnt; ++j) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS
        m = s[j] > m ? s[j] : m;
    }
    int64_t sum = 0;
    for (int j = 0; j < cnt; ++j) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS
#pragma HLS PIPELINE II=1
        e[j] = exp_neg_fx((int32_t)s[j] - m, spec::FRAC_ATTN_SCORE, spec::SOFTMAX_EXP_FRAC);
        sum += e[j];
    }
    const uint32_t r = reciprocal_fx((uint32_t)sum, spec::SOFTMAX_EXP_FRAC, spec::SOFTMAX_RECIP_FRAC);
    for (int j = 0; j < cnt; ++j) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS
#pragma HLS PIPELINE II=1
        p[j] = requantize((acc_t)e[j] * r, spec::SOFTMAX_EXP_FRAC + spec::SOFTMAX_RECIP_FRAC - spec::FRAC_ATTN_PROB, sat);
    }
}

// Query i's c products a_i . b_j over its listed keys j (one head): with dense lists copied from the
// whole-head GEMM staged at `staged` (the row's slice), else one gathered 1 x c GEMM of depth hd.
inline void key_row(bool dense, const word_t *staged, const word_t *a_row, const word_t *b, long ldb,
                    const int32_t *row_keys, int c, int hd, int shift, uint32_t &sat, Counters &cnt, word_t *row) {
    if (dense) {
        for (int j = 0; j < c; ++j) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS
            row[j] = staged[j];
        }
    } else {
        gemm(operand(a_row, 0, 1), operand(b, ldb, 1, row_keys), 0, 0, row, 0, 1, c, hd, shift, sat, cnt);
    }
}

struct MhsaFwdStats {
    Stat *scores, *probs, *ctx, *avg;
};

// probs [H, Z] and ctx [n, D] from qkv [n, 3D]; avg [Z]: probabilities averaged over heads.
inline void mhsa_fwd(const word_t *qkv, int n, int D, int H, bool dense, const int32_t *rp, const int32_t *keys,
                     word_t *probs, word_t *ctx, word_t *avg, MhsaFwdStats st, Counters &cnt) {
    const int hd = D / H;
    const int sh = head_scale_shift(hd);
    const long Z = rp[n];
    const long ld = 3L * D;
    word_t srow[spec::MAX_TOKENS];
    for (int h = 0; h < H; ++h) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_HEADS
        word_t *ph = probs + h * Z;
        const int score_shift = 2 * spec::FRAC_ACTIVATION - spec::FRAC_ATTN_SCORE + sh;
        if (dense) {  // the same products as whole GEMMs (scores staged in the probs region)
            gemm(operand(qkv + h * hd, ld, 1), operand(qkv + D + h * hd, ld, 1), 0, 0, ph, n, n, n, hd, score_shift,
                 st.scores->sat, cnt);
        }
        for (int i = 0; i < n; ++i) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS
            const int c = rp[i + 1] - rp[i];
            key_row(dense, ph + rp[i], qkv + i * ld + h * hd, qkv + D + h * hd, ld, keys + rp[i], c, hd, score_shift,
                    st.scores->sat, cnt, srow);
            stats_scan(*st.scores, srow, c);
            softmax_row(srow, c, ph + rp[i], st.probs->sat);
        }
        if (dense) {
            gemm(operand(ph, n, 1), operand(qkv + 2 * D + h * hd, 1, ld), 0, 0, ctx + h * hd, D, n, hd, n,
                 spec::FRAC_ATTN_PROB, st.ctx->sat, cnt);
            continue;
        }
        for (int i = 0; i < n; ++i) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS
            const int c = rp[i + 1] - rp[i];
            gemm(operand(ph + rp[i], 0, 1), operand(qkv + 2 * D + h * hd, 1, ld, 0, keys + rp[i]), 0, 0,
                 ctx + (long)i * D + h * hd, 0, 1, hd, c, spec::FRAC_ATTN_PROB, st.ctx->sat, cnt);
        }
    }
    stats_scan(*st.probs, probs, H * Z);
    stats_scan(*st.ctx, ctx, (long)n * D);
    const int64_t inv_h = reciprocal_fx((uint32_t)H, 0, spec::HEAD_AVG_FRAC);
    for (long z = 0; z < Z; ++z) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS_X_TOKENS
#pragma HLS PIPELINE II=1
        acc_t sum = 0;
        for (int h = 0; h < H; ++h) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_HEADS
            sum += probs[h * Z + z];
        }
        avg[z] = requantize(sum * inv_h, spec::HEAD_AVG_FRAC, st.avg->sat);
    }
    stats_scan(*st.avg, avg, Z);
}

struct MhsaBwdFracs {
    int ctx, probs, scores, qkv;  // gradient fracs of d_ctx (in), d_probs, d_scores, d_qkv (out)
};

struct MhsaBwdStats {
    Stat *probs, *scores, *qkv;
};

// d_qkv [n, 3D] from d_ctx [n, D]; d_scores [H, Z] is scratch (kept for inspection).
inline void mhsa_bwd(const word_t *qkv, int n, int D, int H, bool dense, const int32_t *rp, const int32_t *keys,
                     const word_t *probs, const word_t *d_ctx, word_t *d_scores, word_t *d_qkv, MhsaBwdFracs g,
                     MhsaBwdStats st, Counters &cnt) {
    static int32_t t_ptr[spec::MAX_TOKENS + 1];
    static int32_t t_query[MAX_KEY_ENTRIES];
    static int32_t t_pos[MAX_KEY_ENTRIES];
    if (!dense) csr_transpose(n, rp, keys, t_ptr, t_query, t_pos);
    const int hd = D / H;
    const int sh = head_scale_shift(hd);
    const long Z = rp[n];
    const long ld = 3L * D;
    word_t dprow[spec::MAX_TOKENS];
    for (int h = 0; h < H; ++h) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_HEADS
        const word_t *ph = probs + h * Z;
        word_t *dsh = d_scores + h * Z;
        const int dp_shift = g.ctx + spec::FRAC_ACTIVATION - g.probs;
        const int dq_shift = g.scores + spec::FRAC_ACTIVATION + sh - g.qkv;
        const int dv_shift = spec::FRAC_ATTN_PROB + g.ctx - g.qkv;
        if (dense) {  // dP for all rows as one GEMM, staged in the d_scores region
            gemm(operand(d_ctx + h * hd, D, 1), operand(qkv + 2 * D + h * hd, ld, 1), 0, 0, dsh, n, n, n, hd, dp_shift,
                 st.probs->sat, cnt);
        }
        for (int i = 0; i < n; ++i) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS
            const int c = rp[i + 1] - rp[i];
            // dP = d_ctx V^T over the listed keys
            key_row(dense, dsh + rp[i], d_ctx + (long)i * D + h * hd, qkv + 2 * D + h * hd, ld, keys + rp[i], c, hd,
                    dp_shift, st.probs->sat, cnt, dprow);
            stats_scan(*st.probs, dprow, c);
            // dS = P (dP - sum_k P dP)
            const word_t *p = ph + rp[i];
            int64_t dot = 0;
            for (int j = 0; j < c; ++j) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS
                dot += (int64_t)p[j] * dprow[j];
            }
            for (int j = 0; j < c; ++j) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS
#pragma HLS PIPELINE II=1
                const acc_t acc = (acc_t)p[j] * (((int64_t)dprow[j] << spec::FRAC_ATTN_PROB) - dot);
                dsh[rp[i] + j] = requantize_any(acc, 2 * spec::FRAC_ATTN_PROB + g.probs - g.scores, st.scores->sat);
            }
        }
        if (dense) {  // dQ = scale dS K, dK = scale dS^T Q, dV = P^T d_ctx
            gemm(operand(dsh, n, 1), operand(qkv + D + h * hd, 1, ld), 0, 0, d_qkv + h * hd, ld, n, hd, n, dq_shift,
                 st.qkv->sat, cnt);
            gemm(operand(dsh, 1, n), operand(qkv + h * hd, 1, ld), 0, 0, d_qkv + D + h * hd, ld, n, hd, n, dq_shift,
                 st.qkv->sat, cnt);
            gemm(operand(ph, 1, n), operand(d_ctx + h * hd, 1, D), 0, 0, d_qkv + 2 * D + h * hd, ld, n, hd, n, dv_shift,
                 st.qkv->sat, cnt);
            continue;
        }
        for (int i = 0; i < n; ++i) {  // dQ = scale dS K
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS
            const int c = rp[i + 1] - rp[i];
            gemm(operand(dsh + rp[i], 0, 1), operand(qkv + D + h * hd, 1, ld, 0, keys + rp[i]), 0, 0,
                 d_qkv + (long)i * ld + h * hd, 0, 1, hd, c, dq_shift, st.qkv->sat, cnt);
        }
        for (int j = 0; j < n; ++j) {  // dK = scale dS^T Q, dV = P^T d_ctx, over the queries listing key j
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS
            const int c = t_ptr[j + 1] - t_ptr[j];
            gemm(operand(dsh, 0, 1, 0, t_pos + t_ptr[j]), operand(qkv + h * hd, 1, ld, 0, t_query + t_ptr[j]), 0, 0,
                 d_qkv + (long)j * ld + D + h * hd, 0, 1, hd, c, dq_shift, st.qkv->sat, cnt);
            gemm(operand(ph, 0, 1, 0, t_pos + t_ptr[j]), operand(d_ctx + h * hd, 1, D, 0, t_query + t_ptr[j]), 0, 0,
                 d_qkv + (long)j * ld + 2 * D + h * hd, 0, 1, hd, c, dv_shift, st.qkv->sat, cnt);
        }
    }
    stats_scan(*st.scores, d_scores, H * Z);
    stats_scan(*st.qkv, d_qkv, (long)n * ld);
}

}  // namespace onion

#endif
