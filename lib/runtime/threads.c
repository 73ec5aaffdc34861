/* lib/runtime/threads.c - the thread probe (see threads.h). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"
#include "runtime/threads.h"

/* OMP_STACKSIZE's syntax (libgomp): a size with an optional B, K, M or G
 * suffix (K when none); 0 when unset or unreadable. */
static size_t omp_stack_size(void)
{
    const char *s = getenv("OMP_STACKSIZE");
    if (s == NULL)
        s = getenv("GOMP_STACKSIZE");
    if (s == NULL)
        return 0;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || errno != 0)
        return 0;
    while (isspace((unsigned char)*end))
        end++;
    int shift = 10;
    switch (tolower((unsigned char)*end)) {
    case 'b': shift = 0; end++; break;
    case 'k': shift = 10; end++; break;
    case 'm': shift = 20; end++; break;
    case 'g': shift = 30; end++; break;
    case '\0': break;
    default: return 0;
    }
    if (v > (unsigned long long)(SIZE_MAX >> shift))
        return 0;
    return (size_t)v << shift;
}

typedef struct probe {
    pthread_mutex_t lock;
    pthread_cond_t go;
    int released;
} probe;

static void *hold(void *arg)
{
    probe *p = arg;
    pthread_mutex_lock(&p->lock);
    while (!p->released)
        pthread_cond_wait(&p->go, &p->lock);
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

kbit_status kbit_threads_probe(int n, const char *fn, int *startable)
{
    *startable = 1;
    if (n <= 1)
        return KBIT_OK;
    if (n > KBIT_MAX_THREADS)
        n = KBIT_MAX_THREADS;
    pthread_t ids[KBIT_MAX_THREADS]; /* 8 KiB: no allocation that could fail here */
    probe p = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };
    pthread_attr_t attr;
    int have_attr = pthread_attr_init(&attr) == 0;
    size_t stack = omp_stack_size();
    if (have_attr && stack > 0)
        pthread_attr_setstacksize(&attr, stack);
    int started = 0, err = 0;
    while (started < n - 1 &&
           (err = pthread_create(&ids[started], have_attr ? &attr : NULL, hold, &p)) == 0)
        started++;
    pthread_mutex_lock(&p.lock);
    p.released = 1;
    pthread_cond_broadcast(&p.go);
    pthread_mutex_unlock(&p.lock);
    for (int i = 0; i < started; i++)
        pthread_join(ids[i], NULL);
    if (have_attr)
        pthread_attr_destroy(&attr);
    *startable = started + 1;
    if (started == n - 1)
        return KBIT_OK;
    return kbit_error(KBIT_ENOMEM, "%s: cannot run %d threads, only %d: starting a thread "
                      "failed (%s; a limit such as ulimit -u, RLIMIT_AS or a cgroup's pids.max)",
                      fn, n, started + 1, strerror(err));
}
