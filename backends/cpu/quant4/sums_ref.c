/* backends/cpu/quant4/sums_ref.c - reference pairsum leaves (determinism.md 4): the
 * fp64 sum of each 256-element block, in ascending element order from +0.0. */
#include "kbit-formats.h"
#include "../ref.h"

void kbit_ref_block_sums(const kbit_op_block_sums *op, int64_t block_begin, int64_t block_end)
{
    for (int64_t b = block_begin; b < block_end; b++) {
        int64_t start = b * KBIT_PAIRSUM_LEAF;
        int64_t end = op->n - start < KBIT_PAIRSUM_LEAF ? op->n : start + KBIT_PAIRSUM_LEAF;
        double s = 0.0;
        for (int64_t i = start; i < end; i++)
            s += (double)op->x[i];
        op->sums[b] = s;
    }
}
