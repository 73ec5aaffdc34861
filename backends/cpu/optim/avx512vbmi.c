/* backends/cpu/optim/avx512vbmi.c - optimizer step, the zen4 and zen5 tunings'
 * AVX-512 kernel (isa.c): simd.h's kernels with the 8-bit states decoded
 * by table lookups in registers (x86/avx512_lut8.h, 64 codes per lookup)
 * instead of a gather per 16, which costs on AMD about as much as the rest
 * of the state's update. */
#include "avx512_vocab.h"
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

#define VLUT vbmi_luts
#define VLUT_INIT(lut, op) vbmi_luts_init(lut, op)
#define VLUT_BLOCK(table, codes, out) vbmi_decode_block(table, codes, out)
#include "simd.h"

KBIT_DEFINE_OPTIMIZER_STEP(kbit_avx512vbmi_optimizer_step)
