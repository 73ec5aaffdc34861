/* backends/cpu/x86/avx2_kernels.c - the avx2 variant's kernel table. */
#include "variants.h"
#include "../ref/ref.h"

const kbit_cpu_kernels kbit_cpu_kernels_avx2 = {
    .name = "avx2",
    .uses_buckets = 1,
    .quantize_4bit = kbit_avx2_quantize_4bit,
    .dequantize_4bit = kbit_avx2_dequantize_4bit,
    .quantize_8bit = kbit_avx2_quantize_8bit,
    .dequantize_8bit = kbit_avx2_dequantize_8bit,
    .block_sums = kbit_avx2_block_sums,
    .gemm4_transposed = 1,
    .gemm_4bit = kbit_avx2_gemm_4bit,
    .gemm_4bit_backward = kbit_ref_gemm_4bit_backward,
};
