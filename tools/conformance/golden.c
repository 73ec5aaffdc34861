/* tools/conformance/golden.c - see golden.h. */
#include "config.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devmem.h"
#include "families.h"
#include "golden.h"
#include "tap.h"
#include "vectors.h"

#define MAX_FILES 256
#define MAX_OPS 64

/* A file that was read and validated. */
typedef struct gfile {
    char *path;
    const char *base;
    kbit_st_file *st;
    json_t *cases;             /* the "cases" list */
    const char *ops[MAX_OPS];  /* in order of first appearance */
    int nops;
} gfile;

static gfile files[MAX_FILES];
static int nfiles;
static int reporting; /* conf_golden_scan(1): TAP lines; (0): for --list, silent */

/* A TAP line of the scan (none when not reporting); returns cond. */
static int scan_line(int cond, const char *fmt, ...) TAP_PRINTF(2, 3);
static int scan_line(int cond, const char *fmt, ...)
{
    if (!reporting)
        return cond;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return tap_ok(cond, "%s", buf);
}

static int compare_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Whether the file is one to report on: it has an op of a family in
 * `families`, or an op no family checks. */
static int concerns(const gfile *f, uint32_t families)
{
    for (int k = 0; k < f->nops; k++) {
        const conf_family *fam = conf_family_of_golden_op(f->ops[k]);
        if (fam == NULL || (families & fam->bit))
            return 1;
    }
    return 0;
}

/* Read one file; 1 if usable. A file that cannot be read, or whose layout
 * is wrong, is a failure whatever the families; the TAP lines of a good
 * one are printed when it concerns the families being checked (so that a
 * run per family reports each file once). */
static int scan_file(gfile *f, uint32_t families)
{
    kbit_status s = kbit_st_open(f->path, &f->st);
    /* the vectors are small: their tensors are read into memory once */
    if (s == KBIT_OK && (s = kbit_st_load_all(f->st)) != KBIT_OK) {
        kbit_st_close(f->st);
        f->st = NULL;
    }
    if (s != KBIT_OK) {
        scan_line(0, "golden: %s: read and validated", f->base);
        if (reporting)
            tap_diag("%s", conf_reader_error());
        return 0;
    }
    const char *format = kbit_st_metadata(f->st, "format");
    const char *cases_text = kbit_st_metadata(f->st, "cases");
    json_error_t jerr;
    f->cases = cases_text ? json_loads(cases_text, 0, &jerr) : NULL;
    size_t ncases = json_is_array(f->cases) ? json_array_size(f->cases) : 0;
    if (!format || strcmp(format, "kbit-golden-v1") != 0 || ncases == 0) {
        scan_line(1, "golden: %s: read and validated", f->base);
        scan_line(0, "golden: %s: format kbit-golden-v1 with a non-empty cases list (%zu cases)",
                  f->base, ncases);
        return 0;
    }
    size_t i, malformed = 0;
    json_t *c;
    json_array_foreach(f->cases, i, c) {
        const char *op = json_string_value(json_object_get(c, "op"));
        if (op == NULL || !json_is_string(json_object_get(c, "name")) ||
            !json_is_object(json_object_get(c, "params"))) {
            if (malformed++ == 0 && reporting)
                tap_diag("%s: case %zu has no name, op or params", f->base, i);
            continue;
        }
        int seen = 0;
        for (int k = 0; k < f->nops; k++)
            seen |= strcmp(f->ops[k], op) == 0;
        if (!seen && f->nops < MAX_OPS)
            f->ops[f->nops++] = op;
    }
    if (malformed || concerns(f, families)) {
        scan_line(1, "golden: %s: read and validated", f->base);
        if (malformed == 0)
            scan_line(1, "golden: %s: format kbit-golden-v1, %zu cases, each with a name, an op "
                      "and params", f->base, ncases);
        else
            scan_line(0, "golden: %s: format kbit-golden-v1, but %zu of %zu cases lack a name, "
                      "an op or params", f->base, malformed, ncases);
        for (int k = 0; k < f->nops; k++)
            if (reporting && conf_family_of_golden_op(f->ops[k]) == NULL)
                tap_skip(f->base, "no check for op '%s' yet", f->ops[k]);
    }
    return 1;
}

void conf_golden_scan(int report, uint32_t families)
{
    reporting = report;
    const char *dir = vectors_dir();
    DIR *d = opendir(dir);
    char *paths[MAX_FILES];
    int n = 0;
    if (d != NULL) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL && n < MAX_FILES) {
            size_t len = strlen(de->d_name);
            if (len > 12 && strcmp(de->d_name + len - 12, ".safetensors") == 0)
                paths[n++] = str_printf("%s/%s", dir, de->d_name);
        }
        closedir(d);
    }
    qsort(paths, (size_t)n, sizeof paths[0], compare_str);
    if (!scan_line(n > 0, "golden: vector files in %s: %d", dir, n) && reporting)
        tap_diag("%s: %s (give --vectors DIR or set KBIT_VECTORS_DIR)", dir,
                 d == NULL ? "cannot open the directory" : "no *.safetensors file");
    for (int i = 0; i < n; i++) {
        gfile *f = &files[nfiles];
        memset(f, 0, sizeof *f);
        f->path = paths[i];
        const char *slash = strrchr(f->path, '/');
        f->base = slash ? slash + 1 : f->path;
        if (scan_file(f, families)) {
            nfiles++;
        } else {
            json_decref(f->cases);
            kbit_st_close(f->st);
            free(f->path);
        }
    }
}

static conf_golden_fn find_op(const conf_golden_op *ops, const char *op)
{
    for (; ops->op; ops++)
        if (strcmp(ops->op, op) == 0)
            return ops->fn;
    return NULL;
}

void conf_golden_run(const conf_run *run, const conf_golden_op *ops, conf_golden_file_fn file_fn)
{
    int first = conf_first_target(run);
    conf_tally *tally = conf_xmalloc(sizeof *tally * (size_t)run->ntargets);
    for (int i = 0; i < nfiles; i++) {
        gfile *f = &files[i];
        int mine = 0;
        for (int k = 0; k < f->nops; k++)
            mine |= find_op(ops, f->ops[k]) != NULL;
        if (!mine)
            continue;
        if (file_fn)
            file_fn(run, f->base, f->st, f->cases);
        for (int k = 0; k < f->nops; k++) {
            conf_golden_fn fn = find_op(ops, f->ops[k]);
            if (fn == NULL)
                continue;
            memset(tally, 0, sizeof *tally * (size_t)run->ntargets);
            for (int t = 0; t < run->ntargets; t++) {
                kbit_device *dev = conf_dev(run, t);
                if (dev == NULL)
                    continue;
                conf_golden g = { f->base, f->st, run->targets[t].label, t == first, dev,
                                  &tally[t] };
                size_t ci;
                json_t *c;
                json_array_foreach(f->cases, ci, c) {
                    const char *op = json_string_value(json_object_get(c, "op"));
                    const char *cname = json_string_value(json_object_get(c, "name"));
                    json_t *params = json_object_get(c, "params");
                    if (op == NULL || cname == NULL || !json_is_object(params) ||
                        strcmp(op, f->ops[k]) != 0)
                        continue;
                    tally[t].cases++;
                    fn(&g, cname, params);
                }
            }
            char check[256];
            snprintf(check, sizeof check, "%.80s %.60s", f->base, f->ops[k]);
            conf_report(run, check, tally, "elements", NULL);
        }
    }
    free(tally);
}

void conf_golden_list(void)
{
    printf("golden vectors: %s, %d files\n", vectors_dir(), nfiles);
    for (int i = 0; i < nfiles; i++) {
        gfile *f = &files[i];
        for (int k = 0; k < f->nops; k++) {
            size_t count = 0, ci;
            json_t *c;
            json_array_foreach(f->cases, ci, c)
                count += strcmp(json_string_value(json_object_get(c, "op")), f->ops[k]) == 0;
            const conf_family *fam = conf_family_of_golden_op(f->ops[k]);
            printf("  %-22s %-26s %4zu cases  %s\n", f->base, f->ops[k], count,
                   fam ? kbit_family_name(fam->bit) : "(no check yet)");
        }
    }
}

void conf_golden_close(void)
{
    for (int i = 0; i < nfiles; i++) {
        json_decref(files[i].cases);
        kbit_st_close(files[i].st);
        free(files[i].path);
    }
    nfiles = 0;
}

/* ------------------------------------------------------------------ */
/* For the ops */

void golden_fail(conf_golden *g, const char *cname, const char *what, const char *detail)
{
    g->tally->errors++;
    tap_diag("%s %s on %s: %s%s%s", g->file, cname, g->target, what, detail ? ": " : "",
             detail ? detail : "");
}

const kbit_st_tensor *golden_find(conf_golden *g, const char *cname, const char *role)
{
    char key[256];
    snprintf(key, sizeof key, "%s.%s", cname, role);
    return kbit_st_find(g->st, key);
}

const kbit_st_tensor *golden_role(conf_golden *g, const char *cname, const char *role)
{
    const kbit_st_tensor *t = golden_find(g, cname, role);
    if (t == NULL) {
        char key[256];
        snprintf(key, sizeof key, "%s.%s", cname, role);
        golden_fail(g, cname, "missing tensor", key);
    }
    return t;
}

/* Exact comparison of n integers of `size` bytes. */
static size_t cmp_int(const void *got, const void *want, size_t n, size_t size, const char *what)
{
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++)
        if (memcmp((const char *)got + i * size, (const char *)want + i * size, size) != 0 &&
            bad++ == 0)
            first = i;
    if (bad)
        tap_diag("%s: %zu of %zu elements differ; first at [%zu]", what, bad, n, first);
    return bad;
}

void golden_expect_host(conf_golden *g, const char *cname, const char *what, const void *got,
                        const kbit_st_tensor *want)
{
    if (!want->dtype_known) {
        golden_fail(g, cname, "unexpected dtype of", want->name);
        return;
    }
    char label[512];
    snprintf(label, sizeof label, "%s %s (%s) on %s", g->file, want->name, what, g->target);
    size_t n = (size_t)want->numel;
    switch (want->dtype) {
    case KBIT_F32: case KBIT_F16: case KBIT_BF16: case KBIT_U8:
        g->tally->mismatches += tap_cmp_dtype((int)want->dtype, got, want->data, n, label);
        break;
    default:
        g->tally->mismatches += cmp_int(got, want->data, n, want->elem_size, label);
        break;
    }
    g->tally->elements += n;
}

void golden_expect_dev(conf_golden *g, const char *cname, const char *what, const void *dev_ptr,
                       const kbit_st_tensor *want)
{
    void *host = conf_xmalloc((size_t)want->nbytes);
    dev_download(g->dev, host, dev_ptr, (size_t)want->nbytes);
    golden_expect_host(g, cname, what, host, want);
    free(host);
}

void *golden_upload(conf_golden *g, const kbit_st_tensor *t)
{
    return dev_upload(g->dev, t->data, (size_t)t->nbytes);
}

int golden_status(conf_golden *g, const char *cname, kbit_status st, const char *call)
{
    if (st == KBIT_OK)
        return 1;
    char detail[700];
    snprintf(detail, sizeof detail, "%s (%s)", kbit_strerror(st), kbit_last_error());
    golden_fail(g, cname, call, detail);
    return 0;
}

int golden_f32_scalar(conf_golden *g, const char *cname, const char *role, float *out)
{
    const kbit_st_tensor *t = golden_role(g, cname, role);
    if (!t)
        return 0;
    if (t->dtype != KBIT_F32 || t->numel != 1) {
        golden_fail(g, cname, "not an F32[1] scalar", role);
        return 0;
    }
    memcpy(out, t->data, 4);
    return 1;
}

int golden_map(conf_golden *g, const char *cname, const char *r, kbit_map_kind kind,
               float code[256])
{
    const kbit_st_tensor *t = golden_role(g, cname, r);
    if (!t)
        return 0;
    if (t->dtype != KBIT_F32 || t->numel != 256) {
        golden_fail(g, cname, "map is not F32[256]", r);
        return 0;
    }
    memcpy(code, t->data, 1024);
    char label[512];
    snprintf(label, sizeof label, "%s %s vs kbit_dynamic_map", g->file, t->name);
    const float *mine = kbit_dynamic_map(kind);
    if (mine == NULL) {
        golden_fail(g, cname, "kbit_dynamic_map returned NULL", NULL);
        return 0;
    }
    g->tally->mismatches += tap_cmp_f32(mine, code, 256, label);
    g->tally->elements += 256;
    return 1;
}


const kbit_dtype golden_out_dtypes[3] = { KBIT_F32, KBIT_F16, KBIT_BF16 };
const char *const golden_dq_roles[3] = { "dq_f32", "dq_f16", "dq_bf16" };

int golden_param_int(json_t *params, const char *key, int64_t *out)
{
    json_t *v = json_object_get(params, key);
    if (!json_is_integer(v))
        return 0;
    *out = json_integer_value(v);
    return 1;
}

int golden_param_quant_type(json_t *params, kbit_quant_type *out)
{
    const char *s = json_string_value(json_object_get(params, "quant_type"));
    if (s && strcmp(s, "nf4") == 0)
        *out = KBIT_NF4;
    else if (s && strcmp(s, "fp4") == 0)
        *out = KBIT_FP4;
    else
        return 0;
    return 1;
}

int golden_param_shape(json_t *params, int *ndim, int64_t shape[KBIT_MAX_DIMS])
{
    json_t *a = json_object_get(params, "shape");
    if (!json_is_array(a) || json_array_size(a) > KBIT_MAX_DIMS)
        return 0;
    *ndim = (int)json_array_size(a);
    for (int i = 0; i < *ndim; i++) {
        json_t *v = json_array_get(a, (size_t)i);
        if (!json_is_integer(v))
            return 0;
        shape[i] = json_integer_value(v);
    }
    return 1;
}

int golden_param_dtype(json_t *params, const char *key, kbit_dtype *out)
{
    const char *s = json_string_value(json_object_get(params, key));
    if (s && strcmp(s, "f32") == 0)
        *out = KBIT_F32;
    else if (s && strcmp(s, "f16") == 0)
        *out = KBIT_F16;
    else if (s && strcmp(s, "bf16") == 0)
        *out = KBIT_BF16;
    else
        return 0;
    return 1;
}
