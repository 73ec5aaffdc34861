/*
 * backends/cuda/gpu-device.h - device-only pieces shared by the kernel files:
 * the shared-memory max reduction and the launch sizing. Include from .cu
 * files only. (The format tables are numerics/tables.h's __constant__
 * copies; each translation unit gets its own, they are small.)
 */
#ifndef KBIT_GPU_DEVICE_H
#define KBIT_GPU_DEVICE_H

#include "gpu-blocks.h"
#include "kbit-formats.h"

/* Combine the partial maxima red[group base .. + group) of every group of
 * `group` threads into red[group base]. Called by all threads of the CTA
 * (it contains barriers); group is a power of two. Within a step a thread
 * reads only entries that no thread writes in that step. */
static __device__ __forceinline__ void kbit_gpu_group_max(float *red, int tid, int lane, int group)
{
    for (int s = group / 2; s > 0; s >>= 1) {
        if (lane < s)
            red[tid] = kbit_absmax_combine(red[tid], red[tid + s]);
        __syncthreads();
    }
}

/* CTAs for `items` work items of one thread each; loops are grid-stride,
 * so capping the grid only makes each thread loop more. */
static inline unsigned kbit_gpu_grid(int64_t items, int64_t per_cta)
{
    const int64_t cap = (int64_t)1 << 20;
    int64_t ctas = (items + per_cta - 1) / per_cta;
    return (unsigned)(ctas < 1 ? 1 : ctas > cap ? cap : ctas);
}

/* Index of this thread in a grid-stride loop, and the stride. */
#define KBIT_GPU_GLOBAL_ID ((int64_t)blockIdx.x * blockDim.x + threadIdx.x)
#define KBIT_GPU_GLOBAL_STRIDE ((int64_t)gridDim.x * blockDim.x)

#endif /* KBIT_GPU_DEVICE_H */
