/*
 * backends/gpu/split.h - how the work of an op maps to work-groups, as plain
 * integer functions. The host code of every runtime (the OpenCL driver in C,
 * the CUDA/HIP launchers in C++) sizes its launches with them and the kernel
 * bodies use the same functions for their loops, so a launch and its body
 * cannot disagree.
 *
 * Every launch has work-groups of KBIT_GPU_GROUP items and at most
 * KBIT_GPU_MAX_GROUPS groups; every loop over work is a grid-stride loop
 * (work unit u is done by group u mod groups, or item u mod (groups *
 * KBIT_GPU_GROUP)), so the group count changes only how often an item loops,
 * never which arithmetic a result sees.
 *
 * Kinds of work:
 *   elementwise  one item per unit (a byte, an element, a 256-element leaf):
 *                kbit_split_elem_groups(units)
 *   blockwise    quantize: a quantization block of B elements is done by
 *                G = kbit_split_block_items(B) = min(B/2, KBIT_GPU_GROUP)
 *                items (a power of two), so a group handles a tile of
 *                KBIT_GPU_GROUP / G blocks at a time. Item `lane` (0 .. G-1)
 *                of a block owns the element pairs p = lane + k*G, k <
 *                kbit_split_pairs(B) (<= KBIT_GPU_MAX_PAIRS), i.e. elements
 *                2p and 2p+1: one packed 4-bit byte per pair, and consecutive
 *                items touch consecutive memory. Groups stride over tiles:
 *                kbit_split_quant_groups(n, B).
 *   one group    the pairsum tree (backends/gpu/sums.h): a single group.
 *   dot32        matrix products (backends/gpu/gemm4.h): one dot32 result is
 *                done by KBIT_DOT32_LANES items, item `lane` being the lane
 *                of doc/determinism.md 3 (a lane's fma chain is sequential),
 *                so a group does KBIT_GPU_DOTS results per round:
 *                kbit_split_dot_groups(dots).
 *
 * Sizes are int64_t throughout (n may exceed 2^31).
 */
#ifndef KBIT_GPU_SPLIT_H
#define KBIT_GPU_SPLIT_H

#include "backends/gpu/defs.h"
#include "numerics/dot32.h"

#define KBIT_GPU_GROUP 256            /* items per work-group, every kernel */
#define KBIT_GPU_MAX_GROUPS (1 << 16) /* groups per launch at most */
#define KBIT_GPU_MAX_PAIRS 8          /* pairs per item: 4096 / (2 * KBIT_GPU_GROUP) */

#if defined(KBIT_GPU_CUDA)
#define KBIT_SPLIT_FN static __host__ __device__ inline
#else
#define KBIT_SPLIT_FN static inline
#endif

/* Groups for `units` work units of which a group does `per_group` per
 * round: ceil(units / per_group), at least 1, at most KBIT_GPU_MAX_GROUPS. */
KBIT_SPLIT_FN int64_t kbit_split_groups(int64_t units, int64_t per_group)
{
    int64_t g = (units + per_group - 1) / per_group;
    return g < 1 ? 1 : g > KBIT_GPU_MAX_GROUPS ? KBIT_GPU_MAX_GROUPS : g;
}

/* Groups for an elementwise loop over `units` (one item per unit). */
KBIT_SPLIT_FN int64_t kbit_split_elem_groups(int64_t units)
{
    return kbit_split_groups(units, KBIT_GPU_GROUP);
}

/* Quantization blocks of n elements: ceil(n / blocksize). */
KBIT_SPLIT_FN int64_t kbit_split_nblocks(int64_t n, int32_t blocksize)
{
    return (n + blocksize - 1) / blocksize;
}

/* G: the items that share one quantization block (blocksize: a power of
 * two from 32 to 4096). */
KBIT_SPLIT_FN int32_t kbit_split_block_items(int32_t blocksize)
{
    return blocksize / 2 < KBIT_GPU_GROUP ? blocksize / 2 : KBIT_GPU_GROUP;
}

/* Quantization blocks per tile (one round of a group). */
KBIT_SPLIT_FN int32_t kbit_split_tile_blocks(int32_t blocksize)
{
    return KBIT_GPU_GROUP / kbit_split_block_items(blocksize);
}

/* Element pairs per item: blocksize / (2G), 1 .. KBIT_GPU_MAX_PAIRS. */
KBIT_SPLIT_FN int32_t kbit_split_pairs(int32_t blocksize)
{
    return blocksize / (2 * kbit_split_block_items(blocksize));
}

/* Tiles of a blockwise op over nblocks blocks: the bound of the groups'
 * grid-stride loop (not capped: a group may do several tiles). */
KBIT_SPLIT_FN int64_t kbit_split_tiles(int64_t nblocks, int32_t blocksize)
{
    int64_t per_tile = kbit_split_tile_blocks(blocksize);
    return (nblocks + per_tile - 1) / per_tile;
}

/* Groups of a blockwise quantize of n elements. */
KBIT_SPLIT_FN int64_t kbit_split_quant_groups(int64_t n, int32_t blocksize)
{
    return kbit_split_groups(kbit_split_nblocks(n, blocksize), kbit_split_tile_blocks(blocksize));
}

/* log2 of a blocksize (a power of two): dequantize indexes absmax by shift. */
KBIT_SPLIT_FN int32_t kbit_split_log2(int32_t blocksize)
{
    int32_t l = 0;
    while (((int32_t)1 << l) < blocksize)
        l++;
    return l;
}

/* dot32 results per group round: one per KBIT_DOT32_LANES items. */
#define KBIT_GPU_DOTS (KBIT_GPU_GROUP / KBIT_DOT32_LANES)

/* Rounds (of KBIT_GPU_DOTS results) of `dots` dot32 results: the bound of
 * the groups' grid-stride loop (not capped). */
KBIT_SPLIT_FN int64_t kbit_split_dot_units(int64_t dots)
{
    return (dots + KBIT_GPU_DOTS - 1) / KBIT_GPU_DOTS;
}

/* Groups of a launch computing `dots` dot32 results. */
KBIT_SPLIT_FN int64_t kbit_split_dot_groups(int64_t dots)
{
    return kbit_split_groups(dots, KBIT_GPU_DOTS);
}

/* ---- LLM.int8() (backends/gpu/int8.h, int8_dot.h) ---- */

/* A group computes a tile of KBIT_SPLIT_I8_TILE x KBIT_SPLIT_I8_TILE outputs
 * (one per item: 16 x 16 = KBIT_GPU_GROUP), staging slices of
 * KBIT_SPLIT_I8_KSTEP k of both operands in work-group memory. */
#define KBIT_SPLIT_I8_TILE 16
#define KBIT_SPLIT_I8_KSTEP 64

/* Output tiles of an M x N product: the bound of the groups' loop. */
KBIT_SPLIT_FN int64_t kbit_split_i8_tiles(int64_t M, int64_t N)
{
    return ((M + KBIT_SPLIT_I8_TILE - 1) / KBIT_SPLIT_I8_TILE) *
           ((N + KBIT_SPLIT_I8_TILE - 1) / KBIT_SPLIT_I8_TILE);
}

/* The 32-bit words of the quantization's column mask (one bit a column):
 * its workspace is 4 bytes each. */
KBIT_SPLIT_FN int64_t kbit_split_i8_mask_words(int64_t cols)
{
    return (cols + 31) / 32;
}

/* Groups of the GEMM launch. */
KBIT_SPLIT_FN int64_t kbit_split_i8_gemm_groups(int64_t M, int64_t N)
{
    return kbit_split_groups(kbit_split_i8_tiles(M, N), 1);
}

#endif /* KBIT_GPU_SPLIT_H */
