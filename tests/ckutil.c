/* tests/ckutil.c - small checkpoints and file-system checks (see ckutil.h). */
#include "config.h"

#include <dirent.h>
#include <ftw.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ckutil.h"
#include "tap.h"
#include "testutil.h"

int ck_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return -1;
    int bad = fwrite(data, 1, len, f) != len;
    bad |= fclose(f) != 0;
    return bad ? -1 : 0;
}

void ck_write_text(const char *path, const char *text)
{
    if (ck_write_file(path, text, strlen(text)) != 0)
        tap_bail("cannot write %s", path);
}

char *ck_path(const char *root, const char *fmt, ...)
{
    static char buf[8][1024];
    static int k;
    char *p = buf[k++ % 8];
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(p, 1024, "%s/", root);
    vsnprintf(p + n, (size_t)(1024 - n), fmt, ap);
    va_end(ap);
    return p;
}

char *ck_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, n = 0, k;
    char *buf = malloc(cap + 1);
    while (buf && (k = fread(buf + n, 1, cap - n, f)) > 0) {
        n += k;
        if (n == cap) {
            char *p = realloc(buf, 2 * cap + 1);
            if (p == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = p;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        if (len)
            *len = n;
    }
    return buf;
}

/* One tensor of the generated model. */
static int add_tensor(kbit_checkpoint_writer *w, const char *name, kbit_dtype dtype, int ndim,
                      int64_t d0, int64_t d1, rng *r)
{
    const int64_t shape[2] = { d0, d1 };
    int64_t n = ndim == 1 ? d0 : d0 * d1;
    float *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    void *data = malloc((size_t)(n ? n : 1) * 4);
    if (v == NULL || data == NULL) {
        free(v);
        free(data);
        return -1;
    }
    for (int64_t i = 0; i < n; i++)
        v[i] = (float)(0.02 * rng_normal(r));
    f32_to_dtype(dtype, v, data, (size_t)n);
    kbit_status st = kbit_checkpoint_writer_add(w, name, dtype, ndim, shape, data);
    free(v);
    free(data);
    if (st != KBIT_OK)
        tap_diag("writer add %s: %s", name, kbit_last_error());
    return st == KBIT_OK ? 0 : -1;
}

int ck_write_model(const char *dir, int layers, int hidden, int shards, kbit_dtype dtype,
                   uint64_t seed)
{
    char p[4096], name[256];
    rng r;
    rng_seed(&r, seed);
    mkdir(dir, 0755);
    size_t cap = 1 << 16, len = 0;
    char *idx = malloc(cap);
    if (idx == NULL)
        return -1;
    len += (size_t)snprintf(idx, cap, "{\n  \"metadata\": {\n    \"total_size\": 1\n  },\n"
                                      "  \"weight_map\": {");
    int first = 1, rc = 0;
    /* tensor t of the model goes to shard t % shards */
    int ntensors = 3 + 5 * layers, t = 0;
    for (int s = 0; s < shards && rc == 0; s++) {
        char file[64];
        if (shards == 1)
            snprintf(file, sizeof file, "model.safetensors");
        else
            snprintf(file, sizeof file, "model-%05d-of-%05d.safetensors", s + 1, shards);
        snprintf(p, sizeof p, "%s/%s", dir, file);
        kbit_checkpoint_writer *w = NULL;
        if (kbit_checkpoint_writer_create(p, &w) != KBIT_OK) {
            tap_diag("writer %s: %s", p, kbit_last_error());
            free(idx);
            return -1;
        }
        for (t = 0; t < ntensors && rc == 0; t++) {
            if (t % shards != s)
                continue;
            int ndim = 2;
            int64_t d0 = hidden, d1 = hidden;
            if (t == 0) {
                snprintf(name, sizeof name, "model.embed_tokens.weight");
                d0 = 4 * hidden;
            } else if (t == 1) {
                snprintf(name, sizeof name, "lm_head.weight");
                d0 = 4 * hidden;
            } else if (t == 2) {
                snprintf(name, sizeof name, "model.norm.weight");
                ndim = 1;
            } else {
                int l = (t - 3) / 5, k = (t - 3) % 5;
                static const char *const parts[5] = { "self_attn.q_proj.weight",
                                                      "mlp.up_proj.weight", "mlp.up_proj.bias",
                                                      "input_layernorm.weight",
                                                      "mlp.down_proj.weight" };
                snprintf(name, sizeof name, "model.layers.%d.%s", l, parts[k]);
                if (k == 1)
                    d0 = 2 * hidden;
                if (k == 2) {
                    ndim = 1;
                    d0 = 2 * hidden;
                }
                if (k == 3)
                    ndim = 1;
                if (k == 4)
                    d1 = 2 * hidden;
            }
            rc = add_tensor(w, name, dtype, ndim, d0, d1, &r);
            if (len + 512 > cap) {
                char *q = realloc(idx, cap *= 2);
                if (q == NULL) {
                    rc = -1;
                    break;
                }
                idx = q;
            }
            len += (size_t)snprintf(idx + len, cap - len, "%s\n    \"%s\": \"%s\"",
                                    first ? "" : ",", name, file);
            first = 0;
        }
        if (rc != 0) {
            kbit_checkpoint_writer_discard(w);
        } else if (kbit_checkpoint_writer_finish(w) != KBIT_OK) {
            tap_diag("writer finish %s: %s", p, kbit_last_error());
            rc = -1;
        }
    }
    snprintf(idx + len, cap - len, "\n  }\n}\n");
    if (rc == 0 && shards > 1) {
        snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
        rc = ck_write_file(p, idx, strlen(idx));
    }
    free(idx);
    static const char cfg[] = "{\n  \"model_type\": \"llama\",\n  \"rms_norm_eps\": 1e-06,\n"
                              "  \"tie_word_embeddings\": false\n}\n";
    snprintf(p, sizeof p, "%s/config.json", dir);
    rc |= ck_write_file(p, cfg, sizeof cfg - 1);
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    rc |= ck_write_file(p, "{\"tok\": 1}\n", 11);
    snprintf(p, sizeof p, "%s/1_Pooling", dir);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/1_Pooling/config.json", dir);
    rc |= ck_write_file(p, "{\"pool\": 2}\n", 12);
    return rc;
}

int ck_write_many(const char *path, int64_t count)
{
    size_t cap = (size_t)count * 80 + 64, len = 0;
    char *h = malloc(cap);
    if (h == NULL)
        return -1;
    len += (size_t)snprintf(h, cap, "{");
    for (int64_t i = 0; i < count; i++)
        len += (size_t)snprintf(h + len, cap - len,
                                "%s\"t.%lld.bias\":{\"dtype\":\"F32\",\"shape\":[1],"
                                "\"data_offsets\":[%lld,%lld]}",
                                i ? "," : "", (long long)i, (long long)(4 * i),
                                (long long)(4 * i + 4));
    len += (size_t)snprintf(h + len, cap - len, "}");
    while (len % 8)
        h[len++] = ' ';
    FILE *f = fopen(path, "wb");
    int bad = f == NULL;
    if (f) {
        unsigned char le[8];
        for (int i = 0; i < 8; i++)
            le[i] = (unsigned char)((uint64_t)len >> (8 * i));
        bad |= fwrite(le, 1, 8, f) != 8 || fwrite(h, 1, len, f) != len;
        float one = 1.0f;
        for (int64_t i = 0; i < count && !bad; i++)
            bad |= fwrite(&one, 4, 1, f) != 1;
        bad |= fclose(f) != 0;
    }
    free(h);
    return bad ? -1 : 0;
}

int ck_write_st(const char *path, const char *header, const void *data, size_t data_len)
{
    size_t len = strlen(header), padded = (len + 7) / 8 * 8;
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return -1;
    unsigned char le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    int bad = fwrite(le, 1, 8, f) != 8 || fwrite(header, 1, len, f) != len;
    for (size_t i = len; i < padded && !bad; i++)
        bad |= fputc(' ', f) == EOF;
    for (size_t i = 0; i < data_len && !bad; i++)
        bad |= fputc(data ? ((const unsigned char *)data)[i] : 0, f) == EOF;
    bad |= fclose(f) != 0;
    return bad ? -1 : 0;
}

int ck_exists(const char *path)
{
    struct stat sb;
    return lstat(path, &sb) == 0;
}

int ck_same_file(const char *a, const char *b)
{
    size_t na = 0, nb = 0;
    char *x = ck_read_file(a, &na), *y = ck_read_file(b, &nb);
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

int ck_any_match(const char *pattern)
{
    glob_t g;
    int found = glob(pattern, 0, NULL, &g) == 0 && g.gl_pathc > 0;
    globfree(&g);
    return found;
}

int ck_count_prefix(const char *dir, const char *prefix, char *first, size_t len)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
            strncmp(de->d_name, prefix, strlen(prefix)) == 0) {
            if (n == 0 && first)
                snprintf(first, len, "%s", de->d_name);
            n++;
        }
    closedir(d);
    return n;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(p);
    else
        unlink(p);
    return 0;
}

void ck_rm_rf(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *ck_scratch_dir(const char *tag)
{
    static char bufs[8][512];
    static int k;
    char *p = bufs[k++ % 8];
    snprintf(p, 512, "%s-%ld.tmpdir", tag, (long)getpid());
    ck_rm_rf(p);
    if (mkdir(p, 0755) != 0)
        tap_bail("cannot create %s", p);
    return p;
}

double ck_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

const void *ck_tensor_bytes(const kbit_st_tensor *t)
{
    static void *ring[16];
    static int k;
    if (t == NULL)
        return NULL;
    void **slot = &ring[k++ % 16];
    free(*slot);
    *slot = malloc(t->nbytes ? (size_t)t->nbytes : 1);
    if (*slot == NULL || kbit_st_read(t, 0, *slot, (size_t)t->nbytes) != KBIT_OK)
        return NULL;
    return *slot;
}
