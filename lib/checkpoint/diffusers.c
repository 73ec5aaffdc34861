/* lib/checkpoint/diffusers.c - diffusers model folders and diffusers'
 * bitsandbytes rules (see diffusers.h). The tables are facts read from
 * diffusers 0.42.1: its models' _keep_in_fp32_modules, and the modules whose
 * 2-D "weight" is not an nn.Linear weight (nn.Embedding tables, two custom
 * modules). tests/test_interop_diffusers.py checks the rule against every
 * diffusers model class that builds with its default config. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "checkpoint/bnb.h"
#include "checkpoint/checkpoint.h"
#include "checkpoint/diffusers.h"
#include "checkpoint/files.h"
#include "runtime/error.h"

int kbit_dfs_exists(const char *dir, const char *name)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return 0;
    return kbit_file_kind(path) != 0;
}

kbit_status kbit_dfs_locate(const char *dir, const char *config, kbit_dfs_layout *l)
{
    static const char dsingle[] = "diffusion_pytorch_model.safetensors",
                      dindex[] = "diffusion_pytorch_model.safetensors.index.json",
                      tsingle[] = "model.safetensors", tindex[] = "model.safetensors.index.json";
    int ds = kbit_dfs_exists(dir, dsingle), di = kbit_dfs_exists(dir, dindex);
    int ts = kbit_dfs_exists(dir, tsingle), ti = kbit_dfs_exists(dir, tindex);
    int pipeline = kbit_dfs_exists(dir, "model_index.json");
    kbit_dfs_rules rules; /* for _class_name ("" if none) */
    memset(l, 0, sizeof *l);
    kbit_status st = kbit_dfs_rules_init(config, &rules);
    if (st != KBIT_OK)
        return st;
    if ((ds || di) && (ts || ti))
        return kbit_error(KBIT_EFORMAT, "%s mixes layouts: it holds both diffusers weights "
                          "(diffusion_pytorch_model.safetensors*) and transformers weights "
                          "(model.safetensors*)", dir);
    if (pipeline && (ds || di || ts || ti))
        return kbit_error(KBIT_EFORMAT, "%s mixes layouts: a pipeline folder (model_index.json) "
                          "with weights of its own beside its components", dir);
    if (rules.class_name[0] && (ts || ti))
        return kbit_error(KBIT_EFORMAT, "%s mixes layouts: config.json names the diffusers "
                          "class %s (_class_name) but the weights are model.safetensors*", dir,
                          rules.class_name);
    if (pipeline)
        return kbit_error(KBIT_EFORMAT, "%s is a diffusers pipeline (model_index.json): open "
                          "one of its components (e.g. %s/transformer)", dir, dir);
    if (!ds && !di && !ts && !ti)
        return kbit_error(KBIT_EFORMAT, "%s has neither model.safetensors nor "
                          "model.safetensors.index.json (nor diffusers' "
                          "diffusion_pytorch_model.safetensors or its index)", dir);
    l->diffusers = ds || di;
    l->single = l->diffusers ? dsingle : tsingle;
    l->index = l->diffusers ? dindex : tindex;
    l->has_single = l->diffusers ? ds : ts;
    l->has_index = l->diffusers ? di : ti;
    return KBIT_OK;
}

/* _keep_in_fp32_modules of diffusers 0.42.1's model classes. */
#define KEEP_MAX 8
static const struct {
    const char *cls;
    const char *modules[KEEP_MAX]; /* NULL-terminated */
} keep_fp32[] = {
    { "AnyFlowFARTransformer3DModel",
      { "time_embedder", "scale_shift_table", "norm1", "norm2", "norm3" } },
    { "AnyFlowTransformer3DModel",
      { "time_embedder", "scale_shift_table", "norm1", "norm2", "norm3" } },
    { "AutoencoderKLMiniMaxH3",
      { "encoder", "quant_conv", "norm1", "norm2", "norm_out", "scale1", "scale2" } },
    { "AutoencoderKLMiniMaxH3Audio",
      { "encoder", "decoder", "pre_block", "dec_in_proj", "mean_proj", "logs_proj" } },
    { "ChronoEditTransformer3DModel",
      { "time_embedder", "scale_shift_table", "norm1", "norm2", "norm3" } },
    { "Cosmos3OmniTransformer", { "time_embedder" } },
    { "CosmosControlNetModel", { "learnable_pos_embed" } },
    { "CosmosTransformer3DModel", { "learnable_pos_embed" } },
    { "Flux3Transformer2DModel", { "norm_q", "norm_k" } },
    { "HeliosTransformer3DModel",
      { "time_embedder", "scale_shift_table", "norm1", "norm2", "norm3", "history_key_scale" } },
    { "JoyImageEditPlusTransformer3DModel", { "time_embedder", "norm1", "norm2", "norm_out" } },
    { "JoyImageEditTransformer3DModel", { "time_embedder", "norm1", "norm2", "norm_out" } },
    { "Kandinsky5Transformer3DModel",
      { "time_embeddings", "modulation", "visual_modulation", "text_modulation" } },
    { "Kandinsky6SRTransformer3DModel", { "time_embeddings", "pooled_bias", "modulation" } },
    { "Kandinsky6Transformer3DModel", { "time_embeddings", "modulation" } },
    { "Krea2Transformer2DModel", { "norm", "norm1", "norm2", "norm_q", "norm_k" } },
    { "MiniMaxH3Transformer3DModel",
      { "proj_in", "audio_proj_in", "time_embedder", "proj_out", "audio_proj_out", "rope" } },
    { "RFD4ProteinaAutoencoder", { "latent_decoder_mean_n_log_scale", "norm" } },
    { "RFD4ProteinaTransformer", { "cond_factory", "norm", "ln_out" } },
    { "SkyReelsV2Transformer3DModel",
      { "rope", "time_embedder", "scale_shift_table", "norm1", "norm2", "norm3" } },
    { "WanAnimate2Transformer3DModel",
      { "time_embedding", "time_projection", "scale_shift_table", "norm1", "norm2", "norm3",
        "modulation" } },
    { "WanAnimateTransformer3DModel",
      { "time_embedder", "scale_shift_table", "norm1", "norm2", "norm3",
        "motion_synthesis_weight", "rope" } },
    { "WanTransformer3DModel",
      { "rope", "time_embedder", "scale_shift_table", "norm1", "norm2", "norm3" } },
    { "WanVACETransformer3DModel",
      { "rope", "time_embedder", "scale_shift_table", "norm1", "norm2", "norm3" } },
};

kbit_status kbit_dfs_rules_init(const char *config, kbit_dfs_rules *r)
{
    memset(r, 0, sizeof *r);
    if (config == NULL)
        return KBIT_OK;
    /* read by Python's json rules, as at open (config.json is copied, not
     * interpreted, beyond these two keys) */
    json_t *c = NULL;
    kbit_status st = kbit_ck_parse_config("config.json", config, strlen(config), &c, NULL);
    if (st != KBIT_OK)
        return st;
    const char *name = json_string_value(json_object_get(c, "_class_name"));
    const char *cet = json_string_value(json_object_get(c, "class_embed_type"));
    if (name)
        snprintf(r->class_name, sizeof r->class_name, "%s", name);
    r->class_embedding_linear = cet && strcmp(cet, "simple_projection") == 0;
    json_decref(c);
    for (size_t i = 0; i < sizeof keep_fp32 / sizeof keep_fp32[0]; i++)
        if (strcmp(keep_fp32[i].cls, r->class_name) == 0)
            for (size_t k = 0; k < KEEP_MAX && keep_fp32[i].modules[k]; k++)
                r->keep_fp32[r->nkeep++] = keep_fp32[i].modules[k];
    return KBIT_OK;
}

/* 2-D "<module>.weight" tensors whose module is not an nn.Linear, by the
 * module's last name component: nn.Embedding attributes of diffusers 0.42.1
 * that are never an nn.Linear anywhere in it. */
static const char *const not_linear[] = {
    "addition_t_embedding", "audio_embeddings", "class_embedding", "cond_type_embed",
    "controlnet_mode_embedder", "emb", "embed", "embed_image_indicator", "embedding",
    "embedding_table", "embeddings", "fps_embedding", "height_emb", "pos_embedding", "position_encoding", "prior_token_embedding", "style_embedder",
    "visual_token_type_embeddings", "width_emb",
};

/* The same for names that are an nn.Linear in other classes: per class.
 * "a.*" means any module directly under a module named "a". */
static const struct {
    const char *cls, *module;
} class_not_linear[] = {
    { "OmniGenTransformer2DModel", "embed_tokens" },  /* an nn.Linear in AceStep's models */
    { "Cosmos3OmniTransformer", "embed_tokens" },
    { "UNet2DModel", "time_proj" },                   /* time_embedding_type "learned" */
    { "ConsistencyDecoderVAE", "time_proj" },         /* its decoder_unet */
    { "MiniMaxMusic3Transformer1DModel", "time_proj" }, /* a Fourier embedding's weight */
    { "HiDreamImageTransformer2DModel", "gate" },     /* MoEGate */
    { "WanAnimateTransformer3DModel", "motion_network.*" }, /* MotionLinear */
    { "Cosmos3OmniTransformer", "fc" },               /* DomainAwareLinear's tables */
    { "Cosmos3OmniTransformer", "bias" },
    { "RFD4ProteinaTransformer", "a" },
    { "RFD4ProteinaTransformer", "c" },
    { "RFD4ProteinaTransformer", "t" },
    { "RFD4ProteinaTransformer", "atom_charge" },
    { "RFD4ProteinaTransformer", "atomic_element" },
    { "RFD4ProteinaTransformer", "secondary_structure" },
    { "RFD4ProteinaTransformer", "token_type" },
    { "RFD4ProteinaAutoencoder", "element" },
    { "RFD4ProteinaAutoencoder", "charge" },
    { "RFD4ProteinaAutoencoder", "token_type" },
};

/* Component k from the end of module[0, len) (0: the last), as [*s, *s + *n). */
static int component(const char *module, size_t len, int k, const char **s, size_t *n)
{
    size_t end = len;
    for (;;) {
        size_t start = end;
        while (start > 0 && module[start - 1] != '.')
            start--;
        if (k-- == 0) {
            *s = module + start;
            *n = end - start;
            return 1;
        }
        if (start == 0)
            return 0;
        end = start - 1;
    }
}

static int equals(const char *s, size_t n, const char *word)
{
    return strlen(word) == n && strncmp(s, word, n) == 0;
}

static int module_not_linear(const kbit_dfs_rules *r, const char *module, size_t len)
{
    const char *last;
    size_t n;
    component(module, len, 0, &last, &n);
    for (size_t i = 0; i < sizeof not_linear / sizeof not_linear[0]; i++)
        if (equals(last, n, not_linear[i]))
            return !(r->class_embedding_linear && strcmp(not_linear[i], "class_embedding") == 0);
    for (size_t i = 0; i < sizeof class_not_linear / sizeof class_not_linear[0]; i++) {
        if (strcmp(class_not_linear[i].cls, r->class_name) != 0)
            continue;
        const char *m = class_not_linear[i].module, *star = strstr(m, ".*");
        const char *p;
        size_t pn;
        if (star == NULL ? equals(last, n, m)
                         : component(module, len, 1, &p, &pn) && pn == (size_t)(star - m) &&
                               strncmp(p, m, pn) == 0)
            return 1;
    }
    return 0;
}

/* diffusers' _replace_with_bnb_linear: `name not in modules_to_not_convert`
 * (the last component), `key + "." in current_key_name_str` (anywhere, a
 * plain substring), `key == current_key_name_str`. */
static int skipped_by(const char *module, size_t len, const char *s)
{
    size_t sl = strlen(s);
    const char *last;
    size_t n;
    if (sl == 0)
        return 0;
    component(module, len, 0, &last, &n);
    if (equals(last, n, s) || (sl == len && strncmp(module, s, len) == 0))
        return 1;
    for (size_t i = 0; i + sl < len; i++)
        if (module[i + sl] == '.' && strncmp(module + i, s, sl) == 0)
            return 1;
    return 0;
}

int kbit_dfs_should_quantize(const kbit_dfs_rules *r, const char *name, int ndim,
                             int dtype_known, kbit_dtype dtype, const char *const *skip,
                             size_t nskip)
{
    size_t mlen = kbit_bnb_weight_module(name, ndim, dtype_known, dtype);
    if (mlen == 0)
        return 0;
    if (module_not_linear(r, name, mlen))
        return 0;
    for (size_t i = 0; i < nskip; i++)
        if (skip[i] && skipped_by(name, mlen, skip[i]))
            return 0;
    for (size_t i = 0; i < r->nkeep; i++)
        if (skipped_by(name, mlen, r->keep_fp32[i]))
            return 0;
    return 1;
}

int kbit_dfs_keep_fp32(const kbit_dfs_rules *r, const char *name)
{
    size_t len = strlen(name);
    for (int k = 0;; k++) {
        const char *s;
        size_t n;
        if (!component(name, len, k, &s, &n))
            return 0;
        for (size_t i = 0; i < r->nkeep; i++)
            if (equals(s, n, r->keep_fp32[i]))
                return 1;
    }
}

json_t *kbit_dfs_quant_config(const kbit_quantize_options *o, const kbit_dfs_rules *r)
{
    json_t *skip = json_null();
    if (o->skip_modules != NULL) {
        skip = json_array();
        for (int i = 0; skip && i < o->skip_count; i++)
            json_array_append_new(skip, json_string(o->skip_modules[i]));
        for (size_t i = 0; skip && i < r->nkeep; i++)
            json_array_append_new(skip, json_string(r->keep_fp32[i]));
    }
    int four = o->bits == 4, eight = o->bits == 8;
    return json_pack("{s:s,s:b,s:b,s:f,s:o,s:b,s:b,s:s,s:b,s:s,s:s,s:b,s:b}",
                     "quant_method", "bitsandbytes", "_load_in_8bit", eight,
                     "_load_in_4bit", four, "llm_int8_threshold", o->int8_threshold,
                     "llm_int8_skip_modules", skip, "llm_int8_enable_fp32_cpu_offload", 0,
                     "llm_int8_has_fp16_weight", o->int8_has_fp16_weight != 0,
                     "bnb_4bit_quant_type", o->quant_type == KBIT_NF4 ? "nf4" : "fp4",
                     "bnb_4bit_use_double_quant", o->double_quant != 0,
                     "bnb_4bit_compute_dtype", kbit_bnb_dtype_name(o->compute_dtype),
                     "bnb_4bit_quant_storage", kbit_bnb_dtype_name(o->quant_storage),
                     "load_in_4bit", four, "load_in_8bit", eight);
}
