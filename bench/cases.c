/* bench/cases.c - the timed operations. Blocksizes follow bitsandbytes'
 * defaults: 64 for 4-bit (quantize_4bit), 4096 for 8-bit (quantize_blockwise).
 * Targets: 4-bit quantize should reach 0.8 of the copy bandwidth,
 * every dequantize 0.9, 8-bit quantize (a search per element) 0.5. */
#include <config.h>

#include "cases.h"

#define NO_BNB_Q4 "bitsandbytes has no CPU 4-bit quantize kernel (it runs in PyTorch)"

const bench_case bench_cases[] = {
    { "copy.f32", BENCH_COPY, 0, KBIT_F32, 0, 0.0, NULL, "" },
    { "memcpy.f32", BENCH_MEMCPY, 0, KBIT_F32, 0, 0.0, NULL, "" },
    { "read.f32", BENCH_READ, 0, KBIT_F32, 0, 0.0, NULL, "" },
    { "nf4.quant.f32", BENCH_QUANT4, KBIT_NF4, KBIT_F32, 64, 0.8, NULL, NO_BNB_Q4 },
    { "nf4.dequant.f32", BENCH_DEQUANT4, KBIT_NF4, KBIT_F32, 64, 0.9,
      "cdequantize_blockwise_cpu_nf4_fp32", NULL },
    { "nf4.dequant.bf16", BENCH_DEQUANT4, KBIT_NF4, KBIT_BF16, 64, 0.9,
      "cdequantize_blockwise_cpu_nf4_bf16", NULL },
    { "fp4.quant.f32", BENCH_QUANT4, KBIT_FP4, KBIT_F32, 64, 0.8, NULL, NO_BNB_Q4 },
    { "fp4.dequant.f32", BENCH_DEQUANT4, KBIT_FP4, KBIT_F32, 64, 0.9,
      "cdequantize_blockwise_cpu_fp4_fp32", NULL },
    { "fp4.dequant.bf16", BENCH_DEQUANT4, KBIT_FP4, KBIT_BF16, 64, 0.9,
      "cdequantize_blockwise_cpu_fp4_bf16", NULL },
    { "q8.quant.f32", BENCH_QUANT8, 0, KBIT_F32, 4096, 0.5, "cquantize_blockwise_cpu_fp32",
      NULL },
    { "q8.dequant.f32", BENCH_DEQUANT8, 0, KBIT_F32, 4096, 0.9,
      "cdequantize_blockwise_cpu_fp32", NULL },
};
const int bench_case_count = (int)(sizeof bench_cases / sizeof bench_cases[0]);

int bench_case_is_copy(const bench_case *c)
{
    return c->kind == BENCH_COPY || c->kind == BENCH_MEMCPY || c->kind == BENCH_READ;
}

static size_t nblocks(const bench_case *c, int64_t n)
{
    return (size_t)kbit_nblocks(n, c->blocksize);
}

size_t bench_case_src_bytes(const bench_case *c, int64_t n)
{
    switch (c->kind) {
    case BENCH_DEQUANT4:
        return (size_t)kbit_packed_4bit_bytes(n);
    case BENCH_DEQUANT8:
        return (size_t)n;
    default:
        return (size_t)n * sizeof(float);
    }
}

size_t bench_case_absmax_bytes(const bench_case *c, int64_t n)
{
    return bench_case_is_copy(c) ? 0 : nblocks(c, n) * sizeof(float);
}

size_t bench_case_dst_bytes(const bench_case *c, int64_t n)
{
    switch (c->kind) {
    case BENCH_QUANT4:
        return (size_t)kbit_packed_4bit_bytes(n);
    case BENCH_QUANT8:
        return (size_t)n;
    case BENCH_READ:
        return 0;
    default:
        return (size_t)n * kbit_dtype_size(c->out_dtype);
    }
}

size_t bench_case_moved_bytes(const bench_case *c, int64_t n)
{
    return bench_case_src_bytes(c, n) + bench_case_absmax_bytes(c, n) +
           bench_case_dst_bytes(c, n);
}

kbit_status bench_case_prepare(const bench_case *c, kbit_device *device, const bench_slot *s,
                               const float *x, int64_t n)
{
    switch (c->kind) {
    case BENCH_DEQUANT4:
        return kbit_quantize_4bit(device, c->qtype, KBIT_F32, x, n, c->blocksize, s->src,
                                  s->absmax);
    case BENCH_DEQUANT8:
        return kbit_quantize_8bit(device, KBIT_F32, x, n, c->blocksize, NULL, s->src,
                                  s->absmax);
    default:
        return kbit_copy(device, s->src, x, (size_t)n * sizeof(float), KBIT_DEVICE_TO_DEVICE);
    }
}

kbit_status bench_case_run(const bench_case *c, kbit_device *device, const bench_slot *s,
                           int64_t n)
{
    switch (c->kind) {
    case BENCH_QUANT4:
        return kbit_quantize_4bit(device, c->qtype, KBIT_F32, s->src, n, c->blocksize, s->dst,
                                  s->absmax);
    case BENCH_DEQUANT4:
        return kbit_dequantize_4bit(device, c->qtype, s->src, s->absmax, n, c->blocksize,
                                    c->out_dtype, s->dst);
    case BENCH_QUANT8:
        return kbit_quantize_8bit(device, KBIT_F32, s->src, n, c->blocksize, NULL, s->dst,
                                  s->absmax);
    case BENCH_DEQUANT8:
        return kbit_dequantize_8bit(device, s->src, s->absmax, n, c->blocksize, NULL,
                                    c->out_dtype, s->dst);
    default:
        return KBIT_ENOTSUP; /* the copies are run by copy.c */
    }
}
