/* backends/opencl/memory.c - memory, copies, sync and streams of the OpenCL
 * driver.
 *
 * Device pointers. OpenCL 1.2 has no device addresses a host can hold (a
 * cl_mem is a handle), yet kbit's users offset device pointers (buf + k)
 * and the core cuts its workspace into pieces. So each allocation of device
 * memory gets a range of the process's address space of its own: reserved
 * with mmap (PROT_NONE: never backed, and any access from the host faults
 * instead of silently reading something else), never overlapping host
 * memory or another allocation. A pointer into that range maps back to the
 * allocation's cl_mem and the byte offset, which the kernels take as two
 * arguments. The table of allocations is per device (shared by every open
 * of it, like the cl_context), sorted by address.
 *
 * Kinds: device memory (above); pinned host memory is a buffer made with
 * CL_MEM_ALLOC_HOST_PTR and mapped for the host for its whole life: its
 * pointer is that host mapping, for copies (kernels must not use a mapped
 * buffer in OpenCL 1.2, so an op given pinned memory is refused); managed
 * memory has no OpenCL 1.2 equivalent (KBIT_ENOTSUP from the core: the
 * driver does not list the kind).
 *
 * Queues are in-order: a copy or kernel starts after everything enqueued
 * before it. Copies from or to the host block until done (the source may be
 * reused, the destination is filled); device-to-device copies do not.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backends/opencl/cl.h"

/* Index of the allocation holding address p, or -1. Caller holds sh->lock. */
static long find(const kcl_shared *sh, uintptr_t p)
{
    size_t lo = 0, hi = sh->nallocs;
    while (lo < hi) { /* first allocation with base > p */
        size_t mid = lo + (hi - lo) / 2;
        if (sh->allocs[mid].base <= p)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return -1;
    const kcl_alloc *a = &sh->allocs[lo - 1];
    size_t span = a->bytes > 0 ? a->bytes : 1;
    return p - a->base < span ? (long)(lo - 1) : -1;
}

/* What a pointer is: one of our buffers (kind 1, with *a and *off), pinned
 * host memory of ours (kind 2), or anything else (kind 0). */
typedef struct where {
    int kind;
    kcl_alloc a;
    size_t off;
} where;

static where locate(kcl_shared *sh, const void *p)
{
    where w;
    memset(&w, 0, sizeof w);
    pthread_mutex_lock(&sh->lock);
    long i = find(sh, (uintptr_t)p);
    if (i >= 0) {
        w.a = sh->allocs[i];
        w.off = (uintptr_t)p - w.a.base;
        w.kind = w.a.pinned ? 2 : 1;
    }
    pthread_mutex_unlock(&sh->lock);
    return w;
}

kbit_status kcl_resolve(kcl_ctx *c, const void *p, size_t bytes, const char *what, kcl_arg *arg)
{
    arg->mem = NULL;
    arg->off = 0;
    if (p == NULL && bytes == 0)
        return KBIT_OK;
    where w = locate(c->sh, p);
    if (w.kind == 0)
        return kcl_error(KBIT_EINVAL, "%s (%p) is not memory of opencl:%d (kbit_malloc on this "
                         "device)", what, p, c->index);
    if (w.kind == 2)
        return kcl_error(KBIT_EINVAL, "%s (%p) is pinned host memory: OpenCL kernels cannot use "
                         "a mapped buffer; copy it into device memory (kbit_malloc) first",
                         what, p);
    if (bytes > w.a.bytes - w.off)
        return kcl_error(KBIT_EINVAL, "%s (%p): %zu bytes from it run past the end of its "
                         "allocation (%zu bytes at %p)", what, p, bytes, w.a.bytes,
                         (void *)w.a.base);
    arg->mem = w.a.mem;
    arg->off = (cl_ulong)w.off;
    return KBIT_OK;
}

kbit_status kcl_queue(kcl_ctx *c, void *stream, cl_command_queue *q)
{
    if (stream == NULL) {
        *q = c->h.queue;
        return KBIT_OK;
    }
    cl_command_queue s = (cl_command_queue)stream;
    cl_context qc = NULL;
    cl_device_id qd = NULL;
    cl_command_queue_properties props = 0;
    cl_int e = clGetCommandQueueInfo(s, CL_QUEUE_CONTEXT, sizeof qc, &qc, NULL);
    if (e == CL_SUCCESS)
        e = clGetCommandQueueInfo(s, CL_QUEUE_DEVICE, sizeof qd, &qd, NULL);
    if (e == CL_SUCCESS)
        e = clGetCommandQueueInfo(s, CL_QUEUE_PROPERTIES, sizeof props, &props, NULL);
    if (e != CL_SUCCESS)
        return kcl_error(KBIT_EINVAL, "the stream is not a cl_command_queue "
                         "(clGetCommandQueueInfo: %s (%d))", kcl_error_name(e), (int)e);
    if (qd != c->h.device)
        return kcl_error(KBIT_EINVAL, "the stream (cl_command_queue %p) is a queue of another "
                         "device than opencl:%d", stream, c->index);
    if (qc != c->h.context)
        return kcl_error(KBIT_EINVAL, "the stream (cl_command_queue %p) belongs to another "
                         "cl_context: kbit's buffers on opencl:%d live in its own context",
                         stream, c->index);
    if (props & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE)
        return kcl_error(KBIT_EINVAL, "the stream (cl_command_queue %p) is out of order: kbit "
                         "needs an in-order queue", stream);
    *q = s;
    return KBIT_OK;
}

/* ------------------------------------------------------------------ */
/* Allocation                                                           */

static kbit_status table_insert(kcl_shared *sh, const kcl_alloc *a)
{
    pthread_mutex_lock(&sh->lock);
    if (sh->nallocs == sh->cap) {
        size_t cap = sh->cap ? 2 * sh->cap : 64;
        kcl_alloc *n = realloc(sh->allocs, cap * sizeof *n);
        if (n == NULL) {
            pthread_mutex_unlock(&sh->lock);
            return kcl_error(KBIT_ENOMEM, "mem_alloc: out of host memory for the allocation table");
        }
        sh->allocs = n;
        sh->cap = cap;
    }
    size_t i = sh->nallocs;
    while (i > 0 && sh->allocs[i - 1].base > a->base) {
        sh->allocs[i] = sh->allocs[i - 1];
        i--;
    }
    sh->allocs[i] = *a;
    sh->nallocs++;
    pthread_mutex_unlock(&sh->lock);
    return KBIT_OK;
}

kbit_status kcl_mem_alloc(void *ctx, size_t bytes, kbit_mem_kind kind, void **ptr)
{
    kcl_ctx *c = ctx;
    const kcl_device *dev = c->sh->dev;
    if (bytes > dev->max_alloc)
        return kcl_error(KBIT_ENOMEM, "mem_alloc: %zu bytes is more than opencl:%d allocates at "
                         "once (CL_DEVICE_MAX_MEM_ALLOC_SIZE = %llu)", bytes, c->index,
                         (unsigned long long)dev->max_alloc);
    size_t n = bytes > 0 ? bytes : 1; /* a unique pointer even for 0 bytes */
    kcl_alloc a;
    memset(&a, 0, sizeof a);
    a.bytes = bytes;
    cl_int e = CL_SUCCESS;
    if (kind == KBIT_MEM_HOST_PINNED) {
        a.mem = clCreateBuffer(c->h.context, CL_MEM_READ_WRITE | CL_MEM_ALLOC_HOST_PTR, n, NULL, &e);
        if (e != CL_SUCCESS)
            return kcl_fail(e, "clCreateBuffer", "pinned host memory (CL_MEM_ALLOC_HOST_PTR)");
        void *host = clEnqueueMapBuffer(c->h.queue, a.mem, CL_TRUE, CL_MAP_READ | CL_MAP_WRITE, 0,
                                        n, 0, NULL, NULL, &e);
        if (e != CL_SUCCESS) {
            clReleaseMemObject(a.mem);
            return kcl_fail(e, "clEnqueueMapBuffer", "pinned host memory");
        }
        a.base = (uintptr_t)host;
        a.pinned = 1;
    } else {
        a.mem = clCreateBuffer(c->h.context, CL_MEM_READ_WRITE, n, NULL, &e);
        if (e != CL_SUCCESS)
            return kcl_fail(e, "clCreateBuffer", NULL);
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        a.reserved = (n + page - 1) / page * page;
        void *r = mmap(NULL, a.reserved, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                       -1, 0);
        if (r == MAP_FAILED) {
            clReleaseMemObject(a.mem);
            return kcl_error(KBIT_ENOMEM, "mem_alloc: mmap could not reserve %zu bytes of address "
                             "space for the device pointer", a.reserved);
        }
        a.base = (uintptr_t)r;
    }
    kbit_status st = table_insert(c->sh, &a);
    if (st != KBIT_OK) {
        if (a.pinned) {
            clEnqueueUnmapMemObject(c->h.queue, a.mem, (void *)a.base, 0, NULL, NULL);
            clFinish(c->h.queue);
        } else {
            munmap((void *)a.base, a.reserved);
        }
        clReleaseMemObject(a.mem);
        return st;
    }
    *ptr = (void *)a.base;
    return KBIT_OK;
}

static void release(cl_command_queue q, const kcl_alloc *a)
{
    if (a->pinned) {
        clEnqueueUnmapMemObject(q, a->mem, (void *)a->base, 0, NULL, NULL);
        clFinish(q);
    } else {
        munmap((void *)a->base, a->reserved);
    }
    clReleaseMemObject(a->mem);
}

kbit_status kcl_mem_free(void *ctx, void *ptr)
{
    kcl_ctx *c = ctx;
    kcl_shared *sh = c->sh;
    pthread_mutex_lock(&sh->lock);
    long i = find(sh, (uintptr_t)ptr);
    if (i < 0 || sh->allocs[i].base != (uintptr_t)ptr) {
        pthread_mutex_unlock(&sh->lock);
        return kcl_error(KBIT_EINVAL, "mem_free: %p is not an allocation of opencl:%d", ptr,
                         c->index);
    }
    kcl_alloc a = sh->allocs[i];
    memmove(&sh->allocs[i], &sh->allocs[i + 1], (sh->nallocs - (size_t)i - 1) * sizeof a);
    sh->nallocs--;
    pthread_mutex_unlock(&sh->lock);
    /* The buffer may still be in use by enqueued work: OpenCL keeps it until
     * that is done (clReleaseMemObject only drops our reference). */
    release(c->h.queue, &a);
    return KBIT_OK;
}

/* ------------------------------------------------------------------ */
/* Copies                                                               */

/* Check a side of a copy: `device` says whether the kind puts device memory
 * there. A device side must be ours (a buffer, or pinned memory, which is
 * host memory); a host side must not be one of our buffers. */
static kbit_status side(kcl_ctx *c, const where *w, const void *p, size_t bytes, int device,
                        const char *name)
{
    if (w->kind == 1 && bytes > w->a.bytes - w->off)
        return kcl_error(KBIT_EINVAL, "mem_copy: %s (%p): %zu bytes run past the end of its "
                         "allocation (%zu bytes)", name, p, bytes, w->a.bytes);
    if (device && w->kind == 0)
        return kcl_error(KBIT_EINVAL, "mem_copy: %s (%p) is not memory of opencl:%d", name, p,
                         c->index);
    if (!device && w->kind == 1)
        return kcl_error(KBIT_EINVAL, "mem_copy: %s (%p) is device memory of opencl:%d, not host "
                         "memory (use KBIT_DEVICE_TO_DEVICE)", name, p, c->index);
    return KBIT_OK;
}

kbit_status kcl_mem_copy(void *ctx, void *stream, void *dst, const void *src, size_t bytes,
                         kbit_copy_kind kind)
{
    kcl_ctx *c = ctx;
    if (bytes == 0)
        return KBIT_OK;
    cl_command_queue q;
    kbit_status st = kcl_queue(c, stream, &q);
    if (st != KBIT_OK)
        return st;
    where d = locate(c->sh, dst), s = locate(c->sh, src);
    if ((st = side(c, &d, dst, bytes, kind != KBIT_DEVICE_TO_HOST, "dst")) != KBIT_OK ||
        (st = side(c, &s, src, bytes, kind != KBIT_HOST_TO_DEVICE, "src")) != KBIT_OK)
        return st;
    cl_int e;
    if (d.kind == 1 && s.kind == 1) {
        e = clEnqueueCopyBuffer(q, s.a.mem, d.a.mem, s.off, d.off, bytes, 0, NULL, NULL);
        return e == CL_SUCCESS ? KBIT_OK : kcl_fail(e, "clEnqueueCopyBuffer", NULL);
    }
    if (d.kind == 1) { /* from host memory (pinned or not): blocking, so src may be reused */
        e = clEnqueueWriteBuffer(q, d.a.mem, CL_TRUE, d.off, bytes, src, 0, NULL, NULL);
        return e == CL_SUCCESS ? KBIT_OK : kcl_fail(e, "clEnqueueWriteBuffer", NULL);
    }
    if (s.kind == 1) { /* to host memory: complete on return */
        e = clEnqueueReadBuffer(q, s.a.mem, CL_TRUE, s.off, bytes, dst, 0, NULL, NULL);
        return e == CL_SUCCESS ? KBIT_OK : kcl_fail(e, "clEnqueueReadBuffer", NULL);
    }
    /* host to host (pinned on one side at least): after the queue's work */
    if ((e = clFinish(q)) != CL_SUCCESS)
        return kcl_fail(e, "clFinish", NULL);
    memmove(dst, src, bytes);
    return KBIT_OK;
}

kbit_status kcl_sync(void *ctx, void *stream)
{
    /* Any queue can be waited for: a stream the ops refuse (another context,
     * out of order) still has to be left, and the core waits for the old
     * stream before it changes a thread's stream. */
    kcl_ctx *c = ctx;
    cl_command_queue q = stream != NULL ? (cl_command_queue)stream : c->h.queue;
    cl_int e = clFinish(q);
    return e == CL_SUCCESS ? KBIT_OK : kcl_fail(e, "clFinish", NULL);
}
