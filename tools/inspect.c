/* tools/inspect.c - `kbit inspect PATH [--compare ORIGINAL]`: what a
 * checkpoint holds, tensor by tensor, its size and memory footprint, and
 * with --compare the relative error of every tensor against another
 * checkpoint (e.g. the model before quantization). */
#include <config.h>

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ckcli.h"
#include "cli.h"
#include "kbit.h"

static void usage(FILE *to)
{
    fputs("usage: kbit inspect PATH [--compare ORIGINAL] [OPTIONS]\n"
          "\n"
          "Lists the tensors of a checkpoint (a transformers or diffusers model folder, or\n"
          "a .safetensors file; for a diffusers pipeline, each component with weights): name,\n"
          "shape, format (dtype, or nf4/fp4 with blocksize and double quant, or int8),\n"
          "bytes stored; then the totals and the memory footprint transformers'\n"
          "get_memory_footprint(return_buffers=False) reports for the loaded model\n"
          "(parameters: the packed 4-bit / int8 weights and the plain tensors, not the\n"
          "quant states; buffers such as rotary tables are not in a checkpoint).\n"
          "\n"
          "options:\n"
          "  --compare ORIG  relative error ||x - orig|| / ||orig|| (L2, fp64 sums) and\n"
          "                  the largest absolute difference of each tensor also in ORIG\n"
          "  --device SPEC   where to dequantize for --compare (default auto)\n"
          "  --json          JSON on stdout instead of the table\n",
          to);
}

static void format_shape(const kbit_tensor_info *t, char *out, size_t len)
{
    size_t k = (size_t)snprintf(out, len, "[");
    for (int i = 0; i < t->ndim && k < len; i++)
        k += (size_t)snprintf(out + k, len - k, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (k < len)
        snprintf(out + k, len - k, "]");
}

static void format_kind(const kbit_tensor_info *t, char *out, size_t len)
{
    if (t->format == KBIT_WEIGHT_4BIT)
        snprintf(out, len, "%s bs%d%s (%s)", t->quant_type == KBIT_NF4 ? "nf4" : "fp4",
                 t->blocksize, t->nested ? " nested" : "", kbit_dtype_name(t->dtype));
    else if (t->format == KBIT_WEIGHT_INT8)
        snprintf(out, len, "int8 row");
    else
        snprintf(out, len, "%s", t->st_dtype);
}

/* A tensor as fp32 on the host; NULL with the error printed. */
static float *load_f32(const kbit_checkpoint *ck, const char *name, kbit_device *dev, int64_t n)
{
    void *d = NULL;
    float *h = malloc((size_t)(n ? n : 1) * sizeof *h);
    if (h == NULL || kbit_checkpoint_load_tensor(ck, name, dev, KBIT_F32, &d) != KBIT_OK ||
        kbit_copy(dev, h, d, (size_t)n * sizeof *h, KBIT_DEVICE_TO_HOST) != KBIT_OK) {
        fprintf(stderr, "kbit inspect: %s: %s\n", ckcli_safe(name),
                h ? ckcli_safe(kbit_last_error()) : "out of memory");
        free(h);
        kbit_free(dev, d);
        return NULL;
    }
    kbit_free(dev, d);
    return h;
}

typedef struct cmp_result {
    int done;
    double rel, maxabs;
} cmp_result;

/* Compare tensor `name` of ck with the same tensor of orig. */
static int compare(const kbit_checkpoint *ck, const kbit_checkpoint *orig, const char *name,
                   const kbit_tensor_info *t, kbit_device *dev, cmp_result *r)
{
    kbit_tensor_info o;
    memset(r, 0, sizeof *r);
    if (kbit_checkpoint_info(orig, name, &o) != KBIT_OK || o.numel != t->numel ||
        (t->format == KBIT_WEIGHT_PLAIN &&
         (!t->dtype_known || t->dtype > KBIT_BF16)))
        return 0; /* absent, different, or not a float tensor: nothing to say */
    if (o.format == KBIT_WEIGHT_PLAIN && (!o.dtype_known || o.dtype > KBIT_BF16))
        return 0;
    float *a = load_f32(ck, name, dev, t->numel), *b = a ? load_f32(orig, name, dev, t->numel) : NULL;
    if (a == NULL || b == NULL) {
        free(a);
        return -1;
    }
    double num = 0, den = 0, maxabs = 0;
    for (int64_t i = 0; i < t->numel; i++) {
        double d = (double)a[i] - (double)b[i];
        num += d * d;
        den += (double)b[i] * (double)b[i];
        if (fabs(d) > maxabs)
            maxabs = fabs(d);
    }
    free(a);
    free(b);
    r->done = 1;
    r->rel = den > 0 ? sqrt(num / den) : sqrt(num);
    r->maxabs = maxabs;
    return 0;
}

/* Inspect one checkpoint (a pipeline component when `component` is set):
 * the table or one JSON object. *dev is opened on first need. */
static int inspect_one(const char *path, const char *original, const char *component,
                       const char *device, kbit_device **devp, int json)
{
    kbit_checkpoint *ck = NULL, *orig = NULL;
    if (kbit_checkpoint_open(path, &ck) != KBIT_OK) {
        fprintf(stderr, "kbit inspect: %s\n", ckcli_safe(kbit_last_error()));
        return 1;
    }
    if (original && (kbit_checkpoint_open(original, &orig) != KBIT_OK ||
                     (*devp == NULL &&
                      (*devp = ckcli_open_device("inspect", device,
                                                 KBIT_FAMILY_QUANT4 | KBIT_FAMILY_INT8)) ==
                          NULL))) {
        if (orig == NULL)
            fprintf(stderr, "kbit inspect: %s\n", ckcli_safe(kbit_last_error()));
        kbit_checkpoint_close(orig);
        kbit_checkpoint_close(ck);
        return 1;
    }
    kbit_device *dev = *devp;
    if (component && !json)
        printf("== component %s: %s\n", ckcli_safe(component), ckcli_safe(path));

    int64_t n = kbit_checkpoint_count(ck), quantized = 0, compared = 0;
    uint64_t stored = 0, footprint = 0;
    double worst = 0;
    int rc = 0;
    if (json) {
        printf("{");
        if (component) {
            printf("\"component\": ");
            ckcli_json_string(stdout, component);
            printf(", ");
        }
        printf("\"path\": ");
        ckcli_json_string(stdout, path);
        printf(", \"tensors\": [");
    } else {
        printf("%-52s %-16s %-24s %12s%s\n", "tensor", "shape", "format", "bytes",
               orig ? "      rel.err      max|diff|" : "");
    }
    for (int64_t i = 0; i < n && rc == 0; i++) {
        const char *name = kbit_checkpoint_name(ck, i);
        kbit_tensor_info t;
        kbit_checkpoint_info(ck, name, &t);
        char shape[128], kind[64];
        format_shape(&t, shape, sizeof shape);
        format_kind(&t, kind, sizeof kind);
        cmp_result r = { 0 };
        if (orig && compare(ck, orig, name, &t, dev, &r) != 0)
            rc = 1;
        stored += t.stored_bytes;
        quantized += t.format != KBIT_WEIGHT_PLAIN;
        /* get_memory_footprint counts parameters: the packed / int8 weight,
         * not the quant state's tensors */
        footprint += t.format == KBIT_WEIGHT_4BIT ? (uint64_t)(t.numel / 2 + t.numel % 2)
                     : t.format == KBIT_WEIGHT_INT8 ? (uint64_t)t.numel
                                                    : t.stored_bytes;
        if (r.done) {
            compared++;
            worst = r.rel > worst ? r.rel : worst;
        }
        if (json) {
            printf("%s{\"name\": ", i ? ", " : "");
            ckcli_json_string(stdout, name);
            printf(", \"shape\": %s, \"format\": \"%s\", \"bytes\": %llu", shape,
                   t.format == KBIT_WEIGHT_4BIT ? (t.quant_type == KBIT_NF4 ? "nf4" : "fp4")
                   : t.format == KBIT_WEIGHT_INT8 ? "int8" : t.st_dtype,
                   (unsigned long long)t.stored_bytes);
            if (t.format == KBIT_WEIGHT_4BIT)
                printf(", \"blocksize\": %d, \"nested\": %s, \"dtype\": \"%s\"", t.blocksize,
                       t.nested ? "true" : "false", kbit_dtype_name(t.dtype));
            if (r.done)
                printf(", \"rel_error\": %.6g, \"max_abs_diff\": %.6g", r.rel, r.maxabs);
            printf("}");
        } else {
            printf("%-52s %-16s %-24s %12llu", ckcli_safe(name), shape, ckcli_safe(kind),
                   (unsigned long long)t.stored_bytes);
            if (r.done)
                printf("  %12.6f %12.6g", r.rel, r.maxabs);
            printf("\n");
        }
    }
    char sb[24], fb[24];
    ckcli_format_bytes(stored, sb, sizeof sb);
    ckcli_format_bytes(footprint, fb, sizeof fb);
    if (json) {
        printf("], \"count\": %lld, \"quantized\": %lld, \"stored_bytes\": %llu, "
               "\"memory_footprint_bytes\": %llu", (long long)n, (long long)quantized,
               (unsigned long long)stored, (unsigned long long)footprint);
        if (orig)
            printf(", \"compared\": %lld, \"max_rel_error\": %.6g", (long long)compared, worst);
        printf("}\n");
    } else {
        printf("\n%lld tensors (%lld quantized), %s stored, memory footprint %s "
               "(get_memory_footprint)\n", (long long)n, (long long)quantized, sb, fb);
        if (orig)
            printf("compared with %s: %lld tensors, largest relative error %.6f\n",
                   ckcli_safe(original),
                   (long long)compared, worst);
    }
    kbit_checkpoint_close(orig);
    kbit_checkpoint_close(ck);
    return rc;
}

int kbit_cmd_inspect(int argc, char **argv)
{
    enum { O_COMPARE = 256, O_DEVICE, O_JSON, O_HELP };
    static const struct option longopts[] = {
        { "compare", required_argument, NULL, O_COMPARE },
        { "device", required_argument, NULL, O_DEVICE },
        { "json", no_argument, NULL, O_JSON },
        { "help", no_argument, NULL, O_HELP },
        { NULL, 0, NULL, 0 },
    };
    const char *original = NULL, *device = "auto";
    int json = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case O_COMPARE: original = optarg; break;
        case O_DEVICE: device = optarg; break;
        case O_JSON: json = 1; break;
        case 'h':
        case O_HELP: usage(stdout); return 0;
        default:
            fprintf(stderr, "kbit inspect: unknown option '%s'\n", ckcli_safe(argv[optind - 1]));
            usage(stderr);
            return 2;
        }
    }
    if (argc - optind != 1) {
        fprintf(stderr, "kbit inspect: needs one PATH\n");
        usage(stderr);
        return 2;
    }
    const char *path = argv[optind];
    kbit_device *dev = NULL;
    struct stat sb;
    char idx[4096];
    snprintf(idx, sizeof idx, "%s/model_index.json", path);
    if (stat(idx, &sb) != 0) {
        int rc = inspect_one(path, original, NULL, device, &dev, json);
        kbit_device_close(dev);
        return rc;
    }
    /* a diffusers pipeline: every component with weights, one after another */
    kbit_pipeline *p = NULL;
    if (kbit_pipeline_open(path, &p) != KBIT_OK) {
        fprintf(stderr, "kbit inspect: %s\n", ckcli_safe(kbit_last_error()));
        return 1;
    }
    if (json) {
        printf("{\"path\": ");
        ckcli_json_string(stdout, path);
        printf(", \"pipeline\": true, \"components\": [");
    }
    int rc = 0, shown = 0;
    for (int64_t i = 0; i < kbit_pipeline_count(p) && rc == 0; i++) {
        kbit_pipeline_component pc;
        kbit_pipeline_component_info(p, i, &pc);
        if (!pc.has_weights)
            continue;
        char sub[4096], osub[4096];
        snprintf(sub, sizeof sub, "%s/%s", path, pc.name);
        snprintf(osub, sizeof osub, "%s/%s", original ? original : "", pc.name);
        if (json && shown)
            printf(", ");
        if (!json && shown)
            printf("\n");
        rc = inspect_one(sub, original ? osub : NULL, pc.name, device, &dev, json);
        shown++;
    }
    if (json)
        printf("]}\n");
    kbit_pipeline_close(p);
    kbit_device_close(dev);
    return rc;
}
