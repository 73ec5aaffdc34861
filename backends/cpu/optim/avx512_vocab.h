/* backends/cpu/optim/avx512_vocab.h - the vector vocabulary of simd.h
 * (which lists it) over 16 fp32 lanes with k-register masks, for the AVX-512
 * optimizer kernels (avx512.c, avx512vbmi.c). */
#ifndef KBIT_CPU_OPTIM_AVX512_VOCAB_H
#define KBIT_CPU_OPTIM_AVX512_VOCAB_H

#include "../x86/avx512_io.h"
#include "optim.h"

#define W 16
typedef __m512 V;
typedef __mmask16 M;
typedef __m512i VI;

#define VSET1 _mm512_set1_ps
#define VADD _mm512_add_ps
#define VSUB _mm512_sub_ps
#define VMUL _mm512_mul_ps
#define VDIV _mm512_div_ps
#define VSQRT _mm512_sqrt_ps
#define VABS k512_abs
#define VLT(a, b) _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ)
#define VGT(a, b) _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ)
#define VMAX _mm512_max_ps
#define VEQ(a, b) _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ)
#define VLE(a, b) _mm512_cmp_ps_mask(a, b, _CMP_LE_OQ)
#define MAND(a, b) ((M)((a) & (b)))
#define MANDNOT(a, b) ((M)((a) & ~(b)))
#define MXOR(a, b) ((M)((a) ^ (b)))
#define MOR(a, b) ((M)((a) | (b)))
#define MANY(m) ((m) != 0)
#define MZERO ((M)0)
#define MALL ((M)0xffff)
#define VSEL(m, a, b) _mm512_mask_blend_ps(m, b, a)
#define VLOADF(p) _mm512_loadu_ps(p)
#define VSTOREF(p, v) _mm512_storeu_ps(p, v)
#define VLOADT(p, dt, i) k512_load(p, dt, i)
/* v already holds values of dt (VRT or loaded): narrowing is exact, and for
 * bf16 it is the upper half of each lane (a NaN made quiet, as numerics/half.h). */
KBIT_INLINE void VSTORET(void *out, kbit_dtype dt, int64_t i, V v)
{
    if (dt == KBIT_BF16) {
        __m512i h = _mm512_srli_epi32(_mm512_castps_si512(v), 16);
        h = _mm512_mask_or_epi32(h, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), h,
                                 _mm512_set1_epi32(0x40));
        _mm256_storeu_si256((__m256i *)((uint16_t *)out + i), _mm512_cvtepi32_epi16(h));
    } else {
        k512_store(out, dt, i, v);
    }
}
#define VI_SET1 _mm512_set1_epi32
#define VI_ADD _mm512_add_epi32
#define VI_SUB _mm512_sub_epi32
#define VI_AND _mm512_and_si512
#define VI_SEL(m, a, b) _mm512_mask_blend_epi32(m, b, a)
#define VI_LOAD_U8(p) _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(p)))
/* the low byte of each lane (truncating) */
#define VI_STORE_U8(p, v) _mm_storeu_si128((__m128i *)(p), _mm512_cvtepi32_epi8(v))
#define VI_XOR _mm512_xor_si512
#define VI_OR _mm512_or_si512
#define VI_SRAI _mm512_srai_epi32
#define VI_SRLI _mm512_srli_epi32
#define VI_GT(a, b) _mm512_cmpgt_epi32_mask(a, b)
#define VI_CAST _mm512_castps_si512
#define VGATHER(base, idx) _mm512_i32gather_ps(idx, base, 4)
#define VI_GATHER(base, idx) _mm512_i32gather_epi32(idx, (const void *)(base), 4)
#define MSIGN(v) _mm512_movepi32_mask(_mm512_castps_si512(v))
#define MODD(vi) _mm512_test_epi32_mask(vi, _mm512_set1_epi32(1))
#define VI_TESTZ(vi, c) _mm512_testn_epi32_mask(vi, _mm512_set1_epi32(c))
#define VI_ADD_MASKED(m, a, b) _mm512_mask_add_epi32(a, m, a, b)

/* Round to the parameter dtype and back, as ref's rt(). */
KBIT_INLINE V VRT(kbit_dtype dt, V v)
{
    if (dt == KBIT_F32)
        return v;
    if (dt == KBIT_F16)
        return _mm512_cvtph_ps(k512_to_half(v, dt));
    /* bf16 in place: k512_to_bf16's bits, kept in the upper half of each lane */
    __m512i b = _mm512_castps_si512(v), hi_mask = _mm512_set1_epi32((int)0xffff0000u);
    __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_add_epi32(_mm512_add_epi32(b, _mm512_set1_epi32(0x7fff)), lsb);
    __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    r = _mm512_mask_or_epi32(r, nan, b, _mm512_set1_epi32(0x00400000));
    return _mm512_castsi512_ps(_mm512_and_si512(r, hi_mask));
}

#endif /* KBIT_CPU_OPTIM_AVX512_VOCAB_H */
