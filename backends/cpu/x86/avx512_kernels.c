/* backends/cpu/x86/avx512_kernels.c - the avx512 variant's kernel table. */
#include "variants.h"
#include "../ref/ref.h"

const kbit_cpu_kernels kbit_cpu_kernels_avx512 = {
    .name = "avx512",
    .uses_buckets = 1,
    .quantize_4bit = kbit_avx512_quantize_4bit,
    .dequantize_4bit = kbit_avx512_dequantize_4bit,
    .quantize_8bit = kbit_avx512_quantize_8bit,
    .dequantize_8bit = kbit_avx512_dequantize_8bit,
    .block_sums = kbit_avx512_block_sums,
    .gemm4_transposed = 1,
    .gemm_4bit = kbit_avx512_gemm_4bit,
    .gemm_4bit_backward = kbit_avx512_gemm_4bit_backward,
};
