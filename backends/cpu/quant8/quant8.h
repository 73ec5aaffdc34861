/*
 * backends/cpu/quant8/quant8.h - the 8-bit blockwise family on the CPU
 * (doc/numerics.md 2): quantize and dequantize over whole blocks, and the
 * encoder plans that let the SIMD kernels find enc8(x) without a full
 * search (the optimizer family uses them too).
 */
#ifndef KBIT_CPU_QUANT8_H
#define KBIT_CPU_QUANT8_H

#include "../kernels.h"

/* The midpoints as a binary search over 16-bit key prefixes held in
 * registers, then one threshold (x86/avx512_enc8.h explains it): the zen4
 * tuning's encoder, which needs no gather. Partial indexes are
 * bit-reversed (r's bit l = level l's answer): level[l][r] = prefix16 of
 * mid[brev_l(r) * 2h + h - 1], h = 128 >> l (prefix 0xffff for index 255);
 * thr[p][r] = byte p of key(mid[j]) - (j & 1) with j = brev_8(r) (all ones
 * for j = 255); code[r] = brev_8(r). */
typedef struct kbit_enc8_search {
    _Alignas(64) uint16_t level[8][128];
    _Alignas(64) uint8_t thr[4][256];
    _Alignas(64) uint8_t code[256];
} kbit_enc8_search;

/* What the 8-bit encoder needs besides the op, prepared once per op (plan.c). */
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
     * key of x (see plan.c): one table read and one integer comparison
     * give enc8(x) for every finite or NaN x, when the map allows it. */
    const uint32_t *buckets;
    /* NULL, or the search tables: asked for with the bucket table, built
     * under its conditions (no midpoint zero, none two in a bucket) even
     * when memory for the table was short. */
    const kbit_enc8_search *search;
} kbit_enc8_plan;

/* Bucket table entries: bits 0..7 = j_lo, the number of midpoints in lower
 * buckets; bits 8..31 = thr, a signed threshold on the low 16 key bits of x:
 * enc8(x) = j_lo + (low16(key(x)) > thr). KBIT_ENC8_NO_MID is never exceeded. */
#define KBIT_ENC8_NO_MID 0x10000
#define KBIT_ENC8_BUCKETS 65536

/* Storage of a plan: the caller owns it (stack is fine, 64-byte aligned). */
typedef struct kbit_enc8_plan_storage {
    _Alignas(64) float mid_pad[256];
    _Alignas(64) float level[5][16];
    kbit_enc8_search search;
} kbit_enc8_plan_storage;

/* Prepare a plan for mid[255] in storage; with want_buckets, also try to build
 * the bucket table (heap; left NULL when the map does not fit or memory is
 * short: the kernels then search). Release with kbit_enc8_plan_release. */
void kbit_enc8_plan_init(kbit_enc8_plan *plan, kbit_enc8_plan_storage *storage,
                         const float *mid, int want_buckets);
void kbit_enc8_plan_release(kbit_enc8_plan *plan);

/* The plan of a normative map with its bucket table, built once per
 * process (plan.c): most 8-bit ops and nearly every optimizer state use
 * one, and filling a table per op would cost as much as the op. */
const kbit_enc8_plan *kbit_enc8_normative_plan(kbit_map_id id);

typedef struct kbit_cpu_quant8 {
    int uses_buckets; /* 1 if quantize uses plan->buckets when present */
    void (*quantize)(const kbit_op_quantize_8bit *op, const kbit_enc8_plan *plan,
                     int64_t block_begin, int64_t block_end);
    void (*dequantize)(const kbit_op_dequantize_8bit *op, int64_t block_begin,
                       int64_t block_end);
} kbit_cpu_quant8;

extern const kbit_cpu_quant8 kbit_cpu_quant8_scalar;
extern const kbit_cpu_quant8 kbit_cpu_quant8_avx2;   /* KBIT_HAVE_AVX2 */
extern const kbit_cpu_quant8 kbit_cpu_quant8_avx512; /* KBIT_HAVE_AVX512 */
/* The zen4 tuning's (isa.c; KBIT_HAVE_AVX512VBMI): avx512 with the VBMI dequantize. */
extern const kbit_cpu_quant8 kbit_cpu_quant8_avx512vbmi;

/* The reference (ref.c). */
void kbit_ref_quantize_8bit(const kbit_op_quantize_8bit *op, int64_t block_begin,
                            int64_t block_end);
void kbit_ref_dequantize_8bit(const kbit_op_dequantize_8bit *op, int64_t block_begin,
                              int64_t block_end);

/* AVX2 (avx2.c) and AVX-512 (avx512.c). */
void kbit_avx2_quantize_8bit(const kbit_op_quantize_8bit *op, const kbit_enc8_plan *plan,
                             int64_t block_begin, int64_t block_end);
void kbit_avx2_dequantize_8bit(const kbit_op_dequantize_8bit *op, int64_t block_begin,
                               int64_t block_end);
void kbit_avx512_quantize_8bit(const kbit_op_quantize_8bit *op, const kbit_enc8_plan *plan,
                               int64_t block_begin, int64_t block_end);
void kbit_avx512_dequantize_8bit(const kbit_op_dequantize_8bit *op, int64_t block_begin,
                                 int64_t block_end);
/* AVX512_VBMI (avx512vbmi.c): the code table in registers, no gathers. */
void kbit_avx512vbmi_dequantize_8bit(const kbit_op_dequantize_8bit *op, int64_t block_begin,
                                     int64_t block_end);

#endif /* KBIT_CPU_QUANT8_H */
