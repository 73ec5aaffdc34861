/* tools/conformance/golden_quant4.c - the golden vectors of the quant4
 * family: 4-bit quantize / dequantize and the enc4 rule (q4.safetensors),
 * nested absmax and nested quant states (nested.safetensors).
 *
 * enc4 cases give already-normalised values x'. They are driven through
 * the public quantize functions so that the normalisation is exact: each
 * value v sits in its own block whose absmax is exactly 1.0 (so 1/absmax = 1
 * and x' = v * 1 = v), NaN included (NaN does not enter absmax). For |x'|
 * just above 1 (1 + 2^-23): a block holding only +-A with A in [2^126,
 * 2^128) chosen so that A * (1/A) rounds to exactly x' (the reciprocal is a
 * denormal there, numerics 1.4). Values that no input can produce as x'
 * (+-inf, |x'| far above 1) never reach an encoder through the API; they are
 * counted in a diagnostic and not compared. */
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

/* Dequantize 4-bit (packed, absmax on the device) to every dtype and compare. */
static void check_dq4(conf_golden *g, const char *cname, const char *what, kbit_quant_type type,
                      const void *packed_d, const void *absmax_d, int64_t n, int blocksize)
{
    for (int k = 0; k < 3; k++) {
        const kbit_st_tensor *want = golden_role(g, cname, golden_dq_roles[k]);
        if (!want)
            continue;
        void *out = dev_alloc_fill(g->dev, want->nbytes, 0xa5);
        kbit_status st = kbit_dequantize_4bit(g->dev, type, packed_d, absmax_d, n, blocksize,
                                              golden_out_dtypes[k], out);
        if (golden_status(g, cname, st, "kbit_dequantize_4bit"))
            golden_expect_dev(g, cname, what, out, want);
        dev_free(g->dev, out);
    }
}

static void op_quantize_4bit(conf_golden *g, const char *cname, json_t *params)
{
    kbit_quant_type type;
    int64_t n, bs;
    int ndim;
    int64_t shape[KBIT_MAX_DIMS];
    if (!golden_param_quant_type(params, &type) || !golden_param_int(params, "n", &n) ||
        !golden_param_int(params, "blocksize", &bs) || !golden_param_shape(params, &ndim, shape)) {
        golden_fail(g, cname, "bad params", NULL);
        return;
    }
    const kbit_st_tensor *x = golden_role(g, cname, "x"), *packed = golden_role(g, cname, "packed"),
                         *absmax = golden_role(g, cname, "absmax");
    if (!x || !packed || !absmax)
        return;
    if (!x->dtype_known || x->numel != n) {
        golden_fail(g, cname, "x does not match params", NULL);
        return;
    }
    void *x_d = golden_upload(g, x);
    void *p_d = dev_alloc_fill(g->dev, packed->nbytes, 0xa5);
    void *a_d = dev_alloc_fill(g->dev, absmax->nbytes, 0xa5);
    kbit_status st = kbit_quantize_4bit(g->dev, type, x->dtype, x_d, n, (int)bs, p_d, a_d);
    if (golden_status(g, cname, st, "kbit_quantize_4bit")) {
        golden_expect_dev(g, cname, "kbit_quantize_4bit", p_d, packed);
        golden_expect_dev(g, cname, "kbit_quantize_4bit", a_d, absmax);
        check_dq4(g, cname, "kbit_dequantize_4bit", type, p_d, a_d, n, (int)bs);
    }

    /* the same through a (plain) quant state */
    kbit_quant_state qs;
    st = kbit_quant_state_init(&qs, type, x->dtype, ndim, shape, (int)bs, 0);
    if (golden_status(g, cname, st, "kbit_quant_state_init")) {
        void *p2 = dev_alloc_fill(g->dev, packed->nbytes, 0x5a);
        qs.absmax = dev_alloc_fill(g->dev, absmax->nbytes, 0x5a);
        st = kbit_quantize_4bit_state(g->dev, x_d, p2, &qs);
        if (golden_status(g, cname, st, "kbit_quantize_4bit_state")) {
            golden_expect_dev(g, cname, "kbit_quantize_4bit_state", p2, packed);
            golden_expect_dev(g, cname, "kbit_quantize_4bit_state", qs.absmax, absmax);
            const kbit_st_tensor *want = golden_role(g, cname, "dq_f32");
            if (want) {
                void *out = dev_alloc_fill(g->dev, want->nbytes, 0x5a);
                st = kbit_dequantize_4bit_state(g->dev, p2, &qs, KBIT_F32, out);
                if (golden_status(g, cname, st, "kbit_dequantize_4bit_state"))
                    golden_expect_dev(g, cname, "kbit_dequantize_4bit_state", out, want);
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

static void op_dequantize_4bit(conf_golden *g, const char *cname, json_t *params)
{
    kbit_quant_type type;
    int64_t n, bs;
    if (!golden_param_quant_type(params, &type) || !golden_param_int(params, "n", &n) ||
        !golden_param_int(params, "blocksize", &bs)) {
        golden_fail(g, cname, "bad params", NULL);
        return;
    }
    const kbit_st_tensor *packed = golden_role(g, cname, "packed"),
                         *absmax = golden_role(g, cname, "absmax");
    if (!packed || !absmax)
        return;
    void *p_d = golden_upload(g, packed), *a_d = golden_upload(g, absmax);
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

static void op_enc4(conf_golden *g, const char *cname, json_t *params)
{
    const kbit_st_tensor *x = golden_role(g, cname, "x");
    const kbit_st_tensor *want[2] = { golden_role(g, cname, "q_nf4"),
                                      golden_role(g, cname, "q_fp4") };
    if (!x || !want[0] || !want[1])
        return;
    if (x->dtype != KBIT_F32 || want[0]->numel != x->numel || want[1]->numel != x->numel) {
        golden_fail(g, cname, "roles do not match", NULL);
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
    if (unreachable && g->first)
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
        if (!golden_status(g, cname, st, "kbit_quantize_4bit"))
            continue;
        dev_download(g->dev, packed, p_d, (size_t)n / 2);
        for (size_t j = 0; j < reach; j++) {
            got[j] = packed[j * B / 2] & 0x0f; /* element 1 = low nibble of byte 0 */
            exp[j] = ((const uint8_t *)want[k]->data)[index[j]];
        }
        char label[512];
        snprintf(label, sizeof label, "%s %s (block-driven) on %s", g->file, want[k]->name,
                 g->target);
        g->tally->mismatches += tap_cmp_u8(got, exp, reach, label);
        g->tally->elements += reach;
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

/* Nested-quantize absmax (device, nblocks) and compare offset, qabsmax,
 * absmax2 and the reconstruction. Returns the reconstruction (device) or NULL. */
static void *nested_chain(conf_golden *g, const char *cname, const void *absmax_d, int64_t nblocks)
{
    const kbit_st_tensor *qa = golden_role(g, cname, "qabsmax"),
                         *a2 = golden_role(g, cname, "absmax2"),
                         *off = golden_role(g, cname, "offset"),
                         *rec = golden_role(g, cname, "absmax_rec");
    float code2[256];
    if (!qa || !a2 || !off || !rec || !golden_map(g, cname, "code2", KBIT_MAP_SIGNED, code2))
        return NULL;
    void *q_d = dev_alloc_fill(g->dev, qa->nbytes, 0xa5);
    void *a2_d = dev_alloc_fill(g->dev, a2->nbytes, 0xa5);
    void *rec_d = NULL;
    float offset = f32_from_bits(0x7fc0dead);
    kbit_status st = kbit_nested_quantize(g->dev, absmax_d, nblocks, q_d, a2_d, &offset);
    if (golden_status(g, cname, st, "kbit_nested_quantize")) {
        golden_expect_host(g, cname, "kbit_nested_quantize", &offset, off);
        golden_expect_dev(g, cname, "kbit_nested_quantize", q_d, qa);
        golden_expect_dev(g, cname, "kbit_nested_quantize", a2_d, a2);
        rec_d = dev_alloc_fill(g->dev, rec->nbytes, 0xa5);
        st = kbit_nested_dequantize(g->dev, q_d, a2_d, code2, offset, nblocks, rec_d);
        if (golden_status(g, cname, st, "kbit_nested_dequantize")) {
            golden_expect_dev(g, cname, "kbit_nested_dequantize", rec_d, rec);
        } else {
            dev_free(g->dev, rec_d);
            rec_d = NULL;
        }
    }
    dev_free(g->dev, q_d);
    dev_free(g->dev, a2_d);
    return rec_d;
}

static void op_nested_absmax(conf_golden *g, const char *cname, json_t *params)
{
    int64_t nblocks;
    if (!golden_param_int(params, "nblocks", &nblocks)) {
        golden_fail(g, cname, "bad params", NULL);
        return;
    }
    const kbit_st_tensor *absmax = golden_role(g, cname, "absmax");
    if (!absmax)
        return;
    void *a_d = golden_upload(g, absmax);
    void *rec_d = nested_chain(g, cname, a_d, nblocks);
    dev_free(g->dev, rec_d);
    dev_free(g->dev, a_d);
}

/* Dequantize through a nested quant state and compare every dq role. */
static void check_state_dq(conf_golden *g, const char *cname, const void *packed_d,
                           const kbit_quant_state *qs)
{
    for (int k = 0; k < 3; k++) {
        const kbit_st_tensor *want = golden_role(g, cname, golden_dq_roles[k]);
        if (!want)
            continue;
        void *out = dev_alloc_fill(g->dev, want->nbytes, 0x5a);
        kbit_status st =
            kbit_dequantize_4bit_state(g->dev, packed_d, qs, golden_out_dtypes[k], out);
        if (golden_status(g, cname, st, "kbit_dequantize_4bit_state"))
            golden_expect_dev(g, cname, "kbit_dequantize_4bit_state (nested)", out, want);
        dev_free(g->dev, out);
    }
}

static void op_quantize_4bit_nested(conf_golden *g, const char *cname, json_t *params)
{
    kbit_quant_type type;
    int64_t n, bs, nblocks;
    int ndim;
    int64_t shape[KBIT_MAX_DIMS];
    if (!golden_param_quant_type(params, &type) || !golden_param_int(params, "n", &n) ||
        !golden_param_int(params, "blocksize", &bs) ||
        !golden_param_int(params, "nblocks", &nblocks) ||
        !golden_param_shape(params, &ndim, shape)) {
        golden_fail(g, cname, "bad params", NULL);
        return;
    }
    const kbit_st_tensor *x = golden_role(g, cname, "x"), *packed = golden_role(g, cname, "packed"),
                         *absmax = golden_role(g, cname, "absmax"),
                         *qa = golden_role(g, cname, "qabsmax"),
                         *a2 = golden_role(g, cname, "absmax2"),
                         *code2 = golden_role(g, cname, "code2");
    float offset;
    if (!x || !packed || !absmax || !qa || !a2 || !code2 ||
        !golden_f32_scalar(g, cname, "offset", &offset))
        return;
    void *x_d = golden_upload(g, x);
    void *p_d = dev_alloc_fill(g->dev, packed->nbytes, 0xa5);
    void *a_d = dev_alloc_fill(g->dev, absmax->nbytes, 0xa5);
    kbit_status st = kbit_quantize_4bit(g->dev, type, x->dtype, x_d, n, (int)bs, p_d, a_d);
    if (golden_status(g, cname, st, "kbit_quantize_4bit")) {
        golden_expect_dev(g, cname, "kbit_quantize_4bit", p_d, packed);
        golden_expect_dev(g, cname, "kbit_quantize_4bit", a_d, absmax);
        void *rec_d = nested_chain(g, cname, a_d, nblocks);
        if (rec_d)
            check_dq4(g, cname, "kbit_dequantize_4bit (absmax_rec)", type, p_d, rec_d, n, (int)bs);
        dev_free(g->dev, rec_d);
    }

    /* the whole thing through a nested quant state */
    kbit_quant_state qs;
    st = kbit_quant_state_init(&qs, type, x->dtype, ndim, shape, (int)bs, 1);
    if (golden_status(g, cname, st, "kbit_quant_state_init") &&
        golden_status(g, cname, kbit_quant_state_alloc(g->dev, &qs), "kbit_quant_state_alloc")) {
        void *p2 = dev_alloc_fill(g->dev, packed->nbytes, 0x5a);
        st = kbit_quantize_4bit_state(g->dev, x_d, p2, &qs);
        if (golden_status(g, cname, st, "kbit_quantize_4bit_state")) {
            const char *what = "kbit_quantize_4bit_state (nested)";
            golden_expect_dev(g, cname, what, p2, packed);
            golden_expect_dev(g, cname, what, qs.absmax, qa);
            golden_expect_dev(g, cname, what, qs.absmax2, a2);
            golden_expect_host(g, cname, what, qs.code2, code2);
            golden_expect_host(g, cname, what, &qs.offset, golden_role(g, cname, "offset"));
            check_state_dq(g, cname, p2, &qs);
        }
        dev_free(g->dev, p2);
        kbit_quant_state_release(g->dev, &qs);
    }
    dev_free(g->dev, x_d);
    dev_free(g->dev, p_d);
    dev_free(g->dev, a_d);
}

static void op_dequantize_4bit_nested(conf_golden *g, const char *cname, json_t *params)
{
    kbit_quant_type type;
    int64_t n, bs, nblocks;
    if (!golden_param_quant_type(params, &type) || !golden_param_int(params, "n", &n) ||
        !golden_param_int(params, "blocksize", &bs) ||
        !golden_param_int(params, "nblocks", &nblocks)) {
        golden_fail(g, cname, "bad params", NULL);
        return;
    }
    const kbit_st_tensor *packed = golden_role(g, cname, "packed"),
                         *qa = golden_role(g, cname, "qabsmax"),
                         *a2 = golden_role(g, cname, "absmax2"),
                         *code2 = golden_role(g, cname, "code2"),
                         *rec = golden_role(g, cname, "absmax_rec");
    float offset;
    if (!packed || !qa || !a2 || !code2 || !rec || !golden_f32_scalar(g, cname, "offset", &offset))
        return;
    if (code2->dtype != KBIT_F32 || code2->numel != 256) {
        golden_fail(g, cname, "code2 is not F32[256]", NULL);
        return;
    }
    float map[256];
    memcpy(map, code2->data, sizeof map);
    void *p_d = golden_upload(g, packed), *q_d = golden_upload(g, qa), *a2_d = golden_upload(g, a2);
    void *rec_d = dev_alloc_fill(g->dev, rec->nbytes, 0xa5);
    kbit_status st = kbit_nested_dequantize(g->dev, q_d, a2_d, map, offset, nblocks, rec_d);
    if (golden_status(g, cname, st, "kbit_nested_dequantize")) {
        golden_expect_dev(g, cname, "kbit_nested_dequantize", rec_d, rec);
        check_dq4(g, cname, "kbit_dequantize_4bit (absmax_rec)", type, p_d, rec_d, n, (int)bs);
    }

    /* through a nested state whose buffers the caller provides */
    kbit_quant_state qs;
    st = kbit_quant_state_init(&qs, type, KBIT_F32, 1, &n, (int)bs, 1);
    if (golden_status(g, cname, st, "kbit_quant_state_init")) {
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

const conf_golden_op conf_golden_quant4[] = {
    { "quantize_4bit", op_quantize_4bit },
    { "dequantize_4bit", op_dequantize_4bit },
    { "enc4", op_enc4 },
    { "quantize_4bit_nested", op_quantize_4bit_nested },
    { "nested_absmax", op_nested_absmax },
    { "dequantize_4bit_nested", op_dequantize_4bit_nested },
    { NULL, NULL },
};
