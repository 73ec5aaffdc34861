/*
 * backends/cpu/ops.c - the CPU driver's ops: split an op's blocks across
 * OpenMP threads and run the device's kernel variant on each range.
 *
 * Chunks are whole blocks and every block is computed the same way whatever
 * thread runs it, so results never depend on the thread count
 * (determinism.md 1).
 */
#include "config.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#include "cpu.h"
#include "kbit-formats.h"

/* Work below this many elements runs on the calling thread (waking a team
 * costs more than it saves); above it, chunks of about this many elements
 * are handed out. */
#define KBIT_CPU_PARALLEL_MIN (1 << 16)
#define KBIT_CPU_CHUNK (1 << 15)
/* The 8-bit bucket table (256 KiB to fill) pays off from about this many elements. */
#define KBIT_CPU_BUCKETS_MIN (1 << 15)

typedef enum op_kind { OP_Q4, OP_DQ4, OP_Q8, OP_DQ8, OP_SUMS } op_kind;

typedef struct job {
    const kbit_cpu_kernels *k;
    op_kind kind;
    const void *op;
    const kbit_enc8_plan *plan; /* OP_Q8 */
} job;

static void run_range(const job *j, int64_t b0, int64_t b1)
{
    switch (j->kind) {
    case OP_Q4: j->k->quantize_4bit(j->op, b0, b1); break;
    case OP_DQ4: j->k->dequantize_4bit(j->op, b0, b1); break;
    case OP_Q8: j->k->quantize_8bit(j->op, j->plan, b0, b1); break;
    case OP_DQ8: j->k->dequantize_8bit(j->op, b0, b1); break;
    case OP_SUMS: j->k->block_sums(j->op, b0, b1); break;
    }
}

/* Run blocks [0, nblocks) of blocksize elements (n in all) on the device's threads. */
static void run_blocks(const cpu_ctx *c, const job *j, int64_t n, int64_t blocksize)
{
    int64_t nblocks = (n + blocksize - 1) / blocksize;
    int64_t per_chunk = blocksize >= KBIT_CPU_CHUNK ? 1 : KBIT_CPU_CHUNK / blocksize;
    int64_t nchunks = (nblocks + per_chunk - 1) / per_chunk;
    int threads = c->threads;
    if (threads > nchunks)
        threads = (int)nchunks;
#ifdef _OPENMP
    if (threads > 1 && n >= KBIT_CPU_PARALLEL_MIN) {
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int64_t i = 0; i < nchunks; i++) {
            int64_t b0 = i * per_chunk;
            int64_t b1 = b0 + per_chunk < nblocks ? b0 + per_chunk : nblocks;
            run_range(j, b0, b1);
        }
        return;
    }
#endif
    run_range(j, 0, nblocks);
}

kbit_status kbit_cpu_quantize_4bit(void *ctx, const kbit_op_quantize_4bit *op)
{
    const cpu_ctx *c = ctx;
    job j = { c->kernels, OP_Q4, op, NULL };
    run_blocks(c, &j, op->n, op->blocksize);
    return KBIT_OK;
}

kbit_status kbit_cpu_dequantize_4bit(void *ctx, const kbit_op_dequantize_4bit *op)
{
    const cpu_ctx *c = ctx;
    job j = { c->kernels, OP_DQ4, op, NULL };
    run_blocks(c, &j, op->n, op->blocksize);
    return KBIT_OK;
}

kbit_status kbit_cpu_quantize_8bit(void *ctx, const kbit_op_quantize_8bit *op)
{
    const cpu_ctx *c = ctx;
    kbit_enc8_plan plan;
    kbit_enc8_plan_storage storage;
    kbit_enc8_plan_init(&plan, &storage, op->mid,
                        c->kernels->uses_buckets && op->n >= KBIT_CPU_BUCKETS_MIN);
    job j = { c->kernels, OP_Q8, op, &plan };
    run_blocks(c, &j, op->n, op->blocksize);
    kbit_enc8_plan_release(&plan);
    return KBIT_OK;
}

kbit_status kbit_cpu_dequantize_8bit(void *ctx, const kbit_op_dequantize_8bit *op)
{
    const cpu_ctx *c = ctx;
    job j = { c->kernels, OP_DQ8, op, NULL };
    run_blocks(c, &j, op->n, op->blocksize);
    return KBIT_OK;
}

kbit_status kbit_cpu_block_sums(void *ctx, const kbit_op_block_sums *op)
{
    const cpu_ctx *c = ctx;
    job j = { c->kernels, OP_SUMS, op, NULL };
    run_blocks(c, &j, op->n, KBIT_PAIRSUM_LEAF);
    return KBIT_OK;
}

