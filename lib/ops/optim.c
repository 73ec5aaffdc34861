/*
 * lib/ops/optim.c - optimizer steps (doc/numerics.md 6): check everything,
 * compute the host scalars once, then enqueue the step. With percentile
 * clipping (6.7) or max_unorm (6.4) the norms come first, all on the device:
 * per-256-element fp64 leaves, the pairsum tree (doc/determinism.md 4) and the
 * scales of numerics/optim_scales.h, which the step then reads from device
 * memory. Nothing returns to the host during a step.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/check.h"
#include "runtime/error.h"
#include "ops/optim.h"
#include "ops/maps.h"
#include "ops/state.h"

/* Everything about one tensor's step that can be checked before running it. */
static kbit_status check_tensor(kbit_device *dev, const kbit_optim_config *c,
                                const kbit_optim_state *s, const void *param, const void *grad,
                                kbit_dtype grad_dtype, const char *fn, int64_t index)
{
    char arg[64];
    snprintf(arg, sizeof arg, index < 0 ? "state" : "states[%lld]", (long long)index);
    kbit_status st = kbit_optim_check_state(s, dev, fn, arg);
    if (st != KBIT_OK)
        return st;
    if (s->kind != c->kind)
        return kbit_error(KBIT_EINVAL, "%s: config->kind = %d but %s was created for kind %d",
                          fn, (int)c->kind, arg, (int)s->kind);
    if (s->step == INT64_MAX)
        return kbit_error(KBIT_EOVERFLOW, "%s: the step counter of %s is exhausted", fn, arg);
    kbit_optim_kernel k = kbit_optim_kernel_of(c->kind);
    if (c->max_unorm > 0.0 && s->state_bits == 8 &&
        (k == KBIT_OPTK_RMSPROP || k == KBIT_OPTK_ADAGRAD || k == KBIT_OPTK_LION))
        return kbit_error(KBIT_EINVAL,
                          "%s: config->max_unorm must be 0 for %s, which has 8-bit states "
                          "(numerics 6.4: only 32-bit states have an update scale)", fn, arg);
    snprintf(arg, sizeof arg, index < 0 ? "param" : "params[%lld]", (long long)index);
    if ((st = kbit_check_data(param, s->n, kbit_dtype_size(s->param_dtype), fn, arg)) != KBIT_OK)
        return st;
    snprintf(arg, sizeof arg, index < 0 ? "grad_dtype" : "grad_dtypes[%lld]", (long long)index);
    if ((st = kbit_check_float_dtype(grad_dtype, fn, arg)) != KBIT_OK)
        return st;
    if (grad_dtype != KBIT_F32 && grad_dtype != s->param_dtype)
        return kbit_error(KBIT_EINVAL, "%s: %s = %s must be KBIT_F32 or the param dtype %s", fn,
                          arg, kbit_dtype_name(grad_dtype), kbit_dtype_name(s->param_dtype));
    snprintf(arg, sizeof arg, index < 0 ? "grad" : "grads[%lld]", (long long)index);
    if ((st = kbit_check_data(grad, s->n, kbit_dtype_size(grad_dtype), fn, arg)) != KBIT_OK)
        return st;
    /* the gradient may be the parameter itself (same dtype: element by
     * element, each is read before it is written), nothing in between */
    if (grad == param && grad_dtype == s->param_dtype)
        return KBIT_OK;
    return KBIT_CHECK_OVERLAP(fn, KBIT_OUT(param, s->n * (int64_t)kbit_dtype_size(s->param_dtype),
                                           "param"),
                              KBIT_IN(grad, s->n * (int64_t)kbit_dtype_size(grad_dtype), "grad"));
}

/* step_many: no tensor's parameter may overlap another's parameter or
 * gradient (each is stepped in turn). */
static kbit_status check_many_overlap(kbit_optim_state *const *states, void *const *params,
                                      const void *const *grads, const kbit_dtype *grad_dtypes,
                                      int64_t count, const char *fn)
{
    kbit_span *spans = malloc((size_t)(count ? count : 1) * 2 * sizeof *spans);
    if (spans == NULL)
        return kbit_error(KBIT_ENOMEM, "%s: out of memory", fn);
    size_t k = 0;
    for (int64_t i = 0; i < count; i++) {
        int64_t n = states[i]->n;
        spans[k++] = KBIT_OUT(params[i], n * (int64_t)kbit_dtype_size(states[i]->param_dtype),
                              "a parameter");
        if (grads[i] != params[i])
            spans[k++] = KBIT_IN(grads[i], n * (int64_t)kbit_dtype_size(grad_dtypes[i]),
                                 "a gradient");
    }
    kbit_status st = kbit_check_overlap(fn, spans, k);
    free(spans);
    return st;
}

static kbit_status check_call(kbit_device *dev, const kbit_optim_config *c, float gnorm_scale,
                              const char *fn)
{
    kbit_status st;
    if ((st = kbit_check_device(dev, fn)) != KBIT_OK ||
        (st = kbit_optim_check_config(c, fn)) != KBIT_OK ||
        (st = kbit_check_family(dev, KBIT_FAMILY_OPTIM, fn)) != KBIT_OK)
        return st;
    if (!(gnorm_scale > 0.0f) || isinf(gnorm_scale))
        return kbit_error(KBIT_EINVAL, "%s: gnorm_scale = %g must be finite and > 0", fn,
                          (double)gnorm_scale);
    return KBIT_OK;
}

/* The device tables of a state's maps, for a call. */
static kbit_status state_tables(kbit_call *c, const kbit_optim_state *s, kbit_op_optimizer *op)
{
    const float *t1 = s->table1, *t2 = s->table2;
    kbit_status st;
    if (t1 == NULL && (st = kbit_device_map_table(c, s->map1_id == KBIT_MAP_ID_UNSIGNED
                                                         ? KBIT_MAP_UNSIGNED
                                                         : KBIT_MAP_SIGNED, &t1)) != KBIT_OK)
        return st;
    if (t2 == NULL && (st = kbit_device_map_table(c, s->map2_id == KBIT_MAP_ID_SIGNED
                                                         ? KBIT_MAP_SIGNED
                                                         : KBIT_MAP_UNSIGNED, &t2)) != KBIT_OK)
        return st;
    op->qmap1 = t1;
    op->mid1 = t1 + 256;
    op->map1_id = s->map1_id;
    if (kbit_optim_two_state(s->kind)) {
        op->qmap2 = t2;
        op->mid2 = t2 + 256;
        op->map2_id = s->map2_id;
    }
    return KBIT_OK;
}

/* The step of one tensor, ready for the driver: everything but the maps
 * and the device scales. */
static kbit_op_optimizer step_op(const kbit_optim_config *c, const kbit_optim_state *s,
                                 void *param, const void *grad, kbit_dtype grad_dtype,
                                 float gnorm_scale)
{
    int64_t step = s->step + 1;
    kbit_optim_scalars hs;
    kbit_optim_scalars_of(c, step, &hs);
    int two = kbit_optim_two_state(s->kind), eight = s->state_bits == 8;
    return (kbit_op_optimizer){
        .struct_size = sizeof(kbit_op_optimizer), .kernel = kbit_optim_kernel_of(c->kind),
        .state_bits = s->state_bits, .param_dtype = s->param_dtype, .grad_dtype = grad_dtype,
        .p = param, .g = grad, .n = s->n, .state1 = s->state1,
        .state2 = two ? s->state2 : NULL, .absmax1 = eight ? s->absmax1 : NULL,
        .absmax2 = eight && two ? s->absmax2 : NULL, .step = step, .lr = (float)c->lr,
        .beta1 = (float)c->beta1, .beta2 = (float)c->beta2, .beta3 = hs.beta3_t,
        .alpha = hs.alpha_t, .eps = (float)c->eps, .weight_decay = (float)c->weight_decay,
        .gnorm_scale = gnorm_scale,
        .update_scale = 1.0f, .c1 = hs.c1, .c2 = hs.c2, .step_size = hs.step_size,
        .c1p = hs.c1p, .c2p = hs.c2p, .skip_zeros = c->skip_zeros != 0,
    };
}

/* Which norms a step needs: percentile clipping, and max_unorm with 32-bit
 * states (8-bit kernels have no update scale; check_tensor refuses it for
 * the kinds that never ignored it, ADAMW/LAMB and SGD/LARS keep ignoring it
 * there as bitsandbytes' CPU backend does). */
static int needs_clip(const kbit_optim_config *c)
{
    return c->percentile_clipping < 100;
}

static int needs_unorm(const kbit_optim_config *c, const kbit_optim_state *s)
{
    return c->max_unorm > 0.0 && s->state_bits == 32;
}

/* LION's update norm is summed after its update (numerics 6.4): the step
 * uses the sum the previous step left in the state (s->norms[1]). */
static int unorm_after(const kbit_optim_state *s)
{
    return s->kind == KBIT_OPTIM_LION;
}

/* The norms of one step and the scales they give, all in device memory:
 * leaves, pairsum and optimizer_scales, then op->scales points at them.
 * The workspace of c holds 2 fp64 sums and the leaves; LION's sums are the
 * state's norms instead, whose [1] is the update norm of the step before
 * (run_norms_after). */
static kbit_status run_norms(kbit_call *c, const kbit_optim_config *cfg, kbit_optim_state *s,
                             kbit_op_optimizer *op)
{
    if (!needs_clip(cfg) && !needs_unorm(cfg, s))
        return KBIT_OK;
    int64_t nleaves = kbit_nblocks(s->n, KBIT_OPTIM_BLOCK);
    double *sums = NULL, *leaves = NULL;
    kbit_status st;
    if ((st = kbit_call_take(c, 2 * sizeof(double), &sums)) != KBIT_OK ||
        (st = kbit_call_take(c, (size_t)nleaves * sizeof(double), &leaves)) != KBIT_OK)
        return st;
    if (needs_unorm(cfg, s) && unorm_after(s))
        sums = s->norms;
    float *scales = s->aux + KBIT_OPTIM_HISTORY;
    kbit_op_optimizer_sums so = { .struct_size = sizeof so, .step = op, .leaves = leaves };
    kbit_op_pairsum tree = { .struct_size = sizeof tree, .leaves = leaves, .count = nleaves,
                             .divisor = 1.0 };
    kbit_op_optimizer_scales sc = {
        .struct_size = sizeof sc, .sums = sums, .history = s->aux, .scales = scales,
        .step = op->step, .percentile = cfg->percentile_clipping,
        .gnorm_scale = op->gnorm_scale, .max_unorm = (float)cfg->max_unorm,
        .eps = (float)cfg->eps, .add_eps = !kbit_optim_two_state(s->kind), /* 1-state: + eps */
    };
    if (needs_clip(cfg)) {
        so.which = KBIT_OPTSUM_GRAD_SQ;
        tree.sum = &sums[0];
        sc.phase = KBIT_OPTSCALE_PHASE_CLIP;
        if ((st = KBIT_RUN(c, optimizer_sums, &so)) != KBIT_OK ||
            (st = KBIT_RUN(c, pairsum, &tree)) != KBIT_OK ||
            (st = KBIT_RUN(c, optimizer_scales, &sc)) != KBIT_OK)
            return st;
        op->scales = scales; /* the update norm sees the clipped gradient */
    }
    if (needs_unorm(cfg, s)) {
        so.which = KBIT_OPTSUM_PARAM_SQ;
        tree.sum = &sums[0];
        if ((st = KBIT_RUN(c, optimizer_sums, &so)) != KBIT_OK ||
            (st = KBIT_RUN(c, pairsum, &tree)) != KBIT_OK)
            return st;
        so.which = KBIT_OPTSUM_UPDATE_SQ;
        tree.sum = &sums[1];
        sc.phase = KBIT_OPTSCALE_PHASE_UNORM;
        sc.clipped = needs_clip(cfg);
        if ((!unorm_after(s) && ((st = KBIT_RUN(c, optimizer_sums, &so)) != KBIT_OK ||
                                 (st = KBIT_RUN(c, pairsum, &tree)) != KBIT_OK)) ||
            (st = KBIT_RUN(c, optimizer_scales, &sc)) != KBIT_OK)
            return st;
        op->scales = scales;
    }
    return KBIT_OK;
}

/* LION with max_unorm, after its update: the sum of s' over the new state
 * (numerics 6.4) into the state's norms[1], for the next step. Its leaves
 * are a second workspace block, after run_norms' (step_workspace). */
static kbit_status run_norms_after(kbit_call *c, const kbit_optim_config *cfg,
                                   kbit_optim_state *s, const kbit_op_optimizer *op)
{
    if (!needs_unorm(cfg, s) || !unorm_after(s))
        return KBIT_OK;
    int64_t nleaves = kbit_nblocks(s->n, KBIT_OPTIM_BLOCK);
    double *leaves = NULL;
    kbit_status st;
    if ((st = kbit_call_take(c, (size_t)nleaves * sizeof(double), &leaves)) != KBIT_OK)
        return st;
    kbit_op_optimizer_sums so = { .struct_size = sizeof so, .step = op, .leaves = leaves,
                                  .which = KBIT_OPTSUM_UPDATE_SQ };
    kbit_op_pairsum tree = { .struct_size = sizeof tree, .leaves = leaves, .count = nleaves,
                             .divisor = 1.0, .sum = &s->norms[1] };
    if ((st = KBIT_RUN(c, optimizer_sums, &so)) != KBIT_OK ||
        (st = KBIT_RUN(c, pairsum, &tree)) != KBIT_OK)
        return st;
    return KBIT_OK;
}

/* Workspace of a step: the norms' sums and leaves (core), the driver's part. */
static void step_workspace(const kbit_device *dev, const kbit_optim_config *cfg,
                           const kbit_optim_state *s, const kbit_op_optimizer *op,
                           size_t *core, size_t *driver)
{
    size_t d = kbit_driver_workspace(dev, KBIT_OP_OPTIMIZER_STEP, op);
    *core = 0;
    if (needs_clip(cfg) || needs_unorm(cfg, s)) {
        int64_t nleaves = kbit_nblocks(s->n, KBIT_OPTIM_BLOCK);
        *core = kbit_call_size(2 * sizeof(double)) + kbit_call_size((size_t)nleaves * 8);
        if (needs_unorm(cfg, s) && unorm_after(s)) /* run_norms_after's leaves */
            *core += kbit_call_size((size_t)nleaves * 8);
        kbit_op_optimizer_sums so = { .struct_size = sizeof so, .step = op };
        kbit_op_pairsum tree = { .struct_size = sizeof tree, .count = nleaves, .divisor = 1.0 };
        kbit_op_optimizer_scales sc = { .struct_size = sizeof sc };
        size_t more[3] = { kbit_driver_workspace(dev, KBIT_OP_OPTIMIZER_SUMS, &so),
                           kbit_driver_workspace(dev, KBIT_OP_PAIRSUM, &tree),
                           kbit_driver_workspace(dev, KBIT_OP_OPTIMIZER_SCALES, &sc) };
        for (int i = 0; i < 3; i++)
            d = more[i] > d ? more[i] : d;
    }
    *driver = d;
}

/* After a step was enqueued: the state's counter and where its last values
 * are (in the state's device scales when the step had norms). */
static void commit(kbit_optim_state *s, const kbit_op_optimizer *op)
{
    s->step = op->step;
    s->last_on_device = op->scales != NULL;
    s->norms_last = 0;
}

/* Paged states: bring them to the device before the step. */
static kbit_status prefetch_state(kbit_call *c, const kbit_optim_state *s)
{
    if (s->mem_kind != KBIT_MEM_MANAGED || c->dev->driver->mem_prefetch == NULL)
        return KBIT_OK;
    const void *p[4] = { s->state1, s->state2, s->absmax1, s->absmax2 };
    size_t b[4] = { s->state1_bytes, s->state2_bytes, s->absmax1_bytes, s->absmax2_bytes };
    for (int i = 0; i < 4; i++) {
        if (b[i] == 0)
            continue;
        kbit_status st = kbit_call_result(c, c->dev->driver->mem_prefetch(c->dev->ctx,
                                                                          c->ex.stream, p[i],
                                                                          b[i], 1));
        if (st != KBIT_OK)
            return st;
    }
    return KBIT_OK;
}

/* One checked tensor. */
static kbit_status step_one(kbit_device *dev, const kbit_optim_config *c, kbit_optim_state *s,
                            void *param, const void *grad, kbit_dtype grad_dtype,
                            float gnorm_scale, const char *fn)
{
    kbit_op_optimizer op = step_op(c, s, param, grad, grad_dtype, gnorm_scale);
    if (s->n == 0) {
        commit(s, &op);
        return KBIT_OK;
    }
    size_t core = 0, driver = 0;
    step_workspace(dev, c, s, &op, &core, &driver);
    kbit_call call;
    kbit_status st;
    if ((st = kbit_call_begin(&call, dev, core, driver, fn)) != KBIT_OK ||
        (st = state_tables(&call, s, &op)) != KBIT_OK ||
        (st = prefetch_state(&call, s)) != KBIT_OK ||
        (st = run_norms(&call, c, s, &op)) != KBIT_OK ||
        (st = KBIT_RUN(&call, optimizer_step, &op)) != KBIT_OK ||
        (st = run_norms_after(&call, c, s, &op)) != KBIT_OK)
        return st;
    commit(s, &op);
    s->norms_last = needs_unorm(c, s) && unorm_after(s);
    return KBIT_OK;
}

KBIT_API kbit_status kbit_optim_step(kbit_device *device, const kbit_optim_config *config,
                                     kbit_optim_state *state, void *param, const void *grad,
                                     kbit_dtype grad_dtype, float gnorm_scale)
{
    static const char fn[] = "kbit_optim_step";
    kbit_clear_error();
    kbit_status st;
    if ((st = check_call(device, config, gnorm_scale, fn)) != KBIT_OK ||
        (st = check_tensor(device, config, state, param, grad, grad_dtype, fn, -1)) != KBIT_OK)
        return st;
    return step_one(device, config, state, param, grad, grad_dtype, gnorm_scale, fn);
}

/* Tensors without norms go to the driver together (optimizer_step_many,
 * when it has it); the others one by one, each with its norms. */
#define MANY_BATCH 64

KBIT_API kbit_status kbit_optim_step_many(kbit_device *device, const kbit_optim_config *config,
                                          int64_t count, kbit_optim_state *const *states,
                                          void *const *params, const void *const *grads,
                                          const kbit_dtype *grad_dtypes, float gnorm_scale)
{
    static const char fn[] = "kbit_optim_step_many";
    kbit_clear_error();
    kbit_status st;
    if ((st = check_call(device, config, gnorm_scale, fn)) != KBIT_OK ||
        (st = kbit_check_count(count, sizeof(void *), fn, "count")) != KBIT_OK)
        return st;
    if (count > 0 && (states == NULL || params == NULL || grads == NULL || grad_dtypes == NULL))
        return kbit_error(KBIT_EINVAL, "%s: %s is NULL", fn,
                          states == NULL ? "states" : params == NULL ? "params"
                                                    : grads == NULL ? "grads" : "grad_dtypes");
    for (int64_t i = 0; i < count; i++) {
        if ((st = check_tensor(device, config, states[i], params[i], grads[i], grad_dtypes[i], fn,
                               i)) != KBIT_OK)
            return st;
        for (int64_t j = 0; j < i; j++) /* a state stepped twice would take two steps */
            if (states[j] == states[i])
                return kbit_error(KBIT_EINVAL, "%s: states[%lld] and states[%lld] are the same",
                                  fn, (long long)j, (long long)i);
    }
    if (count > 1 &&
        (st = check_many_overlap(states, params, grads, grad_dtypes, count, fn)) != KBIT_OK)
        return st;
    const kbit_driver *d = device->driver;
    if (d->optimizer_step_many == NULL || needs_clip(config)) {
        for (int64_t i = 0; i < count; i++)
            if ((st = step_one(device, config, states[i], params[i], grads[i], grad_dtypes[i],
                               gnorm_scale, fn)) != KBIT_OK)
                return st;
        return KBIT_OK;
    }
    /* Batches of plain steps; a tensor with max_unorm (32-bit LAMB/LARS) or
     * an empty one goes on its own, in order. */
    kbit_op_optimizer ops[MANY_BATCH];
    const kbit_op_optimizer *ptrs[MANY_BATCH];
    int64_t first[MANY_BATCH];
    int batch = 0;
    size_t driver = 0;
    for (int64_t i = 0; i <= count; i++) {
        int alone = i < count && (needs_unorm(config, states[i]) || states[i]->n == 0 ||
                                  states[i]->mem_kind == KBIT_MEM_MANAGED);
        if (batch > 0 && (i == count || alone || batch == MANY_BATCH)) {
            kbit_call call;
            if ((st = kbit_call_begin(&call, device, 0, driver, fn)) != KBIT_OK)
                return st;
            for (int k = 0; k < batch; k++)
                if ((st = state_tables(&call, states[first[k]], &ops[k])) != KBIT_OK)
                    return st;
            if ((st = kbit_call_result(&call, d->optimizer_step_many(device->ctx, &call.ex, ptrs,
                                                                     batch))) != KBIT_OK)
                return st;
            for (int k = 0; k < batch; k++)
                commit(states[first[k]], &ops[k]);
            batch = 0;
            driver = 0;
        }
        if (i == count)
            break;
        if (alone) {
            if ((st = step_one(device, config, states[i], params[i], grads[i], grad_dtypes[i],
                               gnorm_scale, fn)) != KBIT_OK)
                return st;
            continue;
        }
        ops[batch] = step_op(config, states[i], params[i], grads[i], grad_dtypes[i], gnorm_scale);
        size_t w = kbit_driver_workspace(device, KBIT_OP_OPTIMIZER_STEP, &ops[batch]);
        driver = w > driver ? w : driver;
        ptrs[batch] = &ops[batch];
        first[batch] = i;
        batch++;
    }
    return KBIT_OK;
}
