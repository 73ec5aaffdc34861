/* lib/runtime/device.h - an open device: a driver table, the driver's
 * context, the families it implements, and the per-thread bindings (stream
 * and workspace) of the threads that use it. */
#ifndef KBIT_LIB_DEVICE_H
#define KBIT_LIB_DEVICE_H

#include <pthread.h>

#include "kbit-driver.h"

/* One thread's use of a device: its stream and its workspace (device
 * memory the core and the driver use for an op's intermediates). A binding
 * whose thread has exited is free for the next thread that comes. */
typedef struct kbit_binding {
    struct kbit_binding *next;
    pthread_t owner;
    int owned;                 /* 0: its thread exited; free for another */
    void *stream;              /* NULL: the device's own */
    void *workspace;
    size_t workspace_bytes;
} kbit_binding;

struct kbit_device {
    uint32_t magic;            /* KBIT_DEVICE_MAGIC while open: catches stale handles */
    uint64_t serial;           /* unique per open, never reused */
    const kbit_driver *driver; /* the registry's full-size copy of the table */
    void *ctx;
    int index;
    uint32_t families;         /* what this device implements */
    const char *families_reason;
    char spec[80];             /* "cuda:0", for messages */
    kbit_math_mode mode;
    pthread_mutex_t lock;      /* bindings and maps */
    kbit_binding *bindings;
    /* Device copies of the two normative maps, uploaded on first use
     * (lib/ops/maps.c): 256 code values, then the 255 midpoints. */
    float *maps[2];
};

#define KBIT_DEVICE_MAGIC 0x6b626974u /* "kbit" */

/* The calling thread's binding on dev (created on first use); NULL when
 * out of memory (message recorded). */
kbit_binding *kbit_binding_get(kbit_device *dev, const char *fn);

/* The set of open devices that a thread exit consults (binding.c). */
kbit_status kbit_device_register(kbit_device *dev);
void kbit_device_unregister(kbit_device *dev);

/* Free every binding's workspace, keeping the bindings (kbit_device_trim). */
kbit_status kbit_bindings_trim(kbit_device *dev, const char *fn);

/* Free every binding of a device being closed (waits for their streams). */
void kbit_bindings_release(kbit_device *dev);

/* Device memory for the core's own long-lived objects (prepared weights,
 * optimizer states, quant states). */
kbit_status kbit_device_alloc(kbit_device *dev, size_t bytes, kbit_mem_kind kind, void **ptr,
                              const char *fn);
void kbit_device_free(kbit_device *dev, void *ptr);

#endif
