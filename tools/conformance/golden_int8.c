/* tools/conformance/golden_int8.c - the golden vectors of the int8 family
 * (int8.safetensors, numerics 4 / determinism 3.1). Per op:
 *  - int8_vectorwise_quant: CA, SCA and the outlier column list; cases with
 *    threshold 0 also go through kbit_int8_quantize_weight (Int8Params),
 *    and the weight is dequantized and compared with the formula of
 *    numerics 4.2 written out here;
 *  - int8_linear_matmul: the int32 product;
 *  - int8_mm_dequant: the output in its dtype, with and without bias;
 *  - int8_linear_forward: every intermediate the file gives (CB/SCB from W,
 *    CA/SCA/outlier_cols from X, acc, y_int8) and the forward's output. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devmem.h"
#include "families.h"
#include "golden.h"
#include "numbers.h"
#include "tap.h"

static void *scratch(conf_golden *g, size_t bytes)
{
    return dev_alloc_fill(g->dev, bytes ? bytes : 1, 0x5a);
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

/* Outlier columns: the count and the list (on the device, capacity cols). */
static void expect_outliers(conf_golden *g, const char *cname, const int64_t *oc_dev, int64_t count,
                            const kbit_st_tensor *want)
{
    if (count != want->numel) {
        g->tally->errors++;
        tap_diag("%s on %s: %lld outlier columns, want %lld", cname, g->target,
                 (long long)count, (long long)want->numel);
        return;
    }
    golden_expect_dev(g, cname, "outlier columns", oc_dev, want);
}

/* The weight dequantization of numerics 4.2 written out, against the API. */
static void check_dequant_weight(conf_golden *g, const char *cname, const void *CB_dev,
                                 const void *SCB_dev, int64_t rows, int64_t cols)
{
    size_t n = (size_t)(rows * cols);
    int8_t *cb = malloc(n + 1);
    float *scb = malloc((size_t)rows * 4 + 4), *w = malloc(n * 4 + 4);
    void *want = malloc(n * 4 + 4), *got = malloc(n * 4 + 4);
    if (!cb || !scb || !w || !want || !got)
        tap_bail("out of memory");
    dev_download(g->dev, cb, CB_dev, n);
    dev_download(g->dev, scb, SCB_dev, (size_t)rows * 4);
    for (size_t i = 0; i < n; i++)
        w[i] = ((float)cb[i] * scb[i / (size_t)cols]) * f32_from_bits(0x3c010204u);
    static const kbit_dtype dts[3] = { KBIT_F32, KBIT_F16, KBIT_BF16 };
    for (int d = 0; d < 3; d++) {
        void *out = scratch(g, n * 4);
        f32_to_dtype(dts[d], w, want, n);
        if (kbit_int8_dequantize_weight(g->dev, CB_dev, SCB_dev, rows, cols, dts[d], out) !=
            KBIT_OK) {
            golden_fail(g, cname, "kbit_int8_dequantize_weight", kbit_last_error());
        } else {
            dev_download(g->dev, got, out, n * kbit_dtype_size(dts[d]));
            char what[300];
            snprintf(what, sizeof what, "%s dequantize_weight %s on %s", cname,
                     dtype_str(dts[d]), g->target);
            g->tally->mismatches += tap_cmp_dtype((int)dts[d], got, want, n, what);
            g->tally->elements += n;
        }
        dev_free(g->dev, out);
    }
    free(cb), free(scb), free(w), free(want), free(got);
}

static void op_vq(conf_golden *g, const char *cname, json_t *p)
{
    int64_t rows = pint(p, "rows"), cols = pint(p, "cols");
    float thr = pfloat(p, "threshold");
    const kbit_st_tensor *A = golden_role(g, cname, "A"), *CA = golden_role(g, cname, "CA"),
                         *SCA = golden_role(g, cname, "SCA"),
                         *oc = golden_find(g, cname, "outlier_cols");
    if (!A || !CA || !SCA || (thr > 0 && !oc))
        return;
    void *a = golden_upload(g, A), *ca = scratch(g, CA->nbytes), *sca = scratch(g, SCA->nbytes);
    int64_t *ocd = scratch(g, (size_t)cols * 8);
    int64_t count = -1;
    if (kbit_int8_vectorwise_quant(g->dev, KBIT_F16, a, rows, cols, thr, ca, sca, ocd, &count) !=
        KBIT_OK) {
        golden_fail(g, cname, "kbit_int8_vectorwise_quant", kbit_last_error());
    } else {
        golden_expect_dev(g, cname, "kbit_int8_vectorwise_quant", ca, CA);
        golden_expect_dev(g, cname, "kbit_int8_vectorwise_quant", sca, SCA);
        if (thr > 0)
            expect_outliers(g, cname, ocd, count, oc);
        else if (count != 0)
            golden_fail(g, cname, "threshold 0 gave outlier columns", NULL);
    }
    if (thr == 0) { /* Int8Params: the same numbers through the weight API */
        void *cb = scratch(g, CA->nbytes), *scb = scratch(g, SCA->nbytes);
        if (kbit_int8_quantize_weight(g->dev, KBIT_F16, a, rows, cols, cb, scb) != KBIT_OK) {
            golden_fail(g, cname, "kbit_int8_quantize_weight", kbit_last_error());
        } else {
            golden_expect_dev(g, cname, "kbit_int8_quantize_weight", cb, CA);
            golden_expect_dev(g, cname, "kbit_int8_quantize_weight", scb, SCA);
            check_dequant_weight(g, cname, cb, scb, rows, cols);
        }
        dev_free(g->dev, cb), dev_free(g->dev, scb);
    }
    dev_free(g->dev, a), dev_free(g->dev, ca), dev_free(g->dev, sca), dev_free(g->dev, ocd);
}

static void op_mm(conf_golden *g, const char *cname, json_t *p)
{
    int64_t M = pint(p, "M"), N = pint(p, "N"), K = pint(p, "K");
    const kbit_st_tensor *A = golden_role(g, cname, "A"), *B = golden_role(g, cname, "B"),
                         *out = golden_role(g, cname, "out");
    if (!A || !B || !out)
        return;
    void *a = golden_upload(g, A), *b = golden_upload(g, B), *o = scratch(g, out->nbytes);
    if (kbit_int8_matmul(g->dev, a, b, M, N, K, o) != KBIT_OK)
        golden_fail(g, cname, "kbit_int8_matmul", kbit_last_error());
    else
        golden_expect_dev(g, cname, "kbit_int8_matmul", o, out);
    dev_free(g->dev, a), dev_free(g->dev, b), dev_free(g->dev, o);
}

static void op_mmdq(conf_golden *g, const char *cname, json_t *p)
{
    int64_t M = pint(p, "M"), N = pint(p, "N");
    kbit_dtype od = KBIT_F32, bd = KBIT_F32;
    if (!golden_param_dtype(p, "out_dtype", &od)) {
        golden_fail(g, cname, "bad out_dtype", kbit_last_error());
        return;
    }
    int has_bias = golden_param_dtype(p, "bias_dtype", &bd);
    const kbit_st_tensor *acc = golden_role(g, cname, "acc"), *SCA = golden_role(g, cname, "SCA"),
                         *SCB = golden_role(g, cname, "SCB"), *out = golden_role(g, cname, "out"),
                         *bias = has_bias ? golden_role(g, cname, "bias") : NULL;
    if (!acc || !SCA || !SCB || !out || (has_bias && !bias))
        return;
    void *a = golden_upload(g, acc), *sa = golden_upload(g, SCA), *sb = golden_upload(g, SCB);
    void *o = scratch(g, out->nbytes);
    void *bi = has_bias ? golden_upload(g, bias) : NULL;
    if (kbit_int8_mm_dequant(g->dev, a, sa, sb, M, N, bi, bd, od, o) != KBIT_OK)
        golden_fail(g, cname, "kbit_int8_mm_dequant", kbit_last_error());
    else
        golden_expect_dev(g, cname, "kbit_int8_mm_dequant", o, out);
    dev_free(g->dev, a), dev_free(g->dev, sa), dev_free(g->dev, sb), dev_free(g->dev, o);
    if (bi)
        dev_free(g->dev, bi);
}

static void op_forward(conf_golden *g, const char *cname, json_t *p)
{
    int64_t M = pint(p, "M"), K = pint(p, "K"), N = pint(p, "N");
    float thr = pfloat(p, "threshold");
    kbit_dtype dt = KBIT_F32;
    golden_param_dtype(p, "dtype", &dt);
    int has_bias = json_is_true(json_object_get(p, "has_bias"));
    const kbit_st_tensor *X = golden_role(g, cname, "X"), *W = golden_role(g, cname, "W"),
                         *CB = golden_role(g, cname, "CB"), *SCB = golden_role(g, cname, "SCB"),
                         *CA = golden_role(g, cname, "CA"), *SCA = golden_role(g, cname, "SCA"),
                         *acc = golden_role(g, cname, "acc"), *y8 = golden_role(g, cname, "y_int8"),
                         *out = golden_role(g, cname, "out"),
                         *oc = thr > 0 ? golden_role(g, cname, "outlier_cols") : NULL,
                         *bias = has_bias ? golden_role(g, cname, "bias") : NULL;
    if (!X || !W || !CB || !SCB || !CA || !SCA || !acc || !y8 || !out || (thr > 0 && !oc) ||
        (has_bias && !bias))
        return;
    void *x = golden_upload(g, X), *w = golden_upload(g, W);
    void *bi = has_bias ? golden_upload(g, bias) : NULL;
    void *cb = scratch(g, CB->nbytes), *scb = scratch(g, SCB->nbytes);
    void *ca = scratch(g, CA->nbytes), *sca = scratch(g, SCA->nbytes);
    void *ac = scratch(g, acc->nbytes), *y = scratch(g, out->nbytes);
    int64_t *ocd = scratch(g, (size_t)K * 8);
    int64_t count = -1;
    /* the stages one by one, against the file's intermediates */
    if (kbit_int8_quantize_weight(g->dev, KBIT_F16, w, N, K, cb, scb) != KBIT_OK) {
        golden_fail(g, cname, "kbit_int8_quantize_weight", kbit_last_error());
        goto done;
    }
    golden_expect_dev(g, cname, "kbit_int8_quantize_weight", cb, CB);
    golden_expect_dev(g, cname, "kbit_int8_quantize_weight", scb, SCB);
    if (kbit_int8_vectorwise_quant(g->dev, dt, x, M, K, thr, ca, sca, ocd, &count) != KBIT_OK) {
        golden_fail(g, cname, "kbit_int8_vectorwise_quant", kbit_last_error());
        goto done;
    }
    golden_expect_dev(g, cname, "kbit_int8_vectorwise_quant", ca, CA);
    golden_expect_dev(g, cname, "kbit_int8_vectorwise_quant", sca, SCA);
    if (thr > 0)
        expect_outliers(g, cname, ocd, count, oc);
    if (kbit_int8_matmul(g->dev, ca, cb, M, N, K, ac) != KBIT_OK ||
        kbit_int8_mm_dequant(g->dev, ac, sca, scb, M, N, bi, dt, dt, y) != KBIT_OK) {
        golden_fail(g, cname, "kbit_int8_matmul / kbit_int8_mm_dequant", kbit_last_error());
        goto done;
    }
    golden_expect_dev(g, cname, "kbit_int8_matmul", ac, acc);
    golden_expect_dev(g, cname, "kbit_int8_mm_dequant", y, y8);
    /* the whole forward */
    if (kbit_int8_linear_forward(g->dev, dt, x, M, K, cb, scb, N, thr, bi, y) != KBIT_OK)
        golden_fail(g, cname, "kbit_int8_linear_forward", kbit_last_error());
    else
        golden_expect_dev(g, cname, "kbit_int8_linear_forward", y, out);
done:
    dev_free(g->dev, x), dev_free(g->dev, w), dev_free(g->dev, cb), dev_free(g->dev, scb);
    dev_free(g->dev, ca), dev_free(g->dev, sca), dev_free(g->dev, ac), dev_free(g->dev, y);
    dev_free(g->dev, ocd);
    if (bi)
        dev_free(g->dev, bi);
}

const conf_golden_op conf_golden_int8[] = {
    { "int8_vectorwise_quant", op_vq },
    { "int8_linear_matmul", op_mm },
    { "int8_mm_dequant", op_mmdq },
    { "int8_linear_forward", op_forward },
    { NULL, NULL },
};
