/* tools/conformance/devmem.c - see devmem.h. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "devmem.h"
#include "tap.h"

/* ------------------------------------------------------------------ */
/* Device buffers */

void *dev_alloc(kbit_device *dev, size_t bytes)
{
    void *p = NULL;
    kbit_status st = kbit_malloc(dev, bytes, &p);
    if (st != KBIT_OK)
        tap_bail("kbit_malloc(%zu) failed: %s", bytes, kbit_last_error());
    return p;
}

void *dev_alloc_fill(kbit_device *dev, size_t bytes, unsigned char fill)
{
    void *p = dev_alloc(dev, bytes);
    if (bytes) {
        unsigned char *h = malloc(bytes);
        if (h == NULL)
            tap_bail("out of host memory (%zu bytes)", bytes);
        memset(h, fill, bytes);
        if (kbit_copy(dev, p, h, bytes, KBIT_HOST_TO_DEVICE) != KBIT_OK)
            tap_bail("kbit_copy to device failed: %s", kbit_last_error());
        free(h);
    }
    return p;
}

void *dev_upload(kbit_device *dev, const void *host, size_t bytes)
{
    void *p = dev_alloc(dev, bytes);
    if (bytes && kbit_copy(dev, p, host, bytes, KBIT_HOST_TO_DEVICE) != KBIT_OK)
        tap_bail("kbit_copy to device failed: %s", kbit_last_error());
    return p;
}

void dev_download(kbit_device *dev, void *host, const void *src, size_t bytes)
{
    if (bytes && kbit_copy(dev, host, src, bytes, KBIT_DEVICE_TO_HOST) != KBIT_OK)
        tap_bail("kbit_copy to host failed: %s", kbit_last_error());
}

void dev_free(kbit_device *dev, void *p)
{
    if (p != NULL && kbit_free(dev, p) != KBIT_OK)
        tap_bail("kbit_free failed: %s", kbit_last_error());
}
