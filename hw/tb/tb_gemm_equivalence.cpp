// The engine's gemm() against onion::gemm_model (gemm.h), bit for bit, on random jobs: strides of
// every transpose, index-list gathers on rows and columns (applied to an explicitly gathered copy
// for gemm_model), bias with shifts, positive and negative requantize shifts, saturation.
// usage: tb_gemm_equivalence <jobs> <seed>; prints "jobs mismatches saturations".
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "onion/engine_gemm.h"
#include "onion/gemm.h"

namespace {

uint64_t rng_state = 1;
uint32_t next_u32() {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}
int rand_int(int lo, int hi) { return lo + (int)(next_u32() % (uint32_t)(hi - lo + 1)); }

onion::word_t rand_word(int mode) {
    if (mode == 0) return (onion::word_t)rand_int(-32768, 32767);     // full range: saturates
    if (mode == 1) return (onion::word_t)rand_int(-300, 300);         // typical
    return (onion::word_t)(rand_int(0, 1) ? -32768 : 32767);           // extremes
}

}  // namespace

int main(int argc, char **argv) {
    const int jobs = argc > 1 ? std::atoi(argv[1]) : 200;
    rng_state = argc > 2 ? (uint64_t)std::atoll(argv[2]) * 2654435761u + 1 : 1;
    long mismatches = 0, sat_total = 0;
    for (int job = 0; job < jobs; ++job) {
        const int M = rand_int(1, 40), N = rand_int(1, 150), K = rand_int(1, 300);
        const int mode = rand_int(0, 2);
        const bool a_t = rand_int(0, 1), b_t = rand_int(0, 1), gather_rows = rand_int(0, 1), gather_k = rand_int(0, 1);
        const int rows_a = M + 5, rows_b = N + 5, kk = K + 7;
        std::vector<onion::word_t> A((size_t)rows_a * kk), B((size_t)rows_b * kk), bias(N), c1((size_t)M * N),
            c2((size_t)M * N);
        for (auto &v : A) v = rand_word(mode);
        for (auto &v : B) v = rand_word(mode);
        for (auto &v : bias) v = rand_word(mode);
        std::vector<int32_t> ridx(N), kidx(K);
        for (int n = 0; n < N; ++n) ridx[n] = rand_int(0, rows_b - 1);
        for (int k = 0; k < K; ++k) kidx[k] = rand_int(0, kk - 1);
        const long a_row = a_t ? 1 : kk, a_col = a_t ? rows_a : 1;
        const long b_row = b_t ? 1 : kk, b_col = b_t ? rows_b : 1;
        onion::Operand a = onion::operand(A.data(), a_row, a_col, 0, gather_k ? kidx.data() : 0);
        onion::Operand b = onion::operand(B.data(), b_row, b_col, gather_rows ? ridx.data() : 0, gather_k ? kidx.data() : 0);
        // gemm_model on explicitly gathered copies
        std::vector<onion::word_t> ga((size_t)M * K), gb((size_t)N * K);
        for (int m = 0; m < M; ++m)
            for (int k = 0; k < K; ++k) ga[(size_t)m * K + k] = onion::operand_at(a, m, k);
        for (int n = 0; n < N; ++n)
            for (int k = 0; k < K; ++k) gb[(size_t)n * K + k] = onion::operand_at(b, n, k);
        const int shift = rand_int(-15, 40);
        const bool use_bias = rand_int(0, 1);
        const int bias_lshift = rand_int(0, 16);
        uint32_t s1 = 0, s2 = 0;
        onion::Counters cnt = {0, 0};
        onion::gemm(a, b, use_bias ? bias.data() : 0, bias_lshift, c1.data(), N, M, N, K, shift, s1, cnt);
        onion::GemmOperand ma = {ga.data(), K, 1}, mb = {gb.data(), K, 1};
        const uint64_t macs = onion::gemm_model(ma, mb, use_bias ? bias.data() : 0, bias_lshift, c2.data(), N, M, N, K,
                                                shift, s2);
        for (size_t i = 0; i < c1.size(); ++i) mismatches += c1[i] != c2[i];
        mismatches += (s1 != s2) + (cnt.macs != macs) + (cnt.cycles != onion::gemm_cycles(M, N, K, use_bias));
        sat_total += s1;
    }
    std::printf("%d %ld %ld\n", jobs, mismatches, sat_total);
    return mismatches ? 1 : 0;
}
