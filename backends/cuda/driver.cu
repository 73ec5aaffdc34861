/*
 * backends/cuda/driver.cu - the "cuda" driver table of kbit-cuda.so (driver
 * ABI 2.1): device probing, contexts and streams, memory of every kind, and
 * the ops of the quantization families (QUANT4 with the nested absmax, QUANT8),
 * of the 4-bit matmul (GEMM4), of LLM.int8() (INT8) and of the optimizers
 * (OPTIM). GEMM4, INT8 and OPTIM are built, not run on a GPU yet; the same
 * bodies pass kbit conformance bit for bit on PoCL through the OpenCL driver.
 *
 * The plugin links the CUDA runtime statically, so at run time it needs only
 * the driver library (libcuda.so.1); without it, or without a device, the
 * probe reports "no device" and the core skips the driver.
 *
 * Ops are enqueued on the stream the core hands them (the calling thread's,
 * or the device's own) and return without waiting; only copies to and from
 * host memory complete before returning. Reduction leaves and the pairsum
 * stay in device memory. The kernels are the bodies of backends/gpu (the
 * ones the OpenCL driver runs) in thin wrappers (quant4.cu, quant8.cu,
 * sums.cu, gemm4.cu, int8.cu, optim.cu).
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
    gpuStream_t own;     /* the device's own stream: created at open, destroyed at close */
};

/* Where an op's work goes: the calling thread's stream, or the device's own. */
gpuStream_t stream_of(const gpu_ctx *c, void *stream)
{
    return stream != NULL ? static_cast<gpuStream_t>(stream) : c->own;
}

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

/* ------------------------------------------------------------------ */
/* Memory                                                               */

kbit_status gpu_mem_alloc(void *ctx, size_t bytes, kbit_mem_kind kind, void **ptr)
{
    gpu_ctx *c = static_cast<gpu_ctx *>(ctx);
    kbit_status st = bind(c);
    if (st != KBIT_OK)
        return st;
    /* A request of 0 bytes still gets a unique pointer (kbit_malloc). */
    size_t n = bytes > 0 ? bytes : 1;
    void *p = NULL;
    if (kind == KBIT_MEM_MANAGED)
        GPU_TRY(gpuMallocManaged(&p, n, gpuMemAttachGlobal), KBIT_GPU_API("MallocManaged"));
    else if (kind == KBIT_MEM_HOST_PINNED)
        GPU_TRY(gpuMallocHost(&p, n), KBIT_GPU_API("MallocHost"));
    else
        GPU_TRY(gpuMalloc(&p, n), KBIT_GPU_API("Malloc"));
    *ptr = p;
    return KBIT_OK;
}

kbit_status gpu_mem_free(void *ctx, void *ptr)
{
    gpu_ctx *c = static_cast<gpu_ctx *>(ctx);
    kbit_status st = bind(c);
    if (st != KBIT_OK)
        return st;
    /* Pinned host memory has its own free; device and managed memory share one. */
    gpuPointerAttributes attr;
    GPU_TRY(gpuPointerGetAttributes(&attr, ptr), KBIT_GPU_API("PointerGetAttributes"));
    if (KBIT_GPU_POINTER_IS_HOST(attr))
        GPU_TRY(gpuFreeHost(ptr), KBIT_GPU_API("FreeHost"));
    else
        GPU_TRY(gpuFree(ptr), KBIT_GPU_API("Free"));
    return KBIT_OK;
}

kbit_status gpu_mem_copy(void *ctx, void *stream, void *dst, const void *src, size_t bytes,
                         kbit_copy_kind kind)
{
    gpu_ctx *c = static_cast<gpu_ctx *>(ctx);
    if (bytes == 0)
        return KBIT_OK;
    kbit_status st = bind(c);
    if (st != KBIT_OK)
        return st;
    gpuStream_t s = stream_of(c, stream);
    gpuMemcpyKind k = kind == KBIT_HOST_TO_DEVICE   ? gpuMemcpyHostToDevice
                      : kind == KBIT_DEVICE_TO_HOST ? gpuMemcpyDeviceToHost
                                                    : gpuMemcpyDeviceToDevice;
    GPU_TRY(gpuMemcpyAsync(dst, src, bytes, k, s), KBIT_GPU_API("MemcpyAsync"));
    /* A copy to the host is complete on return (kbit_copy); a copy from
     * the host also waits, so the caller may reuse its buffer at once. */
    if (kind != KBIT_DEVICE_TO_DEVICE)
        GPU_TRY(gpuStreamSynchronize(s), KBIT_GPU_API("StreamSynchronize"));
    return KBIT_OK;
}

kbit_status gpu_sync(void *ctx, void *stream)
{
    gpu_ctx *c = static_cast<gpu_ctx *>(ctx);
    kbit_status st = bind(c);
    if (st != KBIT_OK)
        return st;
    GPU_TRY(gpuStreamSynchronize(stream_of(c, stream)), KBIT_GPU_API("StreamSynchronize"));
    return KBIT_OK;
}

kbit_status gpu_mem_prefetch(void *ctx, void *stream, const void *ptr, size_t bytes,
                             int to_device)
{
    gpu_ctx *c = static_cast<gpu_ctx *>(ctx);
    kbit_status st = bind(c);
    if (st != KBIT_OK)
        return st;
    GPU_TRY(KBIT_GPU_PREFETCH(ptr, bytes, to_device ? c->index : -1, stream_of(c, stream)),
            KBIT_GPU_API("MemPrefetchAsync"));
    return KBIT_OK;
}

/* ------------------------------------------------------------------ */
/* Ops                                                                  */

kbit_status launched(gpuError_t e, const char *kernel)
{
    return e == gpuSuccess ? KBIT_OK : fail(e, kernel);
}

/* Every op: bind the device, enqueue on the caller's stream, report the launch. */
#define GPU_OP(name, op_type, launcher)                                                    \
    kbit_status gpu_##name(void *ctx, const kbit_exec *ex, const op_type *op)             \
    {                                                                                      \
        gpu_ctx *c = static_cast<gpu_ctx *>(ctx);                                          \
        kbit_status st = bind(c);                                                          \
        if (st != KBIT_OK)                                                                 \
            return st;                                                                     \
        return launched(launcher(op, stream_of(c, ex->stream)), #name " kernel launch");   \
    }

GPU_OP(quantize_4bit, kbit_op_quantize_4bit, kbit_cuda_quantize_4bit)
GPU_OP(dequantize_4bit, kbit_op_dequantize_4bit, kbit_cuda_dequantize_4bit)
GPU_OP(quantize_8bit, kbit_op_quantize_8bit, kbit_cuda_quantize_8bit)
GPU_OP(dequantize_8bit, kbit_op_dequantize_8bit, kbit_cuda_dequantize_8bit)
GPU_OP(block_sums, kbit_op_block_sums, kbit_cuda_block_sums)
GPU_OP(pairsum, kbit_op_pairsum, kbit_cuda_pairsum)
/* GEMM4 (gemm4.cu): no gemm4_prepare, prepared weights stay in the standard layout */
GPU_OP(gemm_4bit, kbit_op_gemm_4bit, kbit_cuda_gemm_4bit)
GPU_OP(gemm_4bit_backward, kbit_op_gemm_4bit, kbit_cuda_gemm_4bit_backward)

/* LLM.int8(): the quantization takes its column mask from the workspace;
 * no int8_prepare (the weight keeps the standard layout). */
GPU_OP(int8_dequant_weight, kbit_op_int8_dequant_weight, kbit_cuda_int8_dequant_weight)
GPU_OP(int8_mm_dequant, kbit_op_int8_mm_dequant, kbit_cuda_int8_mm_dequant)
GPU_OP(int8_matmul, kbit_op_int8_matmul, kbit_cuda_int8_matmul)
GPU_OP(int8_matmul_gather, kbit_op_int8_matmul_gather, kbit_cuda_int8_matmul_gather)
GPU_OP(int8_outlier_add, kbit_op_int8_outlier_add, kbit_cuda_int8_outlier_add)
GPU_OP(int8_backward, kbit_op_int8_backward, kbit_cuda_int8_backward)

kbit_status gpu_int8_quant(void *ctx, const kbit_exec *ex, const kbit_op_int8_quant *op)
{
    gpu_ctx *c = static_cast<gpu_ctx *>(ctx);
    /* cols may be 0 (K = 0): then no mask, and the count is 0 */
    if (op->use_threshold && op->cols > 0 &&
        (ex->workspace == NULL || ex->workspace_bytes < kbit_cuda_int8_workspace(KBIT_OP_INT8_QUANT, op))) {
        report("%s: %s", "int8_quant", "the workspace is smaller than the column mask");
        return KBIT_EINVAL;
    }
    kbit_status st = bind(c);
    if (st != KBIT_OK)
        return st;
    return launched(kbit_cuda_int8_quant(op, ex->workspace, stream_of(c, ex->stream)),
                    "int8_quant kernel launch");
}

/* Workspace per op: only the int8 quantization needs any. */
size_t gpu_workspace_bytes(void *ctx, kbit_op_id id, const void *op)
{
    (void)ctx;
    return kbit_cuda_int8_workspace(id, op);
}
/* OPTIM (optim.cu); optimizer_step_many: the core's loop */
GPU_OP(optimizer_step, kbit_op_optimizer, kbit_cuda_optimizer_step)
GPU_OP(optimizer_sums, kbit_op_optimizer_sums, kbit_cuda_optimizer_sums)
GPU_OP(optimizer_scales, kbit_op_optimizer_scales, kbit_cuda_optimizer_scales)

kbit_driver make_table(void)
{
    kbit_driver d;
    memset(&d, 0, sizeof d);
    d.abi_major = KBIT_DRIVER_ABI_MAJOR;
    d.abi_minor = KBIT_DRIVER_ABI_MINOR;
    d.struct_size = sizeof(kbit_driver);
    d.flags = KBIT_DRIVER_STREAMS;
    d.name = KBIT_GPU_DRIVER_NAME;
    d.description = KBIT_GPU_DRIVER_DESCRIPTION;
    d.priority = KBIT_GPU_DRIVER_PRIORITY;
    /* GEMM4, INT8 and OPTIM: the bodies that pass conformance bit for bit on
     * PoCL; built by nvcc/hipcc, not run on a GPU yet. */
    d.families = KBIT_FAMILY_QUANT4 | KBIT_FAMILY_QUANT8 | KBIT_FAMILY_GEMM4 | KBIT_FAMILY_INT8 |
                 KBIT_FAMILY_OPTIM;
    d.mem_kinds = KBIT_MEM_KIND_BIT(KBIT_MEM_MANAGED) | KBIT_MEM_KIND_BIT(KBIT_MEM_HOST_PINNED);
    d.device_count = gpu_device_count;
    d.device_open = gpu_device_open;
    d.device_close = gpu_device_close;
    d.device_info = gpu_device_info;
    d.set_threads = gpu_set_threads;
    d.mem_alloc = gpu_mem_alloc;
    d.mem_free = gpu_mem_free;
    d.mem_copy = gpu_mem_copy;
    d.sync = gpu_sync;
    d.quantize_4bit = gpu_quantize_4bit;
    d.dequantize_4bit = gpu_dequantize_4bit;
    d.quantize_8bit = gpu_quantize_8bit;
    d.dequantize_8bit = gpu_dequantize_8bit;
    d.block_sums = gpu_block_sums;
    d.pairsum = gpu_pairsum;
    d.gemm_4bit = gpu_gemm_4bit;
    d.gemm_4bit_backward = gpu_gemm_4bit_backward;
    d.workspace_bytes = gpu_workspace_bytes;
    d.int8_quant = gpu_int8_quant;
    d.int8_matmul = gpu_int8_matmul;
    d.int8_mm_dequant = gpu_int8_mm_dequant;
    d.int8_outlier_add = gpu_int8_outlier_add;
    d.int8_dequant_weight = gpu_int8_dequant_weight;
    d.int8_backward = gpu_int8_backward;
    d.int8_matmul_gather = gpu_int8_matmul_gather;
    d.optimizer_step = gpu_optimizer_step;
    d.optimizer_sums = gpu_optimizer_sums;
    d.optimizer_scales = gpu_optimizer_scales;
    d.mem_prefetch = gpu_mem_prefetch;
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
