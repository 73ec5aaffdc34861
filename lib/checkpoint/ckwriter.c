/* lib/checkpoint/ckwriter.c - the public checkpoint writer: collects host copies of
 * plain tensors, 4-bit and 8-bit weights, then writes one .safetensors file
 * in the bitsandbytes format under a temporary name and renames it. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint/bnb.h"
#include "checkpoint/files.h"
#include "checkpoint/limits.h"
#include "runtime/check.h"
#include "runtime/error.h"
#include "checkpoint/safetensors.h"

typedef struct w_item {
    kbit_weight_format kind;
    char *name;
    kbit_dtype dtype;      /* plain */
    int ndim;
    int64_t shape[KBIT_MAX_DIMS];
    void *data;            /* plain: values; 4-bit: packed; 8-bit: CB */
    size_t bytes;
    void *absmax;          /* 4-bit */
    float *absmax2;        /* 4-bit nested */
    float *scb;            /* 8-bit */
    kbit_quant_state *state; /* 4-bit (its own allocation: most items are plain) */
} w_item;

struct kbit_checkpoint_writer {
    char *path;
    w_item *items;
    size_t count, cap;
    json_t *names; /* the names added, as a hash set (keys of an object) */
};

static void item_free(w_item *it)
{
    free(it->name);
    free(it->data);
    free(it->absmax);
    free(it->absmax2);
    free(it->scb);
    free(it->state);
}

KBIT_API void kbit_checkpoint_writer_discard(kbit_checkpoint_writer *w)
{
    if (w == NULL)
        return;
    for (size_t i = 0; i < w->count; i++)
        item_free(&w->items[i]);
    free(w->items);
    json_decref(w->names);
    free(w->path);
    free(w);
}

KBIT_API kbit_status kbit_checkpoint_writer_create(const char *path, kbit_checkpoint_writer **out)
{
    kbit_clear_error();
    if (path == NULL || out == NULL)
        return kbit_error(KBIT_EINVAL, "kbit_checkpoint_writer_create: %s is NULL",
                          path ? "writer" : "path");
    struct stat sb;
    if (lstat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
        return kbit_error(KBIT_EINVAL, "kbit_checkpoint_writer_create: %s exists and is not a "
                          "regular file", path);
    kbit_checkpoint_writer *w = calloc(1, sizeof *w);
    if (w == NULL || (w->path = strdup(path)) == NULL || (w->names = json_object()) == NULL) {
        if (w)
            free(w->path);
        free(w);
        return kbit_error(KBIT_ENOMEM, "kbit_checkpoint_writer_create: out of memory");
    }
    *out = w;
    return KBIT_OK;
}

/* A new entry named `name`: KBIT_EINVAL for a name the reader would refuse
 * (limits.h) or one added already (a hash lookup: adding n tensors is
 * O(n)), or the file's tensor count passed; KBIT_ENOMEM. The tensors an item
 * writes besides its own name (4-bit: 4 or 6, 8-bit: 3) are checked by the
 * safetensors writer at finish. */
static kbit_status new_item(kbit_checkpoint_writer *w, const char *name, const char *fn,
                            w_item **item)
{
    if (w == NULL || name == NULL)
        return kbit_error(KBIT_EINVAL, "%s: %s is NULL", fn, w == NULL ? "writer" : "name");
    const char *bad = kbit_ck_check_name(name);
    if (bad)
        return kbit_error(KBIT_EINVAL, "%s: tensor '%.200s': %s", fn, name, bad);
    if ((bad = kbit_ck_check_count(w->count + 1)) != NULL)
        return kbit_error(KBIT_EINVAL, "%s: %s", fn, bad);
    if (json_object_get(w->names, name) != NULL)
        return kbit_error(KBIT_EINVAL, "%s: '%.200s' was added already", fn, name);
    if (w->count == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 16;
        w_item *p = realloc(w->items, cap * sizeof *p);
        if (p == NULL)
            return kbit_error(KBIT_ENOMEM, "%s: out of memory", fn);
        w->items = p;
        w->cap = cap;
    }
    w_item *it = &w->items[w->count];
    memset(it, 0, sizeof *it);
    if ((it->name = strdup(name)) == NULL)
        return kbit_error(KBIT_ENOMEM, "%s: out of memory", fn);
    if (json_object_set_new(w->names, name, json_null()) != 0) {
        free(it->name);
        it->name = NULL;
        return kbit_error(KBIT_EINVAL, "%s: tensor name '%.200s' is not UTF-8 (or out of memory)",
                          fn, name);
    }
    *item = it;
    return KBIT_OK;
}

/* Undo new_item for an item that was not completed. */
static void drop_item(kbit_checkpoint_writer *w, w_item *it)
{
    json_object_del(w->names, it->name);
    item_free(it);
}

/* Copy device memory to a new host buffer. */
static kbit_status fetch(kbit_device *dev, const void *src, size_t bytes, void **out)
{
    void *p = malloc(bytes ? bytes : 1);
    if (p == NULL)
        return kbit_error(KBIT_ENOMEM, "out of memory for %zu bytes", bytes);
    kbit_status st = bytes ? kbit_copy(dev, p, src, bytes, KBIT_DEVICE_TO_HOST) : KBIT_OK;
    if (st != KBIT_OK) {
        free(p);
        return st;
    }
    *out = p;
    return KBIT_OK;
}

KBIT_API kbit_status kbit_checkpoint_writer_add(kbit_checkpoint_writer *w, const char *name,
                                                kbit_dtype dtype, int ndim, const int64_t *shape,
                                                const void *data)
{
    static const char fn[] = "kbit_checkpoint_writer_add";
    kbit_clear_error();
    if (kbit_st_dtype_name(dtype) == NULL)
        return kbit_error(KBIT_EINVAL, "%s: unknown dtype %d", fn, (int)dtype);
    if (ndim < 0 || ndim > KBIT_MAX_DIMS || (ndim > 0 && shape == NULL))
        return kbit_error(KBIT_EINVAL, "%s: ndim = %d must be 0..%d with a shape", fn, ndim,
                          KBIT_MAX_DIMS);
    int64_t n;
    uint64_t nbytes;
    char why[128];
    if (kbit_ck_check_shape(ndim, shape, kbit_dtype_size(dtype), &n, &nbytes, why, sizeof why))
        return kbit_error(KBIT_EINVAL, "%s: shape: %s", fn, why);
    size_t bytes = (size_t)nbytes;
    if (bytes > 0 && data == NULL)
        return kbit_error(KBIT_EINVAL, "%s: data is NULL", fn);
    w_item *it = NULL;
    kbit_status added = new_item(w, name, fn, &it);
    if (added != KBIT_OK)
        return added;
    if ((it->data = malloc(bytes ? bytes : 1)) == NULL) {
        drop_item(w, it);
        return kbit_error(KBIT_ENOMEM, "%s: out of memory for %zu bytes", fn, bytes);
    }
    if (bytes)
        memcpy(it->data, data, bytes);
    it->kind = KBIT_WEIGHT_PLAIN;
    it->dtype = dtype;
    it->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        it->shape[i] = shape[i];
    it->bytes = bytes;
    w->count++;
    return KBIT_OK;
}

KBIT_API kbit_status kbit_checkpoint_writer_add_4bit(kbit_checkpoint_writer *w, const char *name,
                                                     kbit_device *dev, const uint8_t *packed,
                                                     const kbit_quant_state *state)
{
    static const char fn[] = "kbit_checkpoint_writer_add_4bit";
    kbit_clear_error();
    if (dev == NULL || state == NULL || (packed == NULL && state->numel > 0) ||
        (state->absmax == NULL && state->nblocks > 0) || (state->nested && !state->absmax2))
        return kbit_error(KBIT_EINVAL, "%s: the device, packed or a state buffer is NULL", fn);
    /* the description must be one kbit_quant_state_init accepts */
    kbit_quant_state check;
    if (kbit_quant_state_init(&check, state->quant_type, state->dtype, state->ndim, state->shape,
                              state->blocksize, state->nested) != KBIT_OK ||
        check.numel != state->numel || check.nblocks != state->nblocks ||
        check.nblocks2 != state->nblocks2)
        return kbit_error(KBIT_EINVAL, "%s: the state's description is inconsistent", fn);
    int64_t n;
    uint64_t nbytes;
    char why[128];
    if (kbit_ck_check_shape(state->ndim, state->shape, 1, &n, &nbytes, why, sizeof why))
        return kbit_error(KBIT_EINVAL, "%s: the state's shape: %s", fn, why);
    w_item *it = NULL;
    kbit_status added = new_item(w, name, fn, &it);
    if (added != KBIT_OK)
        return added;
    it->kind = KBIT_WEIGHT_4BIT;
    if ((it->state = malloc(sizeof *it->state)) == NULL) {
        drop_item(w, it);
        return kbit_error(KBIT_ENOMEM, "%s: out of memory", fn);
    }
    *it->state = *state;
    it->bytes = (size_t)kbit_packed_4bit_bytes(state->numel);
    kbit_status st = fetch(dev, packed, it->bytes, &it->data);
    if (st == KBIT_OK)
        st = fetch(dev, state->absmax, (size_t)state->nblocks * (state->nested ? 1 : 4),
                   &it->absmax);
    if (st == KBIT_OK && state->nested)
        st = fetch(dev, state->absmax2, (size_t)state->nblocks2 * 4, (void **)&it->absmax2);
    if (st != KBIT_OK) {
        drop_item(w, it);
        return st;
    }
    w->count++;
    return KBIT_OK;
}

KBIT_API kbit_status kbit_checkpoint_writer_add_int8(kbit_checkpoint_writer *w, const char *name,
                                                     kbit_device *dev, const int8_t *CB,
                                                     const float *SCB, int64_t rows, int64_t cols)
{
    static const char fn[] = "kbit_checkpoint_writer_add_int8";
    kbit_clear_error();
    int64_t count = 0;
    kbit_status st;
    if ((st = kbit_check_device(dev, fn)) != KBIT_OK ||
        (st = kbit_check_matrix(rows, cols, 1, fn, "rows", "cols", &count)) != KBIT_OK ||
        (st = kbit_check_data(CB, count, 1, fn, "CB")) != KBIT_OK ||
        (st = kbit_check_data(SCB, rows, 4, fn, "SCB")) != KBIT_OK)
        return st;
    if (rows > KBIT_CK_MAX_DIM || cols > KBIT_CK_MAX_DIM)
        return kbit_error(KBIT_EINVAL, "%s: rows and cols must be at most 2^48", fn);
    char prefix[1100];
    if (name == NULL || !kbit_bnb_module_prefix(name, prefix, sizeof prefix))
        return kbit_error(KBIT_EINVAL, "%s: name must be \"<module>.weight\"", fn);
    w_item *it = NULL;
    kbit_status added = new_item(w, name, fn, &it);
    if (added != KBIT_OK)
        return added;
    it->kind = KBIT_WEIGHT_INT8;
    it->shape[0] = rows;
    it->shape[1] = cols;
    it->bytes = (size_t)count;
    st = fetch(dev, CB, it->bytes, &it->data);
    if (st == KBIT_OK)
        st = fetch(dev, SCB, (size_t)rows * 4, (void **)&it->scb);
    if (st != KBIT_OK) {
        drop_item(w, it);
        return st;
    }
    w->count++;
    return KBIT_OK;
}

/* Declared slots per item. */
typedef struct w_slots {
    size_t plain;
    kbit_bnb_slots4 s4;
    kbit_bnb_slots8 s8;
} w_slots;

static kbit_status write_all(kbit_checkpoint_writer *w, kbit_stw *stw, w_slots *sl)
{
    kbit_status st = kbit_stw_metadata(stw, "format", "pt");
    for (size_t i = 0; i < w->count && st == KBIT_OK; i++) {
        w_item *it = &w->items[i];
        if (it->kind == KBIT_WEIGHT_PLAIN)
            st = kbit_stw_add(stw, it->name, kbit_st_dtype_name(it->dtype),
                              kbit_dtype_size(it->dtype), it->ndim, it->shape, &sl[i].plain);
        else if (it->kind == KBIT_WEIGHT_4BIT)
            st = kbit_bnb_declare_4bit(stw, it->name, it->state, KBIT_U8, &sl[i].s4);
        else
            st = kbit_bnb_declare_int8(stw, it->name, it->shape[0], it->shape[1], &sl[i].s8);
    }
    if (st == KBIT_OK)
        st = kbit_stw_layout(stw);
    for (size_t i = 0; i < w->count && st == KBIT_OK; i++) {
        w_item *it = &w->items[i];
        if (it->kind == KBIT_WEIGHT_PLAIN)
            st = kbit_stw_write(stw, sl[i].plain, it->data, it->bytes);
        else if (it->kind == KBIT_WEIGHT_4BIT)
            st = kbit_bnb_write_4bit(stw, &sl[i].s4, it->state, it->data, it->absmax,
                                     it->absmax2);
        else
            st = kbit_bnb_write_int8(stw, &sl[i].s8, it->shape[0], it->shape[1], it->data,
                                     it->scb);
    }
    return st;
}

KBIT_API kbit_status kbit_checkpoint_writer_finish(kbit_checkpoint_writer *w)
{
    kbit_clear_error();
    if (w == NULL)
        return kbit_error(KBIT_EINVAL, "kbit_checkpoint_writer_finish: writer is NULL");
    size_t tlen = strlen(w->path) + 96;
    char *tmp = malloc(tlen);
    w_slots *sl = calloc(w->count ? w->count : 1, sizeof *sl);
    kbit_stw *stw = NULL;
    kbit_status st = tmp && sl ? KBIT_OK : kbit_error(KBIT_ENOMEM, "out of memory");
    if (st == KBIT_OK) {
        kbit_file_remove_stale(w->path);
        kbit_sibling_name(w->path, "tmp", tmp, tlen);
        st = kbit_stw_create(tmp, &stw);
    }
    if (st == KBIT_OK) {
        st = write_all(w, stw, sl);
        if (st == KBIT_OK)
            st = kbit_stw_finish(stw);
        else
            kbit_stw_abort(stw);
    }
    if (st == KBIT_OK && rename(tmp, w->path) != 0) {
        st = kbit_error(KBIT_EIO, "cannot rename %s to %s: %s", tmp, w->path, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    free(sl);
    kbit_checkpoint_writer_discard(w);
    return st;
}
