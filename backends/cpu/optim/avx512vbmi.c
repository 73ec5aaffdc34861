/* backends/cpu/optim/avx512vbmi.c - optimizer step, the zen4 tuning's
 * AVX-512 kernel (isa.c): simd.h's kernels with the 8-bit states decoded
 * by table lookups in registers (x86/avx512_lut8.h, 64 codes per lookup)
 * instead of a gather per 16, which costs on AMD about as much as the rest
 * of the state's update, and requantized by the register search of
 * x86/avx512_enc8.h instead of the bucket table's gather. */
#include "avx512_vocab.h"
#include "../x86/avx512_enc8.h"
#include "../x86/avx512_lut8.h"

typedef struct vbmi_luts {
    k512_lut8 map1, map2;
} vbmi_luts;

KBIT_INLINE void vbmi_luts_init(vbmi_luts *lut, const kbit_op_optimizer *op)
{
    k512_lut8_init(&lut->map1, op->qmap1);
    if (op->qmap2 != NULL)
        k512_lut8_init(&lut->map2, op->qmap2);
}

/* out[i] = map[codes[i]] for the KBIT_OPTIM_BLOCK codes of a block. */
KBIT_INLINE void vbmi_decode_block(const k512_lut8 *table, const uint8_t *codes, float *out)
{
    for (int i = 0; i < KBIT_OPTIM_BLOCK; i += 64) {
        __m512 v[4];
        k512_lut8_lookup_ps(table, _mm512_loadu_si512(codes + i), v);
        for (int j = 0; j < 4; j++)
            _mm512_store_ps(out + i + 16 * j, v[j]);
    }
}

/* kbit_ref_optim_requantize of a block (as simd.h's vrequantize) by the
 * register search: enc8(s / absmax), then for signed maps the sign fix, a
 * code whose map entry has the other sign bit than s moving one step
 * towards s (0 - 1 wraps to 255). map_neg is code < neg when neg >= 0
 * (the map's negative entries are its first neg), else the sign bit of
 * map[code] (the top byte plane of the map's table). */
KBIT_INLINE void vbmi_requantize(const float *s, float absmax, const k512_lut8 *map,
                                 const kbit_enc8_search *search, int sign_fix, int neg,
                                 uint8_t *q)
{
    _Alignas(64) float y[KBIT_OPTIM_BLOCK];
    const __m512 a = _mm512_set1_ps(absmax);
    for (int i = 0; i < KBIT_OPTIM_BLOCK; i += 16)
        _mm512_store_ps(y + i, _mm512_div_ps(_mm512_load_ps(s + i), a));
    k512_enc8_256(search, y, q);
    if (!sign_fix)
        return;
    const __m512 zero = _mm512_setzero_ps();
    const __m512i one = _mm512_set1_epi8(1);
    for (int i = 0; i < KBIT_OPTIM_BLOCK; i += 64) {
        __m512i code = _mm512_loadu_si512(q + i);
        __mmask64 map_neg;
        if (neg > 255)
            map_neg = ~(__mmask64)0;
        else if (neg >= 0)
            map_neg = _mm512_cmplt_epu8_mask(code, _mm512_set1_epi8((char)neg));
        else
            map_neg = _mm512_movepi8_mask(
                k512_lut8_plane(map->plane[3], code, _mm512_movepi8_mask(code)));
        __mmask16 n[4], p[4];
        for (int j = 0; j < 4; j++) {
            __m512 x = _mm512_load_ps(s + i + 16 * j);
            n[j] = _mm512_movepi32_mask(_mm512_castps_si512(x));
            p[j] = _mm512_cmp_ps_mask(x, zero, _CMP_GT_OQ);
        }
        __mmask64 s_neg = _mm512_kunpackd(_mm512_kunpackw(n[3], n[2]), _mm512_kunpackw(n[1], n[0]));
        __mmask64 s_pos = _mm512_kunpackd(_mm512_kunpackw(p[3], p[2]), _mm512_kunpackw(p[1], p[0]));
        __mmask64 differ = map_neg ^ s_neg;
        code = _mm512_mask_add_epi8(code, differ & s_pos, code, one);
        code = _mm512_mask_sub_epi8(code, differ & ~s_pos, code, one);
        _mm512_storeu_si512(q + i, code);
    }
}

#define VLUT vbmi_luts
#define VLUT_INIT(lut, op) vbmi_luts_init(lut, op)
#define VLUT_BLOCK(table, codes, out) vbmi_decode_block(table, codes, out)
#define VLUT_REQUANTIZE(s, absmax, table, search, sign_fix, neg, q) \
    vbmi_requantize(s, absmax, table, search, sign_fix, neg, q)
#include "simd.h"

KBIT_DEFINE_OPTIMIZER_STEP(kbit_avx512vbmi_optimizer_step)
