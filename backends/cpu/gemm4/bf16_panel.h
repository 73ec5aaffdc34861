/*
 * backends/cpu/gemm4/bf16_panel.h - what the two fast-mode 4-bit matmul
 * kernels share (amx.c on AMX-BF16 tiles, avx512bf16.c on AVX512_BF16's
 * vdpbf16ps; doc/determinism.md 1): the magnitude rule's test of a 16-row
 * group's absmax, the group's weight decoded once into bf16 (the only
 * rounding 5.4 allows besides the sums' order), and the write-out. Both
 * files are compiled with AVX512_BF16 (the decode's vcvtne2ps2bf16).
 *
 * The panel: per step s of 32 k, a tile of TILE_WORDS bf16: row r (weight
 * row n + r) = its 32 values bf16(DEC[q] * absmax) in k order (64 bytes);
 * rows past the group's are +0.0.
 */
#ifndef KBIT_CPU_GEMM4_BF16_PANEL_H
#define KBIT_CPU_GEMM4_BF16_PANEL_H

#include <immintrin.h>
#include <stdint.h>

#include "numerics/encode.h"
#include "gemm4.h"
#include "../x86/avx512_io.h"

#define TILE_WORDS 512 /* bf16 per panel tile: 16 rows of 64 bytes */

/* DEC[q] (numerics 1.9) for q = 0..15, in one register. */
static __m512 kbit_bf16_dec(kbit_quant_type type)
{
    float dec[16];
    for (unsigned q = 0; q < 16; q++)
        dec[q] = kbit_4bit_decode(type, q);
    return _mm512_loadu_ps(dec);
}

/* 1 if every absmax of weight rows [n, n + rows) (one contiguous span)
 * keeps the magnitude rule of gemm4.h, else 0 (the group then runs exact). */
static int kbit_bf16_group_absmax_ok(const kbit_op_gemm_4bit *op, int lg, int64_t n, int rows)
{
    int64_t b = (n * op->K) >> lg, end = (((n + rows) * op->K - 1) >> lg) + 1;
    const __m512 lo = _mm512_set1_ps(KBIT_CPU_GEMM4_FAST_MIN);
    const __m512 hi = _mm512_set1_ps(KBIT_CPU_GEMM4_FAST_MAX);
    for (; b < end; b += 16) {
        __mmask16 live = k512_mask(end - b);
        __m512 a = _mm512_abs_ps(_mm512_maskz_loadu_ps(live, op->absmax + b));
        /* 0, or 2^-40 <= a < 2^40; NaN fails both */
        __mmask16 good = _mm512_cmp_ps_mask(a, _mm512_setzero_ps(), _CMP_EQ_OQ) |
                         (_mm512_cmp_ps_mask(a, lo, _CMP_GE_OQ) &
                          _mm512_cmp_ps_mask(a, hi, _CMP_LT_OQ));
        if ((good & live) != live)
            return 0;
    }
    return 1;
}

/* Steps s and, when two, s + 1 of one weight row (f0 = its flat index at
 * k = 32 s) into dst0 and dst1: 32 bf16 of bf16(DEC[q] * absmax) each, in
 * k order. vpermw looks the bf16 up in a 32-word table holding step s's
 * table in words 0-15 and step s + 1's in 16-31 (one conversion for two
 * steps); it reads the low 5 bits of each word index: byte i of the packed
 * row gives word 2i = byte >> 4 (even k, the high nibble) and word 2i + 1 =
 * byte & 15, plus 16 for step s + 1. */
static inline void kbit_bf16_decode_pair(const kbit_op_gemm_4bit *op, __m512 dec, int lg,
                                         int64_t f0, int two, uint16_t *dst0, uint16_t *dst1)
{
    const __m512i low4 = _mm512_set1_epi32(0x000f000f), second = _mm512_set1_epi32(0x00100010);
    int64_t f1 = two ? f0 + 32 : f0;
    __m512 t0 = _mm512_mul_ps(dec, _mm512_set1_ps(op->absmax[f0 >> lg]));
    __m512 t1 = _mm512_mul_ps(dec, _mm512_set1_ps(op->absmax[f1 >> lg]));
    __m512i table = (__m512i)_mm512_cvtne2ps_pbh(t1, t0); /* RNE, once */
    __m512i v0 = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(op->packed + f0 / 2)));
    __m512i i0 = _mm512_and_si512(
        _mm512_or_si512(_mm512_slli_epi32(v0, 16), _mm512_srli_epi32(v0, 4)), low4);
    _mm512_store_si512(dst0, _mm512_permutexvar_epi16(i0, table));
    if (!two)
        return;
    __m512i v1 = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(op->packed + f1 / 2)));
    /* ((v1 << 16) | (v1 >> 4)) & 0x000f000f | 0x00100010: 0xEA = (A & B) | C */
    __m512i i1 = _mm512_ternarylogic_epi32(
        _mm512_or_si512(_mm512_slli_epi32(v1, 16), _mm512_srli_epi32(v1, 4)), low4, second,
        0xEA);
    _mm512_store_si512(dst1, _mm512_permutexvar_epi16(i1, table));
}

/* Decode weight rows [n, n + rows) (rows <= 16; the others are +0.0), all
 * steps, into the panel. */
static void kbit_bf16_decode_panel(const kbit_op_gemm_4bit *op, __m512 dec, int lg, int64_t n,
                                   int rows, int64_t steps, uint16_t *panel)
{
    for (int r = 0; r < 16; r++) {
        if (r >= rows) {
            for (int64_t s = 0; s < steps; s++)
                _mm512_store_si512(panel + s * TILE_WORDS + r * 32, _mm512_setzero_si512());
            continue;
        }
        const int64_t f = (n + r) * op->K;
        for (int64_t s = 0; s < steps; s += 2)
            kbit_bf16_decode_pair(op, dec, lg, f + 32 * s, s + 1 < steps,
                                  panel + s * TILE_WORDS + r * 32, panel + (s + 1) * TILE_WORDS + r * 32);
    }
}

/* out[m][n + r] = T(C[r][m] + bias) for the count m tiles from mt0, with
 * c holding 16 x 16 fp32 per tile (C[r][i] at r * 16 + i); m tile t's sum
 * is tile t plus, with splits > 1 (partial sums in spare tiles), tiles
 * t + count, t + 2 count, ... up to splits terms. */
static void kbit_bf16_write_out(const kbit_op_gemm_4bit *op, const float *c, int64_t n, int rows,
                                int64_t mt0, int count, int splits)
{
    for (int r = 0; r < rows; r++) {
        float bias = 0.0f;
        if (op->bias != NULL)
            kbit_load_f32(op->bias, op->dtype, n + r, 1, &bias);
        for (int t = 0; t < count; t++)
            for (int i = 0; i < 16; i++) {
                int64_t m = (mt0 + t) * 16 + i;
                if (m >= op->M)
                    break;
                float v = c[t * 256 + r * 16 + i];
                for (int k = 1; k < splits; k++)
                    v = v + c[(t + k * count) * 256 + r * 16 + i];
                if (op->bias != NULL)
                    v = v + bias;
                kbit_store_f32(op->out, op->dtype, m * op->N + n + r, 1, &v);
            }
    }
}

#endif /* KBIT_CPU_GEMM4_BF16_PANEL_H */
