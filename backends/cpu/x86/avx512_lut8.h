/*
 * backends/cpu/x86/avx512_lut8.h - a 256-entry table of 32-bit values (an
 * 8-bit code's map) looked up for 64 codes at a time without gathers, for
 * the AVX512_VBMI kernels.
 *
 * Why: on AMD Zen 4 and 5 a 16-lane gather costs about as much as 30
 * two-table permutes (measured on an EPYC family 1Ah: vpgatherdd zmm 17
 * cycles against 0.5 for vpermi2b), and 8-bit dequantization and the 8-bit
 * optimizers' state decode are one gather per 16 values.
 *
 * How: the table is kept as four byte planes (plane p holds byte p of every
 * value, 256 bytes = four registers). One plane is looked up for 64 codes
 * with two vpermi2b (entries 0-127 and 128-255) and a blend on the code's
 * top bit; the four planes' bytes are then interleaved into 32-bit lanes
 * with unpacks, which work within 128-bit lanes, so the codes are first
 * permuted (one vpermb) to make the values come out in their natural order.
 * Lookups move bits only: the result is the table's entries, bit for bit.
 */
#ifndef KBIT_CPU_X86_AVX512_LUT8_H
#define KBIT_CPU_X86_AVX512_LUT8_H

#include <stdint.h>

#include "common.h"

/* Plane p, quarter k: byte p of entries 64k .. 64k + 63. */
typedef struct k512_lut8 {
    __m512i plane[4][4];
} k512_lut8;

/* The planes of 256 32-bit values (e.g. a float map): per 64 entries, each
 * register of 16 values gathers its bytes by plane into 128-bit lanes
 * (vpermb), then a 4 x 4 transpose of those lanes (vshufi64x2). Cheap
 * enough (48 operations) to run at every kernel call. */
KBIT_INLINE void k512_lut8_init(k512_lut8 *t, const void *values)
{
    /* lane p of the result: byte p of the 16 values, in order */
    const __m512i by_plane = _mm512_set_epi8(
        63, 59, 55, 51, 47, 43, 39, 35, 31, 27, 23, 19, 15, 11, 7, 3,
        62, 58, 54, 50, 46, 42, 38, 34, 30, 26, 22, 18, 14, 10, 6, 2,
        61, 57, 53, 49, 45, 41, 37, 33, 29, 25, 21, 17, 13, 9, 5, 1,
        60, 56, 52, 48, 44, 40, 36, 32, 28, 24, 20, 16, 12, 8, 4, 0);
    const uint8_t *v = values;
    for (int k = 0; k < 4; k++) {
        __m512i y[4];
        for (int i = 0; i < 4; i++)
            y[i] = _mm512_permutexvar_epi8(by_plane,
                                           _mm512_loadu_si512(v + 256 * k + 64 * i));
        __m512i y01lo = _mm512_shuffle_i64x2(y[0], y[1], 0x44); /* y0.0 y0.1 y1.0 y1.1 */
        __m512i y01hi = _mm512_shuffle_i64x2(y[0], y[1], 0xee); /* y0.2 y0.3 y1.2 y1.3 */
        __m512i y23lo = _mm512_shuffle_i64x2(y[2], y[3], 0x44);
        __m512i y23hi = _mm512_shuffle_i64x2(y[2], y[3], 0xee);
        t->plane[0][k] = _mm512_shuffle_i64x2(y01lo, y23lo, 0x88); /* y0.0 y1.0 y2.0 y3.0 */
        t->plane[1][k] = _mm512_shuffle_i64x2(y01lo, y23lo, 0xdd);
        t->plane[2][k] = _mm512_shuffle_i64x2(y01hi, y23hi, 0x88);
        t->plane[3][k] = _mm512_shuffle_i64x2(y01hi, y23hi, 0xdd);
    }
}

/* Unpacks give, in 128-bit lane L of output j, the values of positions
 * 16L + 4j .. 16L + 4j + 3; output j must hold values 16j .. 16j + 15, so
 * position 16L + 4j + k takes code 16j + 4L + k. */
KBIT_INLINE __m512i k512_lut8_order(__m512i codes)
{
    const __m512i order = _mm512_set_epi8(
        63, 62, 61, 60, 47, 46, 45, 44, 31, 30, 29, 28, 15, 14, 13, 12,
        59, 58, 57, 56, 43, 42, 41, 40, 27, 26, 25, 24, 11, 10, 9, 8,
        55, 54, 53, 52, 39, 38, 37, 36, 23, 22, 21, 20, 7, 6, 5, 4,
        51, 50, 49, 48, 35, 34, 33, 32, 19, 18, 17, 16, 3, 2, 1, 0);
    return _mm512_permutexvar_epi8(order, codes);
}

/* One byte plane at 64 codes (any order). */
KBIT_INLINE __m512i k512_lut8_plane(const __m512i q[4], __m512i codes, __mmask64 upper)
{
    __m512i lo = _mm512_permutex2var_epi8(q[0], codes, q[1]);
    __m512i hi = _mm512_permutex2var_epi8(q[2], codes, q[3]);
    return _mm512_mask_blend_epi8(upper, lo, hi);
}

/* out[j] = table[codes[16j + i]] for i = 0..15, j = 0..3. */
KBIT_INLINE void k512_lut8_lookup(const k512_lut8 *t, __m512i codes, __m512i out[4])
{
    __m512i c = k512_lut8_order(codes);
    __mmask64 upper = _mm512_movepi8_mask(c);
    __m512i b0 = k512_lut8_plane(t->plane[0], c, upper);
    __m512i b1 = k512_lut8_plane(t->plane[1], c, upper);
    __m512i b2 = k512_lut8_plane(t->plane[2], c, upper);
    __m512i b3 = k512_lut8_plane(t->plane[3], c, upper);
    __m512i lo01 = _mm512_unpacklo_epi8(b0, b1), hi01 = _mm512_unpackhi_epi8(b0, b1);
    __m512i lo23 = _mm512_unpacklo_epi8(b2, b3), hi23 = _mm512_unpackhi_epi8(b2, b3);
    out[0] = _mm512_unpacklo_epi16(lo01, lo23);
    out[1] = _mm512_unpackhi_epi16(lo01, lo23);
    out[2] = _mm512_unpacklo_epi16(hi01, hi23);
    out[3] = _mm512_unpackhi_epi16(hi01, hi23);
}

/* The same for a float table. */
KBIT_INLINE void k512_lut8_lookup_ps(const k512_lut8 *t, __m512i codes, __m512 out[4])
{
    __m512i v[4];
    k512_lut8_lookup(t, codes, v);
    for (int j = 0; j < 4; j++)
        out[j] = _mm512_castsi512_ps(v[j]);
}

#endif /* KBIT_CPU_X86_AVX512_LUT8_H */
