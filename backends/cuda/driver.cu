/*
 * backends/cuda/driver.cu - the "cuda" driver table of kbit-cuda.so: device
 * probing, contexts and streams, memory, and the five ops (kbit-driver.h).
 *
 * The plugin links the CUDA runtime statically, so at run time it needs only
 * the driver library (libcuda.so.1); without it, or without a device, the
 * probe reports "no device" and the core skips the driver.
 *
 * Ops are enqueued on the context's stream and return without waiting,
 * except where the API hands data to the host (copies to and from host
 * memory, block_sums), which complete before returning.
 *
 * The same file builds the HIP driver ("hip") through gpu-compat.h.
 */
#include <new>
#include <stdio.h>
#include <string.h>

#include "gpu-compat.h"
#include "gpu-kernels.h"
#include "kbit-driver.h"

#if defined(KBIT_GPU_HIP)
#define KBIT_GPU_DRIVER_NAME "hip"
#define KBIT_GPU_DRIVER_PRIORITY 25
#define KBIT_GPU_DRIVER_DESCRIPTION "AMD GPUs through the HIP runtime"
#else
#define KBIT_GPU_DRIVER_NAME "cuda"
#define KBIT_GPU_DRIVER_PRIORITY 30
#define KBIT_GPU_DRIVER_DESCRIPTION "NVIDIA GPUs through the CUDA runtime (linked statically)"
#endif

namespace {

const kbit_host *g_host;

/* A device opened by the core. */
struct gpu_ctx {
    int index;
    gpuStream_t own;     /* created at open, destroyed at close */
    gpuStream_t stream;  /* where work goes: own, or the caller's */
};

void report(const char *fmt, const char *what, const char *detail)
{
    if (g_host != NULL && g_host->set_error != NULL)
        g_host->set_error(fmt, what, detail);
}

/* Turn a runtime error into a status and a message. The runtime's
 * last-error slot is cleared so the failure is not reported twice. */
kbit_status fail(gpuError_t e, const char *what)
{
    (void)gpuGetLastError();
    if (e == gpuErrorMemoryAllocation) {
        report("%s: out of device memory (%s)", what, gpuGetErrorString(e));
        return KBIT_ENOMEM;
    }
    report("%s: %s", what, gpuGetErrorString(e));
    return KBIT_EDRIVER;
}

#define GPU_TRY(call, what)                  \
    do {                                     \
        gpuError_t e_ = (call);              \
        if (e_ != gpuSuccess)                \
            return fail(e_, what);           \
    } while (0)

/* The current device is per host thread: make it ours before any call. */
kbit_status bind(const gpu_ctx *c)
{
    GPU_TRY(gpuSetDevice(c->index), KBIT_GPU_API("SetDevice"));
    return KBIT_OK;
}

int log2_of(int v)
{
    int l = 0;
    while ((1 << l) < v)
        l++;
    return l;
}

/* ------------------------------------------------------------------ */
/* Devices                                                              */

int gpu_device_count(const char **reason)
{
    /* Any failure means "no usable device here": no driver library (35),
     * a stub library (34), no device (100), or anything else. */
    static thread_local char why[192];
    int count = 0;
    gpuError_t e = gpuGetDeviceCount(&count);
    if (e != gpuSuccess) {
        (void)gpuGetLastError();
        snprintf(why, sizeof why, "no " KBIT_GPU_RUNTIME " device (%s: error %d, %s)",
                 KBIT_GPU_API("GetDeviceCount"), (int)e, gpuGetErrorString(e));
        *reason = why;
        return -1;
    }
    if (count <= 0) {
        *reason = "no " KBIT_GPU_RUNTIME " device (" KBIT_GPU_API("GetDeviceCount") " found none)";
        return -1;
    }
    return count;
}

kbit_status gpu_device_open(int index, void **ctx)
{
    gpu_ctx *c = new (std::nothrow) gpu_ctx;
    if (c == NULL) {
        report("%s: %s", "device_open", "out of host memory");
        return KBIT_ENOMEM;
    }
    c->index = index;
    kbit_status st = bind(c);
    if (st == KBIT_OK) {
        gpuError_t e = gpuStreamCreateWithFlags(&c->own, gpuStreamNonBlocking);
        if (e != gpuSuccess)
            st = fail(e, KBIT_GPU_API("StreamCreateWithFlags"));
    }
    if (st != KBIT_OK) {
        delete c;
        return st;
    }
    c->stream = c->own;
    *ctx = c;
    return KBIT_OK;
}

void gpu_device_close(void *ctx)
{
    gpu_ctx *c = static_cast<gpu_ctx *>(ctx);
    if (c == NULL)
        return;
    if (bind(c) == KBIT_OK) {
        (void)gpuStreamSynchronize(c->own);
        (void)gpuStreamDestroy(c->own);
    }
    (void)gpuGetLastError();
    delete c;
}

kbit_status gpu_device_info(void *ctx, kbit_device_info *info)
{
    gpu_ctx *c = static_cast<gpu_ctx *>(ctx);
    gpuDeviceProp_t prop;
    GPU_TRY(gpuGetDeviceProperties(&prop, c->index), KBIT_GPU_API("GetDeviceProperties"));
    /* A longer name is cut to fit. */
    snprintf(info->name, sizeof info->name, "%.*s", (int)sizeof info->name - 1, prop.name);
#if defined(KBIT_GPU_HIP)
    /* "gfx90a:sramecc+:xnack-" -> "gfx90a" */
    snprintf(info->variant, sizeof info->variant, "%.*s",
             (int)strcspn(prop.gcnArchName, ":"), prop.gcnArchName);
#else
    snprintf(info->variant, sizeof info->variant, "sm_%d%d", prop.major, prop.minor);
#endif
    info->threads = 1;
    info->memory_bytes = (uint64_t)prop.totalGlobalMem;
    return KBIT_OK;
}

kbit_status gpu_set_threads(void *ctx, int threads)
{
    (void)ctx;
    if (threads == 1)
        return KBIT_OK;
    report("%s: %s", "set_threads",
           "GPU ops are driven by one host thread; only threads = 1 is accepted");
    return KBIT_ENOTSUP;
}

kbit_status gpu_set_stream(void *ctx, void *stream)
{
    gpu_ctx *c = static_cast<gpu_ctx *>(ctx);
    c->stream = stream != NULL ? static_cast<gpuStream_t>(stream) : c->own;
    return KBIT_OK;
}

/* ------------------------------------------------------------------ */
/* Memory                                                               */

kbit_status gpu_mem_alloc(void *ctx, size_t bytes, void **ptr)
{
    gpu_ctx *c = static_cast<gpu_ctx *>(ctx);
    kbit_status st = bind(c);
    if (st != KBIT_OK)
        return st;
    /* A request of 0 bytes still gets a unique pointer (kbit_malloc). */
    void *p = NULL;
    GPU_TRY(gpuMalloc(&p, bytes > 0 ? bytes : 1), KBIT_GPU_API("Malloc"));
    *ptr = p;
    return KBIT_OK;
}

kbit_status gpu_mem_free(void *ctx, void *ptr)
{
    gpu_ctx *c = static_cast<gpu_ctx *>(ctx);
    kbit_status st = bind(c);
    if (st != KBIT_OK)
        return st;
    GPU_TRY(gpuFree(ptr), KBIT_GPU_API("Free"));
    return KBIT_OK;
}

kbit_status gpu_mem_copy(void *ctx, void *dst, const void *src, size_t bytes, kbit_copy_kind kind)
{
    gpu_ctx *c = static_cast<gpu_ctx *>(ctx);
    if (bytes == 0)
        return KBIT_OK;
    kbit_status st = bind(c);
    if (st != KBIT_OK)
        return st;
    gpuMemcpyKind k = kind == KBIT_HOST_TO_DEVICE   ? gpuMemcpyHostToDevice
                      : kind == KBIT_DEVICE_TO_HOST ? gpuMemcpyDeviceToHost
                                                    : gpuMemcpyDeviceToDevice;
    GPU_TRY(gpuMemcpyAsync(dst, src, bytes, k, c->stream), KBIT_GPU_API("MemcpyAsync"));
    /* A copy to the host is complete on return (kbit_copy); a copy from
     * the host also waits, so the caller may reuse its buffer at once. */
    if (kind != KBIT_DEVICE_TO_DEVICE)
        GPU_TRY(gpuStreamSynchronize(c->stream), KBIT_GPU_API("StreamSynchronize"));
    return KBIT_OK;
}

kbit_status gpu_sync(void *ctx)
{
    gpu_ctx *c = static_cast<gpu_ctx *>(ctx);
    kbit_status st = bind(c);
    if (st != KBIT_OK)
        return st;
    GPU_TRY(gpuStreamSynchronize(c->stream), KBIT_GPU_API("StreamSynchronize"));
    return KBIT_OK;
}

/* ------------------------------------------------------------------ */
/* Ops                                                                  */

kbit_status launched(gpuError_t e, const char *kernel)
{
    return e == gpuSuccess ? KBIT_OK : fail(e, kernel);
}

kbit_status gpu_quantize_4bit(void *ctx, const kbit_op_quantize_4bit *op)
{
    gpu_ctx *c = static_cast<gpu_ctx *>(ctx);
    kbit_status st = bind(c);
    if (st != KBIT_OK)
        return st;
    kbit_gpu_q4_args a;
    a.x = op->x;
    a.n = op->n;
    a.blocksize = op->blocksize;
    a.nblocks = (op->n + op->blocksize - 1) / op->blocksize;
    a.dtype = op->dtype;
    a.type = op->type;
    a.packed = op->packed;
    a.absmax = op->absmax;
    return launched(kbit_gpu_quantize_4bit(a, c->stream), "quantize_4bit kernel launch");
}

kbit_status gpu_dequantize_4bit(void *ctx, const kbit_op_dequantize_4bit *op)
{
    gpu_ctx *c = static_cast<gpu_ctx *>(ctx);
    kbit_status st = bind(c);
    if (st != KBIT_OK)
        return st;
    kbit_gpu_d4_args a;
    a.packed = op->packed;
    a.absmax = op->absmax;
    a.n = op->n;
    a.log2_blocksize = log2_of(op->blocksize);
    a.type = op->type;
    a.out_dtype = op->out_dtype;
    a.out = op->out;
    return launched(kbit_gpu_dequantize_4bit(a, c->stream), "dequantize_4bit kernel launch");
}

/* 1 if mid[0..254] is non-decreasing and has no NaN: then the kernels may
 * binary-search it (the result equals the literal count). */
int mid_sorted(const float *mid)
{
    for (int i = 0; i < 254; i++)
        if (!(mid[i] <= mid[i + 1]))
            return 0;
    return mid[254] == mid[254];
}

kbit_status gpu_quantize_8bit(void *ctx, const kbit_op_quantize_8bit *op)
{
    gpu_ctx *c = static_cast<gpu_ctx *>(ctx);
    kbit_status st = bind(c);
    if (st != KBIT_OK)
        return st;
    kbit_gpu_q8_args a;
    a.x = op->x;
    a.n = op->n;
    a.blocksize = op->blocksize;
    a.nblocks = (op->n + op->blocksize - 1) / op->blocksize;
    a.dtype = op->dtype;
    a.center = op->center ? 1 : 0;
    a.offset = op->offset;
    a.q = op->q;
    a.absmax = op->absmax;
    /* The host midpoints travel inside the launch arguments. */
    memcpy(a.mid, op->mid, 255 * sizeof(float));
    a.mid[255] = 0.0f;
    a.sorted = mid_sorted(op->mid);
    return launched(kbit_gpu_quantize_8bit(a, c->stream), "quantize_8bit kernel launch");
}

kbit_status gpu_dequantize_8bit(void *ctx, const kbit_op_dequantize_8bit *op)
{
    gpu_ctx *c = static_cast<gpu_ctx *>(ctx);
    kbit_status st = bind(c);
    if (st != KBIT_OK)
        return st;
    kbit_gpu_d8_args a;
    a.q = op->q;
    a.absmax = op->absmax;
    a.n = op->n;
    a.log2_blocksize = log2_of(op->blocksize);
    a.add_offset = op->add_offset ? 1 : 0;
    a.offset = op->offset;
    a.out_dtype = op->out_dtype;
    a.out = op->out;
    memcpy(a.code, op->code, 256 * sizeof(float));
    return launched(kbit_gpu_dequantize_8bit(a, c->stream), "dequantize_8bit kernel launch");
}

kbit_status gpu_block_sums(void *ctx, const kbit_op_block_sums *op)
{
    gpu_ctx *c = static_cast<gpu_ctx *>(ctx);
    kbit_status st = bind(c);
    if (st != KBIT_OK)
        return st;
    const int64_t leaves = (op->n + KBIT_PAIRSUM_LEAF - 1) / KBIT_PAIRSUM_LEAF;
    const size_t bytes = (size_t)leaves * sizeof(double);
    double *sums = NULL;
    GPU_TRY(gpuMalloc((void **)&sums, bytes), KBIT_GPU_API("Malloc"));
    gpuError_t e = kbit_gpu_block_sums(op->x, op->n, sums, c->stream);
    const char *what = "block_sums kernel launch";
    if (e == gpuSuccess) {
        e = gpuMemcpyAsync(op->sums, sums, bytes, gpuMemcpyDeviceToHost, c->stream);
        what = KBIT_GPU_API("MemcpyAsync");
    }
    if (e == gpuSuccess) {
        e = gpuStreamSynchronize(c->stream); /* op->sums is host memory */
        what = KBIT_GPU_API("StreamSynchronize");
    }
    gpuError_t freed = gpuFree(sums);
    if (e != gpuSuccess)
        return fail(e, what);
    GPU_TRY(freed, KBIT_GPU_API("Free"));
    return KBIT_OK;
}

kbit_driver make_table(void)
{
    kbit_driver d;
    memset(&d, 0, sizeof d);
    d.abi_version = KBIT_DRIVER_ABI_VERSION;
    d.struct_size = sizeof(kbit_driver);
    d.name = KBIT_GPU_DRIVER_NAME;
    d.description = KBIT_GPU_DRIVER_DESCRIPTION;
    d.priority = KBIT_GPU_DRIVER_PRIORITY;
    d.device_count = gpu_device_count;
    d.device_open = gpu_device_open;
    d.device_close = gpu_device_close;
    d.device_info = gpu_device_info;
    d.set_threads = gpu_set_threads;
    d.set_stream = gpu_set_stream;
    d.mem_alloc = gpu_mem_alloc;
    d.mem_free = gpu_mem_free;
    d.mem_copy = gpu_mem_copy;
    d.sync = gpu_sync;
    d.quantize_4bit = gpu_quantize_4bit;
    d.dequantize_4bit = gpu_dequantize_4bit;
    d.quantize_8bit = gpu_quantize_8bit;
    d.dequantize_8bit = gpu_dequantize_8bit;
    d.block_sums = gpu_block_sums;
    return d;
}

} /* namespace */

/* The plugin's only exported symbol. */
extern "C" __attribute__((visibility("default"))) const kbit_driver *
kbit_driver_entry(const kbit_host *host)
{
    static const kbit_driver table = make_table(); /* thread-safe init */
    if (host != NULL)
        g_host = host;
    return &table;
}
