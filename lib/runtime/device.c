/* lib/runtime/device.c - device specs, open/close, info, memory and streams. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/check.h"
#include "runtime/error.h"
#include "runtime/registry.h"
#include "runtime/threads.h"

/* Parse "NAME" or "NAME:INDEX" into name and index. */
static kbit_status parse_spec(const char *spec, char *name, size_t name_len, int *index)
{
    const char *colon = strchr(spec, ':');
    size_t len = colon ? (size_t)(colon - spec) : strlen(spec);
    if (len == 0 || len >= name_len)
        return kbit_error(KBIT_EINVAL, "kbit_device_open: spec \"%s\" has no valid driver name", spec);
    for (size_t i = 0; i < len; i++) {
        char c = spec[i];
        if (!(islower((unsigned char)c) || isdigit((unsigned char)c) || c == '_'))
            return kbit_error(KBIT_EINVAL,
                              "kbit_device_open: spec \"%s\": driver names are [a-z0-9_]", spec);
    }
    memcpy(name, spec, len);
    name[len] = '\0';
    *index = 0;
    if (colon) {
        const char *digits = colon + 1;
        char *end = NULL;
        errno = 0;
        long v = strtol(digits, &end, 10);
        if (*digits == '\0' || !isdigit((unsigned char)*digits) || *end != '\0' ||
            errno != 0 || v > INT_MAX)
            return kbit_error(KBIT_EINVAL,
                              "kbit_device_open: spec \"%s\": the index after ':' must be a "
                              "non-negative integer", spec);
        *index = (int)v;
    }
    return KBIT_OK;
}

/* "auto": the highest-priority accepted driver that has a device. */
static const kbit_registry_entry *pick_auto(void)
{
    const kbit_registry_entry *best = NULL;
    for (int i = 0; i < kbit_registry_size(); i++) {
        const kbit_registry_entry *e = kbit_registry_at(i);
        if (e->driver && e->device_count > 0 &&
            (best == NULL || e->driver->priority > best->driver->priority))
            best = e;
    }
    return best;
}

KBIT_API kbit_status kbit_device_open(const char *spec, kbit_device **device)
{
    kbit_clear_error();
    if (device == NULL)
        return kbit_error(KBIT_EINVAL, "kbit_device_open: device (the output) is NULL");
    if (spec == NULL)
        return kbit_error(KBIT_EINVAL, "kbit_device_open: spec is NULL");

    const kbit_registry_entry *e = NULL;
    int index = 0;
    if (strcmp(spec, "auto") == 0) {
        e = pick_auto();
        if (e == NULL)
            return kbit_error(KBIT_ENODEV, "kbit_device_open: \"auto\" found no usable device");
    } else {
        char name[64];
        kbit_status st = parse_spec(spec, name, sizeof name, &index);
        if (st != KBIT_OK)
            return st;
        const kbit_driver *d = kbit_registry_find(name, &e);
        if (e == NULL)
            return kbit_error(KBIT_ENODEV,
                              "kbit_device_open: no driver '%s' was found (spec \"%s\"; "
                              "plugins are searched in KBIT_DRIVER_PATH and the install's plugin "
                              "directory)", name, spec);
        if (d == NULL)
            return kbit_error(KBIT_ENODEV, "kbit_device_open: driver '%s' (%s) was refused: %s",
                              name, e->path, e->reason);
        if (index >= e->device_count) {
            if (e->device_count == 0)
                return kbit_error(KBIT_ENODEV, "kbit_device_open: driver '%s' has no device: %s",
                                  name, e->reason);
            return kbit_error(KBIT_ENODEV,
                              "kbit_device_open: driver '%s' has %d device(s); index %d is out "
                              "of range", name, e->device_count, index);
        }
    }

    kbit_device *dev = calloc(1, sizeof *dev);
    if (dev == NULL)
        return kbit_error(KBIT_ENOMEM, "kbit_device_open: out of host memory");
    dev->driver = e->driver;
    dev->index = index;
    kbit_status st = dev->driver->device_open(index, &dev->ctx);
    if (st != KBIT_OK) {
        free(dev);
        if (!kbit_error_is_set())
            kbit_error(st, "kbit_device_open: driver '%s' could not open device %d (%s)",
                       e->name, index, kbit_strerror(st));
        return st;
    }
    dev->magic = KBIT_DEVICE_MAGIC;
    /* a default thread count this process cannot start (a thread limit)
     * would make OpenMP exit it: lower it to what can run */
    kbit_device_info info;
    memset(&info, 0, sizeof info);
    if (dev->driver->set_threads != NULL && dev->driver->device_info(dev->ctx, &info) == KBIT_OK &&
        info.threads > 1) {
        int can = 1;
        if (info.threads > KBIT_MAX_THREADS ||
            kbit_threads_probe(info.threads, "kbit_device_open", &can) != KBIT_OK)
            dev->driver->set_threads(dev->ctx, can < KBIT_MAX_THREADS ? can : KBIT_MAX_THREADS);
    }
    *device = dev;
    return KBIT_OK;
}

KBIT_API void kbit_device_close(kbit_device *device)
{
    kbit_clear_error();
    if (device == NULL || device->magic != KBIT_DEVICE_MAGIC)
        return;
    device->driver->device_close(device->ctx);
    device->magic = 0;
    free(device);
}

KBIT_API kbit_status kbit_device_get_info(kbit_device *device, kbit_device_info *info)
{
    kbit_clear_error();
    kbit_status st = kbit_check_device(device, "kbit_device_get_info");
    if (st != KBIT_OK)
        return st;
    if (info == NULL)
        return kbit_error(KBIT_EINVAL, "kbit_device_get_info: info is NULL");
    kbit_device_info tmp;
    memset(&tmp, 0, sizeof tmp);
    st = device->driver->device_info(device->ctx, &tmp);
    if (st != KBIT_OK)
        return kbit_driver_result(device, st, "kbit_device_get_info");
    snprintf(tmp.driver, sizeof tmp.driver, "%s", device->driver->name);
    tmp.index = device->index;
    *info = tmp;
    return KBIT_OK;
}

KBIT_API kbit_status kbit_device_set_threads(kbit_device *device, int threads)
{
    kbit_clear_error();
    kbit_status st = kbit_check_device(device, "kbit_device_set_threads");
    if (st != KBIT_OK)
        return st;
    if (threads < 1 || threads > KBIT_MAX_THREADS)
        return kbit_error(KBIT_EINVAL, "kbit_device_set_threads: threads = %d must be 1 .. "
                          "KBIT_MAX_THREADS (%d)", threads, KBIT_MAX_THREADS);
    if (device->driver->set_threads == NULL)
        return threads == 1 ? KBIT_OK
                            : kbit_error(KBIT_ENOTSUP,
                                         "kbit_device_set_threads: driver '%s' runs ops with one "
                                         "host thread", device->driver->name);
    /* the driver first (a GPU driver refuses more than 1), then whether the
     * threads can start at all; if not, the old count stays */
    kbit_device_info before;
    memset(&before, 0, sizeof before);
    int had = device->driver->device_info(device->ctx, &before) == KBIT_OK && before.threads >= 1;
    st = kbit_driver_result(device, device->driver->set_threads(device->ctx, threads),
                            "kbit_device_set_threads");
    int can = 1;
    if (st == KBIT_OK && threads > 1 &&
        (st = kbit_threads_probe(threads, "kbit_device_set_threads", &can)) != KBIT_OK)
        device->driver->set_threads(device->ctx, had ? before.threads : 1);
    return st;
}

KBIT_API kbit_status kbit_device_set_stream(kbit_device *device, void *stream)
{
    kbit_clear_error();
    kbit_status st = kbit_check_device(device, "kbit_device_set_stream");
    if (st != KBIT_OK)
        return st;
    if (device->driver->set_stream == NULL)
        return stream == NULL ? KBIT_OK
                              : kbit_error(KBIT_ENOTSUP,
                                           "kbit_device_set_stream: driver '%s' has no streams",
                                           device->driver->name);
    return kbit_driver_result(device, device->driver->set_stream(device->ctx, stream),
                              "kbit_device_set_stream");
}

KBIT_API kbit_status kbit_malloc(kbit_device *device, size_t bytes, void **ptr)
{
    kbit_clear_error();
    kbit_status st = kbit_check_device(device, "kbit_malloc");
    if (st != KBIT_OK)
        return st;
    if (ptr == NULL)
        return kbit_error(KBIT_EINVAL, "kbit_malloc: ptr (the output) is NULL");
    if (bytes > (size_t)INT64_MAX)
        return kbit_error(KBIT_EOVERFLOW, "kbit_malloc: bytes = %zu is too large", bytes);
    void *p = NULL;
    st = device->driver->mem_alloc(device->ctx, bytes, &p);
    if (st != KBIT_OK)
        return kbit_driver_result(device, st, "kbit_malloc");
    *ptr = p;
    return KBIT_OK;
}

KBIT_API kbit_status kbit_free(kbit_device *device, void *ptr)
{
    kbit_clear_error();
    kbit_status st = kbit_check_device(device, "kbit_free");
    if (st != KBIT_OK || ptr == NULL)
        return st;
    return kbit_driver_result(device, device->driver->mem_free(device->ctx, ptr), "kbit_free");
}

KBIT_API kbit_status kbit_copy(kbit_device *device, void *dst, const void *src, size_t bytes,
                               kbit_copy_kind kind)
{
    kbit_clear_error();
    kbit_status st = kbit_check_device(device, "kbit_copy");
    if (st != KBIT_OK)
        return st;
    if (kind != KBIT_HOST_TO_DEVICE && kind != KBIT_DEVICE_TO_HOST && kind != KBIT_DEVICE_TO_DEVICE)
        return kbit_error(KBIT_EINVAL, "kbit_copy: kind = %d is not a kbit_copy_kind", (int)kind);
    if (bytes == 0)
        return KBIT_OK;
    if (dst == NULL)
        return kbit_error(KBIT_EINVAL, "kbit_copy: dst is NULL");
    if (src == NULL)
        return kbit_error(KBIT_EINVAL, "kbit_copy: src is NULL");
    if (bytes > (size_t)INT64_MAX)
        return kbit_error(KBIT_EOVERFLOW, "kbit_copy: bytes = %zu is too large", bytes);
    if ((st = KBIT_CHECK_OVERLAP("kbit_copy", KBIT_IN(src, bytes, "src"),
                                 KBIT_OUT(dst, bytes, "dst"))) != KBIT_OK)
        return st;
    return kbit_driver_result(device, device->driver->mem_copy(device->ctx, dst, src, bytes, kind),
                              "kbit_copy");
}

KBIT_API kbit_status kbit_sync(kbit_device *device)
{
    kbit_clear_error();
    kbit_status st = kbit_check_device(device, "kbit_sync");
    if (st != KBIT_OK)
        return st;
    return kbit_driver_result(device, device->driver->sync(device->ctx), "kbit_sync");
}

kbit_status kbit_scratch_alloc(kbit_device *dev, size_t bytes, void **ptr)
{
    kbit_status st = dev->driver->mem_alloc(dev->ctx, bytes, ptr);
    return kbit_driver_result(dev, st, "scratch allocation");
}

void kbit_scratch_free(kbit_device *dev, void *ptr)
{
    if (ptr != NULL)
        dev->driver->mem_free(dev->ctx, ptr);
}
