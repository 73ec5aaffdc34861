/* bench/rotation.h - cold-cache rotation. Each timed run uses the next of a
 * set of distinct buffer slots; the set is sized so that the data touched by
 * the other slots since a slot's last use is at least twice the last-level
 * cache, so every run reads and writes memory that is not in cache. */
#ifndef KBIT_BENCH_ROTATION_H
#define KBIT_BENCH_ROTATION_H

#include <stddef.h>

#include "kbit.h"

/* The buffers of one run, in device memory. */
typedef struct bench_slot {
    void *src;     /* what the op reads: x, or the 4-bit/8-bit codes */
    float *absmax; /* written by a quantize, read by a dequantize (may be NULL) */
    void *dst;     /* what the op writes */
} bench_slot;

typedef struct bench_rotation {
    kbit_device *device;
    bench_slot *slots;
    int count;
    int next;
} bench_rotation;

/* Most slots a rotation uses (tiny tensors cannot be made cold this way). */
#define BENCH_MAX_SLOTS 1024

/* Last-level cache size in bytes: override_mib if > 0, else the larger of
 * what the system reports and 260 MiB (the L3 of the machines this was
 * written for; some VMs report less than the host has). */
size_t bench_cache_bytes(size_t override_mib);

/* Slots needed so that the others add up to 2 * cache_bytes (at least 3,
 * at most BENCH_MAX_SLOTS). */
int bench_rotation_slots(size_t bytes_per_run, size_t cache_bytes);

/* Allocate count slots of the given sizes (absmax_bytes may be 0). On
 * failure nothing stays allocated and why holds kbit's message. */
kbit_status bench_rotation_alloc(bench_rotation *rot, kbit_device *device, int count,
                                 size_t src_bytes, size_t absmax_bytes, size_t dst_bytes,
                                 char *why, size_t why_len);
void bench_rotation_free(bench_rotation *rot);

/* The slot for the next run (round robin). */
const bench_slot *bench_rotation_next(bench_rotation *rot);

#endif
