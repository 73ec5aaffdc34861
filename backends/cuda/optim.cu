/* backends/cuda/optim.cu - the optimizers (doc/numerics.md 6.3-6.5, 6.7,
 * doc/determinism.md 4): __global__ wrappers over the bodies of
 * backends/gpu/optim.h (the same bodies the OpenCL driver runs bit for bit
 * on PoCL), launched with backends/gpu/split.h. Built by nvcc and hipcc;
 * not run on a GPU yet. The step's scalars go by value as one
 * kbit_optim_params (backends/optim_params.h). */
#include "gpu-kernels.h"
#include "backends/gpu/optim.h"
#include "backends/optim_params.h"

static __global__ void __launch_bounds__(KBIT_GPU_GROUP)
kbit_cuda_optim_step32_kernel(kbit_optim_params k, int32_t has_scales, const float *scales,
                              int grad_dtype, void *p, const void *g, int64_t n, float *state1,
                              float *state2)
{
    kbit_gk_optim_step32(k, has_scales, scales, (kbit_dtype)grad_dtype, p, g, n, state1, state2);
}

static __global__ void __launch_bounds__(KBIT_GPU_GROUP)
kbit_cuda_optim_step8_kernel(kbit_optim_params k, int32_t has_scales, const float *scales,
                             int grad_dtype, void *p, const void *g, int64_t n, uint8_t *state1,
                             uint8_t *state2, float *absmax1, float *absmax2, const float *qmap1,
                             const float *mid1, const float *qmap2, const float *mid2)
{
    KBIT_LOCAL_ARRAY(float, map1_l, 256);
    KBIT_LOCAL_ARRAY(float, mid1_l, 256);
    KBIT_LOCAL_ARRAY(float, map2_l, 256);
    KBIT_LOCAL_ARRAY(float, mid2_l, 256);
    KBIT_LOCAL_ARRAY(float, red, KBIT_GPU_GROUP);
    kbit_gk_optim_step8(k, has_scales, scales, (kbit_dtype)grad_dtype, p, g, n, state1, state2,
                        absmax1, absmax2, qmap1, mid1, qmap2, mid2, map1_l, mid1_l, map2_l,
                        mid2_l, red);
}

static __global__ void __launch_bounds__(KBIT_GPU_GROUP)
kbit_cuda_optim_sums_kernel(kbit_optim_params k, int32_t has_scales, const float *scales,
                            int32_t from_param, int32_t update, int grad_dtype, const void *p,
                            const void *g, int64_t n, const float *s1, const float *s2,
                            int32_t has_s2, double *leaves)
{
    kbit_gk_optim_sums(k, has_scales, scales, from_param, update, (kbit_dtype)grad_dtype, p, g, n,
                       s1, s2, has_s2, leaves);
}

static __global__ void __launch_bounds__(KBIT_GPU_GROUP)
kbit_cuda_optim_scales_kernel(int32_t clip, const double *sums, float *history, float *scales,
                              int64_t step, int32_t percentile, int32_t clipped,
                              float gnorm_scale, float max_unorm, float eps, int32_t add_eps)
{
    kbit_gk_optim_scales(clip, sums, history, scales, step, percentile, clipped, gnorm_scale,
                         max_unorm, eps, add_eps);
}

gpuError_t kbit_cuda_optimizer_step(const kbit_op_optimizer *op, gpuStream_t stream)
{
    const kbit_optim_params k = kbit_optim_params_of(op);
    const int32_t has_scales = op->scales != NULL ? 1 : 0;
    if (op->state_bits == 32) {
        const unsigned groups = (unsigned)kbit_split_elem_groups(op->n);
        KBIT_GPU_LAUNCH(kbit_cuda_optim_step32_kernel, groups, KBIT_GPU_GROUP, stream, k,
                        has_scales, op->scales, (int)op->grad_dtype, op->p, op->g, op->n,
                        static_cast<float *>(op->state1), static_cast<float *>(op->state2));
    } else {
        /* one group per 256-element state block (backends/gpu/optim.h) */
        const unsigned groups =
            (unsigned)kbit_split_groups(kbit_split_nblocks(op->n, KBIT_OPTIM_BLOCK), 1);
        KBIT_GPU_LAUNCH(kbit_cuda_optim_step8_kernel, groups, KBIT_GPU_GROUP, stream, k, has_scales,
                        op->scales, (int)op->grad_dtype, op->p, op->g, op->n,
                        static_cast<uint8_t *>(op->state1), static_cast<uint8_t *>(op->state2),
                        op->absmax1, op->absmax2, op->qmap1, op->mid1, op->qmap2, op->mid2);
    }
    return gpuGetLastError();
}

gpuError_t kbit_cuda_optimizer_sums(const kbit_op_optimizer_sums *op, gpuStream_t stream)
{
    const kbit_op_optimizer *s = op->step;
    const int32_t update = op->which == KBIT_OPTSUM_UPDATE_SQ ? 1 : 0;
    const int64_t nleaves = kbit_split_nblocks(s->n, KBIT_OPTIM_BLOCK);
    KBIT_GPU_LAUNCH(kbit_cuda_optim_sums_kernel, (unsigned)kbit_split_elem_groups(nleaves),
                    KBIT_GPU_GROUP, stream, kbit_optim_params_of(s), s->scales != NULL ? 1 : 0,
                    s->scales, op->which == KBIT_OPTSUM_PARAM_SQ ? 1 : 0, update,
                    (int)s->grad_dtype, s->p, s->g, s->n, static_cast<const float *>(s->state1),
                    static_cast<const float *>(s->state2),
                    update && s->kernel == KBIT_OPTK_ADAM ? 1 : 0, op->leaves);
    return gpuGetLastError();
}

gpuError_t kbit_cuda_optimizer_scales(const kbit_op_optimizer_scales *op, gpuStream_t stream)
{
    /* one work item of one group runs the rules (numerics/optim_scales.h) */
    KBIT_GPU_LAUNCH(kbit_cuda_optim_scales_kernel, 1, KBIT_GPU_GROUP, stream,
                    op->phase == KBIT_OPTSCALE_PHASE_CLIP ? 1 : 0, op->sums, op->history,
                    op->scales, op->step, op->percentile, op->clipped, op->gnorm_scale,
                    op->max_unorm, op->eps, op->add_eps);
    return gpuGetLastError();
}
