/* tools/quantize.c - `kbit quantize IN OUT`: a Hugging Face checkpoint to
 * the bitsandbytes format, with the options of transformers'
 * BitsAndBytesConfig (kbit_checkpoint_quantize does the work). */
#include <config.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckcli.h"
#include "cli.h"
#include "kbit.h"

static void usage(FILE *to)
{
    fputs("usage: kbit quantize IN OUT [OPTIONS]\n"
          "\n"
          "Quantizes a Hugging Face checkpoint into the bitsandbytes format that\n"
          "transformers or diffusers loads without a quantization config: a transformers\n"
          "model (config.json and model.safetensors or shards + its index), a diffusers\n"
          "model (config.json with _class_name and diffusion_pytorch_model.safetensors or\n"
          "shards + its index), a diffusers pipeline (model_index.json and component\n"
          "subfolders: the chosen components are quantized, the rest is copied), or one\n"
          ".safetensors file; fp32/fp16/bf16 tensors. OUT is built under a temporary\n"
          "name and appears only when complete.\n"
          "\n"
          "options (transformers' BitsAndBytesConfig):\n"
          "  --4bit                  Linear4bit weights (default)\n"
          "  --8bit                  LLM.int8() weights (Linear8bitLt, has_fp16_weight=false)\n"
          "  --quant-type nf4|fp4    4-bit code (default nf4; with --8bit only recorded,\n"
          "                          default fp4 as in transformers)\n"
          "  --double-quant          double-quantize the absmax (bnb_4bit_use_double_quant)\n"
          "  --compute-dtype T       recorded bnb_4bit_compute_dtype: fp32 (default), fp16, bf16\n"
          "  --quant-storage T       dtype the packed bytes are stored as: uint8 (default),\n"
          "                          int8, fp16, bf16, fp32, fp64\n"
          "  --threshold X           recorded llm_int8_threshold (default 6.0)\n"
          "  --skip-modules A,B,...  modules kept in full precision; replaces the default\n"
          "                          (transformers: lm_head, embed_out; diffusers: none), as\n"
          "                          llm_int8_skip_modules does\n"
          "\n"
          "diffusers models and pipelines:\n"
          "  --components A,B,...    pipeline components to quantize (subfolders named in\n"
          "                          model_index.json; default: the denoiser, transformer or\n"
          "                          unet), as PipelineQuantizationConfig's components_to_quantize\n"
          "  --other-dtype T         fp16, bf16 or fp32: as diffusers' torch_dtype, the\n"
          "                          unquantized float tensors are stored as T (the model's\n"
          "                          _keep_in_fp32_modules as fp32) and the weights quantized\n"
          "                          from T (default: every tensor keeps its dtype)\n"
          "  --device SPEC           where to quantize (default auto): cpu, cuda:0, ...\n"
          "  --force                 replace OUT if it exists (only once OUT is complete)\n"
          "  --quiet                 no progress bar and no summary\n"
          "  --json                  print a JSON summary on stdout\n"
          "\n"
          "Quantized: 2-D tensors named *.weight in fp32/fp16/bf16 except embeddings and\n"
          "skipped modules; diffusers models follow diffusers' own rule (its nn.Linear\n"
          "layers, _keep_in_fp32_modules kept) (doc/formats.md). Everything else is\n"
          "copied unchanged.\n",
          to);
}

/* Split "a,b,c" in place into a list. */
static int split_list(char *s, const char ***out)
{
    int n = 1;
    for (char *p = s; *p; p++)
        n += *p == ',';
    const char **list = calloc((size_t)n, sizeof *list);
    if (list == NULL)
        return -1;
    int k = 0;
    for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ","))
        list[k++] = tok;
    *out = list;
    return k;
}

static void print_json(const char *in, const char *out, const kbit_quantize_options *o,
                       const kbit_convert_report *r, double seconds)
{
    printf("{\"command\": \"quantize\", \"input\": ");
    ckcli_json_string(stdout, in);
    printf(", \"output\": ");
    ckcli_json_string(stdout, out);
    printf(", \"bits\": %d, \"quant_type\": \"%s\", \"double_quant\": %s, \"tensors\": %lld, "
           "\"quantized\": %lld, \"shards\": %lld, \"files_copied\": %lld, \"bytes_in\": %llu, "
           "\"bytes_out\": %llu, \"seconds\": %.3f, \"input_mb_per_s\": %.1f, "
           "\"peak_rss_bytes\": %llu}\n",
           o->bits, o->quant_type == KBIT_NF4 ? "nf4" : "fp4", o->double_quant ? "true" : "false",
           (long long)r->tensors, (long long)r->converted, (long long)r->shards,
           (long long)r->files_copied, (unsigned long long)r->bytes_in,
           (unsigned long long)r->bytes_out, seconds,
           seconds > 0 ? (double)r->bytes_in / seconds / 1e6 : 0.0,
           (unsigned long long)ckcli_peak_rss());
}

int kbit_cmd_quantize(int argc, char **argv)
{
    enum { O_4BIT = 256, O_8BIT, O_TYPE, O_DQ, O_COMPUTE, O_STORAGE, O_THRESH, O_SKIP, O_DEVICE,
           O_FORCE, O_QUIET, O_JSON, O_HELP, O_COMPONENTS, O_OTHER };
    static const struct option longopts[] = {
        { "4bit", no_argument, NULL, O_4BIT },
        { "8bit", no_argument, NULL, O_8BIT },
        { "quant-type", required_argument, NULL, O_TYPE },
        { "double-quant", no_argument, NULL, O_DQ },
        { "compute-dtype", required_argument, NULL, O_COMPUTE },
        { "quant-storage", required_argument, NULL, O_STORAGE },
        { "threshold", required_argument, NULL, O_THRESH },
        { "skip-modules", required_argument, NULL, O_SKIP },
        { "components", required_argument, NULL, O_COMPONENTS },
        { "other-dtype", required_argument, NULL, O_OTHER },
        { "device", required_argument, NULL, O_DEVICE },
        { "force", no_argument, NULL, O_FORCE },
        { "quiet", no_argument, NULL, O_QUIET },
        { "json", no_argument, NULL, O_JSON },
        { "help", no_argument, NULL, O_HELP },
        { NULL, 0, NULL, 0 },
    };
    kbit_quantize_options o;
    kbit_quantize_options_init(&o);
    const char *device = "auto";
    const char **skip = NULL, **components = NULL;
    int quiet = 0, json = 0, type_given = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case O_4BIT: o.bits = 4; break;
        case O_8BIT: o.bits = 8; break;
        case O_TYPE:
            if (strcmp(optarg, "nf4") == 0)
                o.quant_type = KBIT_NF4;
            else if (strcmp(optarg, "fp4") == 0)
                o.quant_type = KBIT_FP4;
            else {
                fprintf(stderr, "kbit quantize: --quant-type must be nf4 or fp4\n");
                return 2;
            }
            type_given = 1;
            break;
        case O_DQ: o.double_quant = 1; break;
        case O_COMPUTE:
            if (!ckcli_parse_dtype(optarg, &o.compute_dtype)) {
                fprintf(stderr, "kbit quantize: unknown --compute-dtype '%s'\n", optarg);
                return 2;
            }
            break;
        case O_STORAGE:
            if (!ckcli_parse_dtype(optarg, &o.quant_storage)) {
                fprintf(stderr, "kbit quantize: unknown --quant-storage '%s'\n", optarg);
                return 2;
            }
            break;
        case O_THRESH:
            o.int8_threshold = strtod(optarg, &end);
            if (end == optarg || *end != '\0') {
                fprintf(stderr, "kbit quantize: --threshold needs a number\n");
                return 2;
            }
            break;
        case O_SKIP:
            free(skip);
            o.skip_count = split_list(optarg, &skip);
            if (o.skip_count < 0)
                return 1;
            o.skip_modules = skip;
            break;
        case O_COMPONENTS:
            free(components);
            o.component_count = split_list(optarg, &components);
            if (o.component_count < 0)
                return 1;
            if (o.component_count == 0) {
                fprintf(stderr, "kbit quantize: --components needs at least one name\n");
                free(components);
                free(skip);
                return 2;
            }
            o.components = components;
            break;
        case O_OTHER:
            if (!ckcli_parse_dtype(optarg, &o.other_dtype) ||
                (o.other_dtype != KBIT_F16 && o.other_dtype != KBIT_BF16 &&
                 o.other_dtype != KBIT_F32)) {
                fprintf(stderr, "kbit quantize: --other-dtype must be fp16, bf16 or fp32\n");
                free(components);
                free(skip);
                return 2;
            }
            o.cast_other = 1;
            break;
        case O_DEVICE: device = optarg; break;
        case O_FORCE: o.replace = 1; break;
        case O_QUIET: quiet = 1; break;
        case O_JSON: json = 1; break;
        case 'h':
        case O_HELP: usage(stdout); return 0;
        default:
            fprintf(stderr, "kbit quantize: unknown option '%s'\n",
                    ckcli_safe(argv[optind - 1]));
            usage(stderr);
            return 2;
        }
    }
    if (argc - optind != 2) {
        fprintf(stderr, "kbit quantize: needs IN and OUT\n");
        usage(stderr);
        free(skip);
        free(components);
        return 2;
    }
    /* with --8bit the 4-bit fields are only recorded: transformers' default */
    if (o.bits == 8 && !type_given)
        o.quant_type = KBIT_FP4;
    const char *in = argv[optind], *out = argv[optind + 1];
    ckcli_supervise("quantize", out); /* a signal removes the temporary */
    kbit_device *dev = ckcli_open_device(
        "quantize", device, o.bits == 8 ? KBIT_FAMILY_INT8 : KBIT_FAMILY_QUANT4);
    if (dev == NULL) {
        free(skip);
        free(components);
        return 1;
    }
    ckcli_progress bar;
    ckcli_progress_init(&bar, quiet || json);
    o.progress = ckcli_progress_cb;
    o.progress_ctx = &bar;
    kbit_convert_report r;
    double t0 = ckcli_now();
    kbit_status st = kbit_checkpoint_quantize(dev, in, out, &o, &r);
    double seconds = ckcli_now() - t0;
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", kbit_last_error());
    ckcli_progress_end(&bar);
    kbit_device_close(dev);
    int rc = 0;
    if (st != KBIT_OK) {
        fprintf(stderr, "kbit quantize: %s (%s); %s was not written\n", ckcli_safe(msg),
                kbit_strerror(st), ckcli_safe(out));
        rc = 1;
    } else if (json) {
        print_json(in, out, &o, &r, seconds);
    } else if (!quiet) {
        char bi[24], bo[24];
        ckcli_format_bytes(r.bytes_in, bi, sizeof bi);
        ckcli_format_bytes(r.bytes_out, bo, sizeof bo);
        printf("kbit quantize: %s -> %s: %lld of %lld tensors quantized (%s%s, %d-bit), "
               "%s -> %s (%.2fx smaller), %.2f s\n",
               ckcli_safe(in), ckcli_safe(out), (long long)r.converted,
               (long long)r.tensors,
               o.bits == 8 ? "int8" : o.quant_type == KBIT_NF4 ? "nf4" : "fp4",
               o.bits == 4 && o.double_quant ? " + double quant" : "", o.bits, bi, bo,
               r.bytes_out ? (double)r.bytes_in / (double)r.bytes_out : 0.0, seconds);
    }
    free(skip);
    free(components);
    return rc;
}
