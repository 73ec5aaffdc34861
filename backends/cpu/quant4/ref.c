/* backends/cpu/quant4/ref.c - reference 4-bit (NF4/FP4) blockwise kernels
 * (doc/numerics.md 1.3-1.9). */
#include "numerics/encode.h"
#include "quant4.h"

static inline unsigned encode(kbit_quant_type type, float x)
{
    return type == KBIT_NF4 ? kbit_nf4_encode(x) : kbit_fp4_encode(x);
}

void kbit_ref_quantize_4bit(const kbit_op_quantize_4bit *op, int64_t block_begin, int64_t block_end)
{
    const kbit_quant_type type = op->type;
    float v[KBIT_CPU_MAX_BLOCK];
    for (int64_t b = block_begin; b < block_end; b++) {
        int64_t start = b * op->blocksize;
        int64_t count = kbit_block_count(op->n, op->blocksize, b);
        kbit_load_f32(op->x, op->dtype, start, count, v);

        float absmax = kbit_absmax(v, count);
        float r = 1.0f / absmax; /* IEEE division: +inf for an all-zero/all-NaN block */
        op->absmax[b] = absmax;

        /* start is even, so the block's bytes begin at start / 2. */
        uint8_t *out = op->packed + start / 2;
        int64_t i = 0;
        for (; i + 1 < count; i += 2)
            out[i / 2] = (uint8_t)((encode(type, v[i] * r) << 4) | encode(type, v[i + 1] * r));
        if (i < count) /* odd n: pad with +0.0 normalised by this block's reciprocal */
            out[i / 2] = (uint8_t)((encode(type, v[i] * r) << 4) | encode(type, 0.0f * r));
    }
}

void kbit_ref_dequantize_4bit(const kbit_op_dequantize_4bit *op, int64_t block_begin, int64_t block_end)
{
    float v[KBIT_CPU_MAX_BLOCK];
    for (int64_t b = block_begin; b < block_end; b++) {
        int64_t start = b * op->blocksize;
        int64_t count = kbit_block_count(op->n, op->blocksize, b);
        float absmax = op->absmax[b];
        for (int64_t i = 0; i < count; i++) {
            int64_t e = start + i;
            uint8_t byte = op->packed[e / 2];
            unsigned q = (e & 1) ? (byte & 15u) : (byte >> 4u);
            v[i] = kbit_4bit_decode(op->type, q) * absmax;
        }
        kbit_store_f32(op->out, op->out_dtype, start, count, v);
    }
}
