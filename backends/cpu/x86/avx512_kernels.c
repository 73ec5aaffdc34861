/* backends/cpu/x86/avx512_kernels.c - the avx512 variant's kernel table. */
#include "../ref.h"
#include "variants.h"

const kbit_cpu_kernels kbit_cpu_kernels_avx512 = {
    .name = "avx512",
    .uses_buckets = 1,
    .quantize_4bit = kbit_avx512_quantize_4bit,
    .dequantize_4bit = kbit_avx512_dequantize_4bit,
    .quantize_8bit = kbit_avx512_quantize_8bit,
    .dequantize_8bit = kbit_avx512_dequantize_8bit,
    .block_sums = kbit_avx512_block_sums,
    .optimizer_step = kbit_avx512_optimizer_step,
    .optimizer_sums = kbit_ref_optimizer_sums,
    .int8_quant_rows = kbit_avx512_int8_quant_rows,
    .int8_matmul = kbit_avx512_int8_matmul,
    .int8_mm_dequant = kbit_avx512_int8_mm_dequant,
    .int8_outlier_add = kbit_avx512_int8_outlier_add,
    .int8_dequant_weight = kbit_avx512_int8_dequant_weight,
    .int8_backward = kbit_avx512_int8_backward,
    .gemm4_transposed = 1,
    .gemm_4bit = kbit_avx512_gemm_4bit,
    .gemm_4bit_backward = kbit_avx512_gemm_4bit_backward,
};
