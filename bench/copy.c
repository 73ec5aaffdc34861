/* bench/copy.c - the copy baseline. */
#include <config.h>

#include <pthread.h>
#include <string.h>

#include "copy.h"

#define MAX_COPY_THREADS 256

typedef struct copy_part {
    char *dst;
    const char *src;
    size_t bytes;
} copy_part;

static void *copy_part_run(void *arg)
{
    copy_part *p = arg;
    memcpy(p->dst, p->src, p->bytes);
    return NULL;
}

static kbit_status host_copy(int threads, void *dst, const void *src, size_t bytes)
{
    if (threads > MAX_COPY_THREADS)
        threads = MAX_COPY_THREADS;
    copy_part parts[MAX_COPY_THREADS];
    pthread_t ids[MAX_COPY_THREADS];
    int spawned[MAX_COPY_THREADS];
    /* Equal chunks, cut on 4 KiB boundaries so no page is shared. */
    size_t chunk = (bytes / (size_t)threads + 4095) & ~(size_t)4095;
    int count = 0;
    for (size_t begin = 0; begin < bytes && count < threads; begin += chunk, count++) {
        size_t len = bytes - begin < chunk ? bytes - begin : chunk;
        parts[count] = (copy_part){ (char *)dst + begin, (const char *)src + begin, len };
    }
    /* The calling thread copies part 0; a thread that cannot start is done inline. */
    for (int t = 1; t < count; t++) {
        spawned[t] = pthread_create(&ids[t], NULL, copy_part_run, &parts[t]) == 0;
        if (!spawned[t])
            copy_part_run(&parts[t]);
    }
    if (count > 0)
        copy_part_run(&parts[0]);
    for (int t = 1; t < count; t++)
        if (spawned[t])
            pthread_join(ids[t], NULL);
    return KBIT_OK;
}

kbit_status bench_copy(kbit_device *device, int host_memory, int threads, void *dst,
                       const void *src, size_t bytes)
{
    if (host_memory)
        return host_copy(threads < 1 ? 1 : threads, dst, src, bytes);
    return kbit_copy(device, dst, src, bytes, KBIT_DEVICE_TO_DEVICE);
}
