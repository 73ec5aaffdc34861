/* backends/cuda/gemm4.cu - the 4-bit matmul forward and backward (GEMM4,
 * doc/numerics.md 5, doc/determinism.md 3): __global__ wrappers over the body
 * of backends/gpu/gemm4.h (the one the OpenCL driver runs), launched with
 * backends/gpu/split.h. Built by nvcc (and hipcc, backends/hip/gemm4.hip);
 * not run on a GPU yet. */
#include "gpu-kernels.h"
#include "backends/gpu/gemm4.h"

static __global__ void __launch_bounds__(KBIT_GPU_GROUP)
kbit_cuda_gemm_4bit_kernel(int type, int dtype, const void *a, int64_t M, int64_t N, int64_t K,
                           const uint8_t *packed, const float *absmax, int32_t log2_blocksize,
                           const void *bias, int has_bias, void *out)
{
    KBIT_LOCAL_ARRAY(float, lanes, KBIT_GPU_GROUP);
    kbit_gk_gemm_4bit(0, (kbit_quant_type)type, (kbit_dtype)dtype, a, M, N, K, packed, absmax,
                      log2_blocksize, bias, has_bias, out, lanes);
}

static __global__ void __launch_bounds__(KBIT_GPU_GROUP)
kbit_cuda_gemm_4bit_backward_kernel(int type, int dtype, const void *a, int64_t M, int64_t N,
                                    int64_t K, const uint8_t *packed, const float *absmax,
                                    int32_t log2_blocksize, void *out)
{
    KBIT_LOCAL_ARRAY(float, lanes, KBIT_GPU_GROUP);
    kbit_gk_gemm_4bit(1, (kbit_quant_type)type, (kbit_dtype)dtype, a, M, N, K, packed, absmax,
                      log2_blocksize, NULL, 0, out, lanes);
}

gpuError_t kbit_cuda_gemm_4bit(const kbit_op_gemm_4bit *op, gpuStream_t stream)
{
    const unsigned groups = (unsigned)kbit_split_dot_groups(op->M * op->N);
    KBIT_GPU_LAUNCH(kbit_cuda_gemm_4bit_kernel, groups, KBIT_GPU_GROUP, stream, (int)op->type,
                    (int)op->dtype, op->a, op->M, op->N, op->K, op->packed, op->absmax,
                    kbit_split_log2(op->blocksize), op->bias, op->bias != NULL, op->out);
    return gpuGetLastError();
}

gpuError_t kbit_cuda_gemm_4bit_backward(const kbit_op_gemm_4bit *op, gpuStream_t stream)
{
    const unsigned groups = (unsigned)kbit_split_dot_groups(op->M * op->K);
    KBIT_GPU_LAUNCH(kbit_cuda_gemm_4bit_backward_kernel, groups, KBIT_GPU_GROUP, stream,
                    (int)op->type, (int)op->dtype, op->a, op->M, op->N, op->K, op->packed,
                    op->absmax, kbit_split_log2(op->blocksize), op->out);
    return gpuGetLastError();
}
