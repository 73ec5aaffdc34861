/* tools/genmodel.c - kbit-genmodel: write a random Llama-shaped Hugging Face
 * checkpoint (config.json, safetensors shards + index, a tokenizer config and
 * a generation config) for the tests, the benchmark and the quickstart, or
 * with --flux a FLUX-shaped diffusers transformer (FluxTransformer2DModel's
 * tensor names and shapes; diffusion_pytorch_model shards + index).
 * Weights are N(0, 0.02) (norms 1 + N(0, 0.02)), from a fixed seed. */
#include <config.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kbit.h"
#include "numerics/half.h"

typedef struct spec {
    int layers, hidden, inter, vocab, heads, kv_heads, shards, tied;
    int flux, single_layers, in_channels, joint_dim, pooled_dim; /* --flux */
    kbit_dtype dtype;
    uint64_t seed;
} spec;

typedef struct tensor {
    char name[128];
    int ndim;
    int64_t shape[2];
    int norm;
} tensor;

static uint64_t rng_state;

static double uniform(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return ((double)(z >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static void fill(void *dst, kbit_dtype dtype, int64_t n, int norm)
{
    for (int64_t i = 0; i < n; i += 2) {
        double r = sqrt(-2.0 * log(uniform())), a = 6.283185307179586 * uniform();
        float v[2] = { (float)(0.02 * r * cos(a)), (float)(0.02 * r * sin(a)) };
        for (int k = 0; k < 2 && i + k < n; k++) {
            float f = norm ? 1.0f + v[k] : v[k];
            if (dtype == KBIT_F32)
                ((float *)dst)[i + k] = f;
            else
                ((uint16_t *)dst)[i + k] = dtype == KBIT_F16 ? kbit_f32_to_f16(f)
                                                             : kbit_f32_to_bf16(f);
        }
    }
}

static int list_tensors(const spec *s, tensor *t)
{
    int n = 0;
    int64_t h = s->hidden, kv = (int64_t)s->hidden / s->heads * s->kv_heads;
#define ADD2(nm, a, b) (snprintf(t[n].name, sizeof t[n].name, "%s", nm), t[n].ndim = 2, \
                        t[n].shape[0] = (a), t[n].shape[1] = (b), t[n].norm = 0, n++)
#define ADD1(nm, a) (snprintf(t[n].name, sizeof t[n].name, "%s", nm), t[n].ndim = 1, \
                     t[n].shape[0] = (a), t[n].norm = 1, n++)
    char nm[128];
    ADD2("model.embed_tokens.weight", s->vocab, h);
    for (int l = 0; l < s->layers; l++) {
        static const char *const parts[] = { "self_attn.q_proj", "self_attn.k_proj",
                                              "self_attn.v_proj", "self_attn.o_proj",
                                              "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj" };
        const int64_t rows[] = { h, kv, kv, h, s->inter, s->inter, h };
        const int64_t cols[] = { h, h, h, h, h, h, s->inter };
        snprintf(nm, sizeof nm, "model.layers.%d.input_layernorm.weight", l);
        ADD1(nm, h);
        snprintf(nm, sizeof nm, "model.layers.%d.post_attention_layernorm.weight", l);
        ADD1(nm, h);
        for (int p = 0; p < 7; p++) {
            snprintf(nm, sizeof nm, "model.layers.%d.%s.weight", l, parts[p]);
            ADD2(nm, rows[p], cols[p]);
        }
    }
    ADD1("model.norm.weight", h);
    if (!s->tied)
        ADD2("lm_head.weight", s->vocab, h);
    return n;
}

/* One tensor: a name made from fmt and l, 1-D or 2-D. */
static void add(tensor *t, int *n, const char *fmt, int l, const char *suffix, int ndim,
                int64_t a, int64_t b, int norm)
{
    char base[96];
    snprintf(base, sizeof base, fmt, l);
    snprintf(t[*n].name, sizeof t[*n].name, "%s%s", base, suffix);
    t[*n].ndim = ndim;
    t[*n].shape[0] = a;
    t[*n].shape[1] = b;
    t[*n].norm = norm;
    (*n)++;
}

/* An nn.Linear [a, b] with its bias. */
static void lin(tensor *t, int *n, const char *fmt, int l, int64_t a, int64_t b)
{
    add(t, n, fmt, l, ".weight", 2, a, b, 0);
    add(t, n, fmt, l, ".bias", 1, a, 0, 0);
}

/* FluxTransformer2DModel (diffusers): --layers double-stream blocks,
 * --single-layers single-stream blocks, --hidden = heads x head_dim,
 * --intermediate the MLP width; every nn.Linear has a bias. */
static int list_flux(const spec *s, tensor *t)
{
    int n = 0;
    int64_t h = s->hidden, in = s->inter, hd = s->hidden / s->heads;
    lin(t, &n, "x_embedder", 0, h, s->in_channels);
    lin(t, &n, "time_text_embed.timestep_embedder.linear_1", 0, h, 256);
    lin(t, &n, "time_text_embed.timestep_embedder.linear_2", 0, h, h);
    lin(t, &n, "time_text_embed.guidance_embedder.linear_1", 0, h, 256);
    lin(t, &n, "time_text_embed.guidance_embedder.linear_2", 0, h, h);
    lin(t, &n, "time_text_embed.text_embedder.linear_1", 0, h, s->pooled_dim);
    lin(t, &n, "time_text_embed.text_embedder.linear_2", 0, h, h);
    lin(t, &n, "context_embedder", 0, h, s->joint_dim);
    for (int l = 0; l < s->layers; l++) {
        static const char *const hxh[] = {
            "transformer_blocks.%d.attn.to_q", "transformer_blocks.%d.attn.to_k",
            "transformer_blocks.%d.attn.to_v", "transformer_blocks.%d.attn.add_q_proj",
            "transformer_blocks.%d.attn.add_k_proj", "transformer_blocks.%d.attn.add_v_proj",
            "transformer_blocks.%d.attn.to_out.0", "transformer_blocks.%d.attn.to_add_out" };
        static const char *const norms[] = {
            "transformer_blocks.%d.attn.norm_q", "transformer_blocks.%d.attn.norm_k",
            "transformer_blocks.%d.attn.norm_added_q", "transformer_blocks.%d.attn.norm_added_k" };
        lin(t, &n, "transformer_blocks.%d.norm1.linear", l, 6 * h, h);
        lin(t, &n, "transformer_blocks.%d.norm1_context.linear", l, 6 * h, h);
        for (int p = 0; p < 8; p++)
            lin(t, &n, hxh[p], l, h, h);
        for (int p = 0; p < 4; p++)
            add(t, &n, norms[p], l, ".weight", 1, hd, 0, 1);
        lin(t, &n, "transformer_blocks.%d.ff.net.0.proj", l, in, h);
        lin(t, &n, "transformer_blocks.%d.ff.net.2", l, h, in);
        lin(t, &n, "transformer_blocks.%d.ff_context.net.0.proj", l, in, h);
        lin(t, &n, "transformer_blocks.%d.ff_context.net.2", l, h, in);
    }
    for (int l = 0; l < s->single_layers; l++) {
        lin(t, &n, "single_transformer_blocks.%d.norm.linear", l, 3 * h, h);
        lin(t, &n, "single_transformer_blocks.%d.proj_mlp", l, in, h);
        lin(t, &n, "single_transformer_blocks.%d.proj_out", l, h, h + in);
        lin(t, &n, "single_transformer_blocks.%d.attn.to_q", l, h, h);
        lin(t, &n, "single_transformer_blocks.%d.attn.to_k", l, h, h);
        lin(t, &n, "single_transformer_blocks.%d.attn.to_v", l, h, h);
        add(t, &n, "single_transformer_blocks.%d.attn.norm_q", l, ".weight", 1, hd, 0, 1);
        add(t, &n, "single_transformer_blocks.%d.attn.norm_k", l, ".weight", 1, hd, 0, 1);
    }
    lin(t, &n, "norm_out.linear", 0, 2 * h, h);
    lin(t, &n, "proj_out", 0, s->in_channels, h);
    return n;
}

static int write_file(const char *dir, const char *name, const char *text)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "kbit-genmodel: cannot write %s\n", path);
        return -1;
    }
    return 0;
}

static int write_config(const char *dir, const spec *s)
{
    char text[2048];
    const char *dt = s->dtype == KBIT_F32 ? "float32" : s->dtype == KBIT_F16 ? "float16"
                                                                             : "bfloat16";
    snprintf(text, sizeof text,
             "{\n  \"architectures\": [\n    \"LlamaForCausalLM\"\n  ],\n"
             "  \"bos_token_id\": 1,\n  \"eos_token_id\": 2,\n  \"hidden_act\": \"silu\",\n"
             "  \"hidden_size\": %d,\n  \"intermediate_size\": %d,\n"
             "  \"max_position_embeddings\": 2048,\n  \"model_type\": \"llama\",\n"
             "  \"num_attention_heads\": %d,\n  \"num_hidden_layers\": %d,\n"
             "  \"num_key_value_heads\": %d,\n  \"rms_norm_eps\": 1e-05,\n"
             "  \"rope_theta\": 10000.0,\n  \"tie_word_embeddings\": %s,\n"
             "  \"torch_dtype\": \"%s\",\n  \"vocab_size\": %d\n}\n",
             s->hidden, s->inter, s->heads, s->layers, s->kv_heads, s->tied ? "true" : "false",
             dt, s->vocab);
    if (s->flux) {
        snprintf(text, sizeof text,
                 "{\n  \"_class_name\": \"FluxTransformer2DModel\",\n"
                 "  \"_diffusers_version\": \"0.42.1\",\n  \"attention_head_dim\": %d,\n"
                 "  \"axes_dims_rope\": [\n    %d,\n    %d,\n    %d\n  ],\n"
                 "  \"guidance_embeds\": true,\n  \"in_channels\": %d,\n"
                 "  \"joint_attention_dim\": %d,\n  \"num_attention_heads\": %d,\n"
                 "  \"num_layers\": %d,\n  \"num_single_layers\": %d,\n"
                 "  \"out_channels\": null,\n  \"patch_size\": 1,\n"
                 "  \"pooled_projection_dim\": %d\n}\n",
                 s->hidden / s->heads,
                 /* FLUX.1: 16, 56, 56 for head_dim 128; the rope axes sum to head_dim */
                 s->hidden / s->heads - 2 * (s->hidden / s->heads * 7 / 16),
                 s->hidden / s->heads * 7 / 16, s->hidden / s->heads * 7 / 16, s->in_channels,
                 s->joint_dim, s->heads, s->layers,
                 s->single_layers, s->pooled_dim);
        return write_file(dir, "config.json", text);
    }
    return write_file(dir, "config.json", text) ||
           write_file(dir, "generation_config.json",
                      "{\n  \"bos_token_id\": 1,\n  \"eos_token_id\": 2\n}\n") ||
           write_file(dir, "tokenizer_config.json", "{\n  \"model_max_length\": 2048\n}\n");
}

static int usage(void)
{
    fputs("usage: kbit-genmodel OUTDIR [--layers N] [--hidden N] [--intermediate N]\n"
          "         [--vocab N] [--heads N] [--kv-heads N] [--dtype fp16|bf16|fp32]\n"
          "         [--shards N] [--tied] [--seed N]\n"
          "       kbit-genmodel OUTDIR --flux [--layers N] [--single-layers N] [--hidden N]\n"
          "         [--heads N] [--intermediate N] [--in-channels N] [--joint-dim N]\n"
          "         [--pooled-dim N] [--dtype T] [--shards N] [--seed N]\n"
          "defaults: 2 layers, hidden 64, intermediate 160, vocab 256, 4 heads, 2 kv heads,\n"
          "fp16, 1 shard, untied lm_head, seed 1. --shards 1 writes model.safetensors.\n"
          "--flux: a FluxTransformer2DModel (diffusers) with FLUX.1's widths by default\n"
          "(hidden 3072, 24 heads, intermediate 12288, in 64, joint 4096, pooled 768),\n"
          "2 double and 4 single blocks, bf16; diffusion_pytorch_model*.safetensors.\n",
          stderr);
    return 2;
}

int main(int argc, char **argv)
{
    spec s = { 2, 64, 160, 256, 4, 2, 1, 0, 0, 0, 0, 0, 0, KBIT_F16, 1 };
    if (argc < 2 || argv[1][0] == '-')
        return usage();
    const char *dir = argv[1];
    for (int i = 2; i < argc; i++)
        if (strcmp(argv[i], "--flux") == 0) {
            spec f = { 2, 3072, 12288, 0, 24, 24, 1, 0, 1, 4, 64, 4096, 768, KBIT_BF16, 1 };
            s = f;
        }
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int *target = strcmp(a, "--layers") == 0 ? &s.layers : strcmp(a, "--hidden") == 0 ? &s.hidden
                    : strcmp(a, "--intermediate") == 0 ? &s.inter : strcmp(a, "--vocab") == 0 ? &s.vocab
                    : strcmp(a, "--heads") == 0 ? &s.heads : strcmp(a, "--kv-heads") == 0 ? &s.kv_heads
                    : strcmp(a, "--shards") == 0 ? &s.shards
                    : strcmp(a, "--single-layers") == 0 ? &s.single_layers
                    : strcmp(a, "--in-channels") == 0 ? &s.in_channels
                    : strcmp(a, "--joint-dim") == 0 ? &s.joint_dim
                    : strcmp(a, "--pooled-dim") == 0 ? &s.pooled_dim : NULL;
        if (strcmp(a, "--flux") == 0) {
            continue;
        } else if (strcmp(a, "--tied") == 0) {
            s.tied = 1;
        } else if (target && v) {
            *target = atoi(v);
            i++;
        } else if (strcmp(a, "--seed") == 0 && v) {
            s.seed = strtoull(v, NULL, 10);
            i++;
        } else if (strcmp(a, "--dtype") == 0 && v) {
            s.dtype = strcmp(v, "fp32") == 0 ? KBIT_F32 : strcmp(v, "bf16") == 0 ? KBIT_BF16
                                                                                 : KBIT_F16;
            i++;
        } else {
            return usage();
        }
    }
    if (s.flux) { /* no vocabulary, no grouped heads */
        s.vocab = 2;
        s.kv_heads = s.heads;
    }
    if (s.layers < 1 || s.hidden < 2 || s.inter < 2 || s.vocab < 2 || s.heads < 1 ||
        s.kv_heads < 1 || s.hidden % s.heads || s.heads % s.kv_heads || s.shards < 1 ||
        (s.flux && (s.single_layers < 0 || s.in_channels < 1 || s.joint_dim < 1 ||
                    s.pooled_dim < 1)))
        return usage();
    rng_state = s.seed;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "kbit-genmodel: cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }
    tensor *t = calloc((size_t)s.layers * 40 + (size_t)s.single_layers * 16 + 24, sizeof *t);
    if (t == NULL)
        return 1;
    int n = s.flux ? list_flux(&s, t) : list_tensors(&s, t);
    const char *base = s.flux ? "diffusion_pytorch_model" : "model";
    uint64_t total = 0;
    size_t esize = kbit_dtype_size(s.dtype);
    for (int i = 0; i < n; i++)
        total += (uint64_t)(t[i].shape[0] * (t[i].ndim == 2 ? t[i].shape[1] : 1)) * esize;
    if (s.shards > n)
        s.shards = n;
    uint64_t per = total / (uint64_t)s.shards + 1;

    /* the index is written by hand: Python's formatting, sorted keys */
    char **names = calloc((size_t)n, sizeof *names);
    int *shard_of = calloc((size_t)n, sizeof *shard_of);
    int i = 0, rc = 0;
    for (int sh = 0; sh < s.shards && rc == 0; sh++) {
        char file[64], path[4096];
        if (s.shards == 1)
            snprintf(file, sizeof file, "%s.safetensors", base);
        else
            snprintf(file, sizeof file, "%s-%05d-of-%05d.safetensors", base, sh + 1, s.shards);
        snprintf(path, sizeof path, "%s/%s", dir, file);
        kbit_checkpoint_writer *w = NULL;
        if (kbit_checkpoint_writer_create(path, &w) != KBIT_OK) {
            rc = 1;
            break;
        }
        uint64_t in_shard = 0;
        while (i < n && (in_shard < per || sh == s.shards - 1)) {
            int64_t numel = t[i].shape[0] * (t[i].ndim == 2 ? t[i].shape[1] : 1);
            void *buf = malloc((size_t)numel * esize);
            if (buf == NULL) {
                rc = 1;
                break;
            }
            fill(buf, s.dtype, numel, t[i].norm);
            if (kbit_checkpoint_writer_add(w, t[i].name, s.dtype, t[i].ndim, t[i].shape, buf) !=
                KBIT_OK)
                rc = 1;
            free(buf);
            names[i] = t[i].name;
            shard_of[i] = sh;
            in_shard += (uint64_t)numel * esize;
            i++;
        }
        if (rc != 0 || kbit_checkpoint_writer_finish(w) != KBIT_OK) {
            fprintf(stderr, "kbit-genmodel: %s\n", kbit_last_error());
            return 1;
        }
    }
    if (rc == 0 && s.shards > 1) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.safetensors.index.json", dir, base);
        FILE *f = fopen(path, "w");
        if (f == NULL)
            return 1;
        fprintf(f, "{\n  \"metadata\": {\n    \"total_size\": %llu\n  },\n  \"weight_map\": {\n",
                (unsigned long long)total);
        /* names sorted: tensors are listed in a fixed order, sort here */
        for (int a = 0; a < n; a++)
            for (int b = a + 1; b < n; b++)
                if (strcmp(names[b], names[a]) < 0) {
                    char *tn = names[a];
                    names[a] = names[b];
                    names[b] = tn;
                    int ts = shard_of[a];
                    shard_of[a] = shard_of[b];
                    shard_of[b] = ts;
                }
        for (int a = 0; a < n; a++)
            fprintf(f, "    \"%s\": \"%s-%05d-of-%05d.safetensors\"%s\n", names[a], base,
                    shard_of[a] + 1, s.shards, a + 1 < n ? "," : "");
        fprintf(f, "  }\n}\n");
        fclose(f);
    }
    if (rc == 0)
        rc = write_config(dir, &s);
    free(names);
    free(shard_of);
    free(t);
    return rc ? 1 : 0;
}
