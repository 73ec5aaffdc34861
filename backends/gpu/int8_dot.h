/*
 * backends/gpu/int8_dot.h - the products of LLM.int8() (doc/numerics.md 4,
 * doc/determinism.md 3.1): the exact int32 GEMM, the gather of the weight's
 * outlier columns, the outlier part of the forward and the backward, the
 * last two one dot32 (numerics/dot32.h) per output element.
 *
 * One item per output element. The int32 GEMM sums modulo 2^32 (unsigned
 * arithmetic), so its bits do not depend on the order of the terms: it runs
 * in tiles through work-group memory. The others are grid-stride loops; the
 * dot32s run the stream form of numerics/dot32.h in one item, the very
 * statements of the reference (backends/cpu/int8/ref.c).
 *
 * Counts written by an earlier launch (the outlier count of the
 * quantization) are read here from device memory, never by the host: the
 * launch is sized by what the host knows (M, N, the gather's capacity) and
 * an item with nothing to do does nothing.
 */
#ifndef KBIT_GPU_INT8_DOT_H
#define KBIT_GPU_INT8_DOT_H

#include "backends/gpu/defs.h"
#include "numerics/numerics.h"
#include "backends/gpu/split.h"

/* out[m, n] = sum over k of A[m, k] * B[n, k], wrapping modulo 2^32 (exact
 * whenever the sum fits int32, which K <= KBIT_INT8_MAX_K guarantees; and
 * modulo 2^32 the order of the terms does not matter, so the tiling cannot
 * change a bit). Groups stride over the 16 x 16 output tiles of
 * backends/gpu/split.h; item (ty, tx) of a group owns output (m0 + ty,
 * n0 + tx). Each slice of KBIT_SPLIT_I8_KSTEP k of the tile's 16 rows of A
 * and of B goes through work-group memory (a_l, b_l: 16 * KSTEP bytes each),
 * zero past the edges, so every item reads the slices and reaches every
 * barrier. Launch: kbit_split_i8_gemm_groups(M, N). */
KBIT_GPU_FN void kbit_gk_int8_matmul(KBIT_GLOBAL const int8_t *A, KBIT_GLOBAL const int8_t *B,
                                     int64_t M, int64_t N, int64_t K, KBIT_GLOBAL int32_t *out,
                                     KBIT_LOCAL int8_t *a_l, KBIT_LOCAL int8_t *b_l)
{
    const int lid = KBIT_LID, T = KBIT_SPLIT_I8_TILE, S = KBIT_SPLIT_I8_KSTEP;
    const int ty = lid / T, tx = lid % T;
    const int64_t tiles_n = (N + T - 1) / T, tiles = kbit_split_i8_tiles(M, N);
    /* t and k0: the same for every item of the group */
    for (int64_t t = KBIT_GROUP; t < tiles; t += KBIT_NGROUPS) {
        const int64_t m0 = (t / tiles_n) * T, n0 = (t % tiles_n) * T;
        uint32_t s = 0;
        for (int64_t k0 = 0; k0 < K; k0 += S) {
            for (int e = lid; e < T * S; e += KBIT_GPU_GROUP) {
                const int r = e / S;
                const int64_t k = k0 + (e - r * S);
                a_l[e] = m0 + r < M && k < K ? A[(m0 + r) * K + k] : (int8_t)0;
                b_l[e] = n0 + r < N && k < K ? B[(n0 + r) * K + k] : (int8_t)0;
            }
            KBIT_BARRIER();
            for (int kk = 0; kk < S; kk++)
                s += (uint32_t)((int32_t)a_l[ty * S + kk] * (int32_t)b_l[tx * S + kk]);
            KBIT_BARRIER(); /* every item has read the slice before the next one */
        }
        if (m0 + ty < M && n0 + tx < N)
            out[(m0 + ty) * N + n0 + tx] = (int32_t)s;
    }
}

/* gathered[n * *n_cols + i] = B[n, cols[i]] for n < N, i < *n_cols, done
 * only when 0 < *n_cols <= capacity (kbit_op_int8_matmul_gather). Launch:
 * kbit_split_elem_groups(N * capacity). */
KBIT_GPU_FN void kbit_gk_int8_gather(KBIT_GLOBAL const int8_t *B, int64_t N, int64_t K,
                                     KBIT_GLOBAL const int64_t *cols,
                                     KBIT_GLOBAL const int64_t *n_cols, int64_t capacity,
                                     KBIT_GLOBAL int8_t *gathered)
{
    const int64_t nc = *n_cols;
    if (nc <= 0 || nc > capacity)
        return;
    const int64_t units = N * capacity, stride = KBIT_NGROUPS * KBIT_GPU_GROUP;
    for (int64_t u = KBIT_GROUP * KBIT_GPU_GROUP + KBIT_LID; u < units; u += stride) {
        const int64_t n = u / capacity, i = u - n * capacity;
        if (i < nc)
            gathered[n * nc + i] = B[n * K + cols[i]];
    }
}

/* The outlier part of the forward (kbit_op_int8_outlier_add): out[m, j] =
 * T(f32(out[m, j]) + dot32 over i < *n_outliers of the outlier weight of
 * CB[j, oc[i]] and f32(X[m, oc[i]])). Nothing is written when *n_outliers
 * is 0. use_cols: read the gathered CB_cols (the core's rule,
 * kbit_outlier_cb_cols: CB_cols given and *n_outliers <= its capacity).
 * Launch: kbit_split_elem_groups(M * N). */
KBIT_GPU_FN void kbit_gk_int8_outlier_add(kbit_dtype dtype, KBIT_GLOBAL const void *X,
                                          int64_t M, int64_t K,
                                          KBIT_GLOBAL const int64_t *outlier_cols,
                                          KBIT_GLOBAL const int64_t *n_outliers,
                                          KBIT_GLOBAL const int8_t *CB,
                                          KBIT_GLOBAL const float *SCB, int64_t N,
                                          int32_t has_cols, KBIT_GLOBAL const int8_t *CB_cols,
                                          int64_t cols_capacity, KBIT_GLOBAL void *out)
{
    const int64_t n_out = *n_outliers;
    if (n_out == 0)
        return;
    const int use_cols = has_cols && n_out <= cols_capacity;
    const int64_t total = M * N, stride = KBIT_NGROUPS * KBIT_GPU_GROUP;
    for (int64_t u = KBIT_GROUP * KBIT_GPU_GROUP + KBIT_LID; u < total; u += stride) {
        const int64_t m = u / N, j = u - m * N;
        const float scb = SCB[j];
        kbit_dot32_acc d;
        kbit_dot32_init(&d);
        for (int64_t i = 0; i < n_out; i++) {
            const int64_t k = outlier_cols[i];
            float a = kbit_dtype_load(dtype, X, m * K + k);
            int8_t cb = use_cols ? CB_cols[j * n_out + i] : CB[j * K + k];
            kbit_dot32_add(&d, i, kbit_int8_outlier_weight(cb, scb, dtype), a);
        }
        float r = kbit_dot32_finish(&d, n_out);
        float y = kbit_dtype_load(dtype, out, u);
        kbit_dtype_store(dtype, out, u, kbit_int8_outlier_out(y, r));
    }
}

/* dX[m, k] = T(dot32 over n < N of the outlier weight of CB[n, k] and
 * f32(dOut[m, n])); N = 0 gives T(+0.0). Launch:
 * kbit_split_elem_groups(M * K). */
KBIT_GPU_FN void kbit_gk_int8_backward(kbit_dtype dtype, KBIT_GLOBAL const void *dOut,
                                       int64_t M, int64_t N, int64_t K,
                                       KBIT_GLOBAL const int8_t *CB, KBIT_GLOBAL const float *SCB,
                                       KBIT_GLOBAL void *dX)
{
    const int64_t total = M * K, stride = KBIT_NGROUPS * KBIT_GPU_GROUP;
    for (int64_t u = KBIT_GROUP * KBIT_GPU_GROUP + KBIT_LID; u < total; u += stride) {
        const int64_t m = u / K, k = u - m * K;
        kbit_dot32_acc d;
        kbit_dot32_init(&d);
        for (int64_t n = 0; n < N; n++) {
            float a = kbit_dtype_load(dtype, dOut, m * N + n);
            float w = kbit_int8_outlier_weight(CB[n * K + k], SCB[n], dtype);
            kbit_dot32_add(&d, n, w, a);
        }
        kbit_dtype_store(dtype, dX, u, kbit_dot32_finish(&d, N));
    }
}

#endif /* KBIT_GPU_INT8_DOT_H */
