/*
 * backends/cpu/x86/avx512_enc8.h - enc8 (numerics 2.4) of 256 values at a
 * time by a binary search held in registers, for the AVX512_VBMI kernels of
 * the zen4 tuning, where the bucket table's gather is slow.
 *
 * The plan's search tables (quant8/plan.c, kbit_enc8_search) exist when its
 * bucket table does: no midpoint is zero and no two share the top 16 bits
 * of their order-preserving key. Then, with key(x) the 32-bit key (NaN
 * mapped to 0, which no threshold is below) and k16 its top 16 bits:
 *   j = the number of midpoints whose top 16 key bits are below k16, found
 *       by an 8-level binary search over 16-bit lanes (32 per register);
 *   enc8(x) = j + (key(x) > thr[j]), thr[j] = key(mid[j]) - (j & 1),
 *       thr[255] = all ones: only mid[j] can share x's top bits, and the
 *       odd j's threshold one lower makes x == mid[j] count as above (the
 *       tie rule), as the bucket table does.
 * The search's partial index is kept bit-reversed (bit l = level l's
 * answer), so that level l's table is indexed by its low l bits directly
 * (vpermw ignores the rest); thr and the final code are looked up by that
 * reversed index (x86/avx512_lut8.h), the tables being stored in its order.
 * All steps are integer comparisons of keys: the codes are the reference's.
 */
#ifndef KBIT_CPU_X86_AVX512_ENC8_H
#define KBIT_CPU_X86_AVX512_ENC8_H

#include "avx512_lut8.h"
#include "../quant8/quant8.h"

/* 8-bit lanes of 64 codes from 256-byte tables (any order). */
KBIT_INLINE __m512i k512_enc8_bytes(const uint8_t *table, __m512i idx)
{
    const __m512i q[4] = { _mm512_load_si512(table), _mm512_load_si512(table + 64),
                           _mm512_load_si512(table + 128), _mm512_load_si512(table + 192) };
    return k512_lut8_plane(q, idx, _mm512_movepi8_mask(idx));
}

/* The order-preserving key of each lane (negative: all bits flipped;
 * positive: sign bit set), 0 for NaN. */
KBIT_INLINE __m512i k512_enc8_key(__m512 y)
{
    __m512i b = _mm512_castps_si512(y);
    __m512i k = _mm512_xor_si512(b, _mm512_or_si512(_mm512_srai_epi32(b, 31),
                                                    _mm512_set1_epi32((int)0x80000000u)));
    return _mm512_maskz_mov_epi32(_mm512_cmp_ps_mask(y, y, _CMP_ORD_Q), k);
}

/* codes[i] = enc8(y[i]), i < 256, y 64-byte aligned. */
KBIT_INLINE void k512_enc8_256(const kbit_enc8_search *t, const float *y, uint8_t *codes)
{
    _Alignas(64) uint32_t key[256];
    for (int i = 0; i < 256; i += 16)
        _mm512_store_si512(key + i, k512_enc8_key(_mm512_load_ps(y + i)));

    /* the top 16 bits of 32 keys per register, in order */
    const __m512i high_words = _mm512_set_epi16(
        63, 61, 59, 57, 55, 53, 51, 49, 47, 45, 43, 41, 39, 37, 35, 33,
        31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    __m512i k16[8], r[8];
    const __m512i level0 = _mm512_set1_epi16((short)t->level[0][0]);
    for (int v = 0; v < 8; v++) {
        k16[v] = _mm512_permutex2var_epi16(_mm512_load_si512(key + 32 * v), high_words,
                                           _mm512_load_si512(key + 32 * v + 16));
        r[v] = _mm512_maskz_mov_epi16(_mm512_cmplt_epu16_mask(level0, k16[v]),
                                      _mm512_set1_epi16(1));
    }
    /* The eight searches run side by side: each level is a chain of
     * dependent permutes and compares, too long to hide alone. */
    for (int l = 1; l <= 5; l++) {
        const __m512i table = _mm512_load_si512(t->level[l]), bit = _mm512_set1_epi16((short)(1 << l));
        for (int v = 0; v < 8; v++) {
            __mmask32 below = _mm512_cmplt_epu16_mask(_mm512_permutexvar_epi16(r[v], table), k16[v]);
            r[v] = _mm512_mask_add_epi16(r[v], below, r[v], bit);
        }
    }
    {
        const __m512i t0 = _mm512_load_si512(t->level[6]), t1 = _mm512_load_si512(t->level[6] + 32);
        const __m512i bit = _mm512_set1_epi16(64);
        for (int v = 0; v < 8; v++) {
            __mmask32 below = _mm512_cmplt_epu16_mask(_mm512_permutex2var_epi16(t0, r[v], t1), k16[v]);
            r[v] = _mm512_mask_add_epi16(r[v], below, r[v], bit);
        }
    }
    {
        const __m512i t0 = _mm512_load_si512(t->level[7]), t1 = _mm512_load_si512(t->level[7] + 32);
        const __m512i t2 = _mm512_load_si512(t->level[7] + 64), t3 = _mm512_load_si512(t->level[7] + 96);
        const __m512i bit6 = _mm512_set1_epi16(64), bit = _mm512_set1_epi16(128);
        for (int v = 0; v < 8; v++) {
            __m512i m = _mm512_mask_blend_epi16(_mm512_test_epi16_mask(r[v], bit6),
                                                _mm512_permutex2var_epi16(t0, r[v], t1),
                                                _mm512_permutex2var_epi16(t2, r[v], t3));
            __mmask32 below = _mm512_cmplt_epu16_mask(m, k16[v]);
            r[v] = _mm512_mask_add_epi16(r[v], below, r[v], bit);
        }
    }

    k512_lut8 thr;
    for (int p = 0; p < 4; p++)
        for (int k = 0; k < 4; k++)
            thr.plane[p][k] = _mm512_load_si512(t->thr[p] + 64 * k);
    for (int g = 0; g < 4; g++) {
        __m512i rev = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi16_epi8(r[2 * g])),
                                         _mm512_cvtepi16_epi8(r[2 * g + 1]), 1);
        __m512i th[4];
        k512_lut8_lookup(&thr, rev, th);
        __mmask16 a0 = _mm512_cmpgt_epu32_mask(_mm512_load_si512(key + 64 * g), th[0]);
        __mmask16 a1 = _mm512_cmpgt_epu32_mask(_mm512_load_si512(key + 64 * g + 16), th[1]);
        __mmask16 a2 = _mm512_cmpgt_epu32_mask(_mm512_load_si512(key + 64 * g + 32), th[2]);
        __mmask16 a3 = _mm512_cmpgt_epu32_mask(_mm512_load_si512(key + 64 * g + 48), th[3]);
        __mmask64 above = _mm512_kunpackd(_mm512_kunpackw(a3, a2), _mm512_kunpackw(a1, a0));
        __m512i code = k512_enc8_bytes(t->code, rev);
        code = _mm512_mask_add_epi8(code, above, code, _mm512_set1_epi8(1));
        _mm512_storeu_si512(codes + 64 * g, code);
    }
}

#endif /* KBIT_CPU_X86_AVX512_ENC8_H */
