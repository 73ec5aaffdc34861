/* tools/conformance/golden_quant8.c - the golden vectors of the quant8
 * family (q8.safetensors): 8-bit blockwise quantize / dequantize with the
 * signed and unsigned maps, and the enc8 rule.
 *
 * enc8 cases give already-normalised values x'. |x'| <= 1 is driven as in
 * golden_quant4.c (a block whose absmax is exactly 1.0); for 1 < |x'| <=
 * 2^64, enc8 is invariant under scaling the value and the map by the same
 * power of two (midpoints (c[i]+c[i+1])*0.5 scale exactly while nothing
 * underflows), so v = x' * 2^-k is encoded with the custom map code * 2^-k,
 * k = ceil(log2 |x'|); the scaled map is checked to be exact first. Values
 * that no input can produce as x' are counted in a diagnostic and not
 * compared. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devmem.h"
#include "families.h"
#include "golden.h"
#include "numbers.h"
#include "tap.h"

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

static void check_dq8(conf_golden *g, const char *cname, const void *q_d, const void *a_d,
                      int64_t n, int bs, const float *code)
{
    for (int k = 0; k < 3; k++) {
        const kbit_st_tensor *want = golden_role(g, cname, golden_dq_roles[k]);
        if (!want)
            continue;
        void *out = dev_alloc_fill(g->dev, want->nbytes, 0xa5);
        kbit_status st =
            kbit_dequantize_8bit(g->dev, q_d, a_d, n, bs, code, golden_out_dtypes[k], out);
        if (golden_status(g, cname, st, "kbit_dequantize_8bit"))
            golden_expect_dev(g, cname, "kbit_dequantize_8bit", out, want);
        dev_free(g->dev, out);
    }
}

static void op_quantize_blockwise(conf_golden *g, const char *cname, json_t *params)
{
    kbit_map_kind kind;
    int64_t n, bs;
    float code[256];
    if (!map_kind(params, &kind) || !golden_param_int(params, "n", &n) ||
        !golden_param_int(params, "blocksize", &bs)) {
        golden_fail(g, cname, "bad params", NULL);
        return;
    }
    const kbit_st_tensor *x = golden_role(g, cname, "x"), *q = golden_role(g, cname, "q"),
                         *absmax = golden_role(g, cname, "absmax");
    if (!x || !q || !absmax || !golden_map(g, cname, "code", kind, code))
        return;
    void *x_d = golden_upload(g, x);
    void *q_d = dev_alloc_fill(g->dev, q->nbytes, 0xa5);
    void *a_d = dev_alloc_fill(g->dev, absmax->nbytes, 0xa5);
    kbit_status st = kbit_quantize_8bit(g->dev, x->dtype, x_d, n, (int)bs, code, q_d, a_d);
    if (golden_status(g, cname, st, "kbit_quantize_8bit")) {
        golden_expect_dev(g, cname, "kbit_quantize_8bit", q_d, q);
        golden_expect_dev(g, cname, "kbit_quantize_8bit", a_d, absmax);
        check_dq8(g, cname, q_d, a_d, n, (int)bs, code);
    }
    dev_free(g->dev, x_d);
    dev_free(g->dev, q_d);
    dev_free(g->dev, a_d);
}

static void op_dequantize_blockwise(conf_golden *g, const char *cname, json_t *params)
{
    kbit_map_kind kind;
    int64_t n, bs;
    float code[256];
    if (!map_kind(params, &kind) || !golden_param_int(params, "n", &n) ||
        !golden_param_int(params, "blocksize", &bs)) {
        golden_fail(g, cname, "bad params", NULL);
        return;
    }
    const kbit_st_tensor *q = golden_role(g, cname, "q"), *absmax = golden_role(g, cname, "absmax");
    if (!q || !absmax || !golden_map(g, cname, "code", kind, code))
        return;
    void *q_d = golden_upload(g, q), *a_d = golden_upload(g, absmax);
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

static void op_enc8(conf_golden *g, const char *cname, json_t *params)
{
    kbit_map_kind kind;
    float code[256];
    if (!map_kind(params, &kind)) {
        golden_fail(g, cname, "bad params", NULL);
        return;
    }
    const kbit_st_tensor *x = golden_role(g, cname, "x"), *want = golden_role(g, cname, "q");
    if (!x || !want || !golden_map(g, cname, "code", kind, code))
        return;
    if (x->dtype != KBIT_F32 || want->numel != x->numel) {
        golden_fail(g, cname, "roles do not match", NULL);
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
        if (golden_status(g, cname, st, "kbit_quantize_8bit")) {
            dev_download(g->dev, q, q_d, (size_t)n);
            for (size_t b = 0; b < m; b++)
                got[compared + b] = q[b * B + 1];
            compared += m;
        }
        dev_free(g->dev, x_d);
        dev_free(g->dev, q_d);
        dev_free(g->dev, a_d);
    }
    if (unreachable && g->first)
        tap_diag("%s %s: %zu of %zu values (e.g. %g) cannot be the result of x * (1/absmax) "
                 "for any input and were not compared", g->file, cname, unreachable, count,
                 (double)example);
    char label[512];
    snprintf(label, sizeof label, "%s %s (block-driven) on %s", g->file, want->name, g->target);
    g->tally->mismatches += tap_cmp_u8(got, exp, compared, label);
    g->tally->elements += compared;
    free(scale);
    free(blocks);
    free(got);
    free(exp);
    free(q);
}

const conf_golden_op conf_golden_quant8[] = {
    { "quantize_blockwise", op_quantize_blockwise },
    { "dequantize_blockwise", op_dequantize_blockwise },
    { "enc8", op_enc8 },
    { NULL, NULL },
};
