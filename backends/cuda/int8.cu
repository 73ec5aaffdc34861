/* backends/cuda/int8.cu - LLM.int8() (doc/numerics.md 4, doc/determinism.md
 * 3.1): __global__ wrappers over the bodies of backends/gpu/int8.h and
 * int8_dot.h (the ones the OpenCL driver runs), launched with
 * backends/gpu/split.h. Built by nvcc and, through backends/hip/int8.hip,
 * by hipcc; not run on a GPU yet. The outlier count stays in device memory:
 * the kernels after the quantization read it there. */
#include "gpu-kernels.h"
#include "backends/gpu/int8.h"
#include "backends/gpu/int8_dot.h"

static __global__ void __launch_bounds__(KBIT_GPU_GROUP)
kbit_cuda_int8_clear_mask_kernel(int64_t cols, uint32_t *mask)
{
    kbit_gk_int8_clear_mask(cols, mask);
}

static __global__ void __launch_bounds__(KBIT_GPU_GROUP)
kbit_cuda_int8_quant_rows_kernel(int dtype, const void *A, int64_t rows, int64_t cols,
                                 int32_t use_threshold, float threshold, int8_t *CA, float *SCA,
                                 uint32_t *mask)
{
    KBIT_LOCAL_ARRAY(float, red, KBIT_GPU_GROUP);
    kbit_gk_int8_quant_rows((kbit_dtype)dtype, A, rows, cols, use_threshold, threshold, CA, SCA,
                            mask, red);
}

static __global__ void __launch_bounds__(KBIT_GPU_GROUP)
kbit_cuda_int8_compact_kernel(const uint32_t *mask, int64_t cols, int64_t *outlier_cols,
                              int64_t *n_outliers)
{
    KBIT_LOCAL_ARRAY(int32_t, scan, KBIT_GPU_GROUP);
    kbit_gk_int8_compact(mask, cols, outlier_cols, n_outliers, scan);
}

static __global__ void __launch_bounds__(KBIT_GPU_GROUP)
kbit_cuda_int8_zero_cols_kernel(const uint32_t *mask, int64_t rows, int64_t cols, int8_t *CA)
{
    kbit_gk_int8_zero_cols(mask, rows, cols, CA);
}

static __global__ void __launch_bounds__(KBIT_GPU_GROUP)
kbit_cuda_int8_dequant_weight_kernel(const int8_t *CB, const float *SCB, int64_t rows,
                                     int64_t cols, int out_dtype, void *out)
{
    kbit_gk_int8_dequant_weight(CB, SCB, rows, cols, (kbit_dtype)out_dtype, out);
}

static __global__ void __launch_bounds__(KBIT_GPU_GROUP)
kbit_cuda_int8_mm_dequant_kernel(const int32_t *acc, const float *SCA, const float *SCB,
                                 int64_t M, int64_t N, int32_t bias_kind, int bias_dtype,
                                 const void *bias, int out_dtype, void *out)
{
    kbit_gk_int8_mm_dequant(acc, SCA, SCB, M, N, bias_kind, (kbit_dtype)bias_dtype, bias,
                            (kbit_dtype)out_dtype, out);
}

static __global__ void __launch_bounds__(KBIT_GPU_GROUP)
kbit_cuda_int8_matmul_kernel(const int8_t *A, const int8_t *B, int64_t M, int64_t N, int64_t K,
                             int32_t *out)
{
    KBIT_LOCAL_ARRAY(int8_t, a_l, KBIT_SPLIT_I8_TILE * KBIT_SPLIT_I8_KSTEP);
    KBIT_LOCAL_ARRAY(int8_t, b_l, KBIT_SPLIT_I8_TILE * KBIT_SPLIT_I8_KSTEP);
    kbit_gk_int8_matmul(A, B, M, N, K, out, a_l, b_l);
}

static __global__ void __launch_bounds__(KBIT_GPU_GROUP)
kbit_cuda_int8_gather_kernel(const int8_t *B, int64_t N, int64_t K, const int64_t *cols,
                             const int64_t *n_cols, int64_t capacity, int8_t *gathered)
{
    kbit_gk_int8_gather(B, N, K, cols, n_cols, capacity, gathered);
}

static __global__ void __launch_bounds__(KBIT_GPU_GROUP)
kbit_cuda_int8_outlier_add_kernel(int dtype, const void *X, int64_t M, int64_t K,
                                  const int64_t *outlier_cols, const int64_t *n_outliers,
                                  const int8_t *CB, const float *SCB, int64_t N, int32_t has_cols,
                                  const int8_t *CB_cols, int64_t cols_capacity, void *out)
{
    kbit_gk_int8_outlier_add((kbit_dtype)dtype, X, M, K, outlier_cols, n_outliers, CB, SCB, N,
                             has_cols, CB_cols, cols_capacity, out);
}

static __global__ void __launch_bounds__(KBIT_GPU_GROUP)
kbit_cuda_int8_backward_kernel(int dtype, const void *dOut, int64_t M, int64_t N, int64_t K,
                               const int8_t *CB, const float *SCB, void *dX)
{
    kbit_gk_int8_backward((kbit_dtype)dtype, dOut, M, N, K, CB, SCB, dX);
}

size_t kbit_cuda_int8_workspace(kbit_op_id id, const void *arg)
{
    if (id != KBIT_OP_INT8_QUANT)
        return 0;
    const kbit_op_int8_quant *op = static_cast<const kbit_op_int8_quant *>(arg);
    /* the column mask: a bit per column */
    return op->use_threshold ? (size_t)kbit_split_i8_mask_words(op->cols) * 4 : 0;
}

/* The four launches of backends/gpu/int8.h; the mask is the workspace. */
gpuError_t kbit_cuda_int8_quant(const kbit_op_int8_quant *op, void *workspace,
                                gpuStream_t stream)
{
    /* with cols = 0 the mask is empty (workspace NULL) and the count is 0 */
    const bool use = op->use_threshold != 0;
    uint32_t *mask = use ? static_cast<uint32_t *>(workspace) : NULL;
    if (use) {
        const int64_t words = kbit_split_i8_mask_words(op->cols);
        KBIT_GPU_LAUNCH(kbit_cuda_int8_clear_mask_kernel, (unsigned)kbit_split_elem_groups(words),
                        KBIT_GPU_GROUP, stream, op->cols, mask);
        gpuError_t e = gpuGetLastError();
        if (e != gpuSuccess)
            return e;
    }
    KBIT_GPU_LAUNCH(kbit_cuda_int8_quant_rows_kernel, (unsigned)kbit_split_groups(op->rows, 1),
                    KBIT_GPU_GROUP, stream, (int)op->dtype, op->A, op->rows, op->cols,
                    op->use_threshold ? 1 : 0, op->threshold_f16, op->CA, op->SCA, mask);
    gpuError_t e = gpuGetLastError();
    if (e != gpuSuccess || !use)
        return e;
    KBIT_GPU_LAUNCH(kbit_cuda_int8_compact_kernel, 1, KBIT_GPU_GROUP, stream, mask, op->cols,
                    op->outlier_cols, op->n_outliers);
    if ((e = gpuGetLastError()) != gpuSuccess)
        return e;
    KBIT_GPU_LAUNCH(kbit_cuda_int8_zero_cols_kernel,
                    (unsigned)kbit_split_elem_groups(op->rows * op->cols), KBIT_GPU_GROUP, stream,
                    mask, op->rows, op->cols, op->CA);
    return gpuGetLastError();
}

gpuError_t kbit_cuda_int8_dequant_weight(const kbit_op_int8_dequant_weight *op,
                                         gpuStream_t stream)
{
    KBIT_GPU_LAUNCH(kbit_cuda_int8_dequant_weight_kernel,
                    (unsigned)kbit_split_elem_groups(op->rows * op->cols), KBIT_GPU_GROUP, stream,
                    op->CB, op->SCB, op->rows, op->cols, (int)op->out_dtype, op->out);
    return gpuGetLastError();
}

gpuError_t kbit_cuda_int8_mm_dequant(const kbit_op_int8_mm_dequant *op, gpuStream_t stream)
{
    /* numerics/int8.h: 0 no bias, 1 an fp16 bias (fused), 2 another dtype */
    const int32_t bias_kind = op->bias == NULL ? 0 : op->bias_dtype == KBIT_F16 ? 1 : 2;
    KBIT_GPU_LAUNCH(kbit_cuda_int8_mm_dequant_kernel,
                    (unsigned)kbit_split_elem_groups(op->M * op->N), KBIT_GPU_GROUP, stream,
                    op->acc, op->SCA, op->SCB, op->M, op->N, bias_kind, (int)op->bias_dtype,
                    op->bias, (int)op->out_dtype, op->out);
    return gpuGetLastError();
}

gpuError_t kbit_cuda_int8_matmul(const kbit_op_int8_matmul *op, gpuStream_t stream)
{
    KBIT_GPU_LAUNCH(kbit_cuda_int8_matmul_kernel, (unsigned)kbit_split_i8_gemm_groups(op->M, op->N),
                    KBIT_GPU_GROUP, stream, op->A, op->B, op->M, op->N, op->K, op->out);
    return gpuGetLastError();
}

/* The GEMM, then the gather (which reads *n_cols on the device). */
gpuError_t kbit_cuda_int8_matmul_gather(const kbit_op_int8_matmul_gather *op,
                                        gpuStream_t stream)
{
    gpuError_t e = kbit_cuda_int8_matmul(&op->mm, stream);
    if (e != gpuSuccess)
        return e;
    KBIT_GPU_LAUNCH(kbit_cuda_int8_gather_kernel,
                    (unsigned)kbit_split_elem_groups(op->mm.N * op->capacity), KBIT_GPU_GROUP,
                    stream, op->mm.B, op->mm.N, op->mm.K, op->cols, op->n_cols, op->capacity,
                    op->gathered);
    return gpuGetLastError();
}

gpuError_t kbit_cuda_int8_outlier_add(const kbit_op_int8_outlier_add *op, gpuStream_t stream)
{
    const int32_t has_cols = op->CB_cols != NULL && op->CB_cols_capacity > 0;
    KBIT_GPU_LAUNCH(kbit_cuda_int8_outlier_add_kernel,
                    (unsigned)kbit_split_elem_groups(op->M * op->N), KBIT_GPU_GROUP, stream,
                    (int)op->dtype, op->X, op->M, op->K, op->outlier_cols, op->n_outliers, op->CB,
                    op->SCB, op->N, has_cols, op->CB_cols, has_cols ? op->CB_cols_capacity : 0,
                    op->out);
    return gpuGetLastError();
}

gpuError_t kbit_cuda_int8_backward(const kbit_op_int8_backward *op, gpuStream_t stream)
{
    KBIT_GPU_LAUNCH(kbit_cuda_int8_backward_kernel, (unsigned)kbit_split_elem_groups(op->M * op->K),
                    KBIT_GPU_GROUP, stream, (int)op->dtype, op->dOut, op->M, op->N, op->K, op->CB,
                    op->SCB, op->dX);
    return gpuGetLastError();
}
