/*
 * backends/cpu/optim/ops.c - the CPU driver's optimizer ops: the tensor is
 * cut into 256-element blocks (the 8-bit state blocks) for the splitter; the
 * norm leaves are per block and the scales are numerics/optim_scales.h as
 * every driver runs it (kbit_ref_optimizer_scales). And the family's kernel tables.
 */
#include "config.h"

#include <math.h>

#include "../split.h"

static void ref_step(const kbit_op_optimizer *op, const kbit_optim_plans *plans,
                     int64_t block_begin, int64_t block_end)
{
    (void)plans;
    kbit_ref_optimizer_step(op, block_begin, block_end);
}

const kbit_cpu_optim kbit_cpu_optim_scalar = { ref_step, kbit_ref_optimizer_sums };
#ifdef KBIT_HAVE_AVX2
const kbit_cpu_optim kbit_cpu_optim_avx2 = { kbit_avx2_optimizer_step, kbit_ref_optimizer_sums };
#endif
#ifdef KBIT_HAVE_AVX512
const kbit_cpu_optim kbit_cpu_optim_avx512 = { kbit_avx512_optimizer_step,
                                               kbit_ref_optimizer_sums };
#endif
#ifdef KBIT_HAVE_AVX512VBMI
const kbit_cpu_optim kbit_cpu_optim_avx512vbmi = { kbit_avx512vbmi_optimizer_step,
                                                   kbit_ref_optimizer_sums };
#endif

/* Pieces of this many blocks (32 Ki elements). */
#define OPTIM_PIECE_BLOCKS 128
/* A bucket table for another map than the two normative ones (256 KiB to
 * fill per op) pays off from here. */
#define OPTIM_BUCKETS_MIN (1 << 15)

/* A plan for mid: the process-wide one of a normative map (returns 1: not
 * to be released), else one built in storage. */
static int plan_for(int uses_buckets, int64_t n, kbit_map_id id, const float *mid,
                    kbit_enc8_plan *plan, kbit_enc8_plan_storage *storage)
{
    const kbit_enc8_plan *shared = uses_buckets ? kbit_enc8_normative_plan(id) : NULL;
    if (shared != NULL) {
        *plan = *shared;
        return 1;
    }
    kbit_enc8_plan_init(plan, storage, mid, uses_buckets && n >= OPTIM_BUCKETS_MIN);
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

typedef struct step_job {
    const kbit_cpu_optim *k;
    const kbit_op_optimizer *step;
    const kbit_op_optimizer_sums *sums;
    const kbit_optim_plans *plans; /* step, 8-bit states */
} step_job;

static kbit_status run(void *arg, int thread, int64_t b0, int64_t b1)
{
    const step_job *j = arg;
    (void)thread;
    if (j->step)
        j->k->step(j->step, j->plans, b0, b1);
    else
        j->k->sums(j->sums, b0, b1);
    return KBIT_OK;
}

static kbit_status run_blocks(const cpu_ctx *c, step_job *j, int64_t n)
{
    int64_t nblocks = (n + KBIT_OPTIM_BLOCK - 1) / KBIT_OPTIM_BLOCK;
    return kbit_cpu_split(c, nblocks, OPTIM_PIECE_BLOCKS, (double)n, run, j);
}

kbit_status kbit_cpu_optimizer_step(void *ctx, const kbit_exec *ex, const kbit_op_optimizer *op)
{
    const cpu_ctx *c = ctx;
    (void)ex;
    kbit_op_optimizer r = kbit_optim_resolved(op);
    kbit_optim_plans plans;
    kbit_enc8_plan_storage storage1, storage2;
    int shared1 = 1, shared2 = 1, eight = op->state_bits == 8;
    int buckets = c->v.quant8->uses_buckets;
    if (eight) {
        shared1 = plan_for(buckets, op->n, op->map1_id, op->mid1, &plans.plan1, &storage1);
        if (op->mid2 != NULL)
            shared2 = plan_for(buckets, op->n, op->map2_id, op->mid2, &plans.plan2, &storage2);
        else
            shared2 = plan_for(buckets, op->n, op->map1_id, op->mid1, &plans.plan2, &storage2);
        plans.neg1 = negative_prefix(op->qmap1);
    }
    step_job j = { c->v.optim, &r, NULL, eight ? &plans : NULL };
    kbit_status st = run_blocks(c, &j, op->n);
    if (!shared1)
        kbit_enc8_plan_release(&plans.plan1);
    if (!shared2)
        kbit_enc8_plan_release(&plans.plan2);
    return st;
}

kbit_status kbit_cpu_optimizer_step_many(void *ctx, const kbit_exec *ex,
                                         const kbit_op_optimizer *const *ops, int64_t count)
{
    for (int64_t i = 0; i < count; i++) {
        kbit_status st = kbit_cpu_optimizer_step(ctx, ex, ops[i]);
        if (st != KBIT_OK)
            return st;
    }
    return KBIT_OK;
}

kbit_status kbit_cpu_optimizer_sums(void *ctx, const kbit_exec *ex,
                                    const kbit_op_optimizer_sums *op)
{
    const cpu_ctx *c = ctx;
    (void)ex;
    kbit_op_optimizer step = kbit_optim_resolved(op->step);
    kbit_op_optimizer_sums sums = *op;
    sums.step = &step;
    step_job j = { c->v.optim, NULL, &sums, NULL };
    return run_blocks(c, &j, op->step->n);
}

kbit_status kbit_cpu_optimizer_scales(void *ctx, const kbit_exec *ex,
                                      const kbit_op_optimizer_scales *op)
{
    (void)ctx;
    (void)ex;
    kbit_ref_optimizer_scales(op);
    return KBIT_OK;
}
