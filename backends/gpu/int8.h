/*
 * backends/gpu/int8.h - the elementwise and row-wise bodies of LLM.int8()
 * (doc/numerics.md 4, doc/determinism.md 3.1 and 4.1): the vectorwise
 * quantization with its outlier columns, the weight dequantization and the
 * dequantization of the int32 product. The products themselves (GEMM,
 * gather, outlier part, backward) are in backends/gpu/int8_dot.h.
 *
 * The quantization is four launches, in stream order, because the outlier
 * columns are known only once every row has been seen (the reference,
 * backends/cpu/int8/ref.c, makes the same passes):
 *   1. kbit_gk_int8_clear_mask   the column mask = 0 (threshold only)
 *   2. kbit_gk_int8_quant_rows   per row: absmax of the eligible elements,
 *                                SCA, CA; bit c of the mask set for an
 *                                outlier in column c
 *   3. kbit_gk_int8_compact      the ascending outlier list and its count,
 *                                in device memory (one group)
 *   4. kbit_gk_int8_zero_cols    CA = 0 in the outlier columns
 * The mask is one bit per column in 32-bit words (kbit_split_i8_mask_words
 * of them) of the op's workspace. Several groups may mark the same word in
 * step 2, so they OR into it atomically (an integer OR: the result does not
 * depend on the order); nothing reads the mask before the launch ends.
 */
#ifndef KBIT_GPU_INT8_H
#define KBIT_GPU_INT8_H

#include "backends/gpu/defs.h"
#include "numerics/numerics.h"
#include "backends/gpu/split.h"

/* Whether bit c of the column mask is set. */
KBIT_GPU_FN int kbit_gk_int8_marked(KBIT_GLOBAL const uint32_t *mask, int64_t c)
{
    return (int)((mask[c >> 5] >> (uint32_t)(c & 31)) & 1u);
}

/* The mask's kbit_split_i8_mask_words(cols) words = 0. Launch:
 * kbit_split_elem_groups(kbit_split_i8_mask_words(cols)). */
KBIT_GPU_FN void kbit_gk_int8_clear_mask(int64_t cols, KBIT_GLOBAL uint32_t *mask)
{
    const int64_t words = kbit_split_i8_mask_words(cols), stride = KBIT_NGROUPS * KBIT_GPU_GROUP;
    for (int64_t w = KBIT_GROUP * KBIT_GPU_GROUP + KBIT_LID; w < words; w += stride)
        mask[w] = 0;
}

/* The max of every item's `partial` absmax (non-negative, never NaN): a
 * halving tree in work-group memory. max is exact, so any order gives the
 * reference's bits (numerics/encode.h). Called by every item; red has
 * KBIT_GPU_GROUP entries and is free again on return. */
KBIT_GPU_FN float kbit_gk_group_absmax(KBIT_LOCAL float *red, int lid, float partial)
{
    red[lid] = partial;
    KBIT_BARRIER();
    for (int s = KBIT_GPU_GROUP / 2; s > 0; s >>= 1) {
        if (lid < s)
            red[lid] = kbit_absmax_combine(red[lid], red[lid + s]);
        KBIT_BARRIER();
    }
    float m = red[0];
    KBIT_BARRIER(); /* every item has read red[0] before the next row writes it */
    return m;
}

/* Rows of A [rows, cols] in dtype, through f16: SCA[r] = the absmax of the
 * row's eligible elements, CA[r, c] = the code of each element (numerics
 * 4.1, numerics/int8.h); with use_threshold, bit c of the mask is set for
 * every column holding an outlier (mask cleared before). Groups stride over rows; the
 * items of a group stride over the row's columns. red: KBIT_GPU_GROUP
 * floats of work-group memory. Launch: kbit_split_groups(rows, 1). */
KBIT_GPU_FN void kbit_gk_int8_quant_rows(kbit_dtype dtype, KBIT_GLOBAL const void *A,
                                         int64_t rows, int64_t cols, int32_t use_threshold,
                                         float threshold, KBIT_GLOBAL int8_t *CA,
                                         KBIT_GLOBAL float *SCA, KBIT_GLOBAL uint32_t *mask,
                                         KBIT_LOCAL float *red)
{
    const int lid = KBIT_LID;
    /* r: the same for every item of the group, so all reach every barrier */
    for (int64_t r = KBIT_GROUP; r < rows; r += KBIT_NGROUPS) {
        const int64_t base = r * cols;
        float m = 0.0f;
        for (int64_t c = lid; c < cols; c += KBIT_GPU_GROUP) {
            float a = kbit_through_f16(kbit_dtype_load(dtype, A, base + c));
            if (kbit_int8_eligible(a, use_threshold, threshold))
                m = kbit_absmax_step(m, a);
            else if (kbit_int8_is_outlier(a, use_threshold, threshold))
                KBIT_GPU_ATOMIC_OR_U32(mask + (c >> 5), 1u << (uint32_t)(c & 31));
        }
        const float absmax = kbit_gk_group_absmax(red, lid, m);
        if (lid == 0)
            SCA[r] = absmax;
        const float s = kbit_int8_row_scale(absmax);
        for (int64_t c = lid; c < cols; c += KBIT_GPU_GROUP) {
            float a = kbit_through_f16(kbit_dtype_load(dtype, A, base + c));
            CA[base + c] = kbit_int8_quant_elem(a, absmax, s, use_threshold, threshold);
        }
    }
}

/* The ascending list of the set columns of mask into outlier_cols and its
 * length into *n_outliers (kbit_ref_int8_compact). One group walks the
 * columns 256 at a time: an inclusive prefix sum of the flags in
 * work-group memory (Hillis-Steele, a barrier between reading and writing
 * each step) gives each set column its place. scan: KBIT_GPU_GROUP ints.
 * Launch: exactly one group. */
KBIT_GPU_FN void kbit_gk_int8_compact(KBIT_GLOBAL const uint32_t *mask, int64_t cols,
                                      KBIT_GLOBAL int64_t *outlier_cols,
                                      KBIT_GLOBAL int64_t *n_outliers, KBIT_LOCAL int32_t *scan)
{
    const int lid = KBIT_LID;
    int64_t total = 0; /* the same in every item */
    for (int64_t c0 = 0; c0 < cols; c0 += KBIT_GPU_GROUP) {
        const int64_t c = c0 + lid;
        const int32_t flag = c < cols && kbit_gk_int8_marked(mask, c) ? 1 : 0;
        scan[lid] = flag;
        KBIT_BARRIER();
        for (int s = 1; s < KBIT_GPU_GROUP; s *= 2) {
            int32_t v = lid >= s ? scan[lid - s] : 0;
            KBIT_BARRIER();
            scan[lid] += v;
            KBIT_BARRIER();
        }
        if (flag)
            outlier_cols[total + scan[lid] - 1] = c;
        total += scan[KBIT_GPU_GROUP - 1];
        KBIT_BARRIER(); /* every item has read scan before the next chunk writes it */
    }
    if (lid == 0)
        *n_outliers = total;
}

/* CA[r, c] = 0 wherever bit c of the mask is set: the same elements as zeroing the
 * compacted columns (kbit_ref_int8_zero_cols). Launch:
 * kbit_split_elem_groups(rows * cols). */
KBIT_GPU_FN void kbit_gk_int8_zero_cols(KBIT_GLOBAL const uint32_t *mask, int64_t rows,
                                        int64_t cols, KBIT_GLOBAL int8_t *CA)
{
    const int64_t n = rows * cols, stride = KBIT_NGROUPS * KBIT_GPU_GROUP;
    for (int64_t i = KBIT_GROUP * KBIT_GPU_GROUP + KBIT_LID; i < n; i += stride)
        if (kbit_gk_int8_marked(mask, i % cols))
            CA[i] = 0;
}

/* out[r, c] = T((f32(CB[r, c]) * SCB[r]) * 1/127) (numerics 4.2). Launch:
 * kbit_split_elem_groups(rows * cols). */
KBIT_GPU_FN void kbit_gk_int8_dequant_weight(KBIT_GLOBAL const int8_t *CB,
                                             KBIT_GLOBAL const float *SCB, int64_t rows,
                                             int64_t cols, kbit_dtype out_dtype,
                                             KBIT_GLOBAL void *out)
{
    const int64_t n = rows * cols, stride = KBIT_NGROUPS * KBIT_GPU_GROUP;
    for (int64_t i = KBIT_GROUP * KBIT_GPU_GROUP + KBIT_LID; i < n; i += stride)
        kbit_dtype_store(out_dtype, out, i, kbit_int8_weight_of(CB[i], SCB[i / cols]));
}

/* out[r, j] = the dequantized int32 product (numerics 4.4) with the bias of
 * bias_kind (0 none, 1 fp16 fused, 2 other dtype). Launch:
 * kbit_split_elem_groups(M * N). */
KBIT_GPU_FN void kbit_gk_int8_mm_dequant(KBIT_GLOBAL const int32_t *acc,
                                         KBIT_GLOBAL const float *SCA,
                                         KBIT_GLOBAL const float *SCB, int64_t M, int64_t N,
                                         int32_t bias_kind, kbit_dtype bias_dtype,
                                         KBIT_GLOBAL const void *bias, kbit_dtype out_dtype,
                                         KBIT_GLOBAL void *out)
{
    const int64_t n = M * N, stride = KBIT_NGROUPS * KBIT_GPU_GROUP;
    for (int64_t i = KBIT_GROUP * KBIT_GPU_GROUP + KBIT_LID; i < n; i += stride) {
        const int64_t r = i / N, j = i - r * N;
        float b = bias_kind ? kbit_dtype_load(bias_dtype, bias, j) : 0.0f;
        float o = kbit_int8_mm_dequant_elem(acc[i], SCA[r], SCB[j], bias_kind, b);
        kbit_dtype_store(out_dtype, out, i, o);
    }
}

#endif /* KBIT_GPU_INT8_H */
