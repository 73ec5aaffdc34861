/*
 * backends/cpu/quant4/avx512.c - AVX-512 NF4/FP4 blockwise kernels,
 * bit-identical to ref/quant4.c.
 *
 * Quantize: pass 1 takes the block's absmax (max ignores NaN because
 * vmaxps returns its second operand, the accumulator, when the first is NaN);
 * pass 2 encodes 64 elements -> 32 bytes per step with the cell encoder of
 * enc4_cells.c (one table lookup, one comparison), or, for a block whose
 * reciprocal is +inf, a branch-free binary search on register permutes.
 * Lanes past the end of the tail read +0.0, which is exactly the padding
 * element of an odd n.
 * Dequantize: a 16-entry table DEC[q] * absmax per block (the same fp32
 * product as the reference), looked up with vpermps; for fp16/bf16 outputs
 * rounded once per block into a table of words, looked up with vpermw.
 */
#include <math.h>

#include "../x86/avx512_io.h"
#include "numerics/encode.h"
#include "quant4.h"

/* Thresholds t[k + shift] for k = 0..15 (NaN past the end; never read). */
KBIT_INLINE __m512 shifted_table(const kbit_f32_table16 *t, int count, int shift)
{
    float f[16];
    for (int k = 0; k < 16; k++)
        f[k] = k + shift < count ? t->f[k + shift] : kbit_f32_from_bits(0x7fc00000u);
    return _mm512_loadu_ps(f);
}

typedef struct enc4 {
    /* cells (enc4_cells.c): 32-entry tables as two halves */
    __m512 scale, offset, thr_lo, thr_hi;
    __m512i below_lo, below_hi, above_lo, above_hi;
    int cells_ok;
    /* binary search: thresholds shifted by 0, 1, 3; t7 = the first comparison */
    __m512 t0, t1, t3, t7;
    __m512i fp4_rank_to_code;
    int nf4;
} enc4;

static void enc4_init(enc4 *e, kbit_quant_type type)
{
    kbit_enc4_cells c;
    kbit_enc4_cells_init(&c, type);
    e->cells_ok = c.ok;
    e->scale = _mm512_set1_ps(c.scale);
    e->offset = _mm512_set1_ps(c.offset);
    e->thr_lo = _mm512_loadu_ps(c.thr);
    e->thr_hi = _mm512_loadu_ps(c.thr + 16);
    e->below_lo = _mm512_loadu_si512(c.below);
    e->below_hi = _mm512_loadu_si512(c.below + 16);
    e->above_lo = _mm512_loadu_si512(c.above);
    e->above_hi = _mm512_loadu_si512(c.above + 16);

    e->nf4 = type == KBIT_NF4;
    if (e->nf4) {
        e->t0 = shifted_table(&kbit_nf4_threshold, 15, 0);
        e->t1 = shifted_table(&kbit_nf4_threshold, 15, 1);
        e->t3 = shifted_table(&kbit_nf4_threshold, 15, 3);
        e->t7 = _mm512_set1_ps(kbit_nf4_threshold.f[7]);
    } else {
        e->t0 = shifted_table(&kbit_fp4_threshold, 7, 0);
        e->t1 = shifted_table(&kbit_fp4_threshold, 7, 1);
        e->t3 = _mm512_set1_ps(kbit_fp4_threshold.f[3]);
        e->t7 = e->t3;
    }
    /* The FP4 magnitudes in ascending order are codes 0,1,6,7,4,5,2,3. */
    e->fp4_rank_to_code = _mm512_setr_epi32(0, 1, 6, 7, 4, 5, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0);
}

/* The fast encoder: one cell lookup and one comparison (valid for
 * |x| <= 1 + 2^-22 and NaN, i.e. whenever the block's reciprocal is finite). */
KBIT_INLINE __m512i cell_encode(const enc4 *e, __m512 x)
{
    __m512 y = _mm512_add_ps(_mm512_mul_ps(x, e->scale), e->offset);
    __m512i k = _mm512_cvt_roundps_epi32(y, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    __m512 thr = _mm512_permutex2var_ps(e->thr_lo, k, e->thr_hi); /* uses k & 31 */
    __mmask16 above = _mm512_cmp_ps_mask(thr, x, _CMP_LT_OQ);
    __m512i below_code = _mm512_permutex2var_epi32(e->below_lo, k, e->below_hi);
    __m512i above_code = _mm512_permutex2var_epi32(e->above_lo, k, e->above_hi);
    return _mm512_mask_blend_epi32(above, below_code, above_code);
}

/* pos += h where table[pos] < x. */
KBIT_INLINE __m512i search_step(__m512i pos, __m512 table, __m512 x, int h)
{
    __mmask16 lt = _mm512_cmp_ps_mask(_mm512_permutexvar_ps(pos, table), x, _CMP_LT_OQ);
    return _mm512_mask_add_epi32(pos, lt, pos, _mm512_set1_epi32(h));
}

/* NF4 by binary search: count of the 15 thresholds strictly below x (NaN -> 0). */
KBIT_INLINE __m512i nf4_search(const enc4 *e, __m512 x)
{
    __mmask16 lt = _mm512_cmp_ps_mask(e->t7, x, _CMP_LT_OQ);
    __m512i pos = _mm512_maskz_mov_epi32(lt, _mm512_set1_epi32(8));
    pos = search_step(pos, e->t3, x, 4);
    pos = search_step(pos, e->t1, x, 2);
    return search_step(pos, e->t0, x, 1);
}

/* FP4 by binary search: rank of |x| among t_a..t_g (= the comparison tree),
 * mapped to the magnitude code, plus 8 when x < 0. */
KBIT_INLINE __m512i fp4_search(const enc4 *e, __m512 x)
{
    __m512 a = k512_abs(x);
    __mmask16 lt = _mm512_cmp_ps_mask(e->t3, a, _CMP_LT_OQ);
    __m512i pos = _mm512_maskz_mov_epi32(lt, _mm512_set1_epi32(4));
    pos = search_step(pos, e->t1, a, 2);
    pos = search_step(pos, e->t0, a, 1);
    __m512i code = _mm512_permutexvar_epi32(pos, e->fp4_rank_to_code);
    __mmask16 neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
    return _mm512_mask_or_epi32(code, neg, code, _mm512_set1_epi32(8));
}

/* fast: the cell encoder (a constant at every call site); else the search,
 * which is exact for every x. */
KBIT_INLINE __m512i encode(const enc4 *e, int fast, __m512 x)
{
    if (fast)
        return cell_encode(e, x);
    return e->nf4 ? nf4_search(e, x) : fp4_search(e, x);
}

/* 32 codes (element order) -> 16 bytes, even element in the high nibble. */
KBIT_INLINE __m128i pack32(__m512i c0, __m512i c1)
{
    __m256i bytes = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm512_cvtepi32_epi8(c0)),
                                            _mm512_cvtepi32_epi8(c1), 1);
    /* each byte pair (even, odd) -> 16 * even + odd */
    __m256i pairs = _mm256_maddubs_epi16(bytes, _mm256_set1_epi16(0x0110));
    return _mm256_cvtepi16_epi8(pairs);
}

/* 64 codes -> 32 bytes. The saturating packs interleave 128-bit lanes: lane L
 * of the result holds elements 4L..4L+3 of c0, c1, c2, c3 in turn, which one
 * dword permute puts back in order. */
KBIT_INLINE __m256i pack64(__m512i c0, __m512i c1, __m512i c2, __m512i c3)
{
    __m512i b = _mm512_packus_epi16(_mm512_packus_epi32(c0, c1), _mm512_packus_epi32(c2, c3));
    b = _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), b);
    return _mm512_cvtepi16_epi8(_mm512_maddubs_epi16(b, _mm512_set1_epi16(0x0110)));
}

/* Pass 2 of a block: encode v * r from src (the block's values as fp32 when
 * dtype is F32 with src = x + start, or a buffer of them) into out. */
KBIT_INLINE void encode_block(const enc4 *e, int fast, const float *src, int64_t count, __m512 r,
                              uint8_t *out)
{
    int64_t i = 0;
    for (; i + 64 <= count; i += 64) {
        __m512i c0 = encode(e, fast, _mm512_mul_ps(_mm512_loadu_ps(src + i), r));
        __m512i c1 = encode(e, fast, _mm512_mul_ps(_mm512_loadu_ps(src + i + 16), r));
        __m512i c2 = encode(e, fast, _mm512_mul_ps(_mm512_loadu_ps(src + i + 32), r));
        __m512i c3 = encode(e, fast, _mm512_mul_ps(_mm512_loadu_ps(src + i + 48), r));
        _mm256_storeu_si256((__m256i *)(out + i / 2), pack64(c0, c1, c2, c3));
    }
    for (; i < count; i += 32) { /* lanes past the end read +0.0: the padding element */
        int64_t rest = count - i;
        __m512i c0 = encode(e, fast, _mm512_mul_ps(_mm512_maskz_loadu_ps(k512_mask(rest), src + i), r));
        __m512i c1 = encode(e, fast, _mm512_mul_ps(_mm512_maskz_loadu_ps(k512_mask(rest - 16), src + i + 16), r));
        __m128i bytes = pack32(c0, c1);
        if (rest >= 32)
            _mm_storeu_si128((__m128i *)(out + i / 2), bytes);
        else
            _mm_mask_storeu_epi8(out + i / 2, k512_mask((rest + 1) / 2), bytes);
    }
}

KBIT_INLINE void quantize_block(const kbit_op_quantize_4bit *op, enc4 e, float *buf,
                                kbit_dtype dtype, int64_t b)
{
    /* e is a by-value copy: the byte stores below may alias anything, which
     * would otherwise force the tables to be reloaded after every store. */
    const void *x = op->x;
    int64_t start = b * op->blocksize;
    int64_t count = kbit_block_count(op->n, op->blocksize, b);

    /* Pass 1: absmax; fp16/bf16 are widened once into buf for pass 2. */
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int64_t i = 0;
    const int64_t esize = dtype == KBIT_F32 ? 4 : 2;
    for (; i + 32 <= count; i += 32) {
        kbit_cpu_prefetch(x, (start + i) * esize);
        if (dtype == KBIT_F32)
            kbit_cpu_prefetch(x, (start + i) * esize + 64);
        __m512 v0 = k512_load(x, dtype, start + i), v1 = k512_load(x, dtype, start + i + 16);
        if (dtype != KBIT_F32) {
            _mm512_storeu_ps(buf + i, v0);
            _mm512_storeu_ps(buf + i + 16, v1);
        }
        acc0 = _mm512_max_ps(k512_abs(v0), acc0);
        acc1 = _mm512_max_ps(k512_abs(v1), acc1);
    }
    for (; i < count; i += 16) { /* masked-off lanes read +0.0, which cannot raise the max */
        __m512 v = k512_load_mask(x, dtype, start + i, k512_mask(count - i));
        if (dtype != KBIT_F32)
            _mm512_storeu_ps(buf + i, v);
        acc0 = _mm512_max_ps(k512_abs(v), acc0);
    }
    float absmax = _mm512_reduce_max_ps(_mm512_max_ps(acc0, acc1));
    op->absmax[b] = absmax;
    float r = 1.0f / absmax;

    /* Pass 2. */
    const float *src = dtype == KBIT_F32 ? (const float *)x + start : buf;
    uint8_t *out = op->packed + start / 2;
    if (e.cells_ok && r < INFINITY)
        encode_block(&e, 1, src, count, _mm512_set1_ps(r), out);
    else /* absmax 0 or tiny: x' may be +-inf, outside the cells' domain */
        encode_block(&e, 0, src, count, _mm512_set1_ps(r), out);
}

void kbit_avx512_quantize_4bit(const kbit_op_quantize_4bit *op, int64_t block_begin, int64_t block_end)
{
    enc4 e;
    enc4_init(&e, op->type);
    _Alignas(64) float buf[KBIT_MAX_BLOCK];
#define RUN(DT)                                                \
    for (int64_t b = block_begin; b < block_end; b++)          \
        quantize_block(op, e, buf, DT, b)
    KBIT_DTYPE_SWITCH(op->dtype, RUN);
#undef RUN
}

/* 16 packed bytes -> the codes of elements 0..15 and 16..31 as lane indices
 * (even lanes: byte >> 4; odd lanes: the byte, whose low 4 bits vpermps uses). */
KBIT_INLINE void unpack_nibbles(__m128i bytes, __m512i *lo, __m512i *hi)
{
    const __m128i dup_lo = _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    const __m128i dup_hi = _mm_setr_epi8(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
    const __m512i shift = _mm512_setr_epi32(4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0);
    *lo = _mm512_srlv_epi32(_mm512_cvtepu8_epi32(_mm_shuffle_epi8(bytes, dup_lo)), shift);
    *hi = _mm512_srlv_epi32(_mm512_cvtepu8_epi32(_mm_shuffle_epi8(bytes, dup_hi)), shift);
}

/* 32 packed bytes -> word indices of elements 0..31 and 32..63 for vpermw:
 * even lanes hold byte >> 4, odd lanes the whole byte (vpermw reads bits
 * 0..4 of it, and the word table repeats its 16 entries, so bit 4 is moot). */
KBIT_INLINE void unpack_nibbles_w(__m256i bytes, __m512i *lo, __m512i *hi)
{
    const __m512i dup_lo = _mm512_set_epi16(15, 15, 14, 14, 13, 13, 12, 12, 11, 11, 10, 10, 9, 9, 8, 8,
                                            7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
    const __m512i dup_hi = _mm512_add_epi16(dup_lo, _mm512_set1_epi16(16));
    const __m512i shift = _mm512_set1_epi32(4); /* words 4, 0, 4, 0, ... */
    __m512i w = _mm512_cvtepu8_epi16(bytes);
    *lo = _mm512_srlv_epi16(_mm512_permutexvar_epi16(dup_lo, w), shift);
    *hi = _mm512_srlv_epi16(_mm512_permutexvar_epi16(dup_hi, w), shift);
}

KBIT_INLINE void store_words(void *out, int64_t i, __m512i v, int stream)
{
    uint16_t *p = (uint16_t *)out + i;
    if (stream)
        _mm512_stream_si512((void *)p, v);
    else
        _mm512_storeu_si512((void *)p, v);
}

/* stream and dtype are constants at every call. Full 32-element steps of a
 * block start at a multiple of 32 elements, so they are aligned for
 * streaming whenever the output is.
 * fp16/bf16 outputs: the block's 16 results T(DEC[q] * absmax) are rounded
 * once into a word table (the same conversion as every element's), which
 * vpermw looks up 64 elements at a time without a conversion per element. */
KBIT_INLINE void dequantize_block(const kbit_op_dequantize_4bit *op, __m512 dec, int stream,
                                  kbit_dtype dtype, int64_t b)
{
    int64_t start = b * op->blocksize;
    int64_t count = kbit_block_count(op->n, op->blocksize, b);
    __m512 table = _mm512_mul_ps(dec, _mm512_set1_ps(op->absmax[b]));
    const uint8_t *in = op->packed + start / 2;
    __m512i lo, hi;
    int64_t i = 0;
    if (dtype != KBIT_F32 && count >= 64) {
        __m512i words = _mm512_broadcast_i64x4(k512_to_half(table, dtype));
        for (; i + 64 <= count; i += 64) {
            kbit_cpu_prefetch(in, i / 2);
            unpack_nibbles_w(_mm256_loadu_si256((const __m256i *)(in + i / 2)), &lo, &hi);
            store_words(op->out, start + i, _mm512_permutexvar_epi16(lo, words), stream);
            store_words(op->out, start + i + 32, _mm512_permutexvar_epi16(hi, words), stream);
        }
    }
    for (; i + 32 <= count; i += 32) {
        kbit_cpu_prefetch(in, i / 2);
        unpack_nibbles(_mm_loadu_si128((const __m128i *)(in + i / 2)), &lo, &hi);
        k512_store32(op->out, dtype, start + i, _mm512_permutexvar_ps(lo, table),
                     _mm512_permutexvar_ps(hi, table), stream);
    }
    if (i < count) {
        int64_t rest = count - i;
        unpack_nibbles(_mm_maskz_loadu_epi8(k512_mask((rest + 1) / 2), in + i / 2), &lo, &hi);
        k512_store_mask(op->out, dtype, start + i, _mm512_permutexvar_ps(lo, table), k512_mask(rest));
        k512_store_mask(op->out, dtype, start + i + 16, _mm512_permutexvar_ps(hi, table),
                        k512_mask(rest - 16));
    }
}

void kbit_avx512_dequantize_4bit(const kbit_op_dequantize_4bit *op, int64_t block_begin, int64_t block_end)
{
    float d[16];
    for (unsigned q = 0; q < 16; q++)
        d[q] = kbit_4bit_decode(op->type, q);
    __m512 dec = _mm512_loadu_ps(d);
#define BLOCK(STREAM, DT, b) dequantize_block(op, dec, STREAM, DT, b)
    KBIT_DEQUANT_LOOP(op, block_begin, block_end, BLOCK);
#undef BLOCK
}

