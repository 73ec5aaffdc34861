/* backends/cuda/quant4.cu - 4-bit (NF4/FP4) blockwise quantize and dequantize
 * kernels (doc/numerics.md 1.3-1.9). The work split is described in gpu-blocks.h. */
#include "gpu-device.h"
#include "gpu-kernels.h"

static __global__ void __launch_bounds__(KBIT_GPU_THREADS)
kbit_gpu_quantize_4bit_kernel(const kbit_gpu_q4_args a)
{
    /* The encoders read their thresholds from constant memory
     * (numerics/tables.h): every thread of a warp reads the same entry at
     * the same time, which the constant cache broadcasts. */
    __shared__ float red[KBIT_GPU_THREADS];
    const int tid = threadIdx.x;

    const kbit_gpu_geometry g = kbit_gpu_geometry_of(a.blocksize);
    const int64_t tiles = (a.nblocks + g.groups - 1) / g.groups;
    /* The loop bound is the same for every thread of the CTA, so all of
     * them reach every barrier. */
    for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
        const kbit_gpu_part p = kbit_gpu_part_of(g, tile, tid, a.n, a.blocksize, a.nblocks);
        float v[2 * KBIT_GPU_MAX_PAIRS];
        red[tid] = kbit_gpu_load_part(a.x, a.dtype, g, &p, 0, 0.0f, v);
        __syncthreads();
        kbit_gpu_group_max(red, tid, p.lane, g.group);
        const float absmax = red[tid - p.lane];
        if (p.lane == 0 && p.count > 0)
            a.absmax[p.block] = absmax;
        /* IEEE reciprocal: +inf for absmax 0 (then every code is the NaN code). */
        const float r = kbit_block_recip(absmax);
        kbit_gpu_store_part_4bit(a.type, g, &p, r, v, a.packed);
        __syncthreads(); /* red[] is rewritten by the next tile */
    }
}

static __global__ void __launch_bounds__(KBIT_GPU_THREADS)
kbit_gpu_dequantize_4bit_kernel(const kbit_gpu_d4_args a)
{
    /* DEC staged in shared memory: codes differ between threads, and
     * divergent reads of constant memory are serialised. */
    __shared__ float dec[16];
    if (threadIdx.x < 16)
        dec[threadIdx.x] = kbit_4bit_decode(a.type, threadIdx.x);
    __syncthreads();
    const int64_t bytes = (a.n + 1) / 2;
    for (int64_t j = KBIT_GPU_GLOBAL_ID; j < bytes; j += KBIT_GPU_GLOBAL_STRIDE)
        kbit_gpu_dequant4_byte(&a, dec, j);
}

gpuError_t kbit_gpu_quantize_4bit(const kbit_gpu_q4_args &args, gpuStream_t stream)
{
    const kbit_gpu_geometry g = kbit_gpu_geometry_of(args.blocksize);
    kbit_gpu_quantize_4bit_kernel<<<kbit_gpu_grid(args.nblocks, g.groups), KBIT_GPU_THREADS, 0,
                                    stream>>>(args);
    return gpuGetLastError();
}

gpuError_t kbit_gpu_dequantize_4bit(const kbit_gpu_d4_args &args, gpuStream_t stream)
{
    kbit_gpu_dequantize_4bit_kernel<<<kbit_gpu_grid((args.n + 1) / 2, KBIT_GPU_THREADS),
                                      KBIT_GPU_THREADS, 0, stream>>>(args);
    return gpuGetLastError();
}
