/* lib/checkpoint/safetensors.c - read-only safetensors reader. The header comes from an
 * untrusted file, so every number in it is checked before it is used to form
 * a pointer or a size; the file itself is mapped, never copied. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "runtime/error.h"
#include "checkpoint/safetensors.h"

struct kbit_st_file {
    void *map;
    size_t map_size;
    json_t *root;             /* owns every name and metadata string */
    kbit_st_tensor *tensors;  /* header order */
    size_t count;
    const kbit_st_tensor **by_name; /* sorted by name, for kbit_st_find */
    const char **meta_keys;
    const char **meta_values;
    size_t meta_count;
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
    if (f->map != NULL && f->map != MAP_FAILED)
        munmap(f->map, f->map_size);
    if (f->root)
        json_decref(f->root);
    free(f->tensors);
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
    if (name[0] == '\0')
        return kbit_error(KBIT_EFORMAT, "safetensors %s: a tensor has an empty name", path);
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
    uint64_t numel = 1;
    int zero = 0;
    for (size_t i = 0; i < ndim; i++) {
        uint64_t dim;
        if (!get_nonneg(json_array_get(shape, i), &dim))
            return kbit_error(KBIT_EFORMAT, "safetensors %s: tensor '%s': shape[%zu] is not "
                              "a non-negative integer", path, name, i);
        t->shape[i] = (int64_t)dim;
        if (dim == 0)
            zero = 1;
        else if (numel > (uint64_t)INT64_MAX / dim)
            numel = UINT64_MAX; /* saturate; checked below unless another dim is 0 */
        else
            numel *= dim;
    }
    if (zero)
        numel = 0;
    if (numel > (uint64_t)INT64_MAX || numel > UINT64_MAX / d->size)
        return kbit_error(KBIT_EFORMAT, "safetensors %s: tensor '%s': the element count of its "
                          "shape overflows", path, name);

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
    uint64_t nbytes = numel * d->size;
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
    t->numel = (int64_t)numel;
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
                                size_t json_len, uint64_t data_size, const unsigned char *data)
{
    json_error_t jerr;
    f->root = json_loadb(json, json_len, JSON_REJECT_DUPLICATES, &jerr);
    if (f->root == NULL)
        return kbit_error(KBIT_EFORMAT, "safetensors %s: header is not valid JSON (line %d: %s)",
                          path, jerr.line, jerr.text);
    if (!json_is_object(f->root))
        return kbit_error(KBIT_EFORMAT, "safetensors %s: header is not a JSON object", path);

    size_t n = json_object_size(f->root);
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
        t->data = data + t->offset;
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
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kbit_error(KBIT_EIO, "safetensors %s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return kbit_error(KBIT_EIO, "safetensors %s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return kbit_error(KBIT_EIO, "safetensors %s: not a regular file", path);
    }
    if (sb.st_size < 8) {
        close(fd);
        return kbit_error(KBIT_EFORMAT, "safetensors %s: %lld bytes is too short for the 8-byte "
                          "header length", path, (long long)sb.st_size);
    }
    if ((uint64_t)sb.st_size > SIZE_MAX) {
        close(fd);
        return kbit_error(KBIT_EOVERFLOW, "safetensors %s: file too large to map", path);
    }

    kbit_st_file *f = calloc(1, sizeof *f);
    if (f == NULL) {
        close(fd);
        return kbit_error(KBIT_ENOMEM, "safetensors %s: out of memory", path);
    }
    f->map_size = (size_t)sb.st_size;
    f->map = mmap(NULL, f->map_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    close(fd);
    if (f->map == MAP_FAILED) {
        kbit_st_close(f);
        return kbit_error(KBIT_EIO, "safetensors %s: cannot map: %s", path, strerror(map_errno));
    }

    const unsigned char *bytes = f->map;
    uint64_t header_len = read_le64(bytes);
    uint64_t room = (uint64_t)sb.st_size - 8;
    kbit_status st;
    if (header_len > KBIT_ST_MAX_HEADER)
        st = kbit_error(KBIT_EFORMAT, "safetensors %s: header length %llu exceeds the limit of "
                        "%llu bytes", path, (unsigned long long)header_len,
                        (unsigned long long)KBIT_ST_MAX_HEADER);
    else if (header_len > room)
        st = kbit_error(KBIT_EFORMAT, "safetensors %s: header length %llu is larger than the "
                        "%llu bytes after it", path, (unsigned long long)header_len,
                        (unsigned long long)room);
    else
        st = parse_header(path, f, (const char *)bytes + 8, (size_t)header_len,
                          room - header_len, bytes + 8 + header_len);
    if (st != KBIT_OK) {
        kbit_st_close(f);
        return st;
    }
    *out = f;
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

/* The whole pages covering a tensor (the mapping covers whole pages, so the
 * range lies inside it). */
static void tensor_pages(const kbit_st_tensor *t, void **begin, size_t *len)
{
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t size = page > 0 ? (uintptr_t)page : 4096;
    uintptr_t b = (uintptr_t)t->data / size * size;
    uintptr_t e = ((uintptr_t)t->data + (uintptr_t)t->nbytes + size - 1) / size * size;
    *begin = (void *)b;
    *len = e - b;
}

void kbit_st_release(const kbit_st_tensor *t)
{
    void *b;
    size_t len;
    if (t == NULL || t->nbytes == 0)
        return;
    tensor_pages(t, &b, &len);
    madvise(b, len, MADV_DONTNEED);
}

void kbit_st_prefetch(const kbit_st_tensor *t)
{
    void *b;
    size_t len;
    if (t == NULL || t->nbytes == 0)
        return;
    tensor_pages(t, &b, &len);
    madvise(b, len, MADV_WILLNEED);
}
