/* backends/cuda/sums.cu - pairsum leaves (doc/determinism.md 4): one thread per
 * 256-element leaf adds its elements in ascending order in fp64. The order
 * inside a leaf is fixed by the contract, so a leaf is never split. */
#include "gpu-device.h"
#include "gpu-kernels.h"

static __global__ void __launch_bounds__(KBIT_GPU_THREADS)
kbit_gpu_block_sums_kernel(const float *x, int64_t n, int64_t leaves, double *sums)
{
    for (int64_t b = KBIT_GPU_GLOBAL_ID; b < leaves; b += KBIT_GPU_GLOBAL_STRIDE)
        sums[b] = kbit_pairsum_leaf(x, n, b);
}

gpuError_t kbit_gpu_block_sums(const float *x, int64_t n, double *sums, gpuStream_t stream)
{
    const int64_t leaves = (n + KBIT_PAIRSUM_LEAF - 1) / KBIT_PAIRSUM_LEAF;
    kbit_gpu_block_sums_kernel<<<kbit_gpu_grid(leaves, KBIT_GPU_THREADS), KBIT_GPU_THREADS, 0,
                                 stream>>>(x, n, leaves, sums);
    return gpuGetLastError();
}

/* The tree in one thread, literally the statements of numerics/pairsum.h:
 * its order is the contract, and its size (a leaf per 256 terms) is small
 * beside the leaves. */
static __global__ void kbit_gpu_pairsum_kernel(double *leaves, int64_t count, double divisor,
                                               double *sum, float *sum_f32)
{
    if (threadIdx.x != 0 || blockIdx.x != 0)
        return;
    double s = kbit_pairsum_result(kbit_pairsum_tree(leaves, count), divisor);
    *sum = s;
    if (sum_f32 != NULL)
        *sum_f32 = (float)s; /* round to nearest even */
}

gpuError_t kbit_gpu_pairsum(double *leaves, int64_t count, double divisor, double *sum,
                            float *sum_f32, gpuStream_t stream)
{
    kbit_gpu_pairsum_kernel<<<1, 1, 0, stream>>>(leaves, count, divisor, sum, sum_f32);
    return gpuGetLastError();
}
