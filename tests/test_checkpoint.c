/* tests/test_checkpoint.c - checkpoints in the bitsandbytes format:
 *  - Python-exact JSON: repr(float) and json.dumps strings (expected texts
 *    produced by CPython), the packed quant state byte for byte;
 *  - round trips quantize -> inspect (the C API) -> dequantize on generated
 *    multi-shard models (fp16 and bf16, tied and untied lm_head, NF4/FP4,
 *    nested or not): every output key, dtype, shape and byte checked against
 *    doc/numerics.md 8 and against the ops run directly, config.json's
 *    quantization_config and the index checked as text;
 *  - the C API: load onto a device, the writer, 8-bit weights;
 *  - malformed input: a clear KBIT_EFORMAT, no crash, and OUT never written.
 * Files live in a temporary directory under the current directory. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint/bnb.h"
#include "checkpoint/pyjson.h"
#include "checkpoint/safetensors.h"
#include "ckutil.h"
#include "tap.h"
#include "testutil.h"

static const char *root; /* the scratch directory */
static kbit_device *dev;
/* a path under root */
#define path_of(...) ck_path(root, __VA_ARGS__)

/* ------------------------------------------------------------------ */
/* Python-exact JSON                                                    */

static void test_py_repr(void)
{
    static const struct {
        uint64_t bits;
        const char *want;
    } cases[] = {
        { 0x0000000000000000ull, "0.0" },
        { 0x8000000000000000ull, "-0.0" },
        { 0x3ff0000000000000ull, "1.0" },
        { 0xc004000000000000ull, "-2.5" },
        { 0x3fb999999999999aull, "0.1" },
        { 0x3fb99999a0000000ull, "0.10000000149011612" },
        { 0x3f8948b100000000ull, "0.012345679104328156" },
        { 0x3ee4f8b588e368f1ull, "1e-05" },
        { 0x3f1a36e2eb1c432dull, "0.0001" },
        { 0x3f202e4b6ce5dc68ull, "0.00012345" },
        { 0x4341c37937e08000ull, "1e+16" },
        { 0x430c6bf526340000ull, "1000000000000000.0" },
        { 0x419d6f3454000000ull, "123456789.0" },
        { 0x7e41eb2d66005835ull, "1.5e+300" },
        { 0x0000000000000001ull, "5e-324" },
        { 0x0000000000000003ull, "1.5e-323" },
        { 0x0010000000000000ull, "2.2250738585072014e-308" },
        { 0x7fe0000000000000ull, "8.98846567431158e+307" },
        { 0x47efffffe0000000ull, "3.4028234663852886e+38" },
        { 0x4018000000000000ull, "6.0" },
        { 0x3faaa72000000000ull, "0.052056312561035156" },
        { 0x7ff0000000000000ull, "Infinity" },
        { 0xfff0000000000000ull, "-Infinity" },
        { 0x7ff8000000000000ull, "NaN" },
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double v;
        char got[40];
        memcpy(&v, &cases[i].bits, 8);
        kbit_py_float_repr(v, got);
        if (strcmp(got, cases[i].want) != 0) {
            tap_diag("repr(0x%016llx): got %s, want %s", (unsigned long long)cases[i].bits, got,
                     cases[i].want);
            bad++;
        }
    }
    tap_ok(bad == 0, "repr(float) of %zu doubles equals CPython's json.dumps text",
           sizeof cases / sizeof cases[0]);
}

static void test_pyjson(void)
{
    const char *src = "{\"b\": [1, 2.5, {\"z\": null, \"a\": true}], \"a\": \"caf\\u00e9 "
                      "\\ud83d\\ude00 \\\"q\\\"\\n\\t/\\u0001\\u007f\", \"c\": {}, \"d\": [], "
                      "\"e\": false, \"f\": -3}";
    const char *want_indent =
        "{\n  \"a\": \"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\"\\n\\t/\\u0001\\u007f\",\n"
        "  \"b\": [\n    1,\n    2.5,\n    {\n      \"a\": true,\n      \"z\": null\n    }\n"
        "  ],\n  \"c\": {},\n  \"d\": [],\n  \"e\": false,\n  \"f\": -3\n}";
    json_t *v = json_loads(src, 0, NULL);
    kbit_buf a = { 0 }, b = { 0 };
    int ok = v && kbit_pyjson_dump(&a, v, -1, 0) == 0 && kbit_pyjson_dump(&b, v, 2, 1) == 0;
    if (!tap_ok(ok && strcmp(a.data, src) == 0, "json.dumps(d): one line, insertion order"))
        tap_diag("got %s", a.data ? a.data : "(null)");
    if (!tap_ok(ok && strcmp(b.data, want_indent) == 0,
                "json.dumps(d, indent=2, sort_keys=True) as transformers writes config.json"))
        tap_diag("got %s", b.data ? b.data : "(null)");
    kbit_buf_free(&a);
    kbit_buf_free(&b);
    json_decref(v);
}

static void test_blob(void)
{
    const int64_t shape[2] = { 4096, 11008 };
    kbit_quant_state s;
    kbit_quant_state_init(&s, KBIT_NF4, KBIT_BF16, 2, shape, 64, 1);
    s.offset = 0.012345679f;
    kbit_buf b = { 0 };
    kbit_bnb_blob(&s, &b);
    tap_ok(b.data && strcmp(b.data, "{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": "
                                    "\"bfloat16\", \"shape\": [4096, 11008], \"nested_blocksize\": "
                                    "256, \"nested_dtype\": \"float32\", \"nested_offset\": "
                                    "0.012345679104328156}") == 0,
           "nested quant-state blob equals numerics 8.1's example byte for byte");
    kbit_buf_free(&b);
    kbit_quant_state_init(&s, KBIT_FP4, KBIT_F16, 2, shape, 64, 0);
    kbit_bnb_blob(&s, &b);
    tap_ok(b.data && strcmp(b.data, "{\"quant_type\": \"fp4\", \"blocksize\": 64, \"dtype\": "
                                    "\"float16\", \"shape\": [4096, 11008]}") == 0,
           "plain quant-state blob equals numerics 8.1's form");
    kbit_buf_free(&b);
}

static void test_skip_rule(void)
{
    static const struct {
        const char *name;
        int ndim;
        kbit_dtype dtype;
        int want;
    } cases[] = {
        { "model.layers.0.mlp.up_proj.weight", 2, KBIT_F16, 1 },
        { "model.layers.0.self_attn.q_proj.weight", 2, KBIT_BF16, 1 },
        { "model.layers.0.mlp.up_proj.bias", 1, KBIT_F16, 0 },
        { "model.layers.0.input_layernorm.weight", 1, KBIT_F16, 0 },
        { "model.embed_tokens.weight", 2, KBIT_F16, 0 },
        { "transformer.wte.weight", 2, KBIT_F16, 0 },
        { "embeddings.position_embeddings.weight", 2, KBIT_F32, 0 },
        { "lm_head.weight", 2, KBIT_F16, 0 },
        { "gpt_neox.embed_out.weight", 2, KBIT_F16, 0 },
        { "model.layers.0.mlp.up_proj.weight", 2, KBIT_I8, 0 },
        { "model.layers.0.conv.weight", 4, KBIT_F16, 0 },
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (kbit_checkpoint_should_quantize(cases[i].name, cases[i].ndim, cases[i].dtype, NULL,
                                            0) != cases[i].want) {
            tap_diag("%s: want %d", cases[i].name, cases[i].want);
            bad++;
        }
    tap_ok(bad == 0, "default rule: 2-D float *.weight, not embeddings / norms / lm_head");
    const char *const skip[] = { "model.layers.1", "q_proj" };
    tap_ok(!kbit_checkpoint_should_quantize("model.layers.1.mlp.up_proj.weight", 2, KBIT_F16,
                                            skip, 2) &&
               kbit_checkpoint_should_quantize("model.layers.11.mlp.up_proj.weight", 2, KBIT_F16,
                                               skip, 2) &&
               !kbit_checkpoint_should_quantize("model.layers.0.self_attn.q_proj.weight", 2,
                                                KBIT_F16, skip, 2) &&
               kbit_checkpoint_should_quantize("model.layers.0.self_attn.k_proj.weight", 2,
                                               KBIT_F16, skip, 2) &&
               kbit_checkpoint_should_quantize("lm_head.weight", 2, KBIT_F16, skip, 2),
           "--skip-modules replaces the default: a prefix up to a module boundary, or a suffix");
}

/* ------------------------------------------------------------------ */
/* A generated model                                                    */

typedef struct gen_tensor {
    const char *name;
    int ndim;
    int64_t shape[2];
    int shard;
    int special; /* 1: blocks with absmax 0.5 / 0.25 alternately (offset 0.375) */
} gen_tensor;

#define NT 9
static const gen_tensor model_tensors[NT] = {
    { "model.embed_tokens.weight", 2, { 64, 32 }, 0, 0 },
    { "model.layers.0.self_attn.q_proj.weight", 2, { 32, 32 }, 0, 1 },
    { "model.layers.0.mlp.up_proj.weight", 2, { 48, 32 }, 0, 0 },
    { "model.layers.0.mlp.up_proj.bias", 1, { 48 }, 1, 0 },
    { "model.layers.0.odd.weight", 2, { 3, 5 }, 1, 0 },
    { "model.layers.0.big.weight", 2, { 160, 256 }, 1, 0 },
    { "model.layers.0.input_layernorm.weight", 1, { 32 }, 1, 0 },
    { "model.norm.weight", 1, { 32 }, 2, 0 },
    { "lm_head.weight", 2, { 64, 32 }, 2, 0 },
};

static int64_t numel_of(const gen_tensor *t)
{
    return t->ndim == 1 ? t->shape[0] : t->shape[0] * t->shape[1];
}

/* The values of tensor i (fp32, rounded to dtype). */
static float *gen_values(int i, kbit_dtype dtype)
{
    const gen_tensor *t = &model_tensors[i];
    int64_t n = numel_of(t);
    float *v = malloc((size_t)n * sizeof *v);
    rng r;
    rng_seed(&r, 1000 + (uint64_t)i);
    for (int64_t k = 0; k < n; k++)
        v[k] = dtype_round(dtype, (float)(0.02 * rng_normal(&r)));
    if (t->special)
        for (int64_t k = 0; k < n; k++)
            v[k] = (k % 64 == 5) ? ((k / 64) % 2 ? 0.25f : -0.5f) : 0.0625f;
    return v;
}

/* Write a 3-shard model (with index, config and an extra file). */
static void write_model(const char *dir, kbit_dtype dtype, int tied)
{
    mkdir(dir, 0755);
    char idx[8192];
    int k = snprintf(idx, sizeof idx, "{\n  \"metadata\": {\n    \"total_size\": 1\n  },\n"
                                      "  \"weight_map\": {\n");
    for (int s = 0; s < 3; s++) {
        char p[1024];
        snprintf(p, sizeof p, "%s/model-%05d-of-00003.safetensors", dir, s + 1);
        kbit_checkpoint_writer *w = NULL;
        if (kbit_checkpoint_writer_create(p, &w) != KBIT_OK)
            tap_bail("writer: %s", kbit_last_error());
        for (int i = 0; i < NT; i++) {
            const gen_tensor *t = &model_tensors[i];
            if (t->shard != s || (tied && strcmp(t->name, "lm_head.weight") == 0))
                continue;
            float *v = gen_values(i, dtype);
            void *data = malloc((size_t)numel_of(t) * 4);
            f32_to_dtype(dtype, v, data, (size_t)numel_of(t));
            if (kbit_checkpoint_writer_add(w, t->name, dtype, t->ndim, t->shape, data) != KBIT_OK)
                tap_bail("writer add: %s", kbit_last_error());
            free(v);
            free(data);
            k += snprintf(idx + k, sizeof idx - (size_t)k, "%s    \"%s\": "
                          "\"model-%05d-of-00003.safetensors\"", k > 80 ? ",\n" : "", t->name,
                          s + 1);
        }
        /* a non-float tensor is carried over as it is */
        if (s == 2) {
            const int64_t shape[1] = { 4 };
            const int64_t ids[4] = { 0, 1, 2, 3 };
            kbit_checkpoint_writer_add(w, "position_ids", KBIT_I64, 1, shape, ids);
            k += snprintf(idx + k, sizeof idx - (size_t)k,
                          ",\n    \"position_ids\": \"model-00003-of-00003.safetensors\"");
        }
        if (kbit_checkpoint_writer_finish(w) != KBIT_OK)
            tap_bail("writer finish: %s", kbit_last_error());
    }
    snprintf(idx + k, sizeof idx - (size_t)k, "\n  }\n}\n");
    char p[1024];
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
    ck_write_text(p, idx);
    snprintf(p, sizeof p, "%s/config.json", dir);
    ck_write_text(p, tied ? "{\"model_type\": \"llama\", \"tie_word_embeddings\": true, "
                         "\"rms_norm_eps\": 1e-06}"
                       : "{\"model_type\": \"llama\", \"tie_word_embeddings\": false, "
                         "\"rms_norm_eps\": 1e-06}");
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    ck_write_text(p, "{\"tok\": 1}\n");
    snprintf(p, sizeof p, "%s/1_Pooling", dir);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/1_Pooling/config.json", dir);
    ck_write_text(p, "{\"pool\": 2}\n");
}

/* The tensor named `name` in any shard of a directory; NULL if absent. */
typedef struct shardset {
    kbit_st_file *f[3];
} shardset;

static void shards_open(shardset *s, const char *dir)
{
    for (int i = 0; i < 3; i++) {
        char p[1024];
        snprintf(p, sizeof p, "%s/model-%05d-of-00003.safetensors", dir, i + 1);
        if (kbit_st_open(p, &s->f[i]) != KBIT_OK)
            tap_bail("open %s: %s", p, kbit_last_error());
    }
}

static const kbit_st_tensor *shards_find(const shardset *s, const char *name, int *shard)
{
    for (int i = 0; i < 3; i++) {
        const kbit_st_tensor *t = kbit_st_find(s->f[i], name);
        if (t) {
            if (shard)
                *shard = i;
            return t;
        }
    }
    return NULL;
}

static void shards_close(shardset *s)
{
    for (int i = 0; i < 3; i++)
        kbit_st_close(s->f[i]);
}

static int check_tensor(const shardset *s, const char *name, const char *dtype, int ndim,
                        int64_t d0, int64_t d1, int want_shard)
{
    int shard = -1;
    const kbit_st_tensor *t = shards_find(s, name, &shard);
    int ok = t && strcmp(t->st_dtype, dtype) == 0 && t->ndim == ndim &&
             (ndim < 1 || t->shape[0] == d0) && (ndim < 2 || t->shape[1] == d1) &&
             shard == want_shard;
    if (!ok)
        tap_diag("%s: %s", name, t ? "wrong dtype, shape or shard" : "missing");
    return ok;
}

/* One configuration: quantize, check the files, load, dequantize. */
static void round_trip(kbit_dtype dtype, int tied, kbit_quant_type qt, int nested)
{
    char label[96];
    snprintf(label, sizeof label, "%s %s %s%s", dtype_str(dtype), tied ? "tied" : "untied",
             qt == KBIT_NF4 ? "nf4" : "fp4", nested ? " nested" : "");
    char *in = strdup(path_of("in-%s-%d-%d-%d", dtype_str(dtype), tied, qt, nested));
    char *out = strdup(path_of("q-%s-%d-%d-%d", dtype_str(dtype), tied, qt, nested));
    char *back = strdup(path_of("dq-%s-%d-%d-%d", dtype_str(dtype), tied, qt, nested));
    write_model(in, dtype, tied);

    kbit_quantize_options o;
    kbit_quantize_options_init(&o);
    o.quant_type = qt;
    o.double_quant = nested;
    o.compute_dtype = KBIT_BF16;
    kbit_convert_report rep;
    kbit_status st = kbit_checkpoint_quantize(dev, in, out, &o, &rep);
    if (!tap_ok(st == KBIT_OK && rep.shards == 3 && rep.converted == 4 &&
                    rep.tensors == NT + 1 - tied && rep.files_copied == 2,
                "%s: quantize a 3-shard model (4 weights quantized)", label)) {
        tap_diag("%s; converted %lld tensors %lld", kbit_last_error(), (long long)rep.converted,
                 (long long)rep.tensors);
        return;
    }

    /* every key, dtype, shape and shard of the output */
    shardset s;
    shards_open(&s, out);
    int ok = 1, keys = 0;
    const char *qs_suffix = qt == KBIT_NF4 ? "nf4" : "fp4";
    for (int i = 0; i < NT; i++) {
        const gen_tensor *t = &model_tensors[i];
        if (tied && strcmp(t->name, "lm_head.weight") == 0)
            continue;
        int64_t n = numel_of(t);
        int q = kbit_checkpoint_should_quantize(t->name, t->ndim, dtype, NULL, 0);
        char k[512];
        if (!q) {
            ok &= check_tensor(&s, t->name, kbit_st_dtype_name(dtype), t->ndim, t->shape[0],
                               t->shape[1], t->shard);
            keys++;
            continue;
        }
        int64_t nb = (n + 63) / 64, nb2 = (nb + 255) / 256;
        ok &= check_tensor(&s, t->name, "U8", 2, (n + 1) / 2, 1, t->shard);
        snprintf(k, sizeof k, "%s.absmax", t->name);
        ok &= check_tensor(&s, k, nested ? "U8" : "F32", 1, nb, 0, t->shard);
        snprintf(k, sizeof k, "%s.quant_map", t->name);
        ok &= check_tensor(&s, k, "F32", 1, 16, 0, t->shard);
        const kbit_st_tensor *qm = shards_find(&s, k, NULL);
        ok &= qm && memcmp(ck_tensor_bytes(qm), kbit_4bit_quant_map(qt), 64) == 0;
        keys += 4;
        if (nested) {
            snprintf(k, sizeof k, "%s.nested_absmax", t->name);
            ok &= check_tensor(&s, k, "F32", 1, nb2, 0, t->shard);
            snprintf(k, sizeof k, "%s.nested_quant_map", t->name);
            ok &= check_tensor(&s, k, "F32", 1, 256, 0, t->shard);
            const kbit_st_tensor *c2 = shards_find(&s, k, NULL);
            ok &= c2 && memcmp(ck_tensor_bytes(c2), kbit_dynamic_map(KBIT_MAP_SIGNED), 1024) == 0;
            keys += 2;
        }

        /* the bytes equal the ops run directly on the same input */
        float *v = gen_values(i, dtype);
        void *x = malloc((size_t)n * 4);
        f32_to_dtype(dtype, v, x, (size_t)n);
        kbit_quant_state ref;
        uint8_t *packed = malloc((size_t)(n + 1) / 2);
        kbit_quant_state_init(&ref, qt, dtype, 2, t->shape, 64, nested);
        kbit_quant_state_alloc(dev, &ref);
        if (kbit_quantize_4bit_state(dev, x, packed, &ref) != KBIT_OK)
            tap_bail("quantize: %s", kbit_last_error());
        const kbit_st_tensor *w = shards_find(&s, t->name, NULL);
        snprintf(k, sizeof k, "%s.absmax", t->name);
        const kbit_st_tensor *am = shards_find(&s, k, NULL);
        ok &= w && memcmp(ck_tensor_bytes(w), packed, (size_t)(n + 1) / 2) == 0;
        ok &= am && memcmp(ck_tensor_bytes(am), ref.absmax, (size_t)(nested ? nb : 4 * nb)) == 0;
        if (nested) {
            snprintf(k, sizeof k, "%s.nested_absmax", t->name);
            const kbit_st_tensor *a2 = shards_find(&s, k, NULL);
            ok &= a2 && memcmp(ck_tensor_bytes(a2), ref.absmax2, (size_t)nb2 * 4) == 0;
        }
        /* the blob, byte for byte */
        char want[512], rep_off[40];
        kbit_py_float_repr((double)ref.offset, rep_off);
        int wl = snprintf(want, sizeof want, "{\"quant_type\": \"%s\", \"blocksize\": 64, "
                          "\"dtype\": \"%s\", \"shape\": [%lld, %lld]", qs_suffix,
                          dtype == KBIT_F16 ? "float16" : "bfloat16", (long long)t->shape[0],
                          (long long)t->shape[1]);
        if (nested)
            snprintf(want + wl, sizeof want - (size_t)wl, ", \"nested_blocksize\": 256, "
                     "\"nested_dtype\": \"float32\", \"nested_offset\": %s}",
                     t->special ? "0.375" : rep_off);
        else
            snprintf(want + wl, sizeof want - (size_t)wl, "}");
        snprintf(k, sizeof k, "%s.quant_state.bitsandbytes__%s", t->name, qs_suffix);
        const kbit_st_tensor *blob = shards_find(&s, k, NULL);
        ok &= check_tensor(&s, k, "U8", 1, (int64_t)strlen(want), 0, t->shard);
        if (!(blob && blob->nbytes == strlen(want) && memcmp(ck_tensor_bytes(blob), want, blob->nbytes) == 0)) {
            tap_diag("%s: blob is '%.*s', want '%s'", t->name, blob ? (int)blob->nbytes : 0,
                     blob ? (const char *)ck_tensor_bytes(blob) : "", want);
            ok = 0;
        }
        kbit_quant_state_release(dev, &ref);
        free(packed);
        free(x);
        free(v);
    }
    ok &= check_tensor(&s, "position_ids", "I64", 1, 4, 0, 2);
    keys++;
    size_t total = 0;
    for (int i = 0; i < 3; i++)
        total += kbit_st_count(s.f[i]);
    tap_ok(ok && total == (size_t)keys, "%s: %d keys with the dtypes, shapes, shards and bytes "
           "of numerics 8.1 (blobs byte for byte)", label, keys);
    /* tensors start at a multiple of their element size (torch views them in place) */
    int aligned = 1;
    for (int i = 0; i < 3; i++)
        for (size_t j = 0; j < kbit_st_count(s.f[i]); j++) {
            const kbit_st_tensor *t = kbit_st_at(s.f[i], j);
            aligned &= t->file_offset % t->elem_size == 0;
        }
    tap_ok(aligned, "%s: every tensor is aligned to its element size in the file", label);
    shards_close(&s);

    /* config.json and the index, as text */
    char *cfg = ck_read_file(
        path_of("q-%s-%d-%d-%d/config.json", dtype_str(dtype), tied, qt, nested), NULL);
    char want_cfg[2048];
    snprintf(want_cfg, sizeof want_cfg,
             "{\n  \"model_type\": \"llama\",\n  \"quantization_config\": {\n"
             "    \"_load_in_4bit\": true,\n    \"_load_in_8bit\": false,\n"
             "    \"bnb_4bit_compute_dtype\": \"bfloat16\",\n"
             "    \"bnb_4bit_quant_storage\": \"uint8\",\n    \"bnb_4bit_quant_type\": \"%s\",\n"
             "    \"bnb_4bit_use_double_quant\": %s,\n"
             "    \"llm_int8_enable_fp32_cpu_offload\": false,\n"
             "    \"llm_int8_has_fp16_weight\": false,\n    \"llm_int8_skip_modules\": null,\n"
             "    \"llm_int8_threshold\": 6.0,\n    \"load_in_4bit\": true,\n"
             "    \"load_in_8bit\": false,\n    \"quant_method\": \"bitsandbytes\"\n  },\n"
             "  \"rms_norm_eps\": 1e-06,\n  \"tie_word_embeddings\": %s\n}\n",
             qs_suffix, nested ? "true" : "false", tied ? "true" : "false");
    if (!tap_ok(cfg && strcmp(cfg, want_cfg) == 0, "%s: config.json with quantization_config "
                "as transformers writes it", label))
        tap_diag("got:\n%s", cfg ? cfg : "(none)");
    free(cfg);
    char *idx = ck_read_file(path_of("q-%s-%d-%d-%d/model.safetensors.index.json",
                                     dtype_str(dtype), tied, qt, nested), NULL);
    json_t *ij = idx ? json_loads(idx, 0, NULL) : NULL;
    json_t *wm = json_object_get(ij, "weight_map");
    tap_ok(json_object_size(wm) == (size_t)keys &&
               json_is_string(json_object_get(wm, "model.layers.0.big.weight.absmax")) &&
               strcmp(json_string_value(json_object_get(wm, "model.layers.0.big.weight.absmax")),
                      "model-00002-of-00003.safetensors") == 0 &&
               idx[strlen(idx) - 1] == '\n' && strncmp(idx, "{\n  \"metadata\": {\n", 18) == 0,
           "%s: index maps all %d keys to their shards", label, keys);
    json_decref(ij);
    free(idx);
    char *tok = ck_read_file(path_of("q-%s-%d-%d-%d/tokenizer.json", dtype_str(dtype), tied, qt,
                                     nested), NULL);
    char *pool = ck_read_file(path_of("q-%s-%d-%d-%d/1_Pooling/config.json", dtype_str(dtype), tied,
                                      qt, nested), NULL);
    tap_ok(tok && strcmp(tok, "{\"tok\": 1}\n") == 0 && pool && strcmp(pool, "{\"pool\": 2}\n") == 0,
           "%s: other files copied, subdirectories too", label);
    free(tok);
    free(pool);

    /* the C API reads it back: info, load onto the device, dequantize */
    kbit_checkpoint *ck = NULL;
    ok = kbit_checkpoint_open(out, &ck) == KBIT_OK && kbit_checkpoint_count(ck) == NT + 1 - tied;
    kbit_tensor_info info;
    ok = ok && kbit_checkpoint_info(ck, "model.layers.0.big.weight", &info) == KBIT_OK &&
         info.format == KBIT_WEIGHT_4BIT && info.ndim == 2 && info.shape[0] == 160 &&
         info.shape[1] == 256 && info.quant_type == qt && info.nested == nested &&
         info.dtype == dtype && info.blocksize == 64;
    uint8_t *packed = NULL;
    kbit_quant_state ls;
    ok = ok && kbit_checkpoint_load_4bit(ck, "model.layers.0.big.weight", dev, &packed, &ls) ==
                   KBIT_OK &&
         ls.ndim == 2 && ls.shape[0] == 160 && ls.shape[1] == 256 && ls.nested == nested;
    if (ok) {
        /* equal to dequantizing the original directly */
        float *v = gen_values(5, dtype);
        void *x = malloc(160 * 256 * 4);
        f32_to_dtype(dtype, v, x, 160 * 256);
        kbit_quant_state ref;
        uint8_t *rp = malloc(160 * 128);
        float *a = malloc(160 * 256 * 4), *b = malloc(160 * 256 * 4);
        kbit_quant_state_init(&ref, qt, dtype, 2, model_tensors[5].shape, 64, nested);
        kbit_quant_state_alloc(dev, &ref);
        ok = kbit_quantize_4bit_state(dev, x, rp, &ref) == KBIT_OK &&
             kbit_dequantize_4bit_state(dev, rp, &ref, KBIT_F32, a) == KBIT_OK &&
             kbit_dequantize_4bit_state(dev, packed, &ls, KBIT_F32, b) == KBIT_OK &&
             tap_cmp_f32(b, a, 160 * 256, "loaded state") == 0 &&
             (!nested || ls.offset == ref.offset);
        kbit_quant_state_release(dev, &ref);
        free(rp);
        free(a);
        free(b);
        free(x);
        free(v);
        kbit_free(dev, packed);
        kbit_quant_state_release(dev, &ls);
    }
    if (!tap_ok(ok, "%s: kbit_checkpoint_load_4bit gives the state kbit_gemm_4bit takes "
                "(ndim 2, {N, K}); dequantizes bit for bit", label))
        tap_diag("%s", kbit_last_error());
    kbit_checkpoint_close(ck);

    /* dequantize back; compare with the direct ops and the plain tensors */
    st = kbit_checkpoint_dequantize(dev, out, back, dtype, 0, NULL, NULL, &rep);
    ok = st == KBIT_OK && rep.converted == 4;
    kbit_checkpoint *orig = NULL, *deq = NULL, *qck = NULL;
    ok = ok && kbit_checkpoint_open(in, &orig) == KBIT_OK &&
         kbit_checkpoint_open(back, &deq) == KBIT_OK && kbit_checkpoint_open(out, &qck) == KBIT_OK;
    for (int64_t i = 0; ok && i < kbit_checkpoint_count(deq); i++) {
        const char *name = kbit_checkpoint_name(deq, i);
        kbit_tensor_info di, oi, qi;
        ok = kbit_checkpoint_info(deq, name, &di) == KBIT_OK &&
             kbit_checkpoint_info(orig, name, &oi) == KBIT_OK &&
             kbit_checkpoint_info(qck, name, &qi) == KBIT_OK && di.format == KBIT_WEIGHT_PLAIN &&
             di.numel == oi.numel && di.ndim == oi.ndim &&
             memcmp(di.shape, oi.shape, sizeof di.shape) == 0 &&
             strcmp(di.st_dtype, oi.st_dtype) == 0;
        if (!ok || qi.format == KBIT_WEIGHT_PLAIN)
            continue;
        void *a = NULL, *b = NULL;
        ok = kbit_checkpoint_load_tensor(deq, name, dev, dtype, &a) == KBIT_OK &&
             kbit_checkpoint_load_tensor(qck, name, dev, dtype, &b) == KBIT_OK &&
             tap_cmp_dtype(dtype, a, b, (size_t)di.numel, name) == 0;
        kbit_free(dev, a);
        kbit_free(dev, b);
    }
    char *cfg2 = ck_read_file(path_of("dq-%s-%d-%d-%d/config.json", dtype_str(dtype), tied, qt,
                                      nested), NULL);
    ok = ok && cfg2 && strstr(cfg2, "quantization_config") == NULL;
    free(cfg2);
    if (!tap_ok(ok, "%s: dequantize -> plain %s tensors equal to the 4-bit dequantization; "
                "quantization_config removed", label, dtype_str(dtype)))
        tap_diag("%s", kbit_last_error());
    kbit_checkpoint_close(orig);
    kbit_checkpoint_close(deq);
    kbit_checkpoint_close(qck);

    /* OUT exists: refused without replace, and left alone */
    st = kbit_checkpoint_quantize(dev, in, out, &o, NULL);
    tap_ok(st == KBIT_EINVAL && strstr(kbit_last_error(), "exists"),
           "%s: an existing OUT is refused without replace", label);
    free(in);
    free(out);
    free(back);
}


/* 8-bit: quantize -> keys of numerics 8.2 -> dequantize. */
static void round_trip_int8(kbit_dtype dtype)
{
    char *in = strdup(path_of("in8-%s", dtype_str(dtype)));
    char *out = strdup(path_of("q8-%s", dtype_str(dtype)));
    char *back = strdup(path_of("dq8-%s", dtype_str(dtype)));
    write_model(in, dtype, 0);
    kbit_quantize_options o;
    kbit_quantize_options_init(&o);
    o.bits = 8;
    o.int8_threshold = 4.5;
    kbit_convert_report rep;
    int ok = kbit_checkpoint_quantize(dev, in, out, &o, &rep) == KBIT_OK && rep.converted == 4;
    if (!tap_ok(ok, "int8 %s: quantize (4 weights)", dtype_str(dtype))) {
        tap_diag("%s", kbit_last_error());
        return;
    }
    shardset s;
    shards_open(&s, out);
    int keys = 0;
    for (int i = 0; i < NT; i++) {
        const gen_tensor *t = &model_tensors[i];
        int64_t n = numel_of(t);
        if (!kbit_checkpoint_should_quantize(t->name, t->ndim, dtype, NULL, 0)) {
            keys++;
            continue;
        }
        char k[600], prefix[256];
        snprintf(prefix, sizeof prefix, "%.*s", (int)(strlen(t->name) - 6), t->name);
        ok &= check_tensor(&s, t->name, "I8", 2, t->shape[0], t->shape[1], t->shard);
        snprintf(k, sizeof k, "%sSCB", prefix);
        ok &= check_tensor(&s, k, "F32", 1, t->shape[0], 0, t->shard);
        const kbit_st_tensor *scb = shards_find(&s, k, NULL);
        snprintf(k, sizeof k, "%sweight_format", prefix);
        ok &= check_tensor(&s, k, "U8", 0, 0, 0, t->shard);
        const kbit_st_tensor *wf = shards_find(&s, k, NULL);
        ok &= wf && ((const uint8_t *)ck_tensor_bytes(wf))[0] == 0;
        keys += 3;
        float *v = gen_values(i, dtype);
        void *x = malloc((size_t)n * 4);
        f32_to_dtype(dtype, v, x, (size_t)n);
        int8_t *cb = malloc((size_t)n);
        float *sc = malloc((size_t)t->shape[0] * 4);
        ok &= kbit_int8_quantize_weight(dev, dtype, x, t->shape[0], t->shape[1], cb, sc) ==
              KBIT_OK;
        const kbit_st_tensor *w = shards_find(&s, t->name, NULL);
        ok &= w && memcmp(ck_tensor_bytes(w), cb, (size_t)n) == 0 && scb &&
              memcmp(ck_tensor_bytes(scb), sc, (size_t)t->shape[0] * 4) == 0;
        free(v);
        free(x);
        free(cb);
        free(sc);
    }
    size_t total = 0;
    for (int i = 0; i < 3; i++)
        total += kbit_st_count(s.f[i]);
    shards_close(&s);
    tap_ok(ok && total == (size_t)keys + 1, "int8 %s: weight I8, SCB F32, weight_format U8 0 "
           "(numerics 8.2), bytes equal kbit_int8_quantize_weight", dtype_str(dtype));
    char *cfg = ck_read_file(path_of("q8-%s/config.json", dtype_str(dtype)), NULL);
    tap_ok(cfg && strstr(cfg, "\"load_in_8bit\": true") && strstr(cfg, "\"_load_in_8bit\": true") &&
               strstr(cfg, "\"llm_int8_threshold\": 4.5") &&
               strstr(cfg, "\"load_in_4bit\": false"),
           "int8 %s: quantization_config records load_in_8bit and the threshold", dtype_str(dtype));
    free(cfg);

    kbit_checkpoint *qck = NULL, *deq = NULL;
    ok = kbit_checkpoint_dequantize(dev, out, back, KBIT_F32, 0, NULL, NULL, &rep) == KBIT_OK &&
         rep.converted == 4 && kbit_checkpoint_open(out, &qck) == KBIT_OK &&
         kbit_checkpoint_open(back, &deq) == KBIT_OK;
    const char *name = "model.layers.0.big.weight";
    int8_t *cb = NULL;
    float *sc = NULL, *want = malloc(160 * 256 * 4);
    void *got = NULL;
    int64_t rows, cols;
    ok = ok && kbit_checkpoint_load_int8(qck, name, dev, &cb, &sc, &rows, &cols) == KBIT_OK &&
         kbit_int8_dequantize_weight(dev, cb, sc, rows, cols, KBIT_F32, want) == KBIT_OK &&
         kbit_checkpoint_load_tensor(deq, name, dev, KBIT_F32, &got) == KBIT_OK &&
         tap_cmp_f32(got, want, 160 * 256, name) == 0;
    tap_ok(ok, "int8 %s: dequantize gives kbit_int8_dequantize_weight's values", dtype_str(dtype));
    kbit_free(dev, cb);
    kbit_free(dev, sc);
    kbit_free(dev, got);
    free(want);
    kbit_checkpoint_close(qck);
    kbit_checkpoint_close(deq);
    free(in);
    free(out);
    free(back);
}

/* ------------------------------------------------------------------ */
/* The writer API and 8-bit weights                                     */

static void test_int8_and_single_file(void)
{
    const char *p = path_of("int8.safetensors");
    kbit_checkpoint_writer *w = NULL;
    int8_t cb[6] = { 1, -2, 3, 127, -127, 0 };
    float scb[2] = { 0.5f, 2.0f };
    const int64_t bshape[1] = { 2 };
    const uint16_t bias[2] = { 0x3c00, 0x4000 };
    int ok = kbit_checkpoint_writer_create(p, &w) == KBIT_OK &&
             kbit_checkpoint_writer_add_int8(w, "fc.weight", dev, cb, scb, 2, 3) == KBIT_OK &&
             kbit_checkpoint_writer_add(w, "fc.bias", KBIT_F16, 1, bshape, bias) == KBIT_OK &&
             kbit_checkpoint_writer_finish(w) == KBIT_OK;
    kbit_st_file *f = NULL;
    ok = ok && kbit_st_open(p, &f) == KBIT_OK && kbit_st_count(f) == 4;
    const kbit_st_tensor *wf = f ? kbit_st_find(f, "fc.weight_format") : NULL;
    const kbit_st_tensor *sc = f ? kbit_st_find(f, "fc.SCB") : NULL;
    const kbit_st_tensor *wt = f ? kbit_st_find(f, "fc.weight") : NULL;
    ok = ok && wf && wf->ndim == 0 && strcmp(wf->st_dtype, "U8") == 0 &&
         ((const uint8_t *)ck_tensor_bytes(wf))[0] == 0 && sc && strcmp(sc->st_dtype, "F32") == 0 &&
         sc->shape[0] == 2 && wt && strcmp(wt->st_dtype, "I8") == 0 && wt->shape[0] == 2 &&
         wt->shape[1] == 3 && memcmp(ck_tensor_bytes(wt), cb, 6) == 0;
    kbit_st_close(f);
    tap_ok(ok, "writer: 8-bit weight as weight (I8 [2,3]), SCB (F32 [2]), weight_format (U8 [] 0)");

    kbit_checkpoint *ck = NULL;
    int8_t *dcb = NULL;
    float *dscb = NULL;
    int64_t rows = 0, cols = 0;
    kbit_tensor_info info;
    ok = kbit_checkpoint_open(p, &ck) == KBIT_OK && kbit_checkpoint_count(ck) == 2 &&
         kbit_checkpoint_info(ck, "fc.weight", &info) == KBIT_OK &&
         info.format == KBIT_WEIGHT_INT8 &&
         kbit_checkpoint_load_int8(ck, "fc.weight", dev, &dcb, &dscb, &rows, &cols) == KBIT_OK &&
         rows == 2 && cols == 3 && memcmp(dcb, cb, 6) == 0 && memcmp(dscb, scb, 8) == 0;
    tap_ok(ok, "reader: 8-bit weight found with its SCB; load_int8 gives CB and SCB");
    kbit_free(dev, dcb);
    kbit_free(dev, dscb);
    uint8_t *pk = NULL;
    kbit_quant_state qs;
    tap_ok(kbit_checkpoint_load_4bit(ck, "fc.weight", dev, &pk, &qs) == KBIT_EINVAL &&
               strstr(kbit_last_error(), "not a 4-bit"),
           "load_4bit of an 8-bit weight: KBIT_EINVAL naming it");
    tap_ok(kbit_checkpoint_info(ck, "nope.weight", &info) == KBIT_EINVAL &&
               strstr(kbit_last_error(), "nope.weight"),
           "info of an absent tensor: KBIT_EINVAL naming it");
    kbit_checkpoint_close(ck);

    /* a single file in, a single file out */
    const char *in = path_of("single.safetensors"), *out = path_of("single-q.safetensors");
    const int64_t shape[2] = { 8, 64 };
    float wv[512];
    rng r;
    rng_seed(&r, 9);
    for (int i = 0; i < 512; i++)
        wv[i] = (float)rng_normal(&r);
    ok = kbit_checkpoint_writer_create(in, &w) == KBIT_OK &&
         kbit_checkpoint_writer_add(w, "fc.weight", KBIT_F32, 2, shape, wv) == KBIT_OK &&
         kbit_checkpoint_writer_finish(w) == KBIT_OK &&
         kbit_checkpoint_quantize(dev, in, out, NULL, NULL) == KBIT_OK &&
         kbit_checkpoint_open(out, &ck) == KBIT_OK &&
         kbit_checkpoint_info(ck, "fc.weight", &info) == KBIT_OK &&
         info.format == KBIT_WEIGHT_4BIT && info.dtype == KBIT_F32 && !info.nested &&
         info.quant_type == KBIT_NF4;
    kbit_checkpoint_close(ck);
    tap_ok(ok, "a .safetensors file in, a .safetensors file out (default options: nf4, plain)");
}

/* ------------------------------------------------------------------ */
/* Malformed input                                                      */

/* Write a raw safetensors file from a header and data bytes. */
static void write_raw(const char *path, const char *json, const void *data, size_t n,
                      int64_t header_len)
{
    FILE *f = fopen(path, "wb");
    uint64_t len = header_len >= 0 ? (uint64_t)header_len : strlen(json);
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(len >> (8 * i));
    fwrite(b, 1, 8, f);
    fwrite(json, 1, strlen(json), f);
    if (n)
        fwrite(data, 1, n, f);
    fclose(f);
}

/* Open must fail with want and a message containing needle; quantize and
 * dequantize of it must not create OUT. */
static void expect_bad(const char *path, kbit_status want, const char *needle, const char *what)
{
    kbit_checkpoint *ck = (kbit_checkpoint *)(uintptr_t)0x1;
    kbit_status st = kbit_checkpoint_open(path, &ck);
    char msg[512];
    snprintf(msg, sizeof msg, "%s", kbit_last_error());
    const char *out = path_of("bad-out");
    kbit_status sq = kbit_checkpoint_quantize(dev, path, out, NULL, NULL);
    kbit_status sd = kbit_checkpoint_dequantize(dev, path, out, KBIT_F16, 0, NULL, NULL, NULL);
    if (!tap_ok(st == want && strstr(msg, needle) && ck == (kbit_checkpoint *)(uintptr_t)0x1 &&
                    sq == want && sd == want && !ck_exists(out) &&
                    !ck_any_match(path_of("bad-out.kbit-*")),
                "malformed: %s -> %s ('%s'), nothing written", what, kbit_strerror(want), needle))
        tap_diag("got %s / %s / %s: %s", kbit_strerror(st), kbit_strerror(sq), kbit_strerror(sd),
                 msg);
    ck_rm_rf(out);
}

static const char *blob_ok = "{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": "
                             "\"float16\", \"shape\": [2, 64]}";

/* A 4-bit weight "w.weight" [2, 64] (64 packed bytes, 2 blocks) whose
 * parts can be damaged: blob text, absmax dtype/count, quant_map count. */
static void write_q4(const char *path, const char *blob, const char *absmax_dtype,
                     int absmax_n, int qmap_n, int extra_state)
{
    char json[2048];
    size_t bl = strlen(blob);
    size_t asz = strcmp(absmax_dtype, "F32") == 0 ? 4 : 1;
    size_t o1 = 64, o2 = o1 + asz * (size_t)absmax_n, o3 = o2 + 4 * (size_t)qmap_n,
           o4 = o3 + bl, o5 = o4 + (extra_state ? bl : 0);
    snprintf(json, sizeof json,
             "{\"w.weight\":{\"dtype\":\"U8\",\"shape\":[64,1],\"data_offsets\":[0,64]},"
             "\"w.weight.absmax\":{\"dtype\":\"%s\",\"shape\":[%d],\"data_offsets\":[%zu,%zu]},"
             "\"w.weight.quant_map\":{\"dtype\":\"F32\",\"shape\":[%d],\"data_offsets\":[%zu,%zu]},"
             "\"w.weight.quant_state.bitsandbytes__nf4\":{\"dtype\":\"U8\",\"shape\":[%zu],"
             "\"data_offsets\":[%zu,%zu]}%s",
             absmax_dtype, absmax_n, o1, o2, qmap_n, o2, o3, bl, o3, o4,
             extra_state ? "," : "}");
    if (extra_state)
        snprintf(json + strlen(json), sizeof json - strlen(json),
                 "\"w.weight.quant_state.bitsandbytes__fp4\":{\"dtype\":\"U8\",\"shape\":[%zu],"
                 "\"data_offsets\":[%zu,%zu]}}", bl, o4, o5);
    unsigned char *data = calloc(1, o5);
    memcpy(data + o3, blob, bl);
    if (extra_state)
        memcpy(data + o4, blob, bl);
    write_raw(path, json, data, o5, -1);
    free(data);
}

static void test_malformed(void)
{
    static const unsigned char zeros[128];
    char *good = strdup(path_of("good.safetensors"));
    write_q4(good, blob_ok, "F32", 2, 16, 0);
    kbit_checkpoint *ck = NULL;
    tap_ok(kbit_checkpoint_open(good, &ck) == KBIT_OK, "the undamaged crafted 4-bit file opens");
    kbit_checkpoint_close(ck);

    char *p = strdup(path_of("bad.safetensors"));
    /* the file itself */
    write_raw(p, "{\"a\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]}}", "12345678", 4, -1);
    expect_bad(p, KBIT_EFORMAT, "past the", "truncated data");
    write_raw(p, "{\"a\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,6]}}", "1234567890ab", 12, -1);
    expect_bad(p, KBIT_EFORMAT, "needs", "offsets that disagree with the shape");
    write_raw(p, "{}", NULL, 0, (int64_t)1 << 40);
    expect_bad(p, KBIT_EFORMAT, "exceeds the limit", "huge header length");
    write_raw(p, "{\"a\":{\"dtype\":\"F16\",\"shape\":[4],\"data_off", NULL, 0, -1);
    expect_bad(p, KBIT_EFORMAT, "not valid JSON", "bad JSON header");
    write_raw(p, "{\"a\":{\"dtype\":\"Q7\",\"shape\":[1],\"data_offsets\":[0,1]}}", "1", 1, -1);
    expect_bad(p, KBIT_EFORMAT, "unknown dtype", "unknown dtype");
    write_raw(p, "{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]},"
                 "\"b\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[2,6]}}", "123456", 6, -1);
    expect_bad(p, KBIT_EFORMAT, "overlap", "overlapping tensors");

    /* inconsistent quant states */
    write_q4(p, "{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": \"float16\", "
                "\"shape\": [4, 64]}", "F32", 2, 16, 0);
    expect_bad(p, KBIT_EFORMAT, "needs 128", "quant state shape larger than the packed bytes");
    write_q4(p, blob_ok, "U8", 2, 16, 0);
    expect_bad(p, KBIT_EFORMAT, "absmax", "absmax U8 in a plain (not nested) state");
    write_q4(p, blob_ok, "F32", 3, 16, 0);
    expect_bad(p, KBIT_EFORMAT, "absmax", "absmax with the wrong block count");
    write_q4(p, blob_ok, "F32", 2, 15, 0);
    expect_bad(p, KBIT_EFORMAT, "quant_map", "quant_map of 15 entries");
    write_q4(p, "{\"quant_type\": \"fp4\", \"blocksize\": 64, \"dtype\": \"float16\", "
                "\"shape\": [2, 64]}", "F32", 2, 16, 0);
    expect_bad(p, KBIT_EFORMAT, "does not match", "quant_type other than the key's");
    write_q4(p, "{\"quant_type\": \"nf4\", \"blocksize\": 60, \"dtype\": \"float16\", "
                "\"shape\": [2, 64]}", "F32", 2, 16, 0);
    expect_bad(p, KBIT_EFORMAT, "power of two", "blocksize 60");
    write_q4(p, "{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": \"float8\", "
                "\"shape\": [2, 64]}", "F32", 2, 16, 0);
    expect_bad(p, KBIT_EFORMAT, "dtype must be", "unknown quant-state dtype");
    write_q4(p, "{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": \"float16\", "
                "\"shape\": [2, 64], \"nested_blocksize\": 256}", "F32", 2, 16, 0);
    expect_bad(p, KBIT_EFORMAT, "all be present", "nested keys partly present");
    write_q4(p, "{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": \"float16\", "
                "\"shape\": [2, 64]", "F32", 2, 16, 0);
    expect_bad(p, KBIT_EFORMAT, "not valid JSON", "quant state that is not JSON");
    write_q4(p, "{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": \"float16\", "
                "\"shape\": [-2, -64]}", "F32", 2, 16, 0);
    expect_bad(p, KBIT_EFORMAT, "shape[0]", "negative quant-state shape");
    write_q4(p, "{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": \"float16\", "
                "\"shape\": [4294967296, 4294967296, 4294967296]}", "F32", 2, 16, 0);
    expect_bad(p, KBIT_EFORMAT, "quant state", "quant-state shape whose size overflows");
    write_q4(p, blob_ok, "F32", 2, 16, 1);
    expect_bad(p, KBIT_EFORMAT, "more than one quant state", "two packed quant states");
    write_raw(p, "{\"w.weight\":{\"dtype\":\"U8\",\"shape\":[64,1],\"data_offsets\":[0,64]},"
                 "\"w.weight.absmax\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[64,72]}}",
              zeros, 72, -1);
    expect_bad(p, KBIT_EFORMAT, "no packed quant state", "absmax without a quant state");
    write_raw(p, "{\"w.SCB\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
              "12345678", 8, -1);
    expect_bad(p, KBIT_EFORMAT, "SCB without", "SCB without its weight");
    write_raw(p, "{\"w.weight\":{\"dtype\":\"I8\",\"shape\":[1,2],\"data_offsets\":[0,2]},"
                 "\"w.SCB\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]},"
                 "\"w.weight_format\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[6,7]}}",
              "\0\0\0\0\0\0\2", 7, -1);
    expect_bad(p, KBIT_EFORMAT, "legacy", "8-bit weight in the legacy col32 layout");

    /* directories: index and config */
    char *d = strdup(path_of("baddir"));
    mkdir(d, 0755);
    char *cp = strdup(path_of("baddir/model-1.safetensors"));
    write_q4(cp, blob_ok, "F32", 2, 16, 0);
    char *ip = strdup(path_of("baddir/model.safetensors.index.json"));
    ck_write_text(ip, "{\"weight_map\": {\"w.weight\": \"../good.safetensors\"}}");
    expect_bad(d, KBIT_EFORMAT, "not a plain file name", "index naming a file outside the directory");
    ck_write_text(ip, "{\"weight_map\": {\"x.weight\": \"model-1.safetensors\"}}");
    expect_bad(d, KBIT_EFORMAT, "does not hold it", "index naming a tensor its shard lacks");
    ck_write_text(ip, "{\"weight_map\": [1, 2]}");
    expect_bad(d, KBIT_EFORMAT, "weight_map", "index without a weight_map object");
    ck_write_text(ip, "{\"weight_map\": {\"w.weight\": \"model-1.safetensors\"}}");
    char *cf = strdup(path_of("baddir/config.json"));
    ck_write_text(cf, "[1, 2, 3]");
    expect_bad(d, KBIT_EFORMAT, "config.json", "config.json that is not an object");
    unlink(cf);
    unlink(ip);
    expect_bad(d, KBIT_EFORMAT, "neither model.safetensors", "directory without weights");
    free(cf);
    free(ip);
    free(cp);
    free(d);

    /* OUT untouched when the conversion fails half way */
    char *out = strdup(path_of("keep"));
    mkdir(out, 0755);
    ck_write_text(path_of("keep/marker"), "x");
    kbit_quantize_options o;
    kbit_quantize_options_init(&o);
    o.replace = 1;
    write_raw(p, "{\"a\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]}}", "12345678", 4, -1);
    kbit_status st = kbit_checkpoint_quantize(dev, p, out, &o, NULL);
    tap_ok(st == KBIT_EFORMAT && ck_exists(path_of("keep/marker")),
           "a failed quantize with replace leaves the existing OUT as it was");
    o.quant_storage = KBIT_F32;
    const int64_t shape[2] = { 3, 7 }; /* 21 elements: 11 packed bytes */
    float v[21] = { 1, 2, 3 };
    kbit_checkpoint_writer *w = NULL;
    kbit_checkpoint_writer_create(p, &w);
    kbit_checkpoint_writer_add(w, "fc.weight", KBIT_F32, 2, shape, v);
    kbit_checkpoint_writer_finish(w);
    st = kbit_checkpoint_quantize(dev, p, out, &o, NULL);
    tap_ok(st == KBIT_EINVAL && strstr(kbit_last_error(), "cannot be stored as") &&
               ck_exists(path_of("keep/marker")),
           "quant_storage that does not divide the packed bytes: KBIT_EINVAL, OUT kept");
    free(out);
    free(good);
    free(p);
}


/* Bad arguments of the public checkpoint functions: a status, a message
 * naming the argument, outputs untouched. */
static void test_bad_args(void)
{
    kbit_checkpoint *sentinel = (kbit_checkpoint *)(uintptr_t)0x1, *ck = sentinel;
    kbit_tensor_info info;
    struct {
        kbit_status st;
        const char *needle, *what;
    } r[16];
    int k = 0;
#define BAD(call, want_needle, label) \
    (r[k].st = (call), r[k].needle = strstr(kbit_last_error(), want_needle) ? "" : want_needle, \
     r[k].what = label, k++)
    BAD(kbit_checkpoint_open(NULL, &ck), "path", "open(NULL path)");
    BAD(kbit_checkpoint_open(root, NULL), "ckpt", "open(NULL out)");
    BAD(kbit_checkpoint_open(path_of("missing"), &ck), "missing", "open(missing path)");
    BAD(kbit_checkpoint_info(NULL, "x", &info), "ckpt", "info(NULL ckpt)");
    BAD(kbit_checkpoint_load_tensor(NULL, "x", dev, KBIT_F32, NULL), "ckpt", "load_tensor(NULL)");
    BAD(kbit_checkpoint_writer_create(NULL, NULL), "path", "writer_create(NULL)");
    BAD(kbit_checkpoint_quantize(NULL, "a", "b", NULL, NULL), "device", "quantize(NULL device)");
    kbit_quantize_options o;
    kbit_quantize_options_init(&o);
    o.bits = 5;
    BAD(kbit_checkpoint_quantize(dev, "a", "b", &o, NULL), "bits", "quantize(bits 5)");
    kbit_quantize_options_init(&o);
    o.blocksize = 60;
    BAD(kbit_checkpoint_quantize(dev, "a", "b", &o, NULL), "blocksize", "quantize(blocksize 60)");
    kbit_quantize_options_init(&o);
    o.int8_has_fp16_weight = 1;
    BAD(kbit_checkpoint_quantize(dev, "a", "b", &o, NULL), "int8_has_fp16_weight",
        "quantize(int8_has_fp16_weight)");
    kbit_quantize_options_init(&o);
    o.quant_storage = KBIT_I32;
    BAD(kbit_checkpoint_quantize(dev, "a", "b", &o, NULL), "quant_storage",
        "quantize(quant_storage I32)");
    BAD(kbit_checkpoint_dequantize(dev, "a", "b", KBIT_I8, 0, NULL, NULL, NULL), "dtype",
        "dequantize(dtype I8)");
#undef BAD
    int bad = 0;
    for (int i = 0; i < k; i++) {
        kbit_status want = i == 2 ? KBIT_EIO : KBIT_EINVAL;
        if (r[i].st != want || r[i].needle[0]) {
            tap_diag("%s: got %s, message lacks '%s'", r[i].what, kbit_strerror(r[i].st),
                     r[i].needle);
            bad++;
        }
    }
    tap_ok(bad == 0 && ck == sentinel && !ck_exists("b"),
           "%d bad calls: KBIT_EINVAL (KBIT_EIO for a missing path) naming the argument, "
           "nothing written", k);
}

int main(void)
{
    root = ck_scratch_dir("test_checkpoint");
    dev = reference_open();

    test_py_repr();
    test_pyjson();
    test_blob();
    test_skip_rule();
    round_trip(KBIT_F16, 0, KBIT_NF4, 1);
    round_trip(KBIT_BF16, 1, KBIT_NF4, 1);
    round_trip(KBIT_F16, 1, KBIT_FP4, 0);
    round_trip(KBIT_BF16, 0, KBIT_FP4, 1);
    round_trip_int8(KBIT_F16);
    round_trip_int8(KBIT_BF16);
    test_int8_and_single_file();
    test_malformed();
    test_bad_args();

    kbit_device_close(dev);
    if (tap_failures() == 0)
        ck_rm_rf(root);
    return tap_done();
}
