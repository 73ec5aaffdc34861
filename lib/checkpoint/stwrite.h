/* lib/checkpoint/stwrite.h - a streaming safetensors writer (internal).
 *
 * Tensors are declared first (name, dtype, shape), then laid out once, then
 * their bytes are written in any order, one tensor at a time, straight to
 * their final place in the file (pwrite): memory stays bounded by the
 * largest tensor the caller holds. The layout is what the safetensors
 * libraries require and what torch needs to view the bytes in place: data
 * contiguous with no holes, tensors ordered by element size (largest first,
 * then by name), so every tensor starts at a multiple of its element size
 * (the header is padded with spaces to a multiple of 8).
 *
 * A "late" tensor is a 1-D U8 tensor whose length is only known when it is
 * written (the bitsandbytes quant-state JSON): late tensors go last and are
 * kept in memory until kbit_stw_finish. The header space is reserved at
 * layout time for the longest late tensors (KBIT_CK_LATE_MAX (limits.h) bytes each)
 * and padded with spaces when the real lengths are shorter.
 *
 * The file is created with O_EXCL at the path given and locked (flock) while
 * it is written; kbit_stw_abort removes it. Renaming into place is the
 * caller's job. Names, shapes, the tensor count and the header size are
 * held to the reader's limits (limits.h): KBIT_EINVAL beyond them.
 */
#ifndef KBIT_LIB_STWRITE_H
#define KBIT_LIB_STWRITE_H

#include <stddef.h>
#include <stdint.h>

#include "checkpoint/files.h"
#include "kbit.h"

typedef struct kbit_stw kbit_stw;

kbit_status kbit_stw_create(const char *path, kbit_stw **w);

/* Declare a tensor; st_dtype is a safetensors dtype name ("F32", "U8", ...)
 * and elem_size its size. Returns its index in *index. Names must be unique. */
kbit_status kbit_stw_add(kbit_stw *w, const char *name, const char *st_dtype, size_t elem_size,
                         int ndim, const int64_t *shape, size_t *index);
/* Declare a late 1-D U8 tensor (length set by kbit_stw_write). */
kbit_status kbit_stw_add_late(kbit_stw *w, const char *name, size_t *index);
/* A __metadata__ entry (string to string). */
kbit_status kbit_stw_metadata(kbit_stw *w, const char *key, const char *value);

/* Fix every offset (after the last add, before the first write). */
kbit_status kbit_stw_layout(kbit_stw *w);

/* Write tensor `index` whole: nbytes must equal its declared size (for a
 * late tensor: its length, at most KBIT_CK_LATE_MAX (limits.h)). */
kbit_status kbit_stw_write(kbit_stw *w, size_t index, const void *data, uint64_t nbytes);
/* ... or in parts, in order: bytes [from, from + nbytes) of a tensor that is
 * not late (from = the bytes written so far). */
kbit_status kbit_stw_write_part(kbit_stw *w, size_t index, uint64_t from, const void *data,
                                uint64_t nbytes);

/* ... or its bytes copied from another file (the same size as declared). */
kbit_status kbit_stw_write_from_file(kbit_stw *w, size_t index, int in, const char *in_path,
                                     uint64_t in_off);

/* Every tensor written: write the late tensors and the header, flush to disk,
 * close, free w. On failure the file is removed and w freed. */
kbit_status kbit_stw_finish(kbit_stw *w);
/* Close, remove the file, free w (NULL is ignored). */
void kbit_stw_abort(kbit_stw *w);

/* Bytes the file will have (valid after layout; late tensors counted at
 * their final length once written). */
uint64_t kbit_stw_size(const kbit_stw *w);
/* Declared tensors: count and names (valid until finish / abort). */
size_t kbit_stw_count(const kbit_stw *w);
const char *kbit_stw_name(const kbit_stw *w, size_t i);

/* The data bytes alone (what an index's total_size counts). */
uint64_t kbit_stw_data_bytes(const kbit_stw *w);

#endif
