/* lib/runtime/check.c - the argument checks: the core checks once, drivers compute. */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/check.h"
#include "runtime/error.h"
#include "runtime/registry.h"

/* Largest element count accepted: any byte count of it fits in int64_t. */
#define MAX_ELEMENTS (INT64_MAX / 8)

kbit_status kbit_check_device(const kbit_device *dev, const char *fn)
{
    if (dev == NULL)
        return kbit_error(KBIT_EINVAL, "%s: device is NULL", fn);
    if (dev->magic != KBIT_DEVICE_MAGIC)
        return kbit_error(KBIT_EINVAL, "%s: device is not an open kbit device", fn);
    return KBIT_OK;
}

kbit_status kbit_check_count(int64_t n, size_t elem_size, const char *fn, const char *arg)
{
    if (n < 0)
        return kbit_error(KBIT_EINVAL, "%s: %s is negative (%lld)", fn, arg, (long long)n);
    if (n > MAX_ELEMENTS || (uint64_t)n > SIZE_MAX / (elem_size ? elem_size : 1))
        return kbit_error(KBIT_EOVERFLOW, "%s: %s = %lld elements overflows the byte count",
                          fn, arg, (long long)n);
    return KBIT_OK;
}

kbit_status kbit_check_matrix(int64_t rows, int64_t cols, size_t elem_size, const char *fn,
                              const char *rows_arg, const char *cols_arg, int64_t *count)
{
    kbit_status st;
    if ((st = kbit_check_count(rows, elem_size, fn, rows_arg)) != KBIT_OK ||
        (st = kbit_check_count(cols, elem_size, fn, cols_arg)) != KBIT_OK)
        return st;
    if (cols != 0 && rows > INT64_MAX / 8 / cols)
        return kbit_error(KBIT_EOVERFLOW, "%s: %s x %s = %lld x %lld elements overflows", fn,
                          rows_arg, cols_arg, (long long)rows, (long long)cols);
    *count = rows * cols;
    return kbit_check_count(*count, elem_size, fn, rows_arg);
}

kbit_status kbit_check_data(const void *p, int64_t count, size_t elem_size,
                            const char *fn, const char *arg)
{
    if (p == NULL) {
        if (count == 0)
            return KBIT_OK;
        return kbit_error(KBIT_EINVAL, "%s: %s is NULL", fn, arg);
    }
    if (elem_size > 1 && (uintptr_t)p % elem_size != 0)
        return kbit_error(KBIT_EINVAL, "%s: %s is not aligned to %zu bytes", fn, arg, elem_size);
    return KBIT_OK;
}

kbit_status kbit_check_float_dtype(kbit_dtype dtype, const char *fn, const char *arg)
{
    if (dtype == KBIT_F32 || dtype == KBIT_F16 || dtype == KBIT_BF16)
        return KBIT_OK;
    const char *name = kbit_dtype_name(dtype);
    if (name)
        return kbit_error(KBIT_EINVAL, "%s: %s must be KBIT_F32, KBIT_F16 or KBIT_BF16, not %s",
                          fn, arg, name);
    return kbit_error(KBIT_EINVAL, "%s: %s = %d is not a kbit_dtype", fn, arg, (int)dtype);
}

kbit_status kbit_check_quant_type(kbit_quant_type type, const char *fn)
{
    if (type == KBIT_NF4 || type == KBIT_FP4)
        return KBIT_OK;
    return kbit_error(KBIT_EINVAL, "%s: type = %d is neither KBIT_NF4 nor KBIT_FP4", fn, (int)type);
}

kbit_status kbit_check_blocksize(int blocksize, int lo, int hi, const char *fn)
{
    if (blocksize < lo || blocksize > hi || (blocksize & (blocksize - 1)) != 0)
        return kbit_error(KBIT_EINVAL, "%s: blocksize = %d must be a power of two from %d to %d",
                          fn, blocksize, lo, hi);
    return KBIT_OK;
}

kbit_status kbit_check_map(const float *code, const char *fn, const char *arg)
{
    for (int i = 0; i < 256; i++) {
        if (isnan(code[i]))
            return kbit_error(KBIT_EINVAL, "%s: %s[%d] is NaN", fn, arg, i);
        if (i > 0 && code[i] < code[i - 1])
            return kbit_error(KBIT_EINVAL, "%s: %s is not ascending at entry %d", fn, arg, i);
    }
    return KBIT_OK;
}

kbit_status kbit_check_family(const kbit_device *dev, uint32_t families, const char *fn)
{
    uint32_t missing = families & ~dev->families;
    if (missing == 0)
        return KBIT_OK;
    kbit_family f = (kbit_family)(missing & (~missing + 1u));
    const char *why = dev->families_reason;
    return kbit_error(KBIT_ENOTSUP, "%s: device %s does not implement %s (family %s)%s%s", fn,
                      dev->spec, kbit_family_title(f), kbit_family_name(f),
                      why && *why ? ": " : "", why && *why ? why : "");
}

kbit_status kbit_check_limits(const kbit_device *dev, kbit_family family, int dtype,
                              int blocksize, const char *fn)
{
    for (const kbit_family_limits *l = dev->driver->limits; l && l->family != 0; l++) {
        if (l->family != family)
            continue;
        if (dtype >= 0 && l->dtypes != 0 && !(l->dtypes & (1u << dtype)))
            return kbit_error(KBIT_ENOTSUP, "%s: device %s implements %s without dtype %s", fn,
                              dev->spec, kbit_family_title(family),
                              kbit_dtype_name((kbit_dtype)dtype));
        if (blocksize > 0 && l->blocksizes != 0) {
            int log2 = 0;
            while ((1 << log2) < blocksize)
                log2++;
            if (!(l->blocksizes & (1u << log2)))
                return kbit_error(KBIT_ENOTSUP, "%s: device %s implements %s without "
                                  "blocksize %d", fn, dev->spec, kbit_family_title(family),
                                  blocksize);
        }
    }
    return KBIT_OK;
}

kbit_status kbit_check_slot(const kbit_device *dev, const void *slot, const char *op)
{
    if (slot != NULL)
        return KBIT_OK;
    return kbit_error(KBIT_ENOTSUP, "%s: driver '%s' does not implement this op",
                      op, dev->driver->name);
}

kbit_status kbit_driver_result(const kbit_device *dev, kbit_status st, const char *op)
{
    if (st != KBIT_OK && !kbit_error_is_set())
        kbit_error(st, "%s: driver '%s' failed (%s)", op, dev->driver->name, kbit_strerror(st));
    return st;
}

static int by_start(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const kbit_span *)a)->p, y = (uintptr_t)((const kbit_span *)b)->p;
    return (x > y) - (x < y);
}

kbit_status kbit_check_overlap(const char *fn, const kbit_span *spans, size_t n)
{
    kbit_span small[16], *s = n <= 16 ? small : malloc(n * sizeof *s);
    if (s == NULL)
        return kbit_error(KBIT_ENOMEM, "%s: out of memory checking its buffers", fn);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (spans[i].p != NULL && spans[i].bytes > 0)
            s[k++] = spans[i];
    qsort(s, k, sizeof *s, by_start);
    /* by start address: a span overlaps an earlier one iff it starts before
     * the furthest end so far (of any span, for an output; of an output,
     * for an input) */
    const kbit_span *far_any = NULL, *far_out = NULL;
    uintptr_t end_any = 0, end_out = 0;
    kbit_status st = KBIT_OK;
    for (size_t i = 0; i < k && st == KBIT_OK; i++) {
        uintptr_t b = (uintptr_t)s[i].p, e = b + (uintptr_t)s[i].bytes;
        const kbit_span *hit = s[i].out ? (far_any && b < end_any ? far_any : NULL)
                                        : (far_out && b < end_out ? far_out : NULL);
        if (hit)
            st = kbit_error(KBIT_EINVAL, "%s: %s and %s overlap (%s); an output may not share "
                            "memory with another buffer of the call (kbit.h, \"Aliasing\")", fn,
                            hit->name, s[i].name,
                            b == (uintptr_t)hit->p ? "at the same address" : "in part");
        if (far_any == NULL || e > end_any) {
            far_any = &s[i];
            end_any = e;
        }
        if (s[i].out && (far_out == NULL || e > end_out)) {
            far_out = &s[i];
            end_out = e;
        }
    }
    if (s != small)
        free(s);
    return st;
}
