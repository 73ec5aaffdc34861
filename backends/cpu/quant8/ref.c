/* backends/cpu/quant8/ref.c - reference 8-bit blockwise dynamic kernels
 * (doc/numerics.md 2.4-2.5, and the nested absmax of 3): loops over the
 * element rules of numerics/encode.h. */
#include "numerics/encode.h"
#include "quant8.h"

void kbit_ref_quantize_8bit(const kbit_op_quantize_8bit *op, int64_t block_begin, int64_t block_end)
{
    /* The core passes the midpoints of a valid (ascending, NaN-free) map, for
     * which the binary search gives the literal count; keep the literal form
     * for anything else so the reference is defined for every array. */
    const int sorted = kbit_mid_sorted(op->mid);
    float v[KBIT_MAX_BLOCK];
    for (int64_t b = block_begin; b < block_end; b++) {
        int64_t start = b * op->blocksize;
        int64_t count = kbit_block_count(op->n, op->blocksize, b);
        kbit_load_f32(op->x, op->dtype, start, count, v);
        if (op->center) /* nested absmax: centre in fp32 first */
            for (int64_t i = 0; i < count; i++)
                v[i] = kbit_nested_center(v[i], *op->offset);

        float absmax = kbit_absmax(v, count);
        float r = kbit_block_recip(absmax);
        op->absmax[b] = absmax;

        uint8_t *q = op->q + start;
        for (int64_t i = 0; i < count; i++)
            q[i] = kbit_8bit_encode(v[i], r, op->mid, sorted);
    }
}

void kbit_ref_dequantize_8bit(const kbit_op_dequantize_8bit *op, int64_t block_begin, int64_t block_end)
{
    float v[KBIT_MAX_BLOCK];
    for (int64_t b = block_begin; b < block_end; b++) {
        int64_t start = b * op->blocksize;
        int64_t count = kbit_block_count(op->n, op->blocksize, b);
        float absmax = op->absmax[b];
        const uint8_t *q = op->q + start;
        for (int64_t i = 0; i < count; i++) {
            v[i] = kbit_8bit_value(op->code[q[i]], absmax);
            if (op->add_offset) /* nested reconstruction: a second, separate rounding */
                v[i] = kbit_nested_uncenter(v[i], op->offset);
        }
        kbit_store_f32(op->out, op->out_dtype, start, count, v);
    }
}
