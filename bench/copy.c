/* bench/copy.c - the copy baseline. The copy is split over the threads with
 * OpenMP when the build has it: the runtime the CPU driver (and bitsandbytes)
 * use, so copies and ops share one thread pool and no idle pool thread spins
 * against the copy. Without OpenMP, POSIX threads. */
#include <config.h>

#include <stdint.h>
#include <string.h>

#include "copy.h"

#if defined(__SSE2__) && (defined(__x86_64__) || defined(__i386__))
#include <emmintrin.h>
#define HAVE_STREAM_COPY 1

/* Non-temporal stores: the destination is written without being read into
 * the cache first. */
static void stream_copy(char *dst, const char *src, size_t bytes)
{
    size_t head = (16 - ((uintptr_t)dst & 15)) & 15;
    if (head > bytes)
        head = bytes;
    memcpy(dst, src, head);
    size_t i = head;
    for (; i + 64 <= bytes; i += 64) {
        __m128i a = _mm_loadu_si128((const __m128i *)(src + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(src + i + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(src + i + 32));
        __m128i d = _mm_loadu_si128((const __m128i *)(src + i + 48));
        _mm_stream_si128((__m128i *)(dst + i), a);
        _mm_stream_si128((__m128i *)(dst + i + 16), b);
        _mm_stream_si128((__m128i *)(dst + i + 32), c);
        _mm_stream_si128((__m128i *)(dst + i + 48), d);
    }
    memcpy(dst + i, src + i, bytes - i);
    _mm_sfence();
}
#else
#define HAVE_STREAM_COPY 0
#endif

int bench_copy_streams(void)
{
    return HAVE_STREAM_COPY;
}

static void copy_chunk(int streaming, char *dst, const char *src, size_t bytes)
{
#if HAVE_STREAM_COPY
    if (streaming) {
        stream_copy(dst, src, bytes);
        return;
    }
#endif
    (void)streaming;
    memcpy(dst, src, bytes);
}

/* Equal chunks, cut on 4 KiB boundaries so that no page is shared. */
static size_t chunk_bytes(size_t bytes, int threads)
{
    return (bytes / (size_t)threads + 4095) & ~(size_t)4095;
}

#ifdef _OPENMP
#include <omp.h>

static void host_copy(int streaming, int threads, void *dst, const void *src, size_t bytes)
{
    size_t chunk = chunk_bytes(bytes, threads);
#pragma omp parallel num_threads(threads)
    {
        size_t begin = (size_t)omp_get_thread_num() * chunk;
        if (begin < bytes)
            copy_chunk(streaming, (char *)dst + begin, (const char *)src + begin,
                       bytes - begin < chunk ? bytes - begin : chunk);
    }
}

#else
#include <pthread.h>

#define MAX_COPY_THREADS 256

typedef struct copy_part {
    int streaming;
    char *dst;
    const char *src;
    size_t bytes;
} copy_part;

static void *copy_part_run(void *arg)
{
    copy_part *p = arg;
    copy_chunk(p->streaming, p->dst, p->src, p->bytes);
    return NULL;
}

static void host_copy(int streaming, int threads, void *dst, const void *src, size_t bytes)
{
    if (threads > MAX_COPY_THREADS)
        threads = MAX_COPY_THREADS;
    copy_part parts[MAX_COPY_THREADS];
    pthread_t ids[MAX_COPY_THREADS];
    int spawned[MAX_COPY_THREADS];
    size_t chunk = chunk_bytes(bytes, threads);
    int count = 0;
    for (size_t begin = 0; begin < bytes && count < threads; begin += chunk, count++) {
        size_t len = bytes - begin < chunk ? bytes - begin : chunk;
        parts[count] = (copy_part){ streaming, (char *)dst + begin, (const char *)src + begin,
                                    len };
    }
    /* The calling thread copies part 0; a part whose thread cannot start is
     * copied inline. */
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
}
#endif

kbit_status bench_copy(kbit_device *device, int host_memory, int streaming, int threads,
                       void *dst, const void *src, size_t bytes)
{
    if (!host_memory)
        return kbit_copy(device, dst, src, bytes, KBIT_DEVICE_TO_DEVICE);
    host_copy(streaming, threads < 1 ? 1 : threads, dst, src, bytes);
    return KBIT_OK;
}

/* ---- read bandwidth ---- */

/* Sum of 64-bit words (SSE2 adds where there are vectors): one pass, loads only. */
static uint64_t read_chunk(const char *p, size_t bytes)
{
    uint64_t sum = 0;
    size_t i = 0;
#if HAVE_STREAM_COPY
    __m128i s0 = _mm_setzero_si128(), s1 = s0, s2 = s0, s3 = s0;
    for (; i + 64 <= bytes; i += 64) {
        s0 = _mm_add_epi64(s0, _mm_loadu_si128((const __m128i *)(p + i)));
        s1 = _mm_add_epi64(s1, _mm_loadu_si128((const __m128i *)(p + i + 16)));
        s2 = _mm_add_epi64(s2, _mm_loadu_si128((const __m128i *)(p + i + 32)));
        s3 = _mm_add_epi64(s3, _mm_loadu_si128((const __m128i *)(p + i + 48)));
    }
    uint64_t lanes[2];
    _mm_storeu_si128((__m128i *)lanes, _mm_add_epi64(_mm_add_epi64(s0, s1), _mm_add_epi64(s2, s3)));
    sum = lanes[0] + lanes[1];
#endif
    for (; i < bytes; i++)
        sum += (unsigned char)p[i];
    return sum;
}

uint64_t bench_read(int threads, const void *src, size_t bytes)
{
    if (threads < 1)
        threads = 1;
    size_t chunk = chunk_bytes(bytes, threads);
    uint64_t total = 0;
#ifdef _OPENMP
#pragma omp parallel num_threads(threads) reduction(+ : total)
    {
        size_t begin = (size_t)omp_get_thread_num() * chunk;
        if (begin < bytes)
            total += read_chunk((const char *)src + begin, bytes - begin < chunk ? bytes - begin : chunk);
    }
#else
    for (size_t begin = 0; begin < bytes; begin += chunk)
        total += read_chunk((const char *)src + begin, bytes - begin < chunk ? bytes - begin : chunk);
#endif
    return total;
}
