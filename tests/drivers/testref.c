/* tests/drivers/testref.c - a test-only driver plugin, "testref": the scalar
 * reference kernels of backends/cpu/<family>/ref.c behind the plugin ABI
 * (2.1, every slot), on host memory, one thread. It proves that the plugin
 * path (dlopen, the entry symbol, the table, dispatch through the core) works
 * and gives the same bits as the built-in driver, and it is one more target
 * for the conformance and golden tests. Priority -10, so "auto" never picks
 * it.
 *
 * It also exercises what a GPU driver has and the CPU driver does not:
 *  - streams: any pointer is accepted as a stream, and every op records the
 *    stream it was given in a per-thread slot that tests read through the
 *    extra symbol kbit_testref_last_stream();
 *  - workspace: every op asks for some and scribbles over all of it first,
 *    so a core that let its own intermediates overlap the driver's part, or
 *    relied on what the workspace held, would give wrong bits;
 *  - weight preparation (2.1): prepared 4-bit and int8 weights are copies
 *    the driver owns, and the ops then get NULL for the plain weight.
 *
 * Built with KBIT_TESTREF_FAULT it is the driver "testfault"
 * (tests/drivers/fault/kbit-testfault.so, off KBIT_DRIVER_PATH): the same,
 * but its 8-bit quantize flips the low bit of one code in every call with
 * n >= 4096, so that tests/test-conformance-fault.sh shows that `kbit
 * conformance` catches a single wrong bit. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "kbit-driver.h"
#include "kbit-formats.h"
#include "gemm4/gemm4.h"
#include "int8/int8.h"
#include "optim/optim.h"
#include "quant4/quant4.h"
#include "quant8/quant8.h"
#include "numerics/optim_scales.h"

#ifdef KBIT_TESTREF_FAULT
#define DRIVER_NAME "testfault"
#else
#define DRIVER_NAME "testref"
#endif

static const kbit_host *host;

/* The single device has no state; the context only has to be non-NULL. */
static int device_ctx;

/* The stream the last op of this thread ran on (tests read it). */
static _Thread_local void *last_stream;

KBIT_API void *kbit_testref_last_stream(void);
KBIT_API void *kbit_testref_last_stream(void)
{
    return last_stream;
}

static int64_t blocks_of(int64_t n, int64_t blocksize)
{
    return n / blocksize + (n % blocksize != 0);
}

/* Every op: note the stream, spoil the workspace. */
#define WORKSPACE_BYTES 4096
static void begin(const kbit_exec *ex)
{
    last_stream = ex->stream;
    if (ex->workspace != NULL)
        memset(ex->workspace, 0xa5, ex->workspace_bytes);
}

static size_t workspace_bytes(void *ctx, kbit_op_id id, const void *op)
{
    (void)ctx;
    (void)op;
    (void)id;
    return WORKSPACE_BYTES;
}

static int device_count(const char **reason)
{
    (void)reason;
    return 1;
}

static kbit_status device_open(int index, void **ctx)
{
    if (index != 0) {
        host->set_error("testref: no device %d (there is one)", index);
        return KBIT_ENODEV;
    }
    *ctx = &device_ctx;
    return KBIT_OK;
}

static void device_close(void *ctx)
{
    (void)ctx;
}

static kbit_status device_info(void *ctx, kbit_device_info *info)
{
    (void)ctx;
    memset(info, 0, sizeof *info);
    strcpy(info->name, "scalar reference kernels (test driver)");
    strcpy(info->variant, "ref");
    info->threads = 1;
    return KBIT_OK;
}

static kbit_status mem_alloc(void *ctx, size_t bytes, kbit_mem_kind kind, void **ptr)
{
    (void)ctx;
    (void)kind;
    /* 64-byte aligned; a 0-byte request still gets a unique pointer */
    size_t rounded = (bytes + 63) / 64 * 64;
    void *p = rounded >= bytes ? aligned_alloc(64, rounded ? rounded : 64) : NULL;
    if (p == NULL) {
        host->set_error("testref: cannot allocate %zu bytes", bytes);
        return KBIT_ENOMEM;
    }
    *ptr = p;
    return KBIT_OK;
}

static kbit_status mem_free(void *ctx, void *ptr)
{
    (void)ctx;
    free(ptr);
    return KBIT_OK;
}

static kbit_status mem_copy(void *ctx, void *stream, void *dst, const void *src, size_t bytes,
                            kbit_copy_kind kind)
{
    (void)ctx;
    (void)kind;
    last_stream = stream;
    memmove(dst, src, bytes);
    return KBIT_OK;
}

static kbit_status sync_device(void *ctx, void *stream)
{
    (void)ctx;
    (void)stream;
    return KBIT_OK;
}

static kbit_status mem_prefetch(void *ctx, void *stream, const void *ptr, size_t bytes,
                                int to_device)
{
    (void)ctx;
    (void)ptr;
    (void)bytes;
    (void)to_device;
    last_stream = stream;
    return KBIT_OK;
}

/* ---- quantization ---- */

static kbit_status quantize_4bit(void *ctx, const kbit_exec *ex, const kbit_op_quantize_4bit *op)
{
    (void)ctx;
    begin(ex);
    kbit_ref_quantize_4bit(op, 0, blocks_of(op->n, op->blocksize));
    return KBIT_OK;
}

static kbit_status dequantize_4bit(void *ctx, const kbit_exec *ex,
                                   const kbit_op_dequantize_4bit *op)
{
    (void)ctx;
    begin(ex);
    kbit_ref_dequantize_4bit(op, 0, blocks_of(op->n, op->blocksize));
    return KBIT_OK;
}

static kbit_status quantize_8bit(void *ctx, const kbit_exec *ex, const kbit_op_quantize_8bit *op)
{
    (void)ctx;
    begin(ex);
    kbit_ref_quantize_8bit(op, 0, blocks_of(op->n, op->blocksize));
#ifdef KBIT_TESTREF_FAULT
    if (op->n >= 4096)
        op->q[op->n / 2] ^= 1; /* the planted fault */
#endif
    return KBIT_OK;
}

static kbit_status dequantize_8bit(void *ctx, const kbit_exec *ex,
                                   const kbit_op_dequantize_8bit *op)
{
    (void)ctx;
    begin(ex);
    kbit_ref_dequantize_8bit(op, 0, blocks_of(op->n, op->blocksize));
    return KBIT_OK;
}

static kbit_status block_sums(void *ctx, const kbit_exec *ex, const kbit_op_block_sums *op)
{
    (void)ctx;
    begin(ex);
    kbit_ref_block_sums(op, 0, blocks_of(op->n, KBIT_PAIRSUM_LEAF));
    return KBIT_OK;
}

static kbit_status pairsum(void *ctx, const kbit_exec *ex, const kbit_op_pairsum *op)
{
    (void)ctx;
    begin(ex);
    kbit_ref_pairsum(op);
    return KBIT_OK;
}

/* ---- optimizers ---- */

static kbit_status optimizer_step(void *ctx, const kbit_exec *ex, const kbit_op_optimizer *op)
{
    (void)ctx;
    begin(ex);
    kbit_ref_optimizer_step(op, 0, blocks_of(op->n, KBIT_OPTIM_BLOCK));
    return KBIT_OK;
}

static kbit_status optimizer_step_many(void *ctx, const kbit_exec *ex,
                                       const kbit_op_optimizer *const *ops, int64_t count)
{
    for (int64_t i = 0; i < count; i++)
        optimizer_step(ctx, ex, ops[i]);
    return KBIT_OK;
}

static kbit_status optimizer_sums(void *ctx, const kbit_exec *ex,
                                  const kbit_op_optimizer_sums *op)
{
    (void)ctx;
    begin(ex);
    kbit_ref_optimizer_sums(op, 0, blocks_of(op->step->n, KBIT_OPTIM_BLOCK));
    return KBIT_OK;
}

static kbit_status optimizer_scales(void *ctx, const kbit_exec *ex,
                                    const kbit_op_optimizer_scales *op)
{
    (void)ctx;
    begin(ex);
    kbit_optim_scales(op);
    return KBIT_OK;
}

/* ---- LLM.int8() ---- */

/* A prepared int8 weight: the driver's own copy of CB. */
typedef struct int8_weight {
    int8_t *CB;
} int8_weight;

static const int8_t *weight_cb(const int8_t *CB, const void *prepared)
{
    return prepared ? ((const int8_weight *)prepared)->CB : CB;
}

static kbit_status int8_quant(void *ctx, const kbit_exec *ex, const kbit_op_int8_quant *op)
{
    (void)ctx;
    begin(ex);
    uint8_t *colmask = op->use_threshold ? malloc((size_t)op->cols + 1) : NULL;
    if (op->use_threshold && colmask == NULL) {
        host->set_error("testref: out of memory for the outlier mask");
        return KBIT_ENOMEM;
    }
    kbit_status st = kbit_ref_int8_quant(op, colmask);
    free(colmask);
    return st;
}

static kbit_status int8_matmul(void *ctx, const kbit_exec *ex, const kbit_op_int8_matmul *op)
{
    (void)ctx;
    begin(ex);
    kbit_op_int8_matmul m = *op;
    m.B = weight_cb(op->B, op->prepared_B);
    kbit_ref_int8_matmul(&m, 0, m.M, 0, m.N);
    return KBIT_OK;
}

static kbit_status int8_mm_dequant(void *ctx, const kbit_exec *ex,
                                   const kbit_op_int8_mm_dequant *op)
{
    (void)ctx;
    begin(ex);
    kbit_ref_int8_mm_dequant(op, 0, op->M);
    return KBIT_OK;
}

static kbit_status int8_outlier_add(void *ctx, const kbit_exec *ex,
                                    const kbit_op_int8_outlier_add *op)
{
    (void)ctx;
    begin(ex);
    kbit_op_int8_outlier_add o = *op;
    o.CB = weight_cb(op->CB, op->prepared_B);
    kbit_ref_int8_outlier_add(&o, 0, o.N);
    return KBIT_OK;
}

static kbit_status int8_dequant_weight(void *ctx, const kbit_exec *ex,
                                       const kbit_op_int8_dequant_weight *op)
{
    (void)ctx;
    begin(ex);
    kbit_ref_int8_dequant_weight(op, 0, op->rows);
    return KBIT_OK;
}

static kbit_status int8_backward(void *ctx, const kbit_exec *ex, const kbit_op_int8_backward *op)
{
    (void)ctx;
    begin(ex);
    kbit_op_int8_backward b = *op;
    b.CB = weight_cb(op->CB, op->prepared_B);
    kbit_ref_int8_backward(&b, 0, b.K);
    return KBIT_OK;
}

static kbit_status int8_prepare(void *ctx, const kbit_exec *ex, const kbit_op_int8_prepare *op,
                                void **weight, size_t *bytes)
{
    (void)ctx;
    begin(ex);
    int8_weight *w = malloc(sizeof *w);
    size_t n = (size_t)(op->N * op->K);
    if (w == NULL || (w->CB = malloc(n)) == NULL) {
        free(w);
        host->set_error("testref: out of memory for a prepared int8 weight");
        return KBIT_ENOMEM;
    }
    memcpy(w->CB, op->CB, n);
    *weight = w;
    *bytes = n;
    return KBIT_OK;
}

static void int8_release(void *ctx, void *weight)
{
    (void)ctx;
    int8_weight *w = weight;
    free(w->CB);
    free(w);
}

/* ---- 4-bit matmul ---- */

/* A prepared 4-bit weight: the driver's own copies of the bytes and the
 * fp32 absmax'. */
typedef struct gemm4_weight {
    uint8_t *packed;
    float *absmax;
} gemm4_weight;

static kbit_op_gemm_4bit with_weight(const kbit_op_gemm_4bit *op)
{
    kbit_op_gemm_4bit g = *op;
    if (op->prepared != NULL) {
        const gemm4_weight *w = op->prepared;
        g.packed = w->packed;
        g.absmax = w->absmax;
    }
    return g;
}

static kbit_status gemm_4bit(void *ctx, const kbit_exec *ex, const kbit_op_gemm_4bit *op)
{
    (void)ctx;
    begin(ex);
    kbit_op_gemm_4bit g = with_weight(op);
    return kbit_ref_gemm_4bit(&g, NULL, 0, g.N);
}

static kbit_status gemm_4bit_backward(void *ctx, const kbit_exec *ex,
                                      const kbit_op_gemm_4bit *op)
{
    (void)ctx;
    begin(ex);
    kbit_op_gemm_4bit g = with_weight(op);
    return kbit_ref_gemm_4bit_backward(&g, NULL, 0, g.K);
}

static kbit_status gemm4_prepare(void *ctx, const kbit_exec *ex, const kbit_op_gemm4_prepare *op,
                                 void **weight, size_t *bytes)
{
    (void)ctx;
    begin(ex);
    size_t packed = (size_t)((op->N * op->K + 1) / 2);
    size_t nblocks = (size_t)blocks_of(op->N * op->K, op->blocksize);
    gemm4_weight *w = calloc(1, sizeof *w);
    if (w == NULL || (w->packed = malloc(packed)) == NULL ||
        (w->absmax = malloc(nblocks * sizeof(float))) == NULL) {
        if (w)
            free(w->packed);
        free(w);
        host->set_error("testref: out of memory for a prepared 4-bit weight");
        return KBIT_ENOMEM;
    }
    memcpy(w->packed, op->packed, packed);
    memcpy(w->absmax, op->absmax, nblocks * sizeof(float));
    *weight = w;
    *bytes = packed + nblocks * sizeof(float);
    return KBIT_OK;
}

static void gemm4_release(void *ctx, void *weight)
{
    (void)ctx;
    gemm4_weight *w = weight;
    free(w->packed);
    free(w->absmax);
    free(w);
}

static const kbit_driver table = {
    .abi_major = KBIT_DRIVER_ABI_MAJOR,
    .abi_minor = KBIT_DRIVER_ABI_MINOR,
    .struct_size = sizeof(kbit_driver),
    .flags = KBIT_DRIVER_STREAMS,
    .name = DRIVER_NAME,
    .description = "test-only: the scalar reference kernels as a plugin (host memory, 1 thread)",
    .priority = -10,
    .families = KBIT_FAMILY_ALL,
    .mem_kinds = KBIT_MEM_KIND_BIT(KBIT_MEM_MANAGED) | KBIT_MEM_KIND_BIT(KBIT_MEM_HOST_PINNED),
    .device_count = device_count,
    .device_open = device_open,
    .device_close = device_close,
    .device_info = device_info,
    .set_threads = NULL, /* one thread only: the core refuses any other count */
    .mem_alloc = mem_alloc,
    .mem_free = mem_free,
    .mem_copy = mem_copy,
    .sync = sync_device,
    .workspace_bytes = workspace_bytes,
    .quantize_4bit = quantize_4bit,
    .dequantize_4bit = dequantize_4bit,
    .quantize_8bit = quantize_8bit,
    .dequantize_8bit = dequantize_8bit,
    .block_sums = block_sums,
    .pairsum = pairsum,
    .optimizer_step = optimizer_step,
    .optimizer_sums = optimizer_sums,
    .optimizer_scales = optimizer_scales,
    .int8_quant = int8_quant,
    .int8_matmul = int8_matmul,
    .int8_mm_dequant = int8_mm_dequant,
    .int8_outlier_add = int8_outlier_add,
    .int8_dequant_weight = int8_dequant_weight,
    .int8_backward = int8_backward,
    .int8_matmul_gather = NULL, /* optional: the outlier part then reads CB itself */
    .gemm_4bit = gemm_4bit,
    .gemm_4bit_backward = gemm_4bit_backward,
    .mem_prefetch = mem_prefetch,
    .gemm4_prepare = gemm4_prepare,
    .gemm4_release = gemm4_release,
    .int8_prepare = int8_prepare,
    .int8_release = int8_release,
    .optimizer_step_many = optimizer_step_many,
};

KBIT_API const kbit_driver *kbit_driver_entry(const kbit_host *h)
{
    host = h;
    return &table;
}
