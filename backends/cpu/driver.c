/*
 * backends/cpu/driver.c - the built-in CPU driver ("cpu"): its table, the
 * device and memory. The ops are in ops.c.
 *
 * One device: the host. Memory of every kind is ordinary 64-byte-aligned
 * host memory, copies are memmove, there are no streams, and every op runs
 * to completion before returning (sync is a no-op).
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

#include "cpu.h"
#include "isa.h"

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
    kbit_cpu_variant variant;
    char why[256];
    kbit_status st = kbit_cpu_choose_variant(getenv("KBIT_CPU_ISA"), &variant, why, sizeof why);
    if (st == KBIT_OK)
        st = kbit_cpu_choose_tuning(getenv("KBIT_CPU_TUNING"), &variant, why, sizeof why);
    if (st == KBIT_OK)
        st = kbit_cpu_choose_fast(getenv("KBIT_CPU_FAST"), &variant, why, sizeof why);
    if (st != KBIT_OK) {
        set_error("%s", why);
        return st;
    }
    cpu_ctx *c = calloc(1, sizeof *c);
    if (c == NULL) {
        set_error("cpu driver: out of host memory");
        return KBIT_ENOMEM;
    }
    c->v = variant;
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
    /* "avx512/zen4": the ISA variant, then the tuning (none for scalar),
     * then "+" and fast mode's kernel when there is one ("+amx-bf16") */
    snprintf(info->variant, sizeof info->variant, "%s%s%s%s%s", c->v.name,
             c->v.tuning ? "/" : "", c->v.tuning ? c->v.tuning : "",
             c->v.gemm4_fast ? "+" : "", c->v.gemm4_fast ? c->v.gemm4_fast->name : "");
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

/* ------------------------------------------------------------------ */
/* Memory                                                               */

static kbit_status cpu_mem_alloc(void *ctx, size_t bytes, kbit_mem_kind kind, void **ptr)
{
    (void)ctx;
    (void)kind; /* device, managed and pinned memory are all host memory here */
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

static kbit_status cpu_mem_copy(void *ctx, void *stream, void *dst, const void *src,
                                size_t bytes, kbit_copy_kind kind)
{
    (void)ctx;
    (void)stream;
    (void)kind;
    if (bytes > 0)
        memmove(dst, src, bytes);
    return KBIT_OK;
}

static kbit_status cpu_sync(void *ctx, void *stream)
{
    (void)ctx;
    (void)stream;
    return KBIT_OK;
}

static size_t cpu_workspace_bytes(void *ctx, kbit_op_id id, const void *op)
{
    const cpu_ctx *c = ctx;
    if (id == KBIT_OP_GEMM_4BIT || id == KBIT_OP_GEMM_4BIT_BACKWARD)
        return kbit_cpu_gemm4_workspace(c, id, op);
    if (id == KBIT_OP_INT8_QUANT)
        return kbit_cpu_int8_workspace(c, id, op);
    return 0;
}

static const kbit_driver cpu_driver = {
    .abi_major = KBIT_DRIVER_ABI_MAJOR,
    .abi_minor = KBIT_DRIVER_ABI_MINOR,
    .struct_size = sizeof(kbit_driver),
    .name = "cpu",
    .description = "built-in CPU driver (scalar, AVX2 and AVX-512 variants; OpenMP threads)",
    .priority = 0,
    .families = KBIT_FAMILY_ALL,
    /* the 4-bit matmul, where the CPU has AMX-BF16 (the variant string ends
     * in "+amx-bf16"); exact elsewhere */
    .fast_families = KBIT_FAMILY_GEMM4,
    .mem_kinds = KBIT_MEM_KIND_BIT(KBIT_MEM_MANAGED) | KBIT_MEM_KIND_BIT(KBIT_MEM_HOST_PINNED),
    .device_count = cpu_device_count,
    .device_open = cpu_device_open,
    .device_close = cpu_device_close,
    .device_info = cpu_device_info,
    .set_threads = cpu_set_threads,
    .mem_alloc = cpu_mem_alloc,
    .mem_free = cpu_mem_free,
    .mem_copy = cpu_mem_copy,
    .sync = cpu_sync,
    .workspace_bytes = cpu_workspace_bytes,
    .quantize_4bit = kbit_cpu_quantize_4bit,
    .dequantize_4bit = kbit_cpu_dequantize_4bit,
    .quantize_8bit = kbit_cpu_quantize_8bit,
    .dequantize_8bit = kbit_cpu_dequantize_8bit,
    .block_sums = kbit_cpu_block_sums,
    .pairsum = kbit_cpu_pairsum,
    .optimizer_step = kbit_cpu_optimizer_step,
    .optimizer_sums = kbit_cpu_optimizer_sums,
    .optimizer_scales = kbit_cpu_optimizer_scales,
    .int8_quant = kbit_cpu_int8_quant,
    .int8_matmul = kbit_cpu_int8_matmul,
    .int8_mm_dequant = kbit_cpu_int8_mm_dequant,
    .int8_outlier_add = kbit_cpu_int8_outlier_add,
    .int8_dequant_weight = kbit_cpu_int8_dequant_weight,
    .int8_backward = kbit_cpu_int8_backward,
    .int8_matmul_gather = kbit_cpu_int8_matmul_gather,
    .gemm_4bit = kbit_cpu_gemm_4bit,
    .gemm_4bit_backward = kbit_cpu_gemm_4bit_backward,
    /* 2.1: no private weight layouts; managed memory needs no prefetch */
    .optimizer_step_many = kbit_cpu_optimizer_step_many,
};

/* Declared for the core in lib/runtime/registry.h; linked statically, hidden. */
const kbit_driver *kbit_cpu_driver_entry(const kbit_host *h);

const kbit_driver *kbit_cpu_driver_entry(const kbit_host *h)
{
    host = h;
    return &cpu_driver;
}
