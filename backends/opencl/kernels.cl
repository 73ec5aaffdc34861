/*
 * backends/opencl/kernels.cl - the OpenCL kernels: thin __kernel wrappers
 * that declare the work-group arrays, turn (buffer, byte offset) arguments
 * into pointers and call the bodies of backends/gpu. embed.sh inlines the
 * headers into the program string (backends/opencl/program.h), which starts
 * with `#pragma OPENCL FP_CONTRACT OFF`.
 *
 * Arguments: every kbit device pointer arrives as the cl_mem that holds it
 * and the byte offset into it (the driver's pointer map, backends/opencl/
 * memory.c); enums as int; sizes as long. Every kernel runs in work-groups
 * of KBIT_GPU_GROUP items (backends/gpu/split.h says how many groups).
 */
#include "backends/gpu/quant4.h"
#include "backends/gpu/quant8.h"
#include "backends/gpu/sums.h"
#include "backends/gpu/gemm4.h"
#include "backends/gpu/int8.h"
#include "backends/gpu/int8_dot.h"
#include "backends/gpu/optim.h"

#define KBIT_CL_KERNEL __kernel __attribute__((reqd_work_group_size(KBIT_GPU_GROUP, 1, 1)))

/* The pointer of a (buffer, byte offset) argument. */
#define KBIT_CL_AT(type, buf, off) ((KBIT_GLOBAL type *)((KBIT_GLOBAL uchar *)(buf) + (off)))

KBIT_CL_KERNEL void kbit_cl_quantize_4bit(int type, int dtype, __global const uchar *x,
                                          ulong x_off, long n, int blocksize,
                                          __global uchar *packed, ulong packed_off,
                                          __global uchar *absmax, ulong absmax_off)
{
    KBIT_LOCAL_ARRAY(float, red, KBIT_GPU_GROUP);
    kbit_gk_quantize_4bit((kbit_quant_type)type, (kbit_dtype)dtype, KBIT_CL_AT(const void, x, x_off),
                          n, blocksize, KBIT_CL_AT(uint8_t, packed, packed_off),
                          KBIT_CL_AT(float, absmax, absmax_off), red);
}

KBIT_CL_KERNEL void kbit_cl_dequantize_4bit(int type, __global const uchar *packed,
                                            ulong packed_off, __global const uchar *absmax,
                                            ulong absmax_off, long n, int log2_blocksize,
                                            int out_dtype, __global uchar *out, ulong out_off)
{
    kbit_gk_dequantize_4bit((kbit_quant_type)type, KBIT_CL_AT(const uint8_t, packed, packed_off),
                            KBIT_CL_AT(const float, absmax, absmax_off), n, log2_blocksize,
                            (kbit_dtype)out_dtype, KBIT_CL_AT(void, out, out_off));
}

KBIT_CL_KERNEL void kbit_cl_quantize_8bit(int dtype, __global const uchar *x, ulong x_off,
                                          long n, int blocksize, __global const uchar *mid,
                                          ulong mid_off, int center,
                                          __global const uchar *offset, ulong offset_off,
                                          __global uchar *q, ulong q_off,
                                          __global uchar *absmax, ulong absmax_off)
{
    KBIT_LOCAL_ARRAY(float, mid_l, 256);
    KBIT_LOCAL_ARRAY(float, red, KBIT_GPU_GROUP);
    kbit_gk_quantize_8bit((kbit_dtype)dtype, KBIT_CL_AT(const void, x, x_off), n, blocksize,
                          KBIT_CL_AT(const float, mid, mid_off), center,
                          KBIT_CL_AT(const float, offset, offset_off),
                          KBIT_CL_AT(uint8_t, q, q_off), KBIT_CL_AT(float, absmax, absmax_off),
                          mid_l, red);
}

KBIT_CL_KERNEL void kbit_cl_dequantize_8bit(__global const uchar *q, ulong q_off,
                                            __global const uchar *absmax, ulong absmax_off,
                                            long n, int log2_blocksize,
                                            __global const uchar *code, ulong code_off,
                                            int add_offset, float offset, int out_dtype,
                                            __global uchar *out, ulong out_off)
{
    KBIT_LOCAL_ARRAY(float, code_l, 256);
    kbit_gk_dequantize_8bit(KBIT_CL_AT(const uint8_t, q, q_off),
                            KBIT_CL_AT(const float, absmax, absmax_off), n, log2_blocksize,
                            KBIT_CL_AT(const float, code, code_off), add_offset, offset,
                            (kbit_dtype)out_dtype, KBIT_CL_AT(void, out, out_off), code_l);
}

KBIT_CL_KERNEL void kbit_cl_block_sums(__global const uchar *x, ulong x_off, long n,
                                       __global uchar *leaves, ulong leaves_off)
{
    kbit_gk_block_sums(KBIT_CL_AT(const float, x, x_off), n,
                       KBIT_CL_AT(double, leaves, leaves_off));
}

KBIT_CL_KERNEL void kbit_cl_pairsum(__global uchar *leaves, ulong leaves_off, long count,
                                    double divisor, __global uchar *sum, ulong sum_off,
                                    __global uchar *sum_f32, ulong sum_f32_off, int has_f32)
{
    kbit_gk_pairsum(KBIT_CL_AT(double, leaves, leaves_off), count, divisor,
                    KBIT_CL_AT(double, sum, sum_off), KBIT_CL_AT(float, sum_f32, sum_f32_off),
                    has_f32);
}

/* GEMM4 (backends/gpu/gemm4.h): the forward and the backward as two kernels
 * so that each is compiled for its direction. */
KBIT_CL_KERNEL void kbit_cl_gemm_4bit(int type, int dtype, __global const uchar *a, ulong a_off,
                                      long M, long N, long K, __global const uchar *packed,
                                      ulong packed_off, __global const uchar *absmax,
                                      ulong absmax_off, int log2_blocksize,
                                      __global const uchar *bias, ulong bias_off, int has_bias,
                                      __global uchar *out, ulong out_off)
{
    KBIT_LOCAL_ARRAY(float, lanes, KBIT_GPU_GROUP);
    kbit_gk_gemm_4bit(0, (kbit_quant_type)type, (kbit_dtype)dtype, KBIT_CL_AT(const void, a, a_off),
                      M, N, K, KBIT_CL_AT(const uint8_t, packed, packed_off),
                      KBIT_CL_AT(const float, absmax, absmax_off), log2_blocksize,
                      KBIT_CL_AT(const void, bias, bias_off), has_bias,
                      KBIT_CL_AT(void, out, out_off), lanes);
}

KBIT_CL_KERNEL void kbit_cl_gemm_4bit_backward(int type, int dtype, __global const uchar *a,
                                               ulong a_off, long M, long N, long K,
                                               __global const uchar *packed, ulong packed_off,
                                               __global const uchar *absmax, ulong absmax_off,
                                               int log2_blocksize, __global uchar *out,
                                               ulong out_off)
{
    KBIT_LOCAL_ARRAY(float, lanes, KBIT_GPU_GROUP);
    kbit_gk_gemm_4bit(1, (kbit_quant_type)type, (kbit_dtype)dtype, KBIT_CL_AT(const void, a, a_off),
                      M, N, K, KBIT_CL_AT(const uint8_t, packed, packed_off),
                      KBIT_CL_AT(const float, absmax, absmax_off), log2_blocksize,
                      KBIT_CL_AT(const void, a, a_off), 0, KBIT_CL_AT(void, out, out_off), lanes);
}

/* ---- LLM.int8() (backends/gpu/int8.h, int8_dot.h; ops in int8.c) ---- */

KBIT_CL_KERNEL void kbit_cl_int8_clear_mask(long cols, __global uchar *mask, ulong mask_off)
{
    kbit_gk_int8_clear_mask(cols, KBIT_CL_AT(uint32_t, mask, mask_off));
}

KBIT_CL_KERNEL void kbit_cl_int8_quant_rows(int dtype, __global const uchar *A, ulong A_off,
                                            long rows, long cols, int use_threshold,
                                            float threshold, __global uchar *CA, ulong CA_off,
                                            __global uchar *SCA, ulong SCA_off,
                                            __global uchar *mask, ulong mask_off)
{
    KBIT_LOCAL_ARRAY(float, red, KBIT_GPU_GROUP);
    kbit_gk_int8_quant_rows((kbit_dtype)dtype, KBIT_CL_AT(const void, A, A_off), rows, cols,
                            use_threshold, threshold, KBIT_CL_AT(int8_t, CA, CA_off),
                            KBIT_CL_AT(float, SCA, SCA_off), KBIT_CL_AT(uint32_t, mask, mask_off),
                            red);
}

KBIT_CL_KERNEL void kbit_cl_int8_compact(__global const uchar *mask, ulong mask_off, long cols,
                                         __global uchar *oc, ulong oc_off,
                                         __global uchar *n_out, ulong n_out_off)
{
    KBIT_LOCAL_ARRAY(int32_t, scan, KBIT_GPU_GROUP);
    kbit_gk_int8_compact(KBIT_CL_AT(const uint32_t, mask, mask_off), cols,
                         KBIT_CL_AT(int64_t, oc, oc_off), KBIT_CL_AT(int64_t, n_out, n_out_off),
                         scan);
}

KBIT_CL_KERNEL void kbit_cl_int8_zero_cols(__global const uchar *mask, ulong mask_off, long rows,
                                           long cols, __global uchar *CA, ulong CA_off)
{
    kbit_gk_int8_zero_cols(KBIT_CL_AT(const uint32_t, mask, mask_off), rows, cols,
                           KBIT_CL_AT(int8_t, CA, CA_off));
}

KBIT_CL_KERNEL void kbit_cl_int8_dequant_weight(__global const uchar *CB, ulong CB_off,
                                                __global const uchar *SCB, ulong SCB_off,
                                                long rows, long cols, int out_dtype,
                                                __global uchar *out, ulong out_off)
{
    kbit_gk_int8_dequant_weight(KBIT_CL_AT(const int8_t, CB, CB_off),
                                KBIT_CL_AT(const float, SCB, SCB_off), rows, cols,
                                (kbit_dtype)out_dtype, KBIT_CL_AT(void, out, out_off));
}

KBIT_CL_KERNEL void kbit_cl_int8_mm_dequant(__global const uchar *acc, ulong acc_off,
                                            __global const uchar *SCA, ulong SCA_off,
                                            __global const uchar *SCB, ulong SCB_off, long M,
                                            long N, int bias_kind, int bias_dtype,
                                            __global const uchar *bias, ulong bias_off,
                                            int out_dtype, __global uchar *out, ulong out_off)
{
    kbit_gk_int8_mm_dequant(KBIT_CL_AT(const int32_t, acc, acc_off),
                            KBIT_CL_AT(const float, SCA, SCA_off),
                            KBIT_CL_AT(const float, SCB, SCB_off), M, N, bias_kind,
                            (kbit_dtype)bias_dtype, KBIT_CL_AT(const void, bias, bias_off),
                            (kbit_dtype)out_dtype, KBIT_CL_AT(void, out, out_off));
}

KBIT_CL_KERNEL void kbit_cl_int8_matmul(__global const uchar *A, ulong A_off,
                                        __global const uchar *B, ulong B_off, long M, long N,
                                        long K, __global uchar *out, ulong out_off)
{
    KBIT_LOCAL_ARRAY(int8_t, a_l, KBIT_SPLIT_I8_TILE * KBIT_SPLIT_I8_KSTEP);
    KBIT_LOCAL_ARRAY(int8_t, b_l, KBIT_SPLIT_I8_TILE * KBIT_SPLIT_I8_KSTEP);
    kbit_gk_int8_matmul(KBIT_CL_AT(const int8_t, A, A_off), KBIT_CL_AT(const int8_t, B, B_off),
                        M, N, K, KBIT_CL_AT(int32_t, out, out_off), a_l, b_l);
}

KBIT_CL_KERNEL void kbit_cl_int8_gather(__global const uchar *B, ulong B_off, long N, long K,
                                        __global const uchar *cols, ulong cols_off,
                                        __global const uchar *n_cols, ulong n_cols_off,
                                        long capacity, __global uchar *gathered,
                                        ulong gathered_off)
{
    kbit_gk_int8_gather(KBIT_CL_AT(const int8_t, B, B_off), N, K,
                        KBIT_CL_AT(const int64_t, cols, cols_off),
                        KBIT_CL_AT(const int64_t, n_cols, n_cols_off), capacity,
                        KBIT_CL_AT(int8_t, gathered, gathered_off));
}

KBIT_CL_KERNEL void kbit_cl_int8_outlier_add(int dtype, __global const uchar *X, ulong X_off,
                                             long M, long K, __global const uchar *oc,
                                             ulong oc_off, __global const uchar *n_out,
                                             ulong n_out_off, __global const uchar *CB,
                                             ulong CB_off, __global const uchar *SCB,
                                             ulong SCB_off, long N, int has_cols,
                                             __global const uchar *CB_cols, ulong CB_cols_off,
                                             long cols_capacity, __global uchar *out,
                                             ulong out_off)
{
    kbit_gk_int8_outlier_add((kbit_dtype)dtype, KBIT_CL_AT(const void, X, X_off), M, K,
                             KBIT_CL_AT(const int64_t, oc, oc_off),
                             KBIT_CL_AT(const int64_t, n_out, n_out_off),
                             KBIT_CL_AT(const int8_t, CB, CB_off),
                             KBIT_CL_AT(const float, SCB, SCB_off), N, has_cols,
                             KBIT_CL_AT(const int8_t, CB_cols, CB_cols_off), cols_capacity,
                             KBIT_CL_AT(void, out, out_off));
}

KBIT_CL_KERNEL void kbit_cl_int8_backward(int dtype, __global const uchar *dOut, ulong dOut_off,
                                          long M, long N, long K, __global const uchar *CB,
                                          ulong CB_off, __global const uchar *SCB,
                                          ulong SCB_off, __global uchar *dX, ulong dX_off)
{
    kbit_gk_int8_backward((kbit_dtype)dtype, KBIT_CL_AT(const void, dOut, dOut_off), M, N, K,
                          KBIT_CL_AT(const int8_t, CB, CB_off),
                          KBIT_CL_AT(const float, SCB, SCB_off), KBIT_CL_AT(void, dX, dX_off));
}

/* ------------------------------------------------------------------ */
/* OPTIM (backends/gpu/optim.h; the ops in backends/opencl/optim.c). The
 * step's scalars arrive as one kbit_optim_params by value (host and device
 * lay it out alike: no pointers, naturally aligned fields).             */

KBIT_CL_KERNEL void kbit_cl_optim_step32(kbit_optim_params k, int has_scales,
                                         __global const uchar *scales, ulong scales_off,
                                         int grad_dtype, __global uchar *p, ulong p_off,
                                         __global const uchar *g, ulong g_off, long n,
                                         __global uchar *state1, ulong state1_off,
                                         __global uchar *state2, ulong state2_off)
{
    kbit_gk_optim_step32(k, has_scales, KBIT_CL_AT(const float, scales, scales_off),
                         (kbit_dtype)grad_dtype, KBIT_CL_AT(void, p, p_off),
                         KBIT_CL_AT(const void, g, g_off), n,
                         KBIT_CL_AT(float, state1, state1_off),
                         KBIT_CL_AT(float, state2, state2_off));
}

KBIT_CL_KERNEL void kbit_cl_optim_step8(kbit_optim_params k, int has_scales,
                                        __global const uchar *scales, ulong scales_off,
                                        int grad_dtype, __global uchar *p, ulong p_off,
                                        __global const uchar *g, ulong g_off, long n,
                                        __global uchar *state1, ulong state1_off,
                                        __global uchar *state2, ulong state2_off,
                                        __global uchar *absmax1, ulong absmax1_off,
                                        __global uchar *absmax2, ulong absmax2_off,
                                        __global const uchar *qmap1, ulong qmap1_off,
                                        __global const uchar *mid1, ulong mid1_off,
                                        __global const uchar *qmap2, ulong qmap2_off,
                                        __global const uchar *mid2, ulong mid2_off)
{
    KBIT_LOCAL_ARRAY(float, map1_l, 256);
    KBIT_LOCAL_ARRAY(float, mid1_l, 256);
    KBIT_LOCAL_ARRAY(float, map2_l, 256);
    KBIT_LOCAL_ARRAY(float, mid2_l, 256);
    KBIT_LOCAL_ARRAY(float, red, KBIT_GPU_GROUP);
    kbit_gk_optim_step8(k, has_scales, KBIT_CL_AT(const float, scales, scales_off),
                        (kbit_dtype)grad_dtype, KBIT_CL_AT(void, p, p_off),
                        KBIT_CL_AT(const void, g, g_off), n,
                        KBIT_CL_AT(uint8_t, state1, state1_off),
                        KBIT_CL_AT(uint8_t, state2, state2_off),
                        KBIT_CL_AT(float, absmax1, absmax1_off),
                        KBIT_CL_AT(float, absmax2, absmax2_off),
                        KBIT_CL_AT(const float, qmap1, qmap1_off),
                        KBIT_CL_AT(const float, mid1, mid1_off),
                        KBIT_CL_AT(const float, qmap2, qmap2_off),
                        KBIT_CL_AT(const float, mid2, mid2_off), map1_l, mid1_l, map2_l, mid2_l,
                        red);
}

KBIT_CL_KERNEL void kbit_cl_optim_sums(kbit_optim_params k, int has_scales,
                                       __global const uchar *scales, ulong scales_off,
                                       int from_param, int update, int grad_dtype,
                                       __global const uchar *p, ulong p_off,
                                       __global const uchar *g, ulong g_off, long n,
                                       __global const uchar *s1, ulong s1_off,
                                       __global const uchar *s2, ulong s2_off, int has_s2,
                                       __global uchar *leaves, ulong leaves_off)
{
    kbit_gk_optim_sums(k, has_scales, KBIT_CL_AT(const float, scales, scales_off), from_param,
                       update, (kbit_dtype)grad_dtype, KBIT_CL_AT(const void, p, p_off),
                       KBIT_CL_AT(const void, g, g_off), n, KBIT_CL_AT(const float, s1, s1_off),
                       KBIT_CL_AT(const float, s2, s2_off), has_s2,
                       KBIT_CL_AT(double, leaves, leaves_off));
}

KBIT_CL_KERNEL void kbit_cl_optim_scales(int clip, __global const uchar *sums, ulong sums_off,
                                         __global uchar *history, ulong history_off,
                                         __global uchar *scales, ulong scales_off, long step,
                                         int percentile, int clipped, float gnorm_scale,
                                         float max_unorm, float eps, int add_eps)
{
    kbit_gk_optim_scales(clip, KBIT_CL_AT(const double, sums, sums_off),
                         KBIT_CL_AT(float, history, history_off),
                         KBIT_CL_AT(float, scales, scales_off), step, percentile, clipped,
                         gnorm_scale, max_unorm, eps, add_eps);
}
