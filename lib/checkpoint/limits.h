/* lib/checkpoint/limits.h - every limit of the checkpoint reader and writer,
 * in one place: the reader refuses what lies beyond them and the writer
 * never writes it, so what kbit writes it can read back (issue 14 point 6).
 * The ones a user meets are public (kbit.h, KBIT_CHECKPOINT_MAX_*); the
 * shape rule is a function both sides call. */
#ifndef KBIT_LIB_CK_LIMITS_H
#define KBIT_LIB_CK_LIMITS_H

#include <stddef.h>
#include <stdint.h>

#include "kbit.h"

#define KBIT_CK_MAX_TENSORS KBIT_CHECKPOINT_MAX_TENSORS
#define KBIT_CK_MAX_NAME KBIT_CHECKPOINT_MAX_NAME
#define KBIT_CK_MAX_DIM KBIT_CHECKPOINT_MAX_DIM
#define KBIT_CK_MAX_HEADER ((uint64_t)KBIT_CHECKPOINT_MAX_HEADER)
/* A packed bitsandbytes quant state (JSON in a U8 tensor): the reader takes
 * up to BLOB_MAX bytes, the writer reserves LATE_MAX (its own are ~200). */
#define KBIT_CK_BLOB_MAX 65536
#define KBIT_CK_LATE_MAX 4096
/* config.json and model.safetensors.index.json. */
#define KBIT_CK_JSON_FILE_MAX ((size_t)64 * 1024 * 1024)

/* A shape of ndim dimensions of elem_size-byte elements: 0 <= ndim <=
 * KBIT_MAX_DIMS, every dimension in [0, KBIT_CK_MAX_DIM], and numel x
 * elem_size representable in int64_t. Sets *numel and *nbytes and returns
 * NULL, or returns what is wrong ("dimension 1 = ... exceeds ..."), written
 * into why (size len). */
const char *kbit_ck_check_shape(int ndim, const int64_t *shape, size_t elem_size,
                                int64_t *numel, uint64_t *nbytes, char *why, size_t len);

/* A tensor name: not empty, not "__metadata__" (safetensors' metadata key),
 * at most KBIT_CK_MAX_NAME bytes. NULL, or what is wrong (static text). */
const char *kbit_ck_check_name(const char *name);

/* count stored tensors in one file: NULL if count <= KBIT_CK_MAX_TENSORS. */
const char *kbit_ck_check_count(size_t count);

#endif
