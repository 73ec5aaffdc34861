/*
 * backends/gpu/quant4.h - the bodies of 4-bit (NF4/FP4) blockwise quantize and
 * dequantize (doc/numerics.md 1.3-1.9), for every blocksize 32..4096 and the
 * data dtypes F32, F16, BF16. Work split: backends/gpu/split.h.
 */
#ifndef KBIT_GPU_QUANT4_H
#define KBIT_GPU_QUANT4_H

#include "backends/gpu/blockwise.h"

/* packed[ceil(n/2)] and absmax[nblocks] from x[n]. red: KBIT_GPU_GROUP
 * floats of work-group memory. Launch: kbit_split_quant_groups(n, blocksize)
 * groups (any count gives the same bits). */
KBIT_GPU_FN void kbit_gk_quantize_4bit(kbit_quant_type type, kbit_dtype dtype,
                                       KBIT_GLOBAL const void *x, int64_t n, int32_t blocksize,
                                       KBIT_GLOBAL uint8_t *packed, KBIT_GLOBAL float *absmax,
                                       KBIT_LOCAL float *red)
{
    const int lid = KBIT_LID;
    const int64_t nblocks = kbit_split_nblocks(n, blocksize);
    const int64_t tiles = kbit_split_tiles(nblocks, blocksize);
    const int32_t pairs = kbit_split_pairs(blocksize);
    /* The bound is the same for every item, so all reach every barrier. */
    for (int64_t tile = KBIT_GROUP; tile < tiles; tile += KBIT_NGROUPS) {
        const kbit_gk_part p = kbit_gk_part_of(tile, lid, n, blocksize, nblocks);
        float v[2 * KBIT_GPU_MAX_PAIRS];
        const float partial = kbit_gk_load_part(dtype, x, blocksize, p, 0, 0.0f, v);
        const float m = kbit_gk_block_absmax(red, lid, p, blocksize, partial);
        if (p.lane == 0 && p.count > 0)
            absmax[p.block] = m;
        const float r = kbit_block_recip(m);
        KBIT_GPU_UNROLL
        for (int k = 0; k < KBIT_GPU_MAX_PAIRS; k++) {
            if (k >= pairs)
                continue;
            int64_t e = kbit_gk_pair_offset(blocksize, p, k);
            if (e >= p.count)
                continue;
            /* An odd n ends on a pair whose second element is the padding
             * value +0.0 (numerics 1.8). */
            float odd = e + 1 < p.count ? v[2 * k + 1] : 0.0f;
            packed[(p.start + e) / 2] = kbit_4bit_pack(type, v[2 * k], odd, r);
        }
    }
}

/* out[n] = T(DEC[q] * absmax[i >> log2_blocksize]), one item per packed
 * byte. Launch: kbit_split_elem_groups(ceil(n/2)) groups. */
KBIT_GPU_FN void kbit_gk_dequantize_4bit(kbit_quant_type type, KBIT_GLOBAL const uint8_t *packed,
                                         KBIT_GLOBAL const float *absmax, int64_t n,
                                         int32_t log2_blocksize, kbit_dtype out_dtype,
                                         KBIT_GLOBAL void *out)
{
    const int64_t bytes = (n + 1) / 2;
    const int64_t stride = KBIT_NGROUPS * KBIT_GPU_GROUP;
    for (int64_t j = KBIT_GROUP * KBIT_GPU_GROUP + KBIT_LID; j < bytes; j += stride) {
        unsigned byte = packed[j];
        int64_t i = 2 * j;
        kbit_dtype_store(out_dtype, out, i,
                         kbit_4bit_value(type, byte >> 4, absmax[i >> log2_blocksize]));
        if (i + 1 < n)
            kbit_dtype_store(out_dtype, out, i + 1,
                             kbit_4bit_value(type, byte & 15u, absmax[(i + 1) >> log2_blocksize]));
    }
}

#endif /* KBIT_GPU_QUANT4_H */
