/* backends/cuda/sums.cu - the canonical fp64 sum of doc/determinism.md 4: the
 * leaves and the pairsum tree (one work-group: backends/gpu/sums.h says why),
 * __global__ wrappers over the bodies of backends/gpu/sums.h. */
#include "gpu-kernels.h"
#include "backends/gpu/sums.h"

static __global__ void __launch_bounds__(KBIT_GPU_GROUP)
kbit_cuda_block_sums_kernel(const float *x, int64_t n, double *leaves)
{
    kbit_gk_block_sums(x, n, leaves);
}

static __global__ void __launch_bounds__(KBIT_GPU_GROUP)
kbit_cuda_pairsum_kernel(double *leaves, int64_t count, double divisor, double *sum,
                         float *sum_f32, int32_t has_f32)
{
    kbit_gk_pairsum(leaves, count, divisor, sum, sum_f32, has_f32);
}

gpuError_t kbit_cuda_block_sums(const kbit_op_block_sums *op, gpuStream_t stream)
{
    const int64_t count = (op->n + KBIT_PAIRSUM_LEAF - 1) / KBIT_PAIRSUM_LEAF;
    KBIT_GPU_LAUNCH(kbit_cuda_block_sums_kernel, (unsigned)kbit_split_elem_groups(count),
                    KBIT_GPU_GROUP, stream, op->x, op->n, op->leaves);
    return gpuGetLastError();
}

gpuError_t kbit_cuda_pairsum(const kbit_op_pairsum *op, gpuStream_t stream)
{
    KBIT_GPU_LAUNCH(kbit_cuda_pairsum_kernel, 1, KBIT_GPU_GROUP, stream, op->leaves, op->count,
                    op->divisor, op->sum, op->sum_f32, op->sum_f32 != NULL ? 1 : 0);
    return gpuGetLastError();
}
