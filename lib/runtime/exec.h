/* lib/runtime/exec.h - running driver ops for a public call: the calling
 * thread's stream, and its workspace cut into the core's intermediates and
 * the driver's own part, so no op allocates device memory per call. */
#ifndef KBIT_LIB_EXEC_H
#define KBIT_LIB_EXEC_H

#include "runtime/device.h"

typedef struct kbit_call {
    kbit_device *dev;
    const char *fn;
    kbit_binding *binding;
    unsigned char *core;       /* the core's part of the workspace */
    size_t core_bytes, core_used;
    kbit_exec ex;              /* what driver ops receive */
} kbit_call;

/* Bytes the driver asks for an op (0 when it has no workspace_bytes slot). */
size_t kbit_driver_workspace(const kbit_device *dev, kbit_op_id id, const void *op);

/* Start a call: find the thread's binding and make its workspace hold
 * core_bytes for the core (kbit_call_take) and driver_bytes for the driver
 * (ex.workspace). Growing it first waits for the binding's stream, so work
 * still running on the old workspace is done. */
kbit_status kbit_call_begin(kbit_call *c, kbit_device *dev, size_t core_bytes,
                            size_t driver_bytes, const char *fn);

/* *p = the next bytes (64-byte aligned) of the core's part, which the
 * caller asked for in kbit_call_begin (the sum of kbit_call_size of each
 * piece); KBIT_EINVAL naming the call if they do not fit (a sizing bug). */
kbit_status kbit_call_take(kbit_call *c, size_t bytes, void *p);

/* Bytes a piece of `bytes` occupies in the core's part (64-byte rounding). */
static inline size_t kbit_call_size(size_t bytes)
{
    return (bytes + 63) & ~(size_t)63;
}

/* Copy host data into workspace memory of the call (ordered on its stream). */
kbit_status kbit_call_upload(kbit_call *c, void *dst, const void *src, size_t bytes);
/* Copy device data to the host; complete when it returns. */
kbit_status kbit_call_download(kbit_call *c, void *dst, const void *src, size_t bytes);

/* After a driver call: make sure a failure carries a message. */
kbit_status kbit_call_result(const kbit_call *c, kbit_status st);

#endif
