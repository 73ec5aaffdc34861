/*
 * backends/cpu/quant4/avx512.c - AVX-512 NF4/FP4 blockwise kernels,
 * bit-identical to ref/quant4.c.
 *
 * Quantize: pass 1 takes the block's absmax (max ignores NaN because
 * vmaxps returns its second operand, the accumulator, when the first is NaN);
 * pass 2 encodes 64 elements -> 32 bytes per step with the cell encoder of
 * cells.c (one table lookup, one comparison, then one byte shuffle per 64
 * ranks to make them codes), or, for a block whose
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
    /* cells (cells.c): 32-entry tables as two halves; rank_code in every
     * 128-bit lane, for vpshufb */
    __m512 scale, offset, thr_lo, thr_hi;
    __m512i rank_lo, rank_hi, rank_code;
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
    e->rank_lo = _mm512_loadu_si512(c.rank);
    e->rank_hi = _mm512_loadu_si512(c.rank + 16);
    e->rank_code = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)c.rank_code));

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
 * |x| <= 1 + 2^-22 and NaN, i.e. whenever the block's reciprocal is finite).
 * It gives ranks; the packing maps them to codes (rank_codes). */
KBIT_INLINE __m512i cell_rank(const enc4 *e, __m512 x)
{
    __m512 y = _mm512_fmadd_ps(x, e->scale, e->offset); /* cells.c's cell() */
    __m512i k = _mm512_cvt_roundps_epi32(y, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    __m512 thr = _mm512_permutex2var_ps(e->thr_lo, k, e->thr_hi); /* uses k & 31 */
    __mmask16 above = _mm512_cmp_ps_mask(thr, x, _CMP_LT_OQ);
    __m512i rank = _mm512_permutex2var_epi32(e->rank_lo, k, e->rank_hi);
    return _mm512_mask_add_epi32(rank, above, rank, _mm512_set1_epi32(1));
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

/* fast: the cell encoder's ranks (a constant at every call site); else the
 * codes of the search, which is exact for every x. */
KBIT_INLINE __m512i encode(const enc4 *e, int fast, __m512 x)
{
    if (fast)
        return cell_rank(e, x);
    return e->nf4 ? nf4_search(e, x) : fp4_search(e, x);
}

/* Bytes of ranks -> bytes of codes (with_ranks: the cells' ranks; NF4's are
 * its codes already). */
KBIT_INLINE __m512i rank_codes(const enc4 *e, int with_ranks, __m512i bytes)
{
    return with_ranks ? _mm512_shuffle_epi8(e->rank_code, bytes) : bytes;
}

/* 32 codes (element order) -> 16 bytes, even element in the high nibble. */
KBIT_INLINE __m128i pack32(const enc4 *e, int with_ranks, __m512i c0, __m512i c1)
{
    __m256i bytes = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm512_cvtepi32_epi8(c0)),
                                            _mm512_cvtepi32_epi8(c1), 1);
    bytes = _mm512_castsi512_si256(rank_codes(e, with_ranks, _mm512_castsi256_si512(bytes)));
    /* each byte pair (even, odd) -> 16 * even + odd */
    __m256i pairs = _mm256_maddubs_epi16(bytes, _mm256_set1_epi16(0x0110));
    return _mm256_cvtepi16_epi8(pairs);
}

/* 64 codes -> 32 bytes. The saturating packs interleave 128-bit lanes: lane L
 * of the result holds elements 4L..4L+3 of c0, c1, c2, c3 in turn, which one
 * dword permute puts back in order. */
KBIT_INLINE __m256i pack64(const enc4 *e, int with_ranks, __m512i c0, __m512i c1, __m512i c2,
                           __m512i c3)
{
    __m512i b = _mm512_packus_epi16(_mm512_packus_epi32(c0, c1), _mm512_packus_epi32(c2, c3));
    b = rank_codes(e, with_ranks, b);
    b = _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), b);
    return _mm512_cvtepi16_epi8(_mm512_maddubs_epi16(b, _mm512_set1_epi16(0x0110)));
}

/* Pass 2 of a block: encode v * r from src (the block's values as fp32 when
 * dtype is F32 with src = x + start, or a buffer of them) into out. */
KBIT_INLINE void encode_block_as(const enc4 *e, int fast, int with_ranks, const float *src,
                                 int64_t count, __m512 r, uint8_t *out)
{
    int64_t i = 0;
    for (; i + 64 <= count; i += 64) {
        __m512i c0 = encode(e, fast, _mm512_mul_ps(_mm512_loadu_ps(src + i), r));
        __m512i c1 = encode(e, fast, _mm512_mul_ps(_mm512_loadu_ps(src + i + 16), r));
        __m512i c2 = encode(e, fast, _mm512_mul_ps(_mm512_loadu_ps(src + i + 32), r));
        __m512i c3 = encode(e, fast, _mm512_mul_ps(_mm512_loadu_ps(src + i + 48), r));
        _mm256_storeu_si256((__m256i *)(out + i / 2), pack64(e, with_ranks, c0, c1, c2, c3));
    }
    for (; i < count; i += 32) { /* lanes past the end read +0.0: the padding element */
        int64_t rest = count - i;
        __m512i c0 = encode(e, fast, _mm512_mul_ps(_mm512_maskz_loadu_ps(k512_mask(rest), src + i), r));
        __m512i c1 = encode(e, fast, _mm512_mul_ps(_mm512_maskz_loadu_ps(k512_mask(rest - 16), src + i + 16), r));
        __m128i bytes = pack32(e, with_ranks, c0, c1);
        if (rest >= 32)
            _mm_storeu_si128((__m128i *)(out + i / 2), bytes);
        else
            _mm_mask_storeu_epi8(out + i / 2, k512_mask((rest + 1) / 2), bytes);
    }
}

KBIT_INLINE void encode_block(const enc4 *e, int fast, const float *src, int64_t count, __m512 r,
                              uint8_t *out)
{
    if (!fast)
        encode_block_as(e, 0, 0, src, count, r, out);
    else if (e->nf4)
        encode_block_as(e, 1, 0, src, count, r, out);
    else
        encode_block_as(e, 1, 1, src, count, r, out);
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

/* 128 ranks or codes (c[0..7], element order) -> 64 bytes. The packs work
 * within 128-bit lanes: lane L of the last one holds, for k = 0..7, the byte
 * pair of elements 16k + 4L .. 16k + 4L + 3 at word 8L + k, which belongs at
 * word 4k + L; one word permute puts them there. */
KBIT_INLINE __m512i pack128(const enc4 *e, int with_ranks, const __m512i c[8])
{
    const __m512i pairs = _mm512_set1_epi16(0x0110); /* (even, odd) -> 16 * even + odd */
    const __m512i order = _mm512_set_epi16(31, 23, 15, 7, 30, 22, 14, 6, 29, 21, 13, 5, 28, 20, 12, 4,
                                           27, 19, 11, 3, 26, 18, 10, 2, 25, 17, 9, 1, 24, 16, 8, 0);
    __m512i lo = _mm512_packus_epi16(_mm512_packus_epi32(c[0], c[1]), _mm512_packus_epi32(c[2], c[3]));
    __m512i hi = _mm512_packus_epi16(_mm512_packus_epi32(c[4], c[5]), _mm512_packus_epi32(c[6], c[7]));
    lo = _mm512_maddubs_epi16(rank_codes(e, with_ranks, lo), pairs);
    hi = _mm512_maddubs_epi16(rank_codes(e, with_ranks, hi), pairs);
    return _mm512_permutexvar_epi16(order, _mm512_packus_epi16(lo, hi));
}

/* Blocksize 64: the absmax of four blocks [b, b + 4) reduce together
 * (128-bit lane j = block j) and one division gives their reciprocals,
 * stored to r[0..3]. */
KBIT_INLINE void absmax_4x64(const kbit_op_quantize_4bit *op, kbit_dtype dtype, int64_t b, float *r)
{
    const int64_t start = b * 64, esize = dtype == KBIT_F32 ? 4 : 2;
#pragma GCC unroll 16
    for (int64_t line = 0; line < 256 * esize; line += 64)
        kbit_cpu_prefetch(op->x, start * esize + line);
    __m512 acc[4];
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        acc[j] = _mm512_setzero_ps();
#pragma GCC unroll 4
        for (int q = 0; q < 4; q++) /* max(|v|, acc) ignores NaN, as quantize_block */
            acc[j] = _mm512_max_ps(k512_abs(k512_load(op->x, dtype, start + 64 * j + 16 * q)), acc[j]);
    }
    /* No lane is NaN, so the order of the maxima does not matter. */
    __m512 m01 = _mm512_max_ps(_mm512_shuffle_f32x4(acc[0], acc[1], 0x44),
                               _mm512_shuffle_f32x4(acc[0], acc[1], 0xee));
    __m512 m23 = _mm512_max_ps(_mm512_shuffle_f32x4(acc[2], acc[3], 0x44),
                               _mm512_shuffle_f32x4(acc[2], acc[3], 0xee));
    __m512 m = _mm512_max_ps(_mm512_shuffle_f32x4(m01, m23, 0x88), _mm512_shuffle_f32x4(m01, m23, 0xdd));
    m = _mm512_max_ps(m, _mm512_permute_ps(m, 0x4e));
    m = _mm512_max_ps(m, _mm512_permute_ps(m, 0xb1));
    __m128 m4 = _mm512_castps512_ps128(
        _mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), m));
    _mm_storeu_ps(op->absmax + b, m4);
    _mm_storeu_ps(r, _mm_div_ps(_mm_set1_ps(1.0f), m4));
}

/* Blocksize 64 goes in chunks of CHUNK_BLOCKS blocks (a multiple of 4). */
#define CHUNK_BLOCKS 16

/* Blocks b, b + 1 of blocksize 64 with reciprocals r[0], r[1] -> 64 bytes. */
KBIT_INLINE void encode_2x64(const kbit_op_quantize_4bit *op, const enc4 *e, int with_ranks,
                             kbit_dtype dtype, int64_t b, const float *r)
{
    __m512 r0 = _mm512_set1_ps(r[0]), r1 = _mm512_set1_ps(r[1]);
    /* the lines of the next chunk, so that memory keeps streaming while
     * this chunk is encoded */
    const int64_t esize = dtype == KBIT_F32 ? 4 : 2;
#pragma GCC unroll 8
    for (int64_t line = 0; line < 128 * esize; line += 64)
        kbit_cpu_prefetch(op->x, (b + CHUNK_BLOCKS) * 64 * esize + line);
    __m512i c[8];
#pragma GCC unroll 4
    for (int q = 0; q < 4; q++) {
        c[q] = cell_rank(e, _mm512_mul_ps(k512_load(op->x, dtype, b * 64 + 16 * q), r0));
        c[4 + q] = cell_rank(e, _mm512_mul_ps(k512_load(op->x, dtype, b * 64 + 64 + 16 * q), r1));
    }
    _mm512_storeu_si512((void *)(op->packed + b * 32), pack128(e, with_ranks, c));
}

/* Blocks [b0, b1): blocksize 64 in chunks of up to CHUNK_BLOCKS full blocks
 * where the cells apply, else (and for the rest) one at a time. A chunk takes every
 * absmax and reciprocal first, so the encoding does not wait on a division,
 * then encodes from the values, which are still in L1. A pair of blocks with a
 * reciprocal of +inf (absmax 0 or tiny: the cells' domain ends) goes to
 * quantize_block. */
KBIT_INLINE void quantize_blocks(const kbit_op_quantize_4bit *op, enc4 e, int with_ranks,
                                 kbit_dtype dtype, int64_t b0, int64_t b1)
{
    /* e is a by-value copy, as in quantize_block */
    _Alignas(64) float buf[KBIT_MAX_BLOCK];
    const int64_t full = op->n / op->blocksize; /* blocks without a tail */
    int64_t b = b0;
    if (op->blocksize == 64 && e.cells_ok) {
        float r[CHUNK_BLOCKS];
        while (b + 4 <= b1 && b + 4 <= full) {
            int64_t chunk = 4;
            while (chunk < CHUNK_BLOCKS && b + chunk + 4 <= b1 && b + chunk + 4 <= full)
                chunk += 4;
            for (int64_t j = 0; j < chunk; j += 4)
                absmax_4x64(op, dtype, b + j, r + j);
            for (int64_t j = 0; j < chunk; j += 2) {
                if (r[j] < INFINITY && r[j + 1] < INFINITY) {
                    encode_2x64(op, &e, with_ranks, dtype, b + j, r + j);
                } else {
                    quantize_block(op, e, buf, dtype, b + j);
                    quantize_block(op, e, buf, dtype, b + j + 1);
                }
            }
            b += chunk;
        }
    }
    for (; b < b1; b++)
        quantize_block(op, e, buf, dtype, b);
}

void kbit_avx512_quantize_4bit(const kbit_op_quantize_4bit *op, int64_t block_begin, int64_t block_end)
{
    enc4 e;
    enc4_init(&e, op->type);
#define RUN(DT)                                                                  \
    do {                                                                         \
        if (e.nf4)                                                               \
            quantize_blocks(op, e, 0, DT, block_begin, block_end);               \
        else                                                                     \
            quantize_blocks(op, e, 1, DT, block_begin, block_end);               \
    } while (0)
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

