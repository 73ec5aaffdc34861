/*
 * backends/cpu/kernels.h - the CPU driver's kernel variants.
 *
 * A variant (scalar, avx2, avx512) is a table of kernels with the shape of the
 * reference kernels (ref.h): each handles the whole blocks
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
     * key of x (see enc8_plan.c): one table read and one integer comparison
     * give enc8(x) for every finite or NaN x, when the map allows it. */
    const uint32_t *buckets;
} kbit_enc8_plan;

/* Bucket table entries: bits 0..7 = j_lo, the number of midpoints in lower
 * buckets; bits 8..31 = thr, a signed threshold on the low 16 key bits of x:
 * enc8(x) = j_lo + (low16(key(x)) > thr). KBIT_ENC8_NO_MID is never exceeded. */
#define KBIT_ENC8_NO_MID 0x10000
#define KBIT_ENC8_BUCKETS 65536

/* A 4-bit encoder without a search (enc4_cells.c): with
 * k = floor(x * scale + offset) & 31, the code is x > thr[k] ? above[k] : below[k]
 * for every x with |x| <= 1 + 2^-22 and for NaN (the SIMD float->int
 * conversion gives 0x80000000, index 0). Valid only when ok. */
typedef struct kbit_enc4_cells {
    int ok;
    float scale, offset;
    float thr[32];
    int32_t below[32], above[32];
} kbit_enc4_cells;

void kbit_enc4_cells_init(kbit_enc4_cells *cells, kbit_quant_type type);

/* Dequantize kernels write an output of at least this many bytes with
 * non-temporal stores (when it is 64-byte aligned): it would not stay in the
 * caches anyway, and streaming skips reading every line before writing it. */
#define KBIT_CPU_STREAM_MIN_BYTES ((int64_t)16 << 20)

static inline int kbit_cpu_stream_output(const void *out, int64_t bytes)
{
    return bytes >= KBIT_CPU_STREAM_MIN_BYTES && ((uintptr_t)out & 63) == 0;
}

/* The 8-bit optimizer's encoders, prepared once per op (optim_ops.c): plan1
 * for the signed map of state1, plan2 for the unsigned map of state2, and
 * neg1 = the number of leading qmap1 entries with the sign bit set when those
 * are exactly the entries with it (so signbit(qmap1[c]) is c < neg1), else -1. */
typedef struct kbit_optim_plans {
    kbit_enc8_plan plan1, plan2;
    int neg1;
} kbit_optim_plans;

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
    /* Blocks of KBIT_OPTIM_BLOCK (256) elements; plans: see kbit_optim_plans. */
    void (*optimizer_step)(const kbit_op_optimizer *op, const struct kbit_optim_plans *plans,
                           int64_t block_begin, int64_t block_end);
    void (*optimizer_sums)(const kbit_op_optimizer_sums *op, int64_t block_begin, int64_t block_end);
    /* LLM.int8(): the shapes of ref/int8.c; ranges are output rows unless noted. */
    void (*int8_quant_rows)(const kbit_op_int8_quant *op, int64_t r0, int64_t r1, uint8_t *colmask);
    /* Output columns [n0, n1) of every row (any split gives the same bits). */
    void (*int8_matmul)(const kbit_op_int8_matmul *op, int64_t n0, int64_t n1);
    void (*int8_mm_dequant)(const kbit_op_int8_mm_dequant *op, int64_t r0, int64_t r1);
    /* Output columns [j0, j1) of every row. */
    void (*int8_outlier_add)(const kbit_op_int8_outlier_add *op, int64_t j0, int64_t j1);
    void (*int8_dequant_weight)(const kbit_op_int8_dequant_weight *op, int64_t r0, int64_t r1);
    /* Columns [k0, k1) of dX, every row. */
    void (*int8_backward)(const kbit_op_int8_backward *op, int64_t k0, int64_t k1);
    /* 4-bit matmul (ops_gemm4.c): forward outputs of the weight rows
     * [n_begin, n_end), backward outputs of the columns [k_begin, k_end).
     * With gemm4_transposed, at is the activation in the layout of
     * kbit_cpu_gemm4_at_index (else NULL). KBIT_ENOMEM if work memory is short. */
    int gemm4_transposed;
    kbit_status (*gemm_4bit)(const kbit_op_gemm_4bit *op, const float *at, int64_t n_begin,
                             int64_t n_end);
    kbit_status (*gemm_4bit_backward)(const kbit_op_gemm_4bit *op, int64_t k_begin,
                                      int64_t k_end);
} kbit_cpu_kernels;

extern const kbit_cpu_kernels kbit_cpu_kernels_scalar;
extern const kbit_cpu_kernels kbit_cpu_kernels_avx2;   /* only if KBIT_HAVE_AVX2 */
extern const kbit_cpu_kernels kbit_cpu_kernels_avx512; /* only if KBIT_HAVE_AVX512 */
/* only if KBIT_HAVE_AVX512VNNI: the avx512 table with VNNI int8 kernels */
const kbit_cpu_kernels *kbit_cpu_kernels_avx512vnni(void);

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

/* The transposed activation of the 4-bit matmul: row m of A (fp32) padded
 * with +0.0 to a multiple of 128 elements; in every group of 16 chunks of 8
 * elements, element e of chunk i is stored at 16 * e + i. So one 16-float
 * vector holds element e of 16 consecutive chunks: the dot32 lanes of a
 * 512-bit register of 16 packed 32-bit words (two 256-bit halves for AVX2). */
#define KBIT_GEMM4_GROUP 128
static inline int64_t kbit_cpu_gemm4_row_floats(int64_t K)
{
    return (K + KBIT_GEMM4_GROUP - 1) / KBIT_GEMM4_GROUP * KBIT_GEMM4_GROUP;
}
static inline int64_t kbit_cpu_gemm4_at_index(int64_t K, int64_t m, int64_t k)
{
    int64_t g = k / KBIT_GEMM4_GROUP, r = k % KBIT_GEMM4_GROUP;
    return m * kbit_cpu_gemm4_row_floats(K) + g * KBIT_GEMM4_GROUP + (r % 8) * 16 + r / 8;
}

#endif /* KBIT_CPU_KERNELS_H */
