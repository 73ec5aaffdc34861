/* tests/clutil.h - what the OpenCL driver tests (test_opencl.c,
 * test_opencl_int8.c) share: the two devices they compare bit for bit (REF,
 * the CPU driver forced to scalar, one thread; CL, opencl:0) and the buffers
 * they hand them: every one PAD bytes into its allocation, so the driver maps
 * pointers with offsets (its (cl_mem, offset) arguments), and outputs
 * pre-filled with different bytes on the two devices, so an element that
 * either leaves unwritten is a mismatch. Included by one file of a program:
 * the state is the including file's own. */
#ifndef KBIT_TESTS_CLUTIL_H
#define KBIT_TESTS_CLUTIL_H

#include <stdlib.h>

#include "testutil.h"

enum { REF = 0, CL = 1 };
static kbit_device *devs[2];
static const unsigned char fills[2] = { 0xa5, 0x5a };
static rng R;

/* a multiple of every element size */
#define PAD 24

/* R seeded from KBIT_TEST_SEED when it is set, else from seed. */
static inline void seed_rng(uint64_t seed)
{
    const char *env = getenv("KBIT_TEST_SEED");
    if (env && *env)
        seed = strtoull(env, NULL, 0);
    tap_diag("seed 0x%llx (set KBIT_TEST_SEED to change it)", (unsigned long long)seed);
    rng_seed(&R, seed);
}

static inline void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        tap_bail("out of host memory (%zu bytes)", n);
    return p;
}

/* A copy of host's bytes on device w. */
static inline void *up(int w, const void *host, size_t bytes)
{
    char *p = dev_alloc(devs[w], bytes + PAD);
    if (bytes && kbit_copy(devs[w], p + PAD, host, bytes, KBIT_HOST_TO_DEVICE) != KBIT_OK)
        tap_bail("kbit_copy to %s: %s", w ? "opencl:0" : "ref", kbit_last_error());
    return p + PAD;
}

/* An output on device w, filled with fills[w]. */
static inline void *outbuf(int w, size_t bytes)
{
    return (char *)dev_alloc_fill(devs[w], bytes + PAD, fills[w]) + PAD;
}

static inline void rel(int w, void *p)
{
    if (p != NULL)
        dev_free(devs[w], (char *)p - PAD);
}

#endif
