/*
 * numerics/encode.h - the element-level rules of the formats, as
 * static inline scalar functions: the 4-bit and 8-bit encoders, the 4-bit
 * decode tables, and block loads/stores in the data dtypes.
 *
 * These are the NORMATIVE definitions (doc/numerics.md 1.3-1.9, 2.4-2.5) written
 * for clarity. The reference kernels are built from them, and the SIMD
 * variants use them for the few elements of a block that do not fill a vector.
 */
#ifndef KBIT_CPU_REF_ENCODE_H
#define KBIT_CPU_REF_ENCODE_H

#include <stdint.h>

#include "kbit-driver.h"
#include "kbit-formats.h"
#include "half.h"

/* Format constants as floats (the headers give bit patterns). */
typedef union kbit_f32_table16 {
    uint32_t bits[16];
    float f[16];
} kbit_f32_table16;

static const kbit_f32_table16 kbit_nf4_code = { { KBIT_NF4_BITS_INIT } };
/* 15 thresholds; entry 15 is a quiet NaN so a vector search may read it safely. */
static const kbit_f32_table16 kbit_nf4_threshold = { { KBIT_NF4_THRESHOLD_BITS_INIT, 0x7fc00000u } };
static const kbit_f32_table16 kbit_fp4_magnitude = { { KBIT_FP4_MAGNITUDE_BITS_INIT } };
/* t_a..t_g in ascending order; entry 7 is a quiet NaN. */
static const kbit_f32_table16 kbit_fp4_threshold = { { KBIT_FP4_THRESHOLD_BITS_INIT, 0x7fc00000u } };

/* ------------------------------------------------------------------ */
/* 4-bit encoders (input: the normalised value x' = f32(v) * r)         */

/* NF4 (numerics 1.5): the number of thresholds strictly below x; NaN -> 0. */
static inline unsigned kbit_nf4_encode(float x)
{
    unsigned q = 0;
    for (int i = 0; i < 15; i++)
        q += x > kbit_nf4_threshold.f[i];
    return q;
}

/* FP4 (numerics 1.6): the comparison tree on |x|, sign code 8 iff x < 0. */
static inline unsigned kbit_fp4_encode(float x)
{
    const float *t = kbit_fp4_threshold.f; /* t_a .. t_g */
    float a = x < 0.0f ? -x : x;           /* NaN stays NaN; -0 stays -0, harmless */
    unsigned k = (a > t[3]) ? ((a > t[5]) ? ((a > t[6]) ? 3u : 2u) : ((a > t[4]) ? 5u : 4u))
                            : ((a > t[1]) ? ((a > t[2]) ? 7u : 6u) : ((a > t[0]) ? 1u : 0u));
    return k + (x < 0.0f ? 8u : 0u);
}

/* 4-bit decode value DEC[q] (FP4 code 8 is -0.0). */
static inline float kbit_4bit_decode(kbit_quant_type type, unsigned q)
{
    if (type == KBIT_NF4)
        return kbit_nf4_code.f[q];
    float m = kbit_fp4_magnitude.f[q & 7u];
    return (q & 8u) ? -m : m;
}

/* ------------------------------------------------------------------ */
/* 8-bit encoder (numerics 2.4, enc8) over the 255 midpoints           */

/* Literal form of the rule, valid for any midpoint array: j = number of
 * midpoints strictly below x; if x equals mid[j] the result is the even one
 * of {j, j+1}; NaN -> 0. */
static inline unsigned kbit_enc8_count(float x, const float *mid)
{
    if (x != x)
        return 0;
    unsigned j = 0;
    for (int i = 0; i < 255; i++)
        j += mid[i] < x;
    if (j < 255 && mid[j] == x && (j & 1u))
        j++;
    return j;
}

/* The same rule for a non-decreasing midpoint array without NaN (what the
 * core passes for every valid map), with a branch-free binary search: the
 * count of entries below x is the length of the prefix where mid[i] < x. */
static inline unsigned kbit_enc8_sorted(float x, const float *mid)
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

/* 1 if mid[0..254] is non-decreasing and has no NaN (binary search is exact). */
static inline int kbit_mid_sorted(const float *mid)
{
    for (int i = 0; i < 254; i++)
        if (!(mid[i] <= mid[i + 1]))
            return 0;
    return mid[254] == mid[254];
}

/* ------------------------------------------------------------------ */
/* Blocks                                                               */

/* Largest blocksize of any op: a block fits in a stack buffer. */
#define KBIT_CPU_MAX_BLOCK 4096

/* Elements [start, start + count) of block b of n. */
static inline int64_t kbit_block_count(int64_t n, int64_t blocksize, int64_t b)
{
    int64_t start = b * blocksize;
    return n - start < blocksize ? n - start : blocksize;
}

/* absmax of a block (numerics 1.3): max |v| ignoring NaN, 0 if none. */
static inline float kbit_absmax(const float *v, int64_t count)
{
    float m = 0.0f;
    for (int64_t i = 0; i < count; i++) {
        float a = v[i] < 0.0f ? -v[i] : v[i];
        if (a > m) /* false for NaN */
            m = a;
    }
    return m;
}

/* x[start .. start+count) of dtype (F32/F16/BF16) -> fp32, exactly. */
static inline void kbit_load_f32(const void *x, kbit_dtype dtype, int64_t start, int64_t count,
                                 float *v)
{
    if (dtype == KBIT_F32) {
        const float *p = (const float *)x + start;
        for (int64_t i = 0; i < count; i++)
            v[i] = p[i];
    } else if (dtype == KBIT_F16) {
        const uint16_t *p = (const uint16_t *)x + start;
        for (int64_t i = 0; i < count; i++)
            v[i] = kbit_f16_to_f32(p[i]);
    } else {
        const uint16_t *p = (const uint16_t *)x + start;
        for (int64_t i = 0; i < count; i++)
            v[i] = kbit_bf16_to_f32(p[i]);
    }
}

/* fp32 -> out[start .. start+count) of dtype, RNE. */
static inline void kbit_store_f32(void *out, kbit_dtype dtype, int64_t start, int64_t count,
                                  const float *v)
{
    if (dtype == KBIT_F32) {
        float *p = (float *)out + start;
        for (int64_t i = 0; i < count; i++)
            p[i] = v[i];
    } else if (dtype == KBIT_F16) {
        uint16_t *p = (uint16_t *)out + start;
        for (int64_t i = 0; i < count; i++)
            p[i] = kbit_f32_to_f16(v[i]);
    } else {
        uint16_t *p = (uint16_t *)out + start;
        for (int64_t i = 0; i < count; i++)
            p[i] = kbit_f32_to_bf16(v[i]);
    }
}

#endif /* KBIT_CPU_REF_ENCODE_H */
