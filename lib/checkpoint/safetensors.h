/* lib/checkpoint/safetensors.h - a read-only, hostile-input-safe safetensors reader
 * (internal: used by the tests and by the checkpoint code).
 *
 * A file is mapped read-only; its JSON header is validated completely before
 * anything is returned: every tensor has a known dtype, a shape of at most
 * KBIT_MAX_DIMS non-negative dimensions, data_offsets [begin, end] inside the
 * data area with end - begin == element size x product(shape) (checked for
 * overflow), no two tensors overlap, and __metadata__ is an object of strings.
 * Any violation is KBIT_EFORMAT with a message naming the file and the fault.
 */
#ifndef KBIT_LIB_SAFETENSORS_H
#define KBIT_LIB_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "kbit.h"

/* Largest JSON header accepted (the reference implementation's limit). */
#define KBIT_ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000)

typedef struct kbit_st_file kbit_st_file;

typedef struct kbit_st_tensor {
    const char *name;      /* valid until kbit_st_close */
    const char *st_dtype;  /* the safetensors dtype string, e.g. "BF16" */
    int dtype_known;       /* 1 if the dtype has a kbit_dtype ... */
    kbit_dtype dtype;      /* ... which is this (meaningless when dtype_known == 0) */
    size_t elem_size;      /* bytes per element */
    int ndim;
    int64_t shape[KBIT_MAX_DIMS];
    int64_t numel;         /* product of shape (1 for a 0-dim tensor) */
    uint64_t nbytes;       /* numel * elem_size */
    uint64_t offset;       /* begin of the data, relative to the data area */
    /* Start of the tensor's bytes inside the mapping. NOT necessarily aligned
     * to elem_size (tensors are packed back to back): read with memcpy. */
    const void *data;
} kbit_st_tensor;

/* Map and validate a file. KBIT_EIO if it cannot be opened or mapped,
 * KBIT_EFORMAT if it is not a valid safetensors file, KBIT_ENOMEM. */
kbit_status kbit_st_open(const char *path, kbit_st_file **out);
void kbit_st_close(kbit_st_file *f);

/* Tensors in header order. */
size_t kbit_st_count(const kbit_st_file *f);
const kbit_st_tensor *kbit_st_at(const kbit_st_file *f, size_t i);
/* By exact name; NULL if absent. */
const kbit_st_tensor *kbit_st_find(const kbit_st_file *f, const char *name);

/* A __metadata__ value; NULL if absent (or no metadata). */
const char *kbit_st_metadata(const kbit_st_file *f, const char *key);
size_t kbit_st_metadata_count(const kbit_st_file *f);
/* The i-th metadata entry in header order; returns the key, *value set. */
const char *kbit_st_metadata_at(const kbit_st_file *f, size_t i, const char **value);

/* The safetensors name of a kbit dtype ("F32", ...), NULL if none. */
const char *kbit_st_dtype_name(kbit_dtype dtype);

/* Tell the kernel a tensor's pages are no longer needed (they are read
 * again from the file if touched): streaming readers call it after each
 * tensor so the resident set stays bounded by one tensor. */
void kbit_st_release(const kbit_st_tensor *t);
/* Ask the kernel to start reading a tensor's pages now (read-ahead), so the
 * disk works while the previous tensor is processed. */
void kbit_st_prefetch(const kbit_st_tensor *t);

#endif
