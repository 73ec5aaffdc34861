/*
 * backends/opencl/handles.h - the native OpenCL objects behind an open
 * opencl:N device: the first member of the driver's per-open context.
 *
 * kbit's driver ABI has no slot that hands a framework the cl_context of a
 * device (a framework queue can only be a stream of kbit's device if it was
 * created in that context), so this layout is what the white-box test
 * (tests/test_opencl.c) reads to create a queue of its own in kbit's
 * context. It is not part of the public API.
 */
#ifndef KBIT_OPENCL_HANDLES_H
#define KBIT_OPENCL_HANDLES_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>

typedef struct kbit_cl_handles {
    cl_context context;     /* one per device, shared by every open of it */
    cl_device_id device;
    cl_command_queue queue; /* this open's own in-order queue (stream NULL) */
} kbit_cl_handles;

#endif /* KBIT_OPENCL_HANDLES_H */
