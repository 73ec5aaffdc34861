/* tests/testutil.h - helpers shared by the test programs: a seeded PRNG,
 * IEEE half/bfloat16 conversions written from the definitions, device
 * buffers, and the list of targets (driver x CPU variant x threads) that
 * the golden and conformance tests run on. */
#ifndef KBIT_TESTS_TESTUTIL_H
#define KBIT_TESTS_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "kbit.h"

/* ------------------------------------------------------------------ */
/* splitmix64: tiny, fast and good enough for test inputs. */
typedef struct rng {
    uint64_t state;
} rng;

void rng_seed(rng *r, uint64_t seed);
uint64_t rng_next(rng *r);
uint32_t rng_below(rng *r, uint32_t bound); /* uniform in [0, bound) */
double rng_uniform(rng *r);                 /* [0, 1) */
double rng_normal(rng *r);                  /* N(0, 1), Box-Muller */

/* ------------------------------------------------------------------ */
/* Bits and conversions (RNE, NaN stays NaN). */
uint32_t f32_bits(float f);
float f32_from_bits(uint32_t b);
uint16_t f32_to_f16(float f);
float f16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);
float bf16_to_f32(uint16_t h);
/* Next float up / down (nextafterf without libm's errno games). */
float f32_next_up(float f);
float f32_next_down(float f);
/* Convert n fp32 values to dtype (F32, F16, BF16) into dst. */
void f32_to_dtype(kbit_dtype dtype, const float *src, void *dst, size_t n);
/* Element i of a F32/F16/BF16 array as fp32. */
float dtype_load(kbit_dtype dtype, const void *src, size_t i);
/* Largest finite value of a float dtype, as fp32. */
float dtype_max(kbit_dtype dtype);
/* Smallest positive denormal of a float dtype, as fp32. */
float dtype_min_denormal(kbit_dtype dtype);
const char *dtype_str(kbit_dtype dtype);
/* Round an fp32 value to dtype precision and back (identity for F32). */
float dtype_round(kbit_dtype dtype, float f);

/* ------------------------------------------------------------------ */
/* Device buffers; any failure bails out (these are not what is tested). */
void *dev_alloc(kbit_device *dev, size_t bytes);
/* Allocate and fill every byte with `fill`. */
void *dev_alloc_fill(kbit_device *dev, size_t bytes, unsigned char fill);
void *dev_upload(kbit_device *dev, const void *host, size_t bytes);
void dev_download(kbit_device *dev, void *host, const void *src, size_t bytes);
void dev_free(kbit_device *dev, void *p);

/* ------------------------------------------------------------------ */
/* Targets: every place an op can run in this process. */
typedef struct target {
    char label[96];      /* e.g. "cpu/avx2/t2", "testref:0/t1", "cuda:0/sm_90/t1" */
    char spec[48];       /* device spec */
    char isa[16];        /* forced KBIT_CPU_ISA, "" if none */
    int threads;
    kbit_device *dev;    /* NULL when skipped */
    char skip[600];      /* why it is skipped ("" if usable) */
} target;

#define MAX_TARGETS 32

/* Open every target: the CPU driver forced to scalar/avx2/avx512 with 1 and
 * 2 threads, every plugin driver KBIT_DRIVER_PATH brought (except the broken
 * test fixtures), and "cuda:0" even when no CUDA driver was found (so that its
 * absence shows as a skip). Returns the count. */
int targets_open(target *t, int max);
void targets_close(target *t, int count);
/* The reference device: the CPU driver forced to scalar, one thread. */
kbit_device *reference_open(void);
/* Open "cpu" with KBIT_CPU_ISA forced to isa (NULL: not forced), restoring
 * the environment afterwards. */
kbit_status cpu_open_isa(const char *isa, kbit_device **dev);

/* Directory of the golden vectors (KBIT_VECTORS_DIR, else the source tree). */
const char *vectors_dir(void);

/* The verdict on one call that must fail: status `want`, a message (kbit_last_error)
 * that contains `needle`, and `untouched` true (the caller's check of its outputs).
 * One TAP line; returns its result. */
int expect_failure(kbit_status got, kbit_status want, const char *needle, int untouched,
                   const char *call);
/* The verdict on one call that must succeed: KBIT_OK, and the message left
 * as it was (a success never records one, kbit.h): when error_plant() ran
 * before the call, the planted message must still be there. */
int expect_success(kbit_status got, const char *call);
/* Record a known failure message (kbit_sync(NULL)'s) for expect_success;
 * error_planted() is its text. */
void error_plant(void);
const char *error_planted(void);

/* printf into a malloc'd string. */
char *str_printf(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

#endif
