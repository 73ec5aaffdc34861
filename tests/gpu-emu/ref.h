/* tests/gpu-emu/ref.h - TEST ONLY: the scalar reference kernels of
 * backends/cpu (compiled as C, linked into the emulation test) that the
 * case files compare with. Declared here because the family headers of
 * backends/cpu are C11 only (_Alignas); these are the same prototypes as
 * backends/cpu/<family>/<family>.h (the linker resolves them by name, so a
 * changed signature there must change here: the case would not compile
 * against the changed op struct otherwise either). */
#ifndef KBIT_EMU_REF_H
#define KBIT_EMU_REF_H

#include "kbit-driver.h"

extern "C" {
void kbit_ref_quantize_4bit(const kbit_op_quantize_4bit *op, int64_t block_begin,
                            int64_t block_end);
void kbit_ref_dequantize_4bit(const kbit_op_dequantize_4bit *op, int64_t block_begin,
                              int64_t block_end);
void kbit_ref_block_sums(const kbit_op_block_sums *op, int64_t block_begin, int64_t block_end);
void kbit_ref_pairsum(const kbit_op_pairsum *op);
void kbit_ref_quantize_8bit(const kbit_op_quantize_8bit *op, int64_t block_begin,
                            int64_t block_end);
void kbit_ref_dequantize_8bit(const kbit_op_dequantize_8bit *op, int64_t block_begin,
                              int64_t block_end);
kbit_status kbit_ref_gemm_4bit(const kbit_op_gemm_4bit *op, const float *a32, int64_t n_begin,
                               int64_t n_end);
kbit_status kbit_ref_gemm_4bit_backward(const kbit_op_gemm_4bit *op, const float *a32,
                                        int64_t k_begin, int64_t k_end);
kbit_status kbit_ref_int8_quant(const kbit_op_int8_quant *op, uint8_t *colmask);
void kbit_ref_int8_matmul(const kbit_op_int8_matmul *op, int64_t m0, int64_t m1, int64_t n0,
                          int64_t n1);
void kbit_ref_int8_gather(const kbit_op_int8_matmul_gather *op, int64_t n0, int64_t n1);
void kbit_ref_int8_mm_dequant(const kbit_op_int8_mm_dequant *op, int64_t r0, int64_t r1);
void kbit_ref_int8_outlier_add(const kbit_op_int8_outlier_add *op, int64_t j0, int64_t j1);
void kbit_ref_int8_dequant_weight(const kbit_op_int8_dequant_weight *op, int64_t r0, int64_t r1);
void kbit_ref_int8_backward(const kbit_op_int8_backward *op, int64_t k0, int64_t k1);
void kbit_ref_optimizer_step(const kbit_op_optimizer *op, int64_t block_begin,
                             int64_t block_end);
void kbit_ref_optimizer_sums(const kbit_op_optimizer_sums *op, int64_t block_begin,
                             int64_t block_end);
void kbit_ref_optimizer_scales(const kbit_op_optimizer_scales *op);
}

#endif /* KBIT_EMU_REF_H */
