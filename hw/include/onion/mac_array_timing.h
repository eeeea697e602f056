// Cycle model of the RTL MAC-array core (hw/rtl/mac_array.v), exact: it equals the cycles the RTL
// takes in simulation with operand streams that never stall and a result stream that is always
// ready (tests/rtl checks this on Icarus and Verilator). The constants come from the engine spec
// (generated spec.h); host/cycle_model.py reads the same values there and implements the same
// formula; a test keeps the two equal.
//
// The core is weight-stationary: a stationary tile holds ROWS k-values x COLS n-columns of B and
// the M rows of A stream through, one per cycle. A job walks ceil(N/COLS) x ceil(K/ROWS) tiles.
// Tile t needs L_t = ROWS B beats (+1 bias beat on the first k-tile of an n-tile when a bias is
// used); tile t+1 loads while tile t streams and starts MAC_SWAP_CYCLES after its last B beat, so
// a tile costs max(M, L_t + MAC_SWAP_CYCLES) cycles. A row leaves the array ROWS + MAC_TAIL_CYCLES
// cycles after it entered: ROWS DSPs in the cascade, then operand/broadcast/DSP registers,
// 5 requantisation stages, the output FIFO and the C register.
//
//   cycles = 1 (start) + L_0 + S + sum_{t=1..T-1} max(M, L_t + S) + M + ROWS + MAC_TAIL_CYCLES
//   (S = MAC_SWAP_CYCLES)
#ifndef ONION_MAC_ARRAY_TIMING_H
#define ONION_MAC_ARRAY_TIMING_H

#include <stdint.h>

#include "onion/spec.h"  // the values: hw/spec/engine_spec.json ("mac_array", "clock_mhz")

namespace onion {

const int MAC_ROWS = spec::MAC_ROWS;                // k lanes per stationary tile (adder-tree inputs per column)
const int MAC_COLS = spec::MAC_COLS;                // n columns: ROWS * COLS = 2048 DSP48E2 of the ZU9EG's 2520
const int MAC_MAX_M = spec::MAC_MAX_M;              // accumulator-memory rows: M <= MAC_MAX_M per job
const int MAC_CLOCK_MHZ = spec::MAC_CLOCK_MHZ;      // target clock on the ZCU102
const int MAC_DSPS = spec::MAC_DSPS;                // DSP48E2 slices of the ZU9EG (for the DSP-bound limit)
const int MAC_SWAP_CYCLES = spec::MAC_SWAP_CYCLES;  // a tile starts streaming the cycle after its last B beat
const int MAC_TAIL_CYCLES = spec::MAC_TAIL_CYCLES;  // a row's way out after the ROWS-deep DSP cascade (see above)

inline uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

// Cycles of one job C[M][N] = A[M][K] * B[N][K]^T on a rows x cols array (0 for an empty job).
inline uint64_t gemm_job_cycles(int rows, int cols, int M, int N, int K, bool bias) {
    if (M <= 0 || N <= 0 || K <= 0) return 0;
    const uint64_t n_tiles = ceil_div(N, cols), k_tiles = ceil_div(K, rows);
    const uint64_t tiles = n_tiles * k_tiles;
    const uint64_t m = (uint64_t)M, swap = MAC_SWAP_CYCLES;
    const uint64_t plain = (uint64_t)rows + swap, with_bias = plain + (bias ? 1 : 0);
    // tiles after the first: (n_tiles - 1) of them open an n-tile and carry the bias beat
    const uint64_t opening = n_tiles - 1, others = tiles - 1 - opening;
    uint64_t cycles = 1 + with_bias + m + (uint64_t)rows + MAC_TAIL_CYCLES;
    cycles += opening * (m > with_bias ? m : with_bias) + others * (m > plain ? m : plain);
    return cycles;
}

// Cycles of a GEMM on a rows x cols array whose accumulator holds max_m rows: M is cut into jobs
// of at most max_m rows, run back to back.
inline uint64_t gemm_cycles_on(int rows, int cols, int max_m, int M, int N, int K, bool bias) {
    if (M <= 0) return 0;
    const int full_jobs = M / max_m, rest = M % max_m;
    return (uint64_t)full_jobs * gemm_job_cycles(rows, cols, max_m, N, K, bias) +
           gemm_job_cycles(rows, cols, rest, N, K, bias);
}

// Cycles on the default array (the engine's modelled-cycle counters use this).
inline uint64_t gemm_cycles(int M, int N, int K, bool bias = false) {
    return gemm_cycles_on(MAC_ROWS, MAC_COLS, MAC_MAX_M, M, N, K, bias);
}

}  // namespace onion

#endif
