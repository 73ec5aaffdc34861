/*
 * backends/cpu/gemm4/ops.c - the CPU driver's 4-bit matmul ops: transpose the
 * activations once per call (kernels.h) and split the outputs across OpenMP
 * threads: weight rows for the forward, weight columns for the backward.
 * Every output is one whole dot32 computed by one thread, so results never
 * depend on the thread count (determinism.md 1).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "../cpu.h"
#include "numerics/encode.h"

/* Below this many multiply-adds the call runs on the calling thread. */
#define GEMM4_PARALLEL_MIN (1 << 16)
/* About this many weights per chunk of work; chunks are whole multiples of
 * 16 rows (columns) so the kernels' row groups stay intact. */
#define GEMM4_CHUNK_WEIGHTS (1 << 18)
#define GEMM4_CHUNK_ALIGN 16

typedef struct gemm4_job {
    const kbit_cpu_kernels *k;
    const kbit_op_gemm_4bit *op;
    const float *at;
    int backward;
} gemm4_job;

static kbit_status run_range(const gemm4_job *j, int64_t i0, int64_t i1)
{
    if (j->backward)
        return j->k->gemm_4bit_backward(j->op, i0, i1);
    return j->k->gemm_4bit(j->op, j->at, i0, i1);
}

/* Outputs [0, count) (rows or columns), each over `depth` weights, M times. */
static kbit_status run_split(const cpu_ctx *c, const gemm4_job *j, int64_t count, int64_t depth)
{
    int64_t per = depth > 0 ? GEMM4_CHUNK_WEIGHTS / depth : count;
    per = (per + GEMM4_CHUNK_ALIGN - 1) / GEMM4_CHUNK_ALIGN * GEMM4_CHUNK_ALIGN;
    if (per < GEMM4_CHUNK_ALIGN)
        per = GEMM4_CHUNK_ALIGN;
    int64_t nchunks = (count + per - 1) / per;
    int threads = c->threads < nchunks ? c->threads : (int)nchunks;
    kbit_status result = KBIT_OK;
#ifdef _OPENMP
    if (threads > 1 && (double)count * (double)depth * (double)j->op->M >= GEMM4_PARALLEL_MIN) {
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int64_t i = 0; i < nchunks; i++) {
            int64_t i0 = i * per, i1 = i0 + per < count ? i0 + per : count;
            kbit_status st = run_range(j, i0, i1);
            if (st != KBIT_OK) {
#pragma omp atomic write
                result = st;
            }
        }
        return result;
    }
#endif
    return run_range(j, 0, count);
}

/* A [M, K] in op->dtype -> the transposed fp32 layout of kernels.h. */
static float *transpose_a(const kbit_op_gemm_4bit *op)
{
    int64_t row = kbit_cpu_gemm4_row_floats(op->K);
    size_t bytes = (size_t)(op->M * row) * sizeof(float);
    float *at = aligned_alloc(64, bytes);
    float *line = malloc((size_t)op->K * sizeof *line);
    if (at == NULL || line == NULL) {
        free(at);
        free(line);
        return NULL;
    }
    memset(at, 0, bytes);
    for (int64_t m = 0; m < op->M; m++) {
        kbit_load_f32(op->a, op->dtype, m * op->K, op->K, line);
        for (int64_t k = 0; k < op->K; k++)
            at[kbit_cpu_gemm4_at_index(op->K, m, k)] = line[k];
    }
    free(line);
    return at;
}

kbit_status kbit_cpu_gemm_4bit(void *ctx, const kbit_op_gemm_4bit *op)
{
    const cpu_ctx *c = ctx;
    gemm4_job j = { c->kernels, op, NULL, 0 };
    float *at = NULL;
    if (c->kernels->gemm4_transposed && op->K > 0) {
        at = transpose_a(op);
        if (at == NULL)
            return KBIT_ENOMEM;
        j.at = at;
    }
    kbit_status st = run_split(c, &j, op->N, op->K);
    free(at);
    return st;
}

kbit_status kbit_cpu_gemm_4bit_backward(void *ctx, const kbit_op_gemm_4bit *op)
{
    const cpu_ctx *c = ctx;
    gemm4_job j = { c->kernels, op, NULL, 1 };
    return run_split(c, &j, op->K, op->N);
}
