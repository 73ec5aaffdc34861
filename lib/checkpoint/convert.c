/* lib/checkpoint/convert.c - whole-checkpoint quantize / dequantize, streaming: one
 * tensor at a time read from the input (pread) straight to its place in the
 * output file. The output is built under a temporary name next to OUT
 * (locked while it is built) and renamed at the very end; what a killed
 * run left there is removed by the next one (files.h). */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint/checkpoint.h"
#include "checkpoint/convert.h"
#include "checkpoint/diffusers.h"
#include "checkpoint/files.h"
#include "runtime/error.h"

KBIT_API void kbit_quantize_options_init(kbit_quantize_options *o)
{
    if (o == NULL)
        return;
    memset(o, 0, sizeof *o);
    o->bits = 4;
    o->quant_type = KBIT_NF4;
    o->blocksize = 64;
    o->compute_dtype = KBIT_F32;
    o->quant_storage = KBIT_U8;
    o->int8_threshold = 6.0;
}

/* CAST: a plain float tensor stored in another dtype (other_dtype) */
typedef enum action { PASS, QUANT4, QUANT8, DEQUANT, CAST } action;

struct conv {
    kbit_device *dev;
    int is_cpu;
    const kbit_checkpoint *ck;
    const kbit_quantize_options *q; /* NULL when dequantizing */
    kbit_dtype out_dtype;           /* dequantize */
    kbit_progress_fn progress;
    void *ctx;
    int64_t total;
    uint64_t bytes_total;
    kbit_convert_report rep;
    json_t *weight_map; /* output index: tensor name -> shard file */
    uint64_t total_size;
    const kbit_dfs_rules *dfs; /* a diffusers model: its rules; NULL: transformers' */
};

/* The dtype a plain tensor is stored as (a quantized weight: quantized
 * from): other_dtype for the float tensors of a diffusers model (fp32 for
 * its _keep_in_fp32_modules), as diffusers' torch_dtype does; else its own. */
static kbit_dtype dtype_for(const conv *c, const ck_entry *e)
{
    kbit_dtype d = e->info.dtype;
    if (c->q == NULL || !c->q->cast_other || c->dfs == NULL || !e->info.dtype_known ||
        e->info.format != KBIT_WEIGHT_PLAIN || (d != KBIT_F32 && d != KBIT_F16 && d != KBIT_BF16))
        return d;
    return kbit_dfs_keep_fp32(c->dfs, e->name) ? KBIT_F32 : c->q->other_dtype;
}

static action action_of(const conv *c, const ck_entry *e)
{
    if (c->q == NULL)
        return e->info.format == KBIT_WEIGHT_PLAIN ? PASS : DEQUANT;
    if (c->dfs) {
        if (e->info.format == KBIT_WEIGHT_PLAIN &&
            kbit_dfs_should_quantize(c->dfs, e->name, e->info.ndim, e->info.dtype_known,
                                     e->info.dtype, c->q->skip_modules,
                                     c->q->skip_modules ? (size_t)c->q->skip_count : 0))
            return c->q->bits == 8 ? QUANT8 : QUANT4;
        return dtype_for(c, e) != e->info.dtype ? CAST : PASS;
    }
    const char *const *skip = c->q->skip_modules ? c->q->skip_modules : kbit_bnb_default_skip;
    size_t nskip = c->q->skip_modules ? (size_t)c->q->skip_count : KBIT_BNB_DEFAULT_SKIP_COUNT;
    if (e->info.format == KBIT_WEIGHT_PLAIN &&
        kbit_bnb_should_quantize(e->name, e->info.ndim, e->info.dtype_known, e->info.dtype, skip,
                                 nskip))
        return c->q->bits == 8 ? QUANT8 : QUANT4;
    return PASS;
}

/* Host-readable bytes of device memory: the pointer itself on the CPU
 * driver, else a copy in *tmp (freed by the caller). */
static kbit_status host_view(const conv *c, const void *dev_ptr, size_t bytes, const void **view,
                             void **tmp)
{
    *tmp = NULL;
    if (c->is_cpu || bytes == 0) {
        *view = dev_ptr;
        return KBIT_OK;
    }
    if ((*tmp = malloc(bytes)) == NULL)
        return kbit_error(KBIT_ENOMEM, "out of memory for %zu bytes", bytes);
    *view = *tmp;
    return kbit_copy(c->dev, *tmp, dev_ptr, bytes, KBIT_DEVICE_TO_HOST);
}

/* The input of an op: the tensor's bytes in a new device buffer, converted
 * to dtype_for() first when that differs. */
static kbit_status device_input(const conv *c, const ck_entry *e, const void **x, void **owned)
{
    *owned = NULL;
    kbit_status st = dtype_for(c, e) != e->info.dtype
                         ? kbit_checkpoint_load_tensor(c->ck, e->name, c->dev, dtype_for(c, e),
                                                       owned)
                         : kbit_ck_upload(c->dev, e->t, owned);
    *x = *owned;
    return st;
}

/* A tensor copied as it is, file to file (in the kernel where it can). */
static kbit_status copy_tensor(kbit_stw *w, size_t slot, const kbit_st_tensor *t)
{
    kbit_status st = kbit_stw_write_from_file(w, slot, kbit_st_fd(t->file), kbit_st_path(t->file),
                                              t->file_offset);
    if (st != KBIT_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", kbit_last_error());
        return kbit_error(st, "tensor '%.200s': %s", t->name, msg);
    }
    return KBIT_OK;
}

static kbit_status state_for(const conv *c, const ck_entry *e, kbit_quant_state *s)
{
    return kbit_quant_state_init(s, c->q->quant_type, dtype_for(c, e), e->info.ndim,
                                 e->info.shape, c->q->blocksize, c->q->double_quant != 0);
}

/* Quantize one weight to 4 bits and write its tensors. */
static kbit_status write_quant4(conv *c, kbit_stw *w, const ck_entry *e,
                                const kbit_bnb_slots4 *slots)
{
    kbit_quant_state s;
    kbit_status st = state_for(c, e, &s);
    if (st != KBIT_OK || (st = kbit_quant_state_alloc(c->dev, &s)) != KBIT_OK)
        return st;
    size_t pbytes = (size_t)kbit_packed_4bit_bytes(s.numel);
    void *packed = NULL, *owned = NULL, *t1 = NULL, *t2 = NULL, *t3 = NULL;
    const void *x = NULL, *hp = NULL, *ha = NULL, *ha2 = NULL;
    if ((st = device_input(c, e, &x, &owned)) == KBIT_OK &&
        (st = kbit_malloc(c->dev, pbytes, &packed)) == KBIT_OK &&
        (st = kbit_quantize_4bit_state(c->dev, x, packed, &s)) == KBIT_OK &&
        (st = host_view(c, packed, pbytes, &hp, &t1)) == KBIT_OK &&
        (st = host_view(c, s.absmax, (size_t)s.nblocks * (s.nested ? 1 : 4), &ha, &t2)) ==
            KBIT_OK &&
        (!s.nested ||
         (st = host_view(c, s.absmax2, (size_t)s.nblocks2 * 4, &ha2, &t3)) == KBIT_OK))
        st = kbit_bnb_write_4bit(w, slots, &s, hp, ha, ha2);
    free(t1);
    free(t2);
    free(t3);
    kbit_free(c->dev, owned);
    kbit_free(c->dev, packed);
    kbit_quant_state_release(c->dev, &s);
    return st;
}

/* LLM.int8() weight (numerics 4.2): CB and SCB, written with weight_format. */
static kbit_status write_quant8(conv *c, kbit_stw *w, const ck_entry *e,
                                const kbit_bnb_slots8 *slots)
{
    int64_t rows = e->info.shape[0], cols = e->info.shape[1];
    size_t cb_bytes = (size_t)(rows * cols), scb_bytes = (size_t)rows * 4;
    void *cb = NULL, *scb = NULL, *owned = NULL, *t1 = NULL, *t2 = NULL;
    const void *x = NULL, *hcb = NULL, *hscb = NULL;
    kbit_status st;
    if ((st = device_input(c, e, &x, &owned)) == KBIT_OK &&
        (st = kbit_malloc(c->dev, cb_bytes, &cb)) == KBIT_OK &&
        (st = kbit_malloc(c->dev, scb_bytes, &scb)) == KBIT_OK &&
        (st = kbit_int8_quantize_weight(c->dev, dtype_for(c, e), x, rows, cols, cb, scb)) ==
            KBIT_OK &&
        (st = host_view(c, cb, cb_bytes, &hcb, &t1)) == KBIT_OK &&
        (st = host_view(c, scb, scb_bytes, &hscb, &t2)) == KBIT_OK)
        st = kbit_bnb_write_int8(w, slots, rows, cols, hcb, hscb);
    free(t1);
    free(t2);
    kbit_free(c->dev, owned);
    kbit_free(c->dev, cb);
    kbit_free(c->dev, scb);
    return st;
}

/* A tensor as plain values of `dtype` (dequantized or converted). */
static kbit_status write_dequant(conv *c, kbit_stw *w, size_t slot, const ck_entry *e,
                                 kbit_dtype dtype)
{
    void *out = NULL, *tmp = NULL;
    const void *view = NULL;
    size_t bytes = (size_t)e->info.numel * kbit_dtype_size(dtype);
    kbit_status st = kbit_checkpoint_load_tensor(c->ck, e->name, c->dev, dtype, &out);
    if (st == KBIT_OK && (st = host_view(c, out, bytes, &view, &tmp)) == KBIT_OK)
        st = kbit_stw_write(w, slot, view, bytes);
    free(tmp);
    kbit_free(c->dev, out);
    return st;
}

/* Declared output slots of one entry. */
typedef struct slot {
    const ck_entry *e;
    action act;
    size_t index;
    kbit_bnb_slots4 s4;
    kbit_bnb_slots8 s8;
} slot;

static kbit_status declare(conv *c, kbit_stw *w, slot *sl)
{
    const ck_entry *e = sl->e;
    kbit_status st = KBIT_OK;
    kbit_quant_state s;
    switch (sl->act) {
    case PASS:
        st = kbit_stw_add(w, e->name, e->t->st_dtype, e->t->elem_size, e->t->ndim, e->t->shape,
                          &sl->index);
        break;
    case QUANT4:
        if ((st = state_for(c, e, &s)) == KBIT_OK)
            st = kbit_bnb_declare_4bit(w, e->name, &s, c->q->quant_storage, &sl->s4);
        break;
    case QUANT8:
        st = kbit_bnb_declare_int8(w, e->name, e->info.shape[0], e->info.shape[1], &sl->s8);
        break;
    case DEQUANT:
    case CAST: {
        kbit_dtype d = sl->act == CAST ? dtype_for(c, e) : c->out_dtype;
        st = kbit_stw_add(w, e->name, kbit_st_dtype_name(d), kbit_dtype_size(d), e->info.ndim,
                          e->info.shape, &sl->index);
        break;
    }
    }
    return st;
}

static kbit_status write_entry(conv *c, kbit_stw *w, const slot *sl)
{
    const ck_entry *e = sl->e;
    switch (sl->act) {
    case PASS:
        return copy_tensor(w, sl->index, e->t);
    case QUANT4:
        return write_quant4(c, w, e, &sl->s4);
    case QUANT8:
        return write_quant8(c, w, e, &sl->s8);
    case DEQUANT:
        return write_dequant(c, w, sl->index, e, c->out_dtype);
    case CAST:
        return write_dequant(c, w, sl->index, e, dtype_for(c, e));
    }
    return KBIT_OK;
}

static int by_offset(const void *a, const void *b)
{
    const slot *x = a, *y = b;
    return (x->e->t->offset > y->e->t->offset) - (x->e->t->offset < y->e->t->offset);
}

/* Convert shard `s` into the file at path (the name recorded in the index
 * is `shard`). */
static kbit_status convert_shard(conv *c, size_t s, const char *path, const char *shard)
{
    const kbit_checkpoint *ck = c->ck;
    slot *sl = calloc(ck->count ? ck->count : 1, sizeof *sl);
    if (sl == NULL)
        return kbit_error(KBIT_ENOMEM, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < ck->count; i++)
        if (ck->e[i].shard == (int)s) {
            sl[n].e = &ck->e[i];
            sl[n].act = action_of(c, &ck->e[i]);
            if (c->q && ck->e[i].info.format != KBIT_WEIGHT_PLAIN) {
                free(sl);
                return kbit_error(KBIT_EINVAL, "'%.200s' is quantized already: dequantize the "
                                  "checkpoint first", ck->e[i].name);
            }
            n++;
        }
    qsort(sl, n, sizeof *sl, by_offset); /* read the file front to back */

    kbit_stw *w = NULL;
    kbit_status st = kbit_stw_create(path, &w);
    for (size_t i = 0; i < kbit_st_metadata_count(ck->shards[s]) && st == KBIT_OK; i++) {
        const char *value;
        const char *k = kbit_st_metadata_at(ck->shards[s], i, &value);
        st = kbit_stw_metadata(w, k, value);
    }
    if (st == KBIT_OK)
        st = kbit_stw_metadata(w, "format", "pt"); /* transformers requires it */
    for (size_t i = 0; i < n && st == KBIT_OK; i++)
        st = declare(c, w, &sl[i]);
    if (st == KBIT_OK)
        st = kbit_stw_layout(w);
    /* the index lists every key of the shard, auxiliary tensors included */
    for (size_t i = 0; c->weight_map && st == KBIT_OK && i < kbit_stw_count(w); i++)
        if (json_object_set_new(c->weight_map, kbit_stw_name(w, i), json_string(shard)) != 0)
            st = kbit_error(KBIT_ENOMEM, "out of memory");
    if (n > 0)
        kbit_st_prefetch(sl[0].e->t);
    for (size_t i = 0; i < n && st == KBIT_OK; i++) {
        if (i + 1 < n)
            kbit_st_prefetch(sl[i + 1].e->t); /* the disk reads it while this one is done */
        st = write_entry(c, w, &sl[i]);
        c->rep.tensors++;
        c->rep.converted += sl[i].act != PASS && sl[i].act != CAST;
        c->rep.bytes_in += sl[i].e->info.stored_bytes;
        if (st == KBIT_OK && c->progress)
            c->progress(c->ctx, sl[i].e->name, c->rep.tensors, c->total, c->rep.bytes_in,
                        c->bytes_total);
    }
    free(sl);
    if (st != KBIT_OK) {
        kbit_stw_abort(w);
        return st;
    }
    uint64_t size = kbit_stw_size(w), data = kbit_stw_data_bytes(w);
    st = kbit_stw_finish(w);
    if (st == KBIT_OK) {
        c->rep.bytes_out += size;
        c->total_size += data;
        c->rep.shards++;
    }
    return st;
}

/* ------------------------------------------------------------------ */
/* Output directory                                                      */

/* Write a text file (JSON) completely. */
static kbit_status write_text(const char *path, const char *text, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return kbit_error(KBIT_EIO, "cannot create %s: %s", path, strerror(errno));
    kbit_status st = KBIT_OK;
    for (size_t done = 0; done < len && st == KBIT_OK;) {
        ssize_t k = write(fd, text + done, len - done);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            st = kbit_error(KBIT_EIO, "cannot write %s: %s", path,
                            k < 0 ? strerror(errno) : "no progress");
        else
            done += (size_t)k;
    }
    if (close(fd) != 0 && st == KBIT_OK)
        st = kbit_error(KBIT_EIO, "cannot write %s: %s", path, strerror(errno));
    return st;
}

static kbit_status write_json(const char *dir, const char *name, const json_t *v,
                              const kbit_json_raw *raw)
{
    kbit_buf b = { 0 };
    char *path = kbit_ck_join(dir, name);
    kbit_status st = KBIT_OK;
    if (path == NULL || kbit_pyjson_dump_raw(&b, v, 2, 1, raw) != 0)
        st = kbit_error(KBIT_ENOMEM, "out of memory writing %s", name);
    kbit_buf_puts(&b, "\n"); /* transformers ends its JSON files with a newline */
    if (st == KBIT_OK)
        st = write_text(path, b.data, b.len);
    kbit_buf_free(&b);
    free(path);
    return st;
}

/* Files of the input directory that are not carried over as they are: the
 * ones kbit writes, and other weight files (other formats of the same
 * unquantized weights). */
static int skipped_file(const kbit_checkpoint *ck, const char *name)
{
    static const char *const weights[] = { ".safetensors", ".bin", ".pt", ".pth", ".h5",
                                           ".msgpack", ".ckpt", ".gguf", ".onnx" };
    if (strcmp(name, "config.json") == 0 || strcmp(name, "model.safetensors.index.json") == 0 ||
        (ck->index_name && strcmp(name, ck->index_name) == 0) ||
        strstr(name, ".kbit-tmp-") != NULL)
        return 1;
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof weights / sizeof weights[0]; i++) {
        size_t k = strlen(weights[i]);
        if (n >= k && strcmp(name + n - k, weights[i]) == 0)
            return 1;
    }
    for (size_t s = 0; s < ck->nshards; s++)
        if (strcmp(name, ck->shard_names[s]) == 0)
            return 1;
    return 0;
}

/* The directories being copied, innermost first (a symlink back to one of
 * them would recurse for ever). */
typedef struct dir_chain {
    dev_t dev;
    ino_t ino;
    const struct dir_chain *up;
} dir_chain;

/* Copy the files of `from` into `to`, subdirectories recursively (e.g.
 * sentence-transformers' 1_Pooling/); at the top level, the files kbit
 * rewrites are left out. Symlinks are followed (a Hugging Face cache
 * snapshot is made of them) and copied as what they point to; anything that
 * is neither a regular file nor a directory (a FIFO, a socket, a device, a
 * dangling link) is refused, never opened. Hidden entries are not copied. */
static kbit_status copy_dir(conv *c, const char *from, const char *to, int top,
                            const dir_chain *up)
{
    struct stat here;
    if (stat(from, &here) != 0)
        return kbit_error(KBIT_EIO, "cannot read %s: %s", from, strerror(errno));
    int depth = 0;
    for (const dir_chain *a = up; a; a = a->up, depth++)
        if (a->dev == here.st_dev && a->ino == here.st_ino)
            return kbit_error(KBIT_EIO, "%s leads back to a directory that contains it "
                              "(a symlink loop)", from);
    if (depth > 64)
        return kbit_error(KBIT_EIO, "%s is nested more than 64 directories deep", from);
    const dir_chain link = { here.st_dev, here.st_ino, up };
    DIR *d = opendir(from);
    if (d == NULL)
        return kbit_error(KBIT_EIO, "cannot list %s: %s", from, strerror(errno));
    kbit_status st = KBIT_OK;
    struct dirent *de;
    while (st == KBIT_OK && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || (top && skipped_file(c->ck, de->d_name)))
            continue;
        char *src = kbit_ck_join(from, de->d_name), *dst = kbit_ck_join(to, de->d_name);
        int kind = src ? kbit_file_kind(src) : 0;
        if (src == NULL || dst == NULL)
            st = kbit_error(KBIT_ENOMEM, "out of memory");
        else if (kind == 1) {
            st = kbit_file_copy(src, dst);
            c->rep.files_copied++;
        } else if (kind == 2) {
            if (mkdir(dst, 0755) != 0)
                st = kbit_error(KBIT_EIO, "cannot create %s: %s", dst, strerror(errno));
            else
                st = copy_dir(c, src, dst, 0, &link);
        } else if (kind == 3) {
            st = kbit_file_refuse(src); /* a FIFO, socket, device or dangling link */
        }
        free(src);
        free(dst);
    }
    closedir(d);
    return st;
}

/* config.json: quantization_config set (quantize) or removed (dequantize). */
static kbit_status write_config(const conv *c, const char *tmp)
{
    if (c->ck->config == NULL)
        return KBIT_OK;
    /* the whole file comes back as Python's json.dumps(indent=2,
     * sort_keys=True) writes it, every value as json.loads read it */
    /* quantization_config is made before the tree is read: raw nodes are
     * known by address, so no value may be allocated after the old
     * quantization_config (which may hold some) is freed */
    json_t *q = c->q == NULL ? NULL
                : c->dfs      ? kbit_dfs_quant_config(c->q, c->dfs)
                              : kbit_bnb_quant_config(c->q);
    if (c->q && q == NULL)
        return kbit_error(KBIT_ENOMEM, "config.json: out of memory for quantization_config");
    json_t *cfg = NULL;
    kbit_json_raw raw = { 0 };
    kbit_status st = kbit_ck_parse_config("config.json", c->ck->config, c->ck->config_len, &cfg,
                                          &raw);
    if (st != KBIT_OK) {
        json_decref(q);
        kbit_json_raw_free(&raw);
        return st;
    }
    if (q != NULL && json_object_set_new(cfg, "quantization_config", q) != 0)
        st = kbit_error(KBIT_ENOMEM, "config.json: out of memory for quantization_config");
    else if (q == NULL)
        json_object_del(cfg, "quantization_config");
    if (st == KBIT_OK)
        st = write_json(tmp, "config.json", cfg, &raw);
    json_decref(cfg);
    kbit_json_raw_free(&raw);
    return st;
}

static kbit_status write_index(const conv *c, const char *tmp)
{
    json_t *idx = json_pack("{s:{s:I},s:O}", "metadata", "total_size",
                            (json_int_t)c->total_size, "weight_map", c->weight_map);
    if (idx == NULL)
        return kbit_error(KBIT_ENOMEM, "out of memory");
    kbit_status st = write_json(tmp, c->ck->index_name, idx, NULL);
    json_decref(idx);
    return st;
}

static kbit_status convert_dir(conv *c, const char *tmp)
{
    kbit_dfs_rules rules;
    kbit_status st = KBIT_OK;
    if (c->ck->diffusers && (st = kbit_dfs_rules_init(c->ck->config, &rules)) != KBIT_OK)
        return st;
    c->dfs = c->ck->diffusers ? &rules : NULL;
    if (c->ck->index_name && (c->weight_map = json_object()) == NULL)
        return kbit_error(KBIT_ENOMEM, "out of memory");
    for (size_t s = 0; s < c->ck->nshards && st == KBIT_OK; s++) {
        const char *name = c->ck->dir ? c->ck->shard_names[s] : "model.safetensors";
        char *path = kbit_ck_join(tmp, name);
        st = path ? convert_shard(c, s, path, name) : kbit_error(KBIT_ENOMEM, "out of memory");
        free(path);
    }
    if (st == KBIT_OK && c->weight_map)
        st = write_index(c, tmp);
    if (st == KBIT_OK && c->ck->dir)
        st = write_config(c, tmp);
    if (st == KBIT_OK && c->ck->dir)
        st = copy_dir(c, c->ck->dir, tmp, 1, NULL);
    json_decref(c->weight_map);
    c->weight_map = NULL;
    c->dfs = NULL;
    return st;
}

static int ends_with_st(const char *s)
{
    size_t n = strlen(s), k = strlen(".safetensors");
    return n > k && strcmp(s + n - k, ".safetensors") == 0;
}

/* Build into a temporary name, then rename over `out`. */
static kbit_status run_at(conv *c, const char *in, const char *out, int replace);

/* OUT without trailing slashes: the temporary goes next to it, not inside. */
static kbit_status run(conv *c, const char *in, const char *out_arg, int replace)
{
    char *out = strdup(out_arg);
    if (out == NULL)
        return kbit_error(KBIT_ENOMEM, "out of memory");
    size_t n = strlen(out);
    while (n > 1 && out[n - 1] == '/')
        out[--n] = '\0';
    kbit_status st = n > 0 ? run_at(c, in, out, replace)
                           : kbit_error(KBIT_EINVAL, "the output path is empty");
    free(out);
    return st;
}

static kbit_status run_at(conv *c, const char *in, const char *out, int replace)
{
    /* what a killed run left next to OUT goes first (an OUT it had set
     * aside comes back) */
    kbit_file_remove_stale(out);
    struct stat sb;
    int exists = lstat(out, &sb) == 0;
    if (exists && !replace)
        return kbit_error(KBIT_EINVAL, "%s exists already (replace it with --force)", out);
    kbit_checkpoint *ck = NULL;
    int pipeline = kbit_pipeline_is(in); /* its components are opened by pipeline.c */
    kbit_status st = pipeline ? KBIT_OK : kbit_checkpoint_open(in, &ck);
    if (st == KBIT_OK && !pipeline && c->q && c->q->components)
        st = kbit_error(KBIT_EINVAL, "%s is not a diffusers pipeline (no model_index.json): "
                        "components (--components) do not apply", in);
    /* in a pipeline, other_dtype applies to its diffusers components only */
    if (st == KBIT_OK && ck && ck->dir && !ck->diffusers && c->q && c->q->cast_other)
        st = kbit_error(KBIT_EINVAL, "%s: other_dtype (--other-dtype) applies to diffusers "
                        "models only (transformers' per-architecture fp32 modules are not "
                        "known to kbit)", in);
    if (st != KBIT_OK) {
        kbit_checkpoint_close(ck);
        return st;
    }
    c->ck = ck;
    for (size_t i = 0; ck && i < ck->count; i++) {
        c->total++;
        c->bytes_total += ck->e[i].info.stored_bytes;
    }
    kbit_device_info info;
    if ((st = kbit_device_get_info(c->dev, &info)) != KBIT_OK) {
        kbit_checkpoint_close(ck);
        return st;
    }
    c->is_cpu = strcmp(info.driver, "cpu") == 0;

    size_t tlen = strlen(out) + 96;
    char *tmp = malloc(tlen);
    if (tmp == NULL) {
        kbit_checkpoint_close(ck);
        return kbit_error(KBIT_ENOMEM, "out of memory");
    }
    kbit_sibling_name(out, "tmp", tmp, tlen);
    int single = ck && ck->dir == NULL && ends_with_st(out);
    int created = 1; /* clean up only what this call made */
    int lock = -1;   /* a directory is locked here, a file by its writer */
    if (single && c->q && c->q->cast_other) {
        st = kbit_error(KBIT_EINVAL, "other_dtype (--other-dtype) applies to diffusers models "
                        "only, not to a single .safetensors file");
        created = 0;
    } else if (single) {
        st = convert_shard(c, 0, tmp, "");
    } else if (mkdir(tmp, 0755) != 0) {
        st = kbit_error(KBIT_EIO, "cannot create %s: %s", tmp, strerror(errno));
        created = 0;
    } else {
        lock = kbit_file_lock(tmp);
        st = pipeline ? kbit_pipeline_convert(c, in, tmp) : convert_dir(c, tmp);
    }
    kbit_checkpoint_close(ck);
    c->ck = NULL;

    if (st == KBIT_OK && exists) {
        /* move the old one aside, put the new one in place, then drop the old */
        char *old = malloc(tlen);
        if (old == NULL)
            st = kbit_error(KBIT_ENOMEM, "out of memory");
        else {
            kbit_sibling_name(out, "old", old, tlen);
            if (rename(out, old) != 0)
                st = kbit_error(KBIT_EIO, "cannot move %s aside: %s", out, strerror(errno));
            else if (rename(tmp, out) != 0) {
                st = kbit_error(KBIT_EIO, "cannot rename %s to %s: %s", tmp, out,
                                strerror(errno));
                rename(old, out);
            } else
                kbit_file_remove_tree(old);
            free(old);
        }
    } else if (st == KBIT_OK && rename(tmp, out) != 0) {
        st = kbit_error(KBIT_EIO, "cannot rename %s to %s: %s", tmp, out, strerror(errno));
    }
    if (st != KBIT_OK && created)
        kbit_file_remove_tree(tmp);
    if (lock >= 0)
        close(lock);
    free(tmp);
    return st;
}

KBIT_API kbit_status kbit_checkpoint_remove_stale(const char *out, int *removed)
{
    kbit_clear_error();
    if (out == NULL)
        return kbit_error(KBIT_EINVAL, "kbit_checkpoint_remove_stale: out is NULL");
    char *o = strdup(out);
    if (o == NULL)
        return kbit_error(KBIT_ENOMEM, "kbit_checkpoint_remove_stale: out of memory");
    size_t n = strlen(o);
    while (n > 1 && o[n - 1] == '/')
        o[--n] = '\0';
    int k = kbit_file_remove_stale(o);
    free(o);
    if (removed)
        *removed = k;
    return KBIT_OK;
}

/* ------------------------------------------------------------------ */
/* For pipeline.c (convert.h)                                            */

const kbit_quantize_options *kbit_conv_options(const conv *c)
{
    return c->q;
}

void kbit_conv_count(conv *c, const kbit_checkpoint *ck)
{
    for (size_t i = 0; i < ck->count; i++) {
        c->total++;
        c->bytes_total += ck->e[i].info.stored_bytes;
    }
}

kbit_status kbit_conv_checkpoint(conv *c, const kbit_checkpoint *ck, const char *out)
{
    c->ck = ck;
    kbit_status st = convert_dir(c, out);
    c->ck = NULL;
    return st;
}

/* An entry of a pipeline folder that is not converted: a file (or a link to
 * one) copied, a directory copied by copy_dir's rules, anything else
 * refused. */
kbit_status kbit_conv_copy(conv *c, const char *from, const char *to)
{
    switch (kbit_file_kind(from)) {
    case 1:
        c->rep.files_copied++;
        return kbit_file_copy(from, to);
    case 2:
        if (mkdir(to, 0755) != 0)
            return kbit_error(KBIT_EIO, "cannot create %s: %s", to, strerror(errno));
        return copy_dir(c, from, to, 0, NULL);
    default:
        return kbit_file_refuse(from);
    }
}

static kbit_status check_options(const kbit_quantize_options *o)
{
    static const char fn[] = "kbit_checkpoint_quantize";
    if (o->bits != 4 && o->bits != 8)
        return kbit_error(KBIT_EINVAL, "%s: bits = %d must be 4 or 8", fn, o->bits);
    if (o->quant_type != KBIT_NF4 && o->quant_type != KBIT_FP4)
        return kbit_error(KBIT_EINVAL, "%s: quant_type must be KBIT_NF4 or KBIT_FP4", fn);
    if (o->blocksize < 32 || o->blocksize > 4096 || (o->blocksize & (o->blocksize - 1)))
        return kbit_error(KBIT_EINVAL, "%s: blocksize = %d must be a power of two in 32..4096",
                          fn, o->blocksize);
    if (o->compute_dtype != KBIT_F32 && o->compute_dtype != KBIT_F16 &&
        o->compute_dtype != KBIT_BF16)
        return kbit_error(KBIT_EINVAL, "%s: compute_dtype must be F32, F16 or BF16", fn);
    if (kbit_bnb_dtype_name(o->quant_storage) == NULL)
        return kbit_error(KBIT_EINVAL, "%s: quant_storage must be U8, I8, F16, BF16, F32 or F64",
                          fn);
    if (o->int8_has_fp16_weight)
        return kbit_error(KBIT_EINVAL, "%s: int8_has_fp16_weight = 1 keeps the fp16 weight: "
                          "nothing to quantize", fn);
    if (o->skip_count < 0)
        return kbit_error(KBIT_EINVAL, "%s: skip_count = %d is negative", fn, o->skip_count);
    if (o->skip_modules == NULL && o->skip_count != 0)
        return kbit_error(KBIT_EINVAL, "%s: skip_count without skip_modules", fn);
    for (int i = 0; o->skip_modules && i < o->skip_count; i++)
        if (o->skip_modules[i] == NULL)
            return kbit_error(KBIT_EINVAL, "%s: skip_modules[%d] is NULL", fn, i);
    if (o->cast_other && o->other_dtype != KBIT_F32 && o->other_dtype != KBIT_F16 &&
        o->other_dtype != KBIT_BF16)
        return kbit_error(KBIT_EINVAL, "%s: other_dtype must be F32, F16 or BF16", fn);
    if (o->component_count < 0 || (o->components == NULL && o->component_count != 0) ||
        (o->components != NULL && o->component_count == 0))
        return kbit_error(KBIT_EINVAL, "%s: components needs component_count > 0 (NULL: the "
                          "denoiser)", fn);
    for (int i = 0; o->components && i < o->component_count; i++)
        if (o->components[i] == NULL)
            return kbit_error(KBIT_EINVAL, "%s: components[%d] is NULL", fn, i);
    return KBIT_OK;
}

KBIT_API kbit_status kbit_checkpoint_quantize(kbit_device *device, const char *in, const char *out,
                                              const kbit_quantize_options *options,
                                              kbit_convert_report *report)
{
    kbit_clear_error();
    kbit_quantize_options defaults;
    kbit_quantize_options_init(&defaults);
    const kbit_quantize_options *o = options ? options : &defaults;
    if (device == NULL || in == NULL || out == NULL)
        return kbit_error(KBIT_EINVAL, "kbit_checkpoint_quantize: %s is NULL",
                          device == NULL ? "device" : in == NULL ? "in" : "out");
    kbit_status st = check_options(o);
    if (st != KBIT_OK)
        return st;
    conv c = { .dev = device, .q = o, .progress = o->progress, .ctx = o->progress_ctx };
    st = run(&c, in, out, o->replace);
    if (st == KBIT_OK && report)
        *report = c.rep;
    return st;
}

KBIT_API kbit_status kbit_checkpoint_dequantize(kbit_device *device, const char *in,
                                                const char *out, kbit_dtype dtype, int replace,
                                                kbit_progress_fn progress, void *progress_ctx,
                                                kbit_convert_report *report)
{
    kbit_clear_error();
    if (device == NULL || in == NULL || out == NULL)
        return kbit_error(KBIT_EINVAL, "kbit_checkpoint_dequantize: %s is NULL",
                          device == NULL ? "device" : in == NULL ? "in" : "out");
    if (dtype != KBIT_F32 && dtype != KBIT_F16 && dtype != KBIT_BF16)
        return kbit_error(KBIT_EINVAL, "kbit_checkpoint_dequantize: dtype must be F32, F16 or "
                          "BF16");
    conv c = { .dev = device, .out_dtype = dtype, .progress = progress, .ctx = progress_ctx };
    kbit_status st = run(&c, in, out, replace);
    if (st == KBIT_OK && report)
        *report = c.rep;
    return st;
}
