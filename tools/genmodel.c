/* tools/genmodel.c - kbit-genmodel: write a random Llama-shaped Hugging Face
 * checkpoint (config.json, safetensors shards + index, a tokenizer config and
 * a generation config) for the tests, the benchmark and the quickstart.
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
          "defaults: 2 layers, hidden 64, intermediate 160, vocab 256, 4 heads, 2 kv heads,\n"
          "fp16, 1 shard, untied lm_head, seed 1. --shards 1 writes model.safetensors.\n",
          stderr);
    return 2;
}

int main(int argc, char **argv)
{
    spec s = { 2, 64, 160, 256, 4, 2, 1, 0, KBIT_F16, 1 };
    if (argc < 2 || argv[1][0] == '-')
        return usage();
    const char *dir = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int *target = strcmp(a, "--layers") == 0 ? &s.layers : strcmp(a, "--hidden") == 0 ? &s.hidden
                    : strcmp(a, "--intermediate") == 0 ? &s.inter : strcmp(a, "--vocab") == 0 ? &s.vocab
                    : strcmp(a, "--heads") == 0 ? &s.heads : strcmp(a, "--kv-heads") == 0 ? &s.kv_heads
                    : strcmp(a, "--shards") == 0 ? &s.shards : NULL;
        if (strcmp(a, "--tied") == 0) {
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
    if (s.layers < 1 || s.hidden < 2 || s.inter < 2 || s.vocab < 2 || s.heads < 1 ||
        s.kv_heads < 1 || s.hidden % s.heads || s.heads % s.kv_heads || s.shards < 1)
        return usage();
    rng_state = s.seed;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "kbit-genmodel: cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }
    tensor *t = calloc((size_t)s.layers * 9 + 4, sizeof *t);
    if (t == NULL)
        return 1;
    int n = list_tensors(&s, t);
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
            snprintf(file, sizeof file, "model.safetensors");
        else
            snprintf(file, sizeof file, "model-%05d-of-%05d.safetensors", sh + 1, s.shards);
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
        snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
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
            fprintf(f, "    \"%s\": \"model-%05d-of-%05d.safetensors\"%s\n", names[a],
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
