// Onion fixed-point arithmetic: the one definition of rounding and saturation.
//
// Every tensor stored on the fabric is a 16-bit two's-complement word with a power-of-two scale
// (value = word * 2^-frac). Products accumulate exactly in a wide accumulator; turning an
// accumulator back into a word is `requantize`, used by every op, by the GEMM model and (bit for
// bit) by the RTL MAC array. Plain integer types keep C-simulation fast; they synthesise to the
// same hardware as ap_int of the same width.
#ifndef ONION_FIXED_H
#define ONION_FIXED_H

#include <stdint.h>

namespace onion {

typedef int16_t word_t;  // 16-bit storage word
typedef int64_t acc_t;   // accumulator; values stay within ACC_BITS (a DSP48E2 cascade)

const int WORD_BITS = 16;
const int ACC_BITS = 48;
const word_t WORD_MAX = 32767;
const word_t WORD_MIN = -32768;
const int SHIFT_MIN = -16;  // requantize shifts: negative = left shift
const int SHIFT_MAX = 47;

// Saturates a wide value to a 16-bit word, counting saturations.
inline word_t saturate(acc_t v, uint32_t &sat_count) {
    if (v > WORD_MAX) { ++sat_count; return WORD_MAX; }
    if (v < WORD_MIN) { ++sat_count; return WORD_MIN; }
    return (word_t)v;
}

// acc * 2^-shift, rounded half up (add half an LSB, arithmetic shift right), then saturated.
// A negative shift multiplies by 2^-shift (left shift) and saturates.
inline word_t requantize(acc_t acc, int shift, uint32_t &sat_count) {
    if (shift > 0) {
        acc_t rounded = (acc + ((acc_t)1 << (shift - 1))) >> shift;
        return saturate(rounded, sat_count);
    }
    if (shift < 0) {
        const int ls = -shift;
        // bounds checked before shifting, so no bits are shifted out: acc*2^ls must fit 16 bits
        if (acc > ((acc_t)WORD_MAX >> ls)) { ++sat_count; return WORD_MAX; }
        if (acc < -(((acc_t)1 << (WORD_BITS - 1)) >> ls)) { ++sat_count; return WORD_MIN; }
        return (word_t)(acc * ((acc_t)1 << ls));
    }
    return saturate(acc, sat_count);
}

}  // namespace onion

#endif
