/* lib/ops/optim_config.c - optimizer configurations: the defaults of doc/numerics.md
 * 6.1, their checks, and the host scalars of 6.2 (computed once per step on
 * the host, in double, and passed to every driver as fp32). The config holds
 * the user's hyperparameters in double; c1, c2 and step_size follow 6.2's rule
 * on the fp32 betas and lr, every other derived scalar (the AdEMAMix
 * schedules) is computed from the doubles. */
#include "config.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "runtime/error.h"
#include "ops/optim.h"

int kbit_optim_two_state(kbit_optim_kind kind)
{
    return kind == KBIT_OPTIM_ADAM || kind == KBIT_OPTIM_ADAMW || kind == KBIT_OPTIM_LAMB ||
           kind == KBIT_OPTIM_ADEMAMIX;
}

kbit_optim_kernel kbit_optim_kernel_of(kbit_optim_kind kind)
{
    switch (kind) {
    case KBIT_OPTIM_ADEMAMIX: return KBIT_OPTK_ADEMAMIX;
    case KBIT_OPTIM_SGD:
    case KBIT_OPTIM_LARS: return KBIT_OPTK_MOMENTUM;
    case KBIT_OPTIM_RMSPROP: return KBIT_OPTK_RMSPROP;
    case KBIT_OPTIM_ADAGRAD: return KBIT_OPTK_ADAGRAD;
    case KBIT_OPTIM_LION: return KBIT_OPTK_LION;
    default: return KBIT_OPTK_ADAM; /* ADAM, ADAMW, LAMB */
    }
}

static int kind_valid(kbit_optim_kind kind)
{
    return (int)kind >= (int)KBIT_OPTIM_ADAM && (int)kind <= (int)KBIT_OPTIM_LION;
}

KBIT_API kbit_status kbit_optim_config_default(kbit_optim_kind kind, kbit_optim_config *config)
{
    static const char fn[] = "kbit_optim_config_default";
    kbit_clear_error();
    if (config == NULL)
        return kbit_error(KBIT_EINVAL, "%s: config is NULL", fn);
    if (!kind_valid(kind))
        return kbit_error(KBIT_EINVAL, "%s: kind = %d is not a kbit_optim_kind", fn, (int)kind);
    kbit_optim_config c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.lr = 1e-3;
    c.beta1 = 0.9;
    c.beta2 = 0.999;
    c.eps = 1e-8;
    c.percentile_clipping = 100;
    c.state_bits = 32;
    c.min_8bit_size = 4096;
    switch (kind) {
    case KBIT_OPTIM_ADAMW: c.weight_decay = 1e-2; break;
    case KBIT_OPTIM_LAMB: c.max_unorm = 1.0; break;
    case KBIT_OPTIM_ADEMAMIX:
        c.beta3 = 0.9999;
        c.alpha = 5.0;
        c.weight_decay = 1e-2;
        break;
    case KBIT_OPTIM_SGD:
    case KBIT_OPTIM_LARS:
        c.beta2 = 0.0; /* dampening: ignored */
        c.eps = 0.0;
        c.max_unorm = kind == KBIT_OPTIM_LARS ? 0.02 : 0.0;
        break;
    case KBIT_OPTIM_RMSPROP:
        c.lr = 1e-2;
        c.beta1 = 0.99; /* alpha */
        c.beta2 = 0.0;
        break;
    case KBIT_OPTIM_ADAGRAD:
        c.lr = 1e-2;
        c.beta1 = c.beta2 = 0.0;
        c.eps = 1e-10;
        break;
    case KBIT_OPTIM_LION:
        c.lr = 1e-4;
        c.beta2 = 0.99;
        c.eps = 0.0;
        break;
    default: break;
    }
    *config = c;
    return KBIT_OK;
}

/* A value the kernels receive as f32: finite and >= 0 in double and in f32
 * (a double beyond FLT_MAX would become inf there). */
static kbit_status check_nonneg(double x, const char *fn, const char *arg)
{
    if (!(x >= 0.0 && x <= FLT_MAX))
        return kbit_error(KBIT_EINVAL, "%s: config->%s = %g must be finite and >= 0 (also as "
                          "fp32)", fn, arg, x);
    return KBIT_OK;
}

/* A beta the kind uses: in [0, 1), or (0, 1) where 0 is not allowed; and
 * f32(b) too: a double just below 1 rounds to 1.0f, which the kernels (and
 * 6.2's c1 = 1 - beta1^t) cannot take. */
static kbit_status check_beta(double b, int positive, const char *fn, const char *arg)
{
    if (!(b >= 0.0 && b < 1.0) || (positive && b == 0.0)) /* NaN too */
        return kbit_error(KBIT_EINVAL, "%s: config->%s = %.17g must be in %s0, 1)", fn, arg, b,
                          positive ? "(" : "[");
    float f = (float)b;
    if (f >= 1.0f || (positive && f == 0.0f))
        return kbit_error(KBIT_EINVAL, "%s: config->%s = %.17g must be in %s0, 1), also as "
                          "fp32", fn, arg, b, positive ? "(" : "[");
    return KBIT_OK;
}

kbit_status kbit_optim_check_config(const kbit_optim_config *c, const char *fn)
{
    if (c == NULL)
        return kbit_error(KBIT_EINVAL, "%s: config is NULL", fn);
    if (!kind_valid(c->kind))
        return kbit_error(KBIT_EINVAL, "%s: config->kind = %d is not a kbit_optim_kind", fn,
                          (int)c->kind);
    kbit_status st;
    if ((st = check_nonneg(c->lr, fn, "lr")) != KBIT_OK ||
        (st = check_nonneg(c->eps, fn, "eps")) != KBIT_OK ||
        (st = check_nonneg(c->weight_decay, fn, "weight_decay")) != KBIT_OK ||
        (st = check_nonneg(c->max_unorm, fn, "max_unorm")) != KBIT_OK)
        return st;
    kbit_optim_kernel k = kbit_optim_kernel_of(c->kind);
    switch (k) {
    case KBIT_OPTK_ADAM:
    case KBIT_OPTK_LION:
        if ((st = check_beta(c->beta1, 0, fn, "beta1")) != KBIT_OK ||
            (st = check_beta(c->beta2, 0, fn, "beta2")) != KBIT_OK)
            return st;
        break;
    case KBIT_OPTK_ADEMAMIX: {
        int sched = c->t_beta3 > 0; /* the schedule takes logarithms of beta1, beta3 */
        if ((st = check_beta(c->beta1, sched, fn, "beta1")) != KBIT_OK ||
            (st = check_beta(c->beta2, 0, fn, "beta2")) != KBIT_OK ||
            (st = check_beta(c->beta3, sched, fn, "beta3")) != KBIT_OK ||
            (st = check_nonneg(c->alpha, fn, "alpha")) != KBIT_OK)
            return st;
        if (c->t_alpha < 0 || c->t_beta3 < 0)
            return kbit_error(KBIT_EINVAL, "%s: config->%s is negative", fn,
                              c->t_alpha < 0 ? "t_alpha" : "t_beta3");
        break;
    }
    case KBIT_OPTK_MOMENTUM: /* momentum must be > 0 (bitsandbytes) */
    case KBIT_OPTK_RMSPROP:  /* alpha must be > 0 */
        if ((st = check_beta(c->beta1, 1, fn, "beta1")) != KBIT_OK)
            return st;
        break;
    case KBIT_OPTK_ADAGRAD: break;
    }
    if (c->max_unorm > 0.0 && k == KBIT_OPTK_ADEMAMIX)
        return kbit_error(KBIT_EINVAL,
                          "%s: config->max_unorm must be 0 for ADEMAMIX (numerics 6.4 gives it "
                          "no update scale)", fn);
    if (c->percentile_clipping < 0 || c->percentile_clipping > 100)
        return kbit_error(KBIT_EINVAL, "%s: config->percentile_clipping = %d must be in [0, 100]",
                          fn, c->percentile_clipping);
    if (c->state_bits != 8 && c->state_bits != 32)
        return kbit_error(KBIT_EINVAL, "%s: config->state_bits = %d must be 8 or 32", fn,
                          c->state_bits);
    if (c->min_8bit_size < 0)
        return kbit_error(KBIT_EINVAL, "%s: config->min_8bit_size is negative", fn);
    return KBIT_OK;
}

/* beta^e by squaring, IEEE double, in the fixed order of numerics 6.2. */
static double powi(double b, int64_t e)
{
    double r = 1.0;
    while (e) {
        if (e & 1)
            r *= b;
        b *= b;
        e >>= 1;
    }
    return r;
}

void kbit_optim_scalars_of(const kbit_optim_config *c, int64_t step, kbit_optim_scalars *out)
{
    /* numerics 6.2 names the fp32 betas and lr the kernels receive: widen f32
     * of the user's doubles, exactly as before the config held doubles. */
    double p1 = powi((double)(float)c->beta1, step), p2 = powi((double)(float)c->beta2, step);
    out->c1 = (float)(1.0 - p1);
    out->c2 = (float)sqrt(1.0 - p2);
    out->step_size = (float)(-(double)(float)c->lr * sqrt(1.0 - p2) / (1.0 - p1));
    out->c1p = (float)(1.0 / (1.0 - p1));
    out->c2p = (float)(1.0 / (1.0 - p2));

    /* AdEMAMix schedules (bitsandbytes' AdEMAMix.update_step, in double),
     * from the user's doubles (numerics 6.2), not from their f32 values. */
    double alpha = c->alpha, b1 = c->beta1, b3 = c->beta3;
    double alpha_t = alpha, beta3_t = b3;
    if (c->t_alpha > 0) {
        alpha_t = (double)step * alpha / (double)c->t_alpha;
        if (alpha_t > alpha)
            alpha_t = alpha;
    }
    if (c->t_beta3 > 0) {
        double s = (double)step / (double)c->t_beta3;
        double lb1 = log(b1), lb3 = log(b3);
        beta3_t = exp(lb1 * lb3 / ((1.0 - s) * lb3 + s * lb1));
        if (beta3_t > b3)
            beta3_t = b3;
    }
    out->alpha_t = (float)alpha_t;
    out->beta3_t = (float)beta3_t;
}

KBIT_API kbit_status kbit_optim_host_scalars(const kbit_optim_config *config, int64_t step,
                                             kbit_optim_scalars *scalars)
{
    static const char fn[] = "kbit_optim_host_scalars";
    kbit_clear_error();
    kbit_status st = kbit_optim_check_config(config, fn);
    if (st != KBIT_OK)
        return st;
    if (step < 1)
        return kbit_error(KBIT_EINVAL, "%s: step = %lld must be >= 1", fn, (long long)step);
    if (scalars == NULL)
        return kbit_error(KBIT_EINVAL, "%s: scalars is NULL", fn);
    kbit_optim_scalars_of(config, step, scalars);
    return KBIT_OK;
}
