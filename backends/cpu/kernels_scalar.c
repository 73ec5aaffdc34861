/* backends/cpu/kernels_scalar.c - the scalar variant: the reference kernels
 * themselves, for CPUs without a SIMD variant (and to force with
 * KBIT_CPU_ISA=scalar). */
#include "kernels.h"
#include "ref.h"

/* The reference reads A itself: no transposed copy. */
static kbit_status gemm_4bit(const kbit_op_gemm_4bit *op, const float *at, int64_t n_begin,
                             int64_t n_end)
{
    (void)at;
    return kbit_ref_gemm_4bit(op, n_begin, n_end);
}

static void quantize_8bit(const kbit_op_quantize_8bit *op, const kbit_enc8_plan *plan,
                          int64_t block_begin, int64_t block_end)
{
    (void)plan;
    kbit_ref_quantize_8bit(op, block_begin, block_end);
}

static void optimizer_step(const kbit_op_optimizer *op, const kbit_optim_plans *plans,
                           int64_t block_begin, int64_t block_end)
{
    (void)plans;
    kbit_ref_optimizer_step(op, block_begin, block_end);
}

const kbit_cpu_kernels kbit_cpu_kernels_scalar = {
    .name = "scalar",
    .uses_buckets = 0,
    .quantize_4bit = kbit_ref_quantize_4bit,
    .dequantize_4bit = kbit_ref_dequantize_4bit,
    .quantize_8bit = quantize_8bit,
    .dequantize_8bit = kbit_ref_dequantize_8bit,
    .block_sums = kbit_ref_block_sums,
    .optimizer_step = optimizer_step,
    .optimizer_sums = kbit_ref_optimizer_sums,
    .int8_quant_rows = kbit_ref_int8_quant_rows,
    .int8_matmul = kbit_ref_int8_matmul_cols,
    .int8_mm_dequant = kbit_ref_int8_mm_dequant,
    .int8_outlier_add = kbit_ref_int8_outlier_add,
    .int8_dequant_weight = kbit_ref_int8_dequant_weight,
    .int8_backward = kbit_ref_int8_backward,
    .gemm4_transposed = 0,
    .gemm_4bit = gemm_4bit,
    .gemm_4bit_backward = kbit_ref_gemm_4bit_backward,
};
