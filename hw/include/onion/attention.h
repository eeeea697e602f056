// Multi-head self-attention core on a fused qkv [N, 3D] (timm layout: q | k | v, heads contiguous
// inside each), forward and backward, over per-query key lists (CSR). Dense attention is the same
// code with every key listed, so sparse attention touches exactly its listed keys.
//
//   S = (Q K^T) / sqrt(hd) over listed keys    (hd a power of 4: the scale is a shift)
//   P = softmax(S) per query row               (exp_neg_fx, reciprocal_fx)
//   ctx = P V
// Dense and key-listed attention share one masked dense schedule (below): whole-head GEMMs over the
// kept tokens that skip the array tiles no query of a block lists.
#ifndef ONION_ATTENTION_H
#define ONION_ATTENTION_H

#include "onion/engine_gemm.h"
#include "onion/nonlinear.h"

namespace onion {

const long MAX_KEY_ENTRIES = (long)spec::MAX_TOKENS * spec::MAX_KEYS;
static_assert(spec::MAX_KEYS <= spec::MAX_TOKENS, "a query lists each key at most once");

// log4(hd) for hd a power of 4, else -1 (rejected by the engine as BAD_HEADS).
inline int head_scale_shift(int hd) {
    for (int s = 0; s < 16; ++s) {
        if (((int32_t)1 << (2 * s)) == hd) return s;
    }
    return -1;
}

// Every key listed for every query: row_ptr[i] = i n. No key list is built: a row that lists all n
// keys never reads it (the key mask is skipped for dense calls, and gather_listed / scatter_dense
// copy full rows straight), so dense calls pass a null key list and C-sim would fault on a read.
inline void csr_dense(int n, int32_t *row_ptr, Counters &cnt) {
    for (int i = 0; i <= n; ++i) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS_PLUS_1
        row_ptr[i] = i * n;
    }
    count_elementwise(cnt, n + 1, 1, 1, EW_DEPTH_COPY);
}

// p = softmax(s) over one row of `count` scores (attn_score words) -> attn_prob words.
// Max and sum are L lane partials folded in lane order at the end of the row (max and integer
// sums are exact in any order); one exp unit per lane, one reciprocal per row.
inline void softmax_row(const word_t *s, int count, word_t *p, uint32_t &sat, Counters &cnt) {
    int32_t e[spec::MAX_TOKENS];
#pragma HLS ARRAY_PARTITION variable=e cyclic factor=spec::EW_LANES
    int32_t mp[EW_LANES];
    int64_t sp[EW_LANES];
#pragma HLS ARRAY_PARTITION variable=mp complete
#pragma HLS ARRAY_PARTITION variable=sp complete
    for (int l = 0; l < EW_LANES; ++l) {
#pragma HLS UNROLL
        mp[l] = s[0];
        sp[l] = 0;
    }
    for (int j0 = 1; j0 < count; j0 += EW_LANES) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_KEYS_LANES
#pragma HLS PIPELINE II=1
        for (int l = 0; l < EW_LANES; ++l) {
#pragma HLS UNROLL
            const int j = j0 + l;
            if (j < count) mp[l] = s[j] > mp[l] ? s[j] : mp[l];
        }
    }
    int32_t m = mp[0];
    for (int l = 1; l < EW_LANES; ++l) {
#pragma HLS UNROLL
        m = mp[l] > m ? mp[l] : m;
    }
    count_elementwise(cnt, count - 1, EW_LANES, 1, EW_DEPTH_COPY);
    for (int j0 = 0; j0 < count; j0 += EW_LANES) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_KEYS_LANES
#pragma HLS PIPELINE II=1
        for (int l = 0; l < EW_LANES; ++l) {
#pragma HLS UNROLL
            const int j = j0 + l;
            if (j < count) {
                e[j] = exp_neg_fx((int32_t)s[j] - m, spec::FRAC_ATTN_SCORE, spec::SOFTMAX_EXP_FRAC);
                sp[l] += e[j];
            }
        }
    }
    const int64_t sum = fold_lanes(sp);
    count_elementwise(cnt, count, EW_LANES, 1, EW_DEPTH_NONLINEAR);
    const uint32_t r = reciprocal_fx((uint32_t)sum, spec::SOFTMAX_EXP_FRAC, spec::SOFTMAX_RECIP_FRAC);
    count_elementwise(cnt, 1, 1, 1, EW_DEPTH_NONLINEAR);
    for (int j0 = 0; j0 < count; j0 += EW_LANES) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_KEYS_LANES
#pragma HLS PIPELINE II=1
        for (int l = 0; l < EW_LANES; ++l) {
#pragma HLS UNROLL
            const int j = j0 + l;
            if (j < count)
                p[j] = requantize((acc_t)e[j] * r,
                                  spec::SOFTMAX_EXP_FRAC + spec::SOFTMAX_RECIP_FRAC - spec::FRAC_ATTN_PROB, sat);
        }
    }
    count_elementwise(cnt, count, EW_LANES, 1, EW_DEPTH_REQUANT);
}

// ---- the masked dense schedule ----------------------------------------------------------------
// Key-listed attention runs as dense GEMMs over the kept tokens, one set per head: scores and dP are
// computed for whole query blocks against the key tiles (the array's MAC_COLS-wide n-tiles) some query
// of the block lists; softmax reads only the listed entries, so an unlisted key gets probability 0;
// the products that reduce over keys (P V, dS K) or queries (dS^T Q, P^T dctx) run with the unlisted
// entries as zeros and skip the MAC_ROWS-deep k-tiles no row of the block touches. The integer sums
// are exact, so every word equals the per-query gather semantics. The schedule (query-block size) is
// chosen per call from the key lists by the array's cycle model, and the unblocked dense schedule is
// one of the candidates: a listed schedule never costs more array cycles than dense attention.

const int ATT_LDS = (spec::MAX_TOKENS + MAC_COLS - 1) / MAC_COLS * MAC_COLS;  // staging row stride
const int ATT_MAX_BLOCKS = (spec::MAX_TOKENS + MAC_ROWS - 1) / MAC_ROWS;       // blocks of >= MAC_ROWS rows
const int ATT_MAX_TILES = (spec::MAX_TOKENS + MAC_ROWS - 1) / MAC_ROWS;        // tiles of >= MAC_ROWS columns
static_assert(ATT_MAX_TILES <= 32, "tile masks are 32-bit words");

// Which array tiles each row touches, as bit masks (bit t = tile t): per query, the MAC_COLS-wide
// and MAC_ROWS-wide key tiles it lists; per key, the MAC_ROWS-wide query tiles that list it.
struct KeyMask {
    uint32_t query_n_tiles[spec::MAX_TOKENS];
    uint32_t query_k_tiles[spec::MAX_TOKENS];
    uint32_t key_k_tiles[spec::MAX_TOKENS];
};

inline void build_key_mask(int n, const int32_t *rp, const int32_t *keys, KeyMask &m, Counters &cnt) {
    for (int i0 = 0; i0 < n; i0 += EW_LANES) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS_LANES
#pragma HLS PIPELINE II=1
        for (int l = 0; l < EW_LANES; ++l) {
#pragma HLS UNROLL
            if (i0 + l < n) {
                m.query_n_tiles[i0 + l] = 0;
                m.query_k_tiles[i0 + l] = 0;
                m.key_k_tiles[i0 + l] = 0;
            }
        }
    }
    count_elementwise(cnt, n, EW_LANES, 1, EW_DEPTH_COPY);
    for (int i = 0; i < n; ++i) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS
        for (int32_t z = rp[i]; z < rp[i + 1]; ++z) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS
#pragma HLS PIPELINE II=1
            const int j = keys[z];
            m.query_n_tiles[i] |= 1u << (j / MAC_COLS);
            m.query_k_tiles[i] |= 1u << (j / MAC_ROWS);
            m.key_k_tiles[j] |= 1u << (i / MAC_ROWS);
        }
    }
    count_elementwise(cnt, rp[n], 1, 1, EW_DEPTH_COPY);  // 1 lane: read-modify-write of key_k_tiles[keys[z]]
}

// Rows in blocks of `blk`; per block the columns of the tiles (width `tw`) some row of it touches,
// gathered in ascending order (idx), and where each tile starts in that list (tile_pos, -1: skipped).
struct MaskedSchedule {
    int blk, blocks, tw;
    int count[ATT_MAX_BLOCKS];
    int tile_pos[ATT_MAX_BLOCKS][ATT_MAX_TILES];
    int32_t idx[ATT_MAX_BLOCKS][ATT_LDS];
};

// tiles[r]: the tile mask of row r (null: every tile, the dense schedule).
inline void fill_schedule(const uint32_t *tiles, int n, int blk, int tw, MaskedSchedule &s, Counters &cnt) {
    s.blk = blk;
    s.tw = tw;
    s.blocks = (n + blk - 1) / blk;
    const int n_tiles = (n + tw - 1) / tw;
    for (int b = 0; b < s.blocks; ++b) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_ATT_BLOCKS
        const int r0 = b * blk, r1 = r0 + blk < n ? r0 + blk : n;
        uint32_t any = tiles ? 0u : ~0u;
        for (int r = r0; r < r1 && tiles; ++r) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS
#pragma HLS PIPELINE II=1
            any |= tiles[r];
        }
        count_elementwise(cnt, tiles ? r1 - r0 : 0, 1, 1, EW_DEPTH_COPY);
        int g = 0;
        for (int t = 0; t < n_tiles; ++t) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_ATT_BLOCKS
            const bool listed = (any >> t) & 1u;
            s.tile_pos[b][t] = listed ? g : -1;
            const int c1 = (t + 1) * tw < n ? (t + 1) * tw : n;
            for (int c = t * tw; c < c1 && listed; ++c) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TILE_COLS
#pragma HLS PIPELINE II=1
                s.idx[b][g++] = c;
            }
        }
        count_elementwise(cnt, g, 1, 1, EW_DEPTH_COPY);
        s.count[b] = g;
    }
}

// Array cycles of a schedule: per block one job, rows x (listed columns) x hd (n_skip: the listed
// columns are the output), or rows x hd x (listed columns) (they are the reduction).
inline uint64_t schedule_cycles(const MaskedSchedule &s, int n, bool n_skip, int hd) {
    uint64_t c = 0;
    for (int b = 0; b < s.blocks; ++b) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_ATT_BLOCKS
        const int rows = (b + 1) * s.blk < n ? s.blk : n - b * s.blk;
        c += n_skip ? gemm_cycles(rows, s.count[b], hd) : gemm_cycles(rows, hd, s.count[b]);
    }
    return c;
}

// The cheapest block size by the array's cycle model; the whole-block (dense-shaped) schedule is a
// candidate, so the result never costs more than dense attention over the same tokens.
inline void plan_schedule(const uint32_t *tiles, int n, int tw, bool n_skip, int hd, MaskedSchedule &s,
                          Counters &cnt) {
    const int candidates[4] = {spec::MAX_TOKENS, 4 * MAC_ROWS, 2 * MAC_ROWS, MAC_ROWS};
    int best = n;
    uint64_t best_cycles = 0;
    for (int i = 0; i < 4; ++i) {
        const int blk = candidates[i] < n ? candidates[i] : n;
        if (i > 0 && blk >= n) continue;
        fill_schedule(tiles, n, blk, tw, s, cnt);
        const uint64_t c = schedule_cycles(s, n, n_skip, hd);
        if (i == 0 || c < best_cycles) {
            best = blk;
            best_cycles = c;
        }
    }
    fill_schedule(tiles, n, best, tw, s, cnt);
}

// The three schedules of a call (the key lists are the same for every head).
struct AttnSchedules {
    MaskedSchedule by_query_keys;    // scores, dP: query blocks x listed key n-tiles
    MaskedSchedule reduce_keys;      // P V, dS K: query blocks, reduction over listed key k-tiles
    MaskedSchedule reduce_queries;   // dS^T Q, P^T dctx: key blocks, reduction over listed query k-tiles
};

// Dense attention (every key listed) takes the dense schedule without looking at lists.
inline void plan_attention(bool dense, int n, int hd, const int32_t *rp, const int32_t *keys, KeyMask &m,
                           AttnSchedules &s, Counters &cnt) {
    if (dense) {
        fill_schedule(0, n, n, MAC_COLS, s.by_query_keys, cnt);
        fill_schedule(0, n, n, MAC_ROWS, s.reduce_keys, cnt);
        fill_schedule(0, n, n, MAC_ROWS, s.reduce_queries, cnt);
        return;
    }
    build_key_mask(n, rp, keys, m, cnt);
    plan_schedule(m.query_n_tiles, n, MAC_COLS, true, hd, s.by_query_keys, cnt);
    plan_schedule(m.query_k_tiles, n, MAC_ROWS, false, hd, s.reduce_keys, cnt);
    plan_schedule(m.key_k_tiles, n, MAC_ROWS, false, hd, s.reduce_queries, cnt);
}

// out[rows of the schedule, listed columns] = a_rows . b_cols (depth hd), staged at stage[r * ATT_LDS + pos].
// a: row r at a + r * lda; b: column (key) c at b + c * ldb.
inline void masked_products(const MaskedSchedule &s, int n, const word_t *a, long lda, const word_t *b, long ldb,
                            int hd, int shift, word_t *stage, uint32_t &sat, Counters &cnt) {
    for (int blk = 0; blk < s.blocks; ++blk) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_ATT_BLOCKS
        const int r0 = blk * s.blk, rows = r0 + s.blk < n ? s.blk : n - r0;
        gemm_jobs(operand(a + (long)r0 * lda, lda, 1), operand(b, ldb, 1, s.idx[blk]), 0, 0, stage + (long)r0 * ATT_LDS,
                  ATT_LDS, rows, s.count[blk], hd, shift, sat, cnt);
    }
}

// out[rows, hd] = sum over listed columns c of dense[r][c] * v(c) (dense: stage rows, zeros where
// unlisted); `transposed`: dense[r][c] = stage[c * ATT_LDS + r]. v(c): column c at v + c * ldv.
inline void masked_reduce(const MaskedSchedule &s, int n, const word_t *stage, bool transposed, const word_t *v,
                          long ldv, int hd, int shift, word_t *out, long ldo, uint32_t &sat, Counters &cnt) {
    for (int blk = 0; blk < s.blocks; ++blk) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_ATT_BLOCKS
        const int r0 = blk * s.blk, rows = r0 + s.blk < n ? s.blk : n - r0;
        const Operand a = transposed ? operand(stage + r0, 1, ATT_LDS, 0, s.idx[blk])
                                     : operand(stage + (long)r0 * ATT_LDS, ATT_LDS, 1, 0, s.idx[blk]);
        gemm_jobs(a, operand(v, 1, ldv, 0, s.idx[blk]), 0, 0, out + (long)r0 * ldo, ldo, rows, hd, s.count[blk], shift,
                  sat, cnt);
    }
}

// Query i's entry for key j in a by_query_keys stage.
inline word_t staged_at(const MaskedSchedule &s, const word_t *stage, int i, int j) {
    return stage[(long)i * ATT_LDS + s.tile_pos[i / s.blk][j / s.tw] + j % s.tw];
}

// Query i's c listed entries, in key order, from a by_query_keys stage. A row that lists every key
// (c == n) has every key tile listed in its block, so its entries are stage row i itself: a straight
// copy, L lanes per cycle. Any other row reads one entry per cycle (a listed key's position is
// data-dependent: L of them may share a bank).
inline void gather_listed(const MaskedSchedule &s, const word_t *stage, int i, const int32_t *keys, int32_t first,
                          int c, int n, word_t *out, Counters &cnt) {
    const word_t *row = stage + (long)i * ATT_LDS;
    const bool full = c == n;
    for (int j0 = 0; j0 < c && full; j0 += EW_LANES) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_KEYS_LANES
#pragma HLS PIPELINE II=1
        for (int l = 0; l < EW_LANES; ++l) {
#pragma HLS UNROLL
            if (j0 + l < c) out[j0 + l] = row[j0 + l];
        }
    }
    for (int j = 0; j < c && !full; ++j) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_KEYS
#pragma HLS PIPELINE II=1
        out[j] = staged_at(s, stage, i, keys[first + j]);
    }
    count_elementwise(cnt, c, full ? EW_LANES : 1, 1, EW_DEPTH_COPY);
}

// dense[i][j] = csr value of (i, j), zeros elsewhere (rows of ATT_LDS words). A row that lists
// every key is a straight copy (L lanes, nothing to zero); any other row is zeroed (L lanes) and its
// listed entries written one per cycle (a key's address is data-dependent: L of them may share a bank).
inline void scatter_dense(int n, const int32_t *rp, const int32_t *keys, const word_t *csr, word_t *dense,
                          Counters &cnt) {
    for (int i = 0; i < n; ++i) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS
        word_t *row = dense + (long)i * ATT_LDS;
        const int c = rp[i + 1] - rp[i];
        const bool full = c == n;  // keys are ascending and < n: the list is 0..n-1
        for (int j0 = 0; j0 < n; j0 += EW_LANES) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS_LANES
#pragma HLS PIPELINE II=1
            for (int l = 0; l < EW_LANES; ++l) {
#pragma HLS UNROLL
                const int j = j0 + l;
                if (j < n) row[j] = full ? csr[rp[i] + j] : (word_t)0;
            }
        }
        count_elementwise(cnt, n, EW_LANES, 1, EW_DEPTH_COPY);
        for (int32_t z = rp[i]; z < rp[i + 1] && !full; ++z) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_KEYS
#pragma HLS PIPELINE II=1
            row[keys[z]] = csr[z];
        }
        count_elementwise(cnt, full ? 0 : c, 1, 1, EW_DEPTH_COPY);
    }
}

struct AttnStage {
    word_t s[spec::MAX_TOKENS * ATT_LDS];   // scores / dP of the head, by schedule position
    word_t p[spec::MAX_TOKENS * ATT_LDS];   // probabilities of the head, dense with zeros
    word_t ds[spec::MAX_TOKENS * ATT_LDS];  // dS of the head, dense with zeros
    KeyMask mask;
    AttnSchedules plan;
};

inline AttnStage &attn_stage() {
    static AttnStage st;
    // s is read, p and ds are written, L words per cycle (gather_listed, scatter_dense)
#pragma HLS ARRAY_PARTITION variable=st.s cyclic factor=spec::EW_LANES dim=1
#pragma HLS ARRAY_PARTITION variable=st.p cyclic factor=spec::EW_LANES dim=1
#pragma HLS ARRAY_PARTITION variable=st.ds cyclic factor=spec::EW_LANES dim=1
    return st;
}

// A call's head geometry: head dim, score scale shift (log4 hd), key-list entries Z, qkv row stride.
struct MhsaGeometry {
    int hd, sh;
    long Z, ld;
};

// Both directions start here: the geometry, and the call's schedules planned into the stage.
inline MhsaGeometry mhsa_plan(int n, int D, int H, const int32_t *rp, const int32_t *keys, AttnStage &sg,
                              Counters &cnt) {
    MhsaGeometry g;
    g.hd = D / H;
    g.sh = head_scale_shift(g.hd);
    g.Z = rp[n];
    g.ld = 3L * D;
    plan_attention(g.Z == (long)n * n, n, g.hd, rp, keys, sg.mask, sg.plan, cnt);
    return g;
}

// Query i's listed entries of the staged products (sg.s) into row, folded into st; returns their count.
inline int gather_query_row(const AttnStage &sg, int i, int n, const int32_t *rp, const int32_t *keys, word_t *row,
                            Stat &st, Counters &cnt) {
    const int c = rp[i + 1] - rp[i];
    gather_listed(sg.plan.by_query_keys, sg.s, i, keys, rp[i], c, n, row, cnt);
    stats_scan(st, row, c, cnt);
    return c;
}

struct MhsaFwdStats {
    Stat *scores, *probs, *ctx, *avg;
};

// probs [H, Z] and ctx [n, D] from qkv [n, 3D]; avg [Z]: probabilities averaged over heads.
inline void mhsa_fwd(const word_t *qkv, int n, int D, int H, const int32_t *rp, const int32_t *keys,
                     word_t *probs, word_t *ctx, word_t *avg, MhsaFwdStats st, Counters &cnt) {
    AttnStage &sg = attn_stage();
    const MhsaGeometry geo = mhsa_plan(n, D, H, rp, keys, sg, cnt);
    const int hd = geo.hd;
    const long Z = geo.Z, ld = geo.ld;
    word_t srow[spec::MAX_TOKENS];
#pragma HLS ARRAY_PARTITION variable=srow cyclic factor=spec::EW_LANES
    const int score_shift = 2 * spec::FRAC_ACTIVATION - spec::FRAC_ATTN_SCORE + geo.sh;
    for (int h = 0; h < H; ++h) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_HEADS
        word_t *ph = probs + h * Z;
        masked_products(sg.plan.by_query_keys, n, qkv + h * hd, ld, qkv + D + h * hd, ld, hd, score_shift, sg.s,
                        st.scores->sat, cnt);
        for (int i = 0; i < n; ++i) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS
            const int c = gather_query_row(sg, i, n, rp, keys, srow, *st.scores, cnt);
            softmax_row(srow, c, ph + rp[i], st.probs->sat, cnt);
        }
        scatter_dense(n, rp, keys, ph, sg.p, cnt);
        masked_reduce(sg.plan.reduce_keys, n, sg.p, false, qkv + 2 * D + h * hd, ld, hd, spec::FRAC_ATTN_PROB,
                      ctx + h * hd, D, st.ctx->sat, cnt);
        cnt.macs += 2 * (uint64_t)Z * hd;  // the listed products (scores and P V); the array's cycles are counted per job
    }
    stats_scan(*st.probs, probs, H * Z, cnt);
    stats_scan(*st.ctx, ctx, (long)n * D, cnt);
    const int64_t inv_h = reciprocal_fx((uint32_t)H, 0, spec::HEAD_AVG_FRAC);
    for (long z0 = 0; z0 < Z; z0 += EW_LANES) {  // L entries per cycle group, one head per cycle
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS_X_KEYS_LANES
        acc_t sum[EW_LANES];
#pragma HLS ARRAY_PARTITION variable=sum complete
        lane_column_sums<ONION_TRIP_HEADS>(probs, H, Z, z0, Z, sum);  // probs as an [H, Z] matrix
        for (int l = 0; l < EW_LANES; ++l) {
#pragma HLS UNROLL
            if (z0 + l < Z) avg[z0 + l] = requantize(sum[l] * inv_h, spec::HEAD_AVG_FRAC, st.avg->sat);
        }
    }
    count_elementwise(cnt, Z * H, EW_LANES, 1, EW_DEPTH_REQUANT);
    stats_scan(*st.avg, avg, Z, cnt);
}

struct MhsaBwdFracs {
    int ctx, probs, scores, qkv;  // gradient fracs of d_ctx (in), d_probs, d_scores, d_qkv (out)
};

struct MhsaBwdStats {
    Stat *probs, *scores, *qkv;
};

// d_qkv [n, 3D] from d_ctx [n, D]; d_scores [H, Z] is scratch (kept for inspection).
inline void mhsa_bwd(const word_t *qkv, int n, int D, int H, const int32_t *rp, const int32_t *keys,
                     const word_t *probs, const word_t *d_ctx, word_t *d_scores, word_t *d_qkv, MhsaBwdFracs g,
                     MhsaBwdStats st, Counters &cnt) {
    AttnStage &sg = attn_stage();
    const MhsaGeometry geo = mhsa_plan(n, D, H, rp, keys, sg, cnt);
    const int hd = geo.hd;
    const long Z = geo.Z, ld = geo.ld;
    word_t dprow[spec::MAX_TOKENS];
#pragma HLS ARRAY_PARTITION variable=dprow cyclic factor=spec::EW_LANES
    const int dp_shift = g.ctx + spec::FRAC_ACTIVATION - g.probs;
    const int dq_shift = g.scores + spec::FRAC_ACTIVATION + geo.sh - g.qkv;
    const int dv_shift = spec::FRAC_ATTN_PROB + g.ctx - g.qkv;
    for (int h = 0; h < H; ++h) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_HEADS
        const word_t *ph = probs + h * Z;
        word_t *dsh = d_scores + h * Z;
        // dP = d_ctx V^T over the listed keys
        masked_products(sg.plan.by_query_keys, n, d_ctx + h * hd, D, qkv + 2 * D + h * hd, ld, hd, dp_shift, sg.s,
                        st.probs->sat, cnt);
        for (int i = 0; i < n; ++i) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS
            const int c = gather_query_row(sg, i, n, rp, keys, dprow, *st.probs, cnt);
            // dS = P (dP - sum_k P dP); the dot product as L lane partials folded in lane order
            const word_t *p = ph + rp[i];
            int64_t dp[EW_LANES];
#pragma HLS ARRAY_PARTITION variable=dp complete
            lanes_clear(dp);
            for (int j0 = 0; j0 < c; j0 += EW_LANES) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_KEYS_LANES
#pragma HLS PIPELINE II=1
                for (int l = 0; l < EW_LANES; ++l) {
#pragma HLS UNROLL
                    if (j0 + l < c) dp[l] += (int64_t)p[j0 + l] * dprow[j0 + l];
                }
            }
            const int64_t dot = fold_lanes(dp);
            for (int j0 = 0; j0 < c; j0 += EW_LANES) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_KEYS_LANES
#pragma HLS PIPELINE II=1
                for (int l = 0; l < EW_LANES; ++l) {
#pragma HLS UNROLL
                    const int j = j0 + l;
                    if (j < c) {
                        const acc_t acc = (acc_t)p[j] * (((int64_t)dprow[j] << spec::FRAC_ATTN_PROB) - dot);
                        dsh[rp[i] + j] =
                            requantize_any(acc, 2 * spec::FRAC_ATTN_PROB + g.probs - g.scores, st.scores->sat);
                    }
                }
            }
            count_elementwise(cnt, c, EW_LANES, 1, EW_DEPTH_REQUANT);
            count_elementwise(cnt, c, EW_LANES, 1, EW_DEPTH_REQUANT);
        }
        scatter_dense(n, rp, keys, dsh, sg.ds, cnt);
        scatter_dense(n, rp, keys, ph, sg.p, cnt);
        // dQ = scale dS K over listed keys; dK = scale dS^T Q and dV = P^T d_ctx over the listing queries
        masked_reduce(sg.plan.reduce_keys, n, sg.ds, false, qkv + D + h * hd, ld, hd, dq_shift, d_qkv + h * hd, ld,
                      st.qkv->sat, cnt);
        masked_reduce(sg.plan.reduce_queries, n, sg.ds, true, qkv + h * hd, ld, hd, dq_shift, d_qkv + D + h * hd, ld,
                      st.qkv->sat, cnt);
        masked_reduce(sg.plan.reduce_queries, n, sg.p, true, d_ctx + h * hd, D, hd, dv_shift, d_qkv + 2 * D + h * hd,
                      ld, st.qkv->sat, cnt);
        cnt.macs += 4 * (uint64_t)Z * hd;  // the listed products (dP, dQ, dK, dV)
    }
    stats_scan(*st.scores, d_scores, H * Z, cnt);
    stats_scan(*st.qkv, d_qkv, (long)n * ld, cnt);
}

}  // namespace onion

#endif
