/*
 * backends/cpu/ref/ref.h - the scalar NORMATIVE reference kernels.
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

/* 4-bit matrix products (dot32.h): forward outputs out[:, n] for n in
 * [n_begin, n_end), backward outputs dA[:, k] for k in [k_begin, k_end).
 * KBIT_ENOMEM if a work buffer cannot be allocated. */
kbit_status kbit_ref_gemm_4bit(const kbit_op_gemm_4bit *op, int64_t n_begin, int64_t n_end);
kbit_status kbit_ref_gemm_4bit_backward(const kbit_op_gemm_4bit *op, int64_t k_begin,
                                        int64_t k_end);

#endif /* KBIT_CPU_REF_H */
