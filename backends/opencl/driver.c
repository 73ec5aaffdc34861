/* backends/opencl/driver.c - the "opencl" driver table of kbit-opencl.so
 * (driver ABI 2.1): opens, contexts and queues, and the entry symbol.
 *
 * One cl_context per device (opencl:N), created at its first open and kept
 * for the life of the process, so that memory allocated through one open of
 * a device works with every other open of it (as device memory does on
 * CUDA) and the program is built once per context. Each open has its own
 * in-order queue: the device's own stream. A framework's cl_command_queue is
 * accepted as a stream when it is an in-order queue of the device in that
 * context (memory.c, kcl_queue).
 *
 * Priority -5: "auto" never prefers OpenCL to the built-in CPU driver. The
 * ABI's priority is per driver, and on most machines the OpenCL device is
 * PoCL, i.e. this CPU again, slower than the CPU driver; opencl:N is opened
 * by name. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "backends/opencl/cl.h"

static kcl_shared *shared[KCL_MAX_DEVICES];
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;

/* The shared state of device `index`, created on first use. */
static kbit_status shared_of(int index, kcl_shared **out)
{
    kbit_status st = KBIT_OK;
    pthread_mutex_lock(&shared_lock);
    if (shared[index] == NULL) {
        const kcl_device *dev = kcl_device_at(index);
        kcl_shared *sh = calloc(1, sizeof *sh);
        if (sh == NULL) {
            st = kcl_error(KBIT_ENOMEM, "device_open: out of host memory");
        } else {
            cl_int e;
            cl_context_properties props[] = { CL_CONTEXT_PLATFORM,
                                              (cl_context_properties)dev->platform, 0 };
            sh->dev = dev;
            sh->context = clCreateContext(props, 1, &dev->id, NULL, NULL, &e);
            if (e != CL_SUCCESS) {
                st = kcl_fail(e, "clCreateContext", dev->name);
                free(sh);
            } else {
                pthread_mutex_init(&sh->lock, NULL);
                shared[index] = sh;
            }
        }
    }
    *out = shared[index];
    pthread_mutex_unlock(&shared_lock);
    return st;
}

static int kcl_device_count_slot(const char **reason)
{
    return kcl_device_count(reason);
}

static uint32_t kcl_device_families(int index, const char **reason)
{
    const kcl_device *dev = kcl_device_at(index);
    if (dev == NULL)
        return 0;
    *reason = dev->lacks;
    return dev->families;
}

static kbit_status kcl_device_open(int index, void **ctx)
{
    kcl_shared *sh = NULL;
    kbit_status st = shared_of(index, &sh);
    if (st != KBIT_OK)
        return st;
    kcl_ctx *c = calloc(1, sizeof *c);
    if (c == NULL)
        return kcl_error(KBIT_ENOMEM, "device_open: out of host memory");
    c->index = index;
    c->sh = sh;
    c->h.context = sh->context;
    c->h.device = sh->dev->id;
    cl_int e;
    c->h.queue = clCreateCommandQueue(sh->context, sh->dev->id, 0, &e); /* in order */
    if (e != CL_SUCCESS) {
        free(c);
        return kcl_fail(e, "clCreateCommandQueue", NULL);
    }
    *ctx = c;
    return KBIT_OK;
}

static void kcl_device_close(void *ctx)
{
    kcl_ctx *c = ctx;
    if (c == NULL)
        return;
    (void)clFinish(c->h.queue);
    (void)clReleaseCommandQueue(c->h.queue);
    free(c);
}

static kbit_status kcl_device_info(void *ctx, kbit_device_info *info)
{
    const kcl_device *dev = ((kcl_ctx *)ctx)->sh->dev;
    memcpy(info->name, dev->name, sizeof info->name);
    info->name[sizeof info->name - 1] = '\0';
    memcpy(info->variant, dev->variant, sizeof info->variant);
    info->variant[sizeof info->variant - 1] = '\0';
    info->threads = 1;
    info->memory_bytes = dev->memory_bytes;
    return KBIT_OK;
}

static kbit_status kcl_set_threads(void *ctx, int threads)
{
    (void)ctx;
    if (threads == 1)
        return KBIT_OK;
    return kcl_error(KBIT_ENOTSUP, "set_threads: OpenCL ops are driven by one host thread; only "
                     "threads = 1 is accepted");
}

/* Workspace per op: only the int8 quantization needs any (its column mask). */
static size_t kcl_workspace_bytes(void *ctx, kbit_op_id id, const void *op)
{
    (void)ctx;
    return kcl_int8_workspace(id, op);
}

static const kbit_driver table = {
    .abi_major = KBIT_DRIVER_ABI_MAJOR,
    .abi_minor = KBIT_DRIVER_ABI_MINOR,
    .struct_size = sizeof(kbit_driver),
    .flags = KBIT_DRIVER_STREAMS,
    .name = "opencl",
    .description = "OpenCL 1.2+ devices of every platform, through the ICD loader",
    .priority = -5,
    .families = KCL_FAMILIES,
    .mem_kinds = KBIT_MEM_KIND_BIT(KBIT_MEM_HOST_PINNED),
    .device_count = kcl_device_count_slot,
    .device_families = kcl_device_families,
    .device_open = kcl_device_open,
    .device_close = kcl_device_close,
    .device_info = kcl_device_info,
    .set_threads = kcl_set_threads,
    .mem_alloc = kcl_mem_alloc,
    .mem_free = kcl_mem_free,
    .mem_copy = kcl_mem_copy,
    .sync = kcl_sync,
    .quantize_4bit = kcl_quantize_4bit,
    .dequantize_4bit = kcl_dequantize_4bit,
    .quantize_8bit = kcl_quantize_8bit,
    .dequantize_8bit = kcl_dequantize_8bit,
    .block_sums = kcl_block_sums,
    .pairsum = kcl_pairsum,
    /* GEMM4 (gemm4.c; no gemm4_prepare: prepared weights stay in the standard layout) */
    .gemm_4bit = kcl_gemm_4bit,
    .gemm_4bit_backward = kcl_gemm_4bit_backward,
    /* LLM.int8() (int8.c); no int8_prepare: the weight keeps its layout */
    .workspace_bytes = kcl_workspace_bytes,
    .int8_quant = kcl_int8_quant,
    .int8_matmul = kcl_int8_matmul,
    .int8_mm_dequant = kcl_int8_mm_dequant,
    .int8_outlier_add = kcl_int8_outlier_add,
    .int8_dequant_weight = kcl_int8_dequant_weight,
    .int8_backward = kcl_int8_backward,
    .int8_matmul_gather = kcl_int8_matmul_gather,
    /* OPTIM (optim.c); optimizer_step_many: the core's loop */
    .optimizer_step = kcl_optimizer_step,
    .optimizer_sums = kcl_optimizer_sums,
    .optimizer_scales = kcl_optimizer_scales,
};

/* The plugin's only exported symbol. */
KBIT_API const kbit_driver *kbit_driver_entry(const kbit_host *host)
{
    if (host != NULL)
        kcl_host = host;
    return &table;
}
