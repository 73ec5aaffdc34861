/* lib/checkpoint/safetensors.h - a read-only, hostile-input-safe safetensors reader
 * (internal: used by the tests and by the checkpoint code).
 *
 * A file is opened only if it is a regular file, and read with pread (never
 * mapped: a file truncated meanwhile gives KBIT_EIO, not SIGBUS). Its JSON
 * header is validated completely before anything is returned: every tensor
 * has a name within limits.h's, a known dtype, a shape kbit_ck_check_shape
 * accepts, data_offsets [begin, end] inside the data area with end - begin ==
 * element size x product(shape), no two tensors overlap, at most
 * KBIT_CHECKPOINT_MAX_TENSORS of them, and __metadata__ is an object of
 * strings. Any violation is KBIT_EFORMAT with a message naming the file and
 * the fault.
 */
#ifndef KBIT_LIB_SAFETENSORS_H
#define KBIT_LIB_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "kbit.h"

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
    uint64_t file_offset;  /* ... and in the file */
    const kbit_st_file *file;
    /* The bytes in memory after kbit_st_load_all (tests, small files); NULL
     * otherwise. Not aligned to elem_size: read with memcpy. */
    const void *data;
} kbit_st_tensor;

/* Open and validate a file (it stays open until kbit_st_close). KBIT_EIO if it
 * is not a regular file or cannot be read, KBIT_EFORMAT if it is not a valid
 * safetensors file, KBIT_ENOMEM. */
kbit_status kbit_st_open(const char *path, kbit_st_file **out);
void kbit_st_close(kbit_st_file *f);
const char *kbit_st_path(const kbit_st_file *f);

/* Read the whole data area into memory once and point every tensor's data
 * at its bytes (for tests and small files; the library itself reads each
 * tensor when it needs it). */
kbit_status kbit_st_load_all(kbit_st_file *f);

/* The open descriptor of a file (for copies in the kernel). */
int kbit_st_fd(const kbit_st_file *f);

/* Bytes [from, from + len) of tensor t into buf. KBIT_EIO naming the file and
 * the tensor when the read fails or the file has become shorter. */
kbit_status kbit_st_read(const kbit_st_tensor *t, uint64_t from, void *buf, size_t len);

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

/* Ask the kernel to start reading a tensor's pages now (read-ahead), so the
 * disk works while the previous tensor is processed. */
void kbit_st_prefetch(const kbit_st_tensor *t);

#endif
