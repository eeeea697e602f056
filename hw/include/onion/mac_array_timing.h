// Cycle model of the RTL MAC-array core (provisional; the RTL work calibrates it against
// measured cycles). host/cycle_model.py implements the same formula; a test keeps them equal.
#ifndef ONION_MAC_ARRAY_TIMING_H
#define ONION_MAC_ARRAY_TIMING_H

#include <stdint.h>

namespace onion {

const int MAC_ROWS = 32;         // output tile rows (PE rows)
const int MAC_COLS = 64;         // output tile columns (PE columns): 2048 DSP48E2 of the ZU9EG's 2520
const int MAC_PIPE_CYCLES = 8;   // fill/drain per tile

inline uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

// Cycles for C[M][N] = A[M][K] * B[N][K]^T on the array: one K-step per cycle per tile.
inline uint64_t gemm_cycles(int M, int N, int K) {
    if (M <= 0 || N <= 0 || K <= 0) return 0;
    return ceil_div(M, MAC_ROWS) * ceil_div(N, MAC_COLS) * ((uint64_t)K + MAC_PIPE_CYCLES);
}

}  // namespace onion

#endif
