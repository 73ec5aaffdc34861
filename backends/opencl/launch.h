/*
 * backends/opencl/launch.h - what the op files of the OpenCL driver (ops.c,
 * gemm4.c, int8.c, optim.c) share: kernel arguments, element sizes and the
 * launch of ops.c, which builds the program on first use and enqueues a
 * kernel with `groups` work-groups of KBIT_GPU_GROUP items
 * (backends/gpu/split.h) on the caller's queue.
 */
#ifndef KBIT_OPENCL_LAUNCH_H
#define KBIT_OPENCL_LAUNCH_H

#include "backends/opencl/cl.h"

/* One kernel argument. */
typedef struct karg {
    size_t size;
    const void *value;
} karg;

/* A scalar argument, and a device pointer as its (buffer, byte offset) pair. */
#define ARG(v) { sizeof(v), &(v) }
#define MEM(a) { sizeof(cl_mem), &(a).mem }, { sizeof(cl_ulong), &(a).off }
#define NARGS(args) ((int)(sizeof(args) / sizeof((args)[0])))

#define TRY(call)                      \
    do {                               \
        kbit_status st_ = (call);      \
        if (st_ != KBIT_OK)            \
            return st_;                \
    } while (0)

/* Bytes of one element of a floating dtype the ops take (F32, F16, BF16). */
static inline size_t kcl_dtype_bytes(kbit_dtype d)
{
    return d == KBIT_F32 ? 4 : 2;
}

/* Enqueue kernel k (KCL_K_*) with its arguments; returns once enqueued. */
kbit_status kcl_launch(kcl_ctx *c, cl_command_queue q, int k, int64_t groups, const karg *args,
                       int nargs);

#endif /* KBIT_OPENCL_LAUNCH_H */
