/* bench/timer.h - wall-clock timing and the statistics a noisy machine needs
 * (the minimum shows what the code can do, the median what it usually does). */
#ifndef KBIT_BENCH_TIMER_H
#define KBIT_BENCH_TIMER_H

/* Seconds from a monotonic clock. */
double bench_now(void);

typedef struct bench_stats {
    double min; /* seconds */
    double median;
} bench_stats;

/* Sorts samples[count] in place; count >= 1. */
bench_stats bench_stats_of(double *samples, int count);

#endif
