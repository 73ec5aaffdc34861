/* lib/checkpoint/bnb.c - the bitsandbytes checkpoint format (doc/numerics.md 8). */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "checkpoint/bnb.h"
#include "checkpoint/jsonload.h"
#include "checkpoint/limits.h"
#include "runtime/error.h"
#include "checkpoint/safetensors.h"

static const struct {
    kbit_dtype dtype;
    const char *name;
} torch_names[] = {
    { KBIT_F32, "float32" }, { KBIT_F16, "float16" }, { KBIT_BF16, "bfloat16" },
    { KBIT_U8, "uint8" },    { KBIT_I8, "int8" },     { KBIT_F64, "float64" },
};

const char *kbit_bnb_dtype_name(kbit_dtype dtype)
{
    for (size_t i = 0; i < sizeof torch_names / sizeof torch_names[0]; i++)
        if (torch_names[i].dtype == dtype)
            return torch_names[i].name;
    return NULL;
}

int kbit_bnb_dtype_parse(const char *name, kbit_dtype *dtype)
{
    for (size_t i = 0; i < sizeof torch_names / sizeof torch_names[0]; i++)
        if (strcmp(torch_names[i].name, name) == 0) {
            *dtype = torch_names[i].dtype;
            return 1;
        }
    return 0;
}

static const char *quant_type_name(kbit_quant_type t)
{
    return t == KBIT_NF4 ? "nf4" : "fp4";
}

kbit_status kbit_bnb_blob(const kbit_quant_state *s, kbit_buf *out)
{
    /* JSON has no inf or NaN: such an offset could not be read back */
    if (s->nested && !isfinite(s->offset))
        return kbit_error(KBIT_EINVAL, "quant state: the nested offset %g is not finite",
                          (double)s->offset);
    /* json_object keeps insertion order: the order of QuantState.as_dict */
    json_t *shape = json_array();
    for (int i = 0; shape && i < s->ndim; i++)
        json_array_append_new(shape, json_integer(s->shape[i]));
    json_t *o = json_pack("{s:s,s:i,s:s,s:o}", "quant_type", quant_type_name(s->quant_type),
                          "blocksize", s->blocksize, "dtype", kbit_bnb_dtype_name(s->dtype),
                          "shape", shape);
    if (o && s->nested) {
        json_object_set_new(o, "nested_blocksize", json_integer(s->blocksize2));
        json_object_set_new(o, "nested_dtype", json_string("float32"));
        json_object_set_new(o, "nested_offset", json_real((double)s->offset));
    }
    int rc = kbit_pyjson_dump(out, o, -1, 0);
    json_decref(o);
    return rc == 0 ? KBIT_OK : kbit_error(KBIT_ENOMEM, "quant state JSON: out of memory");
}

static int get_int(const json_t *o, const char *key, json_int_t lo, json_int_t hi, json_int_t *v)
{
    const json_t *x = json_object_get(o, key);
    if (!json_is_integer(x) || json_integer_value(x) < lo || json_integer_value(x) > hi)
        return 0;
    *v = json_integer_value(x);
    return 1;
}

static kbit_status parse_blob_object(const json_t *o, kbit_quant_type suffix_type,
                                     const char *where, kbit_bnb_qs *q)
{
    const char *qt = json_string_value(json_object_get(o, "quant_type"));
    if (qt == NULL || (strcmp(qt, "nf4") != 0 && strcmp(qt, "fp4") != 0))
        return kbit_error(KBIT_EFORMAT, "%s: quant_type must be \"nf4\" or \"fp4\"", where);
    q->quant_type = strcmp(qt, "nf4") == 0 ? KBIT_NF4 : KBIT_FP4;
    if (q->quant_type != suffix_type)
        return kbit_error(KBIT_EFORMAT, "%s: quant_type \"%s\" does not match the key", where, qt);
    json_int_t bs;
    if (!get_int(o, "blocksize", 32, 4096, &bs) || (bs & (bs - 1)) != 0)
        return kbit_error(KBIT_EFORMAT, "%s: blocksize must be a power of two in 32..4096",
                          where);
    q->blocksize = (int)bs;
    const char *dt = json_string_value(json_object_get(o, "dtype"));
    if (dt == NULL || !kbit_bnb_dtype_parse(dt, &q->dtype) ||
        (q->dtype != KBIT_F32 && q->dtype != KBIT_F16 && q->dtype != KBIT_BF16))
        return kbit_error(KBIT_EFORMAT, "%s: dtype must be float32, float16 or bfloat16", where);
    const json_t *shape = json_object_get(o, "shape");
    if (!json_is_array(shape) || json_array_size(shape) > KBIT_MAX_DIMS)
        return kbit_error(KBIT_EFORMAT, "%s: shape must be a list of at most %d integers", where,
                          KBIT_MAX_DIMS);
    q->ndim = (int)json_array_size(shape);
    for (int i = 0; i < q->ndim; i++) {
        const json_t *d = json_array_get(shape, (size_t)i);
        if (!json_is_integer(d) || json_integer_value(d) < 0 ||
            json_integer_value(d) > (json_int_t)KBIT_CK_MAX_DIM)
            return kbit_error(KBIT_EFORMAT, "%s: shape[%d] is not a dimension", where, i);
        q->shape[i] = json_integer_value(d);
    }
    int has[3] = { json_object_get(o, "nested_blocksize") != NULL,
                   json_object_get(o, "nested_dtype") != NULL,
                   json_object_get(o, "nested_offset") != NULL };
    q->nested = has[0];
    if (has[0] != has[1] || has[0] != has[2])
        return kbit_error(KBIT_EFORMAT, "%s: nested_blocksize, nested_dtype and nested_offset "
                          "must all be present or all absent", where);
    if (q->nested) {
        json_int_t nbs;
        if (!get_int(o, "nested_blocksize", 256, 256, &nbs))
            return kbit_error(KBIT_EFORMAT, "%s: nested_blocksize must be 256", where);
        const char *ndt = json_string_value(json_object_get(o, "nested_dtype"));
        if (ndt == NULL || strcmp(ndt, "float32") != 0)
            return kbit_error(KBIT_EFORMAT, "%s: nested_dtype must be \"float32\"", where);
        const json_t *off = json_object_get(o, "nested_offset");
        if (!json_is_number(off) || !isfinite(json_number_value(off)))
            return kbit_error(KBIT_EFORMAT, "%s: nested_offset must be a finite number", where);
        q->offset = (float)json_number_value(off);
        if (!isfinite(q->offset))
            return kbit_error(KBIT_EFORMAT, "%s: nested_offset overflows float32", where);
    }
    return KBIT_OK;
}

kbit_status kbit_bnb_parse_blob(const void *bytes, size_t len, kbit_quant_type suffix_type,
                                const char *where, kbit_bnb_qs *out)
{
    kbit_json_error jerr;
    json_t *o = kbit_json_parse(bytes, len, KBIT_JSON_STRICT, NULL, &jerr);
    if (o == NULL)
        return kbit_error(jerr.out_of_memory ? KBIT_ENOMEM : KBIT_EFORMAT,
                          "%s: the quant state is not valid JSON (%s)", where, jerr.text);
    kbit_bnb_qs q;
    memset(&q, 0, sizeof q);
    kbit_status st = json_is_object(o)
                         ? parse_blob_object(o, suffix_type, where, &q)
                         : kbit_error(KBIT_EFORMAT, "%s: the quant state is not a JSON object",
                                      where);
    json_decref(o);
    if (st == KBIT_OK)
        *out = q;
    return st;
}

/* name + suffix into buf; KBIT_EINVAL when too long. */
static kbit_status key(char *buf, size_t len, const char *name, const char *suffix)
{
    if ((size_t)snprintf(buf, len, "%s%s", name, suffix) >= len)
        return kbit_error(KBIT_EINVAL, "tensor name '%.64s...' with its suffix %s is longer than "
                          "KBIT_CHECKPOINT_MAX_NAME (1024) bytes", name, suffix);
    return KBIT_OK;
}

#define KEY_MAX (KBIT_CK_MAX_NAME + 1)

kbit_status kbit_bnb_declare_4bit(kbit_stw *w, const char *name, const kbit_quant_state *s,
                                  kbit_dtype storage, kbit_bnb_slots4 *slots)
{
    char k[KEY_MAX];
    kbit_status st;
    int64_t packed = s->numel / 2 + s->numel % 2;
    size_t ssize = kbit_dtype_size(storage);
    const char *sname = kbit_st_dtype_name(storage);
    int64_t numel;
    uint64_t nbytes;
    char why[128];
    if (kbit_ck_check_shape(s->ndim, s->shape, 1, &numel, &nbytes, why, sizeof why))
        return kbit_error(KBIT_EINVAL, "%.200s: the quant state's shape cannot be stored: %s",
                          name, why);
    if (ssize == 0 || sname == NULL || packed % (int64_t)ssize != 0)
        return kbit_error(KBIT_EINVAL, "%s: %lld packed bytes cannot be stored as %s", name,
                          (long long)packed, kbit_dtype_name(storage));
    const int64_t wshape[2] = { packed / (int64_t)ssize, 1 };
    const int64_t ashape[1] = { s->nblocks }, qshape[1] = { 16 };
    const int64_t a2shape[1] = { s->nblocks2 }, c2shape[1] = { 256 };
    char qs[32];
    snprintf(qs, sizeof qs, "%s%s", KBIT_BNB_QS_PREFIX, quant_type_name(s->quant_type));
    if ((st = kbit_stw_add(w, name, sname, ssize, 2, wshape, &slots->weight)) != KBIT_OK ||
        (st = key(k, sizeof k, name, KBIT_BNB_ABSMAX)) != KBIT_OK ||
        (st = kbit_stw_add(w, k, s->nested ? "U8" : "F32", s->nested ? 1 : 4, 1, ashape,
                           &slots->absmax)) != KBIT_OK ||
        (st = key(k, sizeof k, name, KBIT_BNB_QUANT_MAP)) != KBIT_OK ||
        (st = kbit_stw_add(w, k, "F32", 4, 1, qshape, &slots->quant_map)) != KBIT_OK ||
        (st = key(k, sizeof k, name, qs)) != KBIT_OK ||
        (st = kbit_stw_add_late(w, k, &slots->blob)) != KBIT_OK)
        return st;
    if (!s->nested)
        return KBIT_OK;
    if ((st = key(k, sizeof k, name, KBIT_BNB_NESTED_ABSMAX)) != KBIT_OK ||
        (st = kbit_stw_add(w, k, "F32", 4, 1, a2shape, &slots->nested_absmax)) != KBIT_OK ||
        (st = key(k, sizeof k, name, KBIT_BNB_NESTED_QUANT_MAP)) != KBIT_OK ||
        (st = kbit_stw_add(w, k, "F32", 4, 1, c2shape, &slots->nested_quant_map)) != KBIT_OK)
        return st;
    return KBIT_OK;
}

kbit_status kbit_bnb_write_4bit(kbit_stw *w, const kbit_bnb_slots4 *slots,
                                const kbit_quant_state *s, const uint8_t *packed,
                                const void *absmax, const float *absmax2)
{
    kbit_buf blob = { 0 };
    kbit_status st;
    uint64_t nb = (uint64_t)s->nblocks;
    if ((st = kbit_stw_write(w, slots->weight, packed, (uint64_t)(s->numel / 2 + s->numel % 2))) !=
            KBIT_OK ||
        (st = kbit_stw_write(w, slots->absmax, absmax, nb * (s->nested ? 1 : 4))) != KBIT_OK ||
        (st = kbit_stw_write(w, slots->quant_map, s->code, sizeof s->code)) != KBIT_OK ||
        (st = kbit_bnb_blob(s, &blob)) != KBIT_OK ||
        (st = kbit_stw_write(w, slots->blob, blob.data, blob.len)) != KBIT_OK) {
        kbit_buf_free(&blob);
        return st;
    }
    kbit_buf_free(&blob);
    if (!s->nested)
        return KBIT_OK;
    if ((st = kbit_stw_write(w, slots->nested_absmax, absmax2, (uint64_t)s->nblocks2 * 4)) !=
        KBIT_OK)
        return st;
    return kbit_stw_write(w, slots->nested_quant_map, s->code2, sizeof s->code2);
}

int kbit_bnb_module_prefix(const char *name, char *buf, size_t len)
{
    size_t n = strlen(name), suffix = strlen(".weight");
    if (n <= suffix || strcmp(name + n - suffix, ".weight") != 0 || n - suffix + 2 > len)
        return 0;
    memcpy(buf, name, n - suffix + 1); /* keeps the '.' */
    buf[n - suffix + 1] = '\0';
    return 1;
}

kbit_status kbit_bnb_declare_int8(kbit_stw *w, const char *name, int64_t rows, int64_t cols,
                                  kbit_bnb_slots8 *slots)
{
    char prefix[KEY_MAX], k[KEY_MAX];
    if (!kbit_bnb_module_prefix(name, prefix, sizeof prefix))
        return kbit_error(KBIT_EINVAL, "'%.64s': an 8-bit weight's name must end in .weight",
                          name);
    const int64_t wshape[2] = { rows, cols }, sshape[1] = { rows };
    kbit_status st;
    if ((st = kbit_stw_add(w, name, "I8", 1, 2, wshape, &slots->weight)) != KBIT_OK ||
        (st = key(k, sizeof k, prefix, KBIT_BNB_SCB)) != KBIT_OK ||
        (st = kbit_stw_add(w, k, "F32", 4, 1, sshape, &slots->scb)) != KBIT_OK ||
        (st = key(k, sizeof k, prefix, KBIT_BNB_WEIGHT_FORMAT)) != KBIT_OK)
        return st;
    return kbit_stw_add(w, k, "U8", 1, 0, NULL, &slots->format);
}

kbit_status kbit_bnb_write_int8(kbit_stw *w, const kbit_bnb_slots8 *slots, int64_t rows,
                                int64_t cols, const int8_t *CB, const float *SCB)
{
    const uint8_t row_format = 0;
    kbit_status st;
    if ((st = kbit_stw_write(w, slots->weight, CB, (uint64_t)rows * (uint64_t)cols)) != KBIT_OK ||
        (st = kbit_stw_write(w, slots->scb, SCB, (uint64_t)rows * 4)) != KBIT_OK)
        return st;
    return kbit_stw_write(w, slots->format, &row_format, 1);
}

const char *const kbit_bnb_default_skip[KBIT_BNB_DEFAULT_SKIP_COUNT + 1] = { "lm_head", "embed_out",
                                                                         NULL };

/* The module's last name component is an embedding table. */
static int is_embedding(const char *module, size_t len)
{
    size_t start = len;
    while (start > 0 && module[start - 1] != '.')
        start--;
    char last[256];
    size_t n = len - start < sizeof last - 1 ? len - start : sizeof last - 1;
    memcpy(last, module + start, n);
    last[n] = '\0';
    return strstr(last, "embed") != NULL || strcmp(last, "wte") == 0 || strcmp(last, "wpe") == 0;
}

/* transformers' should_convert_module (5.x), with S a plain string: the
 * module is skipped when S matches it from the start up to a module
 * boundary ("model.layers.1" skips "model.layers.1.mlp.up_proj", not
 * "model.layers.11.mlp.up_proj"), or when the module name ends in S. */
static int is_skipped(const char *module, size_t len, const char *s)
{
    size_t sl = strlen(s);
    if (sl == 0 || sl > len)
        return 0;
    if (strncmp(module, s, sl) == 0 &&
        (sl == len || module[sl] == '.' || s[sl - 1] == '.'))
        return 1;
    return strncmp(module + len - sl, s, sl) == 0;
}

size_t kbit_bnb_weight_module(const char *name, int ndim, int dtype_known, kbit_dtype dtype)
{
    size_t n = strlen(name), suffix = strlen(".weight");
    if (ndim != 2 || !dtype_known || (dtype != KBIT_F32 && dtype != KBIT_F16 && dtype != KBIT_BF16))
        return 0;
    if (n <= suffix || strcmp(name + n - suffix, ".weight") != 0)
        return 0;
    return n - suffix;
}

int kbit_bnb_should_quantize(const char *name, int ndim, int dtype_known, kbit_dtype dtype,
                             const char *const *skip, size_t nskip)
{
    size_t mlen = kbit_bnb_weight_module(name, ndim, dtype_known, dtype);
    if (mlen == 0)
        return 0;
    if (is_embedding(name, mlen))
        return 0;
    for (size_t i = 0; i < nskip; i++)
        if (skip[i] && is_skipped(name, mlen, skip[i]))
            return 0;
    return 1;
}

json_t *kbit_bnb_quant_config(const kbit_quantize_options *o)
{
    json_t *skip = json_null();
    if (o->skip_modules != NULL) {
        skip = json_array();
        for (int i = 0; skip && i < o->skip_count; i++)
            json_array_append_new(skip, json_string(o->skip_modules[i]));
    }
    int four = o->bits == 4, eight = o->bits == 8;
    return json_pack("{s:s,s:b,s:b,s:b,s:b,s:f,s:o,s:b,s:b,s:s,s:s,s:b,s:s}",
                     "quant_method", "bitsandbytes",
                     "_load_in_4bit", four, "_load_in_8bit", eight,
                     "load_in_4bit", four, "load_in_8bit", eight,
                     "llm_int8_threshold", o->int8_threshold,
                     "llm_int8_skip_modules", skip,
                     "llm_int8_enable_fp32_cpu_offload", 0,
                     "llm_int8_has_fp16_weight", o->int8_has_fp16_weight != 0,
                     "bnb_4bit_compute_dtype", kbit_bnb_dtype_name(o->compute_dtype),
                     "bnb_4bit_quant_type", quant_type_name(o->quant_type),
                     "bnb_4bit_use_double_quant", o->double_quant != 0,
                     "bnb_4bit_quant_storage", kbit_bnb_dtype_name(o->quant_storage));
}
