/*
 * lib/ops/optim.c - optimizer steps (numerics.md 6): check everything, compute the
 * host scalars once, derive the gradient scale of percentile clipping (6.7)
 * and the update scale of max_unorm (6.4) from pairsum norms (determinism.md
 * 4: the driver gives per-256-element fp64 leaves, the core reduces them),
 * then run the driver's step.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/check.h"
#include "runtime/error.h"
#include "ops/optim.h"
#include "ops/pairsum.h"

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
        (st = kbit_check_slot(dev, (const void *)dev->driver->optimizer_step, fn)) != KBIT_OK)
        return st;
    if (!(gnorm_scale > 0.0f) || isinf(gnorm_scale))
        return kbit_error(KBIT_EINVAL, "%s: gnorm_scale = %g must be finite and > 0", fn,
                          (double)gnorm_scale);
    /* Norms need the leaves op: refuse up front rather than half way. */
    if (c->percentile_clipping < 100 || c->max_unorm > 0.0f)
        return kbit_check_slot(dev, (const void *)dev->driver->optimizer_sums, fn);
    return KBIT_OK;
}

/* pairsum of one kind of leaves of the step (determinism 4), in fp64. */
static kbit_status pairsum_of(kbit_device *dev, const kbit_op_optimizer *op, kbit_optim_sum which,
                              const char *fn, double *out)
{
    int64_t nleaves = kbit_nblocks(op->n, KBIT_OPTIM_BLOCK);
    double *sums = malloc((size_t)nleaves * sizeof *sums);
    if (sums == NULL)
        return kbit_error(KBIT_ENOMEM, "%s: out of host memory for %lld norm leaves", fn,
                          (long long)nleaves);
    kbit_op_optimizer_sums sop = { .step = op, .which = which, .sums = sums };
    kbit_status st = kbit_driver_result(dev, dev->driver->optimizer_sums(dev->ctx, &sop), fn);
    if (st == KBIT_OK)
        *out = kbit_pairsum_tree(sums, nleaves);
    free(sums);
    return st;
}

static int compare_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Percentile clipping (numerics 6.7): record f32(sum g^2) in the history and
 * return the gradient scale. history is the state's copy, updated here. */
static float percentile_scale(float *history, int64_t step, float gnorm_sq, int percentile)
{
    int slot = (int)(step % KBIT_OPTIM_HISTORY);
    if (step == 1)
        for (int i = 0; i < KBIT_OPTIM_HISTORY; i++)
            history[i] = gnorm_sq;
    else
        history[slot] = gnorm_sq;
    float sorted[KBIT_OPTIM_HISTORY];
    memcpy(sorted, history, sizeof sorted);
    qsort(sorted, KBIT_OPTIM_HISTORY, sizeof sorted[0], compare_float);
    float current = sqrtf(history[slot]);
    float clip = sqrtf(sorted[percentile]);
    return current > clip ? clip / current : 1.0f;
}

/* One checked tensor. */
static kbit_status step_one(kbit_device *dev, const kbit_optim_config *c, kbit_optim_state *s,
                            void *param, const void *grad, kbit_dtype grad_dtype,
                            float gnorm_scale, const char *fn)
{
    int64_t step = s->step + 1;
    kbit_optim_scalars hs;
    kbit_optim_scalars_of(c, step, &hs);
    kbit_op_optimizer op = {
        .kernel = kbit_optim_kernel_of(c->kind), .state_bits = s->state_bits,
        .param_dtype = s->param_dtype, .grad_dtype = grad_dtype, .p = param, .g = grad,
        .n = s->n, .state1 = s->state1,
        .state2 = kbit_optim_two_state(s->kind) ? s->state2 : NULL,
        .absmax1 = s->state_bits == 8 ? s->absmax1 : NULL,
        .absmax2 = s->state_bits == 8 && kbit_optim_two_state(s->kind) ? s->absmax2 : NULL,
        .qmap1 = s->qmap1, .mid1 = s->mid1, .qmap2 = s->qmap2, .mid2 = s->mid2,
        .step = step, .lr = c->lr, .beta1 = c->beta1, .beta2 = c->beta2,
        .beta3 = hs.beta3_t, .alpha = hs.alpha_t, .eps = c->eps,
        .weight_decay = c->weight_decay, .gnorm_scale = gnorm_scale, .update_scale = 1.0f,
        .c1 = hs.c1, .c2 = hs.c2, .step_size = hs.step_size, .c1p = hs.c1p, .c2p = hs.c2p,
        .skip_zeros = c->skip_zeros != 0,
    };
    float history[KBIT_OPTIM_HISTORY];
    memcpy(history, s->gnorm_vec, sizeof history);
    float clip_scale = 1.0f, param_norm = 0.0f, unorm = 0.0f;
    kbit_status st;
    if (s->n == 0)
        goto commit;

    if (c->percentile_clipping < 100) {
        double gsq;
        if ((st = pairsum_of(dev, &op, KBIT_OPTSUM_GRAD_SQ, fn, &gsq)) != KBIT_OK)
            return st;
        clip_scale = percentile_scale(history, step, (float)gsq, c->percentile_clipping);
        op.gnorm_scale = gnorm_scale * clip_scale;
    }
    /* max_unorm: 32-bit ADAM and MOMENTUM kernels (8-bit kernels have no update scale) */
    if (c->max_unorm > 0.0f && s->state_bits == 32) {
        double psq, usq;
        if ((st = pairsum_of(dev, &op, KBIT_OPTSUM_PARAM_SQ, fn, &psq)) != KBIT_OK ||
            (st = pairsum_of(dev, &op, KBIT_OPTSUM_UPDATE_SQ, fn, &usq)) != KBIT_OK)
            return st;
        param_norm = (float)sqrt(psq);
        unorm = (float)usq;
        float u = sqrtf(unorm);
        float limit = c->max_unorm * param_norm;
        if (op.kernel == KBIT_OPTK_MOMENTUM)
            limit = limit + c->eps;
        op.update_scale = u > limit ? limit / u : 1.0f;
    }
    if ((st = kbit_driver_result(dev, dev->driver->optimizer_step(dev->ctx, &op), fn)) != KBIT_OK)
        return st;

commit:
    s->step = step;
    memcpy(s->gnorm_vec, history, sizeof history);
    s->last_gnorm_scale = clip_scale;
    s->last_param_norm = param_norm;
    s->last_unorm = unorm;
    s->last_update_scale = op.update_scale;
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
    for (int64_t i = 0; i < count; i++)
        if ((st = step_one(device, config, states[i], params[i], grads[i], grad_dtypes[i],
                           gnorm_scale, fn)) != KBIT_OK)
            return st;
    return KBIT_OK;
}
