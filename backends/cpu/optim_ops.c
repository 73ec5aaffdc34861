/*
 * backends/cpu/optim_ops.c - the CPU driver's optimizer ops: the tensor is cut
 * into 256-element blocks (the 8-bit state blocks) and ranges of whole blocks
 * are handed to the OpenMP threads. Each block is computed the same way
 * whatever thread runs it, and the norm leaves are per block (the core sums
 * them with the pairsum tree), so nothing depends on the thread count.
 */
#include "config.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#include "cpu.h"

/* Below this many elements the calling thread does the work alone; above it,
 * threads take chunks of this many blocks (32 Ki elements). */
#define OPTIM_PARALLEL_MIN (1 << 16)
#define OPTIM_CHUNK_BLOCKS 128

/* One of the two ops, run on a range of blocks by the device's variant. */
typedef struct optim_job {
    const kbit_cpu_kernels *k;
    const kbit_op_optimizer *step; /* or */
    const kbit_op_optimizer_sums *sums;
} optim_job;

static void run_range(const optim_job *j, int64_t b0, int64_t b1)
{
    if (j->step)
        j->k->optimizer_step(j->step, b0, b1);
    else
        j->k->optimizer_sums(j->sums, b0, b1);
}

static void run_blocks(const cpu_ctx *c, const optim_job *j, int64_t n)
{
    int64_t nblocks = (n + KBIT_OPTIM_BLOCK - 1) / KBIT_OPTIM_BLOCK;
    int64_t nchunks = (nblocks + OPTIM_CHUNK_BLOCKS - 1) / OPTIM_CHUNK_BLOCKS;
#ifdef _OPENMP
    int threads = c->threads < nchunks ? c->threads : (int)nchunks;
    if (threads > 1 && n >= OPTIM_PARALLEL_MIN) {
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int64_t i = 0; i < nchunks; i++) {
            int64_t b0 = i * OPTIM_CHUNK_BLOCKS;
            int64_t b1 = b0 + OPTIM_CHUNK_BLOCKS < nblocks ? b0 + OPTIM_CHUNK_BLOCKS : nblocks;
            run_range(j, b0, b1);
        }
        return;
    }
#else
    (void)c;
    (void)nchunks;
#endif
    run_range(j, 0, nblocks);
}

kbit_status kbit_cpu_optimizer_step(void *ctx, const kbit_op_optimizer *op)
{
    const cpu_ctx *c = ctx;
    optim_job j = { c->kernels, op, NULL };
    run_blocks(c, &j, op->n);
    return KBIT_OK;
}

kbit_status kbit_cpu_optimizer_sums(void *ctx, const kbit_op_optimizer_sums *op)
{
    const cpu_ctx *c = ctx;
    optim_job j = { c->kernels, NULL, op };
    run_blocks(c, &j, op->step->n);
    return KBIT_OK;
}
