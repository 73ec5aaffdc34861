/*
 * backends/gpu/quant8.h - the bodies of 8-bit blockwise dynamic quantize and
 * dequantize (doc/numerics.md 2.4-2.5), with the centring and the offset of
 * the nested absmax (numerics 3). Maps and midpoints come as device buffers
 * and are staged in work-group memory. Work split: backends/gpu/split.h.
 */
#ifndef KBIT_GPU_QUANT8_H
#define KBIT_GPU_QUANT8_H

#include "backends/gpu/blockwise.h"

/* q[n] and absmax[nblocks] from x[n] (x - *offset when center). mid: the
 * map's 255 midpoints. Work-group memory: mid_l (255 floats), red
 * (KBIT_GPU_GROUP floats). Launch: kbit_split_quant_groups(n, blocksize). */
KBIT_GPU_FN void kbit_gk_quantize_8bit(kbit_dtype dtype, KBIT_GLOBAL const void *x, int64_t n,
                                       int32_t blocksize, KBIT_GLOBAL const float *mid,
                                       int32_t center, KBIT_GLOBAL const float *offset,
                                       KBIT_GLOBAL uint8_t *q, KBIT_GLOBAL float *absmax,
                                       KBIT_LOCAL float *mid_l, KBIT_LOCAL float *red)
{
    const int lid = KBIT_LID;
    for (int i = lid; i < 255; i += KBIT_GPU_GROUP)
        mid_l[i] = mid[i];
    KBIT_BARRIER();
    /* Binary search when the midpoints allow it (every ascending map
     * without -inf next to +inf), the literal count otherwise: the same
     * choice as the reference, made from the same values. */
    const int sorted = kbit_mid_sorted(mid_l);
    const float off = center ? *offset : 0.0f;
    const int64_t nblocks = kbit_split_nblocks(n, blocksize);
    const int64_t tiles = kbit_split_tiles(nblocks, blocksize);
    const int32_t pairs = kbit_split_pairs(blocksize);
    for (int64_t tile = KBIT_GROUP; tile < tiles; tile += KBIT_NGROUPS) {
        const kbit_gk_part p = kbit_gk_part_of(tile, lid, n, blocksize, nblocks);
        float v[2 * KBIT_GPU_MAX_PAIRS];
        const float partial = kbit_gk_load_part(dtype, x, blocksize, p, center, off, v);
        const float m = kbit_gk_block_absmax(red, lid, p, blocksize, partial);
        if (p.lane == 0 && p.count > 0)
            absmax[p.block] = m;
        const float r = kbit_block_recip(m);
        KBIT_GPU_UNROLL
        for (int k = 0; k < KBIT_GPU_MAX_PAIRS; k++) {
            if (k >= pairs)
                continue;
            int64_t e = kbit_gk_pair_offset(blocksize, p, k);
            for (int h = 0; h < 2; h++)
                if (e + h < p.count)
                    q[p.start + e + h] =
                        (uint8_t)kbit_enc8(KBIT_FMUL(v[2 * k + h], r), mid_l, sorted);
        }
    }
}

/* out[i] = T(code[q[i]] * absmax[i >> log2_blocksize]); with add_offset the
 * nested reconstruction f32(code * absmax) + offset (a second rounding).
 * Work-group memory: code_l (256 floats). Launch: kbit_split_elem_groups(n). */
KBIT_GPU_FN void kbit_gk_dequantize_8bit(KBIT_GLOBAL const uint8_t *q,
                                         KBIT_GLOBAL const float *absmax, int64_t n,
                                         int32_t log2_blocksize, KBIT_GLOBAL const float *code,
                                         int32_t add_offset, float offset, kbit_dtype out_dtype,
                                         KBIT_GLOBAL void *out, KBIT_LOCAL float *code_l)
{
    for (int i = KBIT_LID; i < 256; i += KBIT_GPU_GROUP)
        code_l[i] = code[i];
    KBIT_BARRIER();
    const int64_t stride = KBIT_NGROUPS * KBIT_GPU_GROUP;
    for (int64_t i = KBIT_GROUP * KBIT_GPU_GROUP + KBIT_LID; i < n; i += stride) {
        float v = kbit_8bit_value(code_l[q[i]], absmax[i >> log2_blocksize]);
        if (add_offset)
            v = kbit_nested_uncenter(v, offset);
        kbit_dtype_store(out_dtype, out, i, v);
    }
}

#endif /* KBIT_GPU_QUANT8_H */
