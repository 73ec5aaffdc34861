/*
 * numerics/optim_scales.h - the scalars of an optimizer step that come from
 * norms (doc/numerics.md 6.4 and 6.7, doc/determinism.md 4): percentile clipping's
 * gradient scale and max_unorm's update scale, from pairsum results.
 *
 * These run on the device (a GPU runs them in one work item), so that a step
 * with clipping never waits for the host; every driver runs exactly these
 * statements. Inputs: fp64 pairsums; outputs: the fp32 scales of
 * kbit_op_optimizer.scales (KBIT_OPTSCALE_*, include/kbit-formats.h). The
 * arrays live in device memory; the op-struct form is the CPU driver's
 * (backends/cpu/optim/ops.c).
 */
#ifndef KBIT_NUMERICS_OPTIM_SCALES_H
#define KBIT_NUMERICS_OPTIM_SCALES_H

#include "kbit-formats.h"
#include "numerics/platform.h"

/* Percentile clipping keeps this many gradient norms (bitsandbytes' gnorm_vec). */
#define KBIT_OPTIM_HISTORY 100

/* a < b in the order the history is sorted in: ascending, NaN after every
 * number (a NaN norm comes only from a NaN gradient). */
KBIT_NUM_FN int kbit_optim_norm_before(float a, float b)
{
    return a == a && (b != b || a < b);
}

/* Percentile clipping (numerics 6.7). sums[0] = pairsum of g^2; history is
 * the state's norms, updated: at step 1 every entry is the new norm, later
 * entry step % 100. The gradient scale is sqrt(sorted[percentile]) /
 * sqrt(current) when the current norm is above that percentile, else 1. */
KBIT_NUM_FN void kbit_optim_scales_clip(KBIT_GLOBAL const double *sums, KBIT_GLOBAL float *history,
                                        KBIT_GLOBAL float *scales, int64_t step, int32_t percentile,
                                        float gnorm_scale)
{
    float gnorm_sq = (float)sums[0];
    int slot = (int)(step % KBIT_OPTIM_HISTORY);
    if (step == 1)
        for (int i = 0; i < KBIT_OPTIM_HISTORY; i++)
            history[i] = gnorm_sq;
    else
        history[slot] = gnorm_sq;
    float sorted[KBIT_OPTIM_HISTORY];
    for (int i = 0; i < KBIT_OPTIM_HISTORY; i++) { /* insertion sort: same result as any sort */
        float v = history[i];
        int j = i;
        while (j > 0 && kbit_optim_norm_before(v, sorted[j - 1])) {
            sorted[j] = sorted[j - 1];
            j--;
        }
        sorted[j] = v;
    }
    float current = KBIT_FSQRT(history[slot]);
    float clip = KBIT_FSQRT(sorted[percentile]);
    float c = current > clip ? KBIT_FDIV(clip, current) : 1.0f;
    scales[KBIT_OPTSCALE_CLIP] = c;
    scales[KBIT_OPTSCALE_GNORM] = KBIT_FMUL(gnorm_scale, c);
    scales[KBIT_OPTSCALE_UPDATE] = 1.0f;
    scales[KBIT_OPTSCALE_PNORM] = 0.0f;
    scales[KBIT_OPTSCALE_UNORM] = 0.0f;
}

/* max_unorm (numerics 6.4, determinism 4). sums[0] = pairsum of p^2,
 * sums[1] = pairsum of u^2. param_norm = f32(sqrt(S)) with the square root
 * in fp64; unorm = f32(sum u^2); the update scale is limit / sqrt(unorm)
 * when sqrt(unorm) exceeds limit = max_unorm * param_norm (+ eps for the
 * momentum kernel), else 1. Without a clipping phase before it, this phase
 * also sets the gradient scale to the caller's. */
KBIT_NUM_FN void kbit_optim_scales_unorm(KBIT_GLOBAL const double *sums, KBIT_GLOBAL float *scales,
                                         int32_t clipped, float gnorm_scale, float max_unorm,
                                         float eps, int32_t add_eps)
{
    if (!clipped) {
        scales[KBIT_OPTSCALE_GNORM] = gnorm_scale;
        scales[KBIT_OPTSCALE_CLIP] = 1.0f;
    }
    float param_norm = (float)KBIT_DSQRT(sums[0]);
    float unorm = (float)sums[1];
    float u = KBIT_FSQRT(unorm);
    float limit = KBIT_FMUL(max_unorm, param_norm);
    if (add_eps)
        limit = KBIT_FADD(limit, eps);
    scales[KBIT_OPTSCALE_UPDATE] = u > limit ? KBIT_FDIV(limit, u) : 1.0f;
    scales[KBIT_OPTSCALE_PNORM] = param_norm;
    scales[KBIT_OPTSCALE_UNORM] = unorm;
}

#endif /* KBIT_NUMERICS_OPTIM_SCALES_H */
