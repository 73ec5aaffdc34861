/* bench/bnb.h - bitsandbytes side by side. The CPU library of the
 * `bitsandbytes` wheel (libbitsandbytes_cpu.so; scripts/fetch-bnb gets it) is
 * loaded with dlopen and its exported C functions (doc/numerics.md 7.1) are timed
 * on the same buffers as kbit. */
#ifndef KBIT_BENCH_BNB_H
#define KBIT_BENCH_BNB_H

#include <stddef.h>
#include <stdint.h>

#include "cases.h"
#include "rotation.h"

typedef struct bench_bnb {
    void *handle;
    char path[1024];
    /* bitsandbytes splits its loops with OpenMP: these set its thread count */
    void (*omp_set_num_threads)(int);
    int (*omp_get_max_threads)(void);
} bench_bnb;

/* Load the library named by path (a file, or a directory holding
 * libbitsandbytes_cpu.so); path NULL or "" means $KBIT_BNB_LIB. Returns 1 when
 * loaded, 0 when no library was asked for, -1 on failure (why says why). */
int bench_bnb_open(bench_bnb *bnb, const char *path, char *why, size_t why_len);
void bench_bnb_close(bench_bnb *bnb);

/* The exported function of a case, or NULL when the library lacks it. */
void *bench_bnb_find(const bench_bnb *bnb, const char *symbol);

/* Run fn (found for case c) on a slot holding a rows x cols tensor. */
void bench_bnb_run(const bench_case *c, void *fn, const bench_slot *s, int64_t rows,
                   int64_t cols);

/* Set the OpenMP thread count bitsandbytes uses; returns the previous one
 * (0 when the library exposes no OpenMP runtime). */
int bench_bnb_set_threads(const bench_bnb *bnb, int threads);

#endif
