/*
 * backends/cpu/quant8/ops.c - the CPU driver's 8-bit ops: the encoder plan
 * (the process-wide one of a normative map, else one built for the op),
 * then whole blocks to the splitter; and the family's kernel tables.
 */
#include "config.h"

#include "../split.h"

/* The reference search needs no plan. */
static void ref_quantize(const kbit_op_quantize_8bit *op, const kbit_enc8_plan *plan,
                         int64_t block_begin, int64_t block_end)
{
    (void)plan;
    kbit_ref_quantize_8bit(op, block_begin, block_end);
}

const kbit_cpu_quant8 kbit_cpu_quant8_scalar = { 0, ref_quantize, kbit_ref_dequantize_8bit };
#ifdef KBIT_HAVE_AVX2
const kbit_cpu_quant8 kbit_cpu_quant8_avx2 = {
    1, kbit_avx2_quantize_8bit, kbit_avx2_dequantize_8bit,
};
#endif
#ifdef KBIT_HAVE_AVX512
const kbit_cpu_quant8 kbit_cpu_quant8_avx512 = {
    1, kbit_avx512_quantize_8bit, kbit_avx512_dequantize_8bit,
};
#endif
#ifdef KBIT_HAVE_AVX512VBMI
const kbit_cpu_quant8 kbit_cpu_quant8_avx512vbmi = {
    1, kbit_avx512_quantize_8bit, kbit_avx512vbmi_dequantize_8bit,
};
#endif

/* Pieces of about this many elements (whole blocks). */
#define QUANT8_PIECE (1 << 15)
/* A bucket table of a custom map (256 KiB to fill) pays off from here. */
#define QUANT8_BUCKETS_MIN (1 << 15)

typedef struct job {
    const kbit_cpu_quant8 *k;
    const kbit_op_quantize_8bit *q;
    const kbit_op_dequantize_8bit *dq;
    const kbit_enc8_plan *plan;
} job;

static kbit_status run(void *arg, int thread, int64_t b0, int64_t b1)
{
    const job *j = arg;
    (void)thread;
    if (j->q)
        j->k->quantize(j->q, j->plan, b0, b1);
    else
        j->k->dequantize(j->dq, b0, b1);
    return KBIT_OK;
}

static kbit_status run_blocks(const cpu_ctx *c, job *j, int64_t n, int64_t blocksize)
{
    int64_t nblocks = (n + blocksize - 1) / blocksize;
    int64_t per = blocksize >= QUANT8_PIECE ? 1 : QUANT8_PIECE / blocksize;
    return kbit_cpu_split(c, nblocks, per, (double)n, run, j);
}

kbit_status kbit_cpu_quantize_8bit(void *ctx, const kbit_exec *ex, const kbit_op_quantize_8bit *op)
{
    const cpu_ctx *c = ctx;
    (void)ex;
    job j = { c->v.quant8, op, NULL, NULL };
    /* A normative map's plan and bucket table are ready whatever n is. */
    const kbit_enc8_plan *shared =
        c->v.quant8->uses_buckets ? kbit_enc8_normative_plan(op->map_id) : NULL;
    if (shared != NULL) {
        j.plan = shared;
        return run_blocks(c, &j, op->n, op->blocksize);
    }
    kbit_enc8_plan plan;
    kbit_enc8_plan_storage storage;
    kbit_enc8_plan_init(&plan, &storage, op->mid,
                        c->v.quant8->uses_buckets && op->n >= QUANT8_BUCKETS_MIN);
    j.plan = &plan;
    kbit_status st = run_blocks(c, &j, op->n, op->blocksize);
    kbit_enc8_plan_release(&plan);
    return st;
}

kbit_status kbit_cpu_dequantize_8bit(void *ctx, const kbit_exec *ex,
                                     const kbit_op_dequantize_8bit *op)
{
    const cpu_ctx *c = ctx;
    (void)ex;
    job j = { c->v.quant8, NULL, op, NULL };
    return run_blocks(c, &j, op->n, op->blocksize);
}
