/* lib/runtime/check.h - argument checks shared by the public functions. Each returns
 * KBIT_OK or records a message naming the function and argument at fault. */
#ifndef KBIT_LIB_CHECK_H
#define KBIT_LIB_CHECK_H

#include <stdint.h>

#include "runtime/device.h"

kbit_status kbit_check_device(const kbit_device *dev, const char *fn);
/* A data pointer for count elements of elem_size bytes: NULL only when
 * count == 0; aligned to elem_size. */
kbit_status kbit_check_data(const void *p, int64_t count, size_t elem_size,
                            const char *fn, const char *arg);
/* n >= 0 and n * elem_size fits the address space. */
kbit_status kbit_check_count(int64_t n, size_t elem_size, const char *fn, const char *arg);
/* rows x cols elements of elem_size bytes: both counts valid and the product's
 * byte count representable; *count = rows * cols. */
kbit_status kbit_check_matrix(int64_t rows, int64_t cols, size_t elem_size, const char *fn,
                              const char *rows_arg, const char *cols_arg, int64_t *count);
/* KBIT_F32, KBIT_F16 or KBIT_BF16. */
kbit_status kbit_check_float_dtype(kbit_dtype dtype, const char *fn, const char *arg);
kbit_status kbit_check_quant_type(kbit_quant_type type, const char *fn);
/* Power of two in [lo, hi]. */
kbit_status kbit_check_blocksize(int blocksize, int lo, int hi, const char *fn);
/* A 256-entry host map, ascending (needed by the nearest-code search). */
kbit_status kbit_check_map(const float *code, const char *fn, const char *arg);
/* The device implements every family of `families`: else KBIT_ENOTSUP
 * naming the device, the first missing family and the driver's reason. */
kbit_status kbit_check_family(const kbit_device *dev, uint32_t families, const char *fn);
/* The family's dtype / blocksize subset of the driver (kbit_family_limits)
 * holds dtype (a float dtype, or -1 for none) and blocksize (0 for none). */
kbit_status kbit_check_limits(const kbit_device *dev, kbit_family family, int dtype,
                              int blocksize, const char *fn);
/* The device bytes a call reads (KBIT_IN) or writes (KBIT_OUT). */
typedef struct kbit_span {
    const void *p;
    uint64_t bytes;
    const char *name;
    int out;
} kbit_span;

#define KBIT_IN(ptr, nbytes, arg) ((kbit_span){ (ptr), (uint64_t)(nbytes), (arg), 0 })
#define KBIT_OUT(ptr, nbytes, arg) ((kbit_span){ (ptr), (uint64_t)(nbytes), (arg), 1 })

/* Aliasing (kbit.h, "Aliasing"): no output may share a byte with another
 * buffer of the call, input or output: KBIT_EINVAL naming both. NULL or
 * empty spans are ignored. O(n log n) in the number of spans. */
kbit_status kbit_check_overlap(const char *fn, const kbit_span *spans, size_t n);
#define KBIT_CHECK_OVERLAP(fn, ...)                                                            \
    kbit_check_overlap((fn), (const kbit_span[]){ __VA_ARGS__ },                                \
                       sizeof((const kbit_span[]){ __VA_ARGS__ }) / sizeof(kbit_span))

/* An optional driver op slot: NULL -> KBIT_ENOTSUP naming the driver. */
kbit_status kbit_check_slot(const kbit_device *dev, const void *slot, const char *op);
/* After a driver call: make sure a failure carries a message. */
kbit_status kbit_driver_result(const kbit_device *dev, kbit_status st, const char *op);

#define KBIT_4BIT_MIN_BLOCK 32
#define KBIT_8BIT_MIN_BLOCK 64
#define KBIT_MAX_BLOCK 4096

#endif
