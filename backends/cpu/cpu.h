/* backends/cpu/cpu.h - shared by the CPU driver's files: the device context
 * and the op entry points of the driver table. */
#ifndef KBIT_CPU_CPU_H
#define KBIT_CPU_CPU_H

#include "kernels.h"

typedef struct cpu_ctx {
    const kbit_cpu_kernels *kernels; /* the variant chosen at open */
    int threads;                     /* OpenMP threads per op (>= 1) */
    char name[128];                  /* CPU model, for device_info */
} cpu_ctx;

kbit_status kbit_cpu_quantize_4bit(void *ctx, const kbit_op_quantize_4bit *op);
kbit_status kbit_cpu_dequantize_4bit(void *ctx, const kbit_op_dequantize_4bit *op);
kbit_status kbit_cpu_quantize_8bit(void *ctx, const kbit_op_quantize_8bit *op);
kbit_status kbit_cpu_dequantize_8bit(void *ctx, const kbit_op_dequantize_8bit *op);
kbit_status kbit_cpu_block_sums(void *ctx, const kbit_op_block_sums *op);
kbit_status kbit_cpu_optimizer_step(void *ctx, const kbit_op_optimizer *op);
kbit_status kbit_cpu_optimizer_sums(void *ctx, const kbit_op_optimizer_sums *op);
/* LLM.int8() (int8_ops.c) */
kbit_status kbit_cpu_int8_quant(void *ctx, const kbit_op_int8_quant *op);
kbit_status kbit_cpu_int8_matmul(void *ctx, const kbit_op_int8_matmul *op);
kbit_status kbit_cpu_int8_mm_dequant(void *ctx, const kbit_op_int8_mm_dequant *op);
kbit_status kbit_cpu_int8_outlier_add(void *ctx, const kbit_op_int8_outlier_add *op);
kbit_status kbit_cpu_int8_dequant_weight(void *ctx, const kbit_op_int8_dequant_weight *op);
kbit_status kbit_cpu_int8_backward(void *ctx, const kbit_op_int8_backward *op);
kbit_status kbit_cpu_int8_matmul_gather(void *ctx, const kbit_op_int8_matmul_gather *op);
kbit_status kbit_cpu_gemm_4bit(void *ctx, const kbit_op_gemm_4bit *op);
kbit_status kbit_cpu_gemm_4bit_backward(void *ctx, const kbit_op_gemm_4bit *op);

#endif /* KBIT_CPU_CPU_H */
