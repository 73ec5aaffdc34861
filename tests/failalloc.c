/* tests/failalloc.c - allocation failures on demand (see failalloc.h). */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "failalloc.h"

/* glibc's allocator under its own names (exported by libc.so.6). */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void *__libc_memalign(size_t align, size_t size);

static _Thread_local int armed, persistent_mode, fired;
static _Thread_local long count, fail_at;

void failalloc_arm(long at, int persistent)
{
    count = 0;
    fired = 0;
    fail_at = at;
    persistent_mode = persistent;
    armed = 1;
}

long failalloc_disarm(void)
{
    armed = 0;
    return count;
}

int failalloc_fired(void)
{
    return fired;
}

/* Whether this allocation is refused. */
static int refuse(void)
{
    if (!armed)
        return 0;
    count++;
    if (count == fail_at || (persistent_mode && count > fail_at)) {
        fired = 1;
        errno = ENOMEM;
        return 1;
    }
    return 0;
}

void *malloc(size_t size)
{
    return refuse() ? NULL : __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
    return refuse() ? NULL : __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
    return refuse() ? NULL : __libc_realloc(p, size);
}

void *aligned_alloc(size_t align, size_t size)
{
    return refuse() ? NULL : __libc_memalign(align, size);
}

void *memalign(size_t align, size_t size)
{
    return refuse() ? NULL : __libc_memalign(align, size);
}

int posix_memalign(void **out, size_t align, size_t size)
{
    if (align < sizeof(void *) || (align & (align - 1)) != 0)
        return EINVAL;
    if (refuse())
        return ENOMEM;
    void *p = __libc_memalign(align, size);
    if (p == NULL)
        return ENOMEM;
    *out = p;
    return 0;
}
