/*
 * backends/gpu/optim.h - the bodies of the optimizer family (doc/numerics.md
 * 6.3-6.5 and 6.7, doc/determinism.md 4): the step with 32-bit and with 8-bit
 * blockwise states, the per-256 fp64 leaves of the norms and the
 * device-side scales. Every element is updated by the calls that
 * backends/cpu/optim/ref.c makes, in the same order: the rules are those of
 * numerics/optim.h and numerics/optim_scales.h, so a rule changed there
 * changes every backend.
 *
 * The step's scalars come as one kbit_optim_params by value (no pointers in
 * it; the host builds it with backends/optim_params.h). When the step has
 * norms (has_scales), its gnorm_scale and update_scale are read here from the
 * device array `scales` (KBIT_OPTSCALE_*), written by an earlier
 * optimizer_scales on the same stream, as the CPU driver's
 * kbit_optim_resolved does on the host.
 *
 * Work split (backends/gpu/split.h):
 *   32-bit step  one item per element: kbit_split_elem_groups(n)
 *   8-bit step   one group per 256-element state block (KBIT_OPTIM_BLOCK ==
 *                KBIT_GPU_GROUP), item = element; the block's new absmax of
 *                each state through work-group memory (max is exact: the
 *                fold order does not change a bit, and it is fixed anyway):
 *                kbit_split_groups(nblocks, 1)
 *   sums         one item per 256-element leaf, its elements in order:
 *                kbit_split_elem_groups(nleaves)
 *   scales       one work item of one group
 */
#ifndef KBIT_GPU_OPTIM_H
#define KBIT_GPU_OPTIM_H

#include "backends/gpu/defs.h"
#include "numerics/numerics.h"
#include "backends/gpu/split.h"

#if KBIT_OPTIM_BLOCK != KBIT_GPU_GROUP
#error "the 8-bit optimizer body runs one 256-element state block per work-group"
#endif

/* The step's scalars with the device-side scales read, when it has them. */
KBIT_GPU_FN kbit_optim_params kbit_gk_optim_resolve(kbit_optim_params k, int32_t has_scales,
                                                    KBIT_GLOBAL const float *scales)
{
    if (has_scales) {
        k.gnorm_scale = scales[KBIT_OPTSCALE_GNORM];
        k.update_scale = scales[KBIT_OPTSCALE_UPDATE];
    }
    return k;
}

/* 1 for the kernels with two states (m and v; ADEMAMIX also m2 in state1[n..]). */
KBIT_GPU_FN int kbit_gk_optim_two_state(kbit_optim_kernel kernel_id)
{
    return kernel_id == KBIT_OPTK_ADAM || kernel_id == KBIT_OPTK_ADEMAMIX;
}

/* 32-bit states: p[n] (k.param_dtype) updated in place from g[n]
 * (grad_dtype; g may be p itself: an element is read before it is written),
 * state1 float[n] (ADEMAMIX [2n]: m, then m2), state2 float[n] (2-state
 * kernels, else unused). Elements whose step is skipped are written back
 * unchanged, as the reference does. */
KBIT_GPU_FN void kbit_gk_optim_step32(kbit_optim_params kp, int32_t has_scales,
                                      KBIT_GLOBAL const float *scales, kbit_dtype grad_dtype,
                                      KBIT_GLOBAL void *p, KBIT_GLOBAL const void *g, int64_t n,
                                      KBIT_GLOBAL float *state1, KBIT_GLOBAL float *state2)
{
    kbit_optim_params k = kbit_gk_optim_resolve(kp, has_scales, scales);
    const int two = kbit_gk_optim_two_state(k.kernel_id);
    const int ademamix = k.kernel_id == KBIT_OPTK_ADEMAMIX;
    const int64_t stride = KBIT_NGROUPS * KBIT_GPU_GROUP;
    for (int64_t i = KBIT_GROUP * KBIT_GPU_GROUP + KBIT_LID; i < n; i += stride) {
        const float graw = kbit_dtype_load(grad_dtype, g, i);
        float pv = kbit_dtype_load(k.param_dtype, p, i);
        float s1 = state1[i];
        if (two) {
            float v = state2[i];
            float m2 = ademamix ? state1[n + i] : 0.0f; /* ADAM: a dummy */
            kbit_optim32_step2(&k, graw, &s1, &m2, &v, &pv);
            state2[i] = v;
            if (ademamix)
                state1[n + i] = m2;
        } else {
            kbit_optim32_step1(&k, graw, &s1, &pv);
        }
        state1[i] = s1;
        kbit_dtype_store(k.param_dtype, p, i, pv);
    }
}

/* Stage count floats of a device table in work-group memory. */
KBIT_GPU_FN void kbit_gk_optim_stage(KBIT_GLOBAL const float *src, int count,
                                     KBIT_LOCAL float *dst)
{
    for (int i = KBIT_LID; i < count; i += KBIT_GPU_GROUP)
        dst[i] = src[i];
}

/* The absmax of the group's values v (one per item, +0 for items past the
 * block's end), as kbit_absmax over the block: red has KBIT_GPU_GROUP
 * entries and is free again when it returns. Called by every item. */
KBIT_GPU_FN float kbit_gk_optim_absmax(KBIT_LOCAL float *red, int lid, int active, float v)
{
    red[lid] = active ? kbit_absmax_step(0.0f, v) : 0.0f;
    KBIT_BARRIER();
    for (int s = KBIT_GPU_GROUP / 2; s > 0; s >>= 1) {
        if (lid < s)
            red[lid] = kbit_absmax_combine(red[lid], red[lid + s]);
        KBIT_BARRIER();
    }
    const float m = red[0];
    KBIT_BARRIER(); /* every item has read red[0] before it is written again */
    return m;
}

/* 8-bit blockwise states: codes state1 uint8[n] (ADEMAMIX [2n]: m, then m2)
 * and state2 uint8[n] (2-state), absmax1 float[nblocks] (ADEMAMIX
 * [2 nblocks]) and absmax2 float[nblocks] (2-state), the maps qmap1/mid1
 * (signed, with the sign fix) and qmap2/mid2 (2-state) as device buffers of
 * 256 and 255 floats. The three phases of numerics/optim.h per block:
 * states, then the block's new absmax and the parameter, then the codes.
 * Work-group memory: map1_l, map2_l (256 floats), mid1_l, mid2_l (255),
 * red (KBIT_GPU_GROUP). */
KBIT_GPU_FN void kbit_gk_optim_step8(kbit_optim_params kp, int32_t has_scales,
                                     KBIT_GLOBAL const float *scales, kbit_dtype grad_dtype,
                                     KBIT_GLOBAL void *p, KBIT_GLOBAL const void *g, int64_t n,
                                     KBIT_GLOBAL uint8_t *state1, KBIT_GLOBAL uint8_t *state2,
                                     KBIT_GLOBAL float *absmax1, KBIT_GLOBAL float *absmax2,
                                     KBIT_GLOBAL const float *qmap1, KBIT_GLOBAL const float *mid1,
                                     KBIT_GLOBAL const float *qmap2, KBIT_GLOBAL const float *mid2,
                                     KBIT_LOCAL float *map1_l, KBIT_LOCAL float *mid1_l,
                                     KBIT_LOCAL float *map2_l, KBIT_LOCAL float *mid2_l,
                                     KBIT_LOCAL float *red)
{
    kbit_optim_params k = kbit_gk_optim_resolve(kp, has_scales, scales);
    const int two = kbit_gk_optim_two_state(k.kernel_id);
    const int ademamix = k.kernel_id == KBIT_OPTK_ADEMAMIX;
    const int lid = KBIT_LID;
    kbit_gk_optim_stage(qmap1, 256, map1_l);
    kbit_gk_optim_stage(mid1, 255, mid1_l);
    if (two) {
        kbit_gk_optim_stage(qmap2, 256, map2_l);
        kbit_gk_optim_stage(mid2, 255, mid2_l);
    }
    KBIT_BARRIER();
    const int64_t nblocks = kbit_split_nblocks(n, KBIT_OPTIM_BLOCK);
    /* The bound is the same for every item of the group: all reach every barrier. */
    for (int64_t b = KBIT_GROUP; b < nblocks; b += KBIT_NGROUPS) {
        const int64_t start = b * KBIT_OPTIM_BLOCK;
        const int active = (int64_t)lid < kbit_block_count(n, KBIT_OPTIM_BLOCK, b);
        const int64_t i = start + lid;
        float graw = 0.0f, pv = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f, d = 0.0f;
        int upd = 0;
        /* phase 1: dequantize with the old absmax (read before lid 0 writes
         * the new one, after the reductions' barriers), update the states */
        if (active) {
            graw = kbit_dtype_load(grad_dtype, g, i);
            pv = kbit_dtype_load(k.param_dtype, p, i);
            s1 = kbit_8bit_value(map1_l[state1[i]], absmax1[b]);
            if (two) {
                s2 = kbit_8bit_value(map2_l[state2[i]], absmax2[b]);
                if (ademamix)
                    s3 = kbit_8bit_value(map1_l[state1[n + i]], absmax1[nblocks + b]);
                upd = kbit_optim8_states2(&k, graw, &s1, &s2, &s3);
            } else {
                upd = kbit_optim8_state1(&k, graw, &s1, &pv, &d);
            }
        }
        /* phase 2: the block's new absmax of each state, the parameter */
        const float n1 = kbit_gk_optim_absmax(red, lid, active, s1);
        const float n2 = two ? kbit_gk_optim_absmax(red, lid, active, s2) : 0.0f;
        const float n3 = ademamix ? kbit_gk_optim_absmax(red, lid, active, s3) : 0.0f;
        if (active) {
            if (upd)
                pv = two ? kbit_optim8_param2(&k, s1, s2, s3, pv)
                         : kbit_optim8_param1(&k, graw, s1, d, pv);
            kbit_dtype_store(k.param_dtype, p, i, pv);
            /* phase 3: the codes with the new absmax */
            state1[i] = kbit_optim8_requant(s1, n1, map1_l, mid1_l, 1);
            if (two)
                state2[i] = kbit_optim8_requant(s2, n2, map2_l, mid2_l, 0);
            if (ademamix)
                state1[n + i] = kbit_optim8_requant(s3, n3, map1_l, mid1_l, 1);
        }
        if (lid == 0) {
            absmax1[b] = n1;
            if (two)
                absmax2[b] = n2;
            if (ademamix)
                absmax1[nblocks + b] = n3;
        }
    }
}

/* The leaves of one norm (kbit_optim_sum of include/kbit-driver.h, which an
 * OpenCL program cannot include, as two flags): leaf b = the fp64 sum, in
 * element order, of the squares of p (from_param: PARAM_SQ), of the raw g
 * (GRAD_SQ) or of the terms of u of numerics 6.4 from g (update: UPDATE_SQ,
 * kbit_optim_update_leaf_term: u^2, LION's s' unsquared; 32-bit states:
 * s1 = state1, s2 = state2 when has_s2 (ADAM), else 0) over elements 256b ... */
KBIT_GPU_FN void kbit_gk_optim_sums(kbit_optim_params kp, int32_t has_scales,
                                    KBIT_GLOBAL const float *scales, int32_t from_param,
                                    int32_t update,
                                    kbit_dtype grad_dtype, KBIT_GLOBAL const void *p,
                                    KBIT_GLOBAL const void *g, int64_t n,
                                    KBIT_GLOBAL const float *s1, KBIT_GLOBAL const float *s2,
                                    int32_t has_s2, KBIT_GLOBAL double *leaves)
{
    kbit_optim_params k = kbit_gk_optim_resolve(kp, has_scales, scales);
    const int64_t nleaves = kbit_split_nblocks(n, KBIT_OPTIM_BLOCK);
    const int64_t stride = KBIT_NGROUPS * KBIT_GPU_GROUP;
    for (int64_t b = KBIT_GROUP * KBIT_GPU_GROUP + KBIT_LID; b < nleaves; b += stride) {
        const int64_t start = b * KBIT_OPTIM_BLOCK;
        const int64_t count = kbit_block_count(n, KBIT_OPTIM_BLOCK, b);
        double sum = 0.0; /* a pairsum leaf (determinism 4) */
        for (int64_t e = start; e < start + count; e++) {
            float x = from_param ? kbit_dtype_load(k.param_dtype, p, e)
                                 : kbit_dtype_load(grad_dtype, g, e);
            /* UPDATE_SQ: u^2, or LION's s' unsquared (numerics 6.4) */
            sum = kbit_pairsum_add(sum, update ? kbit_optim_update_leaf_term(&k, x, s1[e],
                                                                             has_s2 ? s2[e] : 0.0f)
                                               : kbit_pairsum_square(x));
        }
        leaves[b] = sum;
    }
}

/* The device-side scales of a step: the rules of numerics/optim_scales.h, in
 * one work item; clip: KBIT_OPTSCALE_PHASE_CLIP, else the max_unorm phase. */
KBIT_GPU_FN void kbit_gk_optim_scales(int32_t clip, KBIT_GLOBAL const double *sums,
                                      KBIT_GLOBAL float *history, KBIT_GLOBAL float *scales,
                                      int64_t step, int32_t percentile, int32_t clipped,
                                      float gnorm_scale, float max_unorm, float eps,
                                      int32_t add_eps)
{
    if (KBIT_GROUP != 0 || KBIT_LID != 0)
        return;
    if (clip)
        kbit_optim_scales_clip(sums, history, scales, step, percentile, gnorm_scale);
    else
        kbit_optim_scales_unorm(sums, scales, clipped, gnorm_scale, max_unorm, eps, add_eps);
}

#endif /* KBIT_GPU_OPTIM_H */
