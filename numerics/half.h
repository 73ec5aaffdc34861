/*
 * numerics/half.h - portable fp32 <-> fp16 / bf16 conversions.
 *
 * Widening (fp16 -> fp32, bf16 -> fp32) is exact. Narrowing rounds to nearest,
 * ties to even, keeps denormals, overflows to infinity and turns every NaN into
 * a quiet NaN of the same sign (doc/numerics.md 0.3 rule 4). These are the
 * conversions of the scalar reference; SIMD code must give the same bits.
 *
 * Self-contained on purpose (only <stdint.h> and <string.h>): tests and other
 * backends include it too.
 */
#ifndef KBIT_CPU_REF_HALF_H
#define KBIT_CPU_REF_HALF_H

#include <stdint.h>
#include <string.h>

static inline uint32_t kbit_f32_to_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float kbit_f32_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* IEEE binary16 -> binary32, exact (a NaN comes back quiet). */
static inline float kbit_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0x1fu) {
        bits = sign | 0x7f800000u | (man << 13) | (man != 0 ? 0x00400000u : 0);
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
static inline uint16_t kbit_f32_to_f16(float f)
{
    uint32_t x = kbit_f32_to_bits(f);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) /* NaN: keep the top payload bits, force quiet */
        return (uint16_t)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
    if (ax >= 0x477ff000u) /* >= 65520 (halfway above 65504, ties to even = inf) */
        return (uint16_t)(sign | 0x7c00u);
    if (ax >= 0x38800000u) { /* normal fp16 range, |x| >= 2^-14 */
        uint32_t r = ax - 0x38000000u; /* rebias the exponent from 127 to 15 */
        r += 0x0fffu + ((r >> 13) & 1u);
        return (uint16_t)(sign | (r >> 13));
    }
    if (ax <= 0x33000000u) /* |x| <= 2^-25: rounds to zero (2^-25 is a tie to 0) */
        return (uint16_t)sign;
    /* Subnormal result: round (mantissa with hidden bit) / 2^shift. */
    uint32_t e = ax >> 23;
    uint32_t m = (ax & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - e; /* 14 .. 24 */
    uint32_t q = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1u);
    uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1u)))
        q++; /* may carry into the smallest normal, which is the right encoding */
    return (uint16_t)(sign | q);
}

/* bfloat16 -> binary32, exact. */
static inline float kbit_bf16_to_f32(uint16_t b)
{
    return kbit_f32_from_bits((uint32_t)b << 16);
}

/* binary32 -> bfloat16, round to nearest even (denormals kept, overflow to inf). */
static inline uint16_t kbit_f32_to_bf16(float f)
{
    uint32_t x = kbit_f32_to_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x0040u);
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

#endif /* KBIT_CPU_REF_HALF_H */
