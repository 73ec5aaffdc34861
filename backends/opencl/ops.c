/* backends/opencl/ops.c - the ops of the OpenCL driver: the program (built
 * once per device context, on the first launch, from the source embedded at
 * build time) and one launch per op on the caller's queue. Arguments are
 * resolved to (cl_mem, byte offset) pairs (memory.c); the work split is
 * backends/gpu/split.h, the same functions the bodies use. Ops return once
 * the kernel is enqueued; nothing waits. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "backends/gpu/split.h"
#include "backends/opencl/cl.h"
#include "backends/opencl/launch.h"
#include "backends/opencl/program.h"
#include "kbit-formats.h"

static const char *const kernel_names[KCL_K_COUNT] = {
    "kbit_cl_quantize_4bit", "kbit_cl_dequantize_4bit", "kbit_cl_quantize_8bit",
    "kbit_cl_dequantize_8bit", "kbit_cl_block_sums", "kbit_cl_pairsum",
    /* GEMM4 (gemm4.c) */
    "kbit_cl_gemm_4bit", "kbit_cl_gemm_4bit_backward",
    /* LLM.int8() */
    "kbit_cl_int8_clear_mask", "kbit_cl_int8_quant_rows", "kbit_cl_int8_compact",
    "kbit_cl_int8_zero_cols", "kbit_cl_int8_dequant_weight", "kbit_cl_int8_mm_dequant",
    "kbit_cl_int8_matmul", "kbit_cl_int8_gather", "kbit_cl_int8_outlier_add",
    "kbit_cl_int8_backward",
    /* OPTIM (optim.c) */
    "kbit_cl_optim_step32", "kbit_cl_optim_step8", "kbit_cl_optim_sums", "kbit_cl_optim_scales",
};

/* Record why the build failed (kept: every later launch reports it). */
static kbit_status build_failed(kcl_shared *sh, cl_int e, const char *call, const char *detail)
{
    snprintf(sh->build_error, sizeof sh->build_error, "%s: %s (%d)%s%s", call,
             kcl_error_name(e), (int)e, detail && *detail ? ": " : "", detail ? detail : "");
    sh->built = -1;
    return kcl_error(e == CL_OUT_OF_HOST_MEMORY || e == CL_OUT_OF_RESOURCES ? KBIT_ENOMEM
                                                                            : KBIT_EDRIVER,
                     "%s", sh->build_error);
}

/* Build the program and its kernels once. Caller holds sh->lock. */
static kbit_status build(kcl_shared *sh)
{
    if (sh->built > 0)
        return KBIT_OK;
    if (sh->built < 0)
        return kcl_error(KBIT_EDRIVER, "%s", sh->build_error);
    cl_int e;
    const char *src = kbit_cl_program_source;
    sh->program = clCreateProgramWithSource(sh->context, 1, &src, NULL, &e);
    if (e != CL_SUCCESS)
        return build_failed(sh, e, "clCreateProgramWithSource", NULL);
    cl_device_id dev = sh->dev->id;
    e = clBuildProgram(sh->program, 1, &dev, KBIT_CL_BUILD_OPTIONS, NULL, NULL);
    if (e != CL_SUCCESS) {
        char log[700] = "";
        (void)clGetProgramBuildInfo(sh->program, dev, CL_PROGRAM_BUILD_LOG, sizeof log - 1, log,
                                    NULL);
        log[sizeof log - 1] = '\0';
        char detail[800];
        snprintf(detail, sizeof detail, "options \"%s\"; log: %s", KBIT_CL_BUILD_OPTIONS, log);
        return build_failed(sh, e, "clBuildProgram", detail);
    }
    for (int k = 0; k < KCL_K_COUNT; k++) {
        sh->kernels[k] = clCreateKernel(sh->program, kernel_names[k], &e);
        if (e != CL_SUCCESS)
            return build_failed(sh, e, "clCreateKernel", kernel_names[k]);
        size_t wg = 0;
        e = clGetKernelWorkGroupInfo(sh->kernels[k], dev, CL_KERNEL_WORK_GROUP_SIZE, sizeof wg,
                                     &wg, NULL);
        if (e != CL_SUCCESS)
            return build_failed(sh, e, "clGetKernelWorkGroupInfo", kernel_names[k]);
        if (wg < KBIT_GPU_GROUP) {
            char detail[160];
            snprintf(detail, sizeof detail, "%s runs at most %zu items per work-group (kbit "
                     "needs %d)", kernel_names[k], wg, KBIT_GPU_GROUP);
            return build_failed(sh, CL_INVALID_WORK_GROUP_SIZE, "clGetKernelWorkGroupInfo", detail);
        }
    }
    sh->built = 1;
    return KBIT_OK;
}

/* Enqueue kernel k with `groups` work-groups of KBIT_GPU_GROUP items. The
 * lock makes setting the arguments and enqueueing one step for threads
 * sharing the kernel object (OpenCL captures the arguments at enqueue). */
static kbit_status launch(kcl_ctx *c, cl_command_queue q, int k, int64_t groups,
                          const karg *args, int nargs)
{
    kcl_shared *sh = c->sh;
    pthread_mutex_lock(&sh->lock);
    kbit_status st = build(sh);
    cl_int e = CL_SUCCESS;
    const char *call = "clSetKernelArg";
    char what[96] = "";
    for (int i = 0; st == KBIT_OK && i < nargs && e == CL_SUCCESS; i++) {
        e = clSetKernelArg(sh->kernels[k], (cl_uint)i, args[i].size, args[i].value);
        if (e != CL_SUCCESS)
            snprintf(what, sizeof what, "%s, argument %d", kernel_names[k], i);
    }
    if (st == KBIT_OK && e == CL_SUCCESS) {
        size_t local = KBIT_GPU_GROUP, global = (size_t)groups * KBIT_GPU_GROUP;
        e = clEnqueueNDRangeKernel(q, sh->kernels[k], 1, NULL, &global, &local, 0, NULL, NULL);
        call = "clEnqueueNDRangeKernel";
        snprintf(what, sizeof what, "%s", kernel_names[k]);
    }
    pthread_mutex_unlock(&sh->lock);
    if (st != KBIT_OK)
        return st;
    if (e != CL_SUCCESS)
        return kcl_fail(e, call, what);
    return KBIT_OK;
}

/* The launch for the op files of the other families (launch.h). */
kbit_status kcl_launch(kcl_ctx *c, cl_command_queue q, int k, int64_t groups, const karg *args,
                       int nargs)
{
    return launch(c, q, k, groups, args, nargs);
}

kbit_status kcl_quantize_4bit(void *ctx, const kbit_exec *ex, const kbit_op_quantize_4bit *op)
{
    kcl_ctx *c = ctx;
    cl_command_queue q;
    kcl_arg x, packed, absmax;
    const int64_t nblocks = kbit_split_nblocks(op->n, op->blocksize);
    TRY(kcl_queue(c, ex->stream, &q));
    TRY(kcl_resolve(c, op->x, (size_t)op->n * kcl_dtype_bytes(op->dtype), "x", &x));
    TRY(kcl_resolve(c, op->packed, (size_t)(op->n + 1) / 2, "packed", &packed));
    TRY(kcl_resolve(c, op->absmax, (size_t)nblocks * sizeof(float), "absmax", &absmax));
    cl_int type = op->type, dtype = op->dtype, bs = op->blocksize;
    cl_long n = op->n;
    const karg args[] = { ARG(type), ARG(dtype), MEM(x), ARG(n), ARG(bs), MEM(packed), MEM(absmax) };
    return launch(c, q, KCL_K_QUANTIZE_4BIT, kbit_split_quant_groups(op->n, op->blocksize), args,
                  (int)(sizeof args / sizeof args[0]));
}

kbit_status kcl_dequantize_4bit(void *ctx, const kbit_exec *ex, const kbit_op_dequantize_4bit *op)
{
    kcl_ctx *c = ctx;
    cl_command_queue q;
    kcl_arg packed, absmax, out;
    const int64_t nblocks = kbit_split_nblocks(op->n, op->blocksize);
    TRY(kcl_queue(c, ex->stream, &q));
    TRY(kcl_resolve(c, op->packed, (size_t)(op->n + 1) / 2, "packed", &packed));
    TRY(kcl_resolve(c, op->absmax, (size_t)nblocks * sizeof(float), "absmax", &absmax));
    TRY(kcl_resolve(c, op->out, (size_t)op->n * kcl_dtype_bytes(op->out_dtype), "out", &out));
    cl_int type = op->type, log2_bs = kbit_split_log2(op->blocksize), out_dtype = op->out_dtype;
    cl_long n = op->n;
    const karg args[] = { ARG(type), MEM(packed), MEM(absmax), ARG(n), ARG(log2_bs),
                          ARG(out_dtype), MEM(out) };
    return launch(c, q, KCL_K_DEQUANTIZE_4BIT, kbit_split_elem_groups((op->n + 1) / 2), args,
                  (int)(sizeof args / sizeof args[0]));
}

kbit_status kcl_quantize_8bit(void *ctx, const kbit_exec *ex, const kbit_op_quantize_8bit *op)
{
    kcl_ctx *c = ctx;
    cl_command_queue q;
    kcl_arg x, mid, offset, qa, absmax;
    const int64_t nblocks = kbit_split_nblocks(op->n, op->blocksize);
    TRY(kcl_queue(c, ex->stream, &q));
    TRY(kcl_resolve(c, op->x, (size_t)op->n * kcl_dtype_bytes(op->dtype), "x", &x));
    TRY(kcl_resolve(c, op->mid, 255 * sizeof(float), "mid", &mid));
    TRY(kcl_resolve(c, op->center ? op->offset : NULL, op->center ? sizeof(float) : 0, "offset",
                    &offset));
    TRY(kcl_resolve(c, op->q, (size_t)op->n, "q", &qa));
    TRY(kcl_resolve(c, op->absmax, (size_t)nblocks * sizeof(float), "absmax", &absmax));
    cl_int dtype = op->dtype, bs = op->blocksize, center = op->center ? 1 : 0;
    cl_long n = op->n;
    const karg args[] = { ARG(dtype), MEM(x), ARG(n), ARG(bs), MEM(mid), ARG(center), MEM(offset),
                          MEM(qa), MEM(absmax) };
    return launch(c, q, KCL_K_QUANTIZE_8BIT, kbit_split_quant_groups(op->n, op->blocksize), args,
                  (int)(sizeof args / sizeof args[0]));
}

kbit_status kcl_dequantize_8bit(void *ctx, const kbit_exec *ex, const kbit_op_dequantize_8bit *op)
{
    kcl_ctx *c = ctx;
    cl_command_queue q;
    kcl_arg qa, absmax, code, out;
    const int64_t nblocks = kbit_split_nblocks(op->n, op->blocksize);
    TRY(kcl_queue(c, ex->stream, &q));
    TRY(kcl_resolve(c, op->q, (size_t)op->n, "q", &qa));
    TRY(kcl_resolve(c, op->absmax, (size_t)nblocks * sizeof(float), "absmax", &absmax));
    TRY(kcl_resolve(c, op->code, 256 * sizeof(float), "code", &code));
    TRY(kcl_resolve(c, op->out, (size_t)op->n * kcl_dtype_bytes(op->out_dtype), "out", &out));
    cl_int log2_bs = kbit_split_log2(op->blocksize), add = op->add_offset ? 1 : 0;
    cl_int out_dtype = op->out_dtype;
    cl_float offset = op->offset;
    cl_long n = op->n;
    const karg args[] = { MEM(qa), MEM(absmax), ARG(n), ARG(log2_bs), MEM(code), ARG(add),
                          ARG(offset), ARG(out_dtype), MEM(out) };
    return launch(c, q, KCL_K_DEQUANTIZE_8BIT, kbit_split_elem_groups(op->n), args,
                  (int)(sizeof args / sizeof args[0]));
}

kbit_status kcl_block_sums(void *ctx, const kbit_exec *ex, const kbit_op_block_sums *op)
{
    kcl_ctx *c = ctx;
    cl_command_queue q;
    kcl_arg x, leaves;
    const int64_t count = (op->n + KBIT_PAIRSUM_LEAF - 1) / KBIT_PAIRSUM_LEAF;
    TRY(kcl_queue(c, ex->stream, &q));
    TRY(kcl_resolve(c, op->x, (size_t)op->n * sizeof(float), "x", &x));
    TRY(kcl_resolve(c, op->leaves, (size_t)count * sizeof(double), "leaves", &leaves));
    cl_long n = op->n;
    const karg args[] = { MEM(x), ARG(n), MEM(leaves) };
    return launch(c, q, KCL_K_BLOCK_SUMS, kbit_split_elem_groups(count), args,
                  (int)(sizeof args / sizeof args[0]));
}

kbit_status kcl_pairsum(void *ctx, const kbit_exec *ex, const kbit_op_pairsum *op)
{
    kcl_ctx *c = ctx;
    cl_command_queue q;
    kcl_arg leaves, sum, sum_f32;
    TRY(kcl_queue(c, ex->stream, &q));
    TRY(kcl_resolve(c, op->leaves, (size_t)op->count * sizeof(double), "leaves", &leaves));
    TRY(kcl_resolve(c, op->sum, sizeof(double), "sum", &sum));
    TRY(kcl_resolve(c, op->sum_f32, op->sum_f32 ? sizeof(float) : 0, "sum_f32", &sum_f32));
    cl_long count = op->count;
    cl_double divisor = op->divisor;
    cl_int has_f32 = op->sum_f32 != NULL;
    const karg args[] = { MEM(leaves), ARG(count), ARG(divisor), MEM(sum), MEM(sum_f32),
                          ARG(has_f32) };
    /* One work-group: the tree's levels are separated by its barriers
     * (backends/gpu/sums.h). */
    return launch(c, q, KCL_K_PAIRSUM, 1, args, (int)(sizeof args / sizeof args[0]));
}
