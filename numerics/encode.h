/*
 * numerics/encode.h - the element rules of the blockwise formats: absmax,
 * the 4-bit (NF4/FP4) and 8-bit (dynamic map) encoders and decoders and the
 * 4-bit packing (doc/numerics.md 1.3-1.9, 2.4-2.5, 3).
 *
 * These are the NORMATIVE definitions, written for clarity. The reference
 * kernels of backends/cpu and the GPU kernels are built from them, and the
 * SIMD variants use them for the elements of a block that do not fill a
 * vector; every vector form must give the same bits.
 */
#ifndef KBIT_NUMERICS_ENCODE_H
#define KBIT_NUMERICS_ENCODE_H

#include "kbit-formats.h"
#include "numerics/dtype.h"
#include "numerics/platform.h"
#include "numerics/tables.h"

/* ------------------------------------------------------------------ */
/* Blocks and absmax (numerics 1.3)                                     */

/* Largest blocksize of any op: a block fits in a stack buffer. */
#define KBIT_MAX_BLOCK 4096

/* The element count of block b of n (blocksize except for the last). */
KBIT_NUM_FN int64_t kbit_block_count(int64_t n, int64_t blocksize, int64_t b)
{
    int64_t start = b * blocksize;
    return n - start < blocksize ? n - start : blocksize;
}

/* One step of absmax: max(m, |v|) ignoring NaN. m is +0 or positive and
 * never NaN, and so is the result, so any grouping of these steps (and of
 * kbit_absmax_combine) gives the same bits. */
KBIT_NUM_FN float kbit_absmax_step(float m, float v)
{
    float a = kbit_fabs(v);
    return a > m ? a : m; /* false for NaN: ignored */
}

/* The max of two partial absmax values (both non-negative, never NaN). */
KBIT_NUM_FN float kbit_absmax_combine(float a, float b)
{
    return b > a ? b : a;
}

/* absmax of v[0 .. count): max |v| ignoring NaN, +0 if none. */
KBIT_NUM_FN float kbit_absmax(KBIT_PRIVATE const float *v, int64_t count)
{
    float m = 0.0f;
    for (int64_t i = 0; i < count; i++)
        m = kbit_absmax_step(m, v[i]);
    return m;
}

/* The normalising factor of a block, r = 1 / absmax in IEEE division: +inf
 * for an all-zero (or all-NaN) block, and then every element's x' is NaN or
 * +-inf, which the encoders map to fixed codes (numerics 1.4). */
KBIT_NUM_FN float kbit_block_recip(float absmax)
{
    return KBIT_FDIV(1.0f, absmax);
}

/* ------------------------------------------------------------------ */
/* 4-bit encoders (input: the normalised value x' = f32(v) * r)         */

/* NF4 (numerics 1.5): the number of thresholds strictly below x; NaN -> 0. */
KBIT_NUM_FN unsigned kbit_nf4_encode(float x)
{
    unsigned q = 0;
    KBIT_NUM_UNROLL
    for (int i = 0; i < 15; i++)
        q += x > kbit_nf4_threshold_at(i) ? 1u : 0u;
    return q;
}

/* FP4 (numerics 1.6): the comparison tree on |x| with t_a..t_g, sign code 8
 * iff x < 0 (so -0.0 and NaN get no sign; |NaN| compares false: code 0). */
KBIT_NUM_FN unsigned kbit_fp4_encode(float x)
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

KBIT_NUM_FN unsigned kbit_4bit_encode(kbit_quant_type type, float x)
{
    return type == KBIT_NF4 ? kbit_nf4_encode(x) : kbit_fp4_encode(x);
}

/* The packed byte of elements 2p and 2p+1 of a block with factor r: the
 * even element in the high nibble (numerics 1.7). For an odd n the last
 * byte's low nibble encodes the padding value +0.0 * r (numerics 1.8): the
 * caller passes odd = 0.0f. */
KBIT_NUM_FN uint8_t kbit_4bit_pack(kbit_quant_type type, float even, float odd, float r)
{
    unsigned hi = kbit_4bit_encode(type, KBIT_FMUL(even, r));
    unsigned lo = kbit_4bit_encode(type, KBIT_FMUL(odd, r));
    return (uint8_t)((hi << 4) | lo);
}

/* The code of flat element e in a packed array's byte (high nibble first). */
KBIT_NUM_FN unsigned kbit_4bit_code(uint8_t byte, int64_t e)
{
    return (e & 1) ? (byte & 15u) : ((unsigned)byte >> 4);
}

/* DEC[q] (numerics 1.9): the NF4 table, or FP4M[q & 7] negated when q & 8
 * (so FP4 code 8 decodes to -0.0). */
KBIT_NUM_FN float kbit_4bit_decode(kbit_quant_type type, unsigned q)
{
    if (type == KBIT_NF4)
        return kbit_nf4_value(q);
    float m = kbit_fp4_magnitude_at(q & 7u);
    return (q & 8u) ? -m : m;
}

/* A dequantized 4-bit element, DEC[q] * absmax: one fp32 multiplication
 * (numerics 1.9; the w_k of dot32, doc/determinism.md 3). */
KBIT_NUM_FN float kbit_4bit_value(kbit_quant_type type, unsigned q, float absmax)
{
    return KBIT_FMUL(kbit_4bit_decode(type, q), absmax);
}

/* ------------------------------------------------------------------ */
/* 8-bit (numerics 2.4, enc8) over the 255 midpoints                     */

/* Literal form of the rule, valid for any midpoint array: j = number of
 * midpoints strictly below x; if x equals mid[j] the result is the even one
 * of {j, j+1}; NaN -> 0. */
KBIT_NUM_FN unsigned kbit_enc8_count(float x, KBIT_TABLE const float *mid)
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

/* The same rule for a non-decreasing midpoint array without NaN (what the
 * core passes for every valid map), with a branch-free binary search: the
 * count of entries below x is the length of the prefix where mid[i] < x. */
KBIT_NUM_FN unsigned kbit_enc8_sorted(float x, KBIT_TABLE const float *mid)
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

/* enc8 with the form chosen by the caller: sorted != 0 promises what
 * kbit_mid_sorted checks. */
KBIT_NUM_FN unsigned kbit_enc8(float x, KBIT_TABLE const float *mid, int sorted)
{
    return sorted ? kbit_enc8_sorted(x, mid) : kbit_enc8_count(x, mid);
}

/* 1 if mid[0..254] is non-decreasing and has no NaN (binary search is exact). */
KBIT_NUM_FN int kbit_mid_sorted(KBIT_TABLE const float *mid)
{
    for (int i = 0; i < 254; i++)
        if (!(mid[i] <= mid[i + 1]))
            return 0;
    return mid[254] == mid[254];
}

/* The 8-bit code of a block element v with the block's factor r:
 * enc8(v * r) (numerics 2.4). */
KBIT_NUM_FN uint8_t kbit_8bit_encode(float v, float r, KBIT_TABLE const float *mid, int sorted)
{
    return (uint8_t)kbit_enc8(KBIT_FMUL(v, r), mid, sorted);
}

/* A dequantized 8-bit element, code[q] * absmax (numerics 2.5), given the
 * map entry code[q]. */
KBIT_NUM_FN float kbit_8bit_value(float code_q, float absmax)
{
    return KBIT_FMUL(code_q, absmax);
}

/* The nested absmax (numerics 3): the offset is subtracted from each absmax
 * before it is 8-bit quantized, and added back after its dequantization, each
 * a separate fp32 rounding. */
KBIT_NUM_FN float kbit_nested_center(float absmax, float offset)
{
    return KBIT_FSUB(absmax, offset);
}

KBIT_NUM_FN float kbit_nested_uncenter(float value, float offset)
{
    return KBIT_FADD(value, offset);
}

#endif /* KBIT_NUMERICS_ENCODE_H */
