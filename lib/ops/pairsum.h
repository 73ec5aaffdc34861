/* lib/ops/pairsum.h - the canonical fp64 sum (determinism.md 4). */
#ifndef KBIT_LIB_PAIRSUM_H
#define KBIT_LIB_PAIRSUM_H

#include <stdint.h>

/* Reduce the per-256-term block sums (the leaves, computed by a driver) level
 * by level: p[i] = p[2i] + p[2i+1], an odd last element carried. Overwrites
 * sums; returns +0.0 for count 0. */
double kbit_pairsum_tree(double *sums, int64_t count);

#endif
