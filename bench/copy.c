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

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
#define HAVE_WIDE_READ 1

__attribute__((target("avx512f"))) static uint64_t read_avx512(const char *p, size_t bytes)
{
    __m512i s0 = _mm512_setzero_si512(), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + 256 <= bytes; i += 256) {
        s0 = _mm512_add_epi64(s0, _mm512_loadu_si512((const void *)(p + i)));
        s1 = _mm512_add_epi64(s1, _mm512_loadu_si512((const void *)(p + i + 64)));
        s2 = _mm512_add_epi64(s2, _mm512_loadu_si512((const void *)(p + i + 128)));
        s3 = _mm512_add_epi64(s3, _mm512_loadu_si512((const void *)(p + i + 192)));
    }
    uint64_t sum = (uint64_t)_mm512_reduce_add_epi64(
        _mm512_add_epi64(_mm512_add_epi64(s0, s1), _mm512_add_epi64(s2, s3)));
    for (; i < bytes; i++)
        sum += (unsigned char)p[i];
    return sum;
}

__attribute__((target("avx2"))) static uint64_t read_avx2(const char *p, size_t bytes)
{
    __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + 128 <= bytes; i += 128) {
        s0 = _mm256_add_epi64(s0, _mm256_loadu_si256((const __m256i *)(p + i)));
        s1 = _mm256_add_epi64(s1, _mm256_loadu_si256((const __m256i *)(p + i + 32)));
        s2 = _mm256_add_epi64(s2, _mm256_loadu_si256((const __m256i *)(p + i + 64)));
        s3 = _mm256_add_epi64(s3, _mm256_loadu_si256((const __m256i *)(p + i + 96)));
    }
    __m256i s = _mm256_add_epi64(_mm256_add_epi64(s0, s1), _mm256_add_epi64(s2, s3));
    uint64_t lanes[4];
    _mm256_storeu_si256((__m256i *)lanes, s);
    uint64_t sum = lanes[0] + lanes[1] + lanes[2] + lanes[3];
    for (; i < bytes; i++)
        sum += (unsigned char)p[i];
    return sum;
}
#else
#define HAVE_WIDE_READ 0
#endif

static uint64_t read_plain(const char *p, size_t bytes)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < bytes; i++)
        sum += (unsigned char)p[i];
    return sum;
}

static uint64_t read_chunk(const char *p, size_t bytes)
{
#if HAVE_WIDE_READ
    if (__builtin_cpu_supports("avx512f"))
        return read_avx512(p, bytes);
    if (__builtin_cpu_supports("avx2"))
        return read_avx2(p, bytes);
#endif
    return read_plain(p, bytes);
}

/* Thread t of threads reads chunk t of every part. */
static uint64_t read_share(int t, int threads, const void *const *parts, const size_t *bytes,
                           int nparts)
{
    uint64_t sum = 0;
    for (int k = 0; k < nparts; k++) {
        size_t chunk = chunk_bytes(bytes[k], threads), begin = (size_t)t * chunk;
        if (begin < bytes[k])
            sum += read_chunk((const char *)parts[k] + begin,
                              bytes[k] - begin < chunk ? bytes[k] - begin : chunk);
    }
    return sum;
}

uint64_t bench_read(int threads, const void *const *parts, const size_t *bytes, int nparts)
{
    if (threads < 1)
        threads = 1;
    uint64_t sum = 0;
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) reduction(+ : sum) schedule(static, 1)
    for (int t = 0; t < threads; t++)
        sum += read_share(t, threads, parts, bytes, nparts);
#else
    for (int t = 0; t < threads; t++)
        sum += read_share(t, threads, parts, bytes, nparts);
#endif
    return sum;
}
