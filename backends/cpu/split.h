/* backends/cpu/split.h - the one OpenMP splitter of the CPU driver. */
#ifndef KBIT_CPU_SPLIT_H
#define KBIT_CPU_SPLIT_H

#include "cpu.h"

/* Work (in inner-loop steps) below which an op runs on the calling thread:
 * waking a team costs more than it saves. */
#define KBIT_CPU_PARALLEL_MIN (1 << 16)

/* One piece of an op: the units [begin, end), run by thread `thread` (0 ..
 * threads - 1; a thread may run several pieces, in increasing order). */
typedef kbit_status (*kbit_cpu_range_fn)(void *arg, int thread, int64_t begin, int64_t end);

/* The threads kbit_cpu_split will use for `pieces` pieces of `work`. */
int kbit_cpu_split_threads(const cpu_ctx *c, int64_t pieces, double work);

/* Run fn over the units [0, count) cut into pieces of `grain` units (the
 * last one shorter), spread over the device's threads; returns the first
 * failure. */
kbit_status kbit_cpu_split(const cpu_ctx *c, int64_t count, int64_t grain, double work,
                           kbit_cpu_range_fn fn, void *arg);

#endif
