/* tests/test_golden.c - the shared golden vectors, bit for bit, on every
 * target (CPU variants x threads, plugin drivers, CUDA).
 *
 * Every *.safetensors file of the vectors directory (or the files named on
 * the command line) is read with the project's reader; the cases come from
 * its __metadata__ "cases" list, never from names in this file, so further
 * files of the same layout can be dropped in. One TAP line per (file, op,
 * target) with the number of cases and elements compared.
 *
 * enc4/enc8 cases give already-normalised values x'. They are driven through
 * the public quantize functions so that the normalisation is exact: each
 * value v sits in its own block whose absmax is exactly 1.0 (so 1/absmax = 1
 * and x' = v * 1 = v), NaN included (NaN does not enter absmax). Two more
 * exact routes:
 *  - 4-bit, |x'| just above 1 (1 + 2^-23): a block holding only +-A with A in
 *    [2^126, 2^128) chosen so that A * (1/A) rounds to exactly x' (the
 *    reciprocal is a denormal there, numerics 1.4);
 *  - 8-bit, 1 < |x'| <= 2^64: enc8 is invariant under scaling the value and
 *    the map by the same power of two (midpoints (c[i]+c[i+1])*0.5 scale
 *    exactly while nothing underflows), so v = x' * 2^-k is encoded with the
 *    custom map code * 2^-k, k = ceil(log2 |x'|); the scaled map is checked
 *    to be exact first.
 * Values that no input can produce as x' (+-inf, |x'| far above 1) never
 * reach an encoder through the API; they are counted in a diagnostic and not
 * compared. */
#include "config.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "checkpoint/safetensors.h"
#include "tap.h"
#include "testutil.h"

typedef struct stats {
    int cases;
    size_t elements;
    size_t mismatches;
    int errors;
} stats;

typedef struct golden {
    const char *file;        /* base name, for messages */
    kbit_st_file *st;
    const char *target;      /* label of the target being run */
    kbit_device *dev;
    stats *s;
} golden;

/* ------------------------------------------------------------------ */
/* Small helpers */

static void fail(golden *g, const char *cname, const char *fmt, const char *detail)
{
    g->s->errors++;
    tap_diag("%s %s on %s: %s%s%s", g->file, cname, g->target, fmt, detail ? ": " : "",
             detail ? detail : "");
}

static const kbit_st_tensor *role(golden *g, const char *cname, const char *r)
{
    char key[256];
    snprintf(key, sizeof key, "%s.%s", cname, r);
    const kbit_st_tensor *t = kbit_st_find(g->st, key);
    if (t == NULL)
        fail(g, cname, "missing tensor", key);
    return t;
}

static int cmp_dtype_of(const kbit_st_tensor *t)
{
    if (!t->dtype_known)
        return -1;
    switch (t->dtype) {
    case KBIT_F32: return 0;
    case KBIT_F16: return 1;
    case KBIT_BF16: return 2;
    case KBIT_U8: return 3;
    default: return -1;
    }
}

/* Compare host bytes with a role tensor. */
static void expect_host(golden *g, const char *cname, const char *what, const void *got,
                        const kbit_st_tensor *want)
{
    int d = cmp_dtype_of(want);
    if (d < 0) {
        fail(g, cname, "unexpected dtype of", want->name);
        return;
    }
    char label[512];
    snprintf(label, sizeof label, "%s %s (%s) on %s", g->file, want->name, what, g->target);
    g->s->mismatches += tap_cmp_dtype(d, got, want->data, (size_t)want->numel, label);
    g->s->elements += (size_t)want->numel;
}

/* Download a device buffer and compare it with a role tensor. */
static void expect_dev(golden *g, const char *cname, const char *what, const void *dev_ptr,
                       const kbit_st_tensor *want)
{
    void *host = malloc(want->nbytes ? want->nbytes : 1);
    if (host == NULL)
        tap_bail("out of memory");
    dev_download(g->dev, host, dev_ptr, want->nbytes);
    expect_host(g, cname, what, host, want);
    free(host);
}

static void *upload(golden *g, const kbit_st_tensor *t)
{
    return dev_upload(g->dev, t->data, t->nbytes);
}

static int check_status(golden *g, const char *cname, kbit_status st, const char *call)
{
    if (st == KBIT_OK)
        return 1;
    char detail[700];
    snprintf(detail, sizeof detail, "%s (%s)", kbit_strerror(st), kbit_last_error());
    fail(g, cname, call, detail);
    return 0;
}

static int param_int(json_t *params, const char *key, int64_t *out)
{
    json_t *v = json_object_get(params, key);
    if (!json_is_integer(v))
        return 0;
    *out = json_integer_value(v);
    return 1;
}

static int param_quant_type(json_t *params, kbit_quant_type *out)
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

static int param_shape(json_t *params, int *ndim, int64_t shape[KBIT_MAX_DIMS])
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

static const kbit_dtype out_dtypes[3] = { KBIT_F32, KBIT_F16, KBIT_BF16 };
static const char *dq_roles[3] = { "dq_f32", "dq_f16", "dq_bf16" };

/* Dequantize 4-bit (packed, absmax on the device) to every dtype and compare. */
static void check_dq4(golden *g, const char *cname, const char *what, kbit_quant_type type,
                      const void *packed_d, const void *absmax_d, int64_t n, int blocksize)
{
    for (int k = 0; k < 3; k++) {
        const kbit_st_tensor *want = role(g, cname, dq_roles[k]);
        if (!want)
            continue;
        void *out = dev_alloc_fill(g->dev, want->nbytes, 0xa5);
        kbit_status st = kbit_dequantize_4bit(g->dev, type, packed_d, absmax_d, n, blocksize,
                                              out_dtypes[k], out);
        if (check_status(g, cname, st, "kbit_dequantize_4bit"))
            expect_dev(g, cname, what, out, want);
        dev_free(g->dev, out);
    }
}

/* ------------------------------------------------------------------ */
/* q4 */

static void op_quantize_4bit(golden *g, const char *cname, json_t *params)
{
    kbit_quant_type type;
    int64_t n, bs;
    int ndim;
    int64_t shape[KBIT_MAX_DIMS];
    if (!param_quant_type(params, &type) || !param_int(params, "n", &n) ||
        !param_int(params, "blocksize", &bs) || !param_shape(params, &ndim, shape)) {
        fail(g, cname, "bad params", NULL);
        return;
    }
    const kbit_st_tensor *x = role(g, cname, "x"), *packed = role(g, cname, "packed"),
                         *absmax = role(g, cname, "absmax");
    if (!x || !packed || !absmax)
        return;
    if (!x->dtype_known || x->numel != n) {
        fail(g, cname, "x does not match params", NULL);
        return;
    }
    void *x_d = upload(g, x);
    void *p_d = dev_alloc_fill(g->dev, packed->nbytes, 0xa5);
    void *a_d = dev_alloc_fill(g->dev, absmax->nbytes, 0xa5);
    kbit_status st = kbit_quantize_4bit(g->dev, type, x->dtype, x_d, n, (int)bs, p_d, a_d);
    if (check_status(g, cname, st, "kbit_quantize_4bit")) {
        expect_dev(g, cname, "kbit_quantize_4bit", p_d, packed);
        expect_dev(g, cname, "kbit_quantize_4bit", a_d, absmax);
        check_dq4(g, cname, "kbit_dequantize_4bit", type, p_d, a_d, n, (int)bs);
    }

    /* the same through a (plain) quant state */
    kbit_quant_state qs;
    st = kbit_quant_state_init(&qs, type, x->dtype, ndim, shape, (int)bs, 0);
    if (check_status(g, cname, st, "kbit_quant_state_init")) {
        void *p2 = dev_alloc_fill(g->dev, packed->nbytes, 0x5a);
        qs.absmax = dev_alloc_fill(g->dev, absmax->nbytes, 0x5a);
        st = kbit_quantize_4bit_state(g->dev, x_d, p2, &qs);
        if (check_status(g, cname, st, "kbit_quantize_4bit_state")) {
            expect_dev(g, cname, "kbit_quantize_4bit_state", p2, packed);
            expect_dev(g, cname, "kbit_quantize_4bit_state", qs.absmax, absmax);
            const kbit_st_tensor *want = role(g, cname, "dq_f32");
            if (want) {
                void *out = dev_alloc_fill(g->dev, want->nbytes, 0x5a);
                st = kbit_dequantize_4bit_state(g->dev, p2, &qs, KBIT_F32, out);
                if (check_status(g, cname, st, "kbit_dequantize_4bit_state"))
                    expect_dev(g, cname, "kbit_dequantize_4bit_state", out, want);
                dev_free(g->dev, out);
            }
        }
        dev_free(g->dev, p2);
        dev_free(g->dev, qs.absmax);
    }
    dev_free(g->dev, x_d);
    dev_free(g->dev, p_d);
    dev_free(g->dev, a_d);
}

static void op_dequantize_4bit(golden *g, const char *cname, json_t *params)
{
    kbit_quant_type type;
    int64_t n, bs;
    if (!param_quant_type(params, &type) || !param_int(params, "n", &n) ||
        !param_int(params, "blocksize", &bs)) {
        fail(g, cname, "bad params", NULL);
        return;
    }
    const kbit_st_tensor *packed = role(g, cname, "packed"), *absmax = role(g, cname, "absmax");
    if (!packed || !absmax)
        return;
    void *p_d = upload(g, packed), *a_d = upload(g, absmax);
    check_dq4(g, cname, "kbit_dequantize_4bit", type, p_d, a_d, n, (int)bs);
    dev_free(g->dev, p_d);
    dev_free(g->dev, a_d);
}

/* An input block (v, A) whose normalisation gives exactly x' = t; 0 if none. */
typedef struct exact_in {
    int reachable;
    float absmax_elem; /* element 0 of the block: sets absmax */
    float value;       /* element 1: the one whose code is read */
} exact_in;

static exact_in normalise_4bit(float t)
{
    exact_in e = { 1, 1.0f, t };
    if (isnan(t) || fabsf(t) <= 1.0f)
        return e;
    e.reachable = 0;
    if (!(fabsf(t) <= 1.0f + 0x1p-21f))
        return e; /* only a few ulps above 1 can come out of a rounded reciprocal */
    for (uint32_t b = 0x7e800000u; b < 0x7f800000u; b++) {
        volatile float a = f32_from_bits(b);
        volatile float r = 1.0f / a;
        volatile float x = a * r;
        if (x == fabsf(t)) {
            e.reachable = 1;
            e.absmax_elem = a;
            e.value = t < 0 ? -a : a;
            return e;
        }
    }
    return e;
}

static void op_enc4(golden *g, const char *cname, json_t *params)
{
    const kbit_st_tensor *x = role(g, cname, "x");
    const kbit_st_tensor *want[2] = { role(g, cname, "q_nf4"), role(g, cname, "q_fp4") };
    if (!x || !want[0] || !want[1])
        return;
    if (x->dtype != KBIT_F32 || want[0]->numel != x->numel || want[1]->numel != x->numel) {
        fail(g, cname, "roles do not match", NULL);
        return;
    }
    const int B = 32;
    size_t count = (size_t)x->numel;
    float *blocks = calloc(count * B + 1, sizeof *blocks);
    size_t *index = malloc((count + 1) * sizeof *index); /* reachable value -> block */
    if (!blocks || !index)
        tap_bail("out of memory");
    size_t reach = 0, unreachable = 0;
    float example = 0.0f;
    for (size_t i = 0; i < count; i++) {
        exact_in e = normalise_4bit(dtype_load(KBIT_F32, x->data, i));
        if (!e.reachable) {
            if (unreachable++ == 0)
                example = dtype_load(KBIT_F32, x->data, i);
            continue;
        }
        blocks[reach * B] = e.absmax_elem;
        blocks[reach * B + 1] = e.value;
        index[reach++] = i;
    }
    if (unreachable && strcmp(g->target, "cpu/scalar/t1") == 0)
        tap_diag("%s %s: %zu of %zu values (e.g. %g) cannot be the result of x * (1/absmax) "
                 "for any input and were not compared", g->file, cname, unreachable, count,
                 (double)example);
    int64_t n = (int64_t)(reach * B);
    void *x_d = dev_upload(g->dev, blocks, (size_t)n * 4);
    void *p_d = dev_alloc_fill(g->dev, (size_t)n / 2, 0xa5);
    void *a_d = dev_alloc_fill(g->dev, (size_t)(reach ? reach : 1) * 4, 0xa5);
    uint8_t *packed = malloc((size_t)n / 2 + 1), *got = malloc(reach + 1), *exp = malloc(reach + 1);
    if (!packed || !got || !exp)
        tap_bail("out of memory");
    static const kbit_quant_type types[2] = { KBIT_NF4, KBIT_FP4 };
    for (int k = 0; k < 2; k++) {
        kbit_status st = kbit_quantize_4bit(g->dev, types[k], KBIT_F32, x_d, n, B, p_d, a_d);
        if (!check_status(g, cname, st, "kbit_quantize_4bit"))
            continue;
        dev_download(g->dev, packed, p_d, (size_t)n / 2);
        for (size_t j = 0; j < reach; j++) {
            got[j] = packed[j * B / 2] & 0x0f; /* element 1 = low nibble of byte 0 */
            exp[j] = ((const uint8_t *)want[k]->data)[index[j]];
        }
        char label[512];
        snprintf(label, sizeof label, "%s %s (block-driven) on %s", g->file, want[k]->name,
                 g->target);
        g->s->mismatches += tap_cmp_u8(got, exp, reach, label);
        g->s->elements += reach;
    }
    free(packed);
    free(got);
    free(exp);
    free(blocks);
    free(index);
    dev_free(g->dev, x_d);
    dev_free(g->dev, p_d);
    dev_free(g->dev, a_d);
}

/* ------------------------------------------------------------------ */
/* q8 */

static int map_kind(json_t *params, kbit_map_kind *kind)
{
    const char *s = json_string_value(json_object_get(params, "map"));
    if (s && strcmp(s, "signed") == 0)
        *kind = KBIT_MAP_SIGNED;
    else if (s && strcmp(s, "unsigned") == 0)
        *kind = KBIT_MAP_UNSIGNED;
    else
        return 0;
    return 1;
}

/* The stored map as host floats; also checks it is kbit's map of that kind. */
static int load_code(golden *g, const char *cname, const char *r, kbit_map_kind kind,
                     float code[256])
{
    const kbit_st_tensor *t = role(g, cname, r);
    if (!t)
        return 0;
    if (t->dtype != KBIT_F32 || t->numel != 256) {
        fail(g, cname, "map is not F32[256]", r);
        return 0;
    }
    memcpy(code, t->data, 1024);
    char label[512];
    snprintf(label, sizeof label, "%s %s vs kbit_dynamic_map", g->file, t->name);
    const float *mine = kbit_dynamic_map(kind);
    if (mine == NULL) {
        fail(g, cname, "kbit_dynamic_map returned NULL", NULL);
        return 0;
    }
    g->s->mismatches += tap_cmp_f32(mine, code, 256, label);
    g->s->elements += 256;
    return 1;
}

static void check_dq8(golden *g, const char *cname, const void *q_d, const void *a_d,
                      int64_t n, int bs, const float *code)
{
    for (int k = 0; k < 3; k++) {
        const kbit_st_tensor *want = role(g, cname, dq_roles[k]);
        if (!want)
            continue;
        void *out = dev_alloc_fill(g->dev, want->nbytes, 0xa5);
        kbit_status st = kbit_dequantize_8bit(g->dev, q_d, a_d, n, bs, code, out_dtypes[k], out);
        if (check_status(g, cname, st, "kbit_dequantize_8bit"))
            expect_dev(g, cname, "kbit_dequantize_8bit", out, want);
        dev_free(g->dev, out);
    }
}

static void op_quantize_blockwise(golden *g, const char *cname, json_t *params)
{
    kbit_map_kind kind;
    int64_t n, bs;
    float code[256];
    if (!map_kind(params, &kind) || !param_int(params, "n", &n) ||
        !param_int(params, "blocksize", &bs)) {
        fail(g, cname, "bad params", NULL);
        return;
    }
    const kbit_st_tensor *x = role(g, cname, "x"), *q = role(g, cname, "q"),
                         *absmax = role(g, cname, "absmax");
    if (!x || !q || !absmax || !load_code(g, cname, "code", kind, code))
        return;
    void *x_d = upload(g, x);
    void *q_d = dev_alloc_fill(g->dev, q->nbytes, 0xa5);
    void *a_d = dev_alloc_fill(g->dev, absmax->nbytes, 0xa5);
    kbit_status st = kbit_quantize_8bit(g->dev, x->dtype, x_d, n, (int)bs, code, q_d, a_d);
    if (check_status(g, cname, st, "kbit_quantize_8bit")) {
        expect_dev(g, cname, "kbit_quantize_8bit", q_d, q);
        expect_dev(g, cname, "kbit_quantize_8bit", a_d, absmax);
        check_dq8(g, cname, q_d, a_d, n, (int)bs, code);
    }
    dev_free(g->dev, x_d);
    dev_free(g->dev, q_d);
    dev_free(g->dev, a_d);
}

static void op_dequantize_blockwise(golden *g, const char *cname, json_t *params)
{
    kbit_map_kind kind;
    int64_t n, bs;
    float code[256];
    if (!map_kind(params, &kind) || !param_int(params, "n", &n) ||
        !param_int(params, "blocksize", &bs)) {
        fail(g, cname, "bad params", NULL);
        return;
    }
    const kbit_st_tensor *q = role(g, cname, "q"), *absmax = role(g, cname, "absmax");
    if (!q || !absmax || !load_code(g, cname, "code", kind, code))
        return;
    void *q_d = upload(g, q), *a_d = upload(g, absmax);
    check_dq8(g, cname, q_d, a_d, n, (int)bs, code);
    dev_free(g->dev, q_d);
    dev_free(g->dev, a_d);
}

/* The smallest k >= 0 with |t| <= 2^k (k <= 64), or -1. */
static int enc8_scale(float t)
{
    if (isnan(t) || fabsf(t) <= 1.0f)
        return 0;
    for (int k = 1; k <= 64; k++)
        if (fabsf(t) <= ldexpf(1.0f, k))
            return k;
    return -1;
}

/* code * 2^-k, if that scaling (and its midpoints) is exact. */
static int scaled_map(const float code[256], int k, float out[256])
{
    for (int i = 0; i < 256; i++) {
        out[i] = ldexpf(code[i], -k);
        if (ldexpf(out[i], k) != code[i])
            return 0;
    }
    for (int i = 0; i < 255; i++) {
        float m = (code[i] + code[i + 1]) * 0.5f, ms = (out[i] + out[i + 1]) * 0.5f;
        if (ldexpf(ms, k) != m)
            return 0;
    }
    return 1;
}

static void op_enc8(golden *g, const char *cname, json_t *params)
{
    kbit_map_kind kind;
    float code[256];
    if (!map_kind(params, &kind)) {
        fail(g, cname, "bad params", NULL);
        return;
    }
    const kbit_st_tensor *x = role(g, cname, "x"), *want = role(g, cname, "q");
    if (!x || !want || !load_code(g, cname, "code", kind, code))
        return;
    if (x->dtype != KBIT_F32 || want->numel != x->numel) {
        fail(g, cname, "roles do not match", NULL);
        return;
    }
    const int B = 64;
    size_t count = (size_t)x->numel, compared = 0, unreachable = 0;
    int *scale = malloc((count + 1) * sizeof *scale);
    float *blocks = malloc((count * B + 1) * sizeof *blocks);
    uint8_t *got = malloc(count + 1), *exp = malloc(count + 1), *q = malloc(count * B + 1);
    if (!scale || !blocks || !got || !exp || !q)
        tap_bail("out of memory");
    float example = 0.0f;
    for (size_t i = 0; i < count; i++) {
        scale[i] = enc8_scale(dtype_load(KBIT_F32, x->data, i));
        if (scale[i] < 0 && unreachable++ == 0)
            example = dtype_load(KBIT_F32, x->data, i);
    }
    /* one quantize call per scale k, with the map scaled by 2^-k */
    for (int k = 0; k <= 64; k++) {
        size_t m = 0;
        for (size_t i = 0; i < count; i++)
            if (scale[i] == k)
                m++;
        if (m == 0)
            continue;
        float map[256];
        if (!scaled_map(code, k, map)) {
            unreachable += m;
            continue;
        }
        size_t j = 0;
        for (size_t i = 0; i < count; i++) {
            if (scale[i] != k)
                continue;
            float *blk = &blocks[j * B];
            memset(blk, 0, B * sizeof *blk);
            blk[0] = 1.0f;
            blk[1] = ldexpf(dtype_load(KBIT_F32, x->data, i), -k);
            exp[compared + j] = ((const uint8_t *)want->data)[i];
            j++;
        }
        int64_t n = (int64_t)(m * B);
        void *x_d = dev_upload(g->dev, blocks, (size_t)n * 4);
        void *q_d = dev_alloc_fill(g->dev, (size_t)n, 0xa5);
        void *a_d = dev_alloc_fill(g->dev, m * 4, 0xa5);
        kbit_status st = kbit_quantize_8bit(g->dev, KBIT_F32, x_d, n, B, map, q_d, a_d);
        if (check_status(g, cname, st, "kbit_quantize_8bit")) {
            dev_download(g->dev, q, q_d, (size_t)n);
            for (size_t b = 0; b < m; b++)
                got[compared + b] = q[b * B + 1];
            compared += m;
        }
        dev_free(g->dev, x_d);
        dev_free(g->dev, q_d);
        dev_free(g->dev, a_d);
    }
    if (unreachable && strcmp(g->target, "cpu/scalar/t1") == 0)
        tap_diag("%s %s: %zu of %zu values (e.g. %g) cannot be the result of x * (1/absmax) "
                 "for any input and were not compared", g->file, cname, unreachable, count,
                 (double)example);
    char label[512];
    snprintf(label, sizeof label, "%s %s (block-driven) on %s", g->file, want->name, g->target);
    g->s->mismatches += tap_cmp_u8(got, exp, compared, label);
    g->s->elements += compared;
    free(scale);
    free(blocks);
    free(got);
    free(exp);
    free(q);
}

/* ------------------------------------------------------------------ */
/* nested */

static int load_f32_scalar(golden *g, const char *cname, const char *r, float *out)
{
    const kbit_st_tensor *t = role(g, cname, r);
    if (!t)
        return 0;
    if (t->dtype != KBIT_F32 || t->numel != 1) {
        fail(g, cname, "not an F32[1] scalar", r);
        return 0;
    }
    memcpy(out, t->data, 4);
    return 1;
}

/* Nested-quantize absmax (device, nblocks) and compare offset, qabsmax,
 * absmax2 and the reconstruction. Returns the reconstruction (device) or NULL. */
static void *nested_chain(golden *g, const char *cname, const void *absmax_d, int64_t nblocks)
{
    const kbit_st_tensor *qa = role(g, cname, "qabsmax"), *a2 = role(g, cname, "absmax2"),
                         *off = role(g, cname, "offset"), *rec = role(g, cname, "absmax_rec");
    float code2[256];
    if (!qa || !a2 || !off || !rec || !load_code(g, cname, "code2", KBIT_MAP_SIGNED, code2))
        return NULL;
    void *q_d = dev_alloc_fill(g->dev, qa->nbytes, 0xa5);
    void *a2_d = dev_alloc_fill(g->dev, a2->nbytes, 0xa5);
    void *rec_d = NULL;
    float offset = f32_from_bits(0x7fc0dead);
    kbit_status st = kbit_nested_quantize(g->dev, absmax_d, nblocks, q_d, a2_d, &offset);
    if (check_status(g, cname, st, "kbit_nested_quantize")) {
        expect_host(g, cname, "kbit_nested_quantize", &offset, off);
        expect_dev(g, cname, "kbit_nested_quantize", q_d, qa);
        expect_dev(g, cname, "kbit_nested_quantize", a2_d, a2);
        rec_d = dev_alloc_fill(g->dev, rec->nbytes, 0xa5);
        st = kbit_nested_dequantize(g->dev, q_d, a2_d, code2, offset, nblocks, rec_d);
        if (check_status(g, cname, st, "kbit_nested_dequantize")) {
            expect_dev(g, cname, "kbit_nested_dequantize", rec_d, rec);
        } else {
            dev_free(g->dev, rec_d);
            rec_d = NULL;
        }
    }
    dev_free(g->dev, q_d);
    dev_free(g->dev, a2_d);
    return rec_d;
}

static void op_nested_absmax(golden *g, const char *cname, json_t *params)
{
    int64_t nblocks;
    if (!param_int(params, "nblocks", &nblocks)) {
        fail(g, cname, "bad params", NULL);
        return;
    }
    const kbit_st_tensor *absmax = role(g, cname, "absmax");
    if (!absmax)
        return;
    void *a_d = upload(g, absmax);
    void *rec_d = nested_chain(g, cname, a_d, nblocks);
    dev_free(g->dev, rec_d);
    dev_free(g->dev, a_d);
}

/* Dequantize through a nested quant state and compare every dq role. */
static void check_state_dq(golden *g, const char *cname, const void *packed_d,
                           const kbit_quant_state *qs)
{
    for (int k = 0; k < 3; k++) {
        const kbit_st_tensor *want = role(g, cname, dq_roles[k]);
        if (!want)
            continue;
        void *out = dev_alloc_fill(g->dev, want->nbytes, 0x5a);
        kbit_status st = kbit_dequantize_4bit_state(g->dev, packed_d, qs, out_dtypes[k], out);
        if (check_status(g, cname, st, "kbit_dequantize_4bit_state"))
            expect_dev(g, cname, "kbit_dequantize_4bit_state (nested)", out, want);
        dev_free(g->dev, out);
    }
}

static void op_quantize_4bit_nested(golden *g, const char *cname, json_t *params)
{
    kbit_quant_type type;
    int64_t n, bs, nblocks;
    int ndim;
    int64_t shape[KBIT_MAX_DIMS];
    if (!param_quant_type(params, &type) || !param_int(params, "n", &n) ||
        !param_int(params, "blocksize", &bs) || !param_int(params, "nblocks", &nblocks) ||
        !param_shape(params, &ndim, shape)) {
        fail(g, cname, "bad params", NULL);
        return;
    }
    const kbit_st_tensor *x = role(g, cname, "x"), *packed = role(g, cname, "packed"),
                         *absmax = role(g, cname, "absmax"), *qa = role(g, cname, "qabsmax"),
                         *a2 = role(g, cname, "absmax2"), *code2 = role(g, cname, "code2");
    float offset;
    if (!x || !packed || !absmax || !qa || !a2 || !code2 ||
        !load_f32_scalar(g, cname, "offset", &offset))
        return;
    void *x_d = upload(g, x);
    void *p_d = dev_alloc_fill(g->dev, packed->nbytes, 0xa5);
    void *a_d = dev_alloc_fill(g->dev, absmax->nbytes, 0xa5);
    kbit_status st = kbit_quantize_4bit(g->dev, type, x->dtype, x_d, n, (int)bs, p_d, a_d);
    if (check_status(g, cname, st, "kbit_quantize_4bit")) {
        expect_dev(g, cname, "kbit_quantize_4bit", p_d, packed);
        expect_dev(g, cname, "kbit_quantize_4bit", a_d, absmax);
        void *rec_d = nested_chain(g, cname, a_d, nblocks);
        if (rec_d)
            check_dq4(g, cname, "kbit_dequantize_4bit (absmax_rec)", type, p_d, rec_d, n, (int)bs);
        dev_free(g->dev, rec_d);
    }

    /* the whole thing through a nested quant state */
    kbit_quant_state qs;
    st = kbit_quant_state_init(&qs, type, x->dtype, ndim, shape, (int)bs, 1);
    if (check_status(g, cname, st, "kbit_quant_state_init") &&
        check_status(g, cname, kbit_quant_state_alloc(g->dev, &qs), "kbit_quant_state_alloc")) {
        void *p2 = dev_alloc_fill(g->dev, packed->nbytes, 0x5a);
        st = kbit_quantize_4bit_state(g->dev, x_d, p2, &qs);
        if (check_status(g, cname, st, "kbit_quantize_4bit_state")) {
            const char *what = "kbit_quantize_4bit_state (nested)";
            expect_dev(g, cname, what, p2, packed);
            expect_dev(g, cname, what, qs.absmax, qa);
            expect_dev(g, cname, what, qs.absmax2, a2);
            expect_host(g, cname, what, qs.code2, code2);
            expect_host(g, cname, what, &qs.offset, role(g, cname, "offset"));
            check_state_dq(g, cname, p2, &qs);
        }
        dev_free(g->dev, p2);
        kbit_quant_state_release(g->dev, &qs);
    }
    dev_free(g->dev, x_d);
    dev_free(g->dev, p_d);
    dev_free(g->dev, a_d);
}

static void op_dequantize_4bit_nested(golden *g, const char *cname, json_t *params)
{
    kbit_quant_type type;
    int64_t n, bs, nblocks;
    if (!param_quant_type(params, &type) || !param_int(params, "n", &n) ||
        !param_int(params, "blocksize", &bs) || !param_int(params, "nblocks", &nblocks)) {
        fail(g, cname, "bad params", NULL);
        return;
    }
    const kbit_st_tensor *packed = role(g, cname, "packed"), *qa = role(g, cname, "qabsmax"),
                         *a2 = role(g, cname, "absmax2"), *code2 = role(g, cname, "code2"),
                         *rec = role(g, cname, "absmax_rec");
    float offset;
    if (!packed || !qa || !a2 || !code2 || !rec || !load_f32_scalar(g, cname, "offset", &offset))
        return;
    if (code2->dtype != KBIT_F32 || code2->numel != 256) {
        fail(g, cname, "code2 is not F32[256]", NULL);
        return;
    }
    float map[256];
    memcpy(map, code2->data, sizeof map);
    void *p_d = upload(g, packed), *q_d = upload(g, qa), *a2_d = upload(g, a2);
    void *rec_d = dev_alloc_fill(g->dev, rec->nbytes, 0xa5);
    kbit_status st = kbit_nested_dequantize(g->dev, q_d, a2_d, map, offset, nblocks, rec_d);
    if (check_status(g, cname, st, "kbit_nested_dequantize")) {
        expect_dev(g, cname, "kbit_nested_dequantize", rec_d, rec);
        check_dq4(g, cname, "kbit_dequantize_4bit (absmax_rec)", type, p_d, rec_d, n, (int)bs);
    }

    /* through a nested state whose buffers the caller provides */
    kbit_quant_state qs;
    st = kbit_quant_state_init(&qs, type, KBIT_F32, 1, &n, (int)bs, 1);
    if (check_status(g, cname, st, "kbit_quant_state_init")) {
        qs.absmax = q_d;
        qs.absmax2 = a2_d;
        qs.offset = offset;
        memcpy(qs.code2, map, sizeof map);
        check_state_dq(g, cname, p_d, &qs);
    }
    dev_free(g->dev, rec_d);
    dev_free(g->dev, p_d);
    dev_free(g->dev, q_d);
    dev_free(g->dev, a2_d);
}

/* gemm_4bit (numerics 5, determinism 3): the forward on a state (plain or
 * nested, as stored) and on a prepared weight. */
static void op_gemm_4bit(golden *g, const char *cname, json_t *params)
{
    kbit_quant_type type;
    int64_t M, N, K, bs, nested, has_bias;
    const char *dname = json_string_value(json_object_get(params, "dtype"));
    kbit_dtype dtype = KBIT_F32;
    if (dname && strcmp(dname, "f16") == 0)
        dtype = KBIT_F16;
    else if (dname && strcmp(dname, "bf16") == 0)
        dtype = KBIT_BF16;
    json_t *jn = json_object_get(params, "nested"), *jb = json_object_get(params, "has_bias");
    if (!param_quant_type(params, &type) || !param_int(params, "M", &M) ||
        !param_int(params, "N", &N) || !param_int(params, "K", &K) ||
        !param_int(params, "blocksize", &bs) || !json_is_boolean(jn) || !json_is_boolean(jb) ||
        dname == NULL) {
        fail(g, cname, "bad params", NULL);
        return;
    }
    nested = json_is_true(jn);
    has_bias = json_is_true(jb);
    const kbit_st_tensor *A = role(g, cname, "A"), *packed = role(g, cname, "packed"),
                         *out = role(g, cname, "out");
    const kbit_st_tensor *absmax = role(g, cname, nested ? "qabsmax" : "absmax");
    const kbit_st_tensor *bias = has_bias ? role(g, cname, "bias") : NULL;
    const kbit_st_tensor *a2 = nested ? role(g, cname, "absmax2") : NULL;
    const kbit_st_tensor *code2 = nested ? role(g, cname, "code2") : NULL;
    float offset = 0.0f;
    if (!A || !packed || !out || !absmax || (has_bias && !bias) ||
        (nested && (!a2 || !code2 || !load_f32_scalar(g, cname, "offset", &offset))))
        return;
    kbit_quant_state qs;
    int64_t shape[2] = { N, K };
    kbit_status st = kbit_quant_state_init(&qs, type, dtype, 2, shape, (int)bs, (int)nested);
    if (!check_status(g, cname, st, "kbit_quant_state_init"))
        return;
    void *A_d = upload(g, A), *p_d = upload(g, packed), *am_d = upload(g, absmax);
    void *a2_d = nested ? upload(g, a2) : NULL, *b_d = has_bias ? upload(g, bias) : NULL;
    if (nested) {
        qs.offset = offset;
        memcpy(qs.code2, code2->data, sizeof qs.code2);
    }
    qs.absmax = am_d;
    qs.absmax2 = a2_d;
    void *o_d = dev_alloc_fill(g->dev, out->nbytes, 0xa5);
    st = kbit_gemm_4bit(g->dev, A_d, dtype, M, p_d, &qs, b_d, o_d);
    if (check_status(g, cname, st, "kbit_gemm_4bit"))
        expect_dev(g, cname, "kbit_gemm_4bit", o_d, out);
    kbit_gemm4_weight *w = NULL;
    st = kbit_gemm_4bit_prepare(g->dev, p_d, &qs, &w);
    if (check_status(g, cname, st, "kbit_gemm_4bit_prepare")) {
        void *o2_d = dev_alloc_fill(g->dev, out->nbytes, 0x5a);
        st = kbit_gemm_4bit_prepared(g->dev, A_d, dtype, M, w, b_d, o2_d);
        if (check_status(g, cname, st, "kbit_gemm_4bit_prepared"))
            expect_dev(g, cname, "kbit_gemm_4bit_prepared", o2_d, out);
        dev_free(g->dev, o2_d);
        kbit_gemm_4bit_weight_destroy(w);
    }
    dev_free(g->dev, o_d);
    dev_free(g->dev, A_d);
    dev_free(g->dev, p_d);
    dev_free(g->dev, am_d);
    dev_free(g->dev, a2_d);
    dev_free(g->dev, b_d);
}

/* ------------------------------------------------------------------ */

typedef void (*op_fn)(golden *g, const char *cname, json_t *params);

static const struct {
    const char *op;
    op_fn fn;
} ops[] = {
    { "quantize_4bit", op_quantize_4bit },
    { "dequantize_4bit", op_dequantize_4bit },
    { "enc4", op_enc4 },
    { "quantize_blockwise", op_quantize_blockwise },
    { "dequantize_blockwise", op_dequantize_blockwise },
    { "enc8", op_enc8 },
    { "quantize_4bit_nested", op_quantize_4bit_nested },
    { "nested_absmax", op_nested_absmax },
    { "dequantize_4bit_nested", op_dequantize_4bit_nested },
    { "gemm_4bit", op_gemm_4bit },
};

static op_fn find_op(const char *op)
{
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(ops[i].op, op) == 0)
            return ops[i].fn;
    return NULL;
}

/* Ops whose vectors a program of their own checks. */
static const char *checked_elsewhere(const char *op)
{
    if (strncmp(op, "optimizer_", 10) == 0)
        return "tests/test_optim_golden";
    if (strncmp(op, "int8_", 5) == 0)
        return "tests/test_golden_int8";
    return NULL;
}

static void run_file(const char *path, target *targets, int ntargets)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    kbit_st_file *st = NULL;
    kbit_status s = kbit_st_open(path, &st);
    if (s == KBIT_OK)
        s = kbit_st_load_all(st);
    if (!tap_ok(s == KBIT_OK, "%s: read and validated", base)) {
        tap_diag("%s", kbit_last_error());
        return;
    }
    const char *format = kbit_st_metadata(st, "format");
    const char *cases_text = kbit_st_metadata(st, "cases");
    json_error_t jerr;
    json_t *cases = cases_text ? json_loads(cases_text, 0, &jerr) : NULL;
    int well_formed = format && strcmp(format, "kbit-golden-v1") == 0 && json_is_array(cases) &&
                      json_array_size(cases) > 0;
    if (!tap_ok(well_formed, "%s: format kbit-golden-v1 with a non-empty cases list (%zu cases)",
                base, json_is_array(cases) ? json_array_size(cases) : 0)) {
        json_decref(cases);
        kbit_st_close(st);
        return;
    }

    /* the ops of this file, in order of first appearance */
    const char *file_ops[64];
    int nops = 0;
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        const char *op = json_string_value(json_object_get(c, "op"));
        if (op == NULL || !json_is_string(json_object_get(c, "name")) ||
            !json_is_object(json_object_get(c, "params"))) {
            tap_ok(0, "%s: case %zu has a name, an op and params", base, i);
            continue;
        }
        int seen = 0;
        for (int k = 0; k < nops; k++)
            seen |= strcmp(file_ops[k], op) == 0;
        if (!seen && nops < 64)
            file_ops[nops++] = op;
    }

    for (int k = 0; k < nops; k++) {
        op_fn fn = find_op(file_ops[k]);
        for (int t = 0; t < ntargets; t++) {
            char what[256];
            snprintf(what, sizeof what, "%.80s %.60s on %.96s", base, file_ops[k],
                     targets[t].label);
            if (fn == NULL && checked_elsewhere(file_ops[k])) {
                tap_skip(what, "checked by %s", checked_elsewhere(file_ops[k]));
                continue;
            }
            if (fn == NULL) {
                tap_skip(what, "no test for op '%s' yet", file_ops[k]);
                continue;
            }
            if (targets[t].dev == NULL) {
                tap_skip(what, "%s", targets[t].skip);
                continue;
            }
            stats s2 = { 0, 0, 0, 0 };
            golden g = { base, st, targets[t].label, targets[t].dev, &s2 };
            json_array_foreach(cases, i, c) {
                const char *op = json_string_value(json_object_get(c, "op"));
                if (op == NULL || strcmp(op, file_ops[k]) != 0)
                    continue;
                const char *cname = json_string_value(json_object_get(c, "name"));
                json_t *params = json_object_get(c, "params");
                if (cname == NULL || !json_is_object(params))
                    continue;
                s2.cases++;
                fn(&g, cname, params);
            }
            tap_ok(s2.mismatches == 0 && s2.errors == 0 && s2.elements > 0,
                   "%s: %d cases, %zu elements bit-exact (%zu mismatches, %d errors)", what,
                   s2.cases, s2.elements, s2.mismatches, s2.errors);
        }
    }
    json_decref(cases);
    kbit_st_close(st);
}

static int compare_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    target targets[MAX_TARGETS];
    int ntargets = targets_open(targets, MAX_TARGETS);

    char *files[256];
    int nfiles = 0;
    if (argc > 1) {
        for (int i = 1; i < argc && nfiles < 256; i++)
            files[nfiles++] = str_printf("%s", argv[i]);
    } else {
        const char *dir = vectors_dir();
        DIR *d = opendir(dir);
        if (d == NULL)
            tap_bail("cannot open the vectors directory %s (set KBIT_VECTORS_DIR)", dir);
        struct dirent *de;
        while ((de = readdir(d)) != NULL && nfiles < 256) {
            size_t len = strlen(de->d_name);
            if (len > 12 && strcmp(de->d_name + len - 12, ".safetensors") == 0)
                files[nfiles++] = str_printf("%s/%s", dir, de->d_name);
        }
        closedir(d);
        qsort(files, (size_t)nfiles, sizeof files[0], compare_str);
        tap_diag("golden vectors from %s: %d files", dir, nfiles);
    }
    tap_ok(nfiles > 0, "found golden vector files");
    for (int i = 0; i < nfiles; i++) {
        run_file(files[i], targets, ntargets);
        free(files[i]);
    }
    targets_close(targets, ntargets);
    return tap_done();
}
