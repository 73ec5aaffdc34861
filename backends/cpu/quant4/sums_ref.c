/* backends/cpu/quant4/sums_ref.c - reference pairsum leaves (doc/determinism.md
 * 4), and the tree: numerics/pairsum.h, as every driver computes them. */
#include "numerics/pairsum.h"
#include "quant4.h"

void kbit_ref_block_sums(const kbit_op_block_sums *op, int64_t block_begin, int64_t block_end)
{
    for (int64_t b = block_begin; b < block_end; b++)
        op->leaves[b] = kbit_pairsum_leaf(op->x, op->n, b);
}

void kbit_ref_pairsum(const kbit_op_pairsum *op)
{
    double s = kbit_pairsum_result(kbit_pairsum_tree(op->leaves, op->count), op->divisor);
    *op->sum = s;
    if (op->sum_f32 != NULL)
        *op->sum_f32 = (float)s;
}
