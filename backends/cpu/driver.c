/*
 * backends/cpu/driver.c - the built-in CPU driver ("cpu").
 *
 * One device: the host. Memory is ordinary 64-byte-aligned host memory, copies
 * are memmove, and every op runs to completion before returning (sync is a
 * no-op). Ops split their blocks across OpenMP threads in chunks of whole
 * blocks; every block is computed the same way whatever thread runs it, so
 * results never depend on the thread count (determinism.md 1).
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "isa.h"
#include "kbit-formats.h"
#include "kernels.h"

/* Work below this many elements runs on the calling thread (waking a team
 * costs more than it saves); above it, chunks of about this many elements
 * are handed out. */
#define KBIT_CPU_PARALLEL_MIN (1 << 16)
#define KBIT_CPU_CHUNK (1 << 15)
/* The 8-bit bucket table (256 KiB to fill) pays off from about this many elements. */
#define KBIT_CPU_BUCKETS_MIN (1 << 15)

static const kbit_host *host;

static void set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Record the failure message with the core (kbit_last_error). */
static void set_error(const char *fmt, ...)
{
    if (host == NULL || host->set_error == NULL)
        return;
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    host->set_error("%s", message);
}

typedef struct cpu_ctx {
    const kbit_cpu_kernels *kernels;
    int threads;
    char name[128];
} cpu_ctx;

/* ------------------------------------------------------------------ */
/* Device                                                               */

static int cpu_device_count(const char **reason)
{
    (void)reason;
    return 1;
}

/* "model name" of /proc/cpuinfo, else "CPU". */
static void cpu_model_name(char *name, size_t len)
{
    snprintf(name, len, "CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f == NULL)
        return;
    char line[512];
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "model name", 10) != 0)
            continue;
        const char *colon = strchr(line, ':');
        if (colon == NULL)
            continue;
        const char *s = colon + 1;
        while (*s == ' ' || *s == '\t')
            s++;
        size_t n = strcspn(s, "\r\n");
        while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        if (n > 0)
            snprintf(name, len, "%.*s", (int)n, s);
        break;
    }
    fclose(f);
}

static kbit_status cpu_device_open(int index, void **ctx)
{
    if (index != 0) {
        set_error("the cpu driver has one device (cpu:0), not %d", index);
        return KBIT_ENODEV;
    }
    const kbit_cpu_kernels *kernels = NULL;
    char why[256];
    kbit_status st = kbit_cpu_choose_kernels(getenv("KBIT_CPU_ISA"), &kernels, why, sizeof why);
    if (st != KBIT_OK) {
        set_error("%s", why);
        return st;
    }
    cpu_ctx *c = calloc(1, sizeof *c);
    if (c == NULL) {
        set_error("cpu driver: out of host memory");
        return KBIT_ENOMEM;
    }
    c->kernels = kernels;
#ifdef _OPENMP
    c->threads = omp_get_max_threads();
#else
    c->threads = 1;
#endif
    if (c->threads < 1)
        c->threads = 1;
    cpu_model_name(c->name, sizeof c->name);
    *ctx = c;
    return KBIT_OK;
}

static void cpu_device_close(void *ctx)
{
    free(ctx);
}

static kbit_status cpu_device_info(void *ctx, kbit_device_info *info)
{
    const cpu_ctx *c = ctx;
    snprintf(info->driver, sizeof info->driver, "cpu");
    snprintf(info->name, sizeof info->name, "%s", c->name);
    snprintf(info->variant, sizeof info->variant, "%s", c->kernels->name);
    info->index = 0;
#ifdef _OPENMP
    info->threads = c->threads;
#else
    info->threads = 1;
#endif
    info->memory_bytes = 0;
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGESIZE)
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0)
        info->memory_bytes = (uint64_t)pages * (uint64_t)page;
#endif
    return KBIT_OK;
}

static kbit_status cpu_set_threads(void *ctx, int threads)
{
    if (threads < 1) {
        set_error("cpu driver: threads = %d must be >= 1", threads);
        return KBIT_EINVAL;
    }
    ((cpu_ctx *)ctx)->threads = threads;
    return KBIT_OK;
}

static kbit_status cpu_set_stream(void *ctx, void *stream)
{
    (void)ctx;
    if (stream != NULL) {
        set_error("cpu driver: it has no streams; only a NULL stream is accepted");
        return KBIT_EINVAL;
    }
    return KBIT_OK;
}

/* ------------------------------------------------------------------ */
/* Memory                                                               */

static kbit_status cpu_mem_alloc(void *ctx, size_t bytes, void **ptr)
{
    (void)ctx;
    if (bytes > SIZE_MAX - 63) {
        set_error("cpu driver: %zu bytes cannot be allocated", bytes);
        return KBIT_ENOMEM;
    }
    size_t rounded = bytes == 0 ? 64 : (bytes + 63) & ~(size_t)63; /* aligned_alloc wants a multiple */
    void *p = aligned_alloc(64, rounded);
    if (p == NULL) {
        set_error("cpu driver: out of host memory for %zu bytes", bytes);
        return KBIT_ENOMEM;
    }
    *ptr = p;
    return KBIT_OK;
}

static kbit_status cpu_mem_free(void *ctx, void *ptr)
{
    (void)ctx;
    free(ptr);
    return KBIT_OK;
}

static kbit_status cpu_mem_copy(void *ctx, void *dst, const void *src, size_t bytes,
                                kbit_copy_kind kind)
{
    (void)ctx;
    (void)kind;
    if (bytes > 0)
        memmove(dst, src, bytes);
    return KBIT_OK;
}

static kbit_status cpu_sync(void *ctx)
{
    (void)ctx;
    return KBIT_OK;
}

/* ------------------------------------------------------------------ */
/* Ops                                                                  */

typedef enum op_kind { OP_Q4, OP_DQ4, OP_Q8, OP_DQ8, OP_SUMS } op_kind;

typedef struct job {
    const kbit_cpu_kernels *k;
    op_kind kind;
    const void *op;
    const kbit_enc8_plan *plan; /* OP_Q8 */
} job;

static void run_range(const job *j, int64_t b0, int64_t b1)
{
    switch (j->kind) {
    case OP_Q4: j->k->quantize_4bit(j->op, b0, b1); break;
    case OP_DQ4: j->k->dequantize_4bit(j->op, b0, b1); break;
    case OP_Q8: j->k->quantize_8bit(j->op, j->plan, b0, b1); break;
    case OP_DQ8: j->k->dequantize_8bit(j->op, b0, b1); break;
    case OP_SUMS: j->k->block_sums(j->op, b0, b1); break;
    }
}

/* Run blocks [0, nblocks) of blocksize elements (n in all) on the device's threads. */
static void run_blocks(const cpu_ctx *c, const job *j, int64_t n, int64_t blocksize)
{
    int64_t nblocks = (n + blocksize - 1) / blocksize;
    int64_t per_chunk = blocksize >= KBIT_CPU_CHUNK ? 1 : KBIT_CPU_CHUNK / blocksize;
    int64_t nchunks = (nblocks + per_chunk - 1) / per_chunk;
    int threads = c->threads;
    if (threads > nchunks)
        threads = (int)nchunks;
#ifdef _OPENMP
    if (threads > 1 && n >= KBIT_CPU_PARALLEL_MIN) {
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int64_t i = 0; i < nchunks; i++) {
            int64_t b0 = i * per_chunk;
            int64_t b1 = b0 + per_chunk < nblocks ? b0 + per_chunk : nblocks;
            run_range(j, b0, b1);
        }
        return;
    }
#endif
    run_range(j, 0, nblocks);
}

static kbit_status cpu_quantize_4bit(void *ctx, const kbit_op_quantize_4bit *op)
{
    const cpu_ctx *c = ctx;
    job j = { c->kernels, OP_Q4, op, NULL };
    run_blocks(c, &j, op->n, op->blocksize);
    return KBIT_OK;
}

static kbit_status cpu_dequantize_4bit(void *ctx, const kbit_op_dequantize_4bit *op)
{
    const cpu_ctx *c = ctx;
    job j = { c->kernels, OP_DQ4, op, NULL };
    run_blocks(c, &j, op->n, op->blocksize);
    return KBIT_OK;
}

static kbit_status cpu_quantize_8bit(void *ctx, const kbit_op_quantize_8bit *op)
{
    const cpu_ctx *c = ctx;
    kbit_enc8_plan plan;
    kbit_enc8_plan_storage storage;
    kbit_enc8_plan_init(&plan, &storage, op->mid,
                        c->kernels->uses_buckets && op->n >= KBIT_CPU_BUCKETS_MIN);
    job j = { c->kernels, OP_Q8, op, &plan };
    run_blocks(c, &j, op->n, op->blocksize);
    kbit_enc8_plan_release(&plan);
    return KBIT_OK;
}

static kbit_status cpu_dequantize_8bit(void *ctx, const kbit_op_dequantize_8bit *op)
{
    const cpu_ctx *c = ctx;
    job j = { c->kernels, OP_DQ8, op, NULL };
    run_blocks(c, &j, op->n, op->blocksize);
    return KBIT_OK;
}

static kbit_status cpu_block_sums(void *ctx, const kbit_op_block_sums *op)
{
    const cpu_ctx *c = ctx;
    job j = { c->kernels, OP_SUMS, op, NULL };
    run_blocks(c, &j, op->n, KBIT_PAIRSUM_LEAF);
    return KBIT_OK;
}

static const kbit_driver cpu_driver = {
    .abi_version = KBIT_DRIVER_ABI_VERSION,
    .struct_size = sizeof(kbit_driver),
    .name = "cpu",
    .description = "built-in CPU driver (scalar, AVX2 and AVX-512 variants; OpenMP threads)",
    .priority = 0,
    .device_count = cpu_device_count,
    .device_open = cpu_device_open,
    .device_close = cpu_device_close,
    .device_info = cpu_device_info,
    .set_threads = cpu_set_threads,
    .set_stream = cpu_set_stream,
    .mem_alloc = cpu_mem_alloc,
    .mem_free = cpu_mem_free,
    .mem_copy = cpu_mem_copy,
    .sync = cpu_sync,
    .quantize_4bit = cpu_quantize_4bit,
    .dequantize_4bit = cpu_dequantize_4bit,
    .quantize_8bit = cpu_quantize_8bit,
    .dequantize_8bit = cpu_dequantize_8bit,
    .block_sums = cpu_block_sums,
};

/* Declared for the core in lib/registry.h; linked statically, hidden. */
const kbit_driver *kbit_cpu_driver_entry(const kbit_host *h);

const kbit_driver *kbit_cpu_driver_entry(const kbit_host *h)
{
    host = h;
    return &cpu_driver;
}
