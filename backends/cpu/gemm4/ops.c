/*
 * backends/cpu/gemm4/ops.c - the CPU driver's 4-bit matmul ops: transpose
 * the activations once per call into the workspace (gemm4.h) and give the
 * splitter the outputs: weight rows for the forward, weight columns for the
 * backward, in pieces of whole 16-row (column) groups. And the family's
 * kernel tables.
 */
#include "config.h"

#include <string.h>

#include "numerics/encode.h"
#include "../split.h"

/* The reference reads the fp32 rows: no transposed copy. */
static kbit_status ref_forward(const kbit_op_gemm_4bit *op, const float *a32, const float *at,
                               int64_t n_begin, int64_t n_end)
{
    (void)at;
    return kbit_ref_gemm_4bit(op, a32, n_begin, n_end);
}

const kbit_cpu_gemm4 kbit_cpu_gemm4_scalar = { 0, ref_forward, kbit_ref_gemm_4bit_backward };
#ifdef KBIT_HAVE_AVX2
const kbit_cpu_gemm4 kbit_cpu_gemm4_avx2 = { 1, kbit_avx2_gemm_4bit,
                                             kbit_avx2_gemm_4bit_backward };
#endif
#ifdef KBIT_HAVE_AVX512
const kbit_cpu_gemm4 kbit_cpu_gemm4_avx512 = { 1, kbit_avx512_gemm_4bit,
                                               kbit_avx512_gemm_4bit_backward };
#endif
#ifdef KBIT_HAVE_AMX
const kbit_cpu_gemm4_fast kbit_cpu_gemm4_fast_amx = { "amx-bf16", KBIT_BF16, 32, 2,
                                                      kbit_bf16_gemm_4bit_panel_bytes,
                                                      kbit_amx_gemm_4bit };
#endif
#ifdef KBIT_HAVE_AVX512BF16
/* From M = 10: its cost hardly depends on M up to 16 (one m tile); on an
 * EPYC of family 1Ah (4096x4096, 1 thread) it took 2.0-2.2 ms at M = 2..8
 * and 2.3-2.4 at 16, the exact kernel 0.6, 1.2, 1.9-2.2 and 3.5 ms at
 * M = 2, 4, 8, 16. */
const kbit_cpu_gemm4_fast kbit_cpu_gemm4_fast_avx512bf16 = {
    "avx512-bf16", KBIT_BF16, 32, 10, kbit_bf16_gemm_4bit_panel_bytes,
    kbit_avx512bf16_gemm_4bit,
};
#endif

/* About this many weights per piece; pieces are whole multiples of 16 rows
 * (columns) so the kernels' row groups stay intact. */
#define GEMM4_PIECE_WEIGHTS (1 << 18)
#define GEMM4_PIECE_ALIGN 16

typedef struct gemm4_job {
    const kbit_cpu_gemm4 *k;
    const kbit_op_gemm_4bit *op;
    const float *a32, *at;
    int backward;
    const kbit_cpu_gemm4_fast *fast; /* non-NULL: the forward runs it */
    kbit_cpu_gemm4_fast_args fast_args;
} gemm4_job;

static kbit_status run(void *arg, int thread, int64_t i0, int64_t i1)
{
    const gemm4_job *j = arg;
    if (j->backward)
        return j->k->backward(j->op, j->a32, i0, i1);
    if (j->fast != NULL)
        return j->fast->forward(j->op, &j->fast_args, thread, i0, i1);
    return j->k->forward(j->op, j->a32, j->at, i0, i1);
}

/* Outputs [0, count) (rows or columns), each over `depth` weights, M times. */
static kbit_status run_split(const cpu_ctx *c, const gemm4_job *j, int64_t count, int64_t depth)
{
    int64_t per = depth > 0 ? GEMM4_PIECE_WEIGHTS / depth : count;
    per = (per + GEMM4_PIECE_ALIGN - 1) / GEMM4_PIECE_ALIGN * GEMM4_PIECE_ALIGN;
    if (per < GEMM4_PIECE_ALIGN)
        per = GEMM4_PIECE_ALIGN;
    double work = (double)count * (double)depth * (double)j->op->M;
    return kbit_cpu_split(c, count, per, work, run, (void *)j);
}

/* The workspace of a call: the activation as fp32 rows [M, cols], then
 * (forward, SIMD variants) its transposed layout (gemm4.h). */
static size_t rows_bytes(const kbit_op_gemm_4bit *op, int backward)
{
    return (size_t)(op->M * (backward ? op->N : op->K)) * sizeof(float);
}

static size_t transposed_bytes(const kbit_op_gemm_4bit *op)
{
    return (size_t)(op->M * kbit_cpu_gemm4_row_floats(op->K)) * sizeof(float);
}

static int wants_transposed(const cpu_ctx *c, const kbit_op_gemm_4bit *op)
{
    return c->v.gemm4->transposed && op->K > 0;
}

/* Fast mode: the op asks for it, the variant has a fast kernel for its
 * dtype and K, and M is at least the kernel's min_m (> 1: a GEMV has
 * nothing to gain, it reads the weight once either way). The data may
 * still send it to the exact kernel. */
static const kbit_cpu_gemm4_fast *fast_kernel(const cpu_ctx *c, const kbit_op_gemm_4bit *op)
{
    const kbit_cpu_gemm4_fast *f = c->v.gemm4_fast;
    if (op->mode != KBIT_MATH_FAST || f == NULL || op->dtype != f->dtype || op->M < f->min_m ||
        op->K == 0 || op->K % f->k_multiple != 0)
        return NULL;
    return f;
}

static size_t avnni_bytes(const kbit_op_gemm_4bit *op)
{
    return (size_t)kbit_cpu_gemm4_avnni_words(op->M, op->K) * sizeof(uint32_t);
}

/* The fast kernel's work memory: the activation, then a panel per thread. */
static size_t fast_bytes(const cpu_ctx *c, const kbit_cpu_gemm4_fast *f,
                         const kbit_op_gemm_4bit *op)
{
    return kbit_cpu_align64(avnni_bytes(op)) + (size_t)c->threads * f->panel_bytes(op->K);
}

size_t kbit_cpu_gemm4_workspace(const cpu_ctx *c, kbit_op_id id, const void *arg)
{
    const kbit_op_gemm_4bit *op = arg;
    if (id == KBIT_OP_GEMM_4BIT_BACKWARD)
        return kbit_cpu_align64(rows_bytes(op, 1));
    if (id != KBIT_OP_GEMM_4BIT)
        return 0;
    /* after the rows: the fast kernel's memory or the transposed copy, the
     * larger (the data decide at run time which one is used) */
    size_t t = wants_transposed(c, op) ? transposed_bytes(op) : 0;
    size_t f = fast_kernel(c, op) ? fast_bytes(c, fast_kernel(c, op), op) : 0;
    return kbit_cpu_align64(rows_bytes(op, 0)) + (t > f ? t : f);
}

/* The fp32 rows -> the transposed layout of gemm4.h. */
static void transpose_a(const kbit_op_gemm_4bit *op, const float *a32, float *at)
{
    memset(at, 0, transposed_bytes(op));
    for (int64_t m = 0; m < op->M; m++)
        for (int64_t k = 0; k < op->K; k++)
            at[kbit_cpu_gemm4_at_index(op->K, m, k)] = a32[m * op->K + k];
}

/* The bf16 activation -> the fast kernels' pairs (gemm4.h); 0 (nothing
 * packed) if an element breaks the magnitude rule. */
static int pack_avnni(const kbit_op_gemm_4bit *op, const float *a32, uint32_t *avnni)
{
    const int64_t M = op->M, K = op->K, steps = K / 32;
    int bad = 0;
    for (int64_t i = 0; i < M * K; i++)
        bad |= !kbit_cpu_gemm4_fast_magnitude_ok(a32[i]);
    if (bad)
        return 0;
    if (M % 16 != 0) /* the last tile's rows past M */
        memset(avnni + (M / 16) * 16 * K / 2, 0, (size_t)(16 * K / 2) * sizeof(uint32_t));
    const uint16_t *a = op->a;
    for (int64_t m = 0; m < M; m++) {
        uint32_t *dst = avnni + (m / 16) * 16 * K / 2 + m % 16;
        for (int64_t s = 0; s < steps; s++)
            for (int p = 0; p < 16; p++) {
                uint32_t pair; /* elements 32 s + 2p (low half) and + 1 */
                memcpy(&pair, a + m * K + 32 * s + 2 * p, sizeof pair);
                dst[(s * 16 + p) * 16] = pair;
            }
    }
    return 1;
}

kbit_status kbit_cpu_gemm_4bit(void *ctx, const kbit_exec *ex, const kbit_op_gemm_4bit *op)
{
    const cpu_ctx *c = ctx;
    float *a32 = ex->workspace; /* NULL when K == 0 */
    if (op->K > 0)
        kbit_load_f32(op->a, op->dtype, 0, op->M * op->K, a32);
    gemm4_job j = { c->v.gemm4, op, a32, NULL, 0, NULL, { 0 } };
    /* past the rows (no workspace at all when K == 0) */
    char *next = op->K > 0 ? (char *)ex->workspace + kbit_cpu_align64(rows_bytes(op, 0)) : NULL;
    const kbit_cpu_gemm4_fast *fast = fast_kernel(c, op);
    if (fast != NULL && pack_avnni(op, a32, (uint32_t *)next)) {
        j.fast = fast;
        j.fast_args = (kbit_cpu_gemm4_fast_args){ (const uint32_t *)next, a32,
                                                  next + kbit_cpu_align64(avnni_bytes(op)),
                                                  fast->panel_bytes(op->K) };
        return run_split(c, &j, op->N, op->K);
    }
    if (wants_transposed(c, op)) {
        float *at = (float *)next;
        transpose_a(op, a32, at);
        j.at = at;
    }
    return run_split(c, &j, op->N, op->K);
}

kbit_status kbit_cpu_gemm_4bit_backward(void *ctx, const kbit_exec *ex,
                                        const kbit_op_gemm_4bit *op)
{
    const cpu_ctx *c = ctx;
    float *a32 = ex->workspace; /* NULL when N == 0 */
    if (op->N > 0)
        kbit_load_f32(op->a, op->dtype, 0, op->M * op->N, a32);
    gemm4_job j = { c->v.gemm4, op, a32, NULL, 1, NULL, { 0 } };
    return run_split(c, &j, op->K, op->N);
}
