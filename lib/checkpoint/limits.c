/* lib/checkpoint/limits.c - the shared limit checks (see limits.h). */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "checkpoint/limits.h"

const char *kbit_ck_check_shape(int ndim, const int64_t *shape, size_t elem_size,
                                int64_t *numel, uint64_t *nbytes, char *why, size_t len)
{
    if (ndim < 0 || ndim > KBIT_MAX_DIMS) {
        snprintf(why, len, "%d dimensions (at most %d)", ndim, KBIT_MAX_DIMS);
        return why;
    }
    uint64_t n = 1;
    int zero = 0, big = 0;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || shape[i] > KBIT_CK_MAX_DIM) {
            snprintf(why, len, "dimension %d = %lld is not in [0, 2^48]", i,
                     (long long)shape[i]);
            return why;
        }
        if (shape[i] == 0)
            zero = 1;
        else if (n > (uint64_t)INT64_MAX / (uint64_t)shape[i])
            big = 1;
        else
            n *= (uint64_t)shape[i];
    }
    if (zero)
        n = 0;
    else if (big || (elem_size > 0 && n > (uint64_t)INT64_MAX / elem_size)) {
        snprintf(why, len, "its element count times %zu bytes overflows int64", elem_size);
        return why;
    }
    *numel = (int64_t)n;
    *nbytes = n * elem_size;
    return NULL;
}

const char *kbit_ck_check_name(const char *name)
{
    if (name[0] == '\0')
        return "the name is empty";
    if (strcmp(name, "__metadata__") == 0)
        return "'__metadata__' is the safetensors metadata key, not a tensor name";
    if (strlen(name) > KBIT_CK_MAX_NAME)
        return "the name is longer than KBIT_CHECKPOINT_MAX_NAME (1024) bytes";
    return NULL;
}

const char *kbit_ck_check_count(size_t count)
{
    return count > (size_t)KBIT_CK_MAX_TENSORS
               ? "more than KBIT_CHECKPOINT_MAX_TENSORS (1048576) tensors in one file"
               : NULL;
}
