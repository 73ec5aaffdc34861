/*
 * backends/cpu/x86/avx2_io.h - AVX2 helpers shared by the avx2 kernels:
 * 8-lane loads and stores in the data dtypes with the reference's exact
 * conversions (numerics/half.h). AVX2 has no masked byte stores, so kernels finish
 * a block's last few elements with the scalar rules of numerics/encode.h.
 *
 * fp16: F16C vcvtph2ps is exact and vcvtps2ph with imm 0 (RNE) rounds like the
 * reference, denormals included. bf16 narrowing uses integer ops.
 */
#ifndef KBIT_CPU_X86_AVX2_IO_H
#define KBIT_CPU_X86_AVX2_IO_H

#include <immintrin.h>
#include <stdint.h>

#include "common.h"

KBIT_INLINE __m256 k256_abs(__m256 v)
{
    return _mm256_castsi256_ps(_mm256_and_si256(_mm256_castps_si256(v),
                                                _mm256_set1_epi32(0x7fffffff)));
}

KBIT_INLINE __m256 k256_load(const void *x, kbit_dtype dtype, int64_t i)
{
    if (dtype == KBIT_F32)
        return _mm256_loadu_ps((const float *)x + i);
    __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)x + i));
    if (dtype == KBIT_F16)
        return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

/* fp32 -> bf16 bits, RNE; NaN -> (bits >> 16) | 0x40 as numerics/half.h;
 * the bf16 in the upper half of each lane (the lower half is not zero). */
KBIT_INLINE __m256i k256_bf16_upper(__m256 v)
{
    __m256i b = _mm256_castps_si256(v);
    __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(1));
    __m256i r = _mm256_add_epi32(_mm256_add_epi32(b, _mm256_set1_epi32(0x7fff)), lsb);
    __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    return _mm256_blendv_epi8(r, _mm256_or_si256(b, _mm256_set1_epi32(0x400000)), nan);
}

/* fp32 -> bf16 bits as k256_bf16_upper, 8 words. */
KBIT_INLINE __m128i k256_to_bf16(__m256 v)
{
    __m256i r = _mm256_srli_epi32(k256_bf16_upper(v), 16);
    /* 8 x u32 (each <= 0xffff) -> 8 x u16: pack per lane, then join the lanes */
    __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0x08);
    return _mm256_castsi256_si128(packed);
}

KBIT_INLINE void k256_store(void *out, kbit_dtype dtype, int64_t i, __m256 v)
{
    if (dtype == KBIT_F32)
        _mm256_storeu_ps((float *)out + i, v);
    else if (dtype == KBIT_F16)
        _mm_storeu_si128((__m128i *)((uint16_t *)out + i), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
    else
        _mm_storeu_si128((__m128i *)((uint16_t *)out + i), k256_to_bf16(v));
}

/* With stream, a non-temporal store (out + i 32-byte aligned for F32, 16 for
 * F16/BF16). Callers write whole 64-byte lines within one loop step, so the
 * write-combining buffers are flushed full, and end with _mm_sfence(). */
KBIT_INLINE void k256_store_nt(void *out, kbit_dtype dtype, int64_t i, __m256 v, int stream)
{
    if (!stream)
        k256_store(out, dtype, i, v);
    else if (dtype == KBIT_F32)
        _mm256_stream_ps((float *)out + i, v);
    else if (dtype == KBIT_F16)
        _mm_stream_si128((__m128i *)((uint16_t *)out + i), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
    else
        _mm_stream_si128((__m128i *)((uint16_t *)out + i), k256_to_bf16(v));
}

/* Largest of 8 non-NaN lanes. */
KBIT_INLINE float k256_reduce_max(__m256 v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

/* 32 codes 0..255 in four vectors (element order) -> 32 bytes in order. */
KBIT_INLINE __m256i k256_pack_bytes(__m256i c0, __m256i c1, __m256i c2, __m256i c3)
{
    __m256i b = _mm256_packus_epi16(_mm256_packus_epi32(c0, c1), _mm256_packus_epi32(c2, c3));
    return _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

#endif /* KBIT_CPU_X86_AVX2_IO_H */
