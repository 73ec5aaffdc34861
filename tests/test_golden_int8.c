/* tests/test_golden_int8.c - the LLM.int8() golden vectors (int8.safetensors,
 * numerics 4 / determinism 3.1) bit for bit on every target (CPU variants x
 * 1 and 2 threads, plugin drivers).
 *
 * Cases come from the file's __metadata__ "cases" list. Per op:
 *  - int8_vectorwise_quant: CA, SCA and the outlier column list; cases with
 *    threshold 0 also go through kbit_int8_quantize_weight (Int8Params),
 *    and the weight is dequantized and compared with the formula of
 *    numerics 4.2 written out here;
 *  - int8_linear_matmul: the int32 product;
 *  - int8_mm_dequant: the output in its dtype, with and without bias;
 *  - int8_linear_forward: every intermediate the file gives (CB/SCB from W,
 *    CA/SCA/outlier_cols from X, acc, y_int8) and the forward's output.
 * One TAP line per (op, target). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "checkpoint/safetensors.h"
#include "tap.h"
#include "testutil.h"

typedef struct run {
    kbit_st_file *st;
    kbit_device *dev;
    const char *target;
    int cases;
    size_t elements, mismatches;
    int errors;
} run;

static void fail(run *r, const char *cname, const char *what)
{
    r->errors++;
    tap_diag("%s on %s: %s (%s)", cname, r->target, what, kbit_last_error());
}

static const kbit_st_tensor *role(run *r, const char *cname, const char *name)
{
    char key[256];
    snprintf(key, sizeof key, "%s.%s", cname, name);
    return kbit_st_find(r->st, key);
}

static const kbit_st_tensor *need(run *r, const char *cname, const char *name)
{
    const kbit_st_tensor *t = role(r, cname, name);
    if (t == NULL) {
        r->errors++;
        tap_diag("%s: missing tensor %s", cname, name);
    }
    return t;
}

/* Exact comparison of integers (n elements of size bytes). */
static size_t cmp_int(const void *got, const void *want, size_t n, size_t size, const char *what)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        if (memcmp((const char *)got + i * size, (const char *)want + i * size, size) != 0) {
            if (bad++ == 0)
                tap_diag("%s: first mismatch at %zu", what, i);
        }
    return bad;
}

/* Compare host bytes with a tensor of the file (any dtype it uses). */
static void expect(run *r, const char *cname, const void *got, const kbit_st_tensor *want)
{
    char what[400];
    snprintf(what, sizeof what, "%s on %s", want->name, r->target);
    size_t n = (size_t)want->numel, bad;
    switch (want->dtype) {
    case KBIT_F32: case KBIT_F16: case KBIT_BF16:
        bad = tap_cmp_dtype((int)want->dtype, got, want->data, n, what);
        break;
    default:
        bad = cmp_int(got, want->data, n, want->elem_size, what);
        break;
    }
    (void)cname;
    r->mismatches += bad;
    r->elements += n;
}

/* Download nbytes of a device buffer and compare. */
static void expect_dev(run *r, const char *cname, const void *dptr, const kbit_st_tensor *want)
{
    void *host = malloc(want->nbytes + 1);
    if (host == NULL)
        tap_bail("out of memory");
    dev_download(r->dev, host, dptr, want->nbytes);
    expect(r, cname, host, want);
    free(host);
}

static void *up(run *r, const kbit_st_tensor *t)
{
    return dev_upload(r->dev, t->data, t->nbytes);
}

static void *scratch(run *r, size_t bytes)
{
    return dev_alloc_fill(r->dev, bytes ? bytes : 1, 0x5a);
}

static int64_t pint(json_t *p, const char *key)
{
    json_t *v = json_object_get(p, key);
    return json_is_integer(v) ? json_integer_value(v) : -1;
}

static float pfloat(json_t *p, const char *key)
{
    return (float)json_number_value(json_object_get(p, key));
}

static int pdtype(json_t *p, const char *key, kbit_dtype *d)
{
    const char *s = json_string_value(json_object_get(p, key));
    if (s == NULL)
        return 0;
    *d = strcmp(s, "f32") == 0 ? KBIT_F32 : strcmp(s, "f16") == 0 ? KBIT_F16 : KBIT_BF16;
    return 1;
}

/* Outlier columns: the count and the list (on the device, capacity cols). */
static void expect_outliers(run *r, const char *cname, const int64_t *oc_dev, int64_t count,
                            const kbit_st_tensor *want)
{
    if (count != want->numel) {
        r->errors++;
        tap_diag("%s on %s: %lld outlier columns, want %lld", cname, r->target,
                 (long long)count, (long long)want->numel);
        return;
    }
    expect_dev(r, cname, oc_dev, want);
}

/* The weight dequantization of numerics 4.2 written out, against the API. */
static void check_dequant_weight(run *r, const char *cname, const void *CB_dev,
                                 const void *SCB_dev, int64_t rows, int64_t cols)
{
    size_t n = (size_t)(rows * cols);
    int8_t *cb = malloc(n + 1);
    float *scb = malloc((size_t)rows * 4 + 4), *w = malloc(n * 4 + 4);
    void *want = malloc(n * 4 + 4), *got = malloc(n * 4 + 4);
    if (!cb || !scb || !w || !want || !got)
        tap_bail("out of memory");
    dev_download(r->dev, cb, CB_dev, n);
    dev_download(r->dev, scb, SCB_dev, (size_t)rows * 4);
    for (size_t i = 0; i < n; i++)
        w[i] = ((float)cb[i] * scb[i / (size_t)cols]) * f32_from_bits(0x3c010204u);
    static const kbit_dtype dts[3] = { KBIT_F32, KBIT_F16, KBIT_BF16 };
    for (int d = 0; d < 3; d++) {
        void *out = scratch(r, n * 4);
        f32_to_dtype(dts[d], w, want, n);
        if (kbit_int8_dequantize_weight(r->dev, CB_dev, SCB_dev, rows, cols, dts[d], out) !=
            KBIT_OK) {
            fail(r, cname, "kbit_int8_dequantize_weight");
        } else {
            dev_download(r->dev, got, out, n * kbit_dtype_size(dts[d]));
            char what[300];
            snprintf(what, sizeof what, "%s dequantize_weight %s on %s", cname,
                     dtype_str(dts[d]), r->target);
            r->mismatches += tap_cmp_dtype((int)dts[d], got, want, n, what);
            r->elements += n;
        }
        dev_free(r->dev, out);
    }
    free(cb), free(scb), free(w), free(want), free(got);
}

static void op_vq(run *r, const char *cname, json_t *p)
{
    int64_t rows = pint(p, "rows"), cols = pint(p, "cols");
    float thr = pfloat(p, "threshold");
    const kbit_st_tensor *A = need(r, cname, "A"), *CA = need(r, cname, "CA"),
                         *SCA = need(r, cname, "SCA"), *oc = role(r, cname, "outlier_cols");
    if (!A || !CA || !SCA || (thr > 0 && !oc))
        return;
    void *a = up(r, A), *ca = scratch(r, CA->nbytes), *sca = scratch(r, SCA->nbytes);
    int64_t *ocd = scratch(r, (size_t)cols * 8);
    int64_t count = -1;
    if (kbit_int8_vectorwise_quant(r->dev, KBIT_F16, a, rows, cols, thr, ca, sca, ocd, &count) !=
        KBIT_OK) {
        fail(r, cname, "kbit_int8_vectorwise_quant");
    } else {
        expect_dev(r, cname, ca, CA);
        expect_dev(r, cname, sca, SCA);
        if (thr > 0)
            expect_outliers(r, cname, ocd, count, oc);
        else if (count != 0)
            fail(r, cname, "threshold 0 gave outlier columns");
    }
    if (thr == 0) { /* Int8Params: the same numbers through the weight API */
        void *cb = scratch(r, CA->nbytes), *scb = scratch(r, SCA->nbytes);
        if (kbit_int8_quantize_weight(r->dev, KBIT_F16, a, rows, cols, cb, scb) != KBIT_OK) {
            fail(r, cname, "kbit_int8_quantize_weight");
        } else {
            expect_dev(r, cname, cb, CA);
            expect_dev(r, cname, scb, SCA);
            check_dequant_weight(r, cname, cb, scb, rows, cols);
        }
        dev_free(r->dev, cb), dev_free(r->dev, scb);
    }
    dev_free(r->dev, a), dev_free(r->dev, ca), dev_free(r->dev, sca), dev_free(r->dev, ocd);
}

static void op_mm(run *r, const char *cname, json_t *p)
{
    int64_t M = pint(p, "M"), N = pint(p, "N"), K = pint(p, "K");
    const kbit_st_tensor *A = need(r, cname, "A"), *B = need(r, cname, "B"),
                         *out = need(r, cname, "out");
    if (!A || !B || !out)
        return;
    void *a = up(r, A), *b = up(r, B), *o = scratch(r, out->nbytes);
    if (kbit_int8_matmul(r->dev, a, b, M, N, K, o) != KBIT_OK)
        fail(r, cname, "kbit_int8_matmul");
    else
        expect_dev(r, cname, o, out);
    dev_free(r->dev, a), dev_free(r->dev, b), dev_free(r->dev, o);
}

static void op_mmdq(run *r, const char *cname, json_t *p)
{
    int64_t M = pint(p, "M"), N = pint(p, "N");
    kbit_dtype od = KBIT_F32, bd = KBIT_F32;
    if (!pdtype(p, "out_dtype", &od)) {
        fail(r, cname, "bad out_dtype");
        return;
    }
    int has_bias = pdtype(p, "bias_dtype", &bd);
    const kbit_st_tensor *acc = need(r, cname, "acc"), *SCA = need(r, cname, "SCA"),
                         *SCB = need(r, cname, "SCB"), *out = need(r, cname, "out"),
                         *bias = has_bias ? need(r, cname, "bias") : NULL;
    if (!acc || !SCA || !SCB || !out || (has_bias && !bias))
        return;
    void *a = up(r, acc), *sa = up(r, SCA), *sb = up(r, SCB), *o = scratch(r, out->nbytes);
    void *bi = has_bias ? up(r, bias) : NULL;
    if (kbit_int8_mm_dequant(r->dev, a, sa, sb, M, N, bi, bd, od, o) != KBIT_OK)
        fail(r, cname, "kbit_int8_mm_dequant");
    else
        expect_dev(r, cname, o, out);
    dev_free(r->dev, a), dev_free(r->dev, sa), dev_free(r->dev, sb), dev_free(r->dev, o);
    if (bi)
        dev_free(r->dev, bi);
}

static void op_forward(run *r, const char *cname, json_t *p)
{
    int64_t M = pint(p, "M"), K = pint(p, "K"), N = pint(p, "N");
    float thr = pfloat(p, "threshold");
    kbit_dtype dt = KBIT_F32;
    pdtype(p, "dtype", &dt);
    int has_bias = json_is_true(json_object_get(p, "has_bias"));
    const kbit_st_tensor *X = need(r, cname, "X"), *W = need(r, cname, "W"),
                         *CB = need(r, cname, "CB"), *SCB = need(r, cname, "SCB"),
                         *CA = need(r, cname, "CA"), *SCA = need(r, cname, "SCA"),
                         *acc = need(r, cname, "acc"), *y8 = need(r, cname, "y_int8"),
                         *out = need(r, cname, "out"),
                         *oc = thr > 0 ? need(r, cname, "outlier_cols") : NULL,
                         *bias = has_bias ? need(r, cname, "bias") : NULL;
    if (!X || !W || !CB || !SCB || !CA || !SCA || !acc || !y8 || !out || (thr > 0 && !oc) ||
        (has_bias && !bias))
        return;
    void *x = up(r, X), *w = up(r, W), *bi = has_bias ? up(r, bias) : NULL;
    void *cb = scratch(r, CB->nbytes), *scb = scratch(r, SCB->nbytes);
    void *ca = scratch(r, CA->nbytes), *sca = scratch(r, SCA->nbytes);
    void *ac = scratch(r, acc->nbytes), *y = scratch(r, out->nbytes);
    int64_t *ocd = scratch(r, (size_t)K * 8);
    int64_t count = -1;
    /* the stages one by one, against the file's intermediates */
    if (kbit_int8_quantize_weight(r->dev, KBIT_F16, w, N, K, cb, scb) != KBIT_OK) {
        fail(r, cname, "kbit_int8_quantize_weight");
        goto done;
    }
    expect_dev(r, cname, cb, CB);
    expect_dev(r, cname, scb, SCB);
    if (kbit_int8_vectorwise_quant(r->dev, dt, x, M, K, thr, ca, sca, ocd, &count) != KBIT_OK) {
        fail(r, cname, "kbit_int8_vectorwise_quant");
        goto done;
    }
    expect_dev(r, cname, ca, CA);
    expect_dev(r, cname, sca, SCA);
    if (thr > 0)
        expect_outliers(r, cname, ocd, count, oc);
    if (kbit_int8_matmul(r->dev, ca, cb, M, N, K, ac) != KBIT_OK ||
        kbit_int8_mm_dequant(r->dev, ac, sca, scb, M, N, bi, dt, dt, y) != KBIT_OK) {
        fail(r, cname, "kbit_int8_matmul / kbit_int8_mm_dequant");
        goto done;
    }
    expect_dev(r, cname, ac, acc);
    expect_dev(r, cname, y, y8);
    /* the whole forward */
    if (kbit_int8_linear_forward(r->dev, dt, x, M, K, cb, scb, N, thr, bi, y) != KBIT_OK)
        fail(r, cname, "kbit_int8_linear_forward");
    else
        expect_dev(r, cname, y, out);
done:
    dev_free(r->dev, x), dev_free(r->dev, w), dev_free(r->dev, cb), dev_free(r->dev, scb);
    dev_free(r->dev, ca), dev_free(r->dev, sca), dev_free(r->dev, ac), dev_free(r->dev, y);
    dev_free(r->dev, ocd);
    if (bi)
        dev_free(r->dev, bi);
}

typedef void (*op_fn)(run *, const char *, json_t *);
static const struct {
    const char *op;
    op_fn fn;
} ops[] = {
    { "int8_vectorwise_quant", op_vq },
    { "int8_linear_matmul", op_mm },
    { "int8_mm_dequant", op_mmdq },
    { "int8_linear_forward", op_forward },
};

int main(int argc, char **argv)
{
    char *path = argc > 1 ? str_printf("%s", argv[1])
                          : str_printf("%s/int8.safetensors", vectors_dir());
    kbit_st_file *st = NULL;
    if (!tap_ok(kbit_st_open(path, &st) == KBIT_OK && kbit_st_load_all(st) == KBIT_OK,
                "%s: read and validated", path))
        tap_bail("%s", kbit_last_error());
    json_error_t jerr;
    const char *text = kbit_st_metadata(st, "cases");
    json_t *cases = text ? json_loads(text, 0, &jerr) : NULL;
    if (!tap_ok(json_is_array(cases) && json_array_size(cases) > 0, "a non-empty cases list"))
        tap_bail("no cases");

    target targets[MAX_TARGETS];
    int ntargets = targets_open(targets, MAX_TARGETS);
    for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
        for (int t = 0; t < ntargets; t++) {
            char what[200];
            snprintf(what, sizeof what, "%s on %.96s", ops[o].op, targets[t].label);
            if (targets[t].dev == NULL) {
                tap_skip(what, "%s", targets[t].skip);
                continue;
            }
            run r = { st, targets[t].dev, targets[t].label, 0, 0, 0, 0 };
            size_t i;
            json_t *c;
            json_array_foreach(cases, i, c) {
                const char *op = json_string_value(json_object_get(c, "op"));
                const char *cname = json_string_value(json_object_get(c, "name"));
                json_t *params = json_object_get(c, "params");
                if (op == NULL || cname == NULL || strcmp(op, ops[o].op) != 0)
                    continue;
                r.cases++;
                ops[o].fn(&r, cname, params);
            }
            tap_ok(r.cases > 0 && r.elements > 0 && r.mismatches == 0 && r.errors == 0,
                   "%s: %d cases, %zu elements bit-exact (%zu mismatches, %d errors)", what,
                   r.cases, r.elements, r.mismatches, r.errors);
        }
    }
    targets_close(targets, ntargets);
    json_decref(cases);
    kbit_st_close(st);
    free(path);
    return tap_done();
}
