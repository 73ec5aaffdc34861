/* backends/cpu/cpu.h - shared by the CPU driver's files: a variant (one
 * kernel table per family), the device context, and the driver's op slots,
 * each implemented in its family's ops.c. */
#ifndef KBIT_CPU_CPU_H
#define KBIT_CPU_CPU_H

#include "gemm4/gemm4.h"
#include "int8/int8.h"
#include "optim/optim.h"
#include "quant4/quant4.h"
#include "quant8/quant8.h"

/* A CPU variant: the kernels of each family (isa.c picks them by ISA, then
 * by tuning: the micro-architecture the kernels are chosen for). */
typedef struct kbit_cpu_variant {
    const char *name;   /* "scalar", "avx2", "avx512", "avx512vnni" */
    const char *tuning; /* "generic", "zen4" (isa.c); NULL for scalar */
    const kbit_cpu_quant4 *quant4;
    const kbit_cpu_quant8 *quant8;
    const kbit_cpu_gemm4 *gemm4;
    const kbit_cpu_int8 *int8;
    const kbit_cpu_optim *optim;
    /* fast mode's 4-bit matmul (isa.c: NULL when the CPU/OS has none) */
    const kbit_cpu_gemm4_fast *gemm4_fast;
} kbit_cpu_variant;

typedef struct cpu_ctx {
    kbit_cpu_variant v; /* chosen at open */
    int threads;        /* OpenMP threads per op (>= 1) */
    char name[128];     /* CPU model, for device_info */
} cpu_ctx;

/* quant4/ops.c */
kbit_status kbit_cpu_quantize_4bit(void *ctx, const kbit_exec *ex, const kbit_op_quantize_4bit *op);
kbit_status kbit_cpu_dequantize_4bit(void *ctx, const kbit_exec *ex,
                                     const kbit_op_dequantize_4bit *op);
kbit_status kbit_cpu_block_sums(void *ctx, const kbit_exec *ex, const kbit_op_block_sums *op);
kbit_status kbit_cpu_pairsum(void *ctx, const kbit_exec *ex, const kbit_op_pairsum *op);
/* quant8/ops.c */
kbit_status kbit_cpu_quantize_8bit(void *ctx, const kbit_exec *ex, const kbit_op_quantize_8bit *op);
kbit_status kbit_cpu_dequantize_8bit(void *ctx, const kbit_exec *ex,
                                     const kbit_op_dequantize_8bit *op);
/* optim/ops.c */
kbit_status kbit_cpu_optimizer_step(void *ctx, const kbit_exec *ex, const kbit_op_optimizer *op);
kbit_status kbit_cpu_optimizer_sums(void *ctx, const kbit_exec *ex,
                                    const kbit_op_optimizer_sums *op);
kbit_status kbit_cpu_optimizer_scales(void *ctx, const kbit_exec *ex,
                                      const kbit_op_optimizer_scales *op);
kbit_status kbit_cpu_optimizer_step_many(void *ctx, const kbit_exec *ex,
                                         const kbit_op_optimizer *const *ops, int64_t count);
/* int8/ops.c */
kbit_status kbit_cpu_int8_quant(void *ctx, const kbit_exec *ex, const kbit_op_int8_quant *op);
kbit_status kbit_cpu_int8_matmul(void *ctx, const kbit_exec *ex, const kbit_op_int8_matmul *op);
kbit_status kbit_cpu_int8_mm_dequant(void *ctx, const kbit_exec *ex,
                                     const kbit_op_int8_mm_dequant *op);
kbit_status kbit_cpu_int8_outlier_add(void *ctx, const kbit_exec *ex,
                                      const kbit_op_int8_outlier_add *op);
kbit_status kbit_cpu_int8_dequant_weight(void *ctx, const kbit_exec *ex,
                                         const kbit_op_int8_dequant_weight *op);
kbit_status kbit_cpu_int8_backward(void *ctx, const kbit_exec *ex, const kbit_op_int8_backward *op);
kbit_status kbit_cpu_int8_matmul_gather(void *ctx, const kbit_exec *ex,
                                        const kbit_op_int8_matmul_gather *op);
size_t kbit_cpu_int8_workspace(const cpu_ctx *c, kbit_op_id id, const void *op);
/* gemm4/ops.c */
kbit_status kbit_cpu_gemm_4bit(void *ctx, const kbit_exec *ex, const kbit_op_gemm_4bit *op);
kbit_status kbit_cpu_gemm_4bit_backward(void *ctx, const kbit_exec *ex, const kbit_op_gemm_4bit *op);
size_t kbit_cpu_gemm4_workspace(const cpu_ctx *c, kbit_op_id id, const void *op);

#endif /* KBIT_CPU_CPU_H */
