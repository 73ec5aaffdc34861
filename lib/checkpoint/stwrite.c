/* lib/checkpoint/stwrite.c - streaming safetensors writer (see stwrite.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "checkpoint/limits.h"
#include "checkpoint/pyjson.h"
#include "checkpoint/stwrite.h"
#include "runtime/error.h"

typedef struct stw_tensor {
    char *name;
    char st_dtype[12];
    size_t elem_size;
    int ndim;
    int64_t shape[KBIT_MAX_DIMS];
    uint64_t nbytes;
    uint64_t offset;   /* relative to the data area, set by layout */
    int late;
    int written;
    uint64_t done;     /* bytes written so far (kbit_stw_write_part) */
    unsigned char *late_data;
} stw_tensor;

struct kbit_stw {
    char *path;
    int fd;
    stw_tensor *t;
    size_t count, cap;
    json_t *names; /* the declared names, as a hash set (keys of an object) */
    json_t *meta;
    int laid_out;
    uint64_t header_room; /* reserved header bytes (multiple of 8) */
    uint64_t fixed_end;   /* end of the non-late data */
};

kbit_status kbit_stw_create(const char *path, kbit_stw **out)
{
    kbit_stw *w = calloc(1, sizeof *w);
    if (w == NULL || (w->path = strdup(path)) == NULL || (w->meta = json_object()) == NULL ||
        (w->names = json_object()) == NULL) {
        if (w) {
            json_decref(w->meta);
            free(w->path);
        }
        free(w);
        return kbit_error(KBIT_ENOMEM, "safetensors writer: out of memory");
    }
    w->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        kbit_status st = kbit_error(KBIT_EIO, "cannot create %s: %s", path, strerror(errno));
        json_decref(w->names);
        json_decref(w->meta);
        free(w->path);
        free(w);
        return st;
    }
    /* held while the file is written: a later run's clean-up of what dead
     * processes left (files.h) leaves it alone */
    flock(w->fd, LOCK_EX | LOCK_NB);
    *out = w;
    return KBIT_OK;
}

static void stw_free(kbit_stw *w)
{
    for (size_t i = 0; i < w->count; i++) {
        free(w->t[i].name);
        free(w->t[i].late_data);
    }
    free(w->t);
    json_decref(w->names);
    json_decref(w->meta);
    free(w->path);
    free(w);
}

void kbit_stw_abort(kbit_stw *w)
{
    if (w == NULL)
        return;
    close(w->fd);
    unlink(w->path);
    stw_free(w);
}

static kbit_status add(kbit_stw *w, const char *name, const char *st_dtype, size_t elem_size,
                       int ndim, const int64_t *shape, int late, size_t *index)
{
    if (w->laid_out)
        return kbit_error(KBIT_EINVAL, "safetensors writer: '%.200s' added after the layout",
                          name);
    /* the reader's limits (limits.h): what is written can be read back */
    const char *bad = kbit_ck_check_name(name);
    if (bad)
        return kbit_error(KBIT_EINVAL, "safetensors writer: tensor '%.200s': %s", name, bad);
    if (strlen(st_dtype) >= sizeof w->t[0].st_dtype)
        return kbit_error(KBIT_EINVAL, "safetensors writer: tensor '%.200s': bad dtype", name);
    int64_t numel;
    uint64_t nbytes;
    char why[128];
    if (!late && kbit_ck_check_shape(ndim, shape, elem_size, &numel, &nbytes, why, sizeof why))
        return kbit_error(KBIT_EINVAL, "safetensors writer: tensor '%.200s': %s", name, why);
    if ((bad = kbit_ck_check_count(w->count + 1)) != NULL)
        return kbit_error(KBIT_EINVAL, "safetensors writer: %s: %s", w->path, bad);
    if (json_object_get(w->names, name) != NULL)
        return kbit_error(KBIT_EINVAL, "safetensors writer: tensor '%.200s' declared twice",
                          name);
    json_t *is_utf8 = json_string(name);
    if (is_utf8 == NULL)
        return kbit_error(KBIT_EINVAL, "safetensors writer: tensor name '%.200s' is not UTF-8 "
                          "(or out of memory)", name);
    json_decref(is_utf8);
    if (json_object_set_new(w->names, name, json_null()) != 0)
        return kbit_error(KBIT_ENOMEM, "safetensors writer: out of memory");
    if (w->count == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 64;
        stw_tensor *p = realloc(w->t, cap * sizeof *p);
        if (p == NULL)
            return kbit_error(KBIT_ENOMEM, "safetensors writer: out of memory");
        w->t = p;
        w->cap = cap;
    }
    stw_tensor *t = &w->t[w->count];
    memset(t, 0, sizeof *t);
    if ((t->name = strdup(name)) == NULL)
        return kbit_error(KBIT_ENOMEM, "safetensors writer: out of memory");
    strcpy(t->st_dtype, st_dtype);
    t->elem_size = elem_size;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = shape[i];
    t->nbytes = late ? 0 : nbytes;
    t->late = late;
    *index = w->count++;
    return KBIT_OK;
}

kbit_status kbit_stw_add(kbit_stw *w, const char *name, const char *st_dtype, size_t elem_size,
                         int ndim, const int64_t *shape, size_t *index)
{
    return add(w, name, st_dtype, elem_size, ndim, shape, 0, index);
}

kbit_status kbit_stw_add_late(kbit_stw *w, const char *name, size_t *index)
{
    const int64_t shape[1] = { 0 };
    return add(w, name, "U8", 1, 1, shape, 1, index);
}

kbit_status kbit_stw_metadata(kbit_stw *w, const char *key, const char *value)
{
    if (json_object_set_new(w->meta, key, json_string(value)) != 0)
        return kbit_error(KBIT_EINVAL, "safetensors writer: cannot record metadata '%.200s' "
                          "(not UTF-8, or out of memory)", key);
    return KBIT_OK;
}

/* Layout order: element size descending, then name; late tensors last. */
static int by_layout(const void *a, const void *b)
{
    const stw_tensor *x = *(const stw_tensor *const *)a, *y = *(const stw_tensor *const *)b;
    if (x->late != y->late)
        return x->late - y->late;
    if (x->elem_size != y->elem_size)
        return x->elem_size > y->elem_size ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* A JSON string as jansson's compact dump writes it (UTF-8 kept). */
static void put_string(kbit_buf *b, const char *s, size_t len)
{
    kbit_buf_append(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        kbit_buf_append(b, s + run, i - run);
        run = i + 1;
        char esc[8];
        const char *named = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n"
                          : c == '\r' ? "\\r" : c == '\t' ? "\\t" : c == '\b' ? "\\b"
                          : c == '\f' ? "\\f" : NULL;
        if (named == NULL) {
            snprintf(esc, sizeof esc, "\\u%04X", c);
            named = esc;
        }
        kbit_buf_puts(b, named);
    }
    kbit_buf_append(b, s + run, len - run);
    kbit_buf_append(b, "\"", 1);
}

/* The header JSON (compact), written directly: one pass, no tree (a file
 * may hold KBIT_CHECKPOINT_MAX_TENSORS tensors). With `bound`, late tensors
 * get the largest values they may take, so the text is at least as long as
 * the final one. NULL when out of memory. */
static char *header_json(const kbit_stw *w, int bound)
{
    kbit_buf b = { 0 };
    char num[96];
    uint64_t late_end = w->fixed_end + (uint64_t)KBIT_CK_LATE_MAX * w->count;
    kbit_buf_puts(&b, "{\"__metadata__\":{");
    const char *key;
    json_t *value;
    int first = 1;
    json_object_foreach(w->meta, key, value) {
        if (!first)
            kbit_buf_append(&b, ",", 1);
        first = 0;
        put_string(&b, key, strlen(key));
        kbit_buf_append(&b, ":", 1);
        put_string(&b, json_string_value(value), json_string_length(value));
    }
    kbit_buf_append(&b, "}", 1);
    for (size_t i = 0; i < w->count; i++) {
        const stw_tensor *t = &w->t[i];
        kbit_buf_append(&b, ",", 1);
        put_string(&b, t->name, strlen(t->name));
        kbit_buf_puts(&b, ":{\"dtype\":");
        put_string(&b, t->st_dtype, strlen(t->st_dtype));
        kbit_buf_puts(&b, ",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            long long v = t->late && bound ? KBIT_CK_LATE_MAX : (long long)t->shape[d];
            snprintf(num, sizeof num, "%s%lld", d ? "," : "", v);
            kbit_buf_puts(&b, num);
        }
        uint64_t lo = t->late && bound ? late_end : t->offset;
        uint64_t hi = t->late && bound ? late_end : t->offset + t->nbytes;
        snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)lo,
                 (unsigned long long)hi);
        kbit_buf_puts(&b, num);
    }
    kbit_buf_append(&b, "}", 1);
    if (b.failed) {
        kbit_buf_free(&b);
        return NULL;
    }
    return b.data;
}

kbit_status kbit_stw_layout(kbit_stw *w)
{
    stw_tensor **order = malloc((w->count ? w->count : 1) * sizeof *order);
    if (order == NULL)
        return kbit_error(KBIT_ENOMEM, "safetensors writer: out of memory");
    for (size_t i = 0; i < w->count; i++)
        order[i] = &w->t[i];
    qsort(order, w->count, sizeof *order, by_layout);
    uint64_t off = 0;
    for (size_t i = 0; i < w->count; i++) {
        if (order[i]->late)
            continue;
        order[i]->offset = off;
        off += order[i]->nbytes;
    }
    free(order);
    w->fixed_end = off;
    char *text = header_json(w, 1);
    if (text == NULL)
        return kbit_error(KBIT_ENOMEM, "safetensors writer: out of memory building the header "
                          "of %s", w->path);
    w->header_room = (strlen(text) + 7) / 8 * 8;
    free(text);
    if (w->header_room > KBIT_CK_MAX_HEADER)
        return kbit_error(KBIT_EINVAL, "safetensors writer: the header of %s would take %llu "
                          "bytes, more than KBIT_CHECKPOINT_MAX_HEADER (%llu)", w->path,
                          (unsigned long long)w->header_room,
                          (unsigned long long)KBIT_CK_MAX_HEADER);
    if (w->fixed_end > (uint64_t)INT64_MAX - w->header_room - 8 -
                           (uint64_t)KBIT_CK_LATE_MAX * w->count)
        return kbit_error(KBIT_EOVERFLOW, "safetensors writer: %s would exceed 2^63 bytes",
                          w->path);
    w->laid_out = 1;
    return KBIT_OK;
}

static kbit_status pwrite_all(kbit_stw *w, const void *data, uint64_t n, uint64_t at)
{
    const unsigned char *p = data;
    while (n > 0) {
        size_t chunk = n > (1u << 30) ? (1u << 30) : (size_t)n;
        ssize_t k = pwrite(w->fd, p, chunk, (off_t)at);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return kbit_error(KBIT_EIO, "cannot write %s: %s", w->path,
                              k < 0 ? strerror(errno) : "no progress");
        p += k;
        at += (uint64_t)k;
        n -= (uint64_t)k;
    }
    return KBIT_OK;
}

kbit_status kbit_stw_write(kbit_stw *w, size_t index, const void *data, uint64_t nbytes)
{
    if (!w->laid_out || index >= w->count)
        return kbit_error(KBIT_EINVAL, "safetensors writer: bad write");
    stw_tensor *t = &w->t[index];
    if (t->written)
        return kbit_error(KBIT_EINVAL, "safetensors writer: '%s' written twice", t->name);
    if (t->late) {
        if (nbytes > KBIT_CK_LATE_MAX)
            return kbit_error(KBIT_EINVAL, "safetensors writer: '%s' has %llu bytes (at most %d)",
                              t->name, (unsigned long long)nbytes, KBIT_CK_LATE_MAX);
        if ((t->late_data = malloc(nbytes ? nbytes : 1)) == NULL)
            return kbit_error(KBIT_ENOMEM, "safetensors writer: out of memory");
        if (nbytes)
            memcpy(t->late_data, data, nbytes);
        t->nbytes = nbytes;
        t->shape[0] = (int64_t)nbytes;
        t->written = 1;
        return KBIT_OK;
    }
    if (nbytes != t->nbytes)
        return kbit_error(KBIT_EINVAL, "safetensors writer: '%s' needs %llu bytes, got %llu",
                          t->name, (unsigned long long)t->nbytes, (unsigned long long)nbytes);
    return kbit_stw_write_part(w, index, 0, data, nbytes);
}

kbit_status kbit_stw_write_part(kbit_stw *w, size_t index, uint64_t from, const void *data,
                                uint64_t nbytes)
{
    if (!w->laid_out || index >= w->count || w->t[index].late)
        return kbit_error(KBIT_EINVAL, "safetensors writer: bad write");
    stw_tensor *t = &w->t[index];
    if (from != t->done || nbytes > t->nbytes - t->done)
        return kbit_error(KBIT_EINVAL, "safetensors writer: '%s': bytes written out of order",
                          t->name);
    kbit_status st = pwrite_all(w, data, nbytes, 8 + w->header_room + t->offset + from);
    if (st == KBIT_OK) {
        t->done += nbytes;
        t->written = t->done == t->nbytes;
    }
    return st;
}

kbit_status kbit_stw_write_from_file(kbit_stw *w, size_t index, int in, const char *in_path,
                                     uint64_t in_off)
{
    if (!w->laid_out || index >= w->count || w->t[index].late || w->t[index].done != 0)
        return kbit_error(KBIT_EINVAL, "safetensors writer: bad write");
    stw_tensor *t = &w->t[index];
    kbit_status st = kbit_file_copy_range(in, in_path, in_off, w->fd, w->path,
                                          8 + w->header_room + t->offset, t->nbytes);
    if (st == KBIT_OK) {
        t->done = t->nbytes;
        t->written = 1;
    }
    return st;
}

size_t kbit_stw_count(const kbit_stw *w)
{
    return w->count;
}

const char *kbit_stw_name(const kbit_stw *w, size_t i)
{
    return i < w->count ? w->t[i].name : NULL;
}

uint64_t kbit_stw_data_bytes(const kbit_stw *w)
{
    uint64_t late = 0;
    for (size_t i = 0; i < w->count; i++)
        if (w->t[i].late)
            late += w->t[i].nbytes;
    return w->fixed_end + late;
}

uint64_t kbit_stw_size(const kbit_stw *w)
{
    return 8 + w->header_room + kbit_stw_data_bytes(w);
}

kbit_status kbit_stw_finish(kbit_stw *w)
{
    kbit_status st = KBIT_OK;
    uint64_t off = w->fixed_end;
    for (size_t i = 0; i < w->count && st == KBIT_OK; i++) {
        stw_tensor *t = &w->t[i];
        if (!t->written)
            st = kbit_error(KBIT_EINVAL, "safetensors writer: tensor '%s' was never written",
                            t->name);
        else if (t->late) {
            t->offset = off;
            off += t->nbytes;
            st = pwrite_all(w, t->late_data, t->nbytes, 8 + w->header_room + t->offset);
        }
    }
    char *text = st == KBIT_OK ? header_json(w, 0) : NULL;
    if (st == KBIT_OK && text == NULL)
        st = kbit_error(KBIT_ENOMEM, "safetensors writer: out of memory building the header "
                        "of %s", w->path);
    if (st == KBIT_OK) {
        size_t len = strlen(text);
        unsigned char *head = len > w->header_room ? NULL : malloc(8 + w->header_room);
        if (len > w->header_room) {
            st = kbit_error(KBIT_EOVERFLOW, "safetensors writer: the header of %s outgrew the "
                            "%llu bytes reserved for it", w->path,
                            (unsigned long long)w->header_room);
        } else if (head == NULL) {
            st = kbit_error(KBIT_ENOMEM, "safetensors writer: out of memory for the header of %s",
                            w->path);
        } else {
            for (int i = 0; i < 8; i++)
                head[i] = (unsigned char)(w->header_room >> (8 * i));
            memcpy(head + 8, text, len);
            memset(head + 8 + len, ' ', w->header_room - len);
            st = pwrite_all(w, head, 8 + w->header_room, 0);
        }
        free(head);
    }
    free(text);
    /* the file ends where the data ends (late tensors may be shorter than
     * reserved, and an all-empty file has no data at all) */
    if (st == KBIT_OK && ftruncate(w->fd, (off_t)(8 + w->header_room + off)) != 0)
        st = kbit_error(KBIT_EIO, "cannot size %s: %s", w->path, strerror(errno));
    if (st == KBIT_OK && fsync(w->fd) != 0)
        st = kbit_error(KBIT_EIO, "cannot flush %s: %s", w->path, strerror(errno));
    if (st != KBIT_OK) {
        kbit_stw_abort(w);
        return st;
    }
    if (close(w->fd) != 0) {
        st = kbit_error(KBIT_EIO, "cannot close %s: %s", w->path, strerror(errno));
        unlink(w->path);
    }
    stw_free(w);
    return st;
}
