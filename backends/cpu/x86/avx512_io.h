/*
 * backends/cpu/x86/avx512_io.h - AVX-512 helpers shared by the avx512 kernels:
 * 16-lane loads and stores in the data dtypes with the reference's exact
 * conversions (numerics/half.h), and tail masks.
 *
 * fp16: F16C vcvtph2ps is exact and vcvtps2ph with imm 0 (RNE, exceptions
 * suppressed) rounds like the reference, denormals included. bf16 narrowing
 * is done with integer ops: VCVTNEPS2BF16 flushes denormals, the reference
 * does not.
 */
#ifndef KBIT_CPU_X86_AVX512_IO_H
#define KBIT_CPU_X86_AVX512_IO_H

#include <immintrin.h>
#include <stdint.h>

#include "common.h"

/* Mask of the first count lanes (count 0..16). */
KBIT_INLINE __mmask16 k512_mask(int64_t count)
{
    if (count <= 0)
        return 0;
    return count >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << count) - 1u);
}

KBIT_INLINE __m512 k512_abs(__m512 v)
{
    return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(v),
                                                _mm512_set1_epi32(0x7fffffff)));
}

KBIT_INLINE __m512 k512_load(const void *x, kbit_dtype dtype, int64_t i)
{
    if (dtype == KBIT_F32)
        return _mm512_loadu_ps((const float *)x + i);
    __m256i h = _mm256_loadu_si256((const __m256i *)((const uint16_t *)x + i));
    if (dtype == KBIT_F16)
        return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* Lanes outside mask read as +0.0 (never touching memory). */
KBIT_INLINE __m512 k512_load_mask(const void *x, kbit_dtype dtype, int64_t i, __mmask16 m)
{
    if (dtype == KBIT_F32)
        return _mm512_maskz_loadu_ps(m, (const float *)x + i);
    __m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)x + i);
    if (dtype == KBIT_F16)
        return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* fp32 -> bf16 bits, RNE; NaN -> (bits >> 16) | 0x40 as numerics/half.h. */
KBIT_INLINE __m256i k512_to_bf16(__m512 v)
{
    __m512i b = _mm512_castps_si512(v);
    __m512i hi = _mm512_srli_epi32(b, 16);
    __m512i lsb = _mm512_and_si512(hi, _mm512_set1_epi32(1));
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(b, _mm512_set1_epi32(0x7fff)), lsb), 16);
    __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    r = _mm512_mask_or_epi32(r, nan, hi, _mm512_set1_epi32(0x40));
    return _mm512_cvtepi32_epi16(r);
}

KBIT_INLINE __m256i k512_to_half(__m512 v, kbit_dtype dtype)
{
    if (dtype == KBIT_F16)
        return _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    return k512_to_bf16(v);
}

KBIT_INLINE void k512_store(void *out, kbit_dtype dtype, int64_t i, __m512 v)
{
    if (dtype == KBIT_F32)
        _mm512_storeu_ps((float *)out + i, v);
    else
        _mm256_storeu_si256((__m256i *)((uint16_t *)out + i), k512_to_half(v, dtype));
}

/* 32 elements (v0 then v1) at out + i. With stream, non-temporal stores of
 * whole 64-byte lines: out + i must be 64-byte aligned, and callers end with
 * _mm_sfence(). */
KBIT_INLINE void k512_store32(void *out, kbit_dtype dtype, int64_t i, __m512 v0, __m512 v1, int stream)
{
    if (dtype == KBIT_F32) {
        float *p = (float *)out + i;
        if (stream) {
            _mm512_stream_ps(p, v0);
            _mm512_stream_ps(p + 16, v1);
        } else {
            _mm512_storeu_ps(p, v0);
            _mm512_storeu_ps(p + 16, v1);
        }
        return;
    }
    __m512i h = _mm512_inserti64x4(_mm512_castsi256_si512(k512_to_half(v0, dtype)),
                                   k512_to_half(v1, dtype), 1);
    uint16_t *p = (uint16_t *)out + i;
    if (stream)
        _mm512_stream_si512((void *)p, h);
    else
        _mm512_storeu_si512((void *)p, h);
}

KBIT_INLINE void k512_store_mask(void *out, kbit_dtype dtype, int64_t i, __m512 v, __mmask16 m)
{
    if (dtype == KBIT_F32)
        _mm512_mask_storeu_ps((float *)out + i, m, v);
    else
        _mm256_mask_storeu_epi16((uint16_t *)out + i, m, k512_to_half(v, dtype));
}

#endif /* KBIT_CPU_X86_AVX512_IO_H */
