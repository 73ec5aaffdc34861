/*
 * backends/cuda/gpu-numerics.h - the element-level rules of the formats for
 * the GPU kernels (doc/numerics.md 0.3, 1.3-1.9, 2.4-2.5): exact fp32 arithmetic,
 * fp16/bf16 conversions, the NF4/FP4/8-bit encoders and dtype loads/stores.
 *
 * Every function is __host__ __device__ so that the host can check them
 * against the scalar reference (backends/cpu/<family>/ref.c) bit for bit; the kernels
 * are built from nothing else. Tables are passed in as float pointers (the
 * kernels stage the __constant__ tables of gpu-tables.h in shared memory).
 *
 * Arithmetic: one IEEE fp32 operation per step, round to nearest even, no
 * contraction. The explicit __f*_rn intrinsics make that independent of the
 * compiler flags in device code; the build also passes -fmad=false
 * -prec-div=true -ftz=false. fp16/bf16 narrowing is done on the bit
 * patterns with integer operations, so it cannot depend on FTZ modes or on
 * the runtime's conversion helpers.
 */
#ifndef KBIT_GPU_NUMERICS_H
#define KBIT_GPU_NUMERICS_H

#include <stdint.h>
#if !defined(KBIT_GPU_DEVICE_PASS)
#include <string.h>
#endif

#include "gpu-compat.h"
#include "kbit-driver.h"

/* ------------------------------------------------------------------ */
/* fp32 operations and bit patterns                                      */

KBIT_HD float kbit_gpu_mul(float a, float b)
{
#if defined(KBIT_GPU_DEVICE_PASS)
    return __fmul_rn(a, b);
#else
    return a * b;
#endif
}

KBIT_HD float kbit_gpu_add(float a, float b)
{
#if defined(KBIT_GPU_DEVICE_PASS)
    return __fadd_rn(a, b);
#else
    return a + b;
#endif
}

KBIT_HD float kbit_gpu_sub(float a, float b)
{
#if defined(KBIT_GPU_DEVICE_PASS)
    return __fsub_rn(a, b);
#else
    return a - b;
#endif
}

/* IEEE division (1/0 = +inf, 1/denormal may overflow to +inf: both intended). */
KBIT_HD float kbit_gpu_div(float a, float b)
{
#if defined(KBIT_GPU_DEVICE_PASS)
    return __fdiv_rn(a, b);
#else
    return a / b;
#endif
}

KBIT_HD double kbit_gpu_dadd(double a, double b)
{
#if defined(KBIT_GPU_DEVICE_PASS)
    return __dadd_rn(a, b);
#else
    return a + b;
#endif
}

KBIT_HD uint32_t kbit_gpu_bits(float f)
{
#if defined(KBIT_GPU_DEVICE_PASS)
    return __float_as_uint(f);
#else
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
#endif
}

KBIT_HD float kbit_gpu_float(uint32_t u)
{
#if defined(KBIT_GPU_DEVICE_PASS)
    return __uint_as_float(u);
#else
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
#endif
}

/* |v| with the sign bit cleared (so |-0| = +0 and |NaN| is NaN). */
KBIT_HD float kbit_gpu_abs(float v)
{
    return kbit_gpu_float(kbit_gpu_bits(v) & 0x7fffffffu);
}

/* One step of the absmax reduction (numerics 1.3): max ignoring NaN. Both
 * m and the result are +0 or positive and never NaN, so any grouping of
 * these steps gives the same bits. */
KBIT_HD float kbit_gpu_absmax_step(float m, float v)
{
    float a = kbit_gpu_abs(v);
    return a > m ? a : m; /* false for NaN: ignored */
}

/* Max of two partial absmax values (both non-negative, never NaN). */
KBIT_HD float kbit_gpu_max(float a, float b)
{
    return b > a ? b : a;
}

/* ------------------------------------------------------------------ */
/* fp16 / bf16 (numerics 0.3 rule 4: RNE, denormals kept, NaN stays NaN) */

/* binary16 -> binary32, exact. */
KBIT_HD float kbit_gpu_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0x1fu) /* inf, or NaN made quiet */
        return kbit_gpu_float(sign | 0x7f800000u | (man << 13) | (man ? 0x00400000u : 0u));
    if (exp != 0)
        return kbit_gpu_float(sign | ((exp + 112u) << 23) | (man << 13));
    /* zero or subnormal: man * 2^-24, a product that is exact in fp32 (man
     * < 2^10 converts exactly, the result is a normal fp32 number or zero) */
    float m = kbit_gpu_mul((float)man, 5.9604644775390625e-8f /* 2^-24 */);
    return kbit_gpu_float(sign | kbit_gpu_bits(m));
}

/* binary32 -> binary16, round to nearest even. */
KBIT_HD uint16_t kbit_gpu_f32_to_f16(float f)
{
    uint32_t x = kbit_gpu_bits(f);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) /* NaN: quiet, top payload bits kept */
        return (uint16_t)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
    if (ax >= 0x477ff000u) /* >= 65520, the midpoint above 65504: inf (also inf) */
        return (uint16_t)(sign | 0x7c00u);
    if (ax >= 0x38800000u) { /* result is a normal fp16 (|x| >= 2^-14) */
        /* Rebias the exponent (127 -> 15) in place, then round the 13
         * dropped mantissa bits to nearest even; a carry moves into the
         * exponent, which is the correct encoding. */
        uint32_t r = ax - 0x38000000u;
        r += 0x0fffu + ((r >> 13) & 1u);
        return (uint16_t)(sign | (r >> 13));
    }
    if (ax <= 0x33000000u) /* |x| <= 2^-25: to zero (2^-25 itself is a tie to even 0) */
        return (uint16_t)sign;
    /* Subnormal fp16: the value in units of 2^-24 is m * 2^(e-150), i.e.
     * the 24-bit significand shifted right by 126 - e (14..24 here). */
    uint32_t e = ax >> 23;
    uint32_t m = (ax & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126u - e;
    uint32_t q = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1u);
    uint32_t half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (q & 1u)))
        q++; /* a carry into 0x400 is the smallest normal: still right */
    return (uint16_t)(sign | q);
}

KBIT_HD float kbit_gpu_bf16_to_f32(uint16_t b)
{
    return kbit_gpu_float((uint32_t)b << 16);
}

/* binary32 -> bfloat16, round to nearest even (overflow to inf). */
KBIT_HD uint16_t kbit_gpu_f32_to_bf16(float f)
{
    uint32_t x = kbit_gpu_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) /* NaN: keep it NaN, quiet */
        return (uint16_t)((x >> 16) | 0x0040u);
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

/* Element i of a data array of dtype F32/F16/BF16, exactly as fp32. */
KBIT_HD float kbit_gpu_load(const void *x, kbit_dtype dtype, int64_t i)
{
    if (dtype == KBIT_F32)
        return ((const float *)x)[i];
    uint16_t h = ((const uint16_t *)x)[i];
    return dtype == KBIT_F16 ? kbit_gpu_f16_to_f32(h) : kbit_gpu_bf16_to_f32(h);
}

/* out[i] = T(v), RNE. */
KBIT_HD void kbit_gpu_store(void *out, kbit_dtype dtype, int64_t i, float v)
{
    if (dtype == KBIT_F32)
        ((float *)out)[i] = v;
    else if (dtype == KBIT_F16)
        ((uint16_t *)out)[i] = kbit_gpu_f32_to_f16(v);
    else
        ((uint16_t *)out)[i] = kbit_gpu_f32_to_bf16(v);
}

/* ------------------------------------------------------------------ */
/* Encoders (input: the normalised value x' = f32(v) * r)               */

/* NF4 (numerics 1.5): count of the 15 thresholds strictly below x; NaN -> 0. */
KBIT_HD unsigned kbit_gpu_nf4_encode(float x, const float *thr)
{
    unsigned q = 0;
KBIT_GPU_UNROLL
    for (int i = 0; i < 15; i++)
        q += x > thr[i] ? 1u : 0u;
    return q;
}

/* FP4 (numerics 1.6): the comparison tree on |x| with t = t_a..t_g; the
 * sign code 8 iff x < 0 (so -0.0 and NaN get no sign). */
KBIT_HD unsigned kbit_gpu_fp4_encode(float x, const float *t)
{
    float a = kbit_gpu_abs(x);
    unsigned k = (a > t[3]) ? ((a > t[5]) ? ((a > t[6]) ? 3u : 2u) : ((a > t[4]) ? 5u : 4u))
                            : ((a > t[1]) ? ((a > t[2]) ? 7u : 6u) : ((a > t[0]) ? 1u : 0u));
    return k + (x < 0.0f ? 8u : 0u);
}

KBIT_HD unsigned kbit_gpu_4bit_encode(kbit_quant_type type, float x, const float *thr)
{
    return type == KBIT_NF4 ? kbit_gpu_nf4_encode(x, thr) : kbit_gpu_fp4_encode(x, thr);
}

/* 8-bit (numerics 2.4, enc8) over the 255 midpoints: j = count of mid[i] < x;
 * if x == mid[j] the result is the even one of {j, j+1}; NaN -> 0.
 * sorted != 0 promises mid is non-decreasing without NaN (what the core
 * passes for every valid map): then the count is found by binary search.
 * Otherwise it is counted literally, like the reference. */
KBIT_HD unsigned kbit_gpu_enc8(float x, const float *mid, int sorted)
{
    if (x != x)
        return 0;
    unsigned j = 0;
    if (sorted) {
        /* mid[i] < x holds exactly on a prefix; find its length. */
        for (unsigned h = 128; h > 0; h >>= 1)
            if (mid[j + h - 1] < x)
                j += h;
    } else {
        for (int i = 0; i < 255; i++)
            j += mid[i] < x ? 1u : 0u;
    }
    if (j < 255 && mid[j] == x && (j & 1u))
        j++;
    return j;
}

#endif /* KBIT_GPU_NUMERICS_H */
