/* backends/opencl/int8.c - the LLM.int8() ops of the OpenCL driver
 * (doc/numerics.md 4, doc/determinism.md 3.1): each op resolves its device
 * pointers with their byte counts and enqueues the kernels of
 * backends/opencl/kernels.cl over the bodies of backends/gpu/int8.h and
 * int8_dot.h, sized by backends/gpu/split.h. Nothing waits: the outlier
 * count the quantization produces stays in device memory and the later
 * kernels read it there. The weight keeps the standard layout (no
 * int8_prepare slot; ABI 2.1 makes it optional). */
#include "config.h"

#include "backends/gpu/split.h"
#include "backends/opencl/cl.h"
#include "backends/opencl/launch.h"

/* The quantization's workspace: the column mask (a bit per column, in
 * 32-bit words) when it looks for outliers, nothing otherwise. */
size_t kcl_int8_workspace(kbit_op_id id, const void *arg)
{
    if (id != KBIT_OP_INT8_QUANT)
        return 0;
    const kbit_op_int8_quant *op = arg;
    return op->use_threshold ? (size_t)kbit_split_i8_mask_words(op->cols) * 4 : 0;
}

/* Launch kernel k over `groups` groups with the argument array args. */
#define LAUNCH(k, groups, args) kcl_launch(c, q, (k), (groups), (args), NARGS(args))

kbit_status kcl_int8_quant(void *ctx, const kbit_exec *ex, const kbit_op_int8_quant *op)
{
    kcl_ctx *c = ctx;
    cl_command_queue q;
    kcl_arg A, CA, SCA, mask, oc, n_out;
    const int use = op->use_threshold ? 1 : 0;
    const size_t n = (size_t)(op->rows * op->cols);
    const size_t mask_bytes = kcl_int8_workspace(KBIT_OP_INT8_QUANT, op);
    /* cols may be 0 (K = 0): then no mask, and the count is 0 */
    if (mask_bytes > 0 && (ex->workspace == NULL || ex->workspace_bytes < mask_bytes))
        return kcl_error(KBIT_EINVAL, "int8_quant: the workspace holds %zu bytes, the column "
                         "mask needs %zu", ex->workspace_bytes, mask_bytes);
    TRY(kcl_queue(c, ex->stream, &q));
    TRY(kcl_resolve(c, op->A, n * kcl_dtype_bytes(op->dtype), "A", &A));
    TRY(kcl_resolve(c, op->CA, n, "CA", &CA));
    TRY(kcl_resolve(c, op->SCA, (size_t)op->rows * sizeof(float), "SCA", &SCA));
    TRY(kcl_resolve(c, mask_bytes > 0 ? ex->workspace : NULL, mask_bytes, "workspace",
                    &mask));
    TRY(kcl_resolve(c, use ? op->outlier_cols : NULL, use ? (size_t)op->cols * 8 : 0,
                    "outlier_cols", &oc));
    TRY(kcl_resolve(c, use ? op->n_outliers : NULL, use ? 8 : 0, "n_outliers", &n_out));
    cl_int dtype = op->dtype, use_threshold = use;
    cl_float threshold = op->threshold_f16;
    cl_long rows = op->rows, cols = op->cols;
    if (use) {
        const karg clear[] = { ARG(cols), MEM(mask) };
        TRY(LAUNCH(KCL_K_INT8_CLEAR_MASK,
                   kbit_split_elem_groups(kbit_split_i8_mask_words(op->cols)), clear));
    }
    const karg quant[] = { ARG(dtype), MEM(A), ARG(rows), ARG(cols), ARG(use_threshold),
                           ARG(threshold), MEM(CA), MEM(SCA), MEM(mask) };
    TRY(LAUNCH(KCL_K_INT8_QUANT_ROWS, kbit_split_groups(op->rows, 1), quant));
    if (!use)
        return KBIT_OK;
    /* one group: the prefix sum of backends/gpu/int8.h */
    const karg compact[] = { MEM(mask), ARG(cols), MEM(oc), MEM(n_out) };
    TRY(LAUNCH(KCL_K_INT8_COMPACT, 1, compact));
    const karg zero[] = { MEM(mask), ARG(rows), ARG(cols), MEM(CA) };
    return LAUNCH(KCL_K_INT8_ZERO_COLS, kbit_split_elem_groups(op->rows * op->cols), zero);
}

kbit_status kcl_int8_dequant_weight(void *ctx, const kbit_exec *ex,
                                    const kbit_op_int8_dequant_weight *op)
{
    kcl_ctx *c = ctx;
    cl_command_queue q;
    kcl_arg CB, SCB, out;
    const size_t n = (size_t)(op->rows * op->cols);
    TRY(kcl_queue(c, ex->stream, &q));
    TRY(kcl_resolve(c, op->CB, n, "CB", &CB));
    TRY(kcl_resolve(c, op->SCB, (size_t)op->rows * sizeof(float), "SCB", &SCB));
    TRY(kcl_resolve(c, op->out, n * kcl_dtype_bytes(op->out_dtype), "out", &out));
    cl_long rows = op->rows, cols = op->cols;
    cl_int out_dtype = op->out_dtype;
    const karg args[] = { MEM(CB), MEM(SCB), ARG(rows), ARG(cols), ARG(out_dtype), MEM(out) };
    return LAUNCH(KCL_K_INT8_DEQUANT_WEIGHT, kbit_split_elem_groups(op->rows * op->cols), args);
}

kbit_status kcl_int8_mm_dequant(void *ctx, const kbit_exec *ex, const kbit_op_int8_mm_dequant *op)
{
    kcl_ctx *c = ctx;
    cl_command_queue q;
    kcl_arg acc, SCA, SCB, bias, out;
    const size_t n = (size_t)(op->M * op->N);
    TRY(kcl_queue(c, ex->stream, &q));
    TRY(kcl_resolve(c, op->acc, n * 4, "acc", &acc));
    TRY(kcl_resolve(c, op->SCA, (size_t)op->M * sizeof(float), "SCA", &SCA));
    TRY(kcl_resolve(c, op->SCB, (size_t)op->N * sizeof(float), "SCB", &SCB));
    TRY(kcl_resolve(c, op->bias, op->bias ? (size_t)op->N * kcl_dtype_bytes(op->bias_dtype) : 0,
                    "bias", &bias));
    TRY(kcl_resolve(c, op->out, n * kcl_dtype_bytes(op->out_dtype), "out", &out));
    /* numerics/int8.h: 0 no bias, 1 an fp16 bias (fused), 2 another dtype */
    cl_int bias_kind = op->bias == NULL ? 0 : op->bias_dtype == KBIT_F16 ? 1 : 2;
    cl_int bias_dtype = op->bias_dtype, out_dtype = op->out_dtype;
    cl_long M = op->M, N = op->N;
    const karg args[] = { MEM(acc), MEM(SCA), MEM(SCB), ARG(M), ARG(N), ARG(bias_kind),
                          ARG(bias_dtype), MEM(bias), ARG(out_dtype), MEM(out) };
    return LAUNCH(KCL_K_INT8_MM_DEQUANT, kbit_split_elem_groups(op->M * op->N), args);
}

/* The GEMM's launch (int8_matmul, and the first half of the gather op). */
static kbit_status matmul(kcl_ctx *c, cl_command_queue q, const kbit_op_int8_matmul *op)
{
    kcl_arg A, B, out;
    TRY(kcl_resolve(c, op->A, (size_t)(op->M * op->K), "A", &A));
    TRY(kcl_resolve(c, op->B, (size_t)(op->N * op->K), "B", &B));
    TRY(kcl_resolve(c, op->out, (size_t)(op->M * op->N) * 4, "out", &out));
    cl_long M = op->M, N = op->N, K = op->K;
    const karg args[] = { MEM(A), MEM(B), ARG(M), ARG(N), ARG(K), MEM(out) };
    return LAUNCH(KCL_K_INT8_MATMUL, kbit_split_i8_gemm_groups(op->M, op->N), args);
}

kbit_status kcl_int8_matmul(void *ctx, const kbit_exec *ex, const kbit_op_int8_matmul *op)
{
    kcl_ctx *c = ctx;
    cl_command_queue q;
    TRY(kcl_queue(c, ex->stream, &q));
    return matmul(c, q, op);
}

/* The GEMM, then the gather, which reads the column count in device memory
 * and does nothing when it is 0 or over the capacity (backends/gpu/int8_dot.h). */
kbit_status kcl_int8_matmul_gather(void *ctx, const kbit_exec *ex,
                                   const kbit_op_int8_matmul_gather *op)
{
    kcl_ctx *c = ctx;
    cl_command_queue q;
    kcl_arg B, cols_a, n_cols, gathered;
    const kbit_op_int8_matmul *mm = &op->mm;
    TRY(kcl_queue(c, ex->stream, &q));
    TRY(kcl_resolve(c, mm->B, (size_t)(mm->N * mm->K), "B", &B));
    TRY(kcl_resolve(c, op->cols, (size_t)mm->K * 8, "cols", &cols_a));
    TRY(kcl_resolve(c, op->n_cols, 8, "n_cols", &n_cols));
    TRY(kcl_resolve(c, op->gathered, (size_t)(mm->N * op->capacity), "gathered", &gathered));
    TRY(matmul(c, q, mm));
    cl_long N = mm->N, K = mm->K, capacity = op->capacity;
    const karg args[] = { MEM(B), ARG(N), ARG(K), MEM(cols_a), MEM(n_cols), ARG(capacity),
                          MEM(gathered) };
    return LAUNCH(KCL_K_INT8_GATHER, kbit_split_elem_groups(mm->N * op->capacity), args);
}

kbit_status kcl_int8_outlier_add(void *ctx, const kbit_exec *ex,
                                 const kbit_op_int8_outlier_add *op)
{
    kcl_ctx *c = ctx;
    cl_command_queue q;
    kcl_arg X, oc, n_out, CB, SCB, CB_cols, out;
    const size_t es = kcl_dtype_bytes(op->dtype);
    const int has_cols = op->CB_cols != NULL && op->CB_cols_capacity > 0;
    TRY(kcl_queue(c, ex->stream, &q));
    TRY(kcl_resolve(c, op->X, (size_t)(op->M * op->K) * es, "X", &X));
    TRY(kcl_resolve(c, op->outlier_cols, (size_t)op->K * 8, "outlier_cols", &oc));
    TRY(kcl_resolve(c, op->n_outliers, 8, "n_outliers", &n_out));
    TRY(kcl_resolve(c, op->CB, (size_t)(op->N * op->K), "CB", &CB));
    TRY(kcl_resolve(c, op->SCB, (size_t)op->N * sizeof(float), "SCB", &SCB));
    TRY(kcl_resolve(c, has_cols ? op->CB_cols : NULL,
                    has_cols ? (size_t)(op->N * op->CB_cols_capacity) : 0, "CB_cols", &CB_cols));
    TRY(kcl_resolve(c, op->out, (size_t)(op->M * op->N) * es, "out", &out));
    cl_int dtype = op->dtype, has = has_cols;
    cl_long M = op->M, K = op->K, N = op->N, capacity = has_cols ? op->CB_cols_capacity : 0;
    const karg args[] = { ARG(dtype), MEM(X), ARG(M), ARG(K), MEM(oc), MEM(n_out), MEM(CB),
                          MEM(SCB), ARG(N), ARG(has), MEM(CB_cols), ARG(capacity), MEM(out) };
    return LAUNCH(KCL_K_INT8_OUTLIER_ADD, kbit_split_elem_groups(op->M * op->N), args);
}

kbit_status kcl_int8_backward(void *ctx, const kbit_exec *ex, const kbit_op_int8_backward *op)
{
    kcl_ctx *c = ctx;
    cl_command_queue q;
    kcl_arg dOut, CB, SCB, dX;
    const size_t es = kcl_dtype_bytes(op->dtype);
    TRY(kcl_queue(c, ex->stream, &q));
    TRY(kcl_resolve(c, op->dOut, (size_t)(op->M * op->N) * es, "dOut", &dOut));
    TRY(kcl_resolve(c, op->CB, (size_t)(op->N * op->K), "CB", &CB));
    TRY(kcl_resolve(c, op->SCB, (size_t)op->N * sizeof(float), "SCB", &SCB));
    TRY(kcl_resolve(c, op->dX, (size_t)(op->M * op->K) * es, "dX", &dX));
    cl_int dtype = op->dtype;
    cl_long M = op->M, N = op->N, K = op->K;
    const karg args[] = { ARG(dtype), MEM(dOut), ARG(M), ARG(N), ARG(K), MEM(CB), MEM(SCB),
                          MEM(dX) };
    return LAUNCH(KCL_K_INT8_BACKWARD, kbit_split_elem_groups(op->M * op->K), args);
}
