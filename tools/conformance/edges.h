/* tools/conformance/edges.h - the row ends of dot32 (edges_dot32.c): the
 * sign of zero results that only the exact rule decides, for the int8
 * backward and outlier product and for the 4-bit matmul. */
#ifndef KBIT_CONFORMANCE_EDGES_H
#define KBIT_CONFORMANCE_EDGES_H

#include "harness.h"

void conf_edges_int8(const conf_run *run);
void conf_edges_gemm4(const conf_run *run);

#endif
