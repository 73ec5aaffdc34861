/*
 * numerics/pairsum.h - the canonical fp64 sum of doc/determinism.md 4: leaves
 * are sequential fp64 sums of 256 consecutive terms, each term widened to
 * fp64 exactly, reduced by a fixed tree. A driver may compute the leaves and
 * run the tree wherever it likes (a GPU in one work item), as long as it
 * does exactly these additions.
 */
#ifndef KBIT_NUMERICS_PAIRSUM_H
#define KBIT_NUMERICS_PAIRSUM_H

#include "kbit-formats.h"
#include "numerics/platform.h"

/* One step of a leaf: s + term, in fp64. */
KBIT_NUM_FN double kbit_pairsum_add(double s, double term)
{
    return KBIT_DADD(s, term);
}

/* The term of a sum of squares, (double)x * (double)x: exact in fp64. */
KBIT_NUM_FN double kbit_pairsum_square(float x)
{
    return KBIT_DMUL((double)x, (double)x);
}

/* Leaf b of x[0..n): the fp64 sum of x[256b .. min(256b+256, n)) in
 * increasing order, starting from +0.0. */
KBIT_NUM_FN double kbit_pairsum_leaf(KBIT_GLOBAL const float *x, int64_t n, int64_t b)
{
    int64_t start = b * KBIT_PAIRSUM_LEAF;
    int64_t end = n - start < KBIT_PAIRSUM_LEAF ? n : start + KBIT_PAIRSUM_LEAF;
    double s = 0.0;
    for (int64_t i = start; i < end; i++)
        s = kbit_pairsum_add(s, (double)x[i]);
    return s;
}

/* The tree over count leaves, level by level: p[i] = p[2i] + p[2i+1], an
 * odd last element carried. Overwrites leaves; +0.0 for count 0. */
KBIT_NUM_FN double kbit_pairsum_tree(KBIT_GLOBAL double *leaves, int64_t count)
{
    if (count == 0)
        return 0.0;
    while (count > 1) {
        int64_t next = 0;
        for (int64_t i = 0; i + 1 < count; i += 2)
            leaves[next++] = KBIT_DADD(leaves[i], leaves[i + 1]);
        if (count % 2 == 1)
            leaves[next++] = leaves[count - 1];
        count = next;
    }
    return leaves[0];
}

/* The value a pairsum op hands back: the tree's result over divisor (1, or
 * the term count of a mean) in fp64 (determinism 4 step 3). */
KBIT_NUM_FN double kbit_pairsum_result(double tree, double divisor)
{
    return KBIT_DDIV(tree, divisor);
}

#endif /* KBIT_NUMERICS_PAIRSUM_H */
