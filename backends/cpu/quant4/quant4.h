/*
 * backends/cpu/quant4/quant4.h - the 4-bit family on the CPU: NF4/FP4
 * blockwise quantize and dequantize (doc/numerics.md 1) and the leaves of the
 * nested absmax's pairsum (doc/determinism.md 4). Kernels take whole blocks
 * [block_begin, block_end) of their op.
 */
#ifndef KBIT_CPU_QUANT4_H
#define KBIT_CPU_QUANT4_H

#include "../kernels.h"
#include "kbit-formats.h"

typedef struct kbit_cpu_quant4 {
    void (*quantize)(const kbit_op_quantize_4bit *op, int64_t block_begin, int64_t block_end);
    void (*dequantize)(const kbit_op_dequantize_4bit *op, int64_t block_begin, int64_t block_end);
    /* blocks of KBIT_PAIRSUM_LEAF elements */
    void (*block_sums)(const kbit_op_block_sums *op, int64_t block_begin, int64_t block_end);
} kbit_cpu_quant4;

extern const kbit_cpu_quant4 kbit_cpu_quant4_scalar;
extern const kbit_cpu_quant4 kbit_cpu_quant4_avx2;   /* KBIT_HAVE_AVX2 */
extern const kbit_cpu_quant4 kbit_cpu_quant4_avx512; /* KBIT_HAVE_AVX512 */

/* The reference (ref.c, sums_ref.c): the NORMATIVE scalar kernels. */
void kbit_ref_quantize_4bit(const kbit_op_quantize_4bit *op, int64_t block_begin,
                            int64_t block_end);
void kbit_ref_dequantize_4bit(const kbit_op_dequantize_4bit *op, int64_t block_begin,
                              int64_t block_end);
void kbit_ref_block_sums(const kbit_op_block_sums *op, int64_t block_begin, int64_t block_end);
/* The whole pairsum tree of the op (one thread). */
void kbit_ref_pairsum(const kbit_op_pairsum *op);

/* AVX2 (avx2.c, sums_avx2.c) and AVX-512 (avx512.c, sums_avx512.c). */
void kbit_avx2_quantize_4bit(const kbit_op_quantize_4bit *op, int64_t block_begin,
                             int64_t block_end);
void kbit_avx2_dequantize_4bit(const kbit_op_dequantize_4bit *op, int64_t block_begin,
                               int64_t block_end);
void kbit_avx2_block_sums(const kbit_op_block_sums *op, int64_t block_begin, int64_t block_end);
void kbit_avx512_quantize_4bit(const kbit_op_quantize_4bit *op, int64_t block_begin,
                               int64_t block_end);
void kbit_avx512_dequantize_4bit(const kbit_op_dequantize_4bit *op, int64_t block_begin,
                                 int64_t block_end);
void kbit_avx512_block_sums(const kbit_op_block_sums *op, int64_t block_begin,
                            int64_t block_end);

/* A 4-bit encoder without a search (cells.c): with
 * k = floor(fma(x, scale, offset)) & 31 (one rounding), the code is
 * rank_code[rank[k] + (x > thr[k])] for every x with |x| <= 1 + 2^-22 and for
 * NaN (the SIMD float->int conversion gives 0x80000000, index 0). A rank
 * numbers the codes in the order of their values (NF4: rank = code), so that
 * crossing a cell's threshold adds one. Valid only when ok. */
typedef struct kbit_enc4_cells {
    int ok;
    float scale, offset;
    float thr[32];
    int32_t rank[32];
    uint8_t rank_code[16];
} kbit_enc4_cells;

void kbit_enc4_cells_init(kbit_enc4_cells *cells, kbit_quant_type type);

/* The same with 8 cells (for 8-entry AVX2 permutes) of up to 3 thresholds:
 * with k = (int)fma(x, scale, offset) & 7 (the argument is >= 0 on the
 * domain, so truncation is the floor), the code is
 * rank_code[rank[k] + #{j < 3 : x > thr[j][k]}]; thresholds past a cell's
 * own are NaN. Valid only when ok (NF4; FP4's grid is not). */
typedef struct kbit_enc4_cells8 {
    int ok;
    float scale, offset;
    float thr[3][8];
    int32_t rank[8];
    uint8_t rank_code[16];
} kbit_enc4_cells8;

void kbit_enc4_cells8_init(kbit_enc4_cells8 *cells, kbit_quant_type type);

#endif /* KBIT_CPU_QUANT4_H */
