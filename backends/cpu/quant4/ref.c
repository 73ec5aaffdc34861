/* backends/cpu/quant4/ref.c - reference 4-bit (NF4/FP4) blockwise kernels
 * (doc/numerics.md 1.3-1.9): loops over the element rules of
 * numerics/encode.h. */
#include "numerics/encode.h"
#include "quant4.h"

void kbit_ref_quantize_4bit(const kbit_op_quantize_4bit *op, int64_t block_begin, int64_t block_end)
{
    const kbit_quant_type type = op->type;
    float v[KBIT_MAX_BLOCK];
    for (int64_t b = block_begin; b < block_end; b++) {
        int64_t start = b * op->blocksize;
        int64_t count = kbit_block_count(op->n, op->blocksize, b);
        kbit_load_f32(op->x, op->dtype, start, count, v);

        float absmax = kbit_absmax(v, count);
        float r = kbit_block_recip(absmax);
        op->absmax[b] = absmax;

        /* start is even, so the block's bytes begin at start / 2. */
        uint8_t *out = op->packed + start / 2;
        int64_t i = 0;
        for (; i + 1 < count; i += 2)
            out[i / 2] = kbit_4bit_pack(type, v[i], v[i + 1], r);
        if (i < count) /* odd n: pad with +0.0 normalised by this block's reciprocal */
            out[i / 2] = kbit_4bit_pack(type, v[i], 0.0f, r);
    }
}

void kbit_ref_dequantize_4bit(const kbit_op_dequantize_4bit *op, int64_t block_begin, int64_t block_end)
{
    float v[KBIT_MAX_BLOCK];
    for (int64_t b = block_begin; b < block_end; b++) {
        int64_t start = b * op->blocksize;
        int64_t count = kbit_block_count(op->n, op->blocksize, b);
        float absmax = op->absmax[b];
        for (int64_t i = 0; i < count; i++) {
            int64_t e = start + i;
            v[i] = kbit_4bit_value(op->type, kbit_4bit_code(op->packed[e / 2], e), absmax);
        }
        kbit_store_f32(op->out, op->out_dtype, start, count, v);
    }
}
