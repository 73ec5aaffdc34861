/* lib/checkpoint/checkpoint.c - reading checkpoints in the bitsandbytes format: open a
 * directory or file, group the stored tensors into logical tensors (a 4-bit
 * or 8-bit weight with its auxiliary tensors), check every quant state
 * against the tensors it describes, and load tensors onto a device. Every
 * name, size and JSON value comes from an untrusted file. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "checkpoint/checkpoint.h"
#include "checkpoint/diffusers.h"
#include "checkpoint/files.h"
#include "checkpoint/limits.h"
#include "runtime/error.h"
#include "numerics/half.h"

#define NAME_MAX_LEN KBIT_CK_MAX_NAME

char *kbit_ck_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* A shard name from the index may only name a file in the directory. */
static int safe_file_name(const char *s)
{
    return s[0] != '\0' && strchr(s, '/') == NULL && strchr(s, '\\') == NULL &&
           strcmp(s, ".") != 0 && strcmp(s, "..") != 0 && strlen(s) < 256;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void kbit_checkpoint_close(kbit_checkpoint *ck)
{
    if (ck == NULL)
        return;
    for (size_t i = 0; i < ck->nshards; i++) {
        kbit_st_close(ck->shards[i]);
        free(ck->shard_names[i]);
    }
    free(ck->shards);
    free(ck->shard_names);
    free(ck->e);
    free(ck->config);
    free(ck->index_name);
    free(ck->dir);
    free(ck);
}

/* The shard names of an index (sorted, unique), and a check that every
 * tensor it names is in that shard (after the shards are opened). */
static kbit_status index_shards(const char *path, json_t *index, kbit_checkpoint *ck)
{
    json_t *map = json_object_get(index, "weight_map");
    if (!json_is_object(index) || !json_is_object(map))
        return kbit_error(KBIT_EFORMAT, "%s: no \"weight_map\" object", path);
    size_t n = json_object_size(map);
    const char **names = calloc(n ? n : 1, sizeof *names);
    if (names == NULL)
        return kbit_error(KBIT_ENOMEM, "%s: out of memory", path);
    size_t k = 0;
    const char *key;
    json_t *value;
    json_object_foreach(map, key, value) {
        const char *file = json_string_value(value);
        if (file == NULL || !safe_file_name(file)) {
            free(names);
            return kbit_error(KBIT_EFORMAT, "%s: tensor '%.200s' maps to %s", path, key,
                              file ? "a name that is not a plain file name" : "a non-string");
        }
        names[k++] = file;
    }
    qsort(names, k, sizeof *names, cmp_str);
    ck->shard_names = calloc(k ? k : 1, sizeof *ck->shard_names);
    ck->shards = calloc(k ? k : 1, sizeof *ck->shards);
    kbit_status st = ck->shard_names && ck->shards ? KBIT_OK
                                                    : kbit_error(KBIT_ENOMEM, "out of memory");
    for (size_t i = 0; i < k && st == KBIT_OK; i++) {
        if (i > 0 && strcmp(names[i], names[i - 1]) == 0)
            continue;
        if ((ck->shard_names[ck->nshards++] = strdup(names[i])) == NULL)
            st = kbit_error(KBIT_ENOMEM, "out of memory");
    }
    free(names);
    if (st == KBIT_OK && ck->nshards == 0)
        st = kbit_error(KBIT_EFORMAT, "%s: the weight_map is empty", path);
    return st;
}

static kbit_status check_index(const char *path, json_t *index, const kbit_checkpoint *ck)
{
    const char *key;
    json_t *value;
    json_object_foreach(json_object_get(index, "weight_map"), key, value) {
        const char *file = json_string_value(value);
        char *const *hit = bsearch(&file, ck->shard_names, ck->nshards, sizeof *ck->shard_names,
                                   cmp_str); /* sorted by index_shards */
        size_t s = hit ? (size_t)(hit - ck->shard_names) : ck->nshards;
        if (s == ck->nshards || kbit_st_find(ck->shards[s], key) == NULL)
            return kbit_error(KBIT_EFORMAT, "%s names tensor '%.200s' in %s, which does not "
                              "hold it", path, key, file);
    }
    return KBIT_OK;
}

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "not an object";
}

kbit_status kbit_ck_parse_config(const char *where, const char *text, size_t len, json_t **out,
                                 kbit_json_raw *raw)
{
    kbit_json_raw mine = { 0 };
    kbit_json_error jerr;
    json_t *c = kbit_json_parse(text, len, KBIT_JSON_PYTHON, raw ? raw : &mine, &jerr);
    kbit_status st = KBIT_OK;
    if (c == NULL)
        st = kbit_error(jerr.out_of_memory ? KBIT_ENOMEM : KBIT_EFORMAT,
                        "%s is not JSON that Python's json module reads: %s", where, jerr.text);
    else if (!json_is_object(c))
        st = kbit_error(KBIT_EFORMAT, "%s holds %s, not a JSON object", where, json_kind(c));
    if (raw == NULL)
        kbit_json_raw_free(&mine);
    if (st != KBIT_OK || out == NULL) {
        json_decref(c);
        if (raw)
            raw->count = 0;
        return st;
    }
    *out = c;
    return KBIT_OK;
}

/* Find the files of a directory checkpoint: config.json (optional), the
 * index or the single file, named as transformers (model.safetensors*) or
 * diffusers (diffusion_pytorch_model.safetensors*) names them. */
static kbit_status locate_dir(const char *dir, kbit_checkpoint *ck)
{
    kbit_status st = KBIT_OK;
    kbit_dfs_layout layout = { 0 };
    char *cfg = kbit_ck_join(dir, "config.json"), *idx = NULL, *single = NULL;
    if (!cfg)
        return kbit_error(KBIT_ENOMEM, "out of memory");
    /* config.json, when present, must be a regular file (or a link to one) */
    int kind_cfg = kbit_file_kind(cfg);
    if (kind_cfg > 1)
        st = kbit_file_refuse(cfg);
    if (st == KBIT_OK && kind_cfg == 1) {
        st = kbit_file_read_text(cfg, KBIT_CK_JSON_FILE_MAX, &ck->config, &ck->config_len);
        if (st == KBIT_OK)
            st = kbit_ck_parse_config(cfg, ck->config, ck->config_len, NULL, NULL);
    }
    if (st == KBIT_OK && (st = kbit_dfs_locate(dir, ck->config, &layout)) == KBIT_OK) {
        ck->diffusers = layout.diffusers;
        idx = kbit_ck_join(dir, layout.index);
        single = kbit_ck_join(dir, layout.single);
        if (!idx || !single)
            st = kbit_error(KBIT_ENOMEM, "out of memory");
    }
    /* the weight file used must be a regular file: a FIFO would block open() */
    const char *used = layout.has_index ? idx : single;
    if (st == KBIT_OK && kbit_file_kind(used) != 1)
        st = kbit_file_refuse(used);
    if (st == KBIT_OK && layout.has_index) {
        char *text = NULL;
        kbit_json_error jerr;
        size_t tlen = 0;
        st = kbit_file_read_text(idx, KBIT_CK_JSON_FILE_MAX, &text, &tlen);
        json_t *index = st == KBIT_OK ? kbit_json_parse(text, tlen, KBIT_JSON_STRICT, NULL, &jerr)
                                      : NULL;
        free(text);
        if (st == KBIT_OK && index == NULL)
            st = kbit_error(jerr.out_of_memory ? KBIT_ENOMEM : KBIT_EFORMAT,
                            "%s is not valid JSON: %s", idx, jerr.text);
        if (st == KBIT_OK)
            st = index_shards(idx, index, ck);
        for (size_t i = 0; st == KBIT_OK && i < ck->nshards; i++) {
            char *p = kbit_ck_join(dir, ck->shard_names[i]);
            st = p ? kbit_st_open(p, &ck->shards[i]) : kbit_error(KBIT_ENOMEM, "out of memory");
            free(p);
        }
        if (st == KBIT_OK)
            st = check_index(idx, index, ck);
        if (st == KBIT_OK && (ck->index_name = strdup(layout.index)) == NULL)
            st = kbit_error(KBIT_ENOMEM, "out of memory");
        json_decref(index);
    } else if (st == KBIT_OK) {
        ck->shards = calloc(1, sizeof *ck->shards);
        ck->shard_names = calloc(1, sizeof *ck->shard_names);
        if (!ck->shards || !ck->shard_names ||
            (ck->shard_names[0] = strdup(layout.single)) == NULL)
            st = kbit_error(KBIT_ENOMEM, "out of memory");
        else {
            ck->nshards = 1;
            st = kbit_st_open(single, &ck->shards[0]);
        }
    }
    free(cfg);
    free(idx);
    free(single);
    return st;
}

/* Every stored tensor, sorted by name, with its shard. */
typedef struct stored {
    const char *name;
    const kbit_st_tensor *t;
    int shard;
    int used; /* 1: auxiliary tensor of a quantized weight */
} stored;

static int cmp_stored(const void *a, const void *b)
{
    return strcmp(((const stored *)a)->name, ((const stored *)b)->name);
}

static stored *find_stored(stored *all, size_t n, const char *name)
{
    stored key = { .name = name };
    return bsearch(&key, all, n, sizeof *all, cmp_stored);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* A tensor of the quant state: present, with this dtype and element count. */
static kbit_status expect_aux(stored *all, size_t n, const char *owner, const char *suffix,
                              const char *dtype, int64_t numel, const kbit_st_tensor **out)
{
    char k[NAME_MAX_LEN + 64];
    snprintf(k, sizeof k, "%s%s", owner, suffix);
    stored *s = find_stored(all, n, k);
    if (s == NULL)
        return kbit_error(KBIT_EFORMAT, "4-bit weight '%.200s': %s is missing", owner, suffix + 1);
    if (strcmp(s->t->st_dtype, dtype) != 0 || s->t->numel != numel)
        return kbit_error(KBIT_EFORMAT, "4-bit weight '%.200s': %s is %s with %lld elements, "
                          "the quant state needs %s with %lld", owner, suffix + 1,
                          s->t->st_dtype, (long long)s->t->numel, dtype, (long long)numel);
    s->used = 1;
    *out = s->t;
    return KBIT_OK;
}

/* A 4-bit weight: parse its blob, check every tensor against it. */
static kbit_status bind_4bit(stored *all, size_t n, stored *w, stored *blob, kbit_quant_type qt,
                             ck_entry *e)
{
    const char *name = w->name;
    kbit_status st;
    if (blob->t->dtype != KBIT_U8 || !blob->t->dtype_known || blob->t->ndim != 1 ||
        blob->t->nbytes > KBIT_CK_BLOB_MAX)
        return kbit_error(KBIT_EFORMAT, "4-bit weight '%.200s': the quant state must be a 1-D U8 "
                          "tensor of at most %d bytes", name, KBIT_CK_BLOB_MAX);
    char where[NAME_MAX_LEN + 32];
    snprintf(where, sizeof where, "quant state of '%.200s'", name);
    unsigned char *text = malloc(blob->t->nbytes ? blob->t->nbytes : 1);
    if (text == NULL)
        return kbit_error(KBIT_ENOMEM, "%s: out of memory", where);
    st = kbit_st_read(blob->t, 0, text, blob->t->nbytes);
    if (st == KBIT_OK)
        st = kbit_bnb_parse_blob(text, blob->t->nbytes, qt, where, &e->qs);
    free(text);
    if (st != KBIT_OK)
        return st;
    kbit_quant_state s;
    st = kbit_quant_state_init(&s, e->qs.quant_type, e->qs.dtype, e->qs.ndim, e->qs.shape,
                               e->qs.blocksize, e->qs.nested);
    if (st != KBIT_OK) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", kbit_last_error());
        return kbit_error(KBIT_EFORMAT, "%s: %s", where, msg);
    }
    uint64_t packed = (uint64_t)kbit_packed_4bit_bytes(s.numel);
    if (w->t->nbytes != packed)
        return kbit_error(KBIT_EFORMAT, "4-bit weight '%.200s' has %llu bytes, its quant state "
                          "(shape, %lld elements) needs %llu", name,
                          (unsigned long long)w->t->nbytes, (long long)s.numel,
                          (unsigned long long)packed);
    if ((st = expect_aux(all, n, name, KBIT_BNB_ABSMAX, s.nested ? "U8" : "F32", s.nblocks,
                         &e->absmax)) != KBIT_OK ||
        (st = expect_aux(all, n, name, KBIT_BNB_QUANT_MAP, "F32", 16, &e->quant_map)) != KBIT_OK)
        return st;
    if (s.nested) {
        if ((st = expect_aux(all, n, name, KBIT_BNB_NESTED_ABSMAX, "F32", s.nblocks2,
                             &e->nested_absmax)) != KBIT_OK ||
            (st = expect_aux(all, n, name, KBIT_BNB_NESTED_QUANT_MAP, "F32", 256,
                             &e->nested_quant_map)) != KBIT_OK)
            return st;
        /* the nested decoder searches nothing, but the map must be a map */
        float map[256];
        if ((st = kbit_st_read(e->nested_quant_map, 0, map, sizeof map)) != KBIT_OK)
            return st;
        for (int i = 1; i < 256; i++)
            if (!(map[i - 1] < map[i]))
                return kbit_error(KBIT_EFORMAT, "4-bit weight '%.200s': nested_quant_map is not "
                                  "strictly ascending at %d", name, i);
    }
    e->blob = blob->t;
    e->info.format = KBIT_WEIGHT_4BIT;
    e->info.dtype = s.dtype;
    e->info.dtype_known = 1;
    e->info.ndim = s.ndim;
    memcpy(e->info.shape, s.shape, sizeof s.shape);
    e->info.numel = s.numel;
    e->info.quant_type = s.quant_type;
    e->info.blocksize = s.blocksize;
    e->info.nested = s.nested;
    e->info.stored_bytes = w->t->nbytes + e->absmax->nbytes + e->quant_map->nbytes +
                           blob->t->nbytes +
                           (s.nested ? e->nested_absmax->nbytes + e->nested_quant_map->nbytes : 0);
    return KBIT_OK;
}

/* An 8-bit weight "<P>weight" with "<P>SCB" (and "<P>weight_format"). */
static kbit_status bind_int8(stored *all, size_t n, stored *w, stored *scb, ck_entry *e)
{
    const kbit_st_tensor *t = w->t;
    if (!t->dtype_known || t->dtype != KBIT_I8 || t->ndim != 2)
        return kbit_error(KBIT_EFORMAT, "8-bit weight '%.200s' must be a 2-D I8 tensor (is %s, "
                          "%d-D)", w->name, t->st_dtype, t->ndim);
    if (strcmp(scb->t->st_dtype, "F32") != 0 || scb->t->numel != t->shape[0])
        return kbit_error(KBIT_EFORMAT, "8-bit weight '%.200s': SCB must be F32 with %lld "
                          "elements (one per row)", w->name, (long long)t->shape[0]);
    char k[NAME_MAX_LEN + 64];
    size_t plen = strlen(w->name) - strlen("weight");
    snprintf(k, sizeof k, "%.*s%s", (int)plen, w->name, KBIT_BNB_WEIGHT_FORMAT);
    stored *fmt = find_stored(all, n, k);
    if (fmt != NULL) {
        unsigned char v = 1;
        kbit_status st = strcmp(fmt->t->st_dtype, "U8") == 0 && fmt->t->numel == 1
                             ? kbit_st_read(fmt->t, 0, &v, 1)
                             : KBIT_OK;
        if (st != KBIT_OK)
            return st;
        if (v != 0)
            return kbit_error(KBIT_EFORMAT, "8-bit weight '%.200s': weight_format must be a U8 "
                              "0 (\"row\"); the legacy col32/col_turing/col_ampere layouts are "
                              "not supported", w->name);
        fmt->used = 1;
        e->format = fmt->t;
    }
    e->scb = scb->t;
    e->info.format = KBIT_WEIGHT_INT8;
    e->info.dtype = KBIT_I8;
    e->info.dtype_known = 1;
    e->info.ndim = 2;
    e->info.shape[0] = t->shape[0];
    e->info.shape[1] = t->shape[1];
    e->info.numel = t->numel;
    e->info.stored_bytes = t->nbytes + scb->t->nbytes + (fmt ? fmt->t->nbytes : 0);
    return KBIT_OK;
}

/* Group the stored tensors into logical ones. */
static kbit_status classify(kbit_checkpoint *ck)
{
    size_t n = 0;
    for (size_t s = 0; s < ck->nshards; s++)
        n += kbit_st_count(ck->shards[s]);
    stored *all = calloc(n ? n : 1, sizeof *all);
    ck_entry *ents = calloc(n ? n : 1, sizeof *ents);
    int *kind = calloc(n ? n : 1, sizeof *kind); /* per stored: 0 plain, 1 quantized owner */
    if (all == NULL || ents == NULL || kind == NULL) {
        free(all);
        free(ents);
        free(kind);
        return kbit_error(KBIT_ENOMEM, "checkpoint: out of memory for %zu tensors", n);
    }
    size_t k = 0;
    for (size_t s = 0; s < ck->nshards; s++)
        for (size_t i = 0; i < kbit_st_count(ck->shards[s]); i++) {
            const kbit_st_tensor *t = kbit_st_at(ck->shards[s], i);
            all[k++] = (stored){ .name = t->name, .t = t, .shard = (int)s };
        }
    qsort(all, n, sizeof *all, cmp_stored);
    kbit_status st = KBIT_OK;
    for (size_t i = 0; i + 1 < n && st == KBIT_OK; i++)
        if (strcmp(all[i].name, all[i + 1].name) == 0)
            st = kbit_error(KBIT_EFORMAT, "tensor '%.200s' is stored twice", all[i].name);
    for (size_t i = 0; i < n && st == KBIT_OK; i++)
        if (strlen(all[i].name) > NAME_MAX_LEN)
            st = kbit_error(KBIT_EFORMAT, "a tensor name is longer than %d bytes", NAME_MAX_LEN);

    /* entries for every stored tensor first; quantized owners bound below */
    for (size_t i = 0; i < n; i++) {
        ck_entry *e = &ents[i];
        const kbit_st_tensor *t = all[i].t;
        e->name = all[i].name;
        e->shard = all[i].shard;
        e->t = t;
        e->info.format = KBIT_WEIGHT_PLAIN;
        e->info.dtype = t->dtype;
        e->info.dtype_known = t->dtype_known;
        e->info.ndim = t->ndim;
        memcpy(e->info.shape, t->shape, sizeof t->shape);
        e->info.numel = t->numel;
        e->info.stored_bytes = t->nbytes;
        snprintf(e->info.st_dtype, sizeof e->info.st_dtype, "%s", t->st_dtype);
    }
    /* exactly one packed quant state per weight (numerics 8.1) */
    for (size_t i = 0; i < n && st == KBIT_OK; i++) {
        const char *qs = strstr(all[i].name, KBIT_BNB_QS_PREFIX);
        char owner[NAME_MAX_LEN + 1];
        stored *w = NULL;
        if (qs != NULL) {
            snprintf(owner, sizeof owner, "%.*s", (int)(qs - all[i].name), all[i].name);
            w = find_stored(all, n, owner);
        }
        if (w != NULL && kind[w - all]++ > 0)
            st = kbit_error(KBIT_EFORMAT, "4-bit weight '%.200s' has more than one quant "
                            "state", owner);
    }
    memset(kind, 0, n * sizeof *kind);
    for (size_t i = 0; i < n && st == KBIT_OK; i++) {
        const char *name = all[i].name, *qs = strstr(name, KBIT_BNB_QS_PREFIX);
        if (qs != NULL) {
            const char *type = qs + strlen(KBIT_BNB_QS_PREFIX);
            kbit_quant_type qt = strcmp(type, "nf4") == 0 ? KBIT_NF4 : KBIT_FP4;
            char owner[NAME_MAX_LEN + 1];
            snprintf(owner, sizeof owner, "%.*s", (int)(qs - name), name);
            stored *w = find_stored(all, n, owner);
            if (strcmp(type, "nf4") != 0 && strcmp(type, "fp4") != 0)
                st = kbit_error(KBIT_EFORMAT, "'%.200s': unknown quant state type", name);
            else if (w == NULL)
                st = kbit_error(KBIT_EFORMAT, "'%.200s': a quant state without its weight '%s'",
                                name, owner);
            else {
                kind[w - all] = 1;
                all[i].used = 1;
                st = bind_4bit(all, n, w, &all[i], qt, &ents[w - all]);
            }
        } else if (ends_with(name, "." KBIT_BNB_SCB) || strcmp(name, KBIT_BNB_SCB) == 0) {
            char owner[NAME_MAX_LEN + 8];
            snprintf(owner, sizeof owner, "%.*sweight", (int)(strlen(name) - 3), name);
            stored *w = find_stored(all, n, owner);
            if (w == NULL)
                st = kbit_error(KBIT_EFORMAT, "'%.200s': SCB without its weight '%s'", name,
                                owner);
            else {
                kind[w - all] = 1;
                all[i].used = 1;
                st = bind_int8(all, n, w, &all[i], &ents[w - all]);
            }
        }
    }
    /* auxiliary names left over: a quant state is incomplete */
    static const char *const aux[] = { ".weight" KBIT_BNB_ABSMAX, ".weight" KBIT_BNB_QUANT_MAP,
                                       ".weight" KBIT_BNB_NESTED_ABSMAX,
                                       ".weight" KBIT_BNB_NESTED_QUANT_MAP,
                                       "." KBIT_BNB_WEIGHT_FORMAT };
    for (size_t i = 0; i < n && st == KBIT_OK; i++)
        for (size_t a = 0; a < sizeof aux / sizeof aux[0] && st == KBIT_OK; a++)
            if (!all[i].used && ends_with(all[i].name, aux[a]))
                st = kbit_error(KBIT_EFORMAT, "'%.200s' belongs to a quantized weight that has "
                                "no %s", all[i].name,
                                a < 4 ? "packed quant state (quant_state.bitsandbytes__*)"
                                      : "SCB");
    if (st == KBIT_OK) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (!all[i].used)
                ents[m++] = ents[i]; /* still sorted by name */
        ck->e = ents;
        ck->count = m;
        ents = NULL;
    }
    free(ents);
    free(all);
    free(kind);
    return st;
}

KBIT_API kbit_status kbit_checkpoint_open(const char *path, kbit_checkpoint **out)
{
    kbit_clear_error();
    if (path == NULL || out == NULL)
        return kbit_error(KBIT_EINVAL, "kbit_checkpoint_open: %s is NULL", path ? "ckpt" : "path");
    struct stat sb;
    if (stat(path, &sb) != 0)
        return kbit_error(KBIT_EIO, "%s: %s", path, strerror(errno));
    kbit_checkpoint *ck = calloc(1, sizeof *ck);
    if (ck == NULL)
        return kbit_error(KBIT_ENOMEM, "out of memory");
    kbit_status st;
    if (S_ISDIR(sb.st_mode)) {
        st = (ck->dir = strdup(path)) ? locate_dir(path, ck) : kbit_error(KBIT_ENOMEM, "out of memory");
    } else {
        ck->shards = calloc(1, sizeof *ck->shards);
        ck->shard_names = calloc(1, sizeof *ck->shard_names);
        if (!ck->shards || !ck->shard_names || (ck->shard_names[0] = strdup(path)) == NULL)
            st = kbit_error(KBIT_ENOMEM, "out of memory");
        else {
            ck->nshards = 1;
            st = kbit_st_open(path, &ck->shards[0]);
        }
    }
    if (st == KBIT_OK)
        st = classify(ck);
    if (st != KBIT_OK) {
        kbit_checkpoint_close(ck);
        return st;
    }
    *out = ck;
    return KBIT_OK;
}

static int cmp_entry_name(const void *key, const void *e)
{
    return strcmp((const char *)key, ((const ck_entry *)e)->name);
}

const ck_entry *kbit_ck_find(const kbit_checkpoint *ck, const char *name)
{
    return bsearch(name, ck->e, ck->count, sizeof *ck->e, cmp_entry_name);
}

KBIT_API int64_t kbit_checkpoint_count(const kbit_checkpoint *ck)
{
    return ck ? (int64_t)ck->count : 0;
}

KBIT_API const char *kbit_checkpoint_name(const kbit_checkpoint *ck, int64_t i)
{
    return ck && i >= 0 && (size_t)i < ck->count ? ck->e[i].name : NULL;
}

KBIT_API const char *kbit_checkpoint_config(const kbit_checkpoint *ck)
{
    return ck ? ck->config : NULL;
}

/* The entry for a public call, or an error naming fn. */
static kbit_status lookup(const kbit_checkpoint *ck, const char *name, const char *fn,
                          const ck_entry **e)
{
    if (ck == NULL || name == NULL)
        return kbit_error(KBIT_EINVAL, "%s: %s is NULL", fn, ck ? "name" : "ckpt");
    if ((*e = kbit_ck_find(ck, name)) == NULL)
        return kbit_error(KBIT_EINVAL, "%s: no tensor '%.200s' in the checkpoint", fn, name);
    return KBIT_OK;
}

KBIT_API kbit_status kbit_checkpoint_info(const kbit_checkpoint *ck, const char *name,
                                          kbit_tensor_info *info)
{
    kbit_clear_error();
    const ck_entry *e;
    kbit_status st = lookup(ck, name, "kbit_checkpoint_info", &e);
    if (st == KBIT_OK && info == NULL)
        st = kbit_error(KBIT_EINVAL, "kbit_checkpoint_info: info is NULL");
    if (st != KBIT_OK)
        return st;
    *info = e->info;
    snprintf(info->st_dtype, sizeof info->st_dtype, "%s", e->t->st_dtype);
    return KBIT_OK;
}

kbit_status kbit_ck_read_to_device(kbit_device *dev, const kbit_st_tensor *t, void *dst)
{
    if (t->nbytes == 0)
        return KBIT_OK;
    if (kbit_ck_device_is_host(dev))
        return kbit_st_read(t, 0, dst, (size_t)t->nbytes);
    /* through a bounded host buffer */
    size_t chunk = t->nbytes < ((size_t)16 << 20) ? (size_t)t->nbytes : ((size_t)16 << 20);
    unsigned char *buf = malloc(chunk);
    if (buf == NULL)
        return kbit_error(KBIT_ENOMEM, "'%.200s': out of memory for a %zu-byte buffer", t->name,
                          chunk);
    kbit_status st = KBIT_OK;
    for (uint64_t at = 0; at < t->nbytes && st == KBIT_OK; at += chunk) {
        size_t n = t->nbytes - at < chunk ? (size_t)(t->nbytes - at) : chunk;
        st = kbit_st_read(t, at, buf, n);
        if (st == KBIT_OK)
            st = kbit_copy(dev, (unsigned char *)dst + at, buf, n, KBIT_HOST_TO_DEVICE);
    }
    free(buf);
    return st;
}

kbit_status kbit_ck_upload(kbit_device *dev, const kbit_st_tensor *t, void **out)
{
    void *p = NULL;
    kbit_status st = kbit_malloc(dev, (size_t)t->nbytes, &p);
    if (st == KBIT_OK)
        st = kbit_ck_read_to_device(dev, t, p);
    if (st != KBIT_OK) {
        kbit_free(dev, p);
        return st;
    }
    *out = p;
    return KBIT_OK;
}

int kbit_ck_device_is_host(const kbit_device *dev)
{
    return strcmp(dev->driver->name, "cpu") == 0;
}

KBIT_API kbit_status kbit_checkpoint_load_4bit(const kbit_checkpoint *ck, const char *name,
                                               kbit_device *dev, uint8_t **packed,
                                               kbit_quant_state *state)
{
    static const char fn[] = "kbit_checkpoint_load_4bit";
    kbit_clear_error();
    const ck_entry *e;
    kbit_status st = lookup(ck, name, fn, &e);
    if (st != KBIT_OK)
        return st;
    if (dev == NULL || packed == NULL || state == NULL)
        return kbit_error(KBIT_EINVAL, "%s: %s is NULL", fn,
                          dev == NULL ? "device" : packed == NULL ? "packed" : "state");
    if (e->info.format != KBIT_WEIGHT_4BIT)
        return kbit_error(KBIT_EINVAL, "%s: '%.200s' is not a 4-bit weight", fn, name);
    kbit_quant_state s;
    void *p = NULL;
    if ((st = kbit_quant_state_init(&s, e->qs.quant_type, e->qs.dtype, e->qs.ndim, e->qs.shape,
                                    e->qs.blocksize, e->qs.nested)) != KBIT_OK ||
        (st = kbit_quant_state_alloc(dev, &s)) != KBIT_OK)
        return st;
    st = kbit_st_read(e->quant_map, 0, s.code, sizeof s.code);
    if (st == KBIT_OK && s.nested) {
        s.offset = e->qs.offset;
        st = kbit_st_read(e->nested_quant_map, 0, s.code2, sizeof s.code2);
    }
    if (st == KBIT_OK)
        st = kbit_ck_upload(dev, e->t, &p);
    if (st == KBIT_OK)
        st = kbit_ck_read_to_device(dev, e->absmax, s.absmax);
    if (st == KBIT_OK && s.nested)
        st = kbit_ck_read_to_device(dev, e->nested_absmax, s.absmax2);
    if (st != KBIT_OK) {
        kbit_free(dev, p);
        kbit_quant_state_release(dev, &s);
        return st;
    }
    *packed = p;
    *state = s;
    return KBIT_OK;
}

KBIT_API kbit_status kbit_checkpoint_load_int8(const kbit_checkpoint *ck, const char *name,
                                               kbit_device *dev, int8_t **CB, float **SCB,
                                               int64_t *rows, int64_t *cols)
{
    static const char fn[] = "kbit_checkpoint_load_int8";
    kbit_clear_error();
    const ck_entry *e;
    kbit_status st = lookup(ck, name, fn, &e);
    if (st != KBIT_OK)
        return st;
    if (dev == NULL || CB == NULL || SCB == NULL || rows == NULL || cols == NULL)
        return kbit_error(KBIT_EINVAL, "%s: an output or the device is NULL", fn);
    if (e->info.format != KBIT_WEIGHT_INT8)
        return kbit_error(KBIT_EINVAL, "%s: '%.200s' is not an 8-bit weight", fn, name);
    void *cb = NULL, *scb = NULL;
    if ((st = kbit_ck_upload(dev, e->t, &cb)) != KBIT_OK)
        return st;
    if ((st = kbit_ck_upload(dev, e->scb, &scb)) != KBIT_OK) {
        kbit_free(dev, cb);
        return st;
    }
    *CB = cb;
    *SCB = scb;
    *rows = e->info.shape[0];
    *cols = e->info.shape[1];
    return KBIT_OK;
}

/* Convert n plain values (host, possibly unaligned) between float dtypes. */
static void convert_host(kbit_dtype from, const void *src, kbit_dtype to, void *dst, int64_t n)
{
    const unsigned char *s = src;
    unsigned char *d = dst;
    for (int64_t i = 0; i < n; i++) {
        float f;
        uint16_t h;
        if (from == KBIT_F32) {
            memcpy(&f, s + i * 4, 4);
        } else {
            memcpy(&h, s + i * 2, 2);
            f = from == KBIT_F16 ? kbit_f16_to_f32(h) : kbit_bf16_to_f32(h);
        }
        if (to == KBIT_F32) {
            memcpy(d + i * 4, &f, 4);
        } else {
            h = to == KBIT_F16 ? kbit_f32_to_f16(f) : kbit_f32_to_bf16(f);
            memcpy(d + i * 2, &h, 2);
        }
    }
}

/* A plain float tensor converted to out_dtype, on the device. */
static kbit_status load_plain(const ck_entry *e, kbit_device *dev, kbit_dtype out_dtype,
                              void **out)
{
    if (e->t->dtype == out_dtype)
        return kbit_ck_upload(dev, e->t, out);
    size_t bytes = (size_t)e->info.numel * kbit_dtype_size(out_dtype);
    void *host = malloc(bytes ? bytes : 1), *raw = malloc(e->t->nbytes ? e->t->nbytes : 1);
    void *p = NULL;
    if (host == NULL || raw == NULL) {
        free(host);
        free(raw);
        return kbit_error(KBIT_ENOMEM, "'%.200s': out of memory for %zu bytes", e->name, bytes);
    }
    kbit_status st = kbit_st_read(e->t, 0, raw, (size_t)e->t->nbytes);
    if (st == KBIT_OK)
        convert_host(e->t->dtype, raw, out_dtype, host, e->info.numel);
    free(raw);
    if (st == KBIT_OK)
        st = kbit_malloc(dev, bytes, &p);
    if (st == KBIT_OK && bytes)
        st = kbit_copy(dev, p, host, bytes, KBIT_HOST_TO_DEVICE);
    free(host);
    if (st != KBIT_OK) {
        kbit_free(dev, p);
        return st;
    }
    *out = p;
    return KBIT_OK;
}

static kbit_status load_4bit_dense(const kbit_checkpoint *ck, const ck_entry *e,
                                   kbit_device *dev, kbit_dtype out_dtype, void **out)
{
    uint8_t *packed = NULL;
    kbit_quant_state s;
    void *p = NULL;
    kbit_status st = kbit_checkpoint_load_4bit(ck, e->name, dev, &packed, &s);
    if (st != KBIT_OK)
        return st;
    st = kbit_malloc(dev, (size_t)e->info.numel * kbit_dtype_size(out_dtype), &p);
    if (st == KBIT_OK)
        st = kbit_dequantize_4bit_state(dev, packed, &s, out_dtype, p);
    kbit_free(dev, packed);
    kbit_quant_state_release(dev, &s);
    if (st != KBIT_OK) {
        kbit_free(dev, p);
        return st;
    }
    *out = p;
    return KBIT_OK;
}

static kbit_status load_int8_dense(const kbit_checkpoint *ck, const ck_entry *e,
                                   kbit_device *dev, kbit_dtype out_dtype, void **out)
{
    int8_t *cb = NULL;
    float *scb = NULL;
    int64_t rows = 0, cols = 0;
    void *p = NULL;
    kbit_status st = kbit_checkpoint_load_int8(ck, e->name, dev, &cb, &scb, &rows, &cols);
    if (st != KBIT_OK)
        return st;
    st = kbit_malloc(dev, (size_t)(rows * cols) * kbit_dtype_size(out_dtype), &p);
    if (st == KBIT_OK)
        st = kbit_int8_dequantize_weight(dev, cb, scb, rows, cols, out_dtype, p);
    kbit_free(dev, cb);
    kbit_free(dev, scb);
    if (st != KBIT_OK) {
        kbit_free(dev, p);
        return st;
    }
    *out = p;
    return KBIT_OK;
}

KBIT_API kbit_status kbit_checkpoint_load_tensor(const kbit_checkpoint *ck, const char *name,
                                                 kbit_device *dev, kbit_dtype out_dtype,
                                                 void **out)
{
    static const char fn[] = "kbit_checkpoint_load_tensor";
    kbit_clear_error();
    const ck_entry *e;
    kbit_status st = lookup(ck, name, fn, &e);
    if (st != KBIT_OK)
        return st;
    if (dev == NULL || out == NULL)
        return kbit_error(KBIT_EINVAL, "%s: %s is NULL", fn, dev ? "out" : "device");
    if (out_dtype != KBIT_F32 && out_dtype != KBIT_F16 && out_dtype != KBIT_BF16)
        return kbit_error(KBIT_EINVAL, "%s: out_dtype must be KBIT_F32, KBIT_F16 or KBIT_BF16",
                          fn);
    switch (e->info.format) {
    case KBIT_WEIGHT_4BIT:
        return load_4bit_dense(ck, e, dev, out_dtype, out);
    case KBIT_WEIGHT_INT8:
        return load_int8_dense(ck, e, dev, out_dtype, out);
    case KBIT_WEIGHT_PLAIN:
        break;
    }
    if (!e->t->dtype_known ||
        (e->t->dtype != KBIT_F32 && e->t->dtype != KBIT_F16 && e->t->dtype != KBIT_BF16))
        return kbit_error(KBIT_EINVAL, "%s: '%.200s' is %s, not a float tensor", fn, name,
                          e->t->st_dtype);
    return load_plain(e, dev, out_dtype, out);
}

KBIT_API int kbit_checkpoint_should_quantize(const char *name, int ndim, kbit_dtype dtype,
                                             const char *const *skip, int skip_count)
{
    if (name == NULL)
        return 0;
    if (skip == NULL) {
        skip = kbit_bnb_default_skip;
        skip_count = KBIT_BNB_DEFAULT_SKIP_COUNT;
    }
    return kbit_bnb_should_quantize(name, ndim, 1, dtype, skip,
                                    skip_count > 0 ? (size_t)skip_count : 0);
}
