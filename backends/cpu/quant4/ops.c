/*
 * backends/cpu/quant4/ops.c - the CPU driver's 4-bit ops: whole blocks of
 * an op go to the splitter (split.c); and the family's kernel tables.
 */
#include "config.h"

#include "../split.h"

const kbit_cpu_quant4 kbit_cpu_quant4_scalar = {
    kbit_ref_quantize_4bit, kbit_ref_dequantize_4bit, kbit_ref_block_sums,
};
#ifdef KBIT_HAVE_AVX2
const kbit_cpu_quant4 kbit_cpu_quant4_avx2 = {
    kbit_avx2_quantize_4bit, kbit_avx2_dequantize_4bit, kbit_avx2_block_sums,
};
#endif
#ifdef KBIT_HAVE_AVX512
const kbit_cpu_quant4 kbit_cpu_quant4_avx512 = {
    kbit_avx512_quantize_4bit, kbit_avx512_dequantize_4bit, kbit_avx512_block_sums,
};
#endif

/* Pieces of about this many elements (whole blocks). */
#define QUANT4_PIECE (1 << 15)

static int64_t blocks_per_piece(int64_t blocksize)
{
    return blocksize >= QUANT4_PIECE ? 1 : QUANT4_PIECE / blocksize;
}

typedef struct job {
    const kbit_cpu_quant4 *k;
    const void *op;
    int kind; /* 0 quantize, 1 dequantize, 2 block sums */
} job;

static kbit_status run(void *arg, int thread, int64_t b0, int64_t b1)
{
    const job *j = arg;
    (void)thread;
    if (j->kind == 0)
        j->k->quantize(j->op, b0, b1);
    else if (j->kind == 1)
        j->k->dequantize(j->op, b0, b1);
    else
        j->k->block_sums(j->op, b0, b1);
    return KBIT_OK;
}

static kbit_status run_blocks(const cpu_ctx *c, int kind, const void *op, int64_t n,
                              int64_t blocksize)
{
    job j = { c->v.quant4, op, kind };
    int64_t nblocks = (n + blocksize - 1) / blocksize;
    return kbit_cpu_split(c, nblocks, blocks_per_piece(blocksize), (double)n, run, &j);
}

kbit_status kbit_cpu_quantize_4bit(void *ctx, const kbit_exec *ex, const kbit_op_quantize_4bit *op)
{
    (void)ex;
    return run_blocks(ctx, 0, op, op->n, op->blocksize);
}

kbit_status kbit_cpu_dequantize_4bit(void *ctx, const kbit_exec *ex,
                                     const kbit_op_dequantize_4bit *op)
{
    (void)ex;
    return run_blocks(ctx, 1, op, op->n, op->blocksize);
}

kbit_status kbit_cpu_block_sums(void *ctx, const kbit_exec *ex, const kbit_op_block_sums *op)
{
    (void)ex;
    return run_blocks(ctx, 2, op, op->n, KBIT_PAIRSUM_LEAF);
}

/* The tree is a few thousand fp64 additions: one thread. */
kbit_status kbit_cpu_pairsum(void *ctx, const kbit_exec *ex, const kbit_op_pairsum *op)
{
    (void)ctx;
    (void)ex;
    kbit_ref_pairsum(op);
    return KBIT_OK;
}
