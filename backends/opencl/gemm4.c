/* backends/opencl/gemm4.c - the GEMM4 ops of the OpenCL driver (the 4-bit
 * matmul forward and backward, doc/numerics.md 5): resolve every buffer with
 * the bytes the op reads or writes, then one launch of the body of
 * backends/gpu/gemm4.h sized by backends/gpu/split.h. No workspace: the
 * activations are read in their dtype and the weight is dequantized on the
 * fly. No private weight layout (gemm4_prepare): the core then keeps a
 * prepared weight as copies of the packed bytes and the fp32 absmax, which
 * these ops read as they read a quant state's. */
#include "config.h"

#include "backends/gpu/split.h"
#include "backends/opencl/cl.h"
#include "backends/opencl/launch.h"

/* The weight buffers: ceil(N*K/2) packed bytes and ceil(N*K/blocksize)
 * absmax values; none when the weight is empty (the core may then pass
 * NULL, and the body reads neither). */
static kbit_status resolve_weight(kcl_ctx *c, const kbit_op_gemm_4bit *op, kcl_arg *packed,
                                  kcl_arg *absmax)
{
    const int64_t n = op->N * op->K;
    const int empty = n == 0;
    TRY(kcl_resolve(c, empty ? NULL : op->packed, empty ? 0 : (size_t)(n + 1) / 2, "packed",
                    packed));
    return kcl_resolve(c, empty ? NULL : op->absmax,
                       empty ? 0 : (size_t)kbit_split_nblocks(n, op->blocksize) * sizeof(float),
                       "absmax", absmax);
}

/* An [rows, cols] operand in dtype (none when it has no elements). */
static kbit_status resolve_matrix(kcl_ctx *c, const void *p, int64_t rows, int64_t cols,
                                  kbit_dtype dtype, const char *what, kcl_arg *arg)
{
    const int empty = rows * cols == 0;
    return kcl_resolve(c, empty ? NULL : p, empty ? 0 : (size_t)(rows * cols) * kcl_dtype_bytes(dtype),
                       what, arg);
}

kbit_status kcl_gemm_4bit(void *ctx, const kbit_exec *ex, const kbit_op_gemm_4bit *op)
{
    kcl_ctx *c = ctx;
    cl_command_queue q;
    kcl_arg a, packed, absmax, bias, out;
    TRY(kcl_queue(c, ex->stream, &q));
    TRY(resolve_matrix(c, op->a, op->M, op->K, op->dtype, "A", &a));
    TRY(resolve_weight(c, op, &packed, &absmax));
    TRY(resolve_matrix(c, op->bias, op->bias != NULL ? 1 : 0, op->N, op->dtype, "bias", &bias));
    TRY(resolve_matrix(c, op->out, op->M, op->N, op->dtype, "out", &out));
    cl_int type = op->type, dtype = op->dtype, log2_bs = kbit_split_log2(op->blocksize);
    cl_int has_bias = op->bias != NULL;
    cl_long M = op->M, N = op->N, K = op->K;
    const karg args[] = { ARG(type), ARG(dtype), MEM(a), ARG(M), ARG(N), ARG(K),
                              MEM(packed), MEM(absmax), ARG(log2_bs), MEM(bias), ARG(has_bias),
                              MEM(out) };
    return kcl_launch(c, q, KCL_K_GEMM_4BIT, kbit_split_dot_groups(op->M * op->N), args,
                      (int)(sizeof args / sizeof args[0]));
}

kbit_status kcl_gemm_4bit_backward(void *ctx, const kbit_exec *ex, const kbit_op_gemm_4bit *op)
{
    kcl_ctx *c = ctx;
    cl_command_queue q;
    kcl_arg a, packed, absmax, out;
    TRY(kcl_queue(c, ex->stream, &q));
    TRY(resolve_matrix(c, op->a, op->M, op->N, op->dtype, "dout", &a));
    TRY(resolve_weight(c, op, &packed, &absmax));
    TRY(resolve_matrix(c, op->out, op->M, op->K, op->dtype, "dA", &out));
    cl_int type = op->type, dtype = op->dtype, log2_bs = kbit_split_log2(op->blocksize);
    cl_long M = op->M, N = op->N, K = op->K;
    const karg args[] = { ARG(type), ARG(dtype), MEM(a), ARG(M), ARG(N), ARG(K),
                              MEM(packed), MEM(absmax), ARG(log2_bs), MEM(out) };
    return kcl_launch(c, q, KCL_K_GEMM_4BIT_BACKWARD, kbit_split_dot_groups(op->M * op->K), args,
                      (int)(sizeof args / sizeof args[0]));
}
