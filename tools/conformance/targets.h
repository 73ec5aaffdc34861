/* tools/conformance/targets.h - the targets of a run, from the command line. */
#ifndef KBIT_CONFORMANCE_TARGETS_H
#define KBIT_CONFORMANCE_TARGETS_H

#include <stddef.h>

#include "harness.h"

/* Build the targets (not opened yet): every device of `devices` (a comma
 * list of specs; "all" = the CPU and device 0.. of every driver found,
 * refused ones included so that they show as skips), for a CPU spec each
 * variant of `isas` (a comma list, or "all" = scalar,avx2,avx512,avx512vnni;
 * NULL = none forced: KBIT_CPU_ISA or the best one), each tuning of
 * `tunings` (a comma list, or "all" = generic,zen4; NULL = none forced:
 * KBIT_CPU_TUNING or the one CPUID selects), each thread count of
 * `threads` (a comma list of positive numbers). The same target twice is
 * kept once. Returns the count, or -1 with a message in err. */
int conf_targets_build(const char *devices, const char *isas, const char *tunings,
                       const char *threads, conf_target *t, int max, char *err, size_t err_len);
/* Open every target that has no skip reason yet; one that cannot be opened
 * (`missing`), or does not give the variant or thread count asked for, gets
 * one. */
void conf_targets_open(conf_target *t, int count);
void conf_targets_close(conf_target *t, int count);

#endif
