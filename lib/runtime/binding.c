/* lib/runtime/binding.c - per-thread bindings of a device (stream and
 * workspace) and the call helper of exec.h.
 *
 * Every thread that uses a device gets its own binding, found through a
 * small thread-local cache keyed by the device's serial number (a closed
 * device's handle may be reused by a new device; its serial is not). When a
 * thread exits, its bindings are handed back (their streams waited for), so
 * a thread pool does not grow the workspaces without bound: the next new
 * thread takes a free binding with its workspace. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/check.h"
#include "runtime/error.h"
#include "runtime/exec.h"

/* ------------------------------------------------------------------ */
/* Open devices, so a thread exit can tell which of its bindings' devices
 * are still there.                                                     */

#define MAX_OPEN 256
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
static kbit_device *open_devices[MAX_OPEN];

/* The thread-local cache: the bindings this thread holds. */
#define TL_SLOTS 16
typedef struct tl_slot {
    kbit_device *dev;
    uint64_t serial;
    kbit_binding *b;
} tl_slot;
static _Thread_local tl_slot tl_cache[TL_SLOTS];
static _Thread_local unsigned tl_next;

static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

static int device_open_locked(const kbit_device *dev, uint64_t serial)
{
    for (int i = 0; i < MAX_OPEN; i++)
        if (open_devices[i] == dev && dev->serial == serial)
            return 1;
    return 0;
}

/* At thread exit: wait for each binding's stream and hand it back. */
static void thread_exit(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&open_lock);
    for (int i = 0; i < TL_SLOTS; i++) {
        tl_slot *s = &tl_cache[i];
        if (s->dev == NULL || !device_open_locked(s->dev, s->serial))
            continue;
        kbit_device *dev = s->dev;
        pthread_mutex_lock(&dev->lock);
        if (s->b->workspace != NULL)
            (void)dev->driver->sync(dev->ctx, s->b->stream);
        s->b->owned = 0;
        s->b->stream = NULL;
        pthread_mutex_unlock(&dev->lock);
        s->dev = NULL;
    }
    pthread_mutex_unlock(&open_lock);
}

static void make_exit_key(void)
{
    (void)pthread_key_create(&exit_key, thread_exit);
}

kbit_status kbit_device_register(kbit_device *dev)
{
    pthread_mutex_lock(&open_lock);
    for (int i = 0; i < MAX_OPEN; i++)
        if (open_devices[i] == NULL) {
            open_devices[i] = dev;
            pthread_mutex_unlock(&open_lock);
            return KBIT_OK;
        }
    pthread_mutex_unlock(&open_lock);
    return kbit_error(KBIT_ENOMEM, "kbit_device_open: %d devices are open already", MAX_OPEN);
}

void kbit_device_unregister(kbit_device *dev)
{
    pthread_mutex_lock(&open_lock);
    for (int i = 0; i < MAX_OPEN; i++)
        if (open_devices[i] == dev)
            open_devices[i] = NULL;
    pthread_mutex_unlock(&open_lock);
}

/* ------------------------------------------------------------------ */
/* Bindings                                                             */

kbit_binding *kbit_binding_get(kbit_device *dev, const char *fn)
{
    for (int i = 0; i < TL_SLOTS; i++)
        if (tl_cache[i].dev == dev && tl_cache[i].serial == dev->serial)
            return tl_cache[i].b;

    pthread_once(&exit_once, make_exit_key);
    pthread_t self = pthread_self();
    pthread_mutex_lock(&dev->lock);
    kbit_binding *b = NULL, *spare = NULL;
    for (kbit_binding *it = dev->bindings; it != NULL && b == NULL; it = it->next) {
        if (it->owned && pthread_equal(it->owner, self))
            b = it;
        else if (!it->owned && spare == NULL)
            spare = it;
    }
    if (b == NULL && spare != NULL)
        b = spare;
    if (b == NULL) {
        b = calloc(1, sizeof *b);
        if (b == NULL) {
            pthread_mutex_unlock(&dev->lock);
            kbit_error(KBIT_ENOMEM, "%s: out of host memory for a thread binding", fn);
            return NULL;
        }
        b->next = dev->bindings;
        dev->bindings = b;
    }
    b->owner = self;
    b->owned = 1;
    pthread_mutex_unlock(&dev->lock);

    tl_slot *s = &tl_cache[tl_next++ % TL_SLOTS];
    s->dev = dev;
    s->serial = dev->serial;
    s->b = b;
    (void)pthread_setspecific(exit_key, (void *)1); /* so thread_exit runs */
    return b;
}

kbit_status kbit_bindings_trim(kbit_device *dev, const char *fn)
{
    kbit_status st = KBIT_OK;
    pthread_mutex_lock(&dev->lock);
    for (kbit_binding *b = dev->bindings; b != NULL && st == KBIT_OK; b = b->next) {
        if (b->workspace == NULL)
            continue;
        st = kbit_driver_result(dev, dev->driver->sync(dev->ctx, b->stream), fn);
        if (st == KBIT_OK) {
            (void)dev->driver->mem_free(dev->ctx, b->workspace);
            b->workspace = NULL;
            b->workspace_bytes = 0;
        }
    }
    pthread_mutex_unlock(&dev->lock);
    return st;
}

void kbit_bindings_release(kbit_device *dev)
{
    pthread_mutex_lock(&dev->lock);
    kbit_binding *b = dev->bindings;
    dev->bindings = NULL;
    pthread_mutex_unlock(&dev->lock);
    while (b != NULL) {
        kbit_binding *next = b->next;
        if (b->workspace != NULL) {
            (void)dev->driver->sync(dev->ctx, b->stream);
            (void)dev->driver->mem_free(dev->ctx, b->workspace);
        }
        free(b);
        b = next;
    }
    /* This thread's cache entries for dev die with its serial. */
}

/* ------------------------------------------------------------------ */
/* Calls                                                                */

size_t kbit_driver_workspace(const kbit_device *dev, kbit_op_id id, const void *op)
{
    return dev->driver->workspace_bytes ? dev->driver->workspace_bytes(dev->ctx, id, op) : 0;
}

/* Make b's workspace at least `need` bytes (growth by half again, so a
 * slowly growing need does not reallocate every call). */
static kbit_status ensure_workspace(kbit_device *dev, kbit_binding *b, size_t need,
                                    const char *fn)
{
    if (need <= b->workspace_bytes)
        return KBIT_OK;
    size_t want = b->workspace_bytes + b->workspace_bytes / 2;
    if (want < need)
        want = need;
    if (b->workspace != NULL) {
        kbit_status st = dev->driver->sync(dev->ctx, b->stream);
        if (st != KBIT_OK)
            return kbit_driver_result(dev, st, fn);
        (void)dev->driver->mem_free(dev->ctx, b->workspace);
        b->workspace = NULL;
        b->workspace_bytes = 0;
    }
    void *p = NULL;
    kbit_status st = dev->driver->mem_alloc(dev->ctx, want, KBIT_MEM_DEVICE, &p);
    if (st != KBIT_OK && want > need) { /* the growth margin may be what did not fit */
        kbit_clear_error();
        want = need;
        st = dev->driver->mem_alloc(dev->ctx, want, KBIT_MEM_DEVICE, &p);
    }
    if (st != KBIT_OK) {
        if (!kbit_error_is_set() || st == KBIT_ENOMEM)
            return kbit_error(st == KBIT_OK ? KBIT_ENOMEM : st,
                              "%s: the device workspace cannot grow to %zu bytes (%s)", fn, need,
                              kbit_strerror(st));
        return st;
    }
    b->workspace = p;
    b->workspace_bytes = want;
    return KBIT_OK;
}

kbit_status kbit_call_begin(kbit_call *c, kbit_device *dev, size_t core_bytes,
                            size_t driver_bytes, const char *fn)
{
    memset(c, 0, sizeof *c);
    c->dev = dev;
    c->fn = fn;
    c->ex.struct_size = sizeof c->ex;
    c->binding = kbit_binding_get(dev, fn);
    if (c->binding == NULL)
        return KBIT_ENOMEM;
    c->ex.stream = c->binding->stream;
    core_bytes = kbit_call_size(core_bytes);
    driver_bytes = kbit_call_size(driver_bytes);
    if (core_bytes > SIZE_MAX / 2 || driver_bytes > SIZE_MAX / 2)
        return kbit_error(KBIT_EOVERFLOW, "%s: the workspace size overflows", fn);
    if (core_bytes + driver_bytes > 0) {
        kbit_status st = ensure_workspace(dev, c->binding, core_bytes + driver_bytes, fn);
        if (st != KBIT_OK)
            return st;
    }
    c->core = c->binding->workspace;
    c->core_bytes = core_bytes;
    if (driver_bytes > 0) {
        c->ex.workspace = (unsigned char *)c->binding->workspace + core_bytes;
        c->ex.workspace_bytes = driver_bytes;
    }
    return KBIT_OK;
}

kbit_status kbit_call_take(kbit_call *c, size_t bytes, void *p)
{
    size_t size = kbit_call_size(bytes);
    if (c->core_used + size > c->core_bytes)
        return kbit_error(KBIT_EINVAL, "%s: internal error: workspace of %zu bytes sized "
                          "too small", c->fn, c->core_bytes);
    void *q = c->core + c->core_used;
    memcpy(p, &q, sizeof q); /* p points at the caller's pointer of any type */
    c->core_used += size;
    return KBIT_OK;
}

kbit_status kbit_call_upload(kbit_call *c, void *dst, const void *src, size_t bytes)
{
    kbit_device *d = c->dev;
    return kbit_call_result(c, d->driver->mem_copy(d->ctx, c->ex.stream, dst, src, bytes,
                                                   KBIT_HOST_TO_DEVICE));
}

kbit_status kbit_call_download(kbit_call *c, void *dst, const void *src, size_t bytes)
{
    kbit_device *d = c->dev;
    return kbit_call_result(c, d->driver->mem_copy(d->ctx, c->ex.stream, dst, src, bytes,
                                                   KBIT_DEVICE_TO_HOST));
}

kbit_status kbit_call_result(const kbit_call *c, kbit_status st)
{
    return kbit_driver_result(c->dev, st, c->fn);
}
