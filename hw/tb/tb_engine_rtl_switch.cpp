// The engine's one GEMM routine with the RTL switch on (ONION_USE_RTL_GEMM): onion::gemm must go
// through the blackbox C model (mac_array_blackbox.h) and equal gemm_model on gathered rows and
// transposed operands, for every kind of shift. Exit code 0 = all equal.
#define ONION_USE_RTL_GEMM 1
#include "onion/engine_gemm.h"
#include <cstdio>
#include <cstdlib>

int main() {
    using namespace onion;
    const int M = 70, N = 90, K = 77, ROWS_SRC = 100;
    static word_t A[ROWS_SRC * K], B[N * K], bias[N], C[M * N], R[M * N];
    int32_t idx[M];
    srand(3);
    for (auto &v : A) v = (word_t)(rand() % 20001 - 10000);
    for (auto &v : B) v = (word_t)(rand() % 20001 - 10000);
    for (auto &v : bias) v = (word_t)(rand() % 2001 - 1000);
    for (int i = 0; i < M; ++i) idx[i] = (i * 37) % ROWS_SRC;
    for (int shift : {-20, -16, 0, 13, 30}) {
        uint32_t s1 = 0, s2 = 0;
        Counters cnt = {0, 0};
        gemm(operand(A, K, 1, idx), operand(B, 1, N), bias, 4, C, N, M, N, K, shift, s1, cnt);
        // reference: gather the rows of A, then gemm_model; B is read transposed (B(n,k) = B[k*N + n])
        static word_t AG[M * K];
        for (int m = 0; m < M; ++m) for (int k = 0; k < K; ++k) AG[m * K + k] = A[idx[m] * K + k];
        GemmOperand ga = {AG, K, 1}, gb = {B, 1, N};
        gemm_model(ga, gb, bias, 4, R, N, M, N, K, shift, s2);
        int bad = 0;
        for (int i = 0; i < M * N; ++i) bad += C[i] != R[i];
        printf("shift %d: mismatches %d sat %u/%u cycles %llu\n", shift, bad, s1, s2, (unsigned long long)cnt.cycles);
        if (bad || s1 != s2) return 1;
    }
    return 0;
}
