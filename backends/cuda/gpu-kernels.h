/*
 * backends/cuda/gpu-kernels.h - the kernel launchers the driver calls. Each
 * enqueues its kernel on `stream` with the work split of backends/gpu/split.h
 * and returns the launch status (it does not wait). Arguments are already
 * valid (the core checked them); n > 0. The kernels are thin wrappers over the
 * bodies of backends/gpu, the same bodies the OpenCL driver runs.
 */
#ifndef KBIT_GPU_KERNELS_H
#define KBIT_GPU_KERNELS_H

#include "gpu-compat.h"
#include "kbit-driver.h"

gpuError_t kbit_cuda_quantize_4bit(const kbit_op_quantize_4bit *op, gpuStream_t stream);
gpuError_t kbit_cuda_dequantize_4bit(const kbit_op_dequantize_4bit *op, gpuStream_t stream);
gpuError_t kbit_cuda_quantize_8bit(const kbit_op_quantize_8bit *op, gpuStream_t stream);
gpuError_t kbit_cuda_dequantize_8bit(const kbit_op_dequantize_8bit *op, gpuStream_t stream);
gpuError_t kbit_cuda_block_sums(const kbit_op_block_sums *op, gpuStream_t stream);
gpuError_t kbit_cuda_pairsum(const kbit_op_pairsum *op, gpuStream_t stream);
/* OPTIM (optim.cu) */
gpuError_t kbit_cuda_optimizer_step(const kbit_op_optimizer *op, gpuStream_t stream);
gpuError_t kbit_cuda_optimizer_sums(const kbit_op_optimizer_sums *op, gpuStream_t stream);
gpuError_t kbit_cuda_optimizer_scales(const kbit_op_optimizer_scales *op, gpuStream_t stream);

#endif /* KBIT_GPU_KERNELS_H */
