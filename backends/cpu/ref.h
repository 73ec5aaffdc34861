/*
 * backends/cpu/ref.h - the scalar NORMATIVE reference kernels.
 *
 * Each kernel handles the whole blocks [block_begin, block_end) of its op, so
 * a driver can split an op across threads by block ranges: blocks never share
 * an output byte (4-bit blocksizes are even, so a block's packed bytes are its
 * own; the padding nibble of an odd n belongs to the last block).
 * Arguments are the validated op structs of kbit-driver.h.
 *
 * These kernels are the executable form of shared/spec/numerics.md as
 * upgraded by determinism.md; every other variant must match them bit for bit.
 */
#ifndef KBIT_CPU_REF_H
#define KBIT_CPU_REF_H

#include <stdint.h>

#include "kbit-driver.h"

/* Blocks of op->blocksize elements. */
void kbit_ref_quantize_4bit(const kbit_op_quantize_4bit *op, int64_t block_begin, int64_t block_end);
void kbit_ref_dequantize_4bit(const kbit_op_dequantize_4bit *op, int64_t block_begin, int64_t block_end);
void kbit_ref_quantize_8bit(const kbit_op_quantize_8bit *op, int64_t block_begin, int64_t block_end);
void kbit_ref_dequantize_8bit(const kbit_op_dequantize_8bit *op, int64_t block_begin, int64_t block_end);

/* Blocks of KBIT_PAIRSUM_LEAF (256) elements: sums[b] for b in the range. */
void kbit_ref_block_sums(const kbit_op_block_sums *op, int64_t block_begin, int64_t block_end);

/* Optimizer step and norm leaves, blocks of KBIT_OPTIM_BLOCK (256) elements. */
void kbit_ref_optimizer_step(const kbit_op_optimizer *op, int64_t block_begin, int64_t block_end);
void kbit_ref_optimizer_sums(const kbit_op_optimizer_sums *op, int64_t block_begin,
                             int64_t block_end);
/* Requantize count new 8-bit optimizer state values (numerics 6.5): codes q. */
void kbit_ref_optim_requantize(const float *s, int64_t count, float absmax, const float *map,
                               const float *mid, int sign_fix, uint8_t *q);
/* LLM.int8() (ref/int8.c). Row ranges [r0, r1) of the output unless noted. */
/* Rows of CA and SCA; with a threshold, sets colmask[c] = 1 for every column
 * holding an outlier (colmask is not cleared). */
void kbit_ref_int8_quant_rows(const kbit_op_int8_quant *op, int64_t r0, int64_t r1,
                              uint8_t *colmask);
/* The ascending list of set columns; returns its length. */
int64_t kbit_ref_int8_compact(const uint8_t *colmask, int64_t cols, int64_t *outlier_cols);
/* CA[r, outlier_cols[i]] = 0 for the rows of the range. */
void kbit_ref_int8_zero_cols(const kbit_op_int8_quant *op, int64_t n_outliers, int64_t r0,
                             int64_t r1);
/* The whole op on one thread; colmask: cols bytes of scratch. */
kbit_status kbit_ref_int8_quant(const kbit_op_int8_quant *op, uint8_t *colmask);
/* The tile [m0, m1) x [n0, n1) of the output. */
void kbit_ref_int8_matmul(const kbit_op_int8_matmul *op, int64_t m0, int64_t m1, int64_t n0,
                          int64_t n1);
/* Output columns [n0, n1) of every row (the CPU kernel-table shape). */
void kbit_ref_int8_matmul_cols(const kbit_op_int8_matmul *op, int64_t n0, int64_t n1);
/* The gather part of int8_matmul_gather for rows [n0, n1) of B. */
void kbit_ref_int8_gather(const kbit_op_int8_matmul_gather *op, int64_t n0, int64_t n1);
void kbit_ref_int8_mm_dequant(const kbit_op_int8_mm_dequant *op, int64_t r0, int64_t r1);
/* Output columns [j0, j1) of every row. */
void kbit_ref_int8_outlier_add(const kbit_op_int8_outlier_add *op, int64_t j0, int64_t j1);
void kbit_ref_int8_dequant_weight(const kbit_op_int8_dequant_weight *op, int64_t r0, int64_t r1);
/* Columns [k0, k1) of dX, every row. */
void kbit_ref_int8_backward(const kbit_op_int8_backward *op, int64_t k0, int64_t k1);
/* 4-bit matrix products (dot32.h): forward outputs out[:, n] for n in
 * [n_begin, n_end), backward outputs dA[:, k] for k in [k_begin, k_end).
 * KBIT_ENOMEM if a work buffer cannot be allocated. */
kbit_status kbit_ref_gemm_4bit(const kbit_op_gemm_4bit *op, int64_t n_begin, int64_t n_end);
kbit_status kbit_ref_gemm_4bit_backward(const kbit_op_gemm_4bit *op, int64_t k_begin,
                                        int64_t k_end);

#endif /* KBIT_CPU_REF_H */
