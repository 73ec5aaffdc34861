/*
 * backends/cpu/quant8/avx512vbmi.c - 8-bit blockwise dequantization with the
 * code table held in registers (x86/avx512_lut8.h: 64 codes per lookup, no
 * gathers). The zen4 tuning's kernel (isa.c): on AMD a gather per 16 codes
 * held an EPYC family 1Ah at 0.35 of the copy bandwidth (16 Mi elements,
 * 1 thread). Quantization is the avx512 kernel's.
 */
#include "../x86/avx512_io.h"
#include "../x86/avx512_lut8.h"
#include "numerics/encode.h"
#include "quant8.h"

/* stream and dtype are constants at every call. Full 64-element steps start
 * at a multiple of 64 elements: aligned for streaming whenever the output is. */
KBIT_INLINE void dequantize_block(const kbit_op_dequantize_8bit *op, const k512_lut8 *table,
                                  int stream, kbit_dtype dtype, int64_t b)
{
    int64_t start = b * op->blocksize;
    int64_t count = kbit_block_count(op->n, op->blocksize, b);
    const int add_offset = op->add_offset;
    const __m512 offset = _mm512_set1_ps(op->offset);
    const __m512 absmax = _mm512_set1_ps(op->absmax[b]);
    const uint8_t *q = op->q + start;
    for (int64_t i = 0; i < count; i += 64) {
        kbit_cpu_prefetch(q, i);
        int64_t left = count - i;
        __mmask64 m = left >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << left) - 1);
        __m512 v[4];
        k512_lut8_lookup_ps(table, _mm512_maskz_loadu_epi8(m, q + i), v);
        for (int j = 0; j < 4; j++) {
            v[j] = _mm512_mul_ps(v[j], absmax);
            if (add_offset)
                v[j] = _mm512_add_ps(v[j], offset);
        }
        if (left >= 64) {
            k512_store32(op->out, dtype, start + i, v[0], v[1], stream);
            k512_store32(op->out, dtype, start + i + 32, v[2], v[3], stream);
        } else {
            for (int j = 0; j < 4 && 16 * j < left; j++)
                k512_store_mask(op->out, dtype, start + i + 16 * j, v[j], k512_mask(left - 16 * j));
        }
    }
}

void kbit_avx512vbmi_dequantize_8bit(const kbit_op_dequantize_8bit *op, int64_t block_begin,
                                     int64_t block_end)
{
    k512_lut8 table;
    k512_lut8_init(&table, op->code);
#define BLOCK(STREAM, DT, b) dequantize_block(op, &table, STREAM, DT, b)
    KBIT_DEQUANT_LOOP(op, block_begin, block_end, BLOCK);
#undef BLOCK
}
