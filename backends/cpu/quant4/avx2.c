/*
 * backends/cpu/quant4/avx2.c - AVX2 NF4/FP4 blockwise kernels,
 * bit-identical to ref/quant4.c.
 *
 * Same plan as the AVX-512 file: absmax with vmaxps (the accumulator is the
 * second operand, so NaN lanes are ignored) for a chunk of blocks, then the
 * encoding, 32 elements -> 16 bytes: NF4 by 8 cells of three thresholds
 * (cells.c), FP4 (and a block whose reciprocal is +inf) by a branch-free
 * binary search whose thresholds come from 8-entry vpermps tables.
 * Dequantize: per block, DEC[q] * absmax tables (the reference's product)
 * looked up with vpermps; for fp16/bf16 outputs rounded once per block into
 * byte tables that vpshufb looks up 64 elements at a time. The last (< 32)
 * elements of a block use the scalar rules of numerics/encode.h.
 */
#include "../x86/avx2_io.h"
#include "numerics/encode.h"
#include "quant4.h"

/* Search level of step h over sorted thresholds t[0..count-1]: entry k is
 * t[k * 2h + h - 1], the threshold compared when pos = k * 2h. */
static __m256 level_table(const float *t, int count, int h)
{
    float f[8];
    for (int k = 0; k < 8; k++) {
        int i = k * 2 * h + h - 1;
        f[k] = i < count ? t[i] : 0.0f; /* never selected */
    }
    return _mm256_loadu_ps(f);
}

typedef struct enc4 {
    __m256 l8, l4, l2, l1; /* NF4: levels h = 8, 4, 2, 1; FP4: l4, l2, l1 */
    int nf4;
    /* NF4's cells (cells.c, kbit_enc4_cells8; its ranks are its codes) */
    int cells_ok;
    __m256 scale, offset, thr[3];
    __m256i rank;
} enc4;

static void enc4_init(enc4 *e, kbit_quant_type type)
{
    kbit_enc4_cells8 c;
    kbit_enc4_cells8_init(&c, type);
    e->nf4 = type == KBIT_NF4;
    /* only NF4's grid is ok, and its ranks are its codes */
    e->cells_ok = c.ok && e->nf4;
    e->scale = _mm256_set1_ps(c.scale);
    e->offset = _mm256_set1_ps(c.offset);
    for (int j = 0; j < 3; j++)
        e->thr[j] = _mm256_loadu_ps(c.thr[j]);
    e->rank = _mm256_loadu_si256((const __m256i *)c.rank);
    const float *t = e->nf4 ? kbit_nf4_threshold.f : kbit_fp4_threshold.f;
    int count = e->nf4 ? 15 : 7;
    e->l8 = level_table(t, count, 8);
    e->l4 = level_table(t, count, 4);
    e->l2 = level_table(t, count, 2);
    e->l1 = level_table(t, count, 1);
}

/* pos += h where table[pos >> shift] < x. */
KBIT_INLINE __m256i step(__m256i pos, __m256 table, int shift, __m256 x, int h)
{
    __m256 t = _mm256_permutevar8x32_ps(table, _mm256_srli_epi32(pos, shift));
    __m256i lt = _mm256_castps_si256(_mm256_cmp_ps(t, x, _CMP_LT_OQ));
    return _mm256_add_epi32(pos, _mm256_and_si256(lt, _mm256_set1_epi32(h)));
}

KBIT_INLINE __m256i nf4_encode(const enc4 *e, __m256 x)
{
    __m256i pos = _mm256_setzero_si256();
    pos = step(pos, e->l8, 4, x, 8);
    pos = step(pos, e->l4, 3, x, 4);
    pos = step(pos, e->l2, 2, x, 2);
    return step(pos, e->l1, 1, x, 1);
}

KBIT_INLINE __m256i fp4_encode(const enc4 *e, __m256 x)
{
    __m256 a = k256_abs(x);
    __m256i pos = _mm256_setzero_si256();
    pos = step(pos, e->l4, 3, a, 4);
    pos = step(pos, e->l2, 2, a, 2);
    pos = step(pos, e->l1, 1, a, 1);
    /* rank of |x| -> magnitude code (ascending magnitudes: 0,1,6,7,4,5,2,3) */
    __m256i code = _mm256_permutevar8x32_epi32(_mm256_setr_epi32(0, 1, 6, 7, 4, 5, 2, 3), pos);
    __m256i neg = _mm256_castps_si256(_mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ));
    return _mm256_or_si256(code, _mm256_and_si256(neg, _mm256_set1_epi32(8)));
}

/* NF4 by its cells: three thresholds per cell; valid for |x| <= 1 + 2^-22
 * and NaN (cvttps gives 0x80000000: cell 0). */
KBIT_INLINE __m256i nf4_cells(const enc4 *e, __m256 x)
{
    __m256i k = _mm256_cvttps_epi32(_mm256_fmadd_ps(x, e->scale, e->offset)); /* cells.c's cell() */
    __m256i rank = _mm256_permutevar8x32_epi32(e->rank, k); /* uses k & 7 */
    for (int j = 0; j < 3; j++) { /* a true comparison is -1: subtracting adds one */
        __m256 t = _mm256_permutevar8x32_ps(e->thr[j], k);
        rank = _mm256_sub_epi32(rank, _mm256_castps_si256(_mm256_cmp_ps(t, x, _CMP_LT_OQ)));
    }
    return rank;
}

/* cells (a constant): NF4's cells; else the search (exact for every x). */
KBIT_INLINE __m256i encode(const enc4 *e, int cells, __m256 x)
{
    if (cells)
        return nf4_cells(e, x);
    return e->nf4 ? nf4_encode(e, x) : fp4_encode(e, x);
}

/* 32 codes 0..15 -> 16 bytes, even element in the high nibble. */
KBIT_INLINE __m128i pack_nibbles(__m256i c0, __m256i c1, __m256i c2, __m256i c3)
{
    __m256i bytes = k256_pack_bytes(c0, c1, c2, c3);
    __m256i pairs = _mm256_maddubs_epi16(bytes, _mm256_set1_epi16(0x0110)); /* 16 * even + odd */
    __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi16(pairs, pairs), 0x08);
    return _mm256_castsi256_si128(packed);
}

/* Pass 1 of block b: its absmax, stored, and the reciprocal returned;
 * fp16/bf16 are widened once into buf for pass 2. */
KBIT_INLINE float absmax_block(const kbit_op_quantize_4bit *op, float *buf, kbit_dtype dtype,
                               int64_t b)
{
    const void *x = op->x;
    int64_t start = b * op->blocksize;
    int64_t count = kbit_block_count(op->n, op->blocksize, b);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    const int64_t esize = dtype == KBIT_F32 ? 4 : 2;
    for (; i + 16 <= count; i += 16) {
        kbit_cpu_prefetch(x, (start + i) * esize);
        __m256 v0 = k256_load(x, dtype, start + i), v1 = k256_load(x, dtype, start + i + 8);
        if (dtype != KBIT_F32) {
            _mm256_storeu_ps(buf + i, v0);
            _mm256_storeu_ps(buf + i + 8, v1);
        }
        acc0 = _mm256_max_ps(k256_abs(v0), acc0);
        acc1 = _mm256_max_ps(k256_abs(v1), acc1);
    }
    float absmax = k256_reduce_max(_mm256_max_ps(acc0, acc1));
    if (i < count) {
        kbit_load_f32(x, dtype, start + i, count - i, buf + i);
        float m = kbit_absmax(buf + i, count - i);
        if (m > absmax)
            absmax = m;
    }
    op->absmax[b] = absmax;
    return 1.0f / absmax;
}

/* Blocks go in chunks of up to CHUNK_FLOATS values: every absmax and
 * reciprocal of a chunk first, then its encoding, which then does not wait
 * on each block's division (its values are still in L1). */
#define CHUNK_FLOATS 1024

/* Pass 2 of block b with reciprocal r; the values come from x (fp32) or from
 * the buf that absmax_block filled; cells: a constant for encode. */
KBIT_INLINE void encode_block_as(const kbit_op_quantize_4bit *op, const enc4 *e, int cells,
                                 const float *buf, kbit_dtype dtype, int64_t b, float r)
{
    int64_t start = b * op->blocksize;
    int64_t count = kbit_block_count(op->n, op->blocksize, b);
    __m256 rv = _mm256_set1_ps(r);
    const float *src = dtype == KBIT_F32 ? (const float *)op->x + start : buf;
    uint8_t *out = op->packed + start / 2;
    const int64_t esize = dtype == KBIT_F32 ? 4 : 2;
    int64_t i = 0;
    for (; i + 32 <= count; i += 32) {
        /* the next chunk's lines, so that memory keeps streaming while this
         * chunk is encoded (absmax_block prefetches only a little ahead) */
        kbit_cpu_prefetch(op->x, (start + i + CHUNK_FLOATS) * esize);
        if (dtype == KBIT_F32)
            kbit_cpu_prefetch(op->x, (start + i + CHUNK_FLOATS) * esize + 64);
        __m256i c0 = encode(e, cells, _mm256_mul_ps(_mm256_loadu_ps(src + i), rv));
        __m256i c1 = encode(e, cells, _mm256_mul_ps(_mm256_loadu_ps(src + i + 8), rv));
        __m256i c2 = encode(e, cells, _mm256_mul_ps(_mm256_loadu_ps(src + i + 16), rv));
        __m256i c3 = encode(e, cells, _mm256_mul_ps(_mm256_loadu_ps(src + i + 24), rv));
        _mm_storeu_si128((__m128i *)(out + i / 2), pack_nibbles(c0, c1, c2, c3));
    }
    if (i < count) { /* as the reference, including the padding nibble of an odd n */
        unsigned (*enc1)(float) = e->nf4 ? kbit_nf4_encode : kbit_fp4_encode;
        int64_t j = i;
        for (; j + 1 < count; j += 2)
            out[j / 2] = (uint8_t)((enc1(src[j] * r) << 4) | enc1(src[j + 1] * r));
        if (j < count)
            out[j / 2] = (uint8_t)((enc1(src[j] * r) << 4) | enc1(0.0f * r));
    }
}

/* NF4's cells where they apply (a finite reciprocal: |x * r| <= 1 + 2^-22),
 * else the search. */
KBIT_INLINE void encode_block(const kbit_op_quantize_4bit *op, const enc4 *e, const float *buf,
                              kbit_dtype dtype, int64_t b, float r)
{
    if (e->cells_ok && r < INFINITY)
        encode_block_as(op, e, 1, buf, dtype, b, r);
    else
        encode_block_as(op, e, 0, buf, dtype, b, r);
}

KBIT_INLINE void quantize_blocks(const kbit_op_quantize_4bit *op, enc4 e, float *buf,
                                 kbit_dtype dtype, int64_t b0, int64_t b1)
{
    /* e is a by-value copy: the byte stores may alias anything, which would
     * otherwise force the tables to be reloaded after every store. */
    const int64_t bs = op->blocksize, per_chunk = bs < CHUNK_FLOATS ? CHUNK_FLOATS / bs : 1;
    float r[CHUNK_FLOATS];
    for (int64_t b = b0; b < b1; b += per_chunk) {
        int64_t end = b + per_chunk < b1 ? b + per_chunk : b1;
        for (int64_t j = b; j < end; j++)
            r[j - b] = absmax_block(op, buf + (j - b) * bs, dtype, j);
        for (int64_t j = b; j < end; j++)
            encode_block(op, &e, buf + (j - b) * bs, dtype, j, r[j - b]);
    }
}

void kbit_avx2_quantize_4bit(const kbit_op_quantize_4bit *op, int64_t block_begin, int64_t block_end)
{
    enc4 e;
    enc4_init(&e, op->type);
    /* one block of up to KBIT_MAX_BLOCK values, or a chunk of CHUNK_FLOATS */
    _Alignas(32) float buf[KBIT_MAX_BLOCK > CHUNK_FLOATS ? KBIT_MAX_BLOCK : CHUNK_FLOATS];
#define RUN(DT) quantize_blocks(op, e, buf, DT, block_begin, block_end)
    KBIT_DTYPE_SWITCH(op->dtype, RUN);
#undef RUN
}

typedef struct dec4 {
    __m256 lo, hi; /* NF4: DEC[0..7], DEC[8..15]; FP4: lo = magnitudes */
    int nf4;
} dec4;

/* 8 codes as lane indices -> DEC[q] * absmax, from the block's tables. */
KBIT_INLINE __m256 lookup(const dec4 *d, __m256i idx)
{
    __m256 lo = _mm256_permutevar8x32_ps(d->lo, idx); /* uses idx bits 0..2 */
    if (d->nf4) {
        __m256 hi = _mm256_permutevar8x32_ps(d->hi, idx);
        return _mm256_blendv_ps(lo, hi, _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28))); /* bit 3 */
    }
    /* FP4: (-m) * a == -(m * a) exactly, so code bit 3 flips the product's sign */
    __m256i sign = _mm256_slli_epi32(_mm256_srli_epi32(idx, 3), 31);
    return _mm256_xor_ps(lo, _mm256_castsi256_ps(sign));
}

/* Packed bytes 4k..4k+3 -> codes of elements 8k..8k+7 (even lanes byte >> 4,
 * odd lanes the whole byte, of which only the low bits are used). */
KBIT_INLINE __m256i unpack8(__m128i bytes, __m128i dup)
{
    const __m256i shift = _mm256_setr_epi32(4, 0, 4, 0, 4, 0, 4, 0);
    return _mm256_srlv_epi32(_mm256_cvtepu8_epi32(_mm_shuffle_epi8(bytes, dup)), shift);
}

/* 8 results rounded to fp16 (in the low half of each lane) or bf16 (in the
 * upper half), the same conversions as every element's. */
KBIT_INLINE __m256i half8_lanes(__m256 v, kbit_dtype dtype)
{
    if (dtype == KBIT_F16)
        return _mm256_cvtepu16_epi32(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
    return k256_bf16_upper(v);
}

/* fp16/bf16 outputs: the block's 16 results DEC[q] * absmax (d's tables,
 * rounded once) as two vpshufb tables in both lanes, the low and the high
 * byte of each. */
KBIT_INLINE void half_tables(const dec4 *d, kbit_dtype dtype, __m256i *lo_bytes, __m256i *hi_bytes)
{
    /* per lane half: dword 0 = low bytes of its 4 entries, dword 1 = high bytes */
    const __m256i pick = dtype == KBIT_F16
        ? _mm256_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, -1, -1, -1, -1, -1, -1, -1, -1,
                           0, 4, 8, 12, 1, 5, 9, 13, -1, -1, -1, -1, -1, -1, -1, -1)
        : _mm256_setr_epi8(2, 6, 10, 14, 3, 7, 11, 15, -1, -1, -1, -1, -1, -1, -1, -1,
                           2, 6, 10, 14, 3, 7, 11, 15, -1, -1, -1, -1, -1, -1, -1, -1);
    __m256i b0 = _mm256_shuffle_epi8(half8_lanes(d->lo, dtype), pick); /* entries 0-3 | 4-7 */
    __m256i b1 = _mm256_shuffle_epi8(half8_lanes(d->hi, dtype), pick); /* entries 8-11 | 12-15 */
    /* halves [lo 0-3, lo 8-11, hi 0-3, hi 8-11], [lo 4-7, lo 12-15, hi 4-7, hi 12-15] */
    __m256i u = _mm256_unpacklo_epi32(b0, b1);
    *lo_bytes = _mm256_permutevar8x32_epi32(u, _mm256_setr_epi32(0, 4, 1, 5, 0, 4, 1, 5));
    *hi_bytes = _mm256_permutevar8x32_epi32(u, _mm256_setr_epi32(2, 6, 3, 7, 2, 6, 3, 7));
}

KBIT_INLINE void store_half16(void *out, int64_t i, __m256i v, int stream)
{
    __m256i *p = (__m256i *)((uint16_t *)out + i);
    if (stream)
        _mm256_stream_si256(p, v);
    else
        _mm256_storeu_si256(p, v);
}

/* 64 elements of fp16/bf16 from 32 packed bytes: vpshufb looks up the
 * nibbles, two rounds of in-lane unpacks interleave the bytes into words in
 * element order. The unpacks take each lane's bytes in quarters, so the
 * dword permute first puts packed bytes 8k..8k+3 in lane 0 and 8k+4..8k+7 in
 * lane 1 of quarter k. */
KBIT_INLINE void dequantize64_half(const uint8_t *in, __m256i lo_bytes, __m256i hi_bytes,
                                   void *out, int64_t i, int stream)
{
    const __m256i nib = _mm256_set1_epi8(15);
    __m256i b = _mm256_loadu_si256((const __m256i *)in);
    b = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7));
    __m256i even = _mm256_and_si256(_mm256_srli_epi16(b, 4), nib), odd = _mm256_and_si256(b, nib);
    __m256i el = _mm256_shuffle_epi8(lo_bytes, even), eh = _mm256_shuffle_epi8(hi_bytes, even);
    __m256i ol = _mm256_shuffle_epi8(lo_bytes, odd), oh = _mm256_shuffle_epi8(hi_bytes, odd);
    __m256i e0 = _mm256_unpacklo_epi8(el, eh), e1 = _mm256_unpackhi_epi8(el, eh);
    __m256i o0 = _mm256_unpacklo_epi8(ol, oh), o1 = _mm256_unpackhi_epi8(ol, oh);
    store_half16(out, i, _mm256_unpacklo_epi16(e0, o0), stream);
    store_half16(out, i + 16, _mm256_unpackhi_epi16(e0, o0), stream);
    store_half16(out, i + 32, _mm256_unpacklo_epi16(e1, o1), stream);
    store_half16(out, i + 48, _mm256_unpackhi_epi16(e1, o1), stream);
}

/* stream and dtype are constants at every call. Full 32-element steps start
 * at a multiple of 32 elements: aligned for streaming whenever the output is. */
KBIT_INLINE void dequantize_block(const kbit_op_dequantize_4bit *op, dec4 d, int stream,
                                  kbit_dtype dtype, int64_t b)
{
    int64_t start = b * op->blocksize;
    int64_t count = kbit_block_count(op->n, op->blocksize, b);
    float absmax = op->absmax[b];
    __m256 a = _mm256_set1_ps(absmax);
    d.lo = _mm256_mul_ps(d.lo, a);
    d.hi = _mm256_mul_ps(d.hi, a);
    const uint8_t *in = op->packed + start / 2;
    int64_t i = 0;
    if (dtype != KBIT_F32 && count >= 64) {
        __m256i lo_bytes, hi_bytes;
        half_tables(&d, dtype, &lo_bytes, &hi_bytes);
        for (; i + 64 <= count; i += 64) {
            kbit_cpu_prefetch(in, i / 2);
            dequantize64_half(in + i / 2, lo_bytes, hi_bytes, op->out, start + i, stream);
        }
    }
    const __m128i dup0 = _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m128i dup1 = _mm_setr_epi8(4, 4, 5, 5, 6, 6, 7, 7, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m128i dup2 = _mm_setr_epi8(8, 8, 9, 9, 10, 10, 11, 11, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m128i dup3 = _mm_setr_epi8(12, 12, 13, 13, 14, 14, 15, 15, 0, 0, 0, 0, 0, 0, 0, 0);
    for (; i + 32 <= count; i += 32) {
        kbit_cpu_prefetch(in, i / 2);
        __m128i bytes = _mm_loadu_si128((const __m128i *)(in + i / 2));
        k256_store_nt(op->out, dtype, start + i, lookup(&d, unpack8(bytes, dup0)), stream);
        k256_store_nt(op->out, dtype, start + i + 8, lookup(&d, unpack8(bytes, dup1)), stream);
        k256_store_nt(op->out, dtype, start + i + 16, lookup(&d, unpack8(bytes, dup2)), stream);
        k256_store_nt(op->out, dtype, start + i + 24, lookup(&d, unpack8(bytes, dup3)), stream);
    }
    if (i < count) {
        float tail[32];
        int64_t rest = count - i;
        for (int64_t j = 0; j < rest; j++) {
            uint8_t byte = in[(i + j) / 2];
            unsigned q = (j & 1) ? (byte & 15u) : (byte >> 4u);
            tail[j] = kbit_4bit_decode(op->type, q) * absmax;
        }
        kbit_store_f32(op->out, dtype, start + i, rest, tail);
    }
}

void kbit_avx2_dequantize_4bit(const kbit_op_dequantize_4bit *op, int64_t block_begin, int64_t block_end)
{
    float lo[8], hi[8];
    for (unsigned q = 0; q < 8; q++) {
        lo[q] = kbit_4bit_decode(op->type, q);
        hi[q] = kbit_4bit_decode(op->type, q + 8);
    }
    dec4 d = { _mm256_loadu_ps(lo), _mm256_loadu_ps(hi), op->type == KBIT_NF4 };
#define BLOCK(STREAM, DT, b) dequantize_block(op, d, STREAM, DT, b)
    KBIT_DEQUANT_LOOP(op, block_begin, block_end, BLOCK);
#undef BLOCK
}
