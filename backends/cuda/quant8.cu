/* backends/cuda/quant8.cu - 8-bit blockwise dynamic quantize and dequantize
 * (doc/numerics.md 2.4-2.5), with the centring / offset of the nested absmax
 * (numerics 3): __global__ wrappers over the bodies of backends/gpu/quant8.h,
 * launched with backends/gpu/split.h. */
#include "gpu-kernels.h"
#include "backends/gpu/quant8.h"

static __global__ void __launch_bounds__(KBIT_GPU_GROUP)
kbit_cuda_quantize_8bit_kernel(int dtype, const void *x, int64_t n, int32_t blocksize,
                               const float *mid, int32_t center, const float *offset, uint8_t *q,
                               float *absmax)
{
    KBIT_LOCAL_ARRAY(float, mid_l, 256);
    KBIT_LOCAL_ARRAY(float, red, KBIT_GPU_GROUP);
    kbit_gk_quantize_8bit((kbit_dtype)dtype, x, n, blocksize, mid, center, offset, q, absmax,
                          mid_l, red);
}

static __global__ void __launch_bounds__(KBIT_GPU_GROUP)
kbit_cuda_dequantize_8bit_kernel(const uint8_t *q, const float *absmax, int64_t n,
                                 int32_t log2_blocksize, const float *code, int32_t add_offset,
                                 float offset, int out_dtype, void *out)
{
    KBIT_LOCAL_ARRAY(float, code_l, 256);
    kbit_gk_dequantize_8bit(q, absmax, n, log2_blocksize, code, add_offset, offset,
                            (kbit_dtype)out_dtype, out, code_l);
}

gpuError_t kbit_cuda_quantize_8bit(const kbit_op_quantize_8bit *op, gpuStream_t stream)
{
    const unsigned groups = (unsigned)kbit_split_quant_groups(op->n, op->blocksize);
    KBIT_GPU_LAUNCH(kbit_cuda_quantize_8bit_kernel, groups, KBIT_GPU_GROUP, stream, (int)op->dtype,
                    op->x, op->n, op->blocksize, op->mid, op->center ? 1 : 0, op->offset, op->q,
                    op->absmax);
    return gpuGetLastError();
}

gpuError_t kbit_cuda_dequantize_8bit(const kbit_op_dequantize_8bit *op, gpuStream_t stream)
{
    const unsigned groups = (unsigned)kbit_split_elem_groups(op->n);
    KBIT_GPU_LAUNCH(kbit_cuda_dequantize_8bit_kernel, groups, KBIT_GPU_GROUP, stream, op->q,
                    op->absmax, op->n, kbit_split_log2(op->blocksize), op->code,
                    op->add_offset ? 1 : 0, op->offset, (int)op->out_dtype, op->out);
    return gpuGetLastError();
}
