// ctypes entry points for the cocotb benches and tests: the expected results come from the C++
// specification (onion::gemm_model), the blackbox C model and the C++ cycle model, never from a
// Python re-implementation.
#include <stdint.h>

#include "onion/gemm.h"
#include "../../../hw/rtl/mac_array_model.h"  // the blackbox C model (not design code)
#include "onion/mac_array_timing.h"

namespace {

struct Matrix {  // row-major [rows][ld]
    const onion::word_t *p;
    int ld;
};

struct MatrixAt {
    onion::word_t operator()(const Matrix &m, int r, int k) const { return m.p[(long)r * m.ld + k]; }
};

template <int ROWS, int COLS>
void via_blackbox(const int16_t *A, const int16_t *B, const int16_t *bias, int bias_lshift, int16_t *C,
                  int M, int N, int K, int shift, int max_m, uint32_t *sat) {
    Matrix a = {A, K}, b = {B, K};
    // the job model does not depend on MAX_M; chunking is checked at the default 512 and at 64
    if (max_m == 64)
        onion::mac_array_gemm_with<ROWS, COLS, 64>(a, b, MatrixAt(), onion::mac_array_model<ROWS, COLS>, bias,
                                                   bias_lshift, C, N, M, N, K, shift, *sat);
    else
        onion::mac_array_gemm_with<ROWS, COLS, onion::MAC_MAX_M>(a, b, MatrixAt(), onion::mac_array_model<ROWS, COLS>,
                                                                 bias, bias_lshift, C, N, M, N, K, shift, *sat);
}

}  // namespace

// An operand type like the engine's (row-major with an optional row index list), to check that
// onion::mac_array_rtl_gemm finds its operand_at by argument-dependent lookup.
namespace engine_like {
struct Operand {
    const onion::word_t *base;
    int ld;
    const int32_t *row_idx;
};
inline onion::word_t operand_at(const Operand &o, int r, int k) {
    return o.base[(long)(o.row_idx ? o.row_idx[r] : r) * o.ld + k];
}
}  // namespace engine_like

extern "C" {

// C[M][N] = requantize(bias << bias_lshift + A[M][K] * B[N][K]^T, shift); bias may be null.
uint64_t onion_gemm_ref(const int16_t *A, const int16_t *B, const int16_t *bias, int bias_lshift, int16_t *C,
                        int M, int N, int K, int shift, uint32_t *sat) {
    onion::GemmOperand a = {A, K, 1}, b = {B, K, 1};
    return onion::gemm_model(a, b, bias, bias_lshift, C, N, M, N, K, shift, *sat);
}

// The same product through the blackbox's stream protocol and C model; returns 0, or -1 for a
// geometry this library was not built for.
int onion_gemm_blackbox(int rows, int cols, int max_m, const int16_t *A, const int16_t *B, const int16_t *bias,
                        int bias_lshift, int16_t *C, int M, int N, int K, int shift, uint32_t *sat) {
    if (rows == 4 && cols == 8) via_blackbox<4, 8>(A, B, bias, bias_lshift, C, M, N, K, shift, max_m, sat);
    else if (rows == 4 && cols == 4) via_blackbox<4, 4>(A, B, bias, bias_lshift, C, M, N, K, shift, max_m, sat);
    else if (rows == 32 && cols == 64) via_blackbox<32, 64>(A, B, bias, bias_lshift, C, M, N, K, shift, max_m, sat);
    else return -1;
    return 0;
}

uint64_t onion_gemm_cycles(int rows, int cols, int max_m, int M, int N, int K, int bias) {
    return onion::gemm_cycles_on(rows, cols, max_m, M, N, K, bias != 0);
}

uint64_t onion_gemm_cycles_default(int M, int N, int K, int bias) { return onion::gemm_cycles(M, N, K, bias != 0); }

// The engine's entry (default 32x64 geometry, M split into MAC_MAX_M jobs); rows of A gathered by
// a_rows (null: all M rows in order).
void onion_gemm_engine_entry(const int16_t *A, const int32_t *a_rows, const int16_t *B, const int16_t *bias,
                             int bias_lshift, int16_t *C, int M, int N, int K, int shift, uint32_t *sat) {
    engine_like::Operand a = {A, K, a_rows}, b = {B, K, 0};
    onion::mac_array_rtl_gemm(a, b, bias, bias_lshift, C, N, M, N, K, shift, *sat);
}
}
