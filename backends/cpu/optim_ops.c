/*
 * backends/cpu/optim_ops.c - the CPU driver's optimizer ops: the tensor is cut
 * into 256-element blocks (the 8-bit state blocks) and ranges of whole blocks
 * are handed to the OpenMP threads. Each block is computed the same way
 * whatever thread runs it, and the norm leaves are per block (the core sums
 * them with the pairsum tree), so nothing depends on the thread count.
 */
#include "config.h"

#include <math.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "cpu.h"

/* Below this many elements the calling thread does the work alone; above it,
 * threads take chunks of this many blocks (32 Ki elements). */
#define OPTIM_PARALLEL_MIN (1 << 16)
#define OPTIM_CHUNK_BLOCKS 128
/* The 8-bit encoders' bucket tables (2 x 256 KiB to fill) pay off from here. */
#define OPTIM_BUCKETS_MIN (1 << 15)

/* kbit_optim_plans.neg1 for a map. */
static int negative_prefix(const float *map)
{
    int neg = 0;
    while (neg < 256 && signbit(map[neg]))
        neg++;
    for (int i = neg; i < 256; i++)
        if (signbit(map[i]))
            return -1;
    return neg;
}

/* One of the two ops, run on a range of blocks by the device's variant. */
typedef struct optim_job {
    const kbit_cpu_kernels *k;
    const kbit_op_optimizer *step; /* or */
    const kbit_op_optimizer_sums *sums;
    const kbit_optim_plans *plans; /* step, 8-bit states */
} optim_job;

static void run_range(const optim_job *j, int64_t b0, int64_t b1)
{
    if (j->step)
        j->k->optimizer_step(j->step, j->plans, b0, b1);
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
    kbit_optim_plans plans;
    kbit_enc8_plan_storage storage1, storage2;
    if (op->state_bits == 8) {
        int buckets = c->kernels->uses_buckets && op->n >= OPTIM_BUCKETS_MIN;
        kbit_enc8_plan_init(&plans.plan1, &storage1, op->mid1, buckets);
        kbit_enc8_plan_init(&plans.plan2, &storage2, op->mid2 ? op->mid2 : op->mid1,
                            buckets && op->mid2);
        plans.neg1 = negative_prefix(op->qmap1);
    }
    optim_job j = { c->kernels, op, NULL, op->state_bits == 8 ? &plans : NULL };
    run_blocks(c, &j, op->n);
    if (op->state_bits == 8) {
        kbit_enc8_plan_release(&plans.plan1);
        kbit_enc8_plan_release(&plans.plan2);
    }
    return KBIT_OK;
}

kbit_status kbit_cpu_optimizer_sums(void *ctx, const kbit_op_optimizer_sums *op)
{
    const cpu_ctx *c = ctx;
    optim_job j = { c->kernels, NULL, op, NULL };
    run_blocks(c, &j, op->step->n);
    return KBIT_OK;
}
