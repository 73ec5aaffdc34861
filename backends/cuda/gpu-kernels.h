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
/* GEMM4 (gemm4.cu): M >= 1 and at least one output (the core returns before
 * calling otherwise). */
gpuError_t kbit_cuda_gemm_4bit(const kbit_op_gemm_4bit *op, gpuStream_t stream);
gpuError_t kbit_cuda_gemm_4bit_backward(const kbit_op_gemm_4bit *op, gpuStream_t stream);

/* LLM.int8() (int8.cu): the quantization needs kbit_cuda_int8_workspace
 * bytes of workspace (its column mask). */
size_t kbit_cuda_int8_workspace(kbit_op_id id, const void *op);
gpuError_t kbit_cuda_int8_quant(const kbit_op_int8_quant *op, void *workspace,
                                gpuStream_t stream);
gpuError_t kbit_cuda_int8_dequant_weight(const kbit_op_int8_dequant_weight *op,
                                         gpuStream_t stream);
gpuError_t kbit_cuda_int8_mm_dequant(const kbit_op_int8_mm_dequant *op, gpuStream_t stream);
gpuError_t kbit_cuda_int8_matmul(const kbit_op_int8_matmul *op, gpuStream_t stream);
gpuError_t kbit_cuda_int8_matmul_gather(const kbit_op_int8_matmul_gather *op,
                                        gpuStream_t stream);
gpuError_t kbit_cuda_int8_outlier_add(const kbit_op_int8_outlier_add *op, gpuStream_t stream);
gpuError_t kbit_cuda_int8_backward(const kbit_op_int8_backward *op, gpuStream_t stream);
/* OPTIM (optim.cu) */
gpuError_t kbit_cuda_optimizer_step(const kbit_op_optimizer *op, gpuStream_t stream);
gpuError_t kbit_cuda_optimizer_sums(const kbit_op_optimizer_sums *op, gpuStream_t stream);
gpuError_t kbit_cuda_optimizer_scales(const kbit_op_optimizer_scales *op, gpuStream_t stream);

#endif /* KBIT_GPU_KERNELS_H */
