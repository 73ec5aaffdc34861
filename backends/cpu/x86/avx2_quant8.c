/*
 * backends/cpu/x86/avx2_quant8.c - AVX2 8-bit blockwise kernels,
 * bit-identical to ref/quant8.c.
 *
 * Encoding (enc8) uses the per-op plan (enc8_plan.c): with a bucket table, one
 * gather and two integer compares per 8 elements; otherwise a branch-free
 * binary search (four levels from vpermps tables, four gathers) and one
 * gather for the tie rule. The last (< 32) elements of a block use the scalar
 * rule. Dequantization gathers code[q] and multiplies by the block's absmax.
 */
#include "avx2_io.h"
#include "../ref/encode.h"
#include "../ref/ref.h"
#include "variants.h"

/* Order-preserving integer key of x + 0.0f (-0.0 becomes +0.0). */
KBIT_INLINE __m256i order_key(__m256 x)
{
    __m256i bits = _mm256_castps_si256(_mm256_add_ps(x, _mm256_setzero_ps()));
    __m256i flip = _mm256_or_si256(_mm256_srai_epi32(bits, 31), _mm256_set1_epi32((int)0x80000000u));
    return _mm256_xor_si256(bits, flip);
}

KBIT_INLINE __m256i enc8_buckets(__m256 x, const uint32_t *buckets)
{
    const __m256i one = _mm256_set1_epi32(1);
    __m256i key = order_key(x);
    __m256i low = _mm256_and_si256(key, _mm256_set1_epi32(0xffff));
    __m256i e = _mm256_i32gather_epi32((const int *)buckets, _mm256_srli_epi32(key, 16), 4);
    __m256i j_lo = _mm256_and_si256(e, _mm256_set1_epi32(0xff));
    __m256i mid_low = _mm256_srli_epi32(e, 8);
    __m256i above = _mm256_cmpgt_epi32(low, mid_low); /* mid < x */
    __m256i tie = _mm256_and_si256(_mm256_cmpeq_epi32(low, mid_low), /* mid == x, j_lo odd */
                                   _mm256_cmpeq_epi32(_mm256_and_si256(j_lo, one), one));
    __m256i j = _mm256_sub_epi32(j_lo, _mm256_or_si256(above, tie)); /* masks are -1 */
    return _mm256_and_si256(j, _mm256_castps_si256(_mm256_cmp_ps(x, x, _CMP_ORD_Q))); /* NaN -> 0 */
}

typedef struct levels {
    __m256 l0, l1, l2, l3; /* search levels h = 128, 64, 32, 16 (plan->level[0..3]) */
} levels;

/* pos += h where cand < x. */
KBIT_INLINE __m256i add_if_below(__m256i pos, __m256 cand, __m256 x, int h)
{
    __m256i lt = _mm256_castps_si256(_mm256_cmp_ps(cand, x, _CMP_LT_OQ));
    return _mm256_add_epi32(pos, _mm256_and_si256(lt, _mm256_set1_epi32(h)));
}

KBIT_INLINE __m256i level_step(__m256i pos, __m256 table, int shift, __m256 x, int h)
{
    return add_if_below(pos, _mm256_permutevar8x32_ps(table, _mm256_srli_epi32(pos, shift)), x, h);
}

KBIT_INLINE __m256i gather_step(__m256i pos, const float *mid_pad, __m256 x, int h)
{
    __m256i idx = _mm256_add_epi32(pos, _mm256_set1_epi32(h - 1));
    return add_if_below(pos, _mm256_i32gather_ps(mid_pad, idx, 4), x, h);
}

KBIT_INLINE __m256i enc8_search(__m256 x, const levels *lv, const float *mid_pad)
{
    __m256i pos = _mm256_setzero_si256();
    pos = level_step(pos, lv->l0, 8, x, 128);
    pos = level_step(pos, lv->l1, 7, x, 64);
    pos = level_step(pos, lv->l2, 6, x, 32);
    pos = level_step(pos, lv->l3, 5, x, 16);
    pos = gather_step(pos, mid_pad, x, 8);
    pos = gather_step(pos, mid_pad, x, 4);
    pos = gather_step(pos, mid_pad, x, 2);
    pos = gather_step(pos, mid_pad, x, 1);
    const __m256i one = _mm256_set1_epi32(1);
    __m256 m = _mm256_i32gather_ps(mid_pad, pos, 4); /* mid_pad[255] is NaN */
    __m256i tie = _mm256_and_si256(_mm256_castps_si256(_mm256_cmp_ps(m, x, _CMP_EQ_OQ)),
                                   _mm256_cmpeq_epi32(_mm256_and_si256(pos, one), one));
    return _mm256_sub_epi32(pos, tie);
}

KBIT_INLINE __m256i enc8(__m256 x, int use_buckets, const uint32_t *buckets, const levels *lv,
                         const float *mid_pad)
{
    return use_buckets ? enc8_buckets(x, buckets) : enc8_search(x, lv, mid_pad);
}

KBIT_INLINE __m256 centered(const void *x, kbit_dtype dtype, int64_t i, int center, __m256 offset)
{
    __m256 v = k256_load(x, dtype, i);
    return center ? _mm256_sub_ps(v, offset) : v;
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
    const float off = op->offset;
    const __m256 offset = _mm256_set1_ps(off);
    float tail[32];

    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= count; i += 16) {
        acc0 = _mm256_max_ps(k256_abs(centered(x, dtype, start + i, center, offset)), acc0);
        acc1 = _mm256_max_ps(k256_abs(centered(x, dtype, start + i + 8, center, offset)), acc1);
    }
    float absmax = k256_reduce_max(_mm256_max_ps(acc0, acc1));
    if (i < count) {
        int64_t rest = count - i;
        kbit_load_f32(x, dtype, start + i, rest, tail);
        if (center)
            for (int64_t j = 0; j < rest; j++)
                tail[j] = tail[j] - off;
        float m = kbit_absmax(tail, rest);
        if (m > absmax)
            absmax = m;
    }
    op->absmax[b] = absmax;
    float r = 1.0f / absmax;
    __m256 rv = _mm256_set1_ps(r);

    uint8_t *q = op->q + start;
    for (i = 0; i + 32 <= count; i += 32) {
        __m256i c[4];
        for (int k = 0; k < 4; k++)
            c[k] = enc8(_mm256_mul_ps(centered(x, dtype, start + i + 8 * k, center, offset), rv),
                        use_buckets, buckets, &lv, mid_pad);
        _mm256_storeu_si256((__m256i *)(q + i), k256_pack_bytes(c[0], c[1], c[2], c[3]));
    }
    if (i < count) {
        int64_t rest = count - i;
        kbit_load_f32(x, dtype, start + i, rest, tail);
        for (int64_t j = 0; j < rest; j++) {
            float v = center ? tail[j] - off : tail[j];
            q[i + j] = (uint8_t)kbit_enc8_sorted(v * r, mid_pad);
        }
    }
}

void kbit_avx2_quantize_8bit(const kbit_op_quantize_8bit *op, const kbit_enc8_plan *plan,
                             int64_t block_begin, int64_t block_end)
{
    if (!plan->sorted) {
        kbit_ref_quantize_8bit(op, block_begin, block_end);
        return;
    }
    levels lv = {
        _mm256_loadu_ps(plan->level[0]), _mm256_loadu_ps(plan->level[1]),
        _mm256_loadu_ps(plan->level[2]), _mm256_loadu_ps(plan->level[3]),
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
    const float off = op->offset;
    const float absmax = op->absmax[b];
    const __m256 offset = _mm256_set1_ps(off);
    const __m256 a = _mm256_set1_ps(absmax);
    const uint8_t *q = op->q + start;
    int64_t i = 0;
    for (; i + 8 <= count; i += 8) {
        __m256i idx = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(q + i)));
        __m256 v = _mm256_mul_ps(_mm256_i32gather_ps(code, idx, 4), a);
        if (add_offset)
            v = _mm256_add_ps(v, offset);
        k256_store(op->out, dtype, start + i, v);
    }
    if (i < count) {
        float tail[8];
        int64_t rest = count - i;
        for (int64_t j = 0; j < rest; j++) {
            tail[j] = code[q[i + j]] * absmax;
            if (add_offset)
                tail[j] = tail[j] + off;
        }
        kbit_store_f32(op->out, dtype, start + i, rest, tail);
    }
}

void kbit_avx2_dequantize_8bit(const kbit_op_dequantize_8bit *op, int64_t block_begin,
                               int64_t block_end)
{
#define RUN(DT)                                                \
    for (int64_t b = block_begin; b < block_end; b++)          \
        dequantize_block(op, DT, b)
    KBIT_DTYPE_SWITCH(op->out_dtype, RUN);
#undef RUN
}
