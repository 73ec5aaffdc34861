/*
 * backends/cuda/gpu-kernels.h - the kernel launchers the driver calls. Each
 * enqueues its kernel on `stream` and returns the launch status (it does not
 * wait). Arguments are already valid (the core checked them); n > 0.
 */
#ifndef KBIT_GPU_KERNELS_H
#define KBIT_GPU_KERNELS_H

#include "gpu-blocks.h"

gpuError_t kbit_gpu_quantize_4bit(const kbit_gpu_q4_args &args, gpuStream_t stream);
gpuError_t kbit_gpu_dequantize_4bit(const kbit_gpu_d4_args &args, gpuStream_t stream);
gpuError_t kbit_gpu_quantize_8bit(const kbit_gpu_q8_args &args, gpuStream_t stream);
gpuError_t kbit_gpu_dequantize_8bit(const kbit_gpu_d8_args &args, gpuStream_t stream);
/* sums[b] (device array of ceil(n/256)) = fp64 sum of leaf b of x. */
gpuError_t kbit_gpu_block_sums(const float *x, int64_t n, double *sums, gpuStream_t stream);
/* The pairsum tree of numerics/pairsum.h over count leaves (overwritten):
 * *sum = result / divisor, and *sum_f32 = f32 of it when not NULL. */
gpuError_t kbit_gpu_pairsum(double *leaves, int64_t count, double divisor, double *sum,
                            float *sum_f32, gpuStream_t stream);

#endif /* KBIT_GPU_KERNELS_H */
