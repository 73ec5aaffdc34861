/* tools/conformance/formula_optim.c - optim cases checked against the
 * formulas of doc/numerics.md written out here (not against the reference
 * driver): every target, bit for bit.
 *
 * max_unorm (numerics 6.4, determinism 4): ADAMW/LAMB, LARS, RMSPROP,
 * ADAGRAD and LION with 32-bit f32 states, n = 600 (the held-out size) and
 * 257, 5 steps each: param_norm and unorm as fp64 pairsums rounded once, u
 * from the gnorm-scaled gradient before coupled weight decay, the update
 * scale in fp32, RMSprop scaled, Adagrad not, Lion's sum of s' (unsquared)
 * taken after its update and used by the next step. Parameter, state and the
 * reported norms are compared after every step.
 *
 * AdEMAMix schedules (numerics 6.2): t_alpha = 1030, t_beta3 = 1060, steps
 * 1000-1100: beta3_t and alpha_t computed here in double from the decimal
 * hyperparameters (the user's doubles) against kbit_optim_host_scalars, and
 * the parameter and states after each of those steps against the 32-bit
 * ADEMAMIX formula fed with them. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devmem.h"
#include "families.h"
#include "numbers.h"
#include "optimstate.h"
#include "tap.h"

/* pairsum (determinism 4) of fp64 terms: 256-term leaves in order, then the tree. */
static double pairsum(const double *x, int64_t n)
{
    int64_t nl = (n + 255) / 256;
    double *leaf = malloc((size_t)(nl ? nl : 1) * sizeof *leaf);
    for (int64_t b = 0; b < nl; b++) {
        leaf[b] = 0.0;
        for (int64_t i = b * 256; i < n && i < (b + 1) * 256; i++)
            leaf[b] += x[i];
    }
    while (nl > 1) {
        int64_t m = 0;
        for (int64_t i = 0; i + 1 < nl; i += 2)
            leaf[m++] = leaf[i] + leaf[i + 1];
        if (nl % 2)
            leaf[m++] = leaf[nl - 1];
        nl = m;
    }
    double s = n ? leaf[0] : 0.0;
    free(leaf);
    return s;
}

static float ema(float s, float b, float x)
{
    return s * b + (1.0f - b) * x;
}

/* The host model of one 32-bit state of a kind with max_unorm, f32 params. */
typedef struct model {
    kbit_optim_kind kind;
    int64_t n;
    float *p, *s1, *s2;   /* s2: ADAMW's v */
    double pending;       /* LION: the sum of s' its last step left */
    float pnorm, unorm, scale;
} model;

/* One step of numerics 6.3 with 6.4's update scale; g f32 (T = f32). */
static void model_step(model *m, const kbit_optim_config *c, const kbit_optim_scalars *hs,
                       int64_t step, const float *g)
{
    const int64_t n = m->n;
    const float lr = (float)c->lr, b1 = (float)c->beta1, b2 = (float)c->beta2;
    const float eps = (float)c->eps, wd = (float)c->weight_decay, mu = (float)c->max_unorm;
    double *t = malloc((size_t)n * sizeof *t);
    for (int64_t i = 0; i < n; i++)
        t[i] = (double)m->p[i] * (double)m->p[i];
    m->pnorm = (float)sqrt(pairsum(t, n));
    double sum = m->pending; /* LION */
    if (m->kind != KBIT_OPTIM_LION) {
        for (int64_t i = 0; i < n; i++) {
            float u;
            switch (m->kind) {
            case KBIT_OPTIM_ADAMW: {
                float mm = ema(m->s1[i], b1, g[i]), v = ema(m->s2[i], b2, g[i] * g[i]);
                u = (mm * hs->c1p) / (sqrtf(v * hs->c2p) + eps);
                break;
            }
            case KBIT_OPTIM_LARS: u = step == 1 ? g[i] : m->s1[i] * b1 + g[i]; break;
            case KBIT_OPTIM_RMSPROP:
                u = g[i] / (sqrtf(m->s1[i] * b1 + ((1.0f - b1) * g[i]) * g[i]) + eps);
                break;
            default: u = g[i] / (sqrtf(m->s1[i] + g[i] * g[i]) + eps); break; /* ADAGRAD */
            }
            t[i] = (double)u * (double)u;
        }
        sum = pairsum(t, n);
    }
    m->unorm = (float)sum;
    float u = sqrtf(m->unorm), limit = mu * m->pnorm;
    if (m->kind != KBIT_OPTIM_ADAMW)
        limit = limit + eps; /* 1-state */
    float us = u > limit ? limit / u : 1.0f;
    m->scale = us;
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i], p = m->p[i];
        if (wd > 0.0f && m->kind != KBIT_OPTIM_ADAMW && m->kind != KBIT_OPTIM_LION)
            gi = gi + p * wd; /* coupled, after the norm's u */
        switch (m->kind) {
        case KBIT_OPTIM_ADAMW:
            m->s1[i] = ema(m->s1[i], b1, gi);
            m->s2[i] = ema(m->s2[i], b2, gi * gi);
            p = p + (us * hs->step_size) * (m->s1[i] / (sqrtf(m->s2[i]) + eps * hs->c2));
            if (wd > 0.0f)
                p = p * (1.0f - lr * wd);
            break;
        case KBIT_OPTIM_LARS:
            m->s1[i] = step == 1 ? gi : m->s1[i] * b1 + gi;
            p = p + us * (-lr * m->s1[i]);
            break;
        case KBIT_OPTIM_RMSPROP:
            m->s1[i] = m->s1[i] * b1 + ((1.0f - b1) * gi) * gi;
            p = p - us * (lr * (gi / (sqrtf(m->s1[i]) + eps)));
            break;
        case KBIT_OPTIM_ADAGRAD: /* no update scale */
            m->s1[i] = m->s1[i] + gi * gi;
            p = p - lr * (gi / (sqrtf(m->s1[i]) + eps));
            break;
        default: { /* LION */
            if (wd > 0.0f)
                p = p * (1.0f - lr * wd);
            float x = ema(m->s1[i], b1, gi);
            float sgn = (float)((x > 0.0f) - (x < 0.0f));
            p = p - us * (lr * sgn);
            m->s1[i] = ema(m->s1[i], b2, gi);
            break;
        }
        }
        m->p[i] = p;
    }
    if (m->kind == KBIT_OPTIM_LION) { /* after the update: s' of the new state, unsquared */
        for (int64_t i = 0; i < n; i++)
            t[i] = (double)ema(m->s1[i], b2, g[i]);
        m->pending = pairsum(t, n);
        m->unorm = (float)m->pending; /* what the state reports: the sum it left */
    }
    free(t);
}

static void gradient(uint64_t seed, int64_t step, int64_t n, double mean, float *g)
{
    rng r;
    rng_seed(&r, seed * 7919 + (uint64_t)step);
    for (int64_t i = 0; i < n; i++)
        g[i] = (float)(mean + rng_normal(&r) * 0.01);
}

static int same_f32(const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (f32_bits(a[i]) != f32_bits(b[i]))
            return 0;
    return 1;
}

/* One kind, one size, 5 steps on target t; returns mismatches, counts clipped steps. */
static int unorm_case(kbit_device *dev, kbit_optim_kind kind, int64_t n, uint64_t seed,
                      int *clipped, const char *label)
{
    kbit_optim_config c;
    kbit_optim_config_default(kind, &c);
    c.max_unorm = kind == KBIT_OPTIM_LION ? 0.02 : kind == KBIT_OPTIM_LARS ? 0.02 : 0.5;
    c.weight_decay = kind == KBIT_OPTIM_ADAMW || kind == KBIT_OPTIM_LION ? 0.01 : 0.02;
    kbit_optim_state *st;
    if (kbit_optim_state_create(dev, &c, n, KBIT_F32, &st) != KBIT_OK)
        tap_bail("kbit_optim_state_create: %s", kbit_last_error());
    model m = { kind, n, calloc((size_t)n, 4), calloc((size_t)n, 4), calloc((size_t)n, 4), 0.0,
                0, 0, 0 };
    rng r;
    rng_seed(&r, seed);
    for (int64_t i = 0; i < n; i++)
        m.p[i] = (float)(rng_normal(&r) * 0.1);
    float *g = malloc((size_t)n * 4), *got = malloc((size_t)n * 4);
    void *p_d = dev_upload(dev, m.p, (size_t)n * 4), *g_d = dev_alloc(dev, (size_t)n * 4);
    int bad = 0;
    for (int64_t step = 1; step <= 5; step++) {
        /* Lion: gradients of one sign mostly, so its unsquared sum is > 0 */
        gradient(seed, step, n, kind == KBIT_OPTIM_LION ? 0.01 : 0.0, g);
        kbit_copy(dev, g_d, g, (size_t)n * 4, KBIT_HOST_TO_DEVICE);
        kbit_optim_scalars hs;
        kbit_optim_host_scalars(&c, step, &hs);
        model_step(&m, &c, &hs, step, g);
        if (kbit_optim_step(dev, &c, st, p_d, g_d, KBIT_F32, 1.0f) != KBIT_OK) {
            tap_diag("%s: kbit_optim_step: %s", label, kbit_last_error());
            bad++;
            break;
        }
        kbit_optim_state_info info;
        kbit_optim_state_get_info(st, &info);
        saved_state sv;
        saved_take(st, &sv);
        dev_download(dev, got, p_d, (size_t)n * 4);
        int ok = same_f32(got, m.p, n) &&
                 same_f32((const float *)(const void *)sv.state1, m.s1, n) &&
                 (kind != KBIT_OPTIM_ADAMW ||
                  same_f32((const float *)(const void *)sv.state2, m.s2, n)) &&
                 f32_bits(info.param_norm) == f32_bits(m.pnorm) &&
                 f32_bits(info.unorm) == f32_bits(m.unorm) &&
                 f32_bits(info.update_scale) == f32_bits(m.scale);
        if (!ok && bad++ == 0)
            tap_diag("%s %s n=%lld step %lld: param_norm %a/%a unorm %a/%a scale %a/%a "
                     "(got/want), p %s, state %s", label, optim_kind_name(kind), (long long)n,
                     (long long)step, info.param_norm, m.pnorm, info.unorm, m.unorm,
                     info.update_scale, m.scale, same_f32(got, m.p, n) ? "same" : "differs",
                     same_f32((const float *)(const void *)sv.state1, m.s1, n) ? "same"
                                                                               : "differs");
        *clipped += m.scale < 1.0f;
        saved_free(&sv);
    }
    dev_free(dev, p_d);
    dev_free(dev, g_d);
    kbit_optim_state_release(st);
    free(m.p), free(m.s1), free(m.s2), free(g), free(got);
    return bad;
}

static void unorm_formulas(const conf_run *run, int t)
{
    kbit_device *dev = conf_dev(run, t);
    const char *label = run->targets[t].label;
    static const kbit_optim_kind kinds[] = { KBIT_OPTIM_ADAMW, KBIT_OPTIM_LARS,
                                             KBIT_OPTIM_RMSPROP, KBIT_OPTIM_ADAGRAD,
                                             KBIT_OPTIM_LION };
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        if (dev == NULL) {
            conf_report_one(run, t, 0, "max_unorm formula, %s on %s: not run",
                            optim_kind_name(kinds[k]), label);
            continue;
        }
        int bad = 0, clipped = 0;
        bad += unorm_case(dev, kinds[k], 600, conf_seed(run, 600 + k), &clipped, label);
        bad += unorm_case(dev, kinds[k], 257, conf_seed(run, 257 + k), &clipped, label);
        conf_report_one(run, t, bad == 0 && clipped > 0,
                        "max_unorm formula, %s 32-bit f32 n=600 and 257 on %.96s: 5 steps each, "
                        "p, state, param_norm, unorm and update scale equal numerics 6.4 with "
                        "pairsums bit for bit (%d of 10 steps clipped)",
                        optim_kind_name(kinds[k]), label, clipped);
    }
}

/* numerics 6.2's AdEMAMix schedules in double from the user's decimal values. */
static void schedules(int64_t step, double b1, double b3, double alpha, int64_t t_alpha,
                      int64_t t_beta3, float *alpha_t, float *beta3_t)
{
    double a = fmin((double)step * alpha / (double)t_alpha, alpha);
    double s = (double)step / (double)t_beta3;
    double b = exp(log(b1) * log(b3) / ((1.0 - s) * log(b3) + s * log(b1)));
    *alpha_t = (float)a;
    *beta3_t = (float)(b < b3 ? b : b3);
}

static void ademamix_schedules(const conf_run *run, int t)
{
    kbit_device *dev = conf_dev(run, t);
    const char *label = run->targets[t].label;
    if (dev == NULL) {
        conf_report_one(run, t, 0, "AdEMAMix schedules on %s: not run", label);
        return;
    }
    const int64_t n = 300, first = 1000, last = 1100;
    kbit_optim_config c;
    kbit_optim_config_default(KBIT_OPTIM_ADEMAMIX, &c);
    c.beta1 = 0.9, c.beta2 = 0.999, c.beta3 = 0.9999, c.alpha = 5.0; /* as a user writes them */
    c.t_alpha = 1030;
    c.t_beta3 = 1060;
    kbit_optim_state *st;
    if (kbit_optim_state_create(dev, &c, n, KBIT_F32, &st) != KBIT_OK)
        tap_bail("kbit_optim_state_create: %s", kbit_last_error());
    float *p = malloc(n * 4), *m1 = calloc(n, 4), *m2 = calloc(n, 4), *nu = calloc(n, 4);
    float *g = malloc(n * 4), *got = malloc(n * 4);
    rng r;
    rng_seed(&r, conf_seed(run, 1100));
    for (int64_t i = 0; i < n; i++)
        p[i] = (float)(rng_normal(&r) * 0.1);
    void *p_d = dev_upload(dev, p, n * 4), *g_d = dev_alloc(dev, n * 4);
    const float lr = (float)c.lr, b1 = (float)c.beta1, b2 = (float)c.beta2;
    const float eps = (float)c.eps, wd = (float)c.weight_decay;
    int bad_scalars = 0, bad_state = 0, distinct = 0, ok = 1;
    float prev_b3 = -1.0f;
    for (int64_t step = 1; step <= last; step++) {
        gradient(1100, step, n, 0.0, g);
        kbit_copy(dev, g_d, g, n * 4, KBIT_HOST_TO_DEVICE);
        ok &= kbit_optim_step(dev, &c, st, p_d, g_d, KBIT_F32, 1.0f) == KBIT_OK;
        kbit_optim_scalars hs;
        kbit_optim_host_scalars(&c, step, &hs);
        float a_t, b3_t;
        schedules(step, 0.9, 0.9999, 5.0, 1030, 1060, &a_t, &b3_t);
        if (step >= first && (f32_bits(hs.alpha_t) != f32_bits(a_t) ||
                              f32_bits(hs.beta3_t) != f32_bits(b3_t))) {
            if (bad_scalars++ == 0)
                tap_diag("%s step %lld: alpha_t %a beta3_t %a, the formula gives %a %a", label,
                         (long long)step, hs.alpha_t, hs.beta3_t, a_t, b3_t);
        }
        distinct += step >= first && b3_t != prev_b3;
        prev_b3 = b3_t;
        for (int64_t i = 0; i < n; i++) { /* numerics 6.3 ADEMAMIX, T = f32 */
            m1[i] = ema(m1[i], b1, g[i]);
            m2[i] = ema(m2[i], b3_t, g[i]);
            nu[i] = nu[i] * b2 + ((1.0f - b2) * g[i]) * g[i];
            float num = m1[i] / hs.c1 + a_t * m2[i];
            float den = sqrtf(nu[i]) / hs.c2 + eps;
            p[i] = p[i] - lr * (num / den);
            p[i] = p[i] * (1.0f - lr * wd);
        }
        if (step < first)
            continue;
        saved_state sv;
        saved_take(st, &sv);
        dev_download(dev, got, p_d, n * 4);
        const float *s1 = (const float *)(const void *)sv.state1;
        const float *s2 = (const float *)(const void *)sv.state2;
        if (!same_f32(got, p, n) || !same_f32(s1, m1, n) || !same_f32(s1 + n, m2, n) ||
            !same_f32(s2, nu, n)) {
            if (bad_state++ == 0)
                tap_diag("%s step %lld: parameter or state differs from the formula", label,
                         (long long)step);
            /* follow the device from here, so one bad step is counted once */
            memcpy(p, got, n * 4), memcpy(m1, s1, n * 4), memcpy(m2, s1 + n, n * 4);
            memcpy(nu, s2, n * 4);
        }
        saved_free(&sv);
    }
    conf_report_one(run, t, ok && bad_scalars == 0 && bad_state == 0 && distinct > 10,
                    "AdEMAMix schedules on %.96s (t_alpha 1030, t_beta3 1060): steps %lld-%lld, "
                    "alpha_t and beta3_t equal numerics 6.2 in double from the decimal "
                    "hyperparameters, parameter and states equal the formula bit for bit (%d and "
                    "%d steps differ, %d distinct beta3_t)", label, (long long)first,
                    (long long)last, bad_scalars, bad_state, distinct);
    dev_free(dev, p_d);
    dev_free(dev, g_d);
    kbit_optim_state_release(st);
    free(p), free(m1), free(m2), free(nu), free(g), free(got);
}

void conf_formula_optim(conf_run *run)
{
    for (int t = 0; t < run->ntargets; t++)
        unorm_formulas(run, t);
    for (int t = 0; t < run->ntargets; t++)
        ademamix_schedules(run, t);
}
