/*
 * backends/cpu/optim/ref.c - reference optimizer kernels (doc/numerics.md 6.3-6.5
 * with the NORMATIVE deviations of 6.5, doc/determinism.md 4 for the norm leaves).
 *
 * Work is split into blocks of KBIT_OPTIM_BLOCK (256) elements: the 8-bit
 * states are quantized per block, and 32-bit states are simply cut the same
 * way. Every expression is written in the order of the spec; each `rt()` is
 * one rounding to the parameter dtype.
 */
#include <math.h>

#include "numerics/encode.h"
#include "optim.h"

/* Round an fp32 value to the parameter dtype and back (identity for F32). */
static inline float rt(kbit_dtype dtype, float x)
{
    if (dtype == KBIT_F16)
        return kbit_f16_to_f32(kbit_f32_to_f16(x));
    if (dtype == KBIT_BF16)
        return kbit_bf16_to_f32(kbit_f32_to_bf16(x));
    return x;
}

static inline float sgn(float x)
{
    return (float)((x > 0.0f) - (x < 0.0f));
}

/* ------------------------------------------------------------------ */
/* 32-bit states (numerics 6.3)                                         */

static void step32_2state(const kbit_op_optimizer *op, int64_t start, int64_t count,
                          const float *graw, float *p)
{
    const kbit_dtype T = op->param_dtype;
    float *m = (float *)op->state1 + start;
    float *v = (float *)op->state2 + start;
    for (int64_t i = 0; i < count; i++) {
        float g = rt(T, op->gnorm_scale * graw[i]);
        if (op->kernel == KBIT_OPTK_ADAM) {
            if (op->skip_zeros && g == 0.0f)
                continue;
            m[i] = m[i] * op->beta1 + (1.0f - op->beta1) * g;
            v[i] = v[i] * op->beta2 + (1.0f - op->beta2) * (g * g);
            p[i] = rt(T, p[i] + (op->update_scale * op->step_size) *
                                    (m[i] / (sqrtf(v[i]) + op->eps * op->c2)));
        } else { /* ADEMAMIX: m2 lives at state1[n + i]; no skip_zeros */
            float *m2 = (float *)op->state1 + op->n + start;
            m[i] = m[i] * op->beta1 + (1.0f - op->beta1) * g;
            m2[i] = m2[i] * op->beta3 + (1.0f - op->beta3) * g;
            v[i] = v[i] * op->beta2 + ((1.0f - op->beta2) * g) * g;
            p[i] = rt(T, p[i] - op->lr * ((m[i] / op->c1 + op->alpha * m2[i]) /
                                          (sqrtf(v[i]) / op->c2 + op->eps)));
        }
        if (op->weight_decay > 0.0f) /* decoupled, after the step */
            p[i] = rt(T, p[i] * (1.0f - op->lr * op->weight_decay));
    }
}

static void step32_1state(const kbit_op_optimizer *op, int64_t start, int64_t count,
                          const float *graw, float *p)
{
    const kbit_dtype T = op->param_dtype;
    float *s = (float *)op->state1 + start;
    for (int64_t i = 0; i < count; i++) {
        float g = rt(T, op->gnorm_scale * graw[i]);
        if (op->weight_decay > 0.0f && op->kernel != KBIT_OPTK_LION)
            g = rt(T, g + p[i] * op->weight_decay); /* coupled L2, rounded to T */
        if (op->skip_zeros && g == 0.0f)
            continue;
        switch (op->kernel) {
        case KBIT_OPTK_MOMENTUM:
            s[i] = op->step == 1 ? g : s[i] * op->beta1 + g;
            p[i] = rt(T, p[i] + op->update_scale * (-op->lr * s[i]));
            break;
        case KBIT_OPTK_LION:
            if (op->weight_decay > 0.0f)
                p[i] = rt(T, p[i] * (1.0f - op->lr * op->weight_decay));
            p[i] = rt(T, p[i] - op->update_scale *
                                    (op->lr * sgn(s[i] * op->beta1 + (1.0f - op->beta1) * g)));
            s[i] = s[i] * op->beta2 + (1.0f - op->beta2) * g;
            break;
        case KBIT_OPTK_RMSPROP:
            s[i] = s[i] * op->beta1 + ((1.0f - op->beta1) * g) * g;
            p[i] = rt(T, p[i] - op->update_scale * (op->lr * (g / (sqrtf(s[i]) + op->eps))));
            break;
        default: /* ADAGRAD: no update_scale */
            s[i] = s[i] + g * g;
            p[i] = rt(T, p[i] - op->lr * (g / (sqrtf(s[i]) + op->eps)));
            break;
        }
    }
}

/* ------------------------------------------------------------------ */
/* 8-bit blockwise states (numerics 6.5)                                */

/* Requantize a block of new state values with its new absmax: xq = s / absmax
 * (a division, as bitsandbytes), enc8, then for signed maps the sign fix: a
 * code whose map entry has the other sign bit moves one step towards s
 * (uint8 arithmetic, so 0 - 1 wraps to 255). */
void kbit_ref_optim_requantize(const float *s, int64_t count, float absmax, const float *map,
                               const float *mid, int sign_fix, uint8_t *q)
{
    for (int64_t i = 0; i < count; i++) {
        unsigned code = kbit_enc8_sorted(s[i] / absmax, mid);
        if (sign_fix && signbit(map[code]) != signbit(s[i]))
            code = s[i] > 0.0f ? code + 1u : code - 1u;
        q[i] = (uint8_t)code;
    }
}

static void step8_2state(const kbit_op_optimizer *op, int64_t b, int64_t start, int64_t count,
                         const float *graw, float *p)
{
    const kbit_dtype T = op->param_dtype;
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
        float gv = graw[i] * op->gnorm_scale;
        s1[i] = op->qmap1[q1[i]] * a1;
        s2[i] = op->qmap2[q2[i]] * a2;
        s3[i] = ademamix ? op->qmap1[q3[i]] * a3 : 0.0f;
        upd[i] = 0;
        if (op->skip_zeros && graw[i] == 0.0f)
            continue; /* kbit: keep the old state, leave p */
        if (isfinite(gv)) {
            s2[i] = s2[i] * op->beta2 + ((1.0f - op->beta2) * gv) * gv;
            s1[i] = s1[i] * op->beta1 + (1.0f - op->beta1) * gv;
            if (ademamix)
                s3[i] = s3[i] * op->beta3 + (1.0f - op->beta3) * gv;
            upd[i] = 1;
        } else { /* non-finite gradient: reset the state, leave p */
            s1[i] = s2[i] = s3[i] = 0.0f;
        }
    }
    float n1 = kbit_absmax(s1, count), n2 = kbit_absmax(s2, count);
    float n3 = ademamix ? kbit_absmax(s3, count) : 0.0f;

    for (int64_t i = 0; i < count; i++) {
        if (!upd[i])
            continue;
        if (ademamix)
            p[i] = rt(T, p[i] - op->lr * ((s1[i] / op->c1 + op->alpha * s3[i]) /
                                          (sqrtf(s2[i]) / op->c2 + op->eps)));
        else
            p[i] = rt(T, p[i] + op->step_size * (s1[i] / (sqrtf(s2[i]) + op->c2 * op->eps)));
        if (op->weight_decay > 0.0f)
            p[i] = rt(T, p[i] * (1.0f - op->lr * op->weight_decay));
    }

    op->absmax1[b] = n1;
    op->absmax2[b] = n2;
    kbit_ref_optim_requantize(s1, count, n1, op->qmap1, op->mid1, 1, q1);
    kbit_ref_optim_requantize(s2, count, n2, op->qmap2, op->mid2, 0, q2);
    if (ademamix) {
        op->absmax1[nblocks + b] = n3;
        kbit_ref_optim_requantize(s3, count, n3, op->qmap1, op->mid1, 1, q3);
    }
}

static void step8_1state(const kbit_op_optimizer *op, int64_t b, int64_t start, int64_t count,
                         const float *graw, float *p)
{
    const kbit_dtype T = op->param_dtype;
    uint8_t *q1 = (uint8_t *)op->state1 + start;
    float s1[KBIT_OPTIM_BLOCK], d[KBIT_OPTIM_BLOCK];
    const float a1 = op->absmax1[b];

    for (int64_t i = 0; i < count; i++) {
        s1[i] = op->qmap1[q1[i]] * a1;
        if (op->skip_zeros && graw[i] == 0.0f)
            continue;
        float gv = graw[i] * op->gnorm_scale;
        if (op->weight_decay > 0.0f) {
            if (op->kernel == KBIT_OPTK_LION)
                p[i] = rt(T, p[i] * (1.0f - op->lr * op->weight_decay));
            else
                gv = gv + p[i] * op->weight_decay; /* fp32, not rounded */
        }
        switch (op->kernel) {
        case KBIT_OPTK_MOMENTUM:
            s1[i] = op->step == 1 ? gv : s1[i] * op->beta1 + gv;
            break;
        case KBIT_OPTK_LION:
            d[i] = rt(T, op->lr * sgn(s1[i] * op->beta1 + (1.0f - op->beta1) * gv));
            s1[i] = s1[i] * op->beta2 + (1.0f - op->beta2) * gv;
            break;
        case KBIT_OPTK_RMSPROP:
            s1[i] = s1[i] * op->beta1 + (1.0f - op->beta1) * (gv * gv);
            break;
        default: /* ADAGRAD */
            s1[i] = s1[i] + gv * gv;
            break;
        }
    }
    float n1 = kbit_absmax(s1, count);

    for (int64_t i = 0; i < count; i++) {
        if (op->skip_zeros && graw[i] == 0.0f)
            continue;
        switch (op->kernel) {
        case KBIT_OPTK_MOMENTUM: p[i] = rt(T, p[i] - op->lr * s1[i]); break;
        case KBIT_OPTK_LION: p[i] = rt(T, p[i] - d[i]); break;
        default: /* RMSPROP, ADAGRAD: the raw gradient in the numerator (bnb) */
            p[i] = rt(T, p[i] - op->lr * (graw[i] / (sqrtf(s1[i]) + op->eps)));
            break;
        }
    }

    op->absmax1[b] = n1;
    kbit_ref_optim_requantize(s1, count, n1, op->qmap1, op->mid1, 1, q1);
}

/* ------------------------------------------------------------------ */

void kbit_ref_optimizer_step(const kbit_op_optimizer *step, int64_t block_begin,
                             int64_t block_end)
{
    const kbit_op_optimizer resolved = kbit_optim_resolved(step), *op = &resolved;
    const int two_state = op->kernel == KBIT_OPTK_ADAM || op->kernel == KBIT_OPTK_ADEMAMIX;
    float g[KBIT_OPTIM_BLOCK], p[KBIT_OPTIM_BLOCK];
    for (int64_t b = block_begin; b < block_end; b++) {
        int64_t start = b * KBIT_OPTIM_BLOCK;
        int64_t count = kbit_block_count(op->n, KBIT_OPTIM_BLOCK, b);
        kbit_load_f32(op->g, op->grad_dtype, start, count, g);
        kbit_load_f32(op->p, op->param_dtype, start, count, p);
        if (op->state_bits == 32) {
            if (two_state)
                step32_2state(op, start, count, g, p);
            else
                step32_1state(op, start, count, g, p);
        } else {
            if (two_state)
                step8_2state(op, b, start, count, g, p);
            else
                step8_1state(op, b, start, count, g, p);
        }
        kbit_store_f32(op->p, op->param_dtype, start, count, p);
    }
}

/* u of numerics 6.4 for element i (32-bit ADAM and MOMENTUM only), from the
 * gnorm-scaled gradient before coupled weight decay (determinism 4). */
static float update_term(const kbit_op_optimizer *op, int64_t i, float graw)
{
    const kbit_dtype T = op->param_dtype;
    float g = rt(T, op->gnorm_scale * graw);
    const float *s1 = op->state1;
    if (op->kernel == KBIT_OPTK_ADAM) {
        const float *s2 = op->state2;
        float m = s1[i] * op->beta1 + (1.0f - op->beta1) * g;
        float v = s2[i] * op->beta2 + (1.0f - op->beta2) * (g * g);
        return (m * op->c1p) / (sqrtf(v * op->c2p) + op->eps);
    }
    return op->step == 1 ? g : s1[i] * op->beta1 + g; /* MOMENTUM */
}

void kbit_ref_optimizer_sums(const kbit_op_optimizer_sums *op, int64_t block_begin,
                             int64_t block_end)
{
    const kbit_op_optimizer resolved = kbit_optim_resolved(op->step), *s = &resolved;
    float x[KBIT_OPTIM_BLOCK];
    for (int64_t b = block_begin; b < block_end; b++) {
        int64_t start = b * KBIT_OPTIM_BLOCK;
        int64_t count = kbit_block_count(s->n, KBIT_OPTIM_BLOCK, b);
        if (op->which == KBIT_OPTSUM_PARAM_SQ)
            kbit_load_f32(s->p, s->param_dtype, start, count, x);
        else
            kbit_load_f32(s->g, s->grad_dtype, start, count, x);
        if (op->which == KBIT_OPTSUM_UPDATE_SQ)
            for (int64_t i = 0; i < count; i++)
                x[i] = update_term(s, start + i, x[i]);
        double sum = 0.0;
        for (int64_t i = 0; i < count; i++)
            sum += (double)x[i] * (double)x[i];
        op->leaves[b] = sum;
    }
}
