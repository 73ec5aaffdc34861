/* lib/runtime/device.c - device specs, open/close, info, memory and streams. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/check.h"
#include "runtime/error.h"
#include "runtime/registry.h"
#include "ops/maps.h"
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

/* The first device of e implementing `families`, or -1. */
static int first_device_with(const kbit_registry_entry *e, uint32_t families)
{
    for (int i = 0; i < e->device_count; i++)
        if ((kbit_registry_device_families(e, i, NULL) & families) == families)
            return i;
    return -1;
}

/* "auto": the highest-priority accepted driver with a device implementing
 * `families` (ties: the first found). */
static const kbit_registry_entry *pick_auto(uint32_t families, int *index)
{
    const kbit_registry_entry *best = NULL;
    for (int i = 0; i < kbit_registry_size(); i++) {
        const kbit_registry_entry *e = kbit_registry_at(i);
        if (e->driver == NULL || (best != NULL && e->driver->priority <= best->driver->priority))
            continue;
        int d = first_device_with(e, families);
        if (d >= 0) {
            best = e;
            *index = d;
        }
    }
    return best;
}

/* The first family of `want` missing from `have`. */
static kbit_family first_missing(uint32_t want, uint32_t have)
{
    uint32_t missing = want & ~have;
    return (kbit_family)(missing & (~missing + 1u));
}

static kbit_status open_device(const char *spec, uint32_t families, kbit_device **device,
                               const char *fn)
{
    if (device == NULL)
        return kbit_error(KBIT_EINVAL, "%s: device (the output) is NULL", fn);
    if (spec == NULL)
        return kbit_error(KBIT_EINVAL, "%s: spec is NULL", fn);
    if ((families & ~KBIT_FAMILY_ALL) != 0)
        return kbit_error(KBIT_EINVAL, "%s: families = 0x%x holds bits that are not "
                          "KBIT_FAMILY_* values", fn, (unsigned)families);

    const kbit_registry_entry *e = NULL;
    int index = 0;
    if (strcmp(spec, "auto") == 0) {
        e = pick_auto(families, &index);
        if (e == NULL)
            return kbit_error(KBIT_ENODEV, "%s: \"auto\" found no usable device", fn);
    } else {
        char name[64];
        kbit_status st = parse_spec(spec, name, sizeof name, &index);
        if (st != KBIT_OK)
            return st;
        const kbit_driver *d = kbit_registry_find(name, &e);
        if (e == NULL)
            return kbit_error(KBIT_ENODEV,
                              "%s: no driver '%s' was found (spec \"%s\"; "
                              "plugins are searched in KBIT_DRIVER_PATH and the install's plugin "
                              "directory)", fn, name, spec);
        if (d == NULL)
            return kbit_error(KBIT_ENODEV, "%s: driver '%s' (%s) was refused: %s", fn,
                              name, e->path, e->reason);
        if (index >= e->device_count) {
            if (e->device_count == 0)
                return kbit_error(KBIT_ENODEV, "%s: driver '%s' has no device: %s", fn,
                                  name, e->reason);
            return kbit_error(KBIT_ENODEV,
                              "%s: driver '%s' has %d device(s); index %d is out "
                              "of range", fn, name, e->device_count, index);
        }
        const char *why = NULL;
        uint32_t have = kbit_registry_device_families(e, index, &why);
        if ((have & families) != families) {
            kbit_family f = first_missing(families, have);
            return kbit_error(KBIT_ENOTSUP, "%s: %s:%d does not implement %s (%s)%s%s", fn,
                              name, index, kbit_family_title(f), kbit_family_name(f),
                              why && *why ? ": " : "",
                              why && *why ? why : e->families_reason);
        }
    }

    kbit_device *dev = calloc(1, sizeof *dev);
    if (dev == NULL)
        return kbit_error(KBIT_ENOMEM, "%s: out of host memory", fn);
    static uint64_t next_serial;
    static pthread_mutex_t serial_lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&serial_lock);
    dev->serial = ++next_serial;
    pthread_mutex_unlock(&serial_lock);
    dev->driver = e->driver;
    dev->index = index;
    dev->families = kbit_registry_device_families(e, index, &dev->families_reason);
    if (dev->families_reason == NULL || dev->families_reason[0] == '\0')
        dev->families_reason = e->families_reason;
    snprintf(dev->spec, sizeof dev->spec, "%s:%d", e->name, index);
    pthread_mutex_init(&dev->lock, NULL);
    kbit_status st = dev->driver->device_open(index, &dev->ctx);
    if (st != KBIT_OK) {
        pthread_mutex_destroy(&dev->lock);
        free(dev);
        if (!kbit_error_is_set())
            kbit_error(st, "%s: driver '%s' could not open device %d (%s)", fn,
                       e->name, index, kbit_strerror(st));
        return st;
    }
    if ((st = kbit_device_register(dev)) != KBIT_OK) {
        dev->driver->device_close(dev->ctx);
        pthread_mutex_destroy(&dev->lock);
        free(dev);
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

KBIT_API kbit_status kbit_device_open(const char *spec, kbit_device **device)
{
    kbit_clear_error();
    /* "auto": a device for everything; a named device: whatever it has */
    uint32_t families = spec != NULL && strcmp(spec, "auto") == 0 ? KBIT_FAMILY_ALL : 0;
    return open_device(spec, families, device, "kbit_device_open");
}

KBIT_API kbit_status kbit_device_open_for(const char *spec, uint32_t families,
                                          kbit_device **device)
{
    kbit_clear_error();
    return open_device(spec, families, device, "kbit_device_open_for");
}

KBIT_API kbit_status kbit_device_supports(kbit_device *device, uint32_t families)
{
    static const char fn[] = "kbit_device_supports";
    kbit_clear_error();
    kbit_status st = kbit_check_device(device, fn);
    if (st != KBIT_OK)
        return st;
    if ((families & ~KBIT_FAMILY_ALL) != 0)
        return kbit_error(KBIT_EINVAL, "%s: families = 0x%x holds bits that are not "
                          "KBIT_FAMILY_* values", fn, (unsigned)families);
    return kbit_check_family(device, families, fn);
}

KBIT_API kbit_status kbit_device_supports_args(kbit_device *device, kbit_family family,
                                               kbit_dtype dtype, int blocksize)
{
    static const char fn[] = "kbit_device_supports_args";
    kbit_clear_error();
    kbit_status st;
    if ((st = kbit_check_device(device, fn)) != KBIT_OK ||
        (st = kbit_check_float_dtype(dtype, fn, "dtype")) != KBIT_OK)
        return st;
    if (kbit_family_name(family) == NULL)
        return kbit_error(KBIT_EINVAL, "%s: family = 0x%x is not one KBIT_FAMILY_* value", fn,
                          (unsigned)family);
    if (blocksize < 0)
        return kbit_error(KBIT_EINVAL, "%s: blocksize = %d is negative", fn, blocksize);
    if ((st = kbit_check_family(device, family, fn)) != KBIT_OK)
        return st;
    return kbit_check_limits(device, family, dtype, blocksize, fn);
}

KBIT_API void kbit_device_close(kbit_device *device)
{
    kbit_clear_error();
    if (device == NULL || device->magic != KBIT_DEVICE_MAGIC)
        return;
    device->magic = 0;
    kbit_device_unregister(device);
    kbit_bindings_release(device);
    kbit_maps_release(device);
    device->driver->device_close(device->ctx);
    pthread_mutex_destroy(&device->lock);
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
    tmp.families = device->families;
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
    static const char fn[] = "kbit_device_set_stream";
    kbit_clear_error();
    kbit_status st = kbit_check_device(device, fn);
    if (st != KBIT_OK)
        return st;
    if (stream != NULL && !(device->driver->flags & KBIT_DRIVER_STREAMS))
        return kbit_error(KBIT_ENOTSUP, "%s: driver '%s' has no streams; only NULL is accepted",
                          fn, device->driver->name);
    kbit_binding *b = kbit_binding_get(device, fn);
    if (b == NULL)
        return KBIT_ENOMEM;
    if (b->stream == stream)
        return KBIT_OK;
    /* The workspace was last used on the old stream: let that work finish
     * before the new stream may overwrite it. */
    if (b->workspace != NULL &&
        (st = kbit_driver_result(device, device->driver->sync(device->ctx, b->stream), fn)) !=
            KBIT_OK)
        return st;
    b->stream = stream;
    return KBIT_OK;
}

KBIT_API kbit_status kbit_device_trim(kbit_device *device)
{
    static const char fn[] = "kbit_device_trim";
    kbit_clear_error();
    kbit_status st = kbit_check_device(device, fn);
    return st != KBIT_OK ? st : kbit_bindings_trim(device, fn);
}

KBIT_API kbit_status kbit_device_set_math_mode(kbit_device *device, kbit_math_mode mode)
{
    static const char fn[] = "kbit_device_set_math_mode";
    kbit_clear_error();
    kbit_status st = kbit_check_device(device, fn);
    if (st != KBIT_OK)
        return st;
    if (mode != KBIT_MATH_EXACT && mode != KBIT_MATH_FAST)
        return kbit_error(KBIT_EINVAL, "%s: mode = %d is not a kbit_math_mode", fn, (int)mode);
    device->mode = mode;
    return KBIT_OK;
}

static kbit_status malloc_kind(kbit_device *device, size_t bytes, kbit_mem_kind kind,
                               void **ptr, const char *fn)
{
    kbit_status st = kbit_check_device(device, fn);
    if (st != KBIT_OK)
        return st;
    if (ptr == NULL)
        return kbit_error(KBIT_EINVAL, "%s: ptr (the output) is NULL", fn);
    if (kind != KBIT_MEM_DEVICE && kind != KBIT_MEM_MANAGED && kind != KBIT_MEM_HOST_PINNED)
        return kbit_error(KBIT_EINVAL, "%s: kind = %d is not a kbit_mem_kind", fn, (int)kind);
    if (kind != KBIT_MEM_DEVICE && !(device->driver->mem_kinds & KBIT_MEM_KIND_BIT(kind)))
        return kbit_error(KBIT_ENOTSUP, "%s: driver '%s' has no %s memory", fn,
                          device->driver->name,
                          kind == KBIT_MEM_MANAGED ? "managed" : "pinned host");
    if (bytes > (size_t)INT64_MAX)
        return kbit_error(KBIT_EOVERFLOW, "%s: bytes = %zu is too large", fn, bytes);
    void *p = NULL;
    st = device->driver->mem_alloc(device->ctx, bytes, kind, &p);
    if (st != KBIT_OK)
        return kbit_driver_result(device, st, fn);
    *ptr = p;
    return KBIT_OK;
}

KBIT_API kbit_status kbit_malloc(kbit_device *device, size_t bytes, void **ptr)
{
    kbit_clear_error();
    return malloc_kind(device, bytes, KBIT_MEM_DEVICE, ptr, "kbit_malloc");
}

KBIT_API kbit_status kbit_malloc_kind(kbit_device *device, size_t bytes, kbit_mem_kind kind,
                                      void **ptr)
{
    kbit_clear_error();
    return malloc_kind(device, bytes, kind, ptr, "kbit_malloc_kind");
}

KBIT_API kbit_status kbit_free(kbit_device *device, void *ptr)
{
    kbit_clear_error();
    kbit_status st = kbit_check_device(device, "kbit_free");
    if (st != KBIT_OK || ptr == NULL)
        return st;
    return kbit_driver_result(device, device->driver->mem_free(device->ctx, ptr), "kbit_free");
}

KBIT_API kbit_status kbit_prefetch(kbit_device *device, const void *ptr, size_t bytes,
                                   int to_device)
{
    static const char fn[] = "kbit_prefetch";
    kbit_clear_error();
    kbit_status st = kbit_check_device(device, fn);
    if (st != KBIT_OK)
        return st;
    if (ptr == NULL && bytes > 0)
        return kbit_error(KBIT_EINVAL, "%s: ptr is NULL", fn);
    if (bytes == 0 || device->driver->mem_prefetch == NULL)
        return KBIT_OK;
    kbit_binding *b = kbit_binding_get(device, fn);
    if (b == NULL)
        return KBIT_ENOMEM;
    return kbit_driver_result(device, device->driver->mem_prefetch(device->ctx, b->stream, ptr,
                                                                   bytes, to_device != 0), fn);
}

KBIT_API kbit_status kbit_copy(kbit_device *device, void *dst, const void *src, size_t bytes,
                               kbit_copy_kind kind)
{
    static const char fn[] = "kbit_copy";
    kbit_clear_error();
    kbit_status st = kbit_check_device(device, fn);
    if (st != KBIT_OK)
        return st;
    if (kind != KBIT_HOST_TO_DEVICE && kind != KBIT_DEVICE_TO_HOST && kind != KBIT_DEVICE_TO_DEVICE)
        return kbit_error(KBIT_EINVAL, "%s: kind = %d is not a kbit_copy_kind", fn, (int)kind);
    if (bytes == 0)
        return KBIT_OK;
    if (dst == NULL)
        return kbit_error(KBIT_EINVAL, "%s: dst is NULL", fn);
    if (src == NULL)
        return kbit_error(KBIT_EINVAL, "%s: src is NULL", fn);
    if (bytes > (size_t)INT64_MAX)
        return kbit_error(KBIT_EOVERFLOW, "%s: bytes = %zu is too large", fn, bytes);
    if ((st = KBIT_CHECK_OVERLAP(fn, KBIT_IN(src, bytes, "src"), KBIT_OUT(dst, bytes, "dst"))) !=
        KBIT_OK)
        return st;
    kbit_binding *b = kbit_binding_get(device, fn);
    if (b == NULL)
        return KBIT_ENOMEM;
    return kbit_driver_result(device, device->driver->mem_copy(device->ctx, b->stream, dst, src,
                                                               bytes, kind), fn);
}

KBIT_API kbit_status kbit_sync(kbit_device *device)
{
    kbit_clear_error();
    kbit_status st = kbit_check_device(device, "kbit_sync");
    if (st != KBIT_OK)
        return st;
    kbit_binding *b = kbit_binding_get(device, "kbit_sync");
    if (b == NULL)
        return KBIT_ENOMEM;
    return kbit_driver_result(device, device->driver->sync(device->ctx, b->stream), "kbit_sync");
}

kbit_status kbit_device_alloc(kbit_device *dev, size_t bytes, kbit_mem_kind kind, void **ptr,
                              const char *fn)
{
    kbit_status st = dev->driver->mem_alloc(dev->ctx, bytes, kind, ptr);
    return kbit_driver_result(dev, st, fn);
}

void kbit_device_free(kbit_device *dev, void *ptr)
{
    if (ptr != NULL)
        dev->driver->mem_free(dev->ctx, ptr);
}
