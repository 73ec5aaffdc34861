/* tools/conformance/harness.h - what the checks of every op family share:
 * the run (options, the reference device, the targets), tallies, and the
 * TAP lines that report them.
 *
 * A target is one place an op runs: a device spec, for the CPU driver a
 * forced variant (KBIT_CPU_ISA) and tuning (KBIT_CPU_TUNING), and a thread
 * count. Every check runs its
 * cases on the reference (the CPU driver forced to its scalar variant, one
 * thread) and on each target that implements the family being checked, and
 * compares every output bit (any NaN equals any NaN). */
#ifndef KBIT_CONFORMANCE_HARNESS_H
#define KBIT_CONFORMANCE_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "kbit.h"

#define CONF_MAX_TARGETS 64

typedef struct conf_target {
    char label[96];      /* e.g. "cpu/avx2/zen4/t2", "testref:0/ref/t1", "cuda:0/t1" */
    char spec[64];       /* device spec */
    char isa[16];        /* forced KBIT_CPU_ISA, "" if none */
    char tuning[16];     /* forced KBIT_CPU_TUNING, "" if none */
    int threads;
    kbit_device *dev;    /* NULL when skipped */
    char skip[600];      /* why it is skipped ("" if usable) */
    int missing;         /* the device could not be opened (as opposed to: it cannot
                            run this variant or thread count) */
} conf_target;

/* What one check saw on one target. */
typedef struct conf_tally {
    int cases;
    size_t elements;     /* elements (or bytes) compared */
    size_t mismatches;
    int errors;          /* calls that failed, missing data, ... */
} conf_tally;

typedef struct conf_run {
    kbit_device *ref;    /* the reference device */
    conf_target *targets;
    int ntargets;
    int quick;           /* --quick: the smaller set */
    int seed_given;      /* --seed or KBIT_TEST_SEED */
    uint64_t seed;
    kbit_family family;  /* the family being checked */
} conf_run;

/* The seed of a family's random cases: the one given, else `fallback` (each
 * family's fixed default, so runs are reproducible). */
uint64_t conf_seed(const conf_run *run, uint64_t fallback);

/* Target t's device when it runs the family being checked; NULL when the
 * target is skipped or its device does not implement the family. */
kbit_device *conf_dev(const conf_run *run, int t);
/* Why conf_dev(run, t) is NULL ("" when it is not). */
const char *conf_skip_reason(const conf_run *run, int t);
/* The first target that runs the family (for diagnostics printed once), or -1. */
int conf_first_target(const conf_run *run);

/* One TAP line per target for a check:
 *   "FAMILY: CHECK on TARGET: N cases, M UNIT bit-exact VERSUS (X mismatches, Y errors)"
 * ("compared" for "bit-exact" when something was wrong)
 * ok when there was at least one case and one element and nothing was
 * wrong; a target that does not run the family is a skip with the reason.
 * versus: e.g. "vs the scalar reference", or NULL. tally[t] for target t. */
void conf_report(const conf_run *run, const char *check, const conf_tally *tally,
                 const char *unit, const char *versus);
/* A line of one family about one target: "FAMILY: " and the printf-like
 * description, ok or not ok; when the target does not run the family, a
 * skip with the reason, its description cut before its first ": " (where
 * the figures start). */
void conf_report_one(const conf_run *run, int t, int ok, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* malloc that bails out when out of memory (never NULL; 0 bytes allowed). */
void *conf_xmalloc(size_t bytes);

#endif
