/* backends/cpu/optim/avx2.c - optimizer step, AVX2 variant: the kernels
 * of optim_simd.h over 8 fp32 lanes; a mask is a vector whose lanes are all
 * ones or all zeros (blendv reads the sign bit). */
#include "../x86/avx2_io.h"
#include "optim.h"

#define W 8
typedef __m256 V;
typedef __m256 M;
typedef __m256i VI;

#define VSET1 _mm256_set1_ps
#define VADD _mm256_add_ps
#define VSUB _mm256_sub_ps
#define VMUL _mm256_mul_ps
#define VDIV _mm256_div_ps
#define VSQRT _mm256_sqrt_ps
#define VABS k256_abs
#define VLT(a, b) _mm256_cmp_ps(a, b, _CMP_LT_OQ)
#define VGT(a, b) _mm256_cmp_ps(a, b, _CMP_GT_OQ)
#define VMAX _mm256_max_ps
#define VEQ(a, b) _mm256_cmp_ps(a, b, _CMP_EQ_OQ)
#define VLE(a, b) _mm256_cmp_ps(a, b, _CMP_LE_OQ)
#define MAND _mm256_and_ps
#define MANDNOT(a, b) _mm256_andnot_ps(b, a)
#define MXOR _mm256_xor_ps
#define MOR _mm256_or_ps
#define MANY(m) (_mm256_movemask_ps(m) != 0)
#define MZERO _mm256_setzero_ps()
#define MALL _mm256_castsi256_ps(_mm256_set1_epi32(-1))
#define VSEL(m, a, b) _mm256_blendv_ps(b, a, m)
#define VLOADF(p) _mm256_loadu_ps(p)
#define VSTOREF(p, v) _mm256_storeu_ps(p, v)
#define VLOADT(p, dt, i) k256_load(p, dt, i)
/* v already holds values of dt (VRT or loaded): narrowing is exact, and for
 * bf16 it is the upper half of each lane (a NaN made quiet, as numerics/half.h). */
KBIT_INLINE void VSTORET(void *out, kbit_dtype dt, int64_t i, V v)
{
    if (dt == KBIT_BF16) {
        __m256i h = _mm256_srli_epi32(_mm256_castps_si256(v), 16);
        __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
        h = _mm256_or_si256(h, _mm256_and_si256(nan, _mm256_set1_epi32(0x40)));
        __m128i w = _mm_packus_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
        _mm_storeu_si128((__m128i *)((uint16_t *)out + i), w);
    } else {
        k256_store(out, dt, i, v);
    }
}
#define VI_SET1 _mm256_set1_epi32
#define VI_ADD _mm256_add_epi32
#define VI_SUB _mm256_sub_epi32
#define VI_AND _mm256_and_si256
#define VI_SEL(m, a, b) \
    _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(b), _mm256_castsi256_ps(a), m))
#define VI_LOAD_U8(p) _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p)))
#define VI_XOR _mm256_xor_si256
#define VI_OR _mm256_or_si256
#define VI_SRAI _mm256_srai_epi32
#define VI_SRLI _mm256_srli_epi32
#define VI_GT(a, b) _mm256_castsi256_ps(_mm256_cmpgt_epi32(a, b))
#define VI_CAST _mm256_castps_si256
#define VGATHER(base, idx) _mm256_i32gather_ps(base, idx, 4)
#define VI_GATHER(base, idx) _mm256_i32gather_epi32((const int *)(base), idx, 4)
#define MSIGN(v) _mm256_castsi256_ps(_mm256_srai_epi32(_mm256_castps_si256(v), 31))
#define MODD(vi) \
    _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(vi, _mm256_set1_epi32(1)), \
                                           _mm256_set1_epi32(1)))
#define VI_TESTZ(vi, c) \
    _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(vi, _mm256_set1_epi32(c)), \
                                           _mm256_setzero_si256()))
#define VI_ADD_MASKED(m, a, b) _mm256_add_epi32(a, _mm256_and_si256(_mm256_castps_si256(m), b))

/* The low byte of each of 8 lanes -> 8 bytes. */
KBIT_INLINE void VI_STORE_U8(uint8_t *p, VI v)
{
    v = _mm256_and_si256(v, _mm256_set1_epi32(0xff));
    __m128i w = _mm_packus_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    _mm_storel_epi64((__m128i *)p, _mm_packus_epi16(w, w));
}

/* Round to the parameter dtype and back, as ref's rt(). */
KBIT_INLINE V VRT(kbit_dtype dt, V v)
{
    if (dt == KBIT_F32)
        return v;
    if (dt == KBIT_F16)
        return _mm256_cvtph_ps(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    /* bf16 in place: k256_to_bf16's bits, kept in the upper half of each lane */
    __m256i b = _mm256_castps_si256(v);
    __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(1));
    __m256i r = _mm256_add_epi32(_mm256_add_epi32(b, _mm256_set1_epi32(0x7fff)), lsb);
    __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    r = _mm256_blendv_epi8(r, _mm256_or_si256(b, _mm256_set1_epi32(0x00400000)), nan);
    return _mm256_castsi256_ps(_mm256_and_si256(r, _mm256_set1_epi32((int)0xffff0000u)));
}

#include "simd.h"

KBIT_DEFINE_OPTIMIZER_STEP(kbit_avx2_optimizer_step)
