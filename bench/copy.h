/* bench/copy.h - the copy bandwidth every figure is compared with: a copy of
 * the same bytes over a cold rotation with the same number of threads. On the
 * CPU it is split in equal chunks over the threads; each chunk is copied with
 * non-temporal stores where the CPU has them (x86: what a good memcpy does for
 * large cold buffers, and what reaches the machine's copy bandwidth; glibc's
 * memcpy uses ordinary stores when it believes the data fits in the cache,
 * which costs a read of every destination line). On a GPU it is a
 * device-to-device kbit_copy. */
#ifndef KBIT_BENCH_COPY_H
#define KBIT_BENCH_COPY_H

#include <stddef.h>
#include <stdint.h>

#include "kbit.h"

/* Whether bench_copy can use non-temporal stores on this build. */
int bench_copy_streams(void);

/* Copy bytes from src to dst (device memory). host_memory: the device's
 * pointers are host pointers (the CPU driver), so threads may be used and
 * streaming picks non-temporal stores (when available) over memcpy. */
kbit_status bench_copy(kbit_device *device, int host_memory, int streaming, int threads,
                       void *dst, const void *src, size_t bytes);

/* Read bandwidth (host memory): every byte of parts[0..nparts) is loaded once
 * and summed, the parts split in equal chunks over the threads. AVX-512 or
 * AVX2 loads where the CPU has them. Returns the sum, so the loads cannot be
 * optimised away. */
uint64_t bench_read(int threads, const void *const *parts, const size_t *bytes, int nparts);

#endif
