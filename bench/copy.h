/* bench/copy.h - the copy bandwidth every figure is compared with: a plain
 * copy of the same bytes over the same cold rotation with the same number of
 * threads (on the CPU, memcpy split in equal chunks over the threads; on a GPU,
 * a device-to-device kbit_copy). */
#ifndef KBIT_BENCH_COPY_H
#define KBIT_BENCH_COPY_H

#include <stddef.h>

#include "kbit.h"

/* Copy bytes from src to dst (device memory). host_memory: the device's
 * pointers are host pointers (the CPU driver), so threads may be used. */
kbit_status bench_copy(kbit_device *device, int host_memory, int threads, void *dst,
                       const void *src, size_t bytes);

#endif
