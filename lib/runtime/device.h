/* lib/runtime/device.h - an open device: a driver table and the driver's context. */
#ifndef KBIT_LIB_DEVICE_H
#define KBIT_LIB_DEVICE_H

#include "kbit-driver.h"

struct kbit_device {
    uint32_t magic;            /* KBIT_DEVICE_MAGIC while open: catches stale handles */
    const kbit_driver *driver;
    void *ctx;
    int index;
};

#define KBIT_DEVICE_MAGIC 0x6b626974u /* "kbit" */

/* Device-memory scratch for the core (nested absmax temporaries). */
kbit_status kbit_scratch_alloc(kbit_device *dev, size_t bytes, void **ptr);
void kbit_scratch_free(kbit_device *dev, void *ptr);

#endif
