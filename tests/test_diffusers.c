/* tests/test_diffusers.c - diffusers models and pipelines in the checkpoint
 * code (doc/formats.md, "diffusers models"):
 *  - the quantization rule and the fp32 rule on names (diffusers' matching:
 *    last component, "S." anywhere, the whole name; nn.Embedding tables;
 *    per-class tables), quantization_config text as diffusers writes it;
 *  - a diffusers model folder (one file and sharded) quantized, opened,
 *    dequantized: file and index names, keys, dtypes, other_dtype;
 *  - a pipeline folder: the denoiser by default, --components, the rest
 *    copied byte for byte, dequantize;
 *  - bad input: model_index.json naming a missing or escaping subfolder,
 *    mixed layouts, a component without weights, malformed model_index.json,
 *    bad options: the status, a message naming the fault, no OUT, no
 *    temporary left.
 * diffusers itself is compared in tests/test_interop_diffusers.py. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint/diffusers.h"
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
/* The rules                                                            */

static void test_rules(void)
{
    kbit_dfs_rules flux, wan, unet, unet_proj, omni, hidream, wan_animate;
    kbit_dfs_rules_init("{\"_class_name\": \"FluxTransformer2DModel\"}", &flux);
    kbit_dfs_rules_init("{\"_class_name\": \"WanTransformer3DModel\"}", &wan);
    kbit_dfs_rules_init("{\"_class_name\": \"UNet2DConditionModel\", \"class_embed_type\": null}",
                        &unet);
    kbit_dfs_rules_init("{\"_class_name\": \"UNet2DConditionModel\", \"class_embed_type\": "
                        "\"simple_projection\"}", &unet_proj);
    kbit_dfs_rules_init("{\"_class_name\": \"OmniGenTransformer2DModel\"}", &omni);
    kbit_dfs_rules_init("{\"_class_name\": \"HiDreamImageTransformer2DModel\"}", &hidream);
    kbit_dfs_rules_init("{\"_class_name\": \"WanAnimateTransformer3DModel\"}", &wan_animate);
    static const char *const skip_proj[] = { "proj_out" }, *const skip_0[] = { "0" },
                             *const skip_attn[] = { "attn" }, *const skip_full[] = {
                                 "transformer_blocks.1.attn.to_q" };
    const struct {
        const kbit_dfs_rules *r;
        const char *name;
        int ndim;
        kbit_dtype dtype;
        const char *const *skip;
        size_t nskip;
        int want;
    } c[] = {
        { &flux, "x_embedder.weight", 2, KBIT_BF16, NULL, 0, 1 }, /* embedders are nn.Linear */
        { &flux, "context_embedder.weight", 2, KBIT_F16, NULL, 0, 1 },
        { &flux, "time_text_embed.timestep_embedder.linear_1.weight", 2, KBIT_F32, NULL, 0, 1 },
        { &flux, "proj_out.weight", 2, KBIT_BF16, NULL, 0, 1 },   /* no default skip list */
        { &flux, "proj_out.weight", 2, KBIT_BF16, skip_proj, 1, 0 },
        { &flux, "single_transformer_blocks.0.proj_out.weight", 2, KBIT_BF16, skip_proj, 1, 0 },
        { &flux, "proj_out.bias", 1, KBIT_BF16, NULL, 0, 0 },
        { &flux, "transformer_blocks.0.attn.norm_q.weight", 1, KBIT_BF16, NULL, 0, 0 },
        { &flux, "pos_embed.proj.weight", 4, KBIT_BF16, NULL, 0, 0 },
        { &flux, "a.weight", 2, KBIT_I32, NULL, 0, 0 },
        /* "S." anywhere in the name, a plain substring: "0" skips blocks 0 and 10 */
        { &flux, "transformer_blocks.10.attn.to_q.weight", 2, KBIT_BF16, skip_0, 1, 0 },
        { &flux, "transformer_blocks.1.attn.to_q.weight", 2, KBIT_BF16, skip_0, 1, 1 },
        { &flux, "transformer_blocks.1.attn.to_q.weight", 2, KBIT_BF16, skip_attn, 1, 0 },
        { &flux, "transformer_blocks.1.attn.to_q.weight", 2, KBIT_BF16, skip_full, 1, 0 },
        { &flux, "transformer_blocks.1.attn.to_k.weight", 2, KBIT_BF16, skip_full, 1, 1 },
        /* _keep_in_fp32_modules of WanTransformer3DModel */
        { &wan, "condition_embedder.time_embedder.linear_1.weight", 2, KBIT_BF16, NULL, 0, 0 },
        { &wan, "condition_embedder.time_proj.weight", 2, KBIT_BF16, NULL, 0, 1 },
        { &wan, "blocks.0.attn1.to_q.weight", 2, KBIT_BF16, NULL, 0, 1 },
        { &wan, "blocks.0.norm2.linear.weight", 2, KBIT_BF16, NULL, 0, 0 },
        /* nn.Embedding tables and class-specific non-Linear weights */
        { &unet, "class_embedding.weight", 2, KBIT_F16, NULL, 0, 0 },
        { &unet_proj, "class_embedding.weight", 2, KBIT_F16, NULL, 0, 1 },
        { &flux, "transformer_blocks.0.norm1.emb.class_embedder.embedding_table.weight", 2,
          KBIT_F16, NULL, 0, 0 },
        { &omni, "embed_tokens.weight", 2, KBIT_F16, NULL, 0, 0 },
        { &flux, "embed_tokens.weight", 2, KBIT_F16, NULL, 0, 1 },
        { &hidream, "double_stream_blocks.0.block.ff_i.gate.weight", 2, KBIT_BF16, NULL, 0, 0 },
        { &flux, "double_stream_blocks.0.block.ff_i.gate.weight", 2, KBIT_BF16, NULL, 0, 1 },
        { &wan_animate, "motion_encoder.motion_network.2.weight", 2, KBIT_BF16, NULL, 0, 0 },
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        int got = kbit_dfs_should_quantize(c[i].r, c[i].name, c[i].ndim, 1, c[i].dtype, c[i].skip,
                                           c[i].nskip);
        if (got != c[i].want) {
            tap_diag("%s %s (skip %s): %d, want %d", c[i].r->class_name, c[i].name,
                     c[i].nskip ? c[i].skip[0] : "-", got, c[i].want);
            bad++;
        }
    }
    tap_ok(bad == 0, "diffusers' rule on %zu names (Linear embedders quantized, embedding tables "
           "and _keep_in_fp32_modules kept, skip entries matched as diffusers does)",
           sizeof c / sizeof c[0]);
    tap_ok(wan.nkeep == 6 && kbit_dfs_keep_fp32(&wan, "blocks.3.scale_shift_table") &&
               kbit_dfs_keep_fp32(&wan, "blocks.0.norm2.weight") &&
               !kbit_dfs_keep_fp32(&wan, "blocks.0.layer_norm2.weight") &&
               !kbit_dfs_keep_fp32(&flux, "norm_out.linear.weight"),
           "fp32 modules under a torch_dtype: whole name components of _keep_in_fp32_modules");

    /* config.json's quantization_config as diffusers 0.42.1 writes it for
     * WanTransformer3DModel with BitsAndBytesConfig(load_in_4bit=True,
     * llm_int8_skip_modules=["proj_out"]) (json.dumps(indent=2, sort_keys=True)) */
    kbit_quantize_options o;
    kbit_quantize_options_init(&o);
    o.quant_type = KBIT_FP4;
    const char *const skip[] = { "proj_out" };
    o.skip_modules = skip;
    o.skip_count = 1;
    json_t *q = kbit_dfs_quant_config(&o, &wan);
    kbit_buf b = { 0 };
    kbit_pyjson_dump(&b, q, 2, 1);
    const char *want =
        "{\n  \"_load_in_4bit\": true,\n  \"_load_in_8bit\": false,\n"
        "  \"bnb_4bit_compute_dtype\": \"float32\",\n  \"bnb_4bit_quant_storage\": \"uint8\",\n"
        "  \"bnb_4bit_quant_type\": \"fp4\",\n  \"bnb_4bit_use_double_quant\": false,\n"
        "  \"llm_int8_enable_fp32_cpu_offload\": false,\n"
        "  \"llm_int8_has_fp16_weight\": false,\n  \"llm_int8_skip_modules\": [\n"
        "    \"proj_out\",\n    \"rope\",\n    \"time_embedder\",\n    \"scale_shift_table\",\n"
        "    \"norm1\",\n    \"norm2\",\n    \"norm3\"\n  ],\n  \"llm_int8_threshold\": 6.0,\n"
        "  \"load_in_4bit\": true,\n  \"load_in_8bit\": false,\n"
        "  \"quant_method\": \"bitsandbytes\"\n}";
    int same = b.data && strcmp(b.data, want) == 0;
    if (!same)
        tap_diag("got:\n%s", b.data ? b.data : "(null)");
    tap_ok(same, "quantization_config: diffusers' text, the skip list extended with the class's "
           "_keep_in_fp32_modules");
    kbit_buf_free(&b);
    json_decref(q);
}

/* ------------------------------------------------------------------ */
/* Generated diffusers folders                                          */

typedef struct gen {
    const char *name;
    int ndim;
    int64_t shape[3];
} gen;

/* A WanTransformer3DModel-named folder: linear layers, norms, a keep-fp32
 * module and a parameter, an int tensor. shards 1: one file. */
static const gen wan_tensors[] = {
    { "patch_embedding.weight", 3, { 64, 4, 4 } },
    { "condition_embedder.time_embedder.linear_1.weight", 2, { 64, 64 } },
    { "condition_embedder.time_embedder.linear_1.bias", 1, { 64 } },
    { "condition_embedder.time_proj.weight", 2, { 384, 64 } },
    { "blocks.0.attn1.to_q.weight", 2, { 64, 64 } },
    { "blocks.0.attn1.to_q.bias", 1, { 64 } },
    { "blocks.0.ffn.net.0.proj.weight", 2, { 128, 64 } },
    { "blocks.0.norm2.weight", 1, { 64 } },
    { "blocks.0.scale_shift_table", 3, { 1, 6, 64 } },
    { "proj_out.weight", 2, { 16, 64 } },
};
#define WAN_N (sizeof wan_tensors / sizeof wan_tensors[0])

static void write_diffusers(const char *dir, kbit_dtype dtype, int shards)
{
    mkdir(dir, 0755);
    char path[1200];
    size_t per = (WAN_N + (size_t)shards - 1) / (size_t)shards;
    char index[8192];
    int k = snprintf(index, sizeof index, "{\"metadata\": {\"total_size\": 0}, \"weight_map\": {");
    rng r;
    rng_seed(&r, 7);
    for (int s = 0; s < shards; s++) {
        char file[96];
        if (shards == 1)
            snprintf(file, sizeof file, "diffusion_pytorch_model.safetensors");
        else
            snprintf(file, sizeof file, "diffusion_pytorch_model-%05d-of-%05d.safetensors", s + 1,
                     shards);
        snprintf(path, sizeof path, "%s/%s", dir, file);
        kbit_checkpoint_writer *w = NULL;
        if (kbit_checkpoint_writer_create(path, &w) != KBIT_OK)
            tap_bail("writer: %s", kbit_last_error());
        for (size_t i = (size_t)s * per; i < WAN_N && i < (size_t)(s + 1) * per; i++) {
            int64_t n = 1;
            for (int d = 0; d < wan_tensors[i].ndim; d++)
                n *= wan_tensors[i].shape[d];
            float *f = malloc((size_t)n * 4);
            void *v = malloc((size_t)n * 4);
            for (int64_t j = 0; j < n; j++)
                f[j] = (float)(0.05 * rng_normal(&r));
            f32_to_dtype(dtype, f, v, (size_t)n);
            if (kbit_checkpoint_writer_add(w, wan_tensors[i].name, dtype, wan_tensors[i].ndim,
                                           wan_tensors[i].shape, v) != KBIT_OK)
                tap_bail("add: %s", kbit_last_error());
            free(f);
            free(v);
            k += snprintf(index + k, sizeof index - (size_t)k, "%s\"%s\": \"%s\"",
                          i ? ", " : "", wan_tensors[i].name, file);
        }
        if (kbit_checkpoint_writer_finish(w) != KBIT_OK)
            tap_bail("finish: %s", kbit_last_error());
    }
    snprintf(index + k, sizeof index - (size_t)k, "}}");
    if (shards > 1) {
        snprintf(path, sizeof path, "%s/diffusion_pytorch_model.safetensors.index.json", dir);
        ck_write_text(path, index);
    }
    snprintf(path, sizeof path, "%s/config.json", dir);
    ck_write_text(path, "{\"_class_name\": \"WanTransformer3DModel\", \"_diffusers_version\": "
               "\"0.42.1\", \"num_layers\": 1}");
}

static kbit_status quantize(const char *in, const char *out, kbit_quantize_options *o)
{
    kbit_quantize_options d;
    if (o == NULL) {
        kbit_quantize_options_init(&d);
        o = &d;
    }
    return kbit_checkpoint_quantize(dev, in, out, o, NULL);
}

static kbit_tensor_info info_of(const char *dir, const char *name)
{
    kbit_tensor_info t;
    memset(&t, 0, sizeof t);
    t.format = (kbit_weight_format)-1;
    kbit_checkpoint *ck = NULL;
    if (kbit_checkpoint_open(dir, &ck) == KBIT_OK)
        kbit_checkpoint_info(ck, name, &t);
    kbit_checkpoint_close(ck);
    return t;
}

static void test_model_folder(void)
{
    write_diffusers(path_of("wan"), KBIT_BF16, 1);
    kbit_status st = quantize(path_of("wan"), path_of("wan-q"), NULL);
    kbit_tensor_info q = info_of(path_of("wan-q"), "blocks.0.attn1.to_q.weight"),
                     keep = info_of(path_of("wan-q"), "condition_embedder.time_embedder.linear_1.weight"),
                     proj = info_of(path_of("wan-q"), "proj_out.weight"),
                     tp = info_of(path_of("wan-q"), "condition_embedder.time_proj.weight");
    tap_ok(st == KBIT_OK && ck_exists(path_of("wan-q/diffusion_pytorch_model.safetensors")) &&
               !ck_exists(path_of("wan-q/model.safetensors")) && q.format == KBIT_WEIGHT_4BIT &&
               tp.format == KBIT_WEIGHT_4BIT && proj.format == KBIT_WEIGHT_4BIT &&
               keep.format == KBIT_WEIGHT_PLAIN && keep.dtype == KBIT_BF16,
           "a diffusers folder: diffusion_pytorch_model.safetensors, Linear weights 4-bit (proj_out "
           "too), the time_embedder (_keep_in_fp32_modules) kept as stored");
    char *cfg = ck_read_file(path_of("wan-q/config.json"), NULL);
    tap_ok(cfg && strstr(cfg, "\"quant_method\": \"bitsandbytes\"") &&
               strstr(cfg, "\"llm_int8_skip_modules\": null") &&
               strstr(cfg, "\"_class_name\": \"WanTransformer3DModel\""),
           "config.json keeps _class_name and gets diffusers' quantization_config");
    free(cfg);

    /* other_dtype: as torch_dtype */
    kbit_quantize_options o;
    kbit_quantize_options_init(&o);
    o.cast_other = 1;
    o.other_dtype = KBIT_F16;
    o.double_quant = 1;
    st = quantize(path_of("wan"), path_of("wan-q16"), &o);
    kbit_tensor_info a = info_of(path_of("wan-q16"), "blocks.0.attn1.to_q.weight"),
                     bias = info_of(path_of("wan-q16"), "blocks.0.attn1.to_q.bias"),
                     norm = info_of(path_of("wan-q16"), "blocks.0.norm2.weight"),
                     sst = info_of(path_of("wan-q16"), "blocks.0.scale_shift_table"),
                     te = info_of(path_of("wan-q16"), "condition_embedder.time_embedder.linear_1.weight"),
                     conv = info_of(path_of("wan-q16"), "patch_embedding.weight");
    tap_ok(st == KBIT_OK && a.format == KBIT_WEIGHT_4BIT && a.dtype == KBIT_F16 && a.nested &&
               bias.dtype == KBIT_F16 && conv.dtype == KBIT_F16 && norm.dtype == KBIT_F32 &&
               sst.dtype == KBIT_F32 && te.dtype == KBIT_F32,
           "other_dtype fp16: weights quantized from fp16 (quant state float16), other tensors "
           "fp16, _keep_in_fp32_modules (norm2, scale_shift_table, time_embedder) fp32");

    /* sharded, and back */
    write_diffusers(path_of("wans"), KBIT_F16, 3);
    st = quantize(path_of("wans"), path_of("wans-q"), NULL);
    char *idx =
        ck_read_file(path_of("wans-q/diffusion_pytorch_model.safetensors.index.json"), NULL);
    tap_ok(st == KBIT_OK && idx && strstr(idx, "\"total_size\"") &&
               strstr(idx, "\"blocks.0.attn1.to_q.weight.quant_state.bitsandbytes__nf4\": "
                           "\"diffusion_pytorch_model-00002-of-00003.safetensors\"") &&
               ck_exists(path_of("wans-q/diffusion_pytorch_model-00003-of-00003.safetensors")) &&
               !ck_exists(path_of("wans-q/model.safetensors.index.json")),
           "sharded: diffusers' index name, every key (auxiliary ones too) in it, the shard names "
           "kept");
    free(idx);
    st = kbit_checkpoint_dequantize(dev, path_of("wans-q"), path_of("wans-d"), KBIT_F16, 0, NULL,
                                    NULL, NULL);
    cfg = ck_read_file(path_of("wans-d/config.json"), NULL);
    kbit_tensor_info d = info_of(path_of("wans-d"), "blocks.0.attn1.to_q.weight");
    tap_ok(st == KBIT_OK && d.format == KBIT_WEIGHT_PLAIN && d.dtype == KBIT_F16 &&
               d.shape[0] == 64 && cfg && !strstr(cfg, "quantization_config") &&
               ck_exists(path_of("wans-d/diffusion_pytorch_model.safetensors.index.json")),
           "dequantize: a plain diffusers folder again, same layout, no quantization_config");
    free(cfg);
}

/* ------------------------------------------------------------------ */
/* Pipelines                                                            */

static void write_pipeline(const char *dir)
{
    char p[1200];
    mkdir(dir, 0755);
    snprintf(p, sizeof p, "%s/transformer", dir);
    write_diffusers(p, KBIT_BF16, 1);
    snprintf(p, sizeof p, "%s/vae", dir);
    write_diffusers(p, KBIT_F32, 1);
    snprintf(p, sizeof p, "%s/scheduler", dir);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/scheduler/scheduler_config.json", dir);
    ck_write_text(p, "{\"_class_name\": \"FlowMatchEulerDiscreteScheduler\"}\n");
    snprintf(p, sizeof p, "%s/model_index.json", dir);
    ck_write_text(p, "{\"_class_name\": \"WanPipeline\", \"_diffusers_version\": \"0.42.1\",\n"
                  " \"scheduler\": [\"diffusers\", \"FlowMatchEulerDiscreteScheduler\"],\n"
                  " \"transformer\": [\"diffusers\", \"WanTransformer3DModel\"],\n"
                  " \"transformer_2\": [null, null],\n"
                  " \"vae\": [\"diffusers\", \"AutoencoderKLWan\"],\n"
                  " \"boundary_ratio\": null}\n");
    snprintf(p, sizeof p, "%s/README.md", dir);
    ck_write_text(p, "a pipeline\n");
}

static void test_pipeline(void)
{
    write_pipeline(path_of("pipe"));
    kbit_pipeline *pl = NULL;
    kbit_pipeline_component c0, c2;
    kbit_status st = kbit_pipeline_open(path_of("pipe"), &pl);
    int ok = st == KBIT_OK && kbit_pipeline_count(pl) == 3 &&
             kbit_pipeline_component_info(pl, 0, &c0) == KBIT_OK &&
             kbit_pipeline_component_info(pl, 2, &c2) == KBIT_OK && !c0.has_weights &&
             c2.has_weights && c2.diffusers && strcmp(c2.class_name, "AutoencoderKLWan") == 0 &&
             kbit_pipeline_component_info(pl, 3, &c0) == KBIT_EINVAL;
    kbit_pipeline_close(pl);
    tap_ok(ok, "kbit_pipeline_open: 3 components present (transformer_2 [null, null] absent, "
           "boundary_ratio a setting), weights and library of each");

    st = quantize(path_of("pipe"), path_of("pipe-q"), NULL);
    tap_ok(st == KBIT_OK &&
               info_of(path_of("pipe-q/transformer"), "blocks.0.attn1.to_q.weight").format ==
                   KBIT_WEIGHT_4BIT &&
               ck_same_file(path_of("pipe/vae/diffusion_pytorch_model.safetensors"),
                         path_of("pipe-q/vae/diffusion_pytorch_model.safetensors")) &&
               ck_same_file(path_of("pipe/model_index.json"), path_of("pipe-q/model_index.json")) &&
               ck_same_file(path_of("pipe/scheduler/scheduler_config.json"),
                         path_of("pipe-q/scheduler/scheduler_config.json")) &&
               ck_same_file(path_of("pipe/README.md"), path_of("pipe-q/README.md")),
           "a pipeline: the denoiser (transformer) quantized, vae, scheduler, model_index.json "
           "and README copied unchanged");
    kbit_quantize_options o;
    kbit_quantize_options_init(&o);
    const char *const comps[] = { "vae", "transformer" };
    o.components = comps;
    o.component_count = 2;
    st = quantize(path_of("pipe"), path_of("pipe-q2"), &o);
    tap_ok(st == KBIT_OK &&
               info_of(path_of("pipe-q2/vae"), "blocks.0.attn1.to_q.weight").format ==
                   KBIT_WEIGHT_4BIT &&
               info_of(path_of("pipe-q2/vae"), "blocks.0.attn1.to_q.weight").dtype == KBIT_F32,
           "components vae,transformer: both quantized");
    st = kbit_checkpoint_dequantize(dev, path_of("pipe-q2"), path_of("pipe-d"), KBIT_F32, 0,
                                    NULL, NULL, NULL);
    tap_ok(st == KBIT_OK &&
               info_of(path_of("pipe-d/vae"), "blocks.0.attn1.to_q.weight").format ==
                   KBIT_WEIGHT_PLAIN &&
               info_of(path_of("pipe-d/transformer"), "proj_out.weight").dtype == KBIT_F32 &&
               ck_same_file(path_of("pipe/model_index.json"), path_of("pipe-d/model_index.json")),
           "dequantize a pipeline: its quantized components back to plain tensors");
}

/* ------------------------------------------------------------------ */
/* Bad input                                                            */

static int bad_case;

/* A broken copy of the pipeline folder, made by `how` (a shell command run
 * in it), must fail with `want` and a message holding `needle`, and leave
 * no OUT and no temporary. */
static void expect_bad(const char *how, const char *const *components, int ncomp,
                       kbit_status want, const char *needle, const char *what)
{
    char dir[1100], out[1100], cmd[4096];
    snprintf(dir, sizeof dir, "%s", path_of("bad%d", bad_case));
    snprintf(out, sizeof out, "%s", path_of("bad%d-out", bad_case));
    bad_case++;
    snprintf(cmd, sizeof cmd, "cp -r '%s' '%s' && cd '%s' && %s", path_of("pipe"), dir, dir, how);
    if (system(cmd) != 0)
        tap_bail("cannot prepare: %s", cmd);
    kbit_quantize_options o;
    kbit_quantize_options_init(&o);
    o.components = components;
    o.component_count = ncomp;
    kbit_status st = quantize(dir, out, &o);
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", kbit_last_error());
    char pattern[1200];
    snprintf(pattern, sizeof pattern, "%s.kbit-*", out);
    int good = st == want && strstr(msg, needle) && !ck_exists(out) && !ck_any_match(pattern);
    if (!good)
        tap_diag("%s: %s: %s", what, kbit_strerror(st), msg);
    tap_ok(good, "%s: %s naming it, no output", what, kbit_strerror(want));
}

static void test_bad_input(void)
{
    const char *const sched[] = { "scheduler" };
    const char *const nope[] = { "nope" };
    expect_bad("rm -r vae", NULL, 0, KBIT_EFORMAT, "names component 'vae', but",
               "model_index.json names a missing subfolder");
    expect_bad("sed -i 's|\"vae\": |\"../vae\": |' model_index.json", NULL, 0, KBIT_EFORMAT,
               "'../vae', which is not a plain subfolder name",
               "model_index.json names an escaping subfolder (../vae)");
    expect_bad("sed -i 's|\"vae\": |\"/tmp\": |' model_index.json", NULL, 0, KBIT_EFORMAT,
               "'/tmp', which is not a plain subfolder name",
               "model_index.json names an absolute path");
    expect_bad("mv vae ../vae-outside-$$ && ln -s ../vae-outside-$$ vae", NULL, 0, KBIT_EFORMAT,
               "component 'vae' is a symbolic link",
               "a component that is a link out of the folder");
    expect_bad("cp transformer/diffusion_pytorch_model.safetensors transformer/model.safetensors",
               NULL, 0, KBIT_EFORMAT, "mixes layouts: it holds both diffusers weights",
               "mixed layouts: diffusers and transformers weights in one component");
    expect_bad("cp transformer/diffusion_pytorch_model.safetensors .", NULL, 0, KBIT_EFORMAT,
               "with weights of its own", "mixed layouts: weights beside model_index.json");
    expect_bad("sed -i 's|\\[\"diffusers\", \"AutoencoderKLWan\"\\]|[\"transformers\", \"X\"]|' "
               "model_index.json", NULL, 0, KBIT_EFORMAT, "says component 'vae' is a transformers "
               "model", "mixed layouts: model_index.json's library against the weights");
    expect_bad("mv vae/diffusion_pytorch_model.safetensors vae/model.safetensors && "
               "sed -i 's|\"diffusers\", \"AutoencoderKLWan\"|null, \"AutoencoderKLWan\"|' "
               "model_index.json", NULL, 0, KBIT_EFORMAT, "names the diffusers class",
               "mixed layouts: a diffusers _class_name over model.safetensors");
    expect_bad("rm transformer/diffusion_pytorch_model.safetensors", NULL, 0, KBIT_EFORMAT,
               "component 'transformer' has no weights", "the denoiser has no weights");
    expect_bad("true", sched, 1, KBIT_EFORMAT, "component 'scheduler' has no weights",
               "--components names a component without weights");
    expect_bad("true", nope, 1, KBIT_EINVAL, "names no component 'nope' (it has: ",
               "--components names an unknown component");
    expect_bad("sed -i 's|\"transformer\": |\"transformer_x\": |' model_index.json && "
               "mv transformer transformer_x", NULL, 0, KBIT_EINVAL, "names no denoiser",
               "no transformer or unet and no --components");
    expect_bad("printf '{\"vae\": [\"diffusers\"' > model_index.json", NULL, 0, KBIT_EFORMAT,
               "model_index.json is not JSON", "model_index.json is not JSON");
    expect_bad("printf '[1, 2]' > model_index.json", NULL, 0, KBIT_EFORMAT,
               "holds an array, not a JSON object", "model_index.json is not an object");
    expect_bad("printf '{\"vae\": [\"diffusers\", 7]}' > model_index.json", NULL, 0,
               KBIT_EFORMAT, "component 'vae' is not [library, class] strings",
               "a component entry that is not [library, class]");
    expect_bad("printf 'garbage' > transformer/diffusion_pytorch_model.safetensors", NULL, 0,
               KBIT_EFORMAT, "transformer/diffusion_pytorch_model.safetensors",
               "a damaged component");

    /* the library entry points */
    kbit_checkpoint *ck = (kbit_checkpoint *)(uintptr_t)0x1;
    kbit_status st = kbit_checkpoint_open(path_of("pipe"), &ck);
    tap_ok(st == KBIT_EFORMAT && strstr(kbit_last_error(), "is a diffusers pipeline") &&
               ck == (kbit_checkpoint *)(uintptr_t)0x1,
           "kbit_checkpoint_open on a pipeline folder: KBIT_EFORMAT pointing to its components");
    kbit_quantize_options o;
    kbit_quantize_options_init(&o);
    const char *const comps[] = { "transformer" };
    o.components = comps;
    o.component_count = 1;
    st = quantize(path_of("wan"), path_of("x1"), &o);
    int ok = st == KBIT_EINVAL && strstr(kbit_last_error(), "not a diffusers pipeline");
    kbit_quantize_options_init(&o);
    o.cast_other = 1;
    o.other_dtype = KBIT_I8;
    st = quantize(path_of("wan"), path_of("x1"), &o);
    ok &= st == KBIT_EINVAL && strstr(kbit_last_error(), "other_dtype must be");
    o.other_dtype = KBIT_F16;
    char cmd[2400];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp '%s' '%s/model.safetensors' && echo '{}' > "
             "'%s/config.json'", path_of("tf"), path_of("wan/diffusion_pytorch_model.safetensors"),
             path_of("tf"), path_of("tf"));
    if (system(cmd) != 0)
        tap_bail("cannot prepare %s", path_of("tf"));
    st = quantize(path_of("tf"), path_of("x1"), &o);
    ok &= st == KBIT_EINVAL && strstr(kbit_last_error(), "applies to diffusers models only");
    kbit_quantize_options_init(&o);
    o.component_count = 1;
    st = quantize(path_of("pipe"), path_of("x1"), &o);
    ok &= st == KBIT_EINVAL && strstr(kbit_last_error(), "components needs");
    ok &= kbit_pipeline_open(NULL, NULL) == KBIT_EINVAL &&
          kbit_pipeline_open(path_of("wan"), (kbit_pipeline **)&ck) == KBIT_EINVAL &&
          kbit_pipeline_component_info(NULL, 0, NULL) == KBIT_EINVAL &&
          kbit_pipeline_count(NULL) == 0;
    tap_ok(ok && !ck_exists(path_of("x1")), "bad options and arguments: KBIT_EINVAL naming them "
           "(components without a pipeline, other_dtype not a float type or on a transformers "
           "model, component_count without components), nothing written");
}

int main(void)
{
    root = ck_scratch_dir("test_diffusers");
    dev = reference_open();
    test_rules();
    test_model_folder();
    test_pipeline();
    test_bad_input();
    kbit_device_close(dev);
    if (tap_failures() == 0)
        ck_rm_rf(root);
    return tap_done();
}
