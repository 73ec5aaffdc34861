/*
 * backends/cpu/optim/ops.c - the CPU driver's optimizer ops: the tensor is cut
 * into 256-element blocks (the 8-bit state blocks) and ranges of whole blocks
 * are handed to the OpenMP threads. Each block is computed the same way
 * whatever thread runs it, and the norm leaves are per block (the core sums
 * them with the pairsum tree), so nothing depends on the thread count.
 */
#include "config.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "../cpu.h"

/* Below this many elements the calling thread does the work alone; above it,
 * threads take chunks of this many blocks (32 Ki elements). */
#define OPTIM_PARALLEL_MIN (1 << 16)
#define OPTIM_CHUNK_BLOCKS 128
/* A bucket table for another map than the two normative ones (256 KiB to
 * fill per op) pays off from here. */
#define OPTIM_BUCKETS_MIN (1 << 15)

/* The plans of the two normative maps, built once per process: nearly every
 * 8-bit state uses them, and filling two tables per step would cost as much
 * as stepping a tensor of some 50K elements (frameworks step many). */
static struct normative_plan {
    float mid[255];
    kbit_enc8_plan plan;
    kbit_enc8_plan_storage storage;
} normative[2];
static pthread_once_t normative_once = PTHREAD_ONCE_INIT;

static void build_normative(void)
{
    for (int k = 0; k < 2; k++) {
        const float *map = kbit_dynamic_map(k == 0 ? KBIT_MAP_SIGNED : KBIT_MAP_UNSIGNED);
        for (int i = 0; i < 255; i++) /* as the core's kbit_map_midpoints */
            normative[k].mid[i] = (map[i] + map[i + 1]) * 0.5f;
        kbit_enc8_plan_init(&normative[k].plan, &normative[k].storage, normative[k].mid, 1);
    }
}

/* A plan for mid: the shared one when mid is a normative map's (returns 1:
 * not to be released), else one built in storage. */
static int plan_for(const kbit_cpu_kernels *k, int64_t n, const float *mid,
                    kbit_enc8_plan *plan, kbit_enc8_plan_storage *storage)
{
    pthread_once(&normative_once, build_normative);
    for (int i = 0; i < 2 && k->uses_buckets; i++)
        if (memcmp(mid, normative[i].mid, sizeof normative[i].mid) == 0) {
            *plan = normative[i].plan;
            return 1;
        }
    kbit_enc8_plan_init(plan, storage, mid, k->uses_buckets && n >= OPTIM_BUCKETS_MIN);
    return 0;
}

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
    int shared1 = 0, shared2 = 0;
    if (op->state_bits == 8) {
        shared1 = plan_for(c->kernels, op->n, op->mid1, &plans.plan1, &storage1);
        shared2 = plan_for(c->kernels, op->n, op->mid2 ? op->mid2 : op->mid1, &plans.plan2,
                           &storage2);
        plans.neg1 = negative_prefix(op->qmap1);
    }
    optim_job j = { c->kernels, op, NULL, op->state_bits == 8 ? &plans : NULL };
    run_blocks(c, &j, op->n);
    if (op->state_bits == 8 && !shared1)
        kbit_enc8_plan_release(&plans.plan1);
    if (op->state_bits == 8 && !shared2)
        kbit_enc8_plan_release(&plans.plan2);
    return KBIT_OK;
}

kbit_status kbit_cpu_optimizer_sums(void *ctx, const kbit_op_optimizer_sums *op)
{
    const cpu_ctx *c = ctx;
    optim_job j = { c->kernels, NULL, op, NULL };
    run_blocks(c, &j, op->step->n);
    return KBIT_OK;
}
