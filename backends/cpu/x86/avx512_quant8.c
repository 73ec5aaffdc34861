/*
 * backends/cpu/x86/avx512_quant8.c - AVX-512 8-bit blockwise kernels,
 * bit-identical to ref/quant8.c.
 *
 * Encoding (enc8, numerics 2.4) uses the per-op plan (enc8_plan.c): with a
 * bucket table, one gather and two integer compares per 16 elements; without
 * one, a branch-free binary search whose first five levels come from register
 * permutes and last three from gathers, then one gather for the tie rule.
 * Dequantization gathers code[q] and multiplies by the block's absmax.
 */
#include "avx512_io.h"
#include "../ref/encode.h"
#include "../ref/ref.h"
#include "variants.h"

/* Order-preserving integer key of x + 0.0f (-0.0 becomes +0.0). */
KBIT_INLINE __m512i order_key(__m512 x)
{
    __m512i bits = _mm512_castps_si512(_mm512_add_ps(x, _mm512_setzero_ps()));
    __m512i flip = _mm512_or_si512(_mm512_srai_epi32(bits, 31), _mm512_set1_epi32((int)0x80000000u));
    return _mm512_xor_si512(bits, flip);
}

KBIT_INLINE __m512i enc8_buckets(__m512 x, const uint32_t *buckets)
{
    const __m512i one = _mm512_set1_epi32(1);
    __m512i key = order_key(x);
    __m512i low = _mm512_and_si512(key, _mm512_set1_epi32(0xffff));
    __m512i e = _mm512_i32gather_epi32(_mm512_srli_epi32(key, 16), (const void *)buckets, 4);
    __m512i j_lo = _mm512_and_si512(e, _mm512_set1_epi32(0xff));
    __m512i mid_low = _mm512_srli_epi32(e, 8);
    __mmask16 above = _mm512_cmpgt_epi32_mask(low, mid_low);  /* mid < x */
    __mmask16 tie = _mm512_cmpeq_epi32_mask(low, mid_low)     /* mid == x, j = j_lo odd */
                    & _mm512_test_epi32_mask(j_lo, one);
    __m512i j = _mm512_mask_add_epi32(j_lo, above | tie, j_lo, one);
    return _mm512_maskz_mov_epi32(_mm512_cmp_ps_mask(x, x, _CMP_ORD_Q), j); /* NaN -> 0 */
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

/* Binary search for the count of midpoints < x (NaN -> 0), then the tie rule. */
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

KBIT_INLINE __m512i enc8(__m512 x, int use_buckets, const uint32_t *buckets, const levels *lv,
                         const float *mid_pad)
{
    return use_buckets ? enc8_buckets(x, buckets) : enc8_search(x, lv, mid_pad);
}

/* use_buckets and dtype are constants at every call: one specialisation each. */
KBIT_INLINE void quantize_block(const kbit_op_quantize_8bit *op, int use_buckets,
                                const uint32_t *buckets, levels lv, const float *mid_pad,
                                kbit_dtype dtype, int64_t b)
{
    const void *x = op->x;
    int64_t start = b * op->blocksize;
    int64_t count = kbit_block_count(op->n, op->blocksize, b);
    const int center = op->center;
    const __m512 offset = _mm512_set1_ps(op->offset);

    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= count; i += 32) {
        __m512 v0 = k512_load(x, dtype, start + i), v1 = k512_load(x, dtype, start + i + 16);
        if (center) {
            v0 = _mm512_sub_ps(v0, offset);
            v1 = _mm512_sub_ps(v1, offset);
        }
        acc0 = _mm512_max_ps(k512_abs(v0), acc0);
        acc1 = _mm512_max_ps(k512_abs(v1), acc1);
    }
    for (; i < count; i += 16) { /* masked: off lanes would read -offset */
        __mmask16 m = k512_mask(count - i);
        __m512 v = k512_load_mask(x, dtype, start + i, m);
        if (center)
            v = _mm512_sub_ps(v, offset);
        acc0 = _mm512_mask_max_ps(acc0, m, k512_abs(v), acc0);
    }
    float absmax = _mm512_reduce_max_ps(_mm512_max_ps(acc0, acc1));
    op->absmax[b] = absmax;
    __m512 r = _mm512_set1_ps(1.0f / absmax);

    uint8_t *q = op->q + start;
    for (i = 0; i < count; i += 16) {
        __mmask16 m = k512_mask(count - i);
        __m512 v = m == 0xffff ? k512_load(x, dtype, start + i) : k512_load_mask(x, dtype, start + i, m);
        if (center)
            v = _mm512_sub_ps(v, offset);
        __m128i codes = _mm512_cvtepi32_epi8(enc8(_mm512_mul_ps(v, r), use_buckets, buckets, &lv, mid_pad));
        if (m == 0xffff)
            _mm_storeu_si128((__m128i *)(q + i), codes);
        else
            _mm_mask_storeu_epi8(q + i, m, codes);
    }
}

void kbit_avx512_quantize_8bit(const kbit_op_quantize_8bit *op, const kbit_enc8_plan *plan,
                               int64_t block_begin, int64_t block_end)
{
    if (!plan->sorted) {
        kbit_ref_quantize_8bit(op, block_begin, block_end);
        return;
    }
    levels lv = {
        _mm512_loadu_ps(plan->level[0]), _mm512_loadu_ps(plan->level[1]),
        _mm512_loadu_ps(plan->level[2]), _mm512_loadu_ps(plan->level[3]),
        _mm512_loadu_ps(plan->level[4]),
    };
    const uint32_t *buckets = plan->buckets;
    const float *mid_pad = plan->mid_pad;
#define RUN_BUCKETS(DT)                                                  \
    for (int64_t b = block_begin; b < block_end; b++)                    \
        quantize_block(op, 1, buckets, lv, mid_pad, DT, b)
#define RUN_SEARCH(DT)                                                   \
    for (int64_t b = block_begin; b < block_end; b++)                    \
        quantize_block(op, 0, buckets, lv, mid_pad, DT, b)
    if (buckets)
        KBIT_DTYPE_SWITCH(op->dtype, RUN_BUCKETS);
    else
        KBIT_DTYPE_SWITCH(op->dtype, RUN_SEARCH);
#undef RUN_BUCKETS
#undef RUN_SEARCH
}

KBIT_INLINE void dequantize_block(const kbit_op_dequantize_8bit *op, kbit_dtype dtype, int64_t b)
{
    int64_t start = b * op->blocksize;
    int64_t count = kbit_block_count(op->n, op->blocksize, b);
    const float *code = op->code;
    const int add_offset = op->add_offset;
    const __m512 offset = _mm512_set1_ps(op->offset);
    const __m512 absmax = _mm512_set1_ps(op->absmax[b]);
    const uint8_t *q = op->q + start;
    for (int64_t i = 0; i < count; i += 16) {
        __mmask16 m = k512_mask(count - i);
        __m128i bytes = m == 0xffff ? _mm_loadu_si128((const __m128i *)(q + i))
                                    : _mm_maskz_loadu_epi8(m, q + i);
        __m512 v = _mm512_mul_ps(_mm512_i32gather_ps(_mm512_cvtepu8_epi32(bytes), code, 4), absmax);
        if (add_offset)
            v = _mm512_add_ps(v, offset);
        if (m == 0xffff)
            k512_store(op->out, dtype, start + i, v);
        else
            k512_store_mask(op->out, dtype, start + i, v, m);
    }
}

void kbit_avx512_dequantize_8bit(const kbit_op_dequantize_8bit *op, int64_t block_begin,
                                 int64_t block_end)
{
#define RUN(DT)                                                \
    for (int64_t b = block_begin; b < block_end; b++)          \
        dequantize_block(op, DT, b)
    KBIT_DTYPE_SWITCH(op->out_dtype, RUN);
#undef RUN
}
