/*
 * backends/opencl/cl.h - the parts of the OpenCL driver (kbit-opencl.so) and
 * what they share.
 *
 *   devices.c  every platform's devices as opencl:0..N-1, what each lacks
 *              (fp64, denormals, IEEE divide/sqrt, ...), device_info
 *   memory.c   device pointers as reserved addresses mapped to (cl_mem,
 *              offset), memory kinds, copies, sync, streams
 *   ops.c      the program (built once per device context) and the launches
 *   gemm4.c    the ops of GEMM4 (the 4-bit matmul; launch.h)
 *   int8.c     the LLM.int8() ops (launch.h: what op files share with ops.c)
 *   optim.c    the ops of OPTIM (the optimizers; launch.h)
 *   driver.c   contexts, the table, the entry symbol
 *   errors.c   OpenCL error codes in messages
 */
#ifndef KBIT_OPENCL_CL_H
#define KBIT_OPENCL_CL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "backends/opencl/handles.h"
#include "kbit-driver.h"

#define KCL_MAX_DEVICES 64

/* The families of every device that lacks nothing (devices.c) and of the
 * table (driver.c). */
#define KCL_FAMILIES                                                                 \
    (KBIT_FAMILY_QUANT4 | KBIT_FAMILY_QUANT8 | KBIT_FAMILY_GEMM4 | KBIT_FAMILY_INT8 |   \
     KBIT_FAMILY_OPTIM)

/* ------------------------------------------------------------------ */
/* devices.c                                                            */

typedef struct kcl_device {
    cl_platform_id platform;
    cl_device_id id;
    uint32_t families;       /* KCL_FAMILIES, or 0 */
    char lacks[256];         /* why families is 0 */
    char name[128];
    char variant[32];        /* "OpenCL 3.0 PoCL 3.1+debian CPU" */
    uint64_t memory_bytes;   /* CL_DEVICE_GLOBAL_MEM_SIZE */
    uint64_t max_alloc;      /* CL_DEVICE_MAX_MEM_ALLOC_SIZE */
} kcl_device;

/* The devices (enumerated once); NULL with *reason set when there are none. */
int kcl_device_count(const char **reason);
const kcl_device *kcl_device_at(int index);

/* ------------------------------------------------------------------ */
/* Per-device state shared by every open of it (driver.c)              */

/* One allocation: [base, base + bytes) of kbit pointers is mem at offset 0. */
typedef struct kcl_alloc {
    uintptr_t base;
    size_t bytes;      /* as asked (the buffer holds at least 1 byte) */
    size_t reserved;   /* bytes of address space reserved (device memory) */
    cl_mem mem;
    int pinned;        /* KBIT_MEM_HOST_PINNED: base is the mapped host pointer */
} kcl_alloc;

enum {
    KCL_K_QUANTIZE_4BIT,
    KCL_K_DEQUANTIZE_4BIT,
    KCL_K_QUANTIZE_8BIT,
    KCL_K_DEQUANTIZE_8BIT,
    KCL_K_BLOCK_SUMS,
    KCL_K_PAIRSUM,
    /* GEMM4 (backends/opencl/gemm4.c) */
    KCL_K_GEMM_4BIT,
    KCL_K_GEMM_4BIT_BACKWARD,
    /* LLM.int8() (int8.c) */
    KCL_K_INT8_CLEAR_MASK,
    KCL_K_INT8_QUANT_ROWS,
    KCL_K_INT8_COMPACT,
    KCL_K_INT8_ZERO_COLS,
    KCL_K_INT8_DEQUANT_WEIGHT,
    KCL_K_INT8_MM_DEQUANT,
    KCL_K_INT8_MATMUL,
    KCL_K_INT8_GATHER,
    KCL_K_INT8_OUTLIER_ADD,
    KCL_K_INT8_BACKWARD,
    /* OPTIM (backends/opencl/optim.c) */
    KCL_K_OPTIM_STEP32,
    KCL_K_OPTIM_STEP8,
    KCL_K_OPTIM_SUMS,
    KCL_K_OPTIM_SCALES,
    KCL_K_COUNT
};

typedef struct kcl_shared {
    const kcl_device *dev;
    cl_context context;
    pthread_mutex_t lock;        /* the allocation table, the program, kernel arguments */
    kcl_alloc *allocs;           /* sorted by base */
    size_t nallocs, cap;
    int built;                   /* 1: program and kernels ready; -1: the build failed */
    cl_program program;
    cl_kernel kernels[KCL_K_COUNT];
    char build_error[1024];      /* the message of a failed build, repeated on every launch */
} kcl_shared;

/* One open of a device. */
typedef struct kcl_ctx {
    kbit_cl_handles h;           /* first member: backends/opencl/handles.h */
    int index;
    kcl_shared *sh;
} kcl_ctx;

/* ------------------------------------------------------------------ */
/* errors.c                                                             */

extern const kbit_host *kcl_host;

const char *kcl_error_name(cl_int e);
/* Record "<call>: <CL name> (<code>)[: detail]" and return the status for it
 * (KBIT_ENOMEM for the out-of-memory codes, else KBIT_EDRIVER). */
kbit_status kcl_fail(cl_int e, const char *call, const char *detail);
/* Record a message and return st. */
kbit_status kcl_error(kbit_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* ------------------------------------------------------------------ */
/* memory.c                                                             */

/* The queue for `stream` (NULL: the open's own). A framework queue must be
 * an in-order queue of this device in kbit's context. */
kbit_status kcl_queue(kcl_ctx *c, void *stream, cl_command_queue *q);

/* A kernel argument: device pointer p with `bytes` bytes from it -> the
 * buffer and the byte offset. NULL with bytes 0 -> (NULL, 0). `what` names
 * the argument in messages. */
typedef struct kcl_arg {
    cl_mem mem;
    cl_ulong off;
} kcl_arg;
kbit_status kcl_resolve(kcl_ctx *c, const void *p, size_t bytes, const char *what, kcl_arg *a);

kbit_status kcl_mem_alloc(void *ctx, size_t bytes, kbit_mem_kind kind, void **ptr);
kbit_status kcl_mem_free(void *ctx, void *ptr);
kbit_status kcl_mem_copy(void *ctx, void *stream, void *dst, const void *src, size_t bytes,
                         kbit_copy_kind kind);
kbit_status kcl_sync(void *ctx, void *stream);

/* ------------------------------------------------------------------ */
/* ops.c                                                                */

kbit_status kcl_quantize_4bit(void *ctx, const kbit_exec *ex, const kbit_op_quantize_4bit *op);
kbit_status kcl_dequantize_4bit(void *ctx, const kbit_exec *ex,
                                const kbit_op_dequantize_4bit *op);
kbit_status kcl_quantize_8bit(void *ctx, const kbit_exec *ex, const kbit_op_quantize_8bit *op);
kbit_status kcl_dequantize_8bit(void *ctx, const kbit_exec *ex,
                                const kbit_op_dequantize_8bit *op);
kbit_status kcl_block_sums(void *ctx, const kbit_exec *ex, const kbit_op_block_sums *op);
kbit_status kcl_pairsum(void *ctx, const kbit_exec *ex, const kbit_op_pairsum *op);

/* ------------------------------------------------------------------ */
/* gemm4.c                                                              */

kbit_status kcl_gemm_4bit(void *ctx, const kbit_exec *ex, const kbit_op_gemm_4bit *op);
kbit_status kcl_gemm_4bit_backward(void *ctx, const kbit_exec *ex, const kbit_op_gemm_4bit *op);

/* ------------------------------------------------------------------ */
/* int8.c                                                               */

size_t kcl_int8_workspace(kbit_op_id id, const void *op);
kbit_status kcl_int8_quant(void *ctx, const kbit_exec *ex, const kbit_op_int8_quant *op);
kbit_status kcl_int8_matmul(void *ctx, const kbit_exec *ex, const kbit_op_int8_matmul *op);
kbit_status kcl_int8_mm_dequant(void *ctx, const kbit_exec *ex,
                                const kbit_op_int8_mm_dequant *op);
kbit_status kcl_int8_outlier_add(void *ctx, const kbit_exec *ex,
                                 const kbit_op_int8_outlier_add *op);
kbit_status kcl_int8_dequant_weight(void *ctx, const kbit_exec *ex,
                                    const kbit_op_int8_dequant_weight *op);
kbit_status kcl_int8_backward(void *ctx, const kbit_exec *ex, const kbit_op_int8_backward *op);
kbit_status kcl_int8_matmul_gather(void *ctx, const kbit_exec *ex,
                                   const kbit_op_int8_matmul_gather *op);

/* ------------------------------------------------------------------ */
/* optim.c                                                              */

kbit_status kcl_optimizer_step(void *ctx, const kbit_exec *ex, const kbit_op_optimizer *op);
kbit_status kcl_optimizer_sums(void *ctx, const kbit_exec *ex,
                               const kbit_op_optimizer_sums *op);
kbit_status kcl_optimizer_scales(void *ctx, const kbit_exec *ex,
                                 const kbit_op_optimizer_scales *op);

#endif /* KBIT_OPENCL_CL_H */
