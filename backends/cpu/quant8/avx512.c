/*
 * backends/cpu/quant8/avx512.c - AVX-512 8-bit blockwise kernels,
 * bit-identical to ref/quant8.c.
 *
 * Encoding (enc8, numerics 2.4) uses the per-op plan (enc8_plan.c): with a
 * bucket table, one gather and one integer compare per 16 elements; without
 * one (or for a block whose reciprocal is +inf), a branch-free binary search
 * whose first five levels come from register permutes and last three from
 * gathers, then one gather for the tie rule.
 * Dequantization gathers code[q] and multiplies by the block's absmax.
 */
#include <math.h>

#include "../x86/avx512_io.h"
#include "numerics/encode.h"
#include "quant8.h"

/* enc8 from the bucket table: valid for finite and NaN x (see enc8_plan.c). */
KBIT_INLINE __m512i enc8_buckets(__m512 x, const uint32_t *buckets)
{
    __m512i bits = _mm512_castps_si512(x);
    /* order-preserving key: bits ^ ((bits >> 31, arithmetic) | 0x80000000) */
    __m512i key = _mm512_ternarylogic_epi32(bits, _mm512_srai_epi32(bits, 31),
                                            _mm512_set1_epi32((int)0x80000000u), 0x1e);
    __m512i e = _mm512_i32gather_epi32(_mm512_srli_epi32(key, 16), (const void *)buckets, 4);
    __m512i low = _mm512_and_si512(key, _mm512_set1_epi32(0xffff));
    __m512i j_lo = _mm512_and_si512(e, _mm512_set1_epi32(0xff));
    __mmask16 above = _mm512_cmpgt_epi32_mask(low, _mm512_srai_epi32(e, 8));
    return _mm512_mask_add_epi32(j_lo, above, j_lo, _mm512_set1_epi32(1));
}

typedef struct levels {
    __m512 l0, l1, l2, l3, l4;
} levels;

/* pos += h where the midpoint table[pos >> shift] < x. */
KBIT_INLINE __m512i level_step(__m512i pos, __m512 table, int shift, __m512 x, int h)
{
    __m512 m = _mm512_permutexvar_ps(_mm512_srli_epi32(pos, shift), table);
    __mmask16 lt = _mm512_cmp_ps_mask(m, x, _CMP_LT_OQ);
    return _mm512_mask_add_epi32(pos, lt, pos, _mm512_set1_epi32(h));
}

KBIT_INLINE __m512i gather_step(__m512i pos, const float *mid_pad, __m512 x, int h)
{
    __m512i idx = _mm512_add_epi32(pos, _mm512_set1_epi32(h - 1));
    __m512 m = _mm512_i32gather_ps(idx, mid_pad, 4);
    __mmask16 lt = _mm512_cmp_ps_mask(m, x, _CMP_LT_OQ);
    return _mm512_mask_add_epi32(pos, lt, pos, _mm512_set1_epi32(h));
}

/* enc8 for every x: binary search for the count of midpoints < x (NaN -> 0),
 * the first five levels from register permutes, then the tie rule. */
KBIT_INLINE __m512i enc8_search(__m512 x, const levels *lv, const float *mid_pad)
{
    __m512i pos = _mm512_setzero_si512();
    pos = level_step(pos, lv->l0, 8, x, 128);
    pos = level_step(pos, lv->l1, 7, x, 64);
    pos = level_step(pos, lv->l2, 6, x, 32);
    pos = level_step(pos, lv->l3, 5, x, 16);
    pos = level_step(pos, lv->l4, 4, x, 8);
    pos = gather_step(pos, mid_pad, x, 4);
    pos = gather_step(pos, mid_pad, x, 2);
    pos = gather_step(pos, mid_pad, x, 1);
    __m512 m = _mm512_i32gather_ps(pos, mid_pad, 4); /* mid_pad[255] is NaN */
    __mmask16 tie = _mm512_cmp_ps_mask(m, x, _CMP_EQ_OQ) & _mm512_test_epi32_mask(pos, _mm512_set1_epi32(1));
    return _mm512_mask_add_epi32(pos, tie, pos, _mm512_set1_epi32(1));
}

typedef struct enc8 {
    const uint32_t *buckets;
    const float *mid_pad;
    levels lv;
} enc8;

/* fast (a constant at every call): the bucket table, else the search. */
KBIT_INLINE __m512i encode(const enc8 *e, int fast, __m512 x)
{
    return fast ? enc8_buckets(x, e->buckets) : enc8_search(x, &e->lv, e->mid_pad);
}

/* 64 codes 0..255 -> 64 bytes in order (the packs interleave 128-bit lanes). */
KBIT_INLINE __m512i pack64(__m512i c0, __m512i c1, __m512i c2, __m512i c3)
{
    __m512i b = _mm512_packus_epi16(_mm512_packus_epi32(c0, c1), _mm512_packus_epi32(c2, c3));
    return _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), b);
}

/* Pass 2: q[i] = enc8(src[i] * r); src holds the block's (centred) fp32
 * values. next: where the following block's input starts (esize bytes per
 * value), prefetched while this one is encoded so that memory keeps
 * streaming (pass 1 prefetches only a little ahead); past the end is
 * harmless. */
KBIT_INLINE void encode_block(const enc8 *e, int fast, const float *src, int64_t count, __m512 r,
                              uint8_t *q, const char *next, int64_t esize)
{
    int64_t i = 0;
    for (; i + 64 <= count; i += 64) {
        for (int64_t line = 0; line < 64 * esize; line += 64)
            _mm_prefetch(next + i * esize + line, _MM_HINT_T0);
        __m512i c0 = encode(e, fast, _mm512_mul_ps(_mm512_loadu_ps(src + i), r));
        __m512i c1 = encode(e, fast, _mm512_mul_ps(_mm512_loadu_ps(src + i + 16), r));
        __m512i c2 = encode(e, fast, _mm512_mul_ps(_mm512_loadu_ps(src + i + 32), r));
        __m512i c3 = encode(e, fast, _mm512_mul_ps(_mm512_loadu_ps(src + i + 48), r));
        _mm512_storeu_si512((void *)(q + i), pack64(c0, c1, c2, c3));
    }
    for (; i < count; i += 16) {
        __mmask16 m = k512_mask(count - i);
        __m512i c = encode(e, fast, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, src + i), r));
        _mm_mask_storeu_epi8(q + i, m, _mm512_cvtepi32_epi8(c));
    }
}

KBIT_INLINE void quantize_block(const kbit_op_quantize_8bit *op, enc8 e, float *buf,
                                kbit_dtype dtype, int64_t b)
{
    /* e is a by-value copy: the byte stores may alias anything, which would
     * otherwise force the tables to be reloaded after every store. */
    const void *x = op->x;
    int64_t start = b * op->blocksize;
    int64_t count = kbit_block_count(op->n, op->blocksize, b);
    const int center = op->center;
    const __m512 offset = _mm512_set1_ps(center ? *op->offset : 0.0f);
    /* Pass 2 reads F32 input in place, unless it must be centred first. */
    const int in_place = dtype == KBIT_F32 && !center;

    /* Pass 1: absmax; values are widened and centred once into buf. */
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int64_t i = 0;
    const int64_t esize = dtype == KBIT_F32 ? 4 : 2;
    for (; i + 32 <= count; i += 32) {
        kbit_cpu_prefetch(x, (start + i) * esize);
        if (dtype == KBIT_F32)
            kbit_cpu_prefetch(x, (start + i) * esize + 64);
        __m512 v0 = k512_load(x, dtype, start + i), v1 = k512_load(x, dtype, start + i + 16);
        if (center) {
            v0 = _mm512_sub_ps(v0, offset);
            v1 = _mm512_sub_ps(v1, offset);
        }
        if (!in_place) {
            _mm512_storeu_ps(buf + i, v0);
            _mm512_storeu_ps(buf + i + 16, v1);
        }
        acc0 = _mm512_max_ps(k512_abs(v0), acc0);
        acc1 = _mm512_max_ps(k512_abs(v1), acc1);
    }
    for (; i < count; i += 16) { /* masked: off lanes would read -offset */
        __mmask16 m = k512_mask(count - i);
        __m512 v = k512_load_mask(x, dtype, start + i, m);
        if (center)
            v = _mm512_sub_ps(v, offset);
        if (!in_place)
            _mm512_storeu_ps(buf + i, v);
        acc0 = _mm512_mask_max_ps(acc0, m, k512_abs(v), acc0);
    }
    float absmax = _mm512_reduce_max_ps(_mm512_max_ps(acc0, acc1));
    op->absmax[b] = absmax;
    float r = 1.0f / absmax;

    const float *src = in_place ? (const float *)x + start : buf;
    uint8_t *q = op->q + start;
    const char *next = (const char *)x + (start + count) * esize;
    if (e.buckets != NULL && r < INFINITY)
        encode_block(&e, 1, src, count, _mm512_set1_ps(r), q, next, esize);
    else /* no table, or absmax 0 or tiny: x' may be +-inf */
        encode_block(&e, 0, src, count, _mm512_set1_ps(r), q, next, esize);
}

void kbit_avx512_quantize_8bit(const kbit_op_quantize_8bit *op, const kbit_enc8_plan *plan,
                               int64_t block_begin, int64_t block_end)
{
    if (!plan->sorted) {
        kbit_ref_quantize_8bit(op, block_begin, block_end);
        return;
    }
    enc8 e = {
        plan->buckets, plan->mid_pad,
        { _mm512_loadu_ps(plan->level[0]), _mm512_loadu_ps(plan->level[1]),
          _mm512_loadu_ps(plan->level[2]), _mm512_loadu_ps(plan->level[3]),
          _mm512_loadu_ps(plan->level[4]) },
    };
    _Alignas(64) float buf[KBIT_MAX_BLOCK];
#define RUN(DT)                                                \
    for (int64_t b = block_begin; b < block_end; b++)          \
        quantize_block(op, e, buf, DT, b)
    KBIT_DTYPE_SWITCH(op->dtype, RUN);
#undef RUN
}

/* stream and dtype are constants at every call. Full 32-element steps start
 * at a multiple of 32 elements: aligned for streaming whenever the output is. */
KBIT_INLINE void dequantize_block(const kbit_op_dequantize_8bit *op, int stream, kbit_dtype dtype,
                                  int64_t b)
{
    int64_t start = b * op->blocksize;
    int64_t count = kbit_block_count(op->n, op->blocksize, b);
    const float *code = op->code;
    const int add_offset = op->add_offset;
    const __m512 offset = _mm512_set1_ps(op->offset);
    const __m512 absmax = _mm512_set1_ps(op->absmax[b]);
    const uint8_t *q = op->q + start;
    int64_t i = 0;
    for (; i + 32 <= count; i += 32) {
        kbit_cpu_prefetch(q, i);
        __m256i bytes = _mm256_loadu_si256((const __m256i *)(q + i));
        __m512 v0 = _mm512_i32gather_ps(_mm512_cvtepu8_epi32(_mm256_castsi256_si128(bytes)), code, 4);
        __m512 v1 = _mm512_i32gather_ps(_mm512_cvtepu8_epi32(_mm256_extracti128_si256(bytes, 1)), code, 4);
        v0 = _mm512_mul_ps(v0, absmax);
        v1 = _mm512_mul_ps(v1, absmax);
        if (add_offset) {
            v0 = _mm512_add_ps(v0, offset);
            v1 = _mm512_add_ps(v1, offset);
        }
        k512_store32(op->out, dtype, start + i, v0, v1, stream);
    }
    for (; i < count; i += 16) {
        __mmask16 m = k512_mask(count - i);
        __m128i bytes = _mm_maskz_loadu_epi8(m, q + i);
        __m512 v = _mm512_mul_ps(_mm512_i32gather_ps(_mm512_cvtepu8_epi32(bytes), code, 4), absmax);
        if (add_offset)
            v = _mm512_add_ps(v, offset);
        k512_store_mask(op->out, dtype, start + i, v, m);
    }
}

void kbit_avx512_dequantize_8bit(const kbit_op_dequantize_8bit *op, int64_t block_begin,
                                 int64_t block_end)
{
#define BLOCK(STREAM, DT, b) dequantize_block(op, STREAM, DT, b)
    KBIT_DEQUANT_LOOP(op, block_begin, block_end, BLOCK);
#undef BLOCK
}
