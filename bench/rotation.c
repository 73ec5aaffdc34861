/* bench/rotation.c - distinct buffer slots for cold-cache timing. */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rotation.h"

#define MIB ((size_t)1 << 20)
#define ASSUMED_L3 (260 * MIB)

size_t bench_cache_bytes(size_t override_mib)
{
    if (override_mib > 0)
        return override_mib * MIB;
    size_t cache = ASSUMED_L3;
#ifdef _SC_LEVEL3_CACHE_SIZE
    long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (l3 > 0 && (size_t)l3 > cache)
        cache = (size_t)l3;
#endif
    return cache;
}

int bench_rotation_slots(size_t bytes_per_run, size_t cache_bytes)
{
    if (bytes_per_run == 0)
        return 3;
    size_t others = (2 * cache_bytes + bytes_per_run - 1) / bytes_per_run;
    if (others + 1 > BENCH_MAX_SLOTS)
        return BENCH_MAX_SLOTS;
    return others + 1 < 3 ? 3 : (int)(others + 1);
}

static void free_slot(kbit_device *device, bench_slot *s)
{
    kbit_free(device, s->src);
    kbit_free(device, s->absmax);
    kbit_free(device, s->dst);
}

kbit_status bench_rotation_alloc(bench_rotation *rot, kbit_device *device, int count,
                                 size_t src_bytes, size_t absmax_bytes, size_t dst_bytes,
                                 char *why, size_t why_len)
{
    memset(rot, 0, sizeof *rot);
    rot->device = device;
    rot->slots = calloc((size_t)count, sizeof rot->slots[0]);
    if (rot->slots == NULL) {
        snprintf(why, why_len, "out of host memory");
        return KBIT_ENOMEM;
    }
    for (int i = 0; i < count; i++) {
        bench_slot *s = &rot->slots[i];
        void *absmax = NULL;
        kbit_status st = kbit_malloc(device, src_bytes, &s->src);
        if (st == KBIT_OK && absmax_bytes > 0)
            st = kbit_malloc(device, absmax_bytes, &absmax);
        s->absmax = absmax;
        if (st == KBIT_OK && dst_bytes > 0)
            st = kbit_malloc(device, dst_bytes, &s->dst);
        if (st != KBIT_OK) {
            /* keep the message: kbit_free clears it */
            snprintf(why, why_len, "slot %d of %d: %s", i, count, kbit_last_error());
            free_slot(device, s);
            rot->count = i;
            bench_rotation_free(rot);
            return st;
        }
    }
    rot->count = count;
    return KBIT_OK;
}

void bench_rotation_free(bench_rotation *rot)
{
    for (int i = 0; i < rot->count; i++)
        free_slot(rot->device, &rot->slots[i]);
    free(rot->slots);
    memset(rot, 0, sizeof *rot);
}

const bench_slot *bench_rotation_next(bench_rotation *rot)
{
    const bench_slot *s = &rot->slots[rot->next];
    rot->next = (rot->next + 1) % rot->count;
    return s;
}
