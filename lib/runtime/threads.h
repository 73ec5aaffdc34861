/* lib/runtime/threads.h - can this process start n worker threads now? */
#ifndef KBIT_LIB_THREADS_H
#define KBIT_LIB_THREADS_H

#include "kbit.h"

/* Start n - 1 threads (the caller is the n-th) with the stack OpenMP would
 * give them (OMP_STACKSIZE / GOMP_STACKSIZE, else the default), all alive
 * at once, then end them. KBIT_OK, or KBIT_ENOMEM naming fn, the count and
 * the reason, with *startable = how many could run (>= 1). libgomp exits
 * the process when it cannot start a team's threads, so the core asks
 * first (kbit_device_set_threads, kbit_device_open). */
kbit_status kbit_threads_probe(int n, const char *fn, int *startable);

#endif
