/*
 * numerics/half.h - fp32 <-> fp16 / bf16 conversions (doc/numerics.md 0.3
 * rule 4), the one definition every backend runs.
 *
 * Widening (fp16 -> fp32, bf16 -> fp32) is exact. Narrowing rounds to
 * nearest, ties to even, keeps denormals, overflows to infinity and turns
 * every NaN into a quiet NaN of the same sign with the top payload bits
 * kept. All four work on the bit patterns with integer operations only, so
 * they cannot depend on a device's FTZ mode, its conversion instructions or
 * the compiler's flags; SIMD code and OpenCL's vload_half/vstore_half_rte
 * must give the same bits (the tests compare them over every fp16 and bf16
 * pattern and a sweep of fp32 values).
 */
#ifndef KBIT_NUMERICS_HALF_H
#define KBIT_NUMERICS_HALF_H

#include "numerics/platform.h"

/* IEEE binary16 -> binary32, exact (a NaN comes back quiet). */
KBIT_NUM_FN float kbit_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (uint32_t)(h >> 10) & 0x1fu;
    uint32_t man = (uint32_t)h & 0x3ffu;
    uint32_t bits;
    if (exp == 0x1fu) {
        bits = sign | 0x7f800000u | (man << 13) | (man != 0 ? 0x00400000u : 0u);
    } else if (exp != 0) {
        bits = sign | ((exp + (127 - 15)) << 23) | (man << 13);
    } else if (man == 0) {
        bits = sign;
    } else {
        /* Subnormal: man * 2^-24. Normalise around its highest set bit p. */
        int p = 9;
        while ((man >> p) == 0)
            p--;
        bits = sign | ((uint32_t)(p + 103) << 23) | ((man << (23 - p)) & 0x7fffffu);
    }
    return kbit_f32_from_bits(bits);
}

/* binary32 -> binary16, round to nearest even. */
KBIT_NUM_FN uint16_t kbit_f32_to_f16(float f)
{
    uint32_t x = kbit_f32_to_bits(f);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) /* NaN: keep the top payload bits, force quiet */
        return (uint16_t)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
    if (ax >= 0x477ff000u) /* >= 65520 (halfway above 65504, ties to even = inf) */
        return (uint16_t)(sign | 0x7c00u);
    if (ax >= 0x38800000u) { /* normal fp16 range, |x| >= 2^-14 */
        /* Rebias the exponent (127 -> 15) in place, then round the 13
         * dropped mantissa bits to nearest even; a carry into the exponent
         * is the correct encoding. */
        uint32_t r = ax - 0x38000000u;
        r += 0x0fffu + ((r >> 13) & 1u);
        return (uint16_t)(sign | (r >> 13));
    }
    if (ax <= 0x33000000u) /* |x| <= 2^-25: rounds to zero (2^-25 is a tie to 0) */
        return (uint16_t)sign;
    /* Subnormal result: the value in units of 2^-24 is the 24-bit
     * significand shifted right by 126 - e (14 .. 24 here), rounded. */
    uint32_t e = ax >> 23;
    uint32_t m = (ax & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126u - e;
    uint32_t q = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1u);
    uint32_t halfway = 1u << (shift - 1u);
    if (rem > halfway || (rem == halfway && (q & 1u)))
        q++; /* may carry into the smallest normal, which is the right encoding */
    return (uint16_t)(sign | q);
}

/* bfloat16 -> binary32, exact. */
KBIT_NUM_FN float kbit_bf16_to_f32(uint16_t b)
{
    return kbit_f32_from_bits((uint32_t)b << 16);
}

/* binary32 -> bfloat16, round to nearest even (denormals kept, overflow to inf). */
KBIT_NUM_FN uint16_t kbit_f32_to_bf16(float f)
{
    uint32_t x = kbit_f32_to_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) /* NaN: keep it NaN, quiet */
        return (uint16_t)((x >> 16) | 0x0040u);
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

/* f32(f16(v)) and f32(bf16(v)): v rounded to the 16-bit type and back. */
KBIT_NUM_FN float kbit_through_f16(float v)
{
    return kbit_f16_to_f32(kbit_f32_to_f16(v));
}

KBIT_NUM_FN float kbit_through_bf16(float v)
{
    return kbit_bf16_to_f32(kbit_f32_to_bf16(v));
}

#endif /* KBIT_NUMERICS_HALF_H */
