/*
 * backends/gpu/sums.h - the canonical fp64 sum of doc/determinism.md 4 on a
 * GPU: the leaves (block_sums) and the pairsum tree.
 *
 * Leaves: one item per 256-element leaf adds its elements in increasing
 * order; the order inside a leaf is the contract, so a leaf is never split.
 *
 * The tree runs in ONE work-group of KBIT_GPU_GROUP items, with a barrier
 * between levels. Why a group and not one item: a level's pairs are
 * independent, so the group does them in parallel, and the barrier fixes
 * the level order; why not several groups: there is no barrier across
 * groups inside a launch, and the tree (one leaf per 256 terms) is small
 * beside the leaves, so one launch of one group keeps the whole op on the
 * stream with no host round trip and no extra memory.
 *
 * The tree is kept in place with strides: at the level of stride s the
 * surviving values sit at multiples of s, and position i (a multiple of 2s)
 * takes leaves[i] + leaves[i + s] when i + s < count. Value k of a level
 * lives at k*s, so these are exactly the additions of numerics/pairsum.h's
 * compacting form (p[j] = p[2j] + p[2j+1], an odd last value carried: it
 * stays where it is), with the same operands in the same order; the items
 * of a level touch disjoint positions.
 */
#ifndef KBIT_GPU_SUMS_H
#define KBIT_GPU_SUMS_H

#include "backends/gpu/defs.h"
#include "numerics/numerics.h"
#include "backends/gpu/split.h"

/* leaves[ceil(n/256)]: leaf b = the fp64 sum of x[256b ..] in order.
 * Launch: kbit_split_elem_groups(ceil(n/256)). */
KBIT_GPU_FN void kbit_gk_block_sums(KBIT_GLOBAL const float *x, int64_t n,
                                    KBIT_GLOBAL double *leaves)
{
    const int64_t count = (n + KBIT_PAIRSUM_LEAF - 1) / KBIT_PAIRSUM_LEAF;
    const int64_t stride = KBIT_NGROUPS * KBIT_GPU_GROUP;
    for (int64_t b = KBIT_GROUP * KBIT_GPU_GROUP + KBIT_LID; b < count; b += stride)
        leaves[b] = kbit_pairsum_leaf(x, n, b);
}

/* The tree over leaves[0 .. count) (overwritten), then *sum = result /
 * divisor in fp64 and, when has_f32, *sum_f32 = f32(*sum) (RNE). Launch:
 * exactly one group. */
KBIT_GPU_FN void kbit_gk_pairsum(KBIT_GLOBAL double *leaves, int64_t count, double divisor,
                                 KBIT_GLOBAL double *sum, KBIT_GLOBAL float *sum_f32,
                                 int32_t has_f32)
{
    const int lid = KBIT_LID;
    /* The bound (count) is the same for every item: all reach every barrier. */
    for (int64_t s = 1; s < count; s *= 2) {
        const int64_t step = 2 * s * KBIT_GPU_GROUP;
        for (int64_t i = 2 * s * lid; i + s < count; i += step)
            leaves[i] = kbit_pairsum_add(leaves[i], leaves[i + s]);
        KBIT_BARRIER();
    }
    if (lid == 0) {
        double r = kbit_pairsum_result(leaves[0], divisor);
        *sum = r;
        if (has_f32)
            *sum_f32 = (float)r; /* round to nearest even */
    }
}

#endif /* KBIT_GPU_SUMS_H */
