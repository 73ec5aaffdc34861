/* backends/cuda/quant8.cu - 8-bit blockwise dynamic quantize and dequantize
 * kernels (doc/numerics.md 2.4-2.5), with the centring / offset of the nested
 * absmax (numerics 3). The work split is described in gpu-blocks.h. */
#include "gpu-device.h"
#include "gpu-kernels.h"

static __global__ void __launch_bounds__(KBIT_GPU_THREADS)
kbit_gpu_quantize_8bit_kernel(const kbit_gpu_q8_args a)
{
    __shared__ float mid[256];
    __shared__ float red[KBIT_GPU_THREADS];
    const int tid = threadIdx.x;
    for (int i = tid; i < 255; i += KBIT_GPU_THREADS)
        mid[i] = a.mid[i];
    __syncthreads();

    const kbit_gpu_geometry g = kbit_gpu_geometry_of(a.blocksize);
    const int64_t tiles = (a.nblocks + g.groups - 1) / g.groups;
    const float offset = a.center ? *a.offset : 0.0f;
    /* Uniform loop bound: every thread reaches every barrier. */
    for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
        const kbit_gpu_part p = kbit_gpu_part_of(g, tile, tid, a.n, a.blocksize, a.nblocks);
        float v[2 * KBIT_GPU_MAX_PAIRS];
        red[tid] = kbit_gpu_load_part(a.x, a.dtype, g, &p, a.center, offset, v);
        __syncthreads();
        kbit_gpu_group_max(red, tid, p.lane, g.group);
        const float absmax = red[tid - p.lane];
        if (p.lane == 0 && p.count > 0)
            a.absmax[p.block] = absmax;
        const float r = kbit_block_recip(absmax);
        kbit_gpu_store_part_8bit(mid, a.sorted, g, &p, r, v, a.q);
        __syncthreads(); /* red[] is rewritten by the next tile */
    }
}

static __global__ void __launch_bounds__(KBIT_GPU_THREADS)
kbit_gpu_dequantize_8bit_kernel(const kbit_gpu_d8_args a)
{
    __shared__ float code[256];
    for (int i = threadIdx.x; i < 256; i += KBIT_GPU_THREADS)
        code[i] = a.code[i];
    __syncthreads();
    for (int64_t i = KBIT_GPU_GLOBAL_ID; i < a.n; i += KBIT_GPU_GLOBAL_STRIDE)
        kbit_gpu_dequant8_elem(&a, code, i);
}

gpuError_t kbit_gpu_quantize_8bit(const kbit_gpu_q8_args &args, gpuStream_t stream)
{
    const kbit_gpu_geometry g = kbit_gpu_geometry_of(args.blocksize);
    kbit_gpu_quantize_8bit_kernel<<<kbit_gpu_grid(args.nblocks, g.groups), KBIT_GPU_THREADS, 0,
                                    stream>>>(args);
    return gpuGetLastError();
}

gpuError_t kbit_gpu_dequantize_8bit(const kbit_gpu_d8_args &args, gpuStream_t stream)
{
    kbit_gpu_dequantize_8bit_kernel<<<kbit_gpu_grid(args.n, KBIT_GPU_THREADS), KBIT_GPU_THREADS,
                                      0, stream>>>(args);
    return gpuGetLastError();
}
