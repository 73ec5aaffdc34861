/* lib/checkpoint/safetensors.c - read-only safetensors reader. The header comes from an
 * untrusted file, so every number in it is checked before it is used to form
 * a pointer or a size. The file is read with pread, never mapped: a file
 * that shrinks while it is read gives KBIT_EIO instead of SIGBUS. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "checkpoint/files.h"
#include "checkpoint/jsonload.h"
#include "checkpoint/limits.h"
#include "checkpoint/safetensors.h"
#include "runtime/error.h"

struct kbit_st_file {
    int fd;
    char *path;
    uint64_t size;            /* when opened */
    json_t *root;             /* owns every name and metadata string */
    kbit_st_tensor *tensors;  /* header order */
    size_t count;
    const kbit_st_tensor **by_name; /* sorted by name, for kbit_st_find */
    const char **meta_keys;
    const char **meta_values;
    size_t meta_count;
    unsigned char *loaded; /* kbit_st_load_all */
};

/* Every dtype of the safetensors format, with its size and kbit equivalent. */
static const struct st_dtype {
    const char *name;
    size_t size;
    int known;
    kbit_dtype dtype;
} st_dtypes[] = {
    { "F64", 8, 1, KBIT_F64 },  { "F32", 4, 1, KBIT_F32 },  { "F16", 2, 1, KBIT_F16 },
    { "BF16", 2, 1, KBIT_BF16 }, { "I64", 8, 1, KBIT_I64 }, { "I32", 4, 1, KBIT_I32 },
    { "I8", 1, 1, KBIT_I8 },    { "U8", 1, 1, KBIT_U8 },
    /* legal safetensors dtypes without a kbit equivalent: readable as bytes */
    { "I16", 2, 0, KBIT_U8 },   { "U16", 2, 0, KBIT_U8 },   { "U32", 4, 0, KBIT_U8 },
    { "U64", 8, 0, KBIT_U8 },   { "BOOL", 1, 0, KBIT_U8 },  { "F8_E4M3", 1, 0, KBIT_U8 },
    { "F8_E5M2", 1, 0, KBIT_U8 },
};

const char *kbit_st_dtype_name(kbit_dtype dtype)
{
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
        if (st_dtypes[i].known && st_dtypes[i].dtype == dtype)
            return st_dtypes[i].name;
    return NULL;
}

static const struct st_dtype *find_dtype(const char *name)
{
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
        if (strcmp(st_dtypes[i].name, name) == 0)
            return &st_dtypes[i];
    return NULL;
}

void kbit_st_close(kbit_st_file *f)
{
    if (f == NULL)
        return;
    if (f->fd >= 0)
        close(f->fd);
    free(f->path);
    if (f->root)
        json_decref(f->root);
    free(f->tensors);
    free(f->loaded);
    free(f->by_name);
    free(f->meta_keys);
    free(f->meta_values);
    free(f);
}

static uint64_t read_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* A JSON integer that is >= 0, as uint64. */
static int get_nonneg(const json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return 0;
    *out = (uint64_t)json_integer_value(v);
    return 1;
}

/* Validate one tensor entry and fill t (everything but data). */
static kbit_status parse_tensor(const char *path, const char *name, json_t *entry,
                                uint64_t data_size, kbit_st_tensor *t)
{
    const char *bad_name = kbit_ck_check_name(name);
    if (bad_name)
        return kbit_error(KBIT_EFORMAT, "safetensors %s: tensor '%.200s': %s", path, name,
                          bad_name);
    if (!json_is_object(entry))
        return kbit_error(KBIT_EFORMAT, "safetensors %s: tensor '%s' is not a JSON object",
                          path, name);

    json_t *dt = json_object_get(entry, "dtype");
    if (!json_is_string(dt))
        return kbit_error(KBIT_EFORMAT, "safetensors %s: tensor '%s' has no dtype string",
                          path, name);
    const struct st_dtype *d = find_dtype(json_string_value(dt));
    if (d == NULL)
        return kbit_error(KBIT_EFORMAT, "safetensors %s: tensor '%s' has unknown dtype '%.32s'",
                          path, name, json_string_value(dt));

    json_t *shape = json_object_get(entry, "shape");
    if (!json_is_array(shape))
        return kbit_error(KBIT_EFORMAT, "safetensors %s: tensor '%s' has no shape array",
                          path, name);
    size_t ndim = json_array_size(shape);
    if (ndim > KBIT_MAX_DIMS)
        return kbit_error(KBIT_EFORMAT, "safetensors %s: tensor '%s' has %zu dimensions "
                          "(at most %d)", path, name, ndim, KBIT_MAX_DIMS);
    for (size_t i = 0; i < ndim; i++) {
        uint64_t dim;
        if (!get_nonneg(json_array_get(shape, i), &dim))
            return kbit_error(KBIT_EFORMAT, "safetensors %s: tensor '%s': shape[%zu] is not "
                              "a non-negative integer", path, name, i);
        t->shape[i] = (int64_t)dim;
    }
    int64_t count;
    uint64_t nbytes;
    char why[128];
    if (kbit_ck_check_shape((int)ndim, t->shape, d->size, &count, &nbytes, why, sizeof why))
        return kbit_error(KBIT_EFORMAT, "safetensors %s: tensor '%s': %s", path, name, why);

    json_t *offs = json_object_get(entry, "data_offsets");
    uint64_t begin, end;
    if (!json_is_array(offs) || json_array_size(offs) != 2 ||
        !get_nonneg(json_array_get(offs, 0), &begin) ||
        !get_nonneg(json_array_get(offs, 1), &end))
        return kbit_error(KBIT_EFORMAT, "safetensors %s: tensor '%s': data_offsets must be two "
                          "non-negative integers", path, name);
    if (begin > end)
        return kbit_error(KBIT_EFORMAT, "safetensors %s: tensor '%s': data_offsets begin %llu > "
                          "end %llu", path, name, (unsigned long long)begin,
                          (unsigned long long)end);
    if (end > data_size)
        return kbit_error(KBIT_EFORMAT, "safetensors %s: tensor '%s': data_offsets end %llu is "
                          "past the %llu bytes of data", path, name, (unsigned long long)end,
                          (unsigned long long)data_size);
    if (end - begin != nbytes)
        return kbit_error(KBIT_EFORMAT, "safetensors %s: tensor '%s': data_offsets span %llu "
                          "bytes but dtype %s x shape needs %llu", path, name,
                          (unsigned long long)(end - begin), d->name,
                          (unsigned long long)nbytes);

    t->name = name;
    t->st_dtype = d->name;
    t->dtype_known = d->known;
    t->dtype = d->dtype;
    t->elem_size = d->size;
    t->ndim = (int)ndim;
    t->numel = count;
    t->nbytes = nbytes;
    t->offset = begin;
    return KBIT_OK;
}

static kbit_status parse_metadata(const char *path, kbit_st_file *f, json_t *meta)
{
    if (!json_is_object(meta))
        return kbit_error(KBIT_EFORMAT, "safetensors %s: __metadata__ is not a JSON object", path);
    size_t n = json_object_size(meta);
    f->meta_keys = calloc(n ? n : 1, sizeof *f->meta_keys);
    f->meta_values = calloc(n ? n : 1, sizeof *f->meta_values);
    if (f->meta_keys == NULL || f->meta_values == NULL)
        return kbit_error(KBIT_ENOMEM, "safetensors %s: out of memory", path);
    const char *key;
    json_t *value;
    json_object_foreach(meta, key, value) {
        if (!json_is_string(value))
            return kbit_error(KBIT_EFORMAT, "safetensors %s: __metadata__ value '%s' is not a "
                              "string", path, key);
        f->meta_keys[f->meta_count] = key;
        f->meta_values[f->meta_count] = json_string_value(value);
        f->meta_count++;
    }
    return KBIT_OK;
}

/* qsort comparators over arrays of tensor pointers (no shared state, so
 * files may be opened from several threads at once). */
static int by_offset(const void *a, const void *b)
{
    const kbit_st_tensor *x = *(const kbit_st_tensor *const *)a;
    const kbit_st_tensor *y = *(const kbit_st_tensor *const *)b;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    return (x->nbytes > y->nbytes) - (x->nbytes < y->nbytes);
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(const kbit_st_tensor *const *)a)->name,
                  (*(const kbit_st_tensor *const *)b)->name);
}

/* No two tensors may share a byte (empty tensors share none). */
static kbit_status check_overlaps(const char *path, const kbit_st_file *f)
{
    if (f->count < 2)
        return KBIT_OK;
    const kbit_st_tensor **order = malloc(f->count * sizeof *order);
    if (order == NULL)
        return kbit_error(KBIT_ENOMEM, "safetensors %s: out of memory", path);
    for (size_t i = 0; i < f->count; i++)
        order[i] = &f->tensors[i];
    qsort(order, f->count, sizeof *order, by_offset);
    kbit_status st = KBIT_OK;
    uint64_t reach = 0;
    const char *reach_name = NULL;
    for (size_t i = 0; i < f->count && st == KBIT_OK; i++) {
        const kbit_st_tensor *t = order[i];
        if (t->nbytes == 0)
            continue;
        if (reach_name != NULL && t->offset < reach)
            st = kbit_error(KBIT_EFORMAT, "safetensors %s: tensors '%s' and '%s' overlap", path,
                            reach_name, t->name);
        if (t->offset + t->nbytes > reach) {
            reach = t->offset + t->nbytes;
            reach_name = t->name;
        }
    }
    free(order);
    return st;
}

static kbit_status parse_header(const char *path, kbit_st_file *f, const char *json,
                                size_t json_len, uint64_t data_size, uint64_t data_start)
{
    kbit_json_error jerr;
    f->root = kbit_json_parse(json, json_len, KBIT_JSON_STRICT, NULL, &jerr);
    if (f->root == NULL)
        return kbit_error(jerr.out_of_memory ? KBIT_ENOMEM : KBIT_EFORMAT,
                          "safetensors %s: header is not valid JSON (%s)", path, jerr.text);
    if (!json_is_object(f->root))
        return kbit_error(KBIT_EFORMAT, "safetensors %s: header is not a JSON object", path);

    size_t n = json_object_size(f->root);
    const char *too_many = kbit_ck_check_count(n - (json_object_get(f->root, "__metadata__") != NULL));
    if (too_many)
        return kbit_error(KBIT_EFORMAT, "safetensors %s: %s", path, too_many);
    f->tensors = calloc(n ? n : 1, sizeof *f->tensors);
    if (f->tensors == NULL)
        return kbit_error(KBIT_ENOMEM, "safetensors %s: out of memory for %zu tensors", path, n);

    const char *key;
    json_t *value;
    kbit_status st;
    json_object_foreach(f->root, key, value) {
        if (strcmp(key, "__metadata__") == 0) {
            if ((st = parse_metadata(path, f, value)) != KBIT_OK)
                return st;
            continue;
        }
        kbit_st_tensor *t = &f->tensors[f->count];
        if ((st = parse_tensor(path, key, value, data_size, t)) != KBIT_OK)
            return st;
        t->file = f;
        t->file_offset = data_start + t->offset;
        f->count++;
    }
    if ((st = check_overlaps(path, f)) != KBIT_OK)
        return st;

    f->by_name = malloc((f->count ? f->count : 1) * sizeof *f->by_name);
    if (f->by_name == NULL)
        return kbit_error(KBIT_ENOMEM, "safetensors %s: out of memory", path);
    for (size_t i = 0; i < f->count; i++)
        f->by_name[i] = &f->tensors[i];
    qsort(f->by_name, f->count, sizeof *f->by_name, by_name);
    return KBIT_OK;
}

kbit_status kbit_st_open(const char *path, kbit_st_file **out)
{
    if (path == NULL || out == NULL)
        return kbit_error(KBIT_EINVAL, "kbit_st_open: %s is NULL", path ? "out" : "path");
    kbit_st_file *f = calloc(1, sizeof *f);
    if (f == NULL || (f->path = strdup(path)) == NULL) {
        free(f);
        return kbit_error(KBIT_ENOMEM, "safetensors %s: out of memory", path);
    }
    f->fd = -1;
    kbit_status st = kbit_file_open_read(path, &f->fd, &f->size);
    if (st == KBIT_OK && f->size < 8)
        st = kbit_error(KBIT_EFORMAT, "safetensors %s: %llu bytes is too short for the 8-byte "
                        "header length", path, (unsigned long long)f->size);
    unsigned char le[8];
    if (st == KBIT_OK)
        st = kbit_file_pread(f->fd, path, le, 8, 0);
    uint64_t header_len = st == KBIT_OK ? read_le64(le) : 0;
    uint64_t room = f->size >= 8 ? f->size - 8 : 0;
    if (st != KBIT_OK)
        ;
    else if (header_len > KBIT_CK_MAX_HEADER)
        st = kbit_error(KBIT_EFORMAT, "safetensors %s: header length %llu exceeds the limit of "
                        "%llu bytes", path, (unsigned long long)header_len,
                        (unsigned long long)KBIT_CK_MAX_HEADER);
    else if (header_len > room)
        st = kbit_error(KBIT_EFORMAT, "safetensors %s: header length %llu is larger than the "
                        "%llu bytes after it", path, (unsigned long long)header_len,
                        (unsigned long long)room);
    char *json = NULL;
    if (st == KBIT_OK && (json = malloc((size_t)header_len + 1)) == NULL)
        st = kbit_error(KBIT_ENOMEM, "safetensors %s: out of memory for a %llu-byte header", path,
                        (unsigned long long)header_len);
    if (st == KBIT_OK)
        st = kbit_file_pread(f->fd, path, json, (size_t)header_len, 8);
    if (st == KBIT_OK)
        st = parse_header(path, f, json, (size_t)header_len, room - header_len, 8 + header_len);
    free(json);
    if (st != KBIT_OK) {
        kbit_st_close(f);
        return st;
    }
    *out = f;
    return KBIT_OK;
}

const char *kbit_st_path(const kbit_st_file *f)
{
    return f->path;
}

int kbit_st_fd(const kbit_st_file *f)
{
    return f->fd;
}

kbit_status kbit_st_load_all(kbit_st_file *f)
{
    uint64_t start = f->count ? f->tensors[0].file_offset - f->tensors[0].offset : 0;
    uint64_t len = f->size - start;
    if (f->loaded != NULL || f->count == 0)
        return KBIT_OK;
    if (len > SIZE_MAX - 1 || (f->loaded = malloc((size_t)len + 1)) == NULL)
        return kbit_error(KBIT_ENOMEM, "safetensors %s: out of memory for %llu bytes", f->path,
                          (unsigned long long)len);
    kbit_status st = kbit_file_pread(f->fd, f->path, f->loaded, (size_t)len, start);
    for (size_t i = 0; i < f->count && st == KBIT_OK; i++)
        f->tensors[i].data = f->loaded + f->tensors[i].offset;
    return st;
}

kbit_status kbit_st_read(const kbit_st_tensor *t, uint64_t from, void *buf, size_t len)
{
    if (from > t->nbytes || len > t->nbytes - from)
        return kbit_error(KBIT_EINVAL, "safetensors %s: bytes [%llu, +%zu) are outside tensor "
                          "'%.200s'", t->file->path, (unsigned long long)from, len, t->name);
    if (len == 0)
        return KBIT_OK;
    kbit_status st = kbit_file_pread(t->file->fd, t->file->path, buf, len, t->file_offset + from);
    if (st != KBIT_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", kbit_last_error());
        return kbit_error(st, "tensor '%.200s': %s", t->name, msg);
    }
    return KBIT_OK;
}

size_t kbit_st_count(const kbit_st_file *f)
{
    return f ? f->count : 0;
}

const kbit_st_tensor *kbit_st_at(const kbit_st_file *f, size_t i)
{
    return f && i < f->count ? &f->tensors[i] : NULL;
}

const kbit_st_tensor *kbit_st_find(const kbit_st_file *f, const char *name)
{
    if (f == NULL || name == NULL)
        return NULL;
    size_t lo = 0, hi = f->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, f->by_name[mid]->name);
        if (c == 0)
            return f->by_name[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const char *kbit_st_metadata(const kbit_st_file *f, const char *key)
{
    if (f == NULL || key == NULL)
        return NULL;
    for (size_t i = 0; i < f->meta_count; i++)
        if (strcmp(f->meta_keys[i], key) == 0)
            return f->meta_values[i];
    return NULL;
}

size_t kbit_st_metadata_count(const kbit_st_file *f)
{
    return f ? f->meta_count : 0;
}

const char *kbit_st_metadata_at(const kbit_st_file *f, size_t i, const char **value)
{
    if (f == NULL || i >= f->meta_count)
        return NULL;
    if (value)
        *value = f->meta_values[i];
    return f->meta_keys[i];
}

void kbit_st_prefetch(const kbit_st_tensor *t)
{
    if (t == NULL || t->nbytes == 0)
        return;
#ifdef POSIX_FADV_WILLNEED
    posix_fadvise(t->file->fd, (off_t)t->file_offset, (off_t)t->nbytes, POSIX_FADV_WILLNEED);
#endif
}
