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
