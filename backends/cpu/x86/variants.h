/* backends/cpu/x86/variants.h - the kernels of the x86 SIMD variants; each
 * file is compiled with its variant's flags, and the tables that point at
 * them (avx2_kernels.c, avx512_kernels.c) are only used after CPUID said yes. */
#ifndef KBIT_CPU_X86_VARIANTS_H
#define KBIT_CPU_X86_VARIANTS_H

#include "../kernels.h"

#define KBIT_X86_DECLARE_VARIANT(isa)                                                          \
    void kbit_##isa##_quantize_4bit(const kbit_op_quantize_4bit *op, int64_t b0, int64_t b1);   \
    void kbit_##isa##_dequantize_4bit(const kbit_op_dequantize_4bit *op, int64_t b0, int64_t b1); \
    void kbit_##isa##_quantize_8bit(const kbit_op_quantize_8bit *op, const kbit_enc8_plan *plan, \
                                    int64_t b0, int64_t b1);                                   \
    void kbit_##isa##_dequantize_8bit(const kbit_op_dequantize_8bit *op, int64_t b0, int64_t b1); \
    void kbit_##isa##_block_sums(const kbit_op_block_sums *op, int64_t b0, int64_t b1);

/* Optimizer kernels of each variant (x86/<isa>_optim.c). */
#define KBIT_X86_DECLARE_OPTIM(isa) \
    void kbit_##isa##_optimizer_step(const kbit_op_optimizer *op, const kbit_optim_plans *plans, \
                                     int64_t b0, int64_t b1);

KBIT_X86_DECLARE_OPTIM(avx2)
KBIT_X86_DECLARE_OPTIM(avx512)
/* LLM.int8() kernels (x86/<isa>_int8.c); shapes as in kernels.h. */
#define KBIT_X86_DECLARE_INT8(isa)                                                             \
    void kbit_##isa##_int8_quant_rows(const kbit_op_int8_quant *op, int64_t r0, int64_t r1,     \
                                      uint8_t *colmask);                                       \
    void kbit_##isa##_int8_matmul(const kbit_op_int8_matmul *op, int64_t n0, int64_t n1);      \
    void kbit_##isa##_int8_mm_dequant(const kbit_op_int8_mm_dequant *op, int64_t r0, int64_t r1); \
    void kbit_##isa##_int8_outlier_add(const kbit_op_int8_outlier_add *op, int64_t j0, int64_t j1); \
    void kbit_##isa##_int8_dequant_weight(const kbit_op_int8_dequant_weight *op, int64_t r0,   \
                                          int64_t r1);                                         \
    void kbit_##isa##_int8_backward(const kbit_op_int8_backward *op, int64_t k0, int64_t k1);

KBIT_X86_DECLARE_VARIANT(avx2)
KBIT_X86_DECLARE_VARIANT(avx512)
KBIT_X86_DECLARE_INT8(avx2)
KBIT_X86_DECLARE_INT8(avx512)
void kbit_avx512vnni_int8_matmul(const kbit_op_int8_matmul *op, int64_t n0, int64_t n1);
/* 4-bit matmul forward (the backward: below). */
#define KBIT_X86_DECLARE_GEMM4(isa)                                                        \
    kbit_status kbit_##isa##_gemm_4bit(const kbit_op_gemm_4bit *op, const float *at,       \
                                       int64_t n0, int64_t n1);

KBIT_X86_DECLARE_GEMM4(avx2)
KBIT_X86_DECLARE_GEMM4(avx512)
kbit_status kbit_avx512_gemm_4bit_backward(const kbit_op_gemm_4bit *op, int64_t k0, int64_t k1);
kbit_status kbit_avx2_gemm_4bit_backward(const kbit_op_gemm_4bit *op, int64_t k0, int64_t k1);

#endif /* KBIT_CPU_X86_VARIANTS_H */
