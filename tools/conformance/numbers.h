/* tools/conformance/numbers.h - numbers for test inputs and checks: a seeded
 * PRNG, and IEEE half / bfloat16 conversions written from the definitions
 * (independent of the library's own). Shared by `kbit conformance` and the
 * test programs. */
#ifndef KBIT_CONFORMANCE_NUMBERS_H
#define KBIT_CONFORMANCE_NUMBERS_H

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

#endif
