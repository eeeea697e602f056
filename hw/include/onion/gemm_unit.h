// The GEMM unit: the engine's one MAC array and the processes around it.
//
//           on-chip operands (A, B, bias)                      on-chip C
//                 │                                                ▲
//          ┌──────┴──────┐  a_fifo (4)   ┌─────────────┐  c_fifo (4) ┌─────┴──────┐
//          │ gemm_feed   ├──────────────►│  MAC array  ├────────────►│ gemm_drain │
//          │ strides,    │  b_fifo (33)  │ RTL blackbox│             │ rows of C  │
//          │ gathers     ├──────────────►│ or HLS core │             └────────────┘
//          └─────────────┘               └─────────────┘
//
// One job (at most MAC_MAX_M rows of A) is one DATAFLOW region of three concurrent processes; the
// FIFOs between them are shallow (depths in mac_array_blackbox.h) because nothing is filled before
// the array starts. Operands are on-chip copies (the call's regions, engine.h): strided, transposed
// and index-list operands (token and key gathers) are read from on-chip memory, never from DDR, and
// A is re-read on chip for each n-tile instead of being fetched again.
//
// The array in the region is the RTL core (ONION_USE_RTL_GEMM: the blackbox, C-simulated by its
// c_file model) or mac_array_core below, the same protocol written in HLS C++ (synthesis without
// the RTL, and the ONION_STREAMING_GEMM C-sim check). Plain C-sim builds (neither synthesis, nor the
// RTL switch, nor the bounded-FIFO or streaming checks) compute with gemm_csim_kernel instead: the
// same bits, much faster; the DMA and every counter run the same in all builds.
#ifndef ONION_GEMM_UNIT_H
#define ONION_GEMM_UNIT_H

#include "onion/engine_common.h"

#if !defined(__SYNTHESIS__) && !defined(ONION_STREAMING_GEMM) && !defined(ONION_USE_RTL_GEMM) && \
    !defined(ONION_BOUNDED_SIM)
#define ONION_GEMM_CSIM_FAST 1  // plain C-sim: no ap_types or streams needed
#else
#include "onion/dataflow.h"
#include "onion/mac_array_blackbox.h"
#endif

namespace onion {

// A GEMM operand on chip: element (r, k) = base[row(r) * row_stride + col(k) * col_stride], row() and
// col() optional index lists (gathers).
struct Operand {
    const word_t *base;
    long row_stride;
    long col_stride;
    const int32_t *row_idx;  // 0: row r is r
    const int32_t *col_idx;  // 0: column k is k
};

inline Operand operand(const word_t *base, long row_stride, long col_stride, const int32_t *row_idx = 0,
                       const int32_t *col_idx = 0) {
    Operand o;
    o.base = base;
    o.row_stride = row_stride;
    o.col_stride = col_stride;
    o.row_idx = row_idx;
    o.col_idx = col_idx;
    return o;
}

inline word_t operand_at(const Operand &o, int r, int k) {
    const long rr = o.row_idx ? o.row_idx[r] : r;
    const long kk = o.col_idx ? o.col_idx[k] : k;
    return o.base[rr * o.row_stride + kk * o.col_stride];
}

// Largest K (reduction length) any op uses; sizes the C-sim packing buffers.
constexpr int gemm_max2(int a, int b) { return a > b ? a : b; }
const int GEMM_MAX_K = gemm_max2(gemm_max2(gemm_max2(spec::MAX_MLP, spec::MAX_IN_DIM), gemm_max2(spec::MAX_OUT_DIM, 3 * spec::MAX_DIM)),
                                 gemm_max2(gemm_max2(spec::MAX_CLASSES, spec::MAX_PATCH_DIM), spec::MAX_TOKENS));
const int GEMM_N_TILE = MAC_COLS;

#ifndef ONION_GEMM_CSIM_FAST
// Producer: the beats of one job (rows m0 .. m0 + M - 1) in the array's order.
inline void gemm_feed(const Operand a, const Operand b, const word_t *bias, int m0, int M, int N, int K,
                      mac_a_fifo &a_fifo, mac_b_fifo &b_fifo) {
    const int n_tiles = (N + MAC_COLS - 1) / MAC_COLS, k_tiles = (K + MAC_ROWS - 1) / MAC_ROWS;
    for (int nt = 0; nt < n_tiles; ++nt) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_N_TILES
        for (int kt = 0; kt < k_tiles; ++kt) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_K_TILES
            if (bias && kt == 0) {
                mac_bc_beat beat = 0;
                for (int j = 0; j < MAC_COLS; ++j) {
#pragma HLS UNROLL
                    if (nt * MAC_COLS + j < N) mac_set_lane(beat, j, bias[nt * MAC_COLS + j]);
                }
                b_fifo.write(beat);
            }
            for (int r = 0; r < MAC_ROWS; ++r) {
#pragma HLS PIPELINE II=1
                mac_bc_beat beat = 0;
                const int k = kt * MAC_ROWS + r;
                for (int j = 0; j < MAC_COLS; ++j) {
#pragma HLS UNROLL
                    if (k < K && nt * MAC_COLS + j < N) mac_set_lane(beat, j, operand_at(b, nt * MAC_COLS + j, k));
                }
                b_fifo.write(beat);
            }
            for (int m = 0; m < M; ++m) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_MAC_MAX_M
#pragma HLS PIPELINE II=1
                mac_a_beat beat = 0;
                for (int r = 0; r < MAC_ROWS; ++r) {
#pragma HLS UNROLL
                    if (kt * MAC_ROWS + r < K) mac_set_lane(beat, r, operand_at(a, m0 + m, kt * MAC_ROWS + r));
                }
                a_fifo.write(beat);
            }
        }
    }
}

// Consumer: the job's result beats into rows m0 .. of C (row stride ldc), lanes past N dropped.
inline void gemm_drain(mac_c_fifo &c_fifo, word_t *c, long ldc, int m0, int M, int N) {
    const int n_tiles = (N + MAC_COLS - 1) / MAC_COLS;
    for (int nt = 0; nt < n_tiles; ++nt) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_N_TILES
        for (int m = 0; m < M; ++m) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_MAC_MAX_M
#pragma HLS PIPELINE II=1
            const mac_bc_beat beat = c_fifo.read();
            for (int j = 0; j < MAC_COLS; ++j) {
#pragma HLS UNROLL
                if (nt * MAC_COLS + j < N) c[(long)(m0 + m) * ldc + nt * MAC_COLS + j] = mac_lane(beat, j);
            }
        }
    }
}

// The array's protocol in HLS C++ (used where the RTL blackbox is not): weight-stationary, the B
// tile in registers, one A row per cycle, accumulators per (row, column) of the n-tile.
inline void mac_array_core(mac_a_fifo &a_fifo, mac_b_fifo &b_fifo, mac_c_fifo &c_fifo, int M, int N, int K,
                           int shift, bool bias_en, int bias_lshift, uint32_t &sat) {
    static acc_t acc[MAC_MAX_M][MAC_COLS];
#pragma HLS ARRAY_PARTITION variable=acc dim=2 complete
    word_t w[MAC_ROWS][MAC_COLS];
#pragma HLS ARRAY_PARTITION variable=w complete dim=0
    acc_t init[MAC_COLS];
#pragma HLS ARRAY_PARTITION variable=init complete
    uint32_t s = 0;
    const int n_tiles = (N + MAC_COLS - 1) / MAC_COLS, k_tiles = (K + MAC_ROWS - 1) / MAC_ROWS;
    for (int nt = 0; nt < n_tiles; ++nt) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_N_TILES
        for (int j = 0; j < MAC_COLS; ++j) {
#pragma HLS UNROLL
            init[j] = 0;
        }
        for (int kt = 0; kt < k_tiles; ++kt) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_K_TILES
            if (bias_en && kt == 0) {
                const mac_bc_beat beat = b_fifo.read();
                for (int j = 0; j < MAC_COLS; ++j) {
#pragma HLS UNROLL
                    init[j] = (acc_t)mac_lane(beat, j) * ((acc_t)1 << bias_lshift);
                }
            }
            for (int r = 0; r < MAC_ROWS; ++r) {
#pragma HLS PIPELINE II=1
                const mac_bc_beat beat = b_fifo.read();
                for (int j = 0; j < MAC_COLS; ++j) {
#pragma HLS UNROLL
                    w[r][j] = mac_lane(beat, j);
                }
            }
            for (int m = 0; m < M; ++m) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_MAC_MAX_M
#pragma HLS PIPELINE II=1
                const mac_a_beat beat = a_fifo.read();
                for (int j = 0; j < MAC_COLS; ++j) {
#pragma HLS UNROLL
                    acc_t sum = kt == 0 ? init[j] : acc[m][j];
                    for (int r = 0; r < MAC_ROWS; ++r) {
#pragma HLS UNROLL
                        if (kt * MAC_ROWS + r < K) sum += (acc_t)((int32_t)mac_lane(beat, r) * (int32_t)w[r][j]);
                    }
                    acc[m][j] = sum;
                }
            }
        }
        for (int m = 0; m < M; ++m) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_MAC_MAX_M
#pragma HLS PIPELINE II=1
            mac_bc_beat beat = 0;
            for (int j = 0; j < MAC_COLS; ++j) {
#pragma HLS UNROLL
                if (nt * MAC_COLS + j < N) mac_set_lane(beat, j, requantize(acc[m][j], shift, s));
            }
            c_fifo.write(beat);
        }
    }
    sat = s;
}

// The array process of the region: the RTL core, or its HLS C++ form.
inline void mac_array_process(mac_a_fifo &a_fifo, mac_b_fifo &b_fifo, mac_c_fifo &c_fifo, int M, int N, int K,
                              int shift, bool bias_en, int bias_lshift, uint32_t &sat) {
#ifdef ONION_USE_RTL_GEMM
    sat = onion_mac_array_rtl(a_fifo, b_fifo, c_fifo, M, N, K, shift, bias_en, bias_lshift);
#else
    mac_array_core(a_fifo, b_fifo, c_fifo, M, N, K, shift, bias_en, bias_lshift, sat);
#endif
}

// One job: feeder -> array -> drain, concurrently.
inline void gemm_job(const Operand a, const Operand b, const word_t *bias, int bias_lshift, word_t *c, long ldc,
                     int m0, int M, int N, int K, int shift, uint32_t &sat) {
#pragma HLS DATAFLOW
    mac_a_fifo a_fifo("gemm_a_fifo");
    mac_b_fifo b_fifo("gemm_b_fifo");
    mac_c_fifo c_fifo("gemm_c_fifo");
    uint32_t job_sat = 0;
    ONION_DATAFLOW_BEGIN();
    ONION_DATAFLOW_PROCESS(gemm_feed, a, b, bias, m0, M, N, K, a_fifo, b_fifo);
    ONION_DATAFLOW_PROCESS(mac_array_process, a_fifo, b_fifo, c_fifo, M, N, K, shift, bias != 0, bias_lshift, job_sat);
    ONION_DATAFLOW_PROCESS(gemm_drain, c_fifo, c, ldc, m0, M, N);
    ONION_DATAFLOW_END();
    sat += job_sat;
}
#endif  // !ONION_GEMM_CSIM_FAST

}  // namespace onion

#ifdef ONION_GEMM_CSIM_FAST
#include "onion/gemm_csim_kernel.h"  // C-sim only: the fast exact compute kernel
#endif

namespace onion {

// The engine's one GEMM unit: C = requantize(bias << bias_lshift + A B^T, shift), K >= 1, shift >= SHIFT_MIN
// (below it every non-zero value saturates, exactly as at SHIFT_MIN). Never inlined: every op calls
// this one instance (engine.h's dispatch limits it to one with ALLOCATION).
inline void gemm_unit(const Operand &a, const Operand &b, const word_t *bias, int bias_lshift, word_t *c, long ldc,
                      int M, int N, int K, int shift, uint32_t &sat) {
#pragma HLS INLINE off
#ifdef ONION_GEMM_CSIM_FAST
    gemm_csim_kernel(a, b, bias, bias_lshift, c, ldc, M, N, K, shift, sat);
#else
    for (int m0 = 0; m0 < M; m0 += MAC_MAX_M) {
#pragma HLS LOOP_TRIPCOUNT max=ONION_TRIP_M_CHUNKS
        const int mm = M - m0 < MAC_MAX_M ? M - m0 : MAC_MAX_M;
        gemm_job(a, b, bias, bias_lshift, c, ldc, m0, mm, N, K, shift, sat);
    }
#endif
}

}  // namespace onion

#endif
