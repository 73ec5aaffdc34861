/* tools/conformance/golden_gemm4.c - the golden vectors of the gemm4 family
 * (gemv4.safetensors): the 4-bit matmul forward (numerics 5, determinism 3)
 * on a quant state (plain or nested, as stored) and on a prepared weight. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devmem.h"
#include "families.h"
#include "golden.h"

/* gemm_4bit (numerics 5, determinism 3): the forward on a state (plain or
 * nested, as stored) and on a prepared weight. */
static void op_gemm_4bit(conf_golden *g, const char *cname, json_t *params)
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
    if (!golden_param_quant_type(params, &type) || !golden_param_int(params, "M", &M) ||
        !golden_param_int(params, "N", &N) || !golden_param_int(params, "K", &K) ||
        !golden_param_int(params, "blocksize", &bs) || !json_is_boolean(jn) ||
        !json_is_boolean(jb) ||
        dname == NULL) {
        golden_fail(g, cname, "bad params", NULL);
        return;
    }
    nested = json_is_true(jn);
    has_bias = json_is_true(jb);
    const kbit_st_tensor *A = golden_role(g, cname, "A"), *packed = golden_role(g, cname, "packed"),
                         *out = golden_role(g, cname, "out");
    const kbit_st_tensor *absmax = golden_role(g, cname, nested ? "qabsmax" : "absmax");
    const kbit_st_tensor *bias = has_bias ? golden_role(g, cname, "bias") : NULL;
    const kbit_st_tensor *a2 = nested ? golden_role(g, cname, "absmax2") : NULL;
    const kbit_st_tensor *code2 = nested ? golden_role(g, cname, "code2") : NULL;
    float offset = 0.0f;
    if (!A || !packed || !out || !absmax || (has_bias && !bias) ||
        (nested && (!a2 || !code2 || !golden_f32_scalar(g, cname, "offset", &offset))))
        return;
    kbit_quant_state qs;
    int64_t shape[2] = { N, K };
    kbit_status st = kbit_quant_state_init(&qs, type, dtype, 2, shape, (int)bs, (int)nested);
    if (!golden_status(g, cname, st, "kbit_quant_state_init"))
        return;
    void *A_d = golden_upload(g, A), *p_d = golden_upload(g, packed);
    void *am_d = golden_upload(g, absmax);
    void *a2_d = nested ? golden_upload(g, a2) : NULL;
    void *b_d = has_bias ? golden_upload(g, bias) : NULL;
    if (nested) {
        qs.offset = offset;
        memcpy(qs.code2, code2->data, sizeof qs.code2);
    }
    qs.absmax = am_d;
    qs.absmax2 = a2_d;
    void *o_d = dev_alloc_fill(g->dev, out->nbytes, 0xa5);
    st = kbit_gemm_4bit(g->dev, A_d, dtype, M, p_d, &qs, b_d, o_d);
    if (golden_status(g, cname, st, "kbit_gemm_4bit"))
        golden_expect_dev(g, cname, "kbit_gemm_4bit", o_d, out);
    kbit_gemm4_weight *w = NULL;
    st = kbit_gemm_4bit_prepare(g->dev, p_d, &qs, &w);
    if (golden_status(g, cname, st, "kbit_gemm_4bit_prepare")) {
        void *o2_d = dev_alloc_fill(g->dev, out->nbytes, 0x5a);
        st = kbit_gemm_4bit_prepared(g->dev, A_d, dtype, M, w, b_d, o2_d);
        if (golden_status(g, cname, st, "kbit_gemm_4bit_prepared"))
            golden_expect_dev(g, cname, "kbit_gemm_4bit_prepared", o2_d, out);
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

const conf_golden_op conf_golden_gemm4[] = {
    { "gemm_4bit", op_gemm_4bit },
    { NULL, NULL },
};
