/*
 * backends/cpu/int8/ops.c - the CPU driver's LLM.int8() ops: split each op
 * into independent output ranges (rows, or column tiles of the GEMM) over the
 * OpenMP threads and run the device's kernel variant on each.
 *
 * No range shares an output element and every element is computed the same
 * way whatever thread runs it, so results never depend on the thread count.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "../cpu.h"
#include "../ref.h"

/* Below this many inner-loop steps an op runs on the calling thread. */
#define INT8_PARALLEL_MIN (1 << 16)

/* Range [b, e) is the t-th of the split. */
typedef void (*range_fn)(const void *op, const kbit_cpu_kernels *k, int t, int64_t b, int64_t e);

/* Run fn over [0, total) in `threads` contiguous ranges whose bounds are
 * multiples of align (the last one excepted). work: the op's size, to decide
 * whether threads pay off. */
static void run_ranges(const cpu_ctx *c, int64_t total, int64_t align, int64_t work,
                       range_fn fn, const void *op)
{
    int64_t units = (total + align - 1) / align;
    int threads = c->threads;
    if (threads > units)
        threads = (int)units;
#ifdef _OPENMP
    if (threads > 1 && work >= INT8_PARALLEL_MIN) {
#pragma omp parallel for num_threads(threads) schedule(static, 1)
        for (int t = 0; t < threads; t++) {
            int64_t b = units * t / threads * align, e = units * (t + 1) / threads * align;
            if (e > total)
                e = total;
            if (b < e)
                fn(op, c->kernels, t, b, e);
        }
        return;
    }
#endif
    (void)work;
    fn(op, c->kernels, 0, 0, total);
}

/* ---- row-wise quantization ---- */

typedef struct quant_job {
    const kbit_op_int8_quant *op;
    uint8_t *masks; /* one cols-byte mask per range */
    int64_t n_outliers;
} quant_job;

static void quant_range(const void *arg, const kbit_cpu_kernels *k, int t, int64_t b, int64_t e)
{
    const quant_job *j = arg;
    /* each range ORs into its own mask */
    k->int8_quant_rows(j->op, b, e, j->op->use_threshold ? j->masks + t * j->op->cols : NULL);
}

static void zero_range(const void *arg, const kbit_cpu_kernels *k, int t, int64_t b, int64_t e)
{
    (void)k;
    (void)t;
    const quant_job *j = arg;
    kbit_ref_int8_zero_cols(j->op, j->n_outliers, b, e);
}

kbit_status kbit_cpu_int8_quant(void *ctx, const kbit_op_int8_quant *op)
{
    const cpu_ctx *c = ctx;
    quant_job j = { op, NULL, 0 };
    int64_t work = op->rows * op->cols;
    int threads = work >= INT8_PARALLEL_MIN && c->threads > 1 ? c->threads : 1;
    if (threads > op->rows)
        threads = (int)op->rows;
    cpu_ctx one = *c;
    one.threads = threads;
    if (op->use_threshold) {
        j.masks = calloc((size_t)threads, (size_t)op->cols + 1);
        if (j.masks == NULL)
            return KBIT_ENOMEM;
    }
    run_ranges(&one, op->rows, 1, work, quant_range, &j);
    if (!op->use_threshold)
        return KBIT_OK;
    for (int t = 1; t < threads; t++)
        for (int64_t col = 0; col < op->cols; col++)
            j.masks[col] |= j.masks[t * op->cols + col];
    j.n_outliers = kbit_ref_int8_compact(j.masks, op->cols, op->outlier_cols);
    free(j.masks);
    *op->n_outliers = j.n_outliers;
    if (j.n_outliers > 0)
        run_ranges(c, op->rows, 1, op->rows * j.n_outliers, zero_range, &j);
    return KBIT_OK;
}

/* ---- GEMM and the rest: one kernel call per range ---- */

typedef enum kind { K_MATMUL, K_MM_DEQUANT, K_OUTLIER, K_DEQUANT_WEIGHT, K_BACKWARD } kind;

typedef struct range_job {
    kind kind;
    const void *op;
} range_job;

static void kernel_range(const void *arg, const kbit_cpu_kernels *k, int t, int64_t b, int64_t e)
{
    const range_job *j = arg;
    switch (j->kind) {
    case K_MATMUL: k->int8_matmul(j->op, b, e); break;
    case K_MM_DEQUANT: k->int8_mm_dequant(j->op, b, e); break;
    case K_OUTLIER: k->int8_outlier_add(j->op, b, e); break;
    case K_DEQUANT_WEIGHT: k->int8_dequant_weight(j->op, b, e); break;
    case K_BACKWARD: k->int8_backward(j->op, b, e); break;
    }
}

static kbit_status run_kind(void *ctx, kind kd, const void *op, int64_t total, int64_t align,
                            int64_t work)
{
    range_job j = { kd, op };
    run_ranges(ctx, total, align, work, kernel_range, &j);
    return KBIT_OK;
}

kbit_status kbit_cpu_int8_matmul(void *ctx, const kbit_op_int8_matmul *op)
{
    /* column tiles of 64: the SIMD kernels' panel widths divide it */
    return run_kind(ctx, K_MATMUL, op, op->N, 64, op->M * op->N * (op->K + 1));
}

kbit_status kbit_cpu_int8_mm_dequant(void *ctx, const kbit_op_int8_mm_dequant *op)
{
    return run_kind(ctx, K_MM_DEQUANT, op, op->M, 1, op->M * op->N);
}

kbit_status kbit_cpu_int8_outlier_add(void *ctx, const kbit_op_int8_outlier_add *op)
{
    return run_kind(ctx, K_OUTLIER, op, op->N, 16, op->M * op->N * op->n_outliers);
}

kbit_status kbit_cpu_int8_dequant_weight(void *ctx, const kbit_op_int8_dequant_weight *op)
{
    return run_kind(ctx, K_DEQUANT_WEIGHT, op, op->rows, 1, op->rows * op->cols);
}

kbit_status kbit_cpu_int8_backward(void *ctx, const kbit_op_int8_backward *op)
{
    return run_kind(ctx, K_BACKWARD, op, op->K, 16, op->M * op->K * (op->N + 1));
}

/* ---- GEMM with the gather of the outlier columns ---- */

/* Below this many rows of A the GEMM streams B once, row by row: run it over
 * chunks of 64 rows of B and gather each chunk's bytes while it is still in
 * L2. From it up, the packed kernels read B a panel at a time anyway and the
 * gather is small beside the arithmetic: one call, then the gather. */
#define GATHER_CHUNK_M 48
#define GATHER_CHUNK_N 64

static void gather_range(const void *arg, const kbit_cpu_kernels *k, int t, int64_t b, int64_t e)
{
    const kbit_op_int8_matmul_gather *g = arg;
    int64_t chunk = g->mm.M < GATHER_CHUNK_M ? GATHER_CHUNK_N : e - b;
    for (int64_t c = b; c < e; c += chunk) {
        int64_t ce = e - c < chunk ? e : c + chunk;
        k->int8_matmul(&g->mm, c, ce);
        kbit_ref_int8_gather(g, c, ce);
    }
}

kbit_status kbit_cpu_int8_matmul_gather(void *ctx, const kbit_op_int8_matmul_gather *op)
{
    run_ranges(ctx, op->mm.N, 64, op->mm.M * op->mm.N * (op->mm.K + 1), gather_range, op);
    return KBIT_OK;
}
