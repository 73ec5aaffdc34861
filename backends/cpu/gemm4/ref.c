/* backends/cpu/gemm4/ref.c - reference 4-bit matrix products (doc/numerics.md 5,
 * doc/determinism.md 3): every output is one dot32 over fp32 values, the weight
 * dequantized with one fp32 multiply. Clear rather than fast. */
#include <stdlib.h>

#include "numerics/dot32.h"
#include "numerics/encode.h"
#include "gemm4.h"

/* W[n,k] = DEC[q] * absmax[blk] of flat element i = n*K + k; the block is
 * i / blocksize, computed as i >> log2(blocksize) (a power of two). */
static float weight_at(const kbit_op_gemm_4bit *op, int64_t i)
{
    unsigned q = kbit_4bit_code(op->packed[i >> 1], i);
    return kbit_4bit_value(op->type, q, op->absmax[i >> __builtin_ctz((unsigned)op->blocksize)]);
}

/* All rows of a [M, cols] activation matrix as fp32 (exact): the caller's
 * copy when it made one for the whole call, else a new one (*own). */
static const float *rows_f32(const kbit_op_gemm_4bit *op, const float *a32, int64_t cols,
                             float **own)
{
    *own = NULL;
    if (a32 != NULL)
        return a32;
    float *f = malloc((size_t)(op->M * cols > 0 ? op->M * cols : 1) * sizeof *f);
    if (f != NULL && cols > 0) /* a may be NULL when cols == 0 */
        kbit_load_f32(op->a, op->dtype, 0, op->M * cols, f);
    *own = f;
    return f;
}

kbit_status kbit_ref_gemm_4bit(const kbit_op_gemm_4bit *op, const float *a32, int64_t n_begin,
                               int64_t n_end)
{
    const int64_t M = op->M, N = op->N, K = op->K;
    float *own;
    const float *a = rows_f32(op, a32, K, &own);
    float *w = malloc((size_t)(K > 0 ? K : 1) * sizeof *w);
    if (a == NULL || w == NULL) {
        free(own);
        free(w);
        return KBIT_ENOMEM;
    }
    for (int64_t n = n_begin; n < n_end; n++) {
        for (int64_t k = 0; k < K; k++)
            w[k] = weight_at(op, n * K + k);
        float bias = 0.0f;
        if (op->bias != NULL)
            kbit_load_f32(op->bias, op->dtype, n, 1, &bias);
        for (int64_t m = 0; m < M; m++) {
            float r = kbit_dot32(a + m * K, w, K);
            if (op->bias != NULL)
                r = r + bias;
            kbit_store_f32(op->out, op->dtype, m * N + n, 1, &r);
        }
    }
    free(own);
    free(w);
    return KBIT_OK;
}

/* Columns are gathered a tile at a time, walking the weight row by row. */
#define BACKWARD_TILE 64

kbit_status kbit_ref_gemm_4bit_backward(const kbit_op_gemm_4bit *op, const float *a32,
                                        int64_t k_begin, int64_t k_end)
{
    const int64_t M = op->M, N = op->N, K = op->K;
    float *own;
    const float *a = rows_f32(op, a32, N, &own);
    float *w = malloc((size_t)(N > 0 ? N : 1) * BACKWARD_TILE * sizeof *w);
    if (a == NULL || w == NULL) {
        free(own);
        free(w);
        return KBIT_ENOMEM;
    }
    for (int64_t k0 = k_begin; k0 < k_end; k0 += BACKWARD_TILE) {
        int64_t width = k_end - k0 < BACKWARD_TILE ? k_end - k0 : BACKWARD_TILE;
        /* w[t * N + n] = W[n, k0 + t]: column k0 + t of the weight */
        for (int64_t n = 0; n < N; n++)
            for (int64_t t = 0; t < width; t++)
                w[t * N + n] = weight_at(op, n * K + k0 + t);
        for (int64_t t = 0; t < width; t++) {
            for (int64_t m = 0; m < M; m++) {
                float r = kbit_dot32(a + m * N, w + t * N, N);
                kbit_store_f32(op->out, op->dtype, m * K + k0 + t, 1, &r);
            }
        }
    }
    free(own);
    free(w);
    return KBIT_OK;
}
