/*
 * backends/gpu/blockwise.h - what the blockwise quantize bodies (4-bit and
 * 8-bit) share: the part of a tile an item owns, loading it, and the absmax
 * of each quantization block through work-group memory. The split itself is
 * described in backends/gpu/split.h.
 *
 * A tile is done in three phases:
 *   1. load:   each item loads its element pairs into registers (centred for
 *              the nested absmax) and takes the max |v| of them;
 *   2. reduce: the partial maxima of a block's G items are folded in
 *              work-group memory, halving the distance each step with a
 *              barrier between steps (max is exact: any order gives the same
 *              bits, and this order is fixed anyway);
 *   3. store:  each item encodes its elements with r = 1/absmax (the
 *              family's body).
 */
#ifndef KBIT_GPU_BLOCKWISE_H
#define KBIT_GPU_BLOCKWISE_H

#include "backends/gpu/defs.h"
#include "numerics/numerics.h"
#include "backends/gpu/split.h"

/* The part of a tile that one item works on. */
typedef struct kbit_gk_part {
    int64_t block;  /* quantization block index */
    int64_t start;  /* its first element */
    int64_t count;  /* its element count; 0 when the tile runs past the last block */
    int32_t lane;   /* the item's index among the block's G items */
} kbit_gk_part;

KBIT_GPU_FN kbit_gk_part kbit_gk_part_of(int64_t tile, int lid, int64_t n, int32_t blocksize,
                                         int64_t nblocks)
{
    const int32_t g = kbit_split_block_items(blocksize);
    kbit_gk_part p;
    p.lane = lid % g;
    p.block = tile * kbit_split_tile_blocks(blocksize) + lid / g;
    p.start = p.block * blocksize;
    p.count = p.block < nblocks ? (n - p.start < blocksize ? n - p.start : blocksize) : 0;
    return p;
}

/* Offset within the block of the first element of the item's pair k. */
KBIT_GPU_FN int64_t kbit_gk_pair_offset(int32_t blocksize, kbit_gk_part p, int k)
{
    return 2 * ((int64_t)p.lane + (int64_t)k * kbit_split_block_items(blocksize));
}

/* Phase 1: the item's elements into v[0 .. 2*KBIT_GPU_MAX_PAIRS) (0.0f
 * where it has none), centred (x - offset in fp32, numerics 3) when
 * `center`; returns their absmax (+0 when none, NaN ignored). */
KBIT_GPU_FN float kbit_gk_load_part(kbit_dtype dtype, KBIT_GLOBAL const void *x,
                                    int32_t blocksize, kbit_gk_part p, int center, float offset,
                                    KBIT_PRIVATE float *v)
{
    const int32_t pairs = kbit_split_pairs(blocksize);
    float m = 0.0f;
    KBIT_GPU_UNROLL
    for (int k = 0; k < KBIT_GPU_MAX_PAIRS; k++) {
        v[2 * k] = 0.0f;
        v[2 * k + 1] = 0.0f;
        if (k >= pairs)
            continue;
        int64_t e = kbit_gk_pair_offset(blocksize, p, k);
        for (int h = 0; h < 2; h++) {
            if (e + h < p.count) {
                float t = kbit_dtype_load(dtype, x, p.start + e + h);
                if (center)
                    t = kbit_nested_center(t, offset);
                v[2 * k + h] = t;
                m = kbit_absmax_step(m, t);
            }
        }
    }
    return m;
}

/* Phase 2: the absmax of the item's block, from every item's `partial`.
 * Called by every item of the group (it holds barriers); red has
 * KBIT_GPU_GROUP entries and is free again when it returns. Within a step
 * an item reads only entries that no item writes in that step. */
KBIT_GPU_FN float kbit_gk_block_absmax(KBIT_LOCAL float *red, int lid, kbit_gk_part p,
                                       int32_t blocksize, float partial)
{
    red[lid] = partial;
    KBIT_BARRIER();
    for (int32_t s = kbit_split_block_items(blocksize) / 2; s > 0; s >>= 1) {
        if (p.lane < s)
            red[lid] = kbit_absmax_combine(red[lid], red[lid + s]);
        KBIT_BARRIER();
    }
    float m = red[lid - p.lane];
    KBIT_BARRIER(); /* every item has read red before the next tile writes it */
    return m;
}

#endif /* KBIT_GPU_BLOCKWISE_H */
