/* backends/opencl/optim.c - the OPTIM ops of the OpenCL driver: one launch
 * per op of the bodies of backends/gpu/optim.h (the step with 32-bit or
 * 8-bit states, the norm leaves, the scales), on the caller's queue, sized
 * by backends/gpu/split.h. Every pointer is resolved with the bytes the body
 * may touch; the maps and midpoints are device buffers. Nothing waits, and
 * no value comes back to the host: a step with norms reads its scales from
 * device memory (op->scales). optimizer_step_many is left to the core's
 * fallback (one optimizer_step per tensor), which is what a loop here would
 * launch anyway. */
#include "config.h"

#include "backends/gpu/split.h"
#include "backends/opencl/cl.h"
#include "backends/opencl/launch.h"
#include "backends/optim_params.h"
#include "numerics/optim_scales.h"
#include "kbit-formats.h"

static int two_state(kbit_optim_kernel k)
{
    return k == KBIT_OPTK_ADAM || k == KBIT_OPTK_ADEMAMIX;
}

/* The device scales of a step, when it has them (NULL, 0 otherwise). */
static kbit_status resolve_scales(kcl_ctx *c, const kbit_op_optimizer *op, kcl_arg *a)
{
    return kcl_resolve(c, op->scales, op->scales ? KBIT_OPTSCALE_COUNT * sizeof(float) : 0,
                       "scales", a);
}

static kbit_status step32(kcl_ctx *c, cl_command_queue q, const kbit_op_optimizer *op)
{
    const int two = two_state(op->kernel);
    const size_t n = (size_t)op->n, m = op->kernel == KBIT_OPTK_ADEMAMIX ? 2 : 1;
    kcl_arg scales, p, g, s1, s2;
    TRY(resolve_scales(c, op, &scales));
    TRY(kcl_resolve(c, op->p, n * kcl_dtype_bytes(op->param_dtype), "p", &p));
    TRY(kcl_resolve(c, op->g, n * kcl_dtype_bytes(op->grad_dtype), "g", &g));
    TRY(kcl_resolve(c, op->state1, m * n * sizeof(float), "state1", &s1));
    TRY(kcl_resolve(c, two ? op->state2 : NULL, two ? n * sizeof(float) : 0, "state2", &s2));
    kbit_optim_params k = kbit_optim_params_of(op);
    cl_int has_scales = op->scales != NULL, grad_dtype = op->grad_dtype;
    cl_long nn = op->n;
    const karg args[] = { ARG(k), ARG(has_scales), MEM(scales), ARG(grad_dtype), MEM(p),
                              MEM(g), ARG(nn), MEM(s1), MEM(s2) };
    return kcl_launch(c, q, KCL_K_OPTIM_STEP32, kbit_split_elem_groups(op->n), args, NARGS(args));
}

static kbit_status step8(kcl_ctx *c, cl_command_queue q, const kbit_op_optimizer *op)
{
    const int two = two_state(op->kernel);
    const int64_t nblocks = kbit_split_nblocks(op->n, KBIT_OPTIM_BLOCK);
    const size_t n = (size_t)op->n, m = op->kernel == KBIT_OPTK_ADEMAMIX ? 2 : 1;
    const size_t amax = (size_t)nblocks * sizeof(float);
    kcl_arg scales, p, g, s1, s2, a1, a2, map1, mid1, map2, mid2;
    TRY(resolve_scales(c, op, &scales));
    TRY(kcl_resolve(c, op->p, n * kcl_dtype_bytes(op->param_dtype), "p", &p));
    TRY(kcl_resolve(c, op->g, n * kcl_dtype_bytes(op->grad_dtype), "g", &g));
    TRY(kcl_resolve(c, op->state1, m * n, "state1", &s1));
    TRY(kcl_resolve(c, two ? op->state2 : NULL, two ? n : 0, "state2", &s2));
    TRY(kcl_resolve(c, op->absmax1, m * amax, "absmax1", &a1));
    TRY(kcl_resolve(c, two ? op->absmax2 : NULL, two ? amax : 0, "absmax2", &a2));
    TRY(kcl_resolve(c, op->qmap1, 256 * sizeof(float), "qmap1", &map1));
    TRY(kcl_resolve(c, op->mid1, 255 * sizeof(float), "mid1", &mid1));
    TRY(kcl_resolve(c, two ? op->qmap2 : NULL, two ? 256 * sizeof(float) : 0, "qmap2", &map2));
    TRY(kcl_resolve(c, two ? op->mid2 : NULL, two ? 255 * sizeof(float) : 0, "mid2", &mid2));
    kbit_optim_params k = kbit_optim_params_of(op);
    cl_int has_scales = op->scales != NULL, grad_dtype = op->grad_dtype;
    cl_long nn = op->n;
    const karg args[] = { ARG(k),    ARG(has_scales), MEM(scales), ARG(grad_dtype),
                              MEM(p),    MEM(g),          ARG(nn),     MEM(s1),
                              MEM(s2),   MEM(a1),         MEM(a2),     MEM(map1),
                              MEM(mid1), MEM(map2),       MEM(mid2) };
    /* one group per 256-element state block (backends/gpu/optim.h) */
    return kcl_launch(c, q, KCL_K_OPTIM_STEP8, kbit_split_groups(nblocks, 1), args, NARGS(args));
}

kbit_status kcl_optimizer_step(void *ctx, const kbit_exec *ex, const kbit_op_optimizer *op)
{
    kcl_ctx *c = ctx;
    cl_command_queue q;
    TRY(kcl_queue(c, ex->stream, &q));
    return op->state_bits == 32 ? step32(c, q, op) : step8(c, q, op);
}

kbit_status kcl_optimizer_sums(void *ctx, const kbit_exec *ex, const kbit_op_optimizer_sums *op)
{
    kcl_ctx *c = ctx;
    const kbit_op_optimizer *s = op->step;
    const int from_param = op->which == KBIT_OPTSUM_PARAM_SQ;
    const int update = op->which == KBIT_OPTSUM_UPDATE_SQ;
    const int has_s2 = update && s->kernel == KBIT_OPTK_ADAM;
    const int64_t nleaves = kbit_split_nblocks(s->n, KBIT_OPTIM_BLOCK);
    const size_t n = (size_t)s->n;
    cl_command_queue q;
    kcl_arg scales, p, g, s1, s2, leaves;
    TRY(kcl_queue(c, ex->stream, &q));
    TRY(resolve_scales(c, s, &scales));
    TRY(kcl_resolve(c, from_param ? s->p : NULL, from_param ? n * kcl_dtype_bytes(s->param_dtype) : 0,
                    "p", &p));
    TRY(kcl_resolve(c, from_param ? NULL : s->g, from_param ? 0 : n * kcl_dtype_bytes(s->grad_dtype),
                    "g", &g));
    /* the update term reads the 32-bit states (only 32-bit steps have it) */
    TRY(kcl_resolve(c, update ? s->state1 : NULL, update ? n * sizeof(float) : 0, "state1", &s1));
    TRY(kcl_resolve(c, has_s2 ? s->state2 : NULL, has_s2 ? n * sizeof(float) : 0, "state2", &s2));
    TRY(kcl_resolve(c, op->leaves, (size_t)nleaves * sizeof(double), "leaves", &leaves));
    kbit_optim_params k = kbit_optim_params_of(s);
    cl_int has_scales = s->scales != NULL, fp = from_param, up = update, hs2 = has_s2;
    cl_int grad_dtype = s->grad_dtype;
    cl_long nn = s->n;
    const karg args[] = { ARG(k), ARG(has_scales), MEM(scales), ARG(fp), ARG(up),
                              ARG(grad_dtype), MEM(p), MEM(g), ARG(nn), MEM(s1), MEM(s2),
                              ARG(hs2), MEM(leaves) };
    return kcl_launch(c, q, KCL_K_OPTIM_SUMS, kbit_split_elem_groups(nleaves), args, NARGS(args));
}

kbit_status kcl_optimizer_scales(void *ctx, const kbit_exec *ex,
                                 const kbit_op_optimizer_scales *op)
{
    kcl_ctx *c = ctx;
    const int clip = op->phase == KBIT_OPTSCALE_PHASE_CLIP;
    cl_command_queue q;
    kcl_arg sums, history, scales;
    TRY(kcl_queue(c, ex->stream, &q));
    TRY(kcl_resolve(c, op->sums, (clip ? 1 : 2) * sizeof(double), "sums", &sums));
    TRY(kcl_resolve(c, clip ? op->history : NULL, clip ? KBIT_OPTIM_HISTORY * sizeof(float) : 0,
                    "history", &history));
    TRY(kcl_resolve(c, op->scales, KBIT_OPTSCALE_COUNT * sizeof(float), "scales", &scales));
    cl_int cl_clip = clip, percentile = op->percentile, clipped = op->clipped;
    cl_int add_eps = op->add_eps;
    cl_long step = op->step;
    cl_float gnorm_scale = op->gnorm_scale, max_unorm = op->max_unorm, eps = op->eps;
    const karg args[] = { ARG(cl_clip),     MEM(sums),     MEM(history),
                              MEM(scales),      ARG(step),     ARG(percentile),
                              ARG(clipped),     ARG(gnorm_scale), ARG(max_unorm),
                              ARG(eps),         ARG(add_eps) };
    /* one work item of one group runs the rules (numerics/optim_scales.h) */
    return kcl_launch(c, q, KCL_K_OPTIM_SCALES, 1, args, NARGS(args));
}
