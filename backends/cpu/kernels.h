/*
 * backends/cpu/kernels.h - the CPU driver's kernel variants.
 *
 * A variant (scalar, avx2, avx512) is a table of kernels with the shape of the
 * reference kernels (ref/ref.h): each handles the whole blocks
 * [block_begin, block_end) of a validated op, so the driver can split an op
 * across threads. Every variant gives the reference's bits for every input.
 */
#ifndef KBIT_CPU_KERNELS_H
#define KBIT_CPU_KERNELS_H

#include <stdint.h>

#include "kbit-driver.h"

/* What the 8-bit encoder needs besides the op, prepared once per op (enc8_plan.c). */
typedef struct kbit_enc8_plan {
    /* 1 if op->mid is non-decreasing and has no NaN. Otherwise the SIMD
     * kernels use the reference (searching an unsorted array is not the count). */
    int sorted;
    /* mid[0..254] then a quiet NaN: a gathered index up to 255 is always safe,
     * and a NaN never compares below or equal to x. */
    const float *mid_pad;
    /* The first levels of the binary search as small tables for register
     * permutes: level[l][k] = mid_pad[k * 2h + h - 1] with h = 128 >> l, for
     * l = 0..4 (1, 2, 4, 8, 16 entries; unused entries 0). */
    const float (*level)[16];
    /* NULL, or 65536 entries indexed by the top 16 bits of the order-preserving
     * key of x (see enc8_plan.c); present only when no two midpoints share a
     * bucket, so one table read and one integer comparison give enc8(x). */
    const uint32_t *buckets;
} kbit_enc8_plan;

/* Bucket table entries: bits 0..7 = number of midpoints in lower buckets
 * (j_lo); bits 8..24 = low 16 key bits of the bucket's midpoint, or
 * KBIT_ENC8_NO_MID (larger than any 16-bit value) when it has none. */
#define KBIT_ENC8_NO_MID 0x10000u
#define KBIT_ENC8_BUCKETS 65536

typedef struct kbit_cpu_kernels {
    const char *name; /* "scalar", "avx2", "avx512" */
    int uses_buckets; /* 1 if quantize_8bit uses plan->buckets when present */
    void (*quantize_4bit)(const kbit_op_quantize_4bit *op, int64_t block_begin, int64_t block_end);
    void (*dequantize_4bit)(const kbit_op_dequantize_4bit *op, int64_t block_begin, int64_t block_end);
    void (*quantize_8bit)(const kbit_op_quantize_8bit *op, const kbit_enc8_plan *plan,
                          int64_t block_begin, int64_t block_end);
    void (*dequantize_8bit)(const kbit_op_dequantize_8bit *op, int64_t block_begin, int64_t block_end);
    /* Blocks of 256 elements. */
    void (*block_sums)(const kbit_op_block_sums *op, int64_t block_begin, int64_t block_end);
} kbit_cpu_kernels;

extern const kbit_cpu_kernels kbit_cpu_kernels_scalar;
extern const kbit_cpu_kernels kbit_cpu_kernels_avx2;   /* only if KBIT_HAVE_AVX2 */
extern const kbit_cpu_kernels kbit_cpu_kernels_avx512; /* only if KBIT_HAVE_AVX512 */

/* Storage of a plan: the caller owns it (stack is fine, 64-byte aligned). */
typedef struct kbit_enc8_plan_storage {
    _Alignas(64) float mid_pad[256];
    _Alignas(64) float level[5][16];
} kbit_enc8_plan_storage;

/* Prepare a plan for mid[255] in storage; with want_buckets, also try to build
 * the bucket table (heap; left NULL when the map does not fit or memory is
 * short: the kernels then search). Release with kbit_enc8_plan_release. */
void kbit_enc8_plan_init(kbit_enc8_plan *plan, kbit_enc8_plan_storage *storage,
                         const float *mid, int want_buckets);
void kbit_enc8_plan_release(kbit_enc8_plan *plan);

#endif /* KBIT_CPU_KERNELS_H */
