/*
 * backends/gpu/rules.h - the element rules the kernel bodies use (doc/numerics.md
 * 0.3, 1.3-1.9, 2.4-2.5, 3; doc/determinism.md 4): exact fp32/fp64
 * operations, fp16/bf16 conversions, dtype loads and stores, absmax, the
 * NF4/FP4 and 8-bit encoders and decoders, the nested centring and the
 * pairsum steps.
 *
 * PENDING numerics/: the rules' one home is numerics/, which is being made to
 * compile as OpenCL C and CUDA device code (branch numerics-home). Until that
 * lands, this header is the device spelling of those rules (moved from
 * backends/cuda/gpu-numerics.h, with address spaces), under the names and
 * signatures numerics/ will have, so that replacing this file by
 * `#include "numerics/numerics.h"` is the whole switch. The OpenCL tests
 * compare every result with backends/cpu/<family>/ref.c bit for bit.
 *
 * Arithmetic: one IEEE operation per macro, rounded to nearest even, never
 * contracted: the __f*_rn intrinsics in CUDA/HIP device code, plain
 * operators under `#pragma OPENCL FP_CONTRACT OFF` in OpenCL (built with
 * -cl-fp32-correctly-rounded-divide-sqrt). fp16/bf16 narrowing works on the
 * bit patterns with integer operations, independent of any FTZ mode.
 */
#ifndef KBIT_GPU_RULES_H
#define KBIT_GPU_RULES_H

#include "backends/gpu/defs.h"
#include "kbit-formats.h"

/* The enums the kernels need: kbit.h (C, CUDA) is not OpenCL C. These are
 * its values (checked by the OpenCL tests, which run every dtype and type). */
#if defined(KBIT_GPU_OPENCL)
typedef enum kbit_dtype { KBIT_F32 = 0, KBIT_F16 = 1, KBIT_BF16 = 2 } kbit_dtype;
typedef enum kbit_quant_type { KBIT_FP4 = 1, KBIT_NF4 = 2 } kbit_quant_type;
#else
#include "kbit.h"
#endif

/* ------------------------------------------------------------------ */
/* Operations and bit patterns                                          */

#if defined(KBIT_GPU_DEVICE_PASS)
#define KBIT_FADD(a, b) __fadd_rn((a), (b))
#define KBIT_FSUB(a, b) __fsub_rn((a), (b))
#define KBIT_FMUL(a, b) __fmul_rn((a), (b))
#define KBIT_FDIV(a, b) __fdiv_rn((a), (b))
#define KBIT_DADD(a, b) __dadd_rn((a), (b))
#define KBIT_DDIV(a, b) __ddiv_rn((a), (b))
#else
#define KBIT_FADD(a, b) ((a) + (b))
#define KBIT_FSUB(a, b) ((a) - (b))
#define KBIT_FMUL(a, b) ((a) * (b))
#define KBIT_FDIV(a, b) ((a) / (b))
#define KBIT_DADD(a, b) ((a) + (b))
#define KBIT_DDIV(a, b) ((a) / (b))
#endif

KBIT_GPU_FN uint32_t kbit_f32_to_bits(float f)
{
#if defined(KBIT_GPU_OPENCL)
    return as_uint(f);
#else
    return __float_as_uint(f);
#endif
}

KBIT_GPU_FN float kbit_f32_from_bits(uint32_t u)
{
#if defined(KBIT_GPU_OPENCL)
    return as_float(u);
#else
    return __uint_as_float(u);
#endif
}

/* |v| with the sign bit cleared (|-0| = +0, |NaN| is NaN). */
KBIT_GPU_FN float kbit_fabs(float v)
{
    return kbit_f32_from_bits(kbit_f32_to_bits(v) & 0x7fffffffu);
}

/* ------------------------------------------------------------------ */
/* fp16 / bf16 (numerics 0.3 rule 4: RNE, denormals kept, NaN stays NaN) */

/* binary16 -> binary32, exact. */
KBIT_GPU_FN float kbit_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0x1fu) /* inf, or NaN made quiet */
        return kbit_f32_from_bits(sign | 0x7f800000u | (man << 13) | (man ? 0x00400000u : 0u));
    if (exp != 0)
        return kbit_f32_from_bits(sign | ((exp + 112u) << 23) | (man << 13));
    /* zero or subnormal: man * 2^-24, exact in fp32 (a normal number or 0) */
    float m = KBIT_FMUL((float)man, 5.9604644775390625e-8f /* 2^-24 */);
    return kbit_f32_from_bits(sign | kbit_f32_to_bits(m));
}

/* binary32 -> binary16, round to nearest even. */
KBIT_GPU_FN uint16_t kbit_f32_to_f16(float f)
{
    uint32_t x = kbit_f32_to_bits(f);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) /* NaN: quiet, top payload bits kept */
        return (uint16_t)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
    if (ax >= 0x477ff000u) /* >= 65520, the midpoint above 65504: inf */
        return (uint16_t)(sign | 0x7c00u);
    if (ax >= 0x38800000u) { /* a normal fp16 (|x| >= 2^-14) */
        /* Rebias the exponent (127 -> 15) in place, then round the 13
         * dropped bits to nearest even; a carry into the exponent is right. */
        uint32_t r = ax - 0x38000000u;
        r += 0x0fffu + ((r >> 13) & 1u);
        return (uint16_t)(sign | (r >> 13));
    }
    if (ax <= 0x33000000u) /* |x| <= 2^-25: zero (2^-25 is a tie to even 0) */
        return (uint16_t)sign;
    /* Subnormal fp16: the 24-bit significand shifted right by 126 - e. */
    uint32_t e = ax >> 23;
    uint32_t m = (ax & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126u - e;
    uint32_t q = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1u);
    uint32_t halfway = 1u << (shift - 1u);
    if (rem > halfway || (rem == halfway && (q & 1u)))
        q++; /* a carry into 0x400 is the smallest normal: still right */
    return (uint16_t)(sign | q);
}

KBIT_GPU_FN float kbit_bf16_to_f32(uint16_t b)
{
    return kbit_f32_from_bits((uint32_t)b << 16);
}

/* binary32 -> bfloat16, round to nearest even (overflow to inf). */
KBIT_GPU_FN uint16_t kbit_f32_to_bf16(float f)
{
    uint32_t x = kbit_f32_to_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) /* NaN: quiet */
        return (uint16_t)((x >> 16) | 0x0040u);
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

/* Element i of a F32/F16/BF16 array, exactly as fp32. */
KBIT_GPU_FN float kbit_dtype_load(kbit_dtype dtype, KBIT_GLOBAL const void *x, int64_t i)
{
    if (dtype == KBIT_F32)
        return ((KBIT_GLOBAL const float *)x)[i];
    uint16_t h = ((KBIT_GLOBAL const uint16_t *)x)[i];
    return dtype == KBIT_F16 ? kbit_f16_to_f32(h) : kbit_bf16_to_f32(h);
}

/* Element i of a F32/F16/BF16 array := dtype(v), RNE. */
KBIT_GPU_FN void kbit_dtype_store(kbit_dtype dtype, KBIT_GLOBAL void *out, int64_t i, float v)
{
    if (dtype == KBIT_F32)
        ((KBIT_GLOBAL float *)out)[i] = v;
    else if (dtype == KBIT_F16)
        ((KBIT_GLOBAL uint16_t *)out)[i] = kbit_f32_to_f16(v);
    else
        ((KBIT_GLOBAL uint16_t *)out)[i] = kbit_f32_to_bf16(v);
}

/* ------------------------------------------------------------------ */
/* The 4-bit tables (kbit-formats.h bit patterns) in constant memory    */

#if defined(KBIT_GPU_OPENCL)
#define KBIT_RULES_TABLE(name, count, ...) __constant uint32_t name[count] = { __VA_ARGS__ };
#else
#define KBIT_RULES_TABLE(name, count, ...) static __constant__ uint32_t name[count] = { __VA_ARGS__ };
#endif
KBIT_RULES_TABLE(kbit_nf4_code_dev, 16, KBIT_NF4_BITS_INIT)
KBIT_RULES_TABLE(kbit_nf4_threshold_dev, 15, KBIT_NF4_THRESHOLD_BITS_INIT)
KBIT_RULES_TABLE(kbit_fp4_magnitude_dev, 8, KBIT_FP4_MAGNITUDE_BITS_INIT)
KBIT_RULES_TABLE(kbit_fp4_threshold_dev, 7, KBIT_FP4_THRESHOLD_BITS_INIT)

KBIT_GPU_FN float kbit_nf4_threshold_at(int i)
{
    return kbit_f32_from_bits(kbit_nf4_threshold_dev[i]);
}

KBIT_GPU_FN float kbit_fp4_threshold_at(int i)
{
    return kbit_f32_from_bits(kbit_fp4_threshold_dev[i]);
}

/* ------------------------------------------------------------------ */
/* absmax (numerics 1.3)                                                */

/* max(m, |v|) ignoring NaN. m and the result are +0 or positive and never
 * NaN, so any grouping of these steps (and of kbit_absmax_combine) gives
 * the same bits. */
KBIT_GPU_FN float kbit_absmax_step(float m, float v)
{
    float a = kbit_fabs(v);
    return a > m ? a : m; /* false for NaN: ignored */
}

/* Max of two partial absmax values (both non-negative, never NaN). */
KBIT_GPU_FN float kbit_absmax_combine(float a, float b)
{
    return b > a ? b : a;
}

/* r = 1 / absmax, IEEE: +inf for an all-zero (or all-NaN) block (numerics 1.4). */
KBIT_GPU_FN float kbit_block_recip(float absmax)
{
    return KBIT_FDIV(1.0f, absmax);
}

/* ------------------------------------------------------------------ */
/* 4-bit encode / decode (input: x' = f32(v) * r)                       */

/* NF4 (numerics 1.5): count of the 15 thresholds strictly below x; NaN -> 0. */
KBIT_GPU_FN unsigned kbit_nf4_encode(float x)
{
    unsigned q = 0;
    KBIT_GPU_UNROLL
    for (int i = 0; i < 15; i++)
        q += x > kbit_nf4_threshold_at(i) ? 1u : 0u;
    return q;
}

/* FP4 (numerics 1.6): the comparison tree on |x| with t_a..t_g, sign code 8
 * iff x < 0 (so -0.0 and NaN get no sign). */
KBIT_GPU_FN unsigned kbit_fp4_encode(float x)
{
    float a = kbit_fabs(x);
    unsigned k = (a > kbit_fp4_threshold_at(3))
                     ? ((a > kbit_fp4_threshold_at(5))
                            ? ((a > kbit_fp4_threshold_at(6)) ? 3u : 2u)
                            : ((a > kbit_fp4_threshold_at(4)) ? 5u : 4u))
                     : ((a > kbit_fp4_threshold_at(1))
                            ? ((a > kbit_fp4_threshold_at(2)) ? 7u : 6u)
                            : ((a > kbit_fp4_threshold_at(0)) ? 1u : 0u));
    return k + (x < 0.0f ? 8u : 0u);
}

KBIT_GPU_FN unsigned kbit_4bit_encode(kbit_quant_type type, float x)
{
    return type == KBIT_NF4 ? kbit_nf4_encode(x) : kbit_fp4_encode(x);
}

/* The packed byte of elements 2p, 2p+1 with factor r, even element in the
 * high nibble (numerics 1.7); the caller passes odd = 0.0f for the padding
 * of an odd n (numerics 1.8). */
KBIT_GPU_FN uint8_t kbit_4bit_pack(kbit_quant_type type, float even, float odd, float r)
{
    unsigned hi = kbit_4bit_encode(type, KBIT_FMUL(even, r));
    unsigned lo = kbit_4bit_encode(type, KBIT_FMUL(odd, r));
    return (uint8_t)((hi << 4) | lo);
}

/* DEC[q] (numerics 1.9): NF4 table, or FP4M[q & 7] negated if q & 8 (code
 * 8 decodes to -0.0). */
KBIT_GPU_FN float kbit_4bit_decode(kbit_quant_type type, unsigned q)
{
    if (type == KBIT_NF4)
        return kbit_f32_from_bits(kbit_nf4_code_dev[q]);
    float m = kbit_f32_from_bits(kbit_fp4_magnitude_dev[q & 7u]);
    return (q & 8u) ? -m : m;
}

/* DEC[q] * absmax: one fp32 multiplication. */
KBIT_GPU_FN float kbit_4bit_value(kbit_quant_type type, unsigned q, float absmax)
{
    return KBIT_FMUL(kbit_4bit_decode(type, q), absmax);
}

/* ------------------------------------------------------------------ */
/* 8-bit (numerics 2.4 enc8, 2.5) over the 255 midpoints                 */

/* The literal rule, valid for any midpoint array: j = count of mid[i] < x;
 * if x == mid[j] the even one of {j, j+1}; NaN -> 0. */
KBIT_GPU_FN unsigned kbit_enc8_count(float x, KBIT_TABLE const float *mid)
{
    if (x != x)
        return 0;
    unsigned j = 0;
    for (int i = 0; i < 255; i++)
        j += mid[i] < x ? 1u : 0u;
    if (j < 255 && mid[j] == x && (j & 1u))
        j++;
    return j;
}

/* The same for a non-decreasing midpoint array without NaN: binary search
 * for the length of the prefix where mid[i] < x. */
KBIT_GPU_FN unsigned kbit_enc8_sorted(float x, KBIT_TABLE const float *mid)
{
    if (x != x)
        return 0;
    unsigned j = 0;
    for (unsigned h = 128; h > 0; h >>= 1)
        if (mid[j + h - 1] < x)
            j += h;
    if (j < 255 && mid[j] == x && (j & 1u))
        j++;
    return j;
}

KBIT_GPU_FN unsigned kbit_enc8(float x, KBIT_TABLE const float *mid, int sorted)
{
    return sorted ? kbit_enc8_sorted(x, mid) : kbit_enc8_count(x, mid);
}

/* 1 if mid[0..254] is non-decreasing without NaN (binary search is exact). */
KBIT_GPU_FN int kbit_mid_sorted(KBIT_TABLE const float *mid)
{
    for (int i = 0; i < 254; i++)
        if (!(mid[i] <= mid[i + 1]))
            return 0;
    return mid[254] == mid[254];
}

/* code[q] * absmax, given the map entry code[q]. */
KBIT_GPU_FN float kbit_8bit_value(float code_q, float absmax)
{
    return KBIT_FMUL(code_q, absmax);
}

/* The nested absmax (numerics 3): centred before its 8-bit quantization,
 * uncentred after its dequantization; each a separate fp32 rounding. */
KBIT_GPU_FN float kbit_nested_center(float absmax, float offset)
{
    return KBIT_FSUB(absmax, offset);
}

KBIT_GPU_FN float kbit_nested_uncenter(float value, float offset)
{
    return KBIT_FADD(value, offset);
}

/* ------------------------------------------------------------------ */
/* The canonical fp64 sum (determinism 4)                               */

KBIT_GPU_FN double kbit_pairsum_add(double s, double term)
{
    return KBIT_DADD(s, term);
}

/* Leaf b of x[0..n): the fp64 sum of x[256b .. min(256b+256, n)) in
 * increasing order, from +0.0. */
KBIT_GPU_FN double kbit_pairsum_leaf(KBIT_GLOBAL const float *x, int64_t n, int64_t b)
{
    int64_t start = b * KBIT_PAIRSUM_LEAF;
    int64_t end = n - start < KBIT_PAIRSUM_LEAF ? n : start + KBIT_PAIRSUM_LEAF;
    double s = 0.0;
    for (int64_t i = start; i < end; i++)
        s = kbit_pairsum_add(s, (double)x[i]);
    return s;
}

/* The value a pairsum op hands back: tree / divisor in fp64. */
KBIT_GPU_FN double kbit_pairsum_result(double tree, double divisor)
{
    return KBIT_DDIV(tree, divisor);
}

#endif /* KBIT_GPU_RULES_H */
