/*
 * backends/cpu/split.c - the one OpenMP splitter of the CPU driver, and so
 * the one place where the determinism argument for threads is made.
 *
 * Every family cuts its op into units of independent outputs (blocks of a
 * quantization, rows or columns of a product, 256-element blocks of an
 * optimizer step) and computes each unit the same way whatever thread runs
 * it. Pieces are whole units, no two pieces write the same output, and no
 * reduction crosses a piece (the sums a result needs are either inside a unit,
 * like a dot32, or go to per-unit leaves that the pairsum tree reduces in a
 * fixed order). So the bits never depend on the thread count or on which
 * thread ran which piece (doc/determinism.md 1).
 */
#include "config.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#include "split.h"

int kbit_cpu_split_threads(const cpu_ctx *c, int64_t pieces, double work)
{
    if (work < KBIT_CPU_PARALLEL_MIN || pieces < 2)
        return 1;
    return c->threads < pieces ? c->threads : (int)pieces;
}

kbit_status kbit_cpu_split(const cpu_ctx *c, int64_t count, int64_t grain, double work,
                           kbit_cpu_range_fn fn, void *arg)
{
    if (count <= 0)
        return KBIT_OK;
    if (grain < 1)
        grain = 1;
    int64_t pieces = (count + grain - 1) / grain;
    int threads = kbit_cpu_split_threads(c, pieces, work);
    kbit_status result = KBIT_OK;
#ifdef _OPENMP
    if (threads > 1) {
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int64_t i = 0; i < pieces; i++) {
            int64_t b = i * grain, e = b + grain < count ? b + grain : count;
            kbit_status st = fn(arg, omp_get_thread_num(), b, e);
            if (st != KBIT_OK) {
#pragma omp critical(kbit_cpu_split_result)
                if (result == KBIT_OK)
                    result = st;
            }
        }
        return result;
    }
#endif
    (void)threads;
    return fn(arg, 0, 0, count);
}
