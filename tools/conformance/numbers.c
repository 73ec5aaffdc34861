/* tools/conformance/numbers.c - see numbers.h. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "numbers.h"

/* ------------------------------------------------------------------ */
/* PRNG */

void rng_seed(rng *r, uint64_t seed)
{
    r->state = seed;
}

uint64_t rng_next(rng *r)
{
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint32_t rng_below(rng *r, uint32_t bound)
{
    return bound ? (uint32_t)((rng_next(r) >> 32) * bound >> 32) : 0;
}

double rng_uniform(rng *r)
{
    return (double)(rng_next(r) >> 11) * 0x1p-53;
}

double rng_normal(rng *r)
{
    double u1 = rng_uniform(r), u2 = rng_uniform(r);
    if (u1 < 0x1p-60)
        u1 = 0x1p-60;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* ------------------------------------------------------------------ */
/* Bits and conversions */

uint32_t f32_bits(float f)
{
    uint32_t b;
    memcpy(&b, &f, 4);
    return b;
}

float f32_from_bits(uint32_t b)
{
    float f;
    memcpy(&f, &b, 4);
    return f;
}

/* fp32 -> binary16, round to nearest even. The mantissa (with its implicit
 * bit) is shifted right and rounded; a carry out of the mantissa moves into
 * the exponent, which is exactly what IEEE rounding does (up to infinity). */
uint16_t f32_to_f16(float f)
{
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u)
        return sign | 0x7e00u | (uint16_t)((ax >> 13) & 0x1ffu); /* quiet NaN */
    if (ax == 0x7f800000u)
        return sign | 0x7c00u;
    int e = (int)(ax >> 23) - 127;
    if (e > 15)
        return sign | 0x7c00u;
    if (e < -25 - 1) /* below half of the smallest half denormal */
        return sign;
    uint32_t mant = (ax & 0x7fffffu) | 0x800000u;
    int shift = 13;
    uint32_t base = 0;
    if (e < -14)
        shift += -14 - e; /* subnormal half: exponent field 0 */
    else
        base = (uint32_t)(e + 14) << 10;
    if (shift > 31)
        return sign;
    uint32_t q = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1u);
    uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1u)))
        q++;
    return (uint16_t)(sign | (base + q));
}

float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0x1f)
        return f32_from_bits(sign | 0x7f800000u | (m << 13) | (m ? 0x400000u : 0));
    if (e == 0) {
        /* zero or subnormal: m * 2^-24, exact in fp32 */
        float v = (float)m * 0x1p-24f;
        return sign ? -v : v;
    }
    return f32_from_bits(sign | ((e + 112) << 23) | (m << 13));
}

uint16_t f32_to_bf16(float f)
{
    uint32_t x = f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x40u);
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

float bf16_to_f32(uint16_t h)
{
    return f32_from_bits((uint32_t)h << 16);
}

float f32_next_up(float f)
{
    uint32_t b = f32_bits(f);
    if (f != f || b == 0x7f800000u)
        return f;
    if (b == 0x80000000u)
        return f32_from_bits(1);
    return f32_from_bits(b & 0x80000000u ? b - 1 : b + 1);
}

float f32_next_down(float f)
{
    return -f32_next_up(-f);
}

void f32_to_dtype(kbit_dtype dtype, const float *src, void *dst, size_t n)
{
    if (dtype == KBIT_F32) {
        memcpy(dst, src, n * 4);
        return;
    }
    uint16_t *d = dst;
    for (size_t i = 0; i < n; i++)
        d[i] = dtype == KBIT_F16 ? f32_to_f16(src[i]) : f32_to_bf16(src[i]);
}

float dtype_load(kbit_dtype dtype, const void *src, size_t i)
{
    if (dtype == KBIT_F32) {
        float f;
        memcpy(&f, (const char *)src + 4 * i, 4);
        return f;
    }
    uint16_t h;
    memcpy(&h, (const char *)src + 2 * i, 2);
    return dtype == KBIT_F16 ? f16_to_f32(h) : bf16_to_f32(h);
}

float dtype_max(kbit_dtype dtype)
{
    switch (dtype) {
    case KBIT_F16: return 65504.0f;
    case KBIT_BF16: return f32_from_bits(0x7f7f0000u);
    default: return f32_from_bits(0x7f7fffffu);
    }
}

float dtype_min_denormal(kbit_dtype dtype)
{
    switch (dtype) {
    case KBIT_F16: return 0x1p-24f;
    case KBIT_BF16: return 0x1p-133f;
    default: return 0x1p-149f;
    }
}

const char *dtype_str(kbit_dtype dtype)
{
    const char *s = kbit_dtype_name(dtype);
    return s ? s : "?";
}

float dtype_round(kbit_dtype dtype, float f)
{
    if (dtype == KBIT_F16)
        return f16_to_f32(f32_to_f16(f));
    if (dtype == KBIT_BF16)
        return bf16_to_f32(f32_to_bf16(f));
    return f;
}
