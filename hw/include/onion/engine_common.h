// Shared pieces of the engine ops: call counters, per-tensor stats, conversions and memory views.
//
// Every conversion to a 16-bit word goes through onion::requantize (fixed.h); `requantize_wide`
// and `requantize_any` only bring a wider value or an out-of-range shift to a form requantize
// takes, without changing the result (see their comments).
#ifndef ONION_ENGINE_COMMON_H
#define ONION_ENGINE_COMMON_H

#include <stdint.h>

#include "onion/fixed.h"
#include "onion/mac_array_timing.h"
#include "onion/spec.h"

#ifdef __SYNTHESIS__
#include <ap_int.h>
#endif

namespace onion {

#ifdef __SYNTHESIS__
typedef ap_int<128> wide_t;
#else
typedef __int128 wide_t;  // C-sim: a native 128-bit integer (same values as ap_int<128>)
#endif

// Work of one engine call (read back through the output registers, engine_spec.json "counters").
struct Counters {
    uint64_t macs;           // multiply-accumulates of the GEMMs issued
    uint64_t cycles;         // MAC-array cycles: gemm_cycles of every job issued
    uint64_t ew_cycles;      // element-wise loops: trip count x II + pipeline depth each (count_elementwise)
    uint64_t min_axi_bytes;  // each operand region read once, each result region written once
    spec::AxiCount axi[spec::PORT_COUNT];  // per port (spec.h, from counters.axi)
};

inline void counters_clear(Counters &c) {
    c.macs = 0;
    c.cycles = 0;
    c.ew_cycles = 0;
    c.min_axi_bytes = 0;
    for (int p = 0; p < spec::PORT_COUNT; ++p) {
#pragma HLS UNROLL
        c.axi[p].rd_bytes = 0;
        c.axi[p].wr_bytes = 0;
        c.axi[p].rd_bursts = 0;
        c.axi[p].wr_bursts = 0;
    }
}

// Pipeline depths of the element-wise loop kinds (load, compute, store stages), the figures csynth
// would add to trip count x II. Estimates from the operator chains (not a csynth report: no Vitis here).
const int EW_DEPTH_COPY = 3;       // read, select/convert, write
const int EW_DEPTH_REQUANT = 5;    // read, multiply/add, round, saturate, write
const int EW_DEPTH_NONLINEAR = 12; // table lookup + interpolation + multiply (exp, reciprocal, rsqrt, GELU)

// Words per cycle of a laned element-wise loop (spec compute.elementwise_lanes). A laned loop walks
// its row in steps of L: the pipelined outer loop (II=1) runs ceil(trips / L) iterations, its inner
// loop of L lanes is fully unrolled (one datapath copy, nonlinear unit included, per lane), and the
// on-chip pool is partitioned cyclic by L (engine.h), so any L consecutive words sit in L banks.
const int EW_LANES = spec::EW_LANES;

// The pool's banks are dual-port BRAM, and every region of a call (wts, act, grd) shares them: a laned
// slice touches each bank once, so a loop that makes three pool accesses per word (two reads and a
// write) needs two cycles per slice. Such loops are pipelined at this II and counted with it.
const int EW_POOL_II = 2;

// The one helper every element-wise loop counts itself with: a pipelined loop over `trips` words,
// `lanes` words per iteration (EW_LANES for a laned loop, 1 for a loop with a data-dependent
// address), at initiation interval `ii`, costs ceil(trips / lanes) x ii + depth cycles (nothing
// when it does not run).
inline void count_elementwise(Counters &cnt, long trips, int lanes, int ii, int depth) {
    if (trips > 0) cnt.ew_cycles += (uint64_t)((trips + lanes - 1) / lanes) * (uint64_t)ii + (uint64_t)depth;
}

// ---- lane partials: a laned loop keeps one partial per lane (an array the caller partitions
// complete) and folds them in lane order after the loop ----

// Zeroes the L lane partials.
template <typename T>
inline void lanes_clear(T *part) {
    for (int l = 0; l < EW_LANES; ++l) {
#pragma HLS UNROLL
        part[l] = 0;
    }
}

// Sum of the L lane partials, in lane order (integer: the same exact sum in any order).
inline int64_t fold_lanes(const int64_t *part) {
    int64_t s = 0;
    for (int l = 0; l < EW_LANES; ++l) {
#pragma HLS UNROLL
        s += part[l];
    }
    return s;
}

// sum[l] = column c0 + l of a word matrix summed over `rows` rows (row stride `stride`), for the
// columns < cols: one L-word row slice per cycle. MAX_ROWS: the row loop's trip count (an
// ONION_TRIP_* name at the call). Counting is the caller's (it knows how its slices are scheduled).
template <int MAX_ROWS>
inline void lane_column_sums(const word_t *p, long rows, long stride, long c0, long cols, acc_t *sum) {
    lanes_clear(sum);
    for (long r = 0; r < rows; ++r) {
#pragma HLS LOOP_TRIPCOUNT max=MAX_ROWS
#pragma HLS PIPELINE II=1
        for (int l = 0; l < EW_LANES; ++l) {
#pragma HLS UNROLL
            if (c0 + l < cols) sum[l] += p[r * stride + c0 + l];
        }
    }
}

// Per-tensor stats: largest |word| written and saturations while converting to it.
struct Stat {
    int32_t max_abs;
    uint32_t sat;
};

inline void stats_clear(Stat *st, int n) {
    for (int i = 0; i < n; ++i) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_OP_TENSORS
        st[i].max_abs = 0;
        st[i].sat = 0;
    }
}

// Folds |w| of n words into a tensor's max: one running max per lane, folded in lane order at the
// end (max is exact in any order).
inline void stats_scan(Stat &st, const word_t *p, long n, Counters &cnt) {
    int32_t m[EW_LANES];
#pragma HLS ARRAY_PARTITION variable=m complete
    lanes_clear(m);
    for (long i0 = 0; i0 < n; i0 += EW_LANES) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS_X_MLP_LANES
#pragma HLS PIPELINE II=1
        for (int l = 0; l < EW_LANES; ++l) {
#pragma HLS UNROLL
            if (i0 + l < n) {
                const int32_t v = p[i0 + l] < 0 ? -(int32_t)p[i0 + l] : (int32_t)p[i0 + l];
                m[l] = v > m[l] ? v : m[l];
            }
        }
    }
    int32_t all = st.max_abs;
    for (int l = 0; l < EW_LANES; ++l) {
#pragma HLS UNROLL
        all = m[l] > all ? m[l] : all;
    }
    st.max_abs = all;
    count_elementwise(cnt, n, EW_LANES, 1, EW_DEPTH_COPY);
}

inline void stats_scan_rows(Stat &st, const word_t *p, long rows, long cols, long stride, Counters &cnt) {
    for (long r = 0; r < rows; ++r) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS
        stats_scan(st, p + r * stride, cols, cnt);
    }
}

// requantize for any shift: shifts below fixed.h's SHIFT_MIN + 1 multiply by >= 2^16, so every
// non-zero value saturates (counted by fixed.h's saturate) and zero stays zero.
inline word_t requantize_any(acc_t acc, int shift, uint32_t &sat) {
    if (shift < SHIFT_MIN + 1) {
        if (acc == 0) return 0;
        return saturate(acc > 0 ? (acc_t)WORD_MAX + 1 : (acc_t)WORD_MIN - 1, sat);
    }
    return requantize(acc, shift, sat);
}

// requantize of a 128-bit value: an arithmetic (floor) shift by shift-16 followed by requantize's
// rounding shift of 16 rounds exactly like one rounding shift (floor((floor(v/2^a) + 2^15)/2^16)
// = floor(v/2^(a+16) + 1/2)); values beyond +-2^62 saturate either way.
inline word_t requantize_wide(wide_t v, int shift, uint32_t &sat) {
    if (shift > 16) {
        v >>= (shift - 16);
        shift = 16;
    }
    const wide_t lim = (wide_t)1 << 62;
    if (v > lim) v = lim;
    if (v < -lim) v = -lim;
    return requantize_any((acc_t)v, shift, sat);
}

// v * 2^-s rounded half up (s >= 0), for op-internal wide values (never stored).
inline int64_t round_shift(int64_t v, int s) {
    return s > 0 ? (v + ((int64_t)1 << (s - 1))) >> s : v;
}

// Saturating sum of two words with different fracs, written at frac fo: (a*2^-fa + b*2^-fb).
inline word_t add_words(word_t a, int fa, word_t b, int fb, int fo, uint32_t &sat) {
    const int f = fa > fb ? fa : fb;
    const acc_t acc = ((acc_t)a << (f - fa)) + ((acc_t)b << (f - fb));
    return requantize_any(acc, f - fo, sat);
}

// The encoder's residual connection, y = x + y over `count` activation words, at the lane width; three
// pool accesses per word (reads x and y, writes y), so EW_POOL_II.
inline void residual_add(const word_t *x, word_t *y, long count, uint32_t &sat, Counters &cnt) {
    for (long i0 = 0; i0 < count; i0 += EW_LANES) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS_X_DIM_LANES
#pragma HLS PIPELINE II=2
        for (int l = 0; l < EW_LANES; ++l) {
#pragma HLS UNROLL
            const long i = i0 + l;
            if (i < count)
                y[i] = add_words(x[i], spec::FRAC_ACTIVATION, y[i], spec::FRAC_ACTIVATION, spec::FRAC_ACTIVATION, sat);
        }
    }
    count_elementwise(cnt, count, EW_LANES, EW_POOL_II, EW_DEPTH_REQUANT);
}

// Column sums of a [rows, cols] word matrix (frac fi) written at frac fo: bias gradients. L columns
// at a time, one accumulator each, walking the rows (each L-word slice of a row is consecutive);
// integer sums are exact, so the result equals the column-by-column sum.
inline void column_sums(const word_t *p, long rows, long cols, long stride, int fi, word_t *out, int fo,
                        Stat &st, Counters &cnt) {
    for (long c0 = 0; c0 < cols; c0 += EW_LANES) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_OUT_DIM_LANES
        acc_t acc[EW_LANES];
#pragma HLS ARRAY_PARTITION variable=acc complete
        lane_column_sums<ONION_TRIP_TOKENS>(p, rows, stride, c0, cols, acc);
        for (int l = 0; l < EW_LANES; ++l) {
#pragma HLS UNROLL
            if (c0 + l < cols) out[c0 + l] = requantize_any(acc[l], fi - fo, st.sat);
        }
        count_elementwise(cnt, rows, 1, 1, EW_DEPTH_REQUANT);  // one row slice of L columns per cycle
    }
    stats_scan(st, out, cols, cnt);
}

// Copies words, converting frac fi -> fo.
inline void convert_words(const word_t *in, int fi, word_t *out, int fo, long n, Stat &st, Counters &cnt) {
    for (long i0 = 0; i0 < n; i0 += EW_LANES) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS_X_DIM_LANES
#pragma HLS PIPELINE II=1
        for (int l = 0; l < EW_LANES; ++l) {
#pragma HLS UNROLL
            if (i0 + l < n) out[i0 + l] = requantize_any((acc_t)in[i0 + l], fi - fo, st.sat);
        }
    }
    count_elementwise(cnt, n, EW_LANES, 1, EW_DEPTH_REQUANT);
    stats_scan(st, out, n, cnt);
}

inline void fill_zero(word_t *p, long n, Counters &cnt) {
    for (long i0 = 0; i0 < n; i0 += EW_LANES) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_TOKENS_X_DIM_LANES
#pragma HLS PIPELINE II=1
        for (int l = 0; l < EW_LANES; ++l) {
#pragma HLS UNROLL
            if (i0 + l < n) p[i0 + l] = 0;
        }
    }
    count_elementwise(cnt, n, EW_LANES, 1, EW_DEPTH_COPY);
}

}  // namespace onion

#endif
