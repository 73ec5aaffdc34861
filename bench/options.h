/* bench/options.h - the command line of `kbit bench quant`. */
#ifndef KBIT_BENCH_OPTIONS_H
#define KBIT_BENCH_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "cases.h"

#define BENCH_MAX_LIST 16

typedef struct bench_size {
    int64_t rows, cols; /* a flat size N is 1 x N */
} bench_size;

typedef struct bench_options {
    const char *device;
    int threads[BENCH_MAX_LIST];
    int thread_count;
    int threads_given;    /* --threads was on the command line */
    int reps;
    bench_size sizes[BENCH_MAX_LIST];
    int size_count;
    const char *ops;      /* NULL: all */
    const char *bnb_path; /* NULL: $KBIT_BNB_LIB */
    int no_bnb;
    size_t cache_mib;     /* 0: detect */
} bench_options;

/* Parse argv (argv[0] is the verb). Returns -1 to go on, else the exit status
 * (0 after --help, 2 after a usage error, reported on stderr). */
int bench_parse_options(int argc, char **argv, bench_options *o);

/* Whether --ops selects case c (the copy baseline always runs). */
int bench_selected(const bench_options *o, const bench_case *c);

#endif
