/* tools/conformance/devmem.h - device buffers for checks: any failure bails
 * out (these calls are not what is tested). Shared by `kbit conformance`
 * and the test programs. */
#ifndef KBIT_CONFORMANCE_DEVMEM_H
#define KBIT_CONFORMANCE_DEVMEM_H

#include <stddef.h>

#include "kbit.h"

void *dev_alloc(kbit_device *dev, size_t bytes);
/* Allocate and fill every byte with `fill`. */
void *dev_alloc_fill(kbit_device *dev, size_t bytes, unsigned char fill);
void *dev_upload(kbit_device *dev, const void *host, size_t bytes);
void dev_download(kbit_device *dev, void *host, const void *src, size_t bytes);
void dev_free(kbit_device *dev, void *p);

#endif
