/* bench/timer.c - monotonic clock and min/median of repeated runs. */
#include <config.h>

#include <stdlib.h>
#include <time.h>

#include "timer.h"

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

bench_stats bench_stats_of(double *samples, int count)
{
    qsort(samples, (size_t)count, sizeof samples[0], compare_doubles);
    bench_stats s;
    s.min = samples[0];
    s.median = count % 2 ? samples[count / 2]
                         : 0.5 * (samples[count / 2 - 1] + samples[count / 2]);
    return s;
}
