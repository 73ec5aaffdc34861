/*
 * numerics/int8.h - the element-level rules of LLM.int8() (numerics
 * 4, determinism 3 and 4.1) as static inline scalar functions. The reference
 * kernels (ref/int8.c) are built from them, and the SIMD variants use them
 * for tails. Self-contained: only the kbit headers and half.h.
 */
#ifndef KBIT_CPU_REF_INT8_H
#define KBIT_CPU_REF_INT8_H

#include <math.h>
#include <stdint.h>

#include "kbit-driver.h"
#include "kbit-formats.h"
#include "half.h"

/* f32(f16(v)): the value the int8 path sees for an activation (exact for F16). */
static inline float kbit_int8_through_f16(float v)
{
    return kbit_f16_to_f32(kbit_f32_to_f16(v));
}

/* Element i of a F32/F16/BF16 array as fp32 (exact). */
static inline float kbit_int8_load(kbit_dtype dtype, const void *p, int64_t i)
{
    if (dtype == KBIT_F32)
        return ((const float *)p)[i];
    if (dtype == KBIT_F16)
        return kbit_f16_to_f32(((const uint16_t *)p)[i]);
    return kbit_bf16_to_f32(((const uint16_t *)p)[i]);
}

/* Element i of a F32/F16/BF16 array := dtype(v), RNE. */
static inline void kbit_int8_store(kbit_dtype dtype, void *p, int64_t i, float v)
{
    if (dtype == KBIT_F32)
        ((float *)p)[i] = v;
    else if (dtype == KBIT_F16)
        ((uint16_t *)p)[i] = kbit_f32_to_f16(v);
    else
        ((uint16_t *)p)[i] = kbit_f32_to_bf16(v);
}

/* v rounded to dtype and back to fp32 (identity for F32). */
static inline float kbit_int8_round_to(kbit_dtype dtype, float v)
{
    if (dtype == KBIT_F16)
        return kbit_int8_through_f16(v);
    if (dtype == KBIT_BF16)
        return kbit_bf16_to_f32(kbit_f32_to_bf16(v));
    return v;
}

/* Whether a (fp16-valued) element is eligible for the row absmax: not NaN
 * and, with a threshold, strictly below it (numerics 4.1). */
static inline int kbit_int8_eligible(float a, int use_threshold, float threshold)
{
    float m = fabsf(a);
    return use_threshold ? m < threshold : m == m;
}

/* The code of v for the row scale s = 127 / SCA: roundHalfEven(v * s), and 0
 * when the product is not finite (determinism 4.1). |v * s| <= 127.5 for an
 * eligible v, so the magic-number rounding (RNE, |p| < 2^22) is exact. */
static inline int8_t kbit_int8_code(float v, float s)
{
    float p = v * s;
    if (!(fabsf(p) <= 3.40282347e38f))
        return 0;
    float r = (p + 12582912.0f) - 12582912.0f; /* 1.5 * 2^23 */
    return (int8_t)(int32_t)r;
}

/* The dequantized weight element (numerics 4.2): (f32(cb) * scb) * 1/127. */
static inline float kbit_int8_weight_of(int8_t cb, float scb)
{
    return ((float)cb * scb) * kbit_f32_from_bits(KBIT_INT8_INV127_BITS);
}

/* int8_mm_dequant of one element up to the fp16 value o (numerics 4.4),
 * returned as f32(o). bias_kind: 0 none, 1 fp16 (fused), 2 other. */
static inline float kbit_int8_mm_dequant_elem(int32_t acc, float sca, float scb, int bias_kind,
                                              float bias)
{
    float t = ((float)acc * sca) * scb;
    float c = kbit_f32_from_bits(KBIT_INT8_MM_DEQUANT_BITS);
    float y = fmaf(t, c, bias_kind == 1 ? bias : 0.0f);
    float o = kbit_int8_through_f16(y);
    if (bias_kind == 2)
        o = kbit_int8_through_f16(o + bias);
    return o;
}

/* dot32 (determinism 3) as a stream: element i goes to lane (i / 8) mod 32,
 * which processes its chunks in ascending order, so adding elements in
 * ascending i is the canonical order. */
typedef struct kbit_dot32 {
    float s[32];
} kbit_dot32;

static inline void kbit_dot32_init(kbit_dot32 *d)
{
    for (int l = 0; l < 32; l++)
        d->s[l] = 0.0f;
}

static inline void kbit_dot32_add(kbit_dot32 *d, int64_t i, float w, float a)
{
    int l = (int)((i >> 3) & 31);
    d->s[l] = fmaf(w, a, d->s[l]);
}

/* The fold: for h = 16, 8, 4, 2, 1: s[l] += s[l + h] for l < h. */
static inline float kbit_dot32_result(kbit_dot32 *d)
{
    for (int h = 16; h > 0; h >>= 1)
        for (int l = 0; l < h; l++)
            d->s[l] = d->s[l] + d->s[l + h];
    return d->s[0];
}

#endif /* KBIT_CPU_REF_INT8_H */
