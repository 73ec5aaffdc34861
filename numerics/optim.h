/*
 * numerics/optim.h - the per-element update rules of the optimizers
 * (doc/numerics.md 6.3 for 32-bit states, 6.5 with its NORMATIVE deviations
 * for 8-bit blockwise states, 6.4 for the update norm's term). The reference
 * kernel (backends/cpu/optim/ref.c) loops over these; a GPU kernel runs the
 * same calls per element; the SIMD kernels (backends/cpu/optim/simd.h) are a
 * vector transcription of exactly these expressions.
 *
 * Every expression is written in the order of the spec, one IEEE fp32
 * operation per macro (numerics/platform.h), and kbit_dtype_round(T, .) is
 * one rounding to the parameter dtype T. The scalars of a step come in a
 * kbit_optim_params (plain values, no pointers: a kernel argument on every
 * target), with gnorm_scale and update_scale already resolved from the
 * device-side scales when a step has norms.
 *
 * 8-bit states are updated a block (KBIT_OPTIM_BLOCK elements) at a time,
 * in three phases that need the whole block between them:
 *   1. state: each element's states are dequantized (kbit_8bit_value) and
 *      updated (kbit_optim8_states2 / kbit_optim8_state1);
 *   2. the block's new absmax of each state (numerics/encode.h kbit_absmax);
 *      then each element's parameter (kbit_optim8_param2 / _param1);
 *   3. requantization of each new state with its new absmax
 *      (kbit_optim8_requant).
 */
#ifndef KBIT_NUMERICS_OPTIM_H
#define KBIT_NUMERICS_OPTIM_H

#include "kbit-formats.h"
#include "numerics/dtype.h"
#include "numerics/encode.h"
#include "numerics/platform.h"

/* The scalars of one optimizer step. */
typedef struct kbit_optim_params {
    kbit_optim_kernel kernel_id; /* the update rule (`kernel` is an OpenCL keyword) */
    kbit_dtype param_dtype;   /* T */
    int64_t step;             /* >= 1, already incremented */
    float lr, beta1, beta2;
    float beta3, alpha;       /* ADEMAMIX: the scheduled beta3_t and alpha_t */
    float eps, weight_decay;
    float gnorm_scale;        /* multiplies the gradient */
    float update_scale;       /* max_unorm's scale (32-bit states, not ADAGRAD), else 1 */
    float c1, c2, step_size;  /* host scalars of numerics 6.2 */
    float c1p, c2p;           /* f32(1/(1-beta1^t)), f32(1/(1-beta2^t)): update norm only */
    int32_t skip_zeros;
} kbit_optim_params;

/* sgn(x) = (x > 0) - (x < 0) as fp32: 0 for +-0 and NaN. */
KBIT_NUM_FN float kbit_optim_sgn(float x)
{
    return (float)((x > 0.0f ? 1 : 0) - (x < 0.0f ? 1 : 0));
}

/* An exponential average: s * beta + (1 - beta) * x. */
KBIT_NUM_FN float kbit_optim_ema(float s, float beta, float x)
{
    return KBIT_FADD(KBIT_FMUL(s, beta), KBIT_FMUL(KBIT_FSUB(1.0f, beta), x));
}

/* Decoupled weight decay (AdamW, AdEMAMix, Lion): T(p * (1 - lr * wd)). */
KBIT_NUM_FN float kbit_optim_decay(KBIT_PRIVATE const kbit_optim_params *k, float p)
{
    float decay = KBIT_FSUB(1.0f, KBIT_FMUL(k->lr, k->weight_decay));
    return kbit_dtype_round(k->param_dtype, KBIT_FMUL(p, decay));
}

/* ------------------------------------------------------------------ */
/* 32-bit states (numerics 6.3)                                         */

/* ADAM and ADEMAMIX: one element with first moment *m, second moment *v
 * and (ADEMAMIX) slow moment *m2, parameter *p (fp32 value of dtype T),
 * raw gradient graw. ADAM with skip_zeros leaves everything when the
 * scaled gradient is 0. Weight decay is decoupled, after the step. */
KBIT_NUM_FN void kbit_optim32_step2(KBIT_PRIVATE const kbit_optim_params *k, float graw,
                                    KBIT_PRIVATE float *m, KBIT_PRIVATE float *m2,
                                    KBIT_PRIVATE float *v, KBIT_PRIVATE float *p)
{
    const kbit_dtype T = k->param_dtype;
    float g = kbit_dtype_round(T, KBIT_FMUL(k->gnorm_scale, graw));
    if (k->kernel_id == KBIT_OPTK_ADAM) {
        if (k->skip_zeros && g == 0.0f)
            return;
        /* m = m b1 + (1-b1) g;  v = v b2 + (1-b2) g^2;
         * p = T(p + (us ss) (m / (sqrt(v) + eps c2))) */
        *m = kbit_optim_ema(*m, k->beta1, g);
        *v = kbit_optim_ema(*v, k->beta2, KBIT_FMUL(g, g));
        float den = KBIT_FADD(KBIT_FSQRT(*v), KBIT_FMUL(k->eps, k->c2));
        float step = KBIT_FMUL(KBIT_FMUL(k->update_scale, k->step_size), KBIT_FDIV(*m, den));
        *p = kbit_dtype_round(T, KBIT_FADD(*p, step));
    } else { /* ADEMAMIX: no skip_zeros */
        /* m = ema(m, b1, g); m2 = ema(m2, b3, g); v = v b2 + ((1-b2) g) g;
         * p = T(p - lr ((m / c1 + alpha m2) / (sqrt(v) / c2 + eps))) */
        *m = kbit_optim_ema(*m, k->beta1, g);
        *m2 = kbit_optim_ema(*m2, k->beta3, g);
        *v = KBIT_FADD(KBIT_FMUL(*v, k->beta2), KBIT_FMUL(KBIT_FMUL(KBIT_FSUB(1.0f, k->beta2), g), g));
        float num = KBIT_FADD(KBIT_FDIV(*m, k->c1), KBIT_FMUL(k->alpha, *m2));
        float den = KBIT_FADD(KBIT_FDIV(KBIT_FSQRT(*v), k->c2), k->eps);
        *p = kbit_dtype_round(T, KBIT_FSUB(*p, KBIT_FMUL(k->lr, KBIT_FDIV(num, den))));
    }
    if (k->weight_decay > 0.0f)
        *p = kbit_optim_decay(k, *p);
}

/* MOMENTUM, LION, RMSPROP, ADAGRAD: one element with state *s. Weight
 * decay is coupled (L2, added to the gradient and rounded to T) except for
 * LION, which decays p before its step. skip_zeros tests the gradient after
 * the decay term. ADAGRAD takes no update_scale. */
KBIT_NUM_FN void kbit_optim32_step1(KBIT_PRIVATE const kbit_optim_params *k, float graw,
                                    KBIT_PRIVATE float *s, KBIT_PRIVATE float *p)
{
    const kbit_dtype T = k->param_dtype;
    float g = kbit_dtype_round(T, KBIT_FMUL(k->gnorm_scale, graw));
    if (k->weight_decay > 0.0f && k->kernel_id != KBIT_OPTK_LION)
        g = kbit_dtype_round(T, KBIT_FADD(g, KBIT_FMUL(*p, k->weight_decay)));
    if (k->skip_zeros && g == 0.0f)
        return;
    switch (k->kernel_id) {
    case KBIT_OPTK_MOMENTUM:
        /* s = (step 1 ? g : s b1 + g);  p = T(p + us (-lr s)) */
        *s = k->step == 1 ? g : KBIT_FADD(KBIT_FMUL(*s, k->beta1), g);
        *p = kbit_dtype_round(T, KBIT_FADD(*p, KBIT_FMUL(k->update_scale, KBIT_FMUL(-k->lr, *s))));
        break;
    case KBIT_OPTK_LION: {
        /* p = T(p (1 - lr wd)); p = T(p - us (lr sgn(ema(s, b1, g))));
         * s = ema(s, b2, g) */
        if (k->weight_decay > 0.0f)
            *p = kbit_optim_decay(k, *p);
        float dir = kbit_optim_sgn(kbit_optim_ema(*s, k->beta1, g));
        *p = kbit_dtype_round(T, KBIT_FSUB(*p, KBIT_FMUL(k->update_scale, KBIT_FMUL(k->lr, dir))));
        *s = kbit_optim_ema(*s, k->beta2, g);
        break;
    }
    case KBIT_OPTK_RMSPROP: {
        /* s = s b1 + ((1-b1) g) g;  p = T(p - us (lr (g / (sqrt(s) + eps)))) */
        *s = KBIT_FADD(KBIT_FMUL(*s, k->beta1), KBIT_FMUL(KBIT_FMUL(KBIT_FSUB(1.0f, k->beta1), g), g));
        float u = KBIT_FDIV(g, KBIT_FADD(KBIT_FSQRT(*s), k->eps));
        *p = kbit_dtype_round(T, KBIT_FSUB(*p, KBIT_FMUL(k->update_scale, KBIT_FMUL(k->lr, u))));
        break;
    }
    default: { /* ADAGRAD: s = s + g^2;  p = T(p - lr (g / (sqrt(s) + eps))) */
        *s = KBIT_FADD(*s, KBIT_FMUL(g, g));
        float u = KBIT_FDIV(g, KBIT_FADD(KBIT_FSQRT(*s), k->eps));
        *p = kbit_dtype_round(T, KBIT_FSUB(*p, KBIT_FMUL(k->lr, u)));
        break;
    }
    }
}

/* u of numerics 6.4 for one element (32-bit states; not ADEMAMIX), from
 * the gnorm-scaled gradient before coupled weight decay (doc/determinism.md
 * 4, as bitsandbytes' kPreconditionOptimizer32bit kernels) and the states
 * s1 (m, the momentum or the 1-state s), s2 (v):
 *   ADAM      (m' c1p) / (sqrt(v' c2p) + eps), m', v' this step's moments
 *   MOMENTUM  s' = (step 1 ? g : s b1 + g)
 *   RMSPROP   g / (sqrt(s') + eps), s' = s b1 + ((1-b1) g) g
 *   ADAGRAD   g / (sqrt(s') + eps), s' = s + g g
 *   LION      s' = ema(s, b2, g), where s is the state *after* this step's
 *             update (the core sums it after the step: it scales the next)
 * The new states are not stored. */
KBIT_NUM_FN float kbit_optim_update_term(KBIT_PRIVATE const kbit_optim_params *k, float graw,
                                         float s1, float s2)
{
    float g = kbit_dtype_round(k->param_dtype, KBIT_FMUL(k->gnorm_scale, graw));
    switch (k->kernel_id) {
    case KBIT_OPTK_ADAM: {
        float m = kbit_optim_ema(s1, k->beta1, g);
        float v = kbit_optim_ema(s2, k->beta2, KBIT_FMUL(g, g));
        return KBIT_FDIV(KBIT_FMUL(m, k->c1p), KBIT_FADD(KBIT_FSQRT(KBIT_FMUL(v, k->c2p)), k->eps));
    }
    case KBIT_OPTK_RMSPROP: {
        float s = KBIT_FADD(KBIT_FMUL(s1, k->beta1), KBIT_FMUL(KBIT_FMUL(KBIT_FSUB(1.0f, k->beta1), g), g));
        return KBIT_FDIV(g, KBIT_FADD(KBIT_FSQRT(s), k->eps));
    }
    case KBIT_OPTK_ADAGRAD: {
        float s = KBIT_FADD(s1, KBIT_FMUL(g, g));
        return KBIT_FDIV(g, KBIT_FADD(KBIT_FSQRT(s), k->eps));
    }
    case KBIT_OPTK_LION: return kbit_optim_ema(s1, k->beta2, g);
    default: return k->step == 1 ? g : KBIT_FADD(KBIT_FMUL(s1, k->beta1), g); /* MOMENTUM */
    }
}

/* The pairsum term of one element's u (KBIT_OPTSUM_UPDATE_SQ): (double)u *
 * (double)u, exact in fp64; LION's u itself, (double)u, not squared (numerics
 * 6.4: bitsandbytes adds LION's s' unsquared). */
KBIT_NUM_FN double kbit_optim_update_leaf_term(KBIT_PRIVATE const kbit_optim_params *k,
                                               float graw, float s1, float s2)
{
    float u = kbit_optim_update_term(k, graw, s1, s2);
    if (k->kernel_id == KBIT_OPTK_LION)
        return (double)u;
    return KBIT_DMUL((double)u, (double)u);
}

/* ------------------------------------------------------------------ */
/* 8-bit blockwise states (numerics 6.5)                                */

/* Phase 1, ADAM and ADEMAMIX: the dequantized states *s1 (m), *s2 (v) and
 * (ADEMAMIX) *s3 (m2) of one element become the new states. Returns 1 when
 * the parameter is to be updated in phase 2. skip_zeros with a zero raw
 * gradient keeps the old states (and p); a non-finite scaled gradient
 * resets the states to 0 (and leaves p). No update_scale on 8-bit states. */
KBIT_NUM_FN int kbit_optim8_states2(KBIT_PRIVATE const kbit_optim_params *k, float graw,
                                    KBIT_PRIVATE float *s1, KBIT_PRIVATE float *s2,
                                    KBIT_PRIVATE float *s3)
{
    if (k->skip_zeros && graw == 0.0f)
        return 0;
    float gv = KBIT_FMUL(graw, k->gnorm_scale);
    if (!kbit_isfinite(gv)) {
        *s1 = 0.0f;
        *s2 = 0.0f;
        *s3 = 0.0f;
        return 0;
    }
    *s2 = KBIT_FADD(KBIT_FMUL(*s2, k->beta2), KBIT_FMUL(KBIT_FMUL(KBIT_FSUB(1.0f, k->beta2), gv), gv));
    *s1 = kbit_optim_ema(*s1, k->beta1, gv);
    if (k->kernel_id == KBIT_OPTK_ADEMAMIX)
        *s3 = kbit_optim_ema(*s3, k->beta3, gv);
    return 1;
}

/* Phase 2, ADAM and ADEMAMIX: the new parameter from the new states. */
KBIT_NUM_FN float kbit_optim8_param2(KBIT_PRIVATE const kbit_optim_params *k, float s1,
                                     float s2, float s3, float p)
{
    const kbit_dtype T = k->param_dtype;
    if (k->kernel_id == KBIT_OPTK_ADEMAMIX) {
        float num = KBIT_FADD(KBIT_FDIV(s1, k->c1), KBIT_FMUL(k->alpha, s3));
        float den = KBIT_FADD(KBIT_FDIV(KBIT_FSQRT(s2), k->c2), k->eps);
        p = kbit_dtype_round(T, KBIT_FSUB(p, KBIT_FMUL(k->lr, KBIT_FDIV(num, den))));
    } else {
        float den = KBIT_FADD(KBIT_FSQRT(s2), KBIT_FMUL(k->c2, k->eps));
        p = kbit_dtype_round(T, KBIT_FADD(p, KBIT_FMUL(k->step_size, KBIT_FDIV(s1, den))));
    }
    if (k->weight_decay > 0.0f)
        p = kbit_optim_decay(k, p);
    return p;
}

/* Phase 1, MOMENTUM, LION, RMSPROP, ADAGRAD: the dequantized state *s1 of
 * one element becomes the new state. Returns 0 (skip_zeros with a zero raw
 * gradient: state and p kept) or 1. Coupled weight decay adds p * wd to the
 * scaled gradient in fp32, not rounded; LION decays *p here (before its
 * step) and leaves its step T(lr sgn(.)) in *d for phase 2. */
KBIT_NUM_FN int kbit_optim8_state1(KBIT_PRIVATE const kbit_optim_params *k, float graw,
                                   KBIT_PRIVATE float *s1, KBIT_PRIVATE float *p,
                                   KBIT_PRIVATE float *d)
{
    if (k->skip_zeros && graw == 0.0f)
        return 0;
    float gv = KBIT_FMUL(graw, k->gnorm_scale);
    if (k->weight_decay > 0.0f) {
        if (k->kernel_id == KBIT_OPTK_LION)
            *p = kbit_optim_decay(k, *p);
        else
            gv = KBIT_FADD(gv, KBIT_FMUL(*p, k->weight_decay));
    }
    switch (k->kernel_id) {
    case KBIT_OPTK_MOMENTUM:
        *s1 = k->step == 1 ? gv : KBIT_FADD(KBIT_FMUL(*s1, k->beta1), gv);
        break;
    case KBIT_OPTK_LION:
        *d = kbit_dtype_round(k->param_dtype,
                              KBIT_FMUL(k->lr, kbit_optim_sgn(kbit_optim_ema(*s1, k->beta1, gv))));
        *s1 = kbit_optim_ema(*s1, k->beta2, gv);
        break;
    case KBIT_OPTK_RMSPROP:
        *s1 = kbit_optim_ema(*s1, k->beta1, KBIT_FMUL(gv, gv));
        break;
    default: /* ADAGRAD */
        *s1 = KBIT_FADD(*s1, KBIT_FMUL(gv, gv));
        break;
    }
    return 1;
}

/* Phase 2, 1-state kernels: the new parameter. RMSPROP and ADAGRAD divide
 * the raw gradient, as bitsandbytes does; d is LION's step from phase 1. */
KBIT_NUM_FN float kbit_optim8_param1(KBIT_PRIVATE const kbit_optim_params *k, float graw,
                                     float s1, float d, float p)
{
    const kbit_dtype T = k->param_dtype;
    switch (k->kernel_id) {
    case KBIT_OPTK_MOMENTUM: return kbit_dtype_round(T, KBIT_FSUB(p, KBIT_FMUL(k->lr, s1)));
    case KBIT_OPTK_LION: return kbit_dtype_round(T, KBIT_FSUB(p, d));
    default: {
        float u = KBIT_FDIV(graw, KBIT_FADD(KBIT_FSQRT(s1), k->eps));
        return kbit_dtype_round(T, KBIT_FSUB(p, KBIT_FMUL(k->lr, u)));
    }
    }
}

/* Phase 3: the code of a new state value s with its block's new absmax:
 * enc8(s / absmax) (a division, as bitsandbytes), then for signed maps the
 * sign fix: a code whose map entry has the other sign bit than s moves one
 * step towards s (uint8 arithmetic, so 0 - 1 wraps to 255). */
KBIT_NUM_FN uint8_t kbit_optim8_requant(float s, float absmax, KBIT_TABLE const float *map,
                                        KBIT_TABLE const float *mid, int sign_fix)
{
    unsigned code = kbit_enc8_sorted(KBIT_FDIV(s, absmax), mid);
    if (sign_fix && kbit_signbit(map[code]) != kbit_signbit(s))
        code = s > 0.0f ? code + 1u : code - 1u;
    return (uint8_t)code;
}

#endif /* KBIT_NUMERICS_OPTIM_H */
