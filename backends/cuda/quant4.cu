/* backends/cuda/quant4.cu - 4-bit (NF4/FP4) blockwise quantize and dequantize
 * (doc/numerics.md 1.3-1.9): __global__ wrappers over the bodies of
 * backends/gpu/quant4.h, launched with backends/gpu/split.h. */
#include "gpu-kernels.h"
#include "backends/gpu/quant4.h"

static __global__ void __launch_bounds__(KBIT_GPU_GROUP)
kbit_cuda_quantize_4bit_kernel(int type, int dtype, const void *x, int64_t n, int32_t blocksize,
                               uint8_t *packed, float *absmax)
{
    KBIT_LOCAL_ARRAY(float, red, KBIT_GPU_GROUP);
    kbit_gk_quantize_4bit((kbit_quant_type)type, (kbit_dtype)dtype, x, n, blocksize, packed,
                          absmax, red);
}

static __global__ void __launch_bounds__(KBIT_GPU_GROUP)
kbit_cuda_dequantize_4bit_kernel(int type, const uint8_t *packed, const float *absmax, int64_t n,
                                 int32_t log2_blocksize, int out_dtype, void *out)
{
    kbit_gk_dequantize_4bit((kbit_quant_type)type, packed, absmax, n, log2_blocksize,
                            (kbit_dtype)out_dtype, out);
}

gpuError_t kbit_cuda_quantize_4bit(const kbit_op_quantize_4bit *op, gpuStream_t stream)
{
    const unsigned groups = (unsigned)kbit_split_quant_groups(op->n, op->blocksize);
    KBIT_GPU_LAUNCH(kbit_cuda_quantize_4bit_kernel, groups, KBIT_GPU_GROUP, stream, (int)op->type,
                    (int)op->dtype, op->x, op->n, op->blocksize, op->packed, op->absmax);
    return gpuGetLastError();
}

gpuError_t kbit_cuda_dequantize_4bit(const kbit_op_dequantize_4bit *op, gpuStream_t stream)
{
    const unsigned groups = (unsigned)kbit_split_elem_groups((op->n + 1) / 2);
    KBIT_GPU_LAUNCH(kbit_cuda_dequantize_4bit_kernel, groups, KBIT_GPU_GROUP, stream, (int)op->type,
                    op->packed, op->absmax, op->n, kbit_split_log2(op->blocksize),
                    (int)op->out_dtype, op->out);
    return gpuGetLastError();
}
