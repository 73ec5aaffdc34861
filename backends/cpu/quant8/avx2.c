/*
 * backends/cpu/quant8/avx2.c - AVX2 8-bit blockwise kernels,
 * bit-identical to ref/quant8.c.
 *
 * Encoding (enc8) uses the per-op plan (enc8_plan.c): with a bucket table, one
 * gather and one integer compare per 8 elements; otherwise (or for a block
 * whose reciprocal is +inf) a branch-free binary search (four levels from
 * vpermps tables, four gathers) and one gather for the tie rule. The last
 * (< 32) elements of a block use the scalar rule. Dequantization gathers
 * code[q] and multiplies by the block's absmax.
 */
#include <math.h>

#include "../x86/avx2_io.h"
#include "numerics/encode.h"
#include "quant8.h"

/* enc8 from the bucket table: valid for finite and NaN x (see enc8_plan.c). */
KBIT_INLINE __m256i enc8_buckets(__m256 x, const uint32_t *buckets)
{
    __m256i bits = _mm256_castps_si256(x);
    /* order-preserving key: bits ^ ((bits >> 31, arithmetic) | 0x80000000) */
    __m256i flip = _mm256_or_si256(_mm256_srai_epi32(bits, 31), _mm256_set1_epi32((int)0x80000000u));
    __m256i key = _mm256_xor_si256(bits, flip);
    __m256i e = _mm256_i32gather_epi32((const int *)buckets, _mm256_srli_epi32(key, 16), 4);
    __m256i low = _mm256_and_si256(key, _mm256_set1_epi32(0xffff));
    __m256i j_lo = _mm256_and_si256(e, _mm256_set1_epi32(0xff));
    __m256i above = _mm256_cmpgt_epi32(low, _mm256_srai_epi32(e, 8));
    return _mm256_sub_epi32(j_lo, above); /* the mask is -1 */
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

/* enc8 for every x: binary search for the count of midpoints < x (NaN -> 0),
 * then the tie rule. */
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

typedef struct enc8 {
    const uint32_t *buckets;
    const float *mid_pad;
    levels lv;
} enc8;

/* fast (a constant at every call): the bucket table, else the search. */
KBIT_INLINE __m256i encode(const enc8 *e, int fast, __m256 x)
{
    return fast ? enc8_buckets(x, e->buckets) : enc8_search(x, &e->lv, e->mid_pad);
}

/* Pass 2: q[i] = enc8(src[i] * r); src holds the block's (centred) fp32
 * values. next: where the following block's input starts (esize bytes per
 * value), prefetched while this one is encoded so that memory keeps
 * streaming (pass 1 prefetches only a little ahead); past the end is
 * harmless. */
KBIT_INLINE void encode_block(const enc8 *e, int fast, const float *src, int64_t count, float r,
                              uint8_t *q, const char *next, int64_t esize)
{
    __m256 rv = _mm256_set1_ps(r);
    int64_t i = 0;
    for (; i + 32 <= count; i += 32) {
        _mm_prefetch(next + i * esize, _MM_HINT_T0);
        if (esize == 4)
            _mm_prefetch(next + i * esize + 64, _MM_HINT_T0);
        __m256i c0 = encode(e, fast, _mm256_mul_ps(_mm256_loadu_ps(src + i), rv));
        __m256i c1 = encode(e, fast, _mm256_mul_ps(_mm256_loadu_ps(src + i + 8), rv));
        __m256i c2 = encode(e, fast, _mm256_mul_ps(_mm256_loadu_ps(src + i + 16), rv));
        __m256i c3 = encode(e, fast, _mm256_mul_ps(_mm256_loadu_ps(src + i + 24), rv));
        _mm256_storeu_si256((__m256i *)(q + i), k256_pack_bytes(c0, c1, c2, c3));
    }
    for (; i < count; i++)
        q[i] = (uint8_t)kbit_enc8_sorted(src[i] * r, e->mid_pad);
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
    const float off = center ? *op->offset : 0.0f;
    const __m256 offset = _mm256_set1_ps(off);
    /* Pass 2 reads F32 input in place, unless it must be centred first. */
    const int in_place = dtype == KBIT_F32 && !center;

    /* Pass 1: absmax; values are widened and centred once into buf. */
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    const int64_t esize = dtype == KBIT_F32 ? 4 : 2;
    for (; i + 16 <= count; i += 16) {
        kbit_cpu_prefetch(x, (start + i) * esize);
        __m256 v0 = k256_load(x, dtype, start + i), v1 = k256_load(x, dtype, start + i + 8);
        if (center) {
            v0 = _mm256_sub_ps(v0, offset);
            v1 = _mm256_sub_ps(v1, offset);
        }
        if (!in_place) {
            _mm256_storeu_ps(buf + i, v0);
            _mm256_storeu_ps(buf + i + 8, v1);
        }
        acc0 = _mm256_max_ps(k256_abs(v0), acc0);
        acc1 = _mm256_max_ps(k256_abs(v1), acc1);
    }
    float absmax = k256_reduce_max(_mm256_max_ps(acc0, acc1));
    if (i < count) {
        int64_t rest = count - i;
        float *t = buf + i, tail[16];
        if (in_place)
            t = tail;
        kbit_load_f32(x, dtype, start + i, rest, t);
        if (center)
            for (int64_t j = 0; j < rest; j++)
                t[j] = t[j] - off;
        float m = kbit_absmax(t, rest);
        if (m > absmax)
            absmax = m;
    }
    op->absmax[b] = absmax;
    float r = 1.0f / absmax;

    const float *src = in_place ? (const float *)x + start : buf;
    uint8_t *q = op->q + start;
    const char *next = (const char *)x + (start + count) * esize;
    if (e.buckets != NULL && r < INFINITY)
        encode_block(&e, 1, src, count, r, q, next, esize);
    else /* no table, or absmax 0 or tiny: x' may be +-inf */
        encode_block(&e, 0, src, count, r, q, next, esize);
}

void kbit_avx2_quantize_8bit(const kbit_op_quantize_8bit *op, const kbit_enc8_plan *plan,
                             int64_t block_begin, int64_t block_end)
{
    if (!plan->sorted) {
        kbit_ref_quantize_8bit(op, block_begin, block_end);
        return;
    }
    enc8 e = {
        plan->buckets, plan->mid_pad,
        { _mm256_loadu_ps(plan->level[0]), _mm256_loadu_ps(plan->level[1]),
          _mm256_loadu_ps(plan->level[2]), _mm256_loadu_ps(plan->level[3]) },
    };
    _Alignas(32) float buf[KBIT_MAX_BLOCK];
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
    const float off = op->offset;
    const float absmax = op->absmax[b];
    const __m256 offset = _mm256_set1_ps(off);
    const __m256 a = _mm256_set1_ps(absmax);
    const uint8_t *q = op->q + start;
    int64_t i = 0;
    for (; i + 32 <= count; i += 32) {
        kbit_cpu_prefetch(q, i);
        __m256i bytes = _mm256_loadu_si256((const __m256i *)(q + i));
        for (int k = 0; k < 4; k++) {
            __m128i part = k < 2 ? _mm256_castsi256_si128(bytes) : _mm256_extracti128_si256(bytes, 1);
            if (k & 1)
                part = _mm_srli_si128(part, 8);
            __m256 v = _mm256_mul_ps(_mm256_i32gather_ps(code, _mm256_cvtepu8_epi32(part), 4), a);
            if (add_offset)
                v = _mm256_add_ps(v, offset);
            k256_store_nt(op->out, dtype, start + i + 8 * k, v, stream);
        }
    }
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
#define BLOCK(STREAM, DT, b) dequantize_block(op, STREAM, DT, b)
    KBIT_DEQUANT_LOOP(op, block_begin, block_end, BLOCK);
#undef BLOCK
}
