// Onion's nonlinear units: softmax exp, reciprocal, LayerNorm rsqrt, GELU and its derivative.
//
// Integer-only, the way the fabric computes them: ROM tables (onion/nonlinear_tables.h, generated
// by hw/gen/nonlinear_tables.py), shifts, leading-zero counts, short piecewise polynomials and a
// fixed number of Newton steps. No floats, no libm, no run-time division; every loop has a constant
// bound, so everything here synthesises as is.
//
// Fixed-point convention: an argument `x` with `fx` fractional bits means x * 2^-fx; the result
// carries `fo` fractional bits. Results are rounded half up (as onion::requantize does) and
// saturate instead of wrapping. Valid parameter ranges: 0 <= fx <= 31 (rsqrt: 0 <= fx <= 63),
// 0 <= fo <= 30 (reciprocal/rsqrt: 0 <= fo <= 31). Measured accuracy: docs/nonlinear.md.
#ifndef ONION_NONLINEAR_H
#define ONION_NONLINEAR_H

#include "onion/fixed.h"
#include "onion/nonlinear_tables.h"

namespace onion {
namespace nl_detail {

const uint64_t ONE_Q30 = (uint64_t)1 << 30;
const uint64_t ONE_Q31 = (uint64_t)1 << 31;
const uint64_t LOG2E_Q31 = 3098164010u;  // round(log2(e) * 2^31)
const uint64_t LN2_Q32 = 2977044472u;    // round(ln(2) * 2^32)
const int NEWTON_STEPS = 2;              // seed error ~2^-7 -> ~2^-14 -> ~2^-28 (then Q30 rounding)
const int GELU_U_BITS = 16;              // position inside a GELU segment, Q16
const int GELU_POS_FRAC = nl_tables::GELU_SEG_BITS + GELU_U_BITS;

// Leading zeros of a 32-bit word (32 for 0): a fixed five-step priority encoder.
inline int clz32(uint32_t v) {
    if (v == 0) return 32;
    int n = 0;
    if (!(v & 0xFFFF0000u)) { n += 16; v <<= 16; }
    if (!(v & 0xFF000000u)) { n += 8; v <<= 8; }
    if (!(v & 0xF0000000u)) { n += 4; v <<= 4; }
    if (!(v & 0xC0000000u)) { n += 2; v <<= 2; }
    if (!(v & 0x80000000u)) { n += 1; }
    return n;
}

inline int clz64(uint64_t v) {
    const uint32_t hi = (uint32_t)(v >> 32);
    return hi ? clz32(hi) : 32 + clz32((uint32_t)v);
}

// v * 2^-s rounded half up, for s >= 1; written so that no intermediate can overflow.
inline uint64_t round_shift_right(uint64_t v, int s) {
    if (s >= 65) return 0;
    if (s == 64) return v >> 63;
    return (v >> s) + ((v >> (s - 1)) & 1u);
}

// v * 2^s (s of either sign), rounded half up, saturated to [0, UINT32_MAX].
inline uint32_t scale_sat_u32(uint64_t v, int s) {
    if (s >= 0) {
        if (v == 0) return 0;
        if (s >= 32 || v > ((uint64_t)UINT32_MAX >> s)) return UINT32_MAX;
        return (uint32_t)(v << s);
    }
    const uint64_t r = round_shift_right(v, -s);
    return r > UINT32_MAX ? UINT32_MAX : (uint32_t)r;
}

// v * 2^s (s of either sign), rounded half up, saturated to int32; |v| < 2^62.
inline int32_t scale_sat_i32(int64_t v, int s) {
    if (s >= 0) {
        if (s >= 32) return v > 0 ? INT32_MAX : (v < 0 ? INT32_MIN : 0);
        if (v > ((int64_t)INT32_MAX >> s)) return INT32_MAX;
        if (v < ((int64_t)INT32_MIN >> s)) return INT32_MIN;
        return (int32_t)(v * ((int64_t)1 << s));
    }
    const int r = -s;
    if (r >= 63) return 0;
    const int64_t q = (v + ((int64_t)1 << (r - 1))) >> r;
    if (q > INT32_MAX) return INT32_MAX;
    if (q < INT32_MIN) return INT32_MIN;
    return (int32_t)q;
}

// a * b * 2^-31 rounded, for Q31 operands <= 2^31.
inline uint64_t mul_q31(uint64_t a, uint64_t b) { return (a * b + (ONE_Q31 >> 1)) >> 31; }

// 2^-f for f = f32 * 2^-32 in [0, 1), Q31: two ROM lookups and a linear term for the last 20 bits.
inline uint64_t exp2_neg_frac_q31(uint32_t f32) {
    using namespace nl_tables;
    const int rest_bits = 32 - EXP2_HI_BITS - EXP2_LO_BITS;
    const uint32_t hi = f32 >> (32 - EXP2_HI_BITS);
    const uint32_t lo = (f32 >> rest_bits) & ((1u << EXP2_LO_BITS) - 1);
    const uint32_t rest = f32 & ((1u << rest_bits) - 1);
    // 2^-r ~ 1 - r ln 2 for r < 2^-12 (error < 1.5e-8); r ln 2 in Q31 = rest * LN2_Q32 * 2^-33
    const uint64_t lin = ONE_Q31 - (((uint64_t)rest * LN2_Q32 + ((uint64_t)1 << 32)) >> 33);
    return mul_q31(mul_q31(EXP2_HI[hi], EXP2_LO[lo]), lin);
}

// Evaluates one GELU segment's quadratic (Horner) at u (Q16 in [0, 1)); Q30 result.
inline int64_t segment_poly_q30(const int32_t coef[3], int64_t u) {
    const int64_t half = (int64_t)1 << (GELU_U_BITS - 1);
    int64_t acc = coef[2];
    acc = ((acc * u + half) >> GELU_U_BITS) + coef[1];
    acc = ((acc * u + half) >> GELU_U_BITS) + coef[0];
    return acc;
}

// f(|x|) from a GELU coefficient table, Q30; `beyond` (the value for |x| >= table range) is 1.0.
inline int64_t gelu_table_q30(const int32_t table[][3], int32_t x, int fx) {
    using namespace nl_tables;
    const uint64_t t = x < 0 ? (uint64_t)(-(int64_t)x) : (uint64_t)x;
    const uint64_t end = (uint64_t)1 << (GELU_RANGE_LOG2 + GELU_POS_FRAC);
    uint64_t pos;  // |x| in Q(GELU_POS_FRAC)
    if (fx >= GELU_POS_FRAC) {
        pos = fx == GELU_POS_FRAC ? t : round_shift_right(t, fx - GELU_POS_FRAC);
    } else {
        // |x| < 2^31, so a value that would exceed the table after the shift is tested first
        const int ls = GELU_POS_FRAC - fx;
        pos = (t >= (end >> ls)) ? end : (t << ls);
    }
    if (pos >= end) return (int64_t)ONE_Q30;
    const uint32_t seg = (uint32_t)(pos >> GELU_U_BITS);
    const int64_t u = (int64_t)(pos & ((1u << GELU_U_BITS) - 1));
    return segment_poly_q30(table[seg], u);
}

}  // namespace nl_detail

// exp(x * 2^-fx) for x <= 0 (x > 0 is clamped to 0), with fo fractional bits (fo <= 30).
// exp(x) = 2^-(n + f) with n + f = -x log2(e): 2^-f from ROM, 2^-n a shift.
inline int32_t exp_neg_fx(int32_t x, int fx, int fo) {
    using namespace nl_detail;
    if (x >= 0) return (int32_t)1 << fo;
    const uint64_t t = (uint64_t)(-(int64_t)x) * LOG2E_Q31;  // -x log2(e), Q(fx + 31), < 2^63
    const int tf = fx + 31;
    const uint64_t n = t >> tf;
    if (n >= 64) return 0;
    const uint64_t frac = t - (n << tf);
    const uint32_t f32 = tf >= 32 ? (uint32_t)(frac >> (tf - 32)) : (uint32_t)(frac << (32 - tf));
    const uint64_t m = exp2_neg_frac_q31(f32);  // (0.5, 1], Q31
    return (int32_t)round_shift_right(m, 31 - fo + (int)n);
}

// 1 / (x * 2^-fx) for x > 0, with fo fractional bits; x == 0 or overflow gives UINT32_MAX.
// x = M 2^(32 - lz) with M in [0.5, 1): a seed for 1/M from ROM, then Newton y <- y (2 - M y).
inline uint32_t reciprocal_fx(uint32_t x, int fx, int fo) {
    using namespace nl_detail;
    using namespace nl_tables;
    if (x == 0) return UINT32_MAX;
    const int lz = clz32(x);
    const uint64_t m = (uint64_t)(x << lz);  // M, Q32
    uint64_t y = RECIP_SEED[(m >> (31 - RECIP_SEED_BITS)) & ((1u << RECIP_SEED_BITS) - 1)];  // Q30
    for (int i = 0; i < NEWTON_STEPS; ++i) {
        const uint64_t two_minus_my = ((uint64_t)1 << 63) - m * y;  // Q62; M y < 2 always
        y = (y * (two_minus_my >> 32)) >> 30;                     // Q30
    }
    // 1/x_real = (1/M) 2^(lz + fx - 32); y is 1/M in Q30
    return scale_sat_u32(y, lz + fx - 32 + fo - RECIP_SEED_FRAC);
}

// 1 / sqrt(x * 2^-fx) for x > 0 (LayerNorm: variance + eps), with fo fractional bits;
// x == 0 or overflow gives UINT32_MAX. x * 2^-fx = M 2^e with e even and M in [0.25, 1): a seed
// for M^-1/2 from ROM, then Newton y <- y (3 - M y^2) / 2; the exponent halves into a shift.
inline uint32_t rsqrt_fx(uint64_t x, int fx, int fo) {
    using namespace nl_detail;
    using namespace nl_tables;
    if (x == 0) return UINT32_MAX;
    const int lz = clz64(x);
    uint64_t m = x << lz;  // [0.5, 1), Q64
    int e = 64 - lz - fx;
    if (e & 1) { m >>= 1; e += 1; }
    const uint64_t mq = m >> 32;  // M in [0.25, 1), Q32 (truncation: relative error < 2^-30)
    uint64_t y = RSQRT_SEED[(mq >> (32 - RSQRT_SEED_BITS)) - RSQRT_SEED_FIRST];  // Q30
    for (int i = 0; i < NEWTON_STEPS; ++i) {
        const uint64_t y2 = (y * y) >> 30;                          // Q30, <= 2^32
        const uint64_t three_minus = ((uint64_t)3 << 62) - mq * y2;  // Q62, ~2^63
        y = (y * (three_minus >> 33)) >> 30;                        // halved into Q30
    }
    return scale_sat_u32(y, fo - RSQRT_SEED_FRAC - e / 2);  // e is even: exact
}

// GELU(x) = x Phi(x), Phi the standard normal CDF (erf form, torch's default). Phi(|x|) comes
// from piecewise quadratics on [0, 8); Phi(-t) = 1 - Phi(t); beyond 8, Phi = 1 (error < 1e-15).
inline int32_t gelu_fx(int32_t x, int fx, int fo) {
    using namespace nl_detail;
    const int64_t p = gelu_table_q30(nl_tables::GELU_CDF_COEF, x, fx);
    const int64_t cdf = x >= 0 ? p : (int64_t)ONE_Q30 - p;  // Phi(x), Q30
    return scale_sat_i32((int64_t)x * cdf, fo - fx - 30);
}

// d GELU / dx = Phi(x) + x phi(x). With g(t) = Phi(t) + t phi(t) tabulated for t >= 0, the
// derivative is g(x) for x >= 0 and 1 - g(-x) for x < 0 (phi is even).
inline int32_t gelu_grad_fx(int32_t x, int fx, int fo) {
    using namespace nl_detail;
    const int64_t g = gelu_table_q30(nl_tables::GELU_GRAD_COEF, x, fx);
    return scale_sat_i32(x >= 0 ? g : (int64_t)ONE_Q30 - g, fo - 30);
}

}  // namespace onion

#endif
