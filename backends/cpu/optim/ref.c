/*
 * backends/cpu/optim/ref.c - reference optimizer kernels (doc/numerics.md 6.3-6.5
 * with the NORMATIVE deviations of 6.5, doc/determinism.md 4 for the norm
 * leaves): loops over the per-element rules of numerics/optim.h.
 *
 * Work is split into blocks of KBIT_OPTIM_BLOCK (256) elements: the 8-bit
 * states are quantized per block, and 32-bit states are simply cut the same
 * way.
 */
#include "numerics/encode.h"
#include "numerics/optim.h"
#include "numerics/optim_scales.h"
#include "numerics/pairsum.h"
#include "optim.h"

/* ------------------------------------------------------------------ */
/* 32-bit states (numerics 6.3)                                         */

static void step32_2state(const kbit_op_optimizer *op, const kbit_optim_params *k, int64_t start,
                          int64_t count, const float *graw, float *p)
{
    float *m = (float *)op->state1 + start;
    float *v = (float *)op->state2 + start;
    /* ADEMAMIX: m2 lives at state1[n + i]; ADAM has none (a dummy). */
    float *m2 = op->kernel == KBIT_OPTK_ADEMAMIX ? (float *)op->state1 + op->n + start : NULL;
    for (int64_t i = 0; i < count; i++) {
        float unused = 0.0f;
        kbit_optim32_step2(k, graw[i], &m[i], m2 ? &m2[i] : &unused, &v[i], &p[i]);
    }
}

static void step32_1state(const kbit_op_optimizer *op, const kbit_optim_params *k, int64_t start,
                          int64_t count, const float *graw, float *p)
{
    float *s = (float *)op->state1 + start;
    for (int64_t i = 0; i < count; i++)
        kbit_optim32_step1(k, graw[i], &s[i], &p[i]);
}

/* ------------------------------------------------------------------ */
/* 8-bit blockwise states (numerics 6.5): the three phases of
 * numerics/optim.h over one block                                      */

void kbit_ref_optim_requantize(const float *s, int64_t count, float absmax, const float *map,
                               const float *mid, int sign_fix, uint8_t *q)
{
    for (int64_t i = 0; i < count; i++)
        q[i] = kbit_optim8_requant(s[i], absmax, map, mid, sign_fix);
}

static void step8_2state(const kbit_op_optimizer *op, const kbit_optim_params *k, int64_t b,
                         int64_t start, int64_t count, const float *graw, float *p)
{
    const int64_t nblocks = (op->n + KBIT_OPTIM_BLOCK - 1) / KBIT_OPTIM_BLOCK;
    const int ademamix = op->kernel == KBIT_OPTK_ADEMAMIX;
    uint8_t *q1 = (uint8_t *)op->state1 + start;
    uint8_t *q2 = (uint8_t *)op->state2 + start;
    uint8_t *q3 = (uint8_t *)op->state1 + op->n + start;
    float s1[KBIT_OPTIM_BLOCK], s2[KBIT_OPTIM_BLOCK], s3[KBIT_OPTIM_BLOCK];
    unsigned char upd[KBIT_OPTIM_BLOCK];
    const float a1 = op->absmax1[b], a2 = op->absmax2[b];
    const float a3 = ademamix ? op->absmax1[nblocks + b] : 0.0f;

    for (int64_t i = 0; i < count; i++) {
        s1[i] = kbit_8bit_value(op->qmap1[q1[i]], a1);
        s2[i] = kbit_8bit_value(op->qmap2[q2[i]], a2);
        s3[i] = ademamix ? kbit_8bit_value(op->qmap1[q3[i]], a3) : 0.0f;
        upd[i] = (unsigned char)kbit_optim8_states2(k, graw[i], &s1[i], &s2[i], &s3[i]);
    }
    float n1 = kbit_absmax(s1, count), n2 = kbit_absmax(s2, count);
    float n3 = ademamix ? kbit_absmax(s3, count) : 0.0f;

    for (int64_t i = 0; i < count; i++)
        if (upd[i])
            p[i] = kbit_optim8_param2(k, s1[i], s2[i], s3[i], p[i]);

    op->absmax1[b] = n1;
    op->absmax2[b] = n2;
    kbit_ref_optim_requantize(s1, count, n1, op->qmap1, op->mid1, 1, q1);
    kbit_ref_optim_requantize(s2, count, n2, op->qmap2, op->mid2, 0, q2);
    if (ademamix) {
        op->absmax1[nblocks + b] = n3;
        kbit_ref_optim_requantize(s3, count, n3, op->qmap1, op->mid1, 1, q3);
    }
}

static void step8_1state(const kbit_op_optimizer *op, const kbit_optim_params *k, int64_t b,
                         int64_t start, int64_t count, const float *graw, float *p)
{
    uint8_t *q1 = (uint8_t *)op->state1 + start;
    float s1[KBIT_OPTIM_BLOCK], d[KBIT_OPTIM_BLOCK];
    unsigned char upd[KBIT_OPTIM_BLOCK];
    const float a1 = op->absmax1[b];

    for (int64_t i = 0; i < count; i++) {
        s1[i] = kbit_8bit_value(op->qmap1[q1[i]], a1);
        d[i] = 0.0f;
        upd[i] = (unsigned char)kbit_optim8_state1(k, graw[i], &s1[i], &p[i], &d[i]);
    }
    float n1 = kbit_absmax(s1, count);

    for (int64_t i = 0; i < count; i++)
        if (upd[i])
            p[i] = kbit_optim8_param1(k, graw[i], s1[i], d[i], p[i]);

    op->absmax1[b] = n1;
    kbit_ref_optim_requantize(s1, count, n1, op->qmap1, op->mid1, 1, q1);
}

/* ------------------------------------------------------------------ */

void kbit_ref_optimizer_step(const kbit_op_optimizer *step, int64_t block_begin,
                             int64_t block_end)
{
    const kbit_op_optimizer resolved = kbit_optim_resolved(step), *op = &resolved;
    const kbit_optim_params k = kbit_optim_params_of(op);
    const int two_state = op->kernel == KBIT_OPTK_ADAM || op->kernel == KBIT_OPTK_ADEMAMIX;
    float g[KBIT_OPTIM_BLOCK], p[KBIT_OPTIM_BLOCK];
    for (int64_t b = block_begin; b < block_end; b++) {
        int64_t start = b * KBIT_OPTIM_BLOCK;
        int64_t count = kbit_block_count(op->n, KBIT_OPTIM_BLOCK, b);
        kbit_load_f32(op->g, op->grad_dtype, start, count, g);
        kbit_load_f32(op->p, op->param_dtype, start, count, p);
        if (op->state_bits == 32) {
            if (two_state)
                step32_2state(op, &k, start, count, g, p);
            else
                step32_1state(op, &k, start, count, g, p);
        } else {
            if (two_state)
                step8_2state(op, &k, b, start, count, g, p);
            else
                step8_1state(op, &k, b, start, count, g, p);
        }
        kbit_store_f32(op->p, op->param_dtype, start, count, p);
    }
}

void kbit_ref_optimizer_sums(const kbit_op_optimizer_sums *op, int64_t block_begin,
                             int64_t block_end)
{
    const kbit_op_optimizer resolved = kbit_optim_resolved(op->step), *s = &resolved;
    const kbit_optim_params k = kbit_optim_params_of(s);
    float x[KBIT_OPTIM_BLOCK];
    for (int64_t b = block_begin; b < block_end; b++) {
        int64_t start = b * KBIT_OPTIM_BLOCK;
        int64_t count = kbit_block_count(s->n, KBIT_OPTIM_BLOCK, b);
        if (op->which == KBIT_OPTSUM_PARAM_SQ)
            kbit_load_f32(s->p, s->param_dtype, start, count, x);
        else
            kbit_load_f32(s->g, s->grad_dtype, start, count, x);
        double sum = 0.0; /* a pairsum leaf (determinism 4) */
        if (op->which == KBIT_OPTSUM_UPDATE_SQ) {
            const float *s1 = (const float *)s->state1 + start;
            const float *s2 = s->kernel == KBIT_OPTK_ADAM ? (const float *)s->state2 + start : NULL;
            for (int64_t i = 0; i < count; i++)
                sum = kbit_pairsum_add(sum, kbit_optim_update_leaf_term(&k, x[i], s1[i],
                                                                        s2 ? s2[i] : 0.0f));
        } else {
            for (int64_t i = 0; i < count; i++)
                sum = kbit_pairsum_add(sum, kbit_pairsum_square(x[i]));
        }
        op->leaves[b] = sum;
    }
}

void kbit_ref_optimizer_scales(const kbit_op_optimizer_scales *op)
{
    if (op->phase == KBIT_OPTSCALE_PHASE_CLIP)
        kbit_optim_scales_clip(op->sums, op->history, op->scales, op->step, op->percentile,
                               op->gnorm_scale);
    else
        kbit_optim_scales_unorm(op->sums, op->scales, op->clipped, op->gnorm_scale,
                                op->max_unorm, op->eps, op->add_eps);
}
