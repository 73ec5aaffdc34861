/*
 * backends/cpu/int8/int8.h - LLM.int8() on the CPU (doc/numerics.md 4,
 * doc/determinism.md 3.1 and 5). Ranges are output rows unless noted.
 */
#ifndef KBIT_CPU_INT8_H
#define KBIT_CPU_INT8_H

#include "../kernels.h"

typedef struct kbit_cpu_int8 {
    /* Rows of CA and SCA; with a threshold, sets colmask[c] = 1 for every
     * column holding an outlier (colmask is not cleared). */
    void (*quant_rows)(const kbit_op_int8_quant *op, int64_t r0, int64_t r1, uint8_t *colmask);
    /* Output columns [n0, n1) of every row (any split gives the same bits). */
    void (*matmul)(const kbit_op_int8_matmul *op, int64_t n0, int64_t n1);
    void (*mm_dequant)(const kbit_op_int8_mm_dequant *op, int64_t r0, int64_t r1);
    /* Output columns [j0, j1) of every row. */
    void (*outlier_add)(const kbit_op_int8_outlier_add *op, int64_t j0, int64_t j1);
    void (*dequant_weight)(const kbit_op_int8_dequant_weight *op, int64_t r0, int64_t r1);
    /* Columns [k0, k1) of dX, every row. */
    void (*backward)(const kbit_op_int8_backward *op, int64_t k0, int64_t k1);
} kbit_cpu_int8;

extern const kbit_cpu_int8 kbit_cpu_int8_scalar;
extern const kbit_cpu_int8 kbit_cpu_int8_avx2;       /* KBIT_HAVE_AVX2 */
extern const kbit_cpu_int8 kbit_cpu_int8_avx512;     /* KBIT_HAVE_AVX512 */
extern const kbit_cpu_int8 kbit_cpu_int8_avx512vnni; /* KBIT_HAVE_AVX512VNNI */

/* The reference (ref.c). */
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
/* Output columns [n0, n1) of every row (the kernel-table shape). */
void kbit_ref_int8_matmul_cols(const kbit_op_int8_matmul *op, int64_t n0, int64_t n1);
/* The gather part of int8_matmul_gather for rows [n0, n1) of B. */
void kbit_ref_int8_gather(const kbit_op_int8_matmul_gather *op, int64_t n0, int64_t n1);
void kbit_ref_int8_mm_dequant(const kbit_op_int8_mm_dequant *op, int64_t r0, int64_t r1);
void kbit_ref_int8_outlier_add(const kbit_op_int8_outlier_add *op, int64_t j0, int64_t j1);
void kbit_ref_int8_dequant_weight(const kbit_op_int8_dequant_weight *op, int64_t r0, int64_t r1);
void kbit_ref_int8_backward(const kbit_op_int8_backward *op, int64_t k0, int64_t k1);

/* AVX2 (avx2.c), AVX-512 (avx512.c), AVX-512 VNNI GEMM (avx512vnni.c). */
void kbit_avx2_int8_quant_rows(const kbit_op_int8_quant *op, int64_t r0, int64_t r1,
                               uint8_t *colmask);
void kbit_avx2_int8_matmul(const kbit_op_int8_matmul *op, int64_t n0, int64_t n1);
void kbit_avx2_int8_mm_dequant(const kbit_op_int8_mm_dequant *op, int64_t r0, int64_t r1);
void kbit_avx2_int8_outlier_add(const kbit_op_int8_outlier_add *op, int64_t j0, int64_t j1);
void kbit_avx2_int8_dequant_weight(const kbit_op_int8_dequant_weight *op, int64_t r0,
                                   int64_t r1);
void kbit_avx2_int8_backward(const kbit_op_int8_backward *op, int64_t k0, int64_t k1);
void kbit_avx512_int8_quant_rows(const kbit_op_int8_quant *op, int64_t r0, int64_t r1,
                                 uint8_t *colmask);
void kbit_avx512_int8_matmul(const kbit_op_int8_matmul *op, int64_t n0, int64_t n1);
void kbit_avx512_int8_mm_dequant(const kbit_op_int8_mm_dequant *op, int64_t r0, int64_t r1);
void kbit_avx512_int8_outlier_add(const kbit_op_int8_outlier_add *op, int64_t j0, int64_t j1);
void kbit_avx512_int8_dequant_weight(const kbit_op_int8_dequant_weight *op, int64_t r0,
                                     int64_t r1);
void kbit_avx512_int8_backward(const kbit_op_int8_backward *op, int64_t k0, int64_t k1);
void kbit_avx512vnni_int8_matmul(const kbit_op_int8_matmul *op, int64_t n0, int64_t n1);

#endif /* KBIT_CPU_INT8_H */
