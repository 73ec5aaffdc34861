/* tools/conformance/inputs.h - random inputs with edge values for the
 * element-wise ops (the quant4 and quant8 families).
 *
 * Every block of an input draws a style: normal or heavy-tailed data at
 * random scales, specials sprinkled in (+-0, denormals, +-inf, NaN, largest
 * finite), all-zero and all-NaN blocks, blocks whose absmax is a power of
 * two holding exact thresholds / midpoints / code values and their +-1 ulp
 * neighbours, denormal blocks (incl. absmax so small that 1/absmax = inf),
 * blocks with inf or the largest finite value, exact small values. Scales
 * (absmax for dequantization) are drawn from anything a float can hold:
 * normal, 0, inf, NaN, denormal, huge, negative and -0, the largest finite,
 * powers of two. The *_every_* variants take each style (class) in turn, so
 * that a short input holds them all. */
#ifndef KBIT_CONFORMANCE_INPUTS_H
#define KBIT_CONFORMANCE_INPUTS_H

#include <stddef.h>
#include <stdint.h>

#include "kbit.h"
#include "numbers.h"

/* Build the pool of exact values (once) and the 8-bit maps of map_of from r. */
void inputs_init(rng *r);

/* x[n] in dtype (host memory, *bytes long), blocks of B. */
void *gen_input(rng *r, int64_t n, int B, kbit_dtype dtype, size_t *bytes);
void *gen_input_every_style(rng *r, int64_t n, int B, kbit_dtype dtype, size_t *bytes);
/* n random bytes (codes). */
void *gen_bytes(rng *r, size_t n);
/* n fp32 scales. */
float *gen_scales(rng *r, int64_t n);
float *gen_scales_every_class(rng *r, int64_t n);
/* 4-bit absmax arrays as the nested ops see them, style 0..7: normal and
 * shifted, constant, all zero, some zero, some inf, some NaN, denormal, any
 * scale. */
float *gen_absmax_array(rng *r, int64_t n, int style);

/* An 8-bit map by number (which % 4): the signed map (NULL), the unsigned
 * map, a linear map, a custom map wider than [-1, 1] with a duplicate entry
 * and +0 / -0; *name says which. */
const float *map_of(int which, const char **name);

#endif
