/*
 * backends/cpu/int8/ops.c - the CPU driver's LLM.int8() ops: each op is cut
 * into independent output ranges (rows, or column tiles of the GEMM) for the
 * splitter; the outlier count is read from (CPU) device memory where the
 * quantization left it. And the family's kernel tables.
 */
#include "config.h"

#include <string.h>

#include "../split.h"

const kbit_cpu_int8 kbit_cpu_int8_scalar = {
    kbit_ref_int8_quant_rows, kbit_ref_int8_matmul_cols, kbit_ref_int8_mm_dequant,
    kbit_ref_int8_outlier_add, kbit_ref_int8_dequant_weight, kbit_ref_int8_backward,
};
#ifdef KBIT_HAVE_AVX2
const kbit_cpu_int8 kbit_cpu_int8_avx2 = {
    kbit_avx2_int8_quant_rows, kbit_avx2_int8_matmul, kbit_avx2_int8_mm_dequant,
    kbit_avx2_int8_outlier_add, kbit_avx2_int8_dequant_weight, kbit_avx2_int8_backward,
};
#endif
#ifdef KBIT_HAVE_AVX512
const kbit_cpu_int8 kbit_cpu_int8_avx512 = {
    kbit_avx512_int8_quant_rows, kbit_avx512_int8_matmul, kbit_avx512_int8_mm_dequant,
    kbit_avx512_int8_outlier_add, kbit_avx512_int8_dequant_weight, kbit_avx512_int8_backward,
};
#endif
#ifdef KBIT_HAVE_AVX512VNNI
/* The avx512 kernels with the VNNI GEMM. */
const kbit_cpu_int8 kbit_cpu_int8_avx512vnni = {
    kbit_avx512_int8_quant_rows, kbit_avx512vnni_int8_matmul, kbit_avx512_int8_mm_dequant,
    kbit_avx512_int8_outlier_add, kbit_avx512_int8_dequant_weight, kbit_avx512_int8_backward,
};
#endif

/* Pieces: one contiguous range per thread, whose bounds are multiples of
 * align (the SIMD kernels' tile widths). */
static int64_t per_thread(const cpu_ctx *c, int64_t total, int64_t align, double work)
{
    int64_t units = (total + align - 1) / align;
    int threads = kbit_cpu_split_threads(c, units, work);
    return (units + threads - 1) / threads * align;
}

/* ---- row-wise quantization ---- */

typedef struct quant_job {
    const kbit_cpu_int8 *k;
    const kbit_op_int8_quant *op;
    uint8_t *masks; /* one cols-byte mask per thread */
    int64_t n_outliers;
} quant_job;

static kbit_status quant_range(void *arg, int t, int64_t b, int64_t e)
{
    const quant_job *j = arg;
    /* each thread ORs into its own mask */
    j->k->quant_rows(j->op, b, e, j->op->use_threshold ? j->masks + t * j->op->cols : NULL);
    return KBIT_OK;
}

static kbit_status zero_range(void *arg, int t, int64_t b, int64_t e)
{
    (void)t;
    const quant_job *j = arg;
    kbit_ref_int8_zero_cols(j->op, j->n_outliers, b, e);
    return KBIT_OK;
}

static int quant_threads(const cpu_ctx *c, const kbit_op_int8_quant *op)
{
    return kbit_cpu_split_threads(c, op->rows, (double)(op->rows * op->cols));
}

size_t kbit_cpu_int8_workspace(const cpu_ctx *c, kbit_op_id id, const void *arg)
{
    if (id != KBIT_OP_INT8_QUANT)
        return 0;
    const kbit_op_int8_quant *op = arg;
    return op->use_threshold ? (size_t)quant_threads(c, op) * (size_t)op->cols : 0;
}

kbit_status kbit_cpu_int8_quant(void *ctx, const kbit_exec *ex, const kbit_op_int8_quant *op)
{
    const cpu_ctx *c = ctx;
    int threads = quant_threads(c, op);
    quant_job j = { c->v.int8, op, ex->workspace, 0 };
    if (op->use_threshold && op->cols > 0) /* no workspace at all for 0 columns */
        memset(j.masks, 0, (size_t)threads * (size_t)op->cols);
    double work = (double)(op->rows * op->cols);
    int64_t per = (op->rows + threads - 1) / threads;
    kbit_cpu_split(c, op->rows, per, work, quant_range, &j);
    if (!op->use_threshold)
        return KBIT_OK;
    for (int t = 1; t < threads; t++)
        for (int64_t col = 0; col < op->cols; col++)
            j.masks[col] |= j.masks[t * op->cols + col];
    j.n_outliers = kbit_ref_int8_compact(j.masks, op->cols, op->outlier_cols);
    *op->n_outliers = j.n_outliers;
    if (j.n_outliers > 0)
        kbit_cpu_split(c, op->rows, per_thread(c, op->rows, 1, (double)(op->rows * j.n_outliers)),
                       (double)(op->rows * j.n_outliers), zero_range, &j);
    return KBIT_OK;
}

/* ---- GEMM and the rest: one kernel call per range ---- */

typedef enum kind { K_MATMUL, K_MM_DEQUANT, K_OUTLIER, K_DEQUANT_WEIGHT, K_BACKWARD } kind;

typedef struct range_job {
    const kbit_cpu_int8 *k;
    kind kind;
    const void *op;
} range_job;

static kbit_status kernel_range(void *arg, int t, int64_t b, int64_t e)
{
    const range_job *j = arg;
    (void)t;
    switch (j->kind) {
    case K_MATMUL: j->k->matmul(j->op, b, e); break;
    case K_MM_DEQUANT: j->k->mm_dequant(j->op, b, e); break;
    case K_OUTLIER: j->k->outlier_add(j->op, b, e); break;
    case K_DEQUANT_WEIGHT: j->k->dequant_weight(j->op, b, e); break;
    case K_BACKWARD: j->k->backward(j->op, b, e); break;
    }
    return KBIT_OK;
}

static kbit_status run_kind(const cpu_ctx *c, kind kd, const void *op, int64_t total,
                            int64_t align, double work)
{
    range_job j = { c->v.int8, kd, op };
    return kbit_cpu_split(c, total, per_thread(c, total, align, work), work, kernel_range, &j);
}

kbit_status kbit_cpu_int8_matmul(void *ctx, const kbit_exec *ex, const kbit_op_int8_matmul *op)
{
    (void)ex;
    /* column tiles of 64: the SIMD kernels' panel widths divide it */
    return run_kind(ctx, K_MATMUL, op, op->N, 64, (double)op->M * op->N * (op->K + 1));
}

kbit_status kbit_cpu_int8_mm_dequant(void *ctx, const kbit_exec *ex,
                                     const kbit_op_int8_mm_dequant *op)
{
    (void)ex;
    return run_kind(ctx, K_MM_DEQUANT, op, op->M, 1, (double)op->M * op->N);
}

kbit_status kbit_cpu_int8_outlier_add(void *ctx, const kbit_exec *ex,
                                      const kbit_op_int8_outlier_add *op)
{
    (void)ex;
    int64_t n = *op->n_outliers;
    if (n == 0)
        return KBIT_OK;
    return run_kind(ctx, K_OUTLIER, op, op->N, 16, (double)op->M * op->N * n);
}

kbit_status kbit_cpu_int8_dequant_weight(void *ctx, const kbit_exec *ex,
                                         const kbit_op_int8_dequant_weight *op)
{
    (void)ex;
    return run_kind(ctx, K_DEQUANT_WEIGHT, op, op->rows, 1, (double)op->rows * op->cols);
}

kbit_status kbit_cpu_int8_backward(void *ctx, const kbit_exec *ex, const kbit_op_int8_backward *op)
{
    (void)ex;
    return run_kind(ctx, K_BACKWARD, op, op->K, 16, (double)op->M * op->K * (op->N + 1));
}

/* ---- GEMM with the gather of the outlier columns ---- */

/* Below this many rows of A the GEMM streams B once, row by row: run it over
 * chunks of 64 rows of B and gather each chunk's bytes while it is still in
 * L2. From it up, the packed kernels read B a panel at a time anyway and the
 * gather is small beside the arithmetic: one call, then the gather. */
#define GATHER_CHUNK_M 48
#define GATHER_CHUNK_N 64

typedef struct gather_job {
    const kbit_cpu_int8 *k;
    const kbit_op_int8_matmul_gather *g;
} gather_job;

static kbit_status gather_range(void *arg, int t, int64_t b, int64_t e)
{
    const gather_job *j = arg;
    (void)t;
    int64_t chunk = j->g->mm.M < GATHER_CHUNK_M ? GATHER_CHUNK_N : e - b;
    for (int64_t c = b; c < e; c += chunk) {
        int64_t ce = e - c < chunk ? e : c + chunk;
        j->k->matmul(&j->g->mm, c, ce);
        kbit_ref_int8_gather(j->g, c, ce);
    }
    return KBIT_OK;
}

kbit_status kbit_cpu_int8_matmul_gather(void *ctx, const kbit_exec *ex,
                                        const kbit_op_int8_matmul_gather *op)
{
    const cpu_ctx *c = ctx;
    int64_t n = *op->n_cols;
    if (n == 0 || n > op->capacity) /* nothing to gather, or too much: the plain GEMM */
        return kbit_cpu_int8_matmul(ctx, ex, &op->mm);
    gather_job j = { c->v.int8, op };
    double work = (double)op->mm.M * op->mm.N * (op->mm.K + 1);
    return kbit_cpu_split(c, op->mm.N, per_thread(c, op->mm.N, 64, work), work, gather_range, &j);
}
