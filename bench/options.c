/* bench/options.c - options of `kbit bench quant`. */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

#define MAX_REPS 1000

static void usage(FILE *to)
{
    fputs("usage: kbit bench quant [OPTIONS]\n"
          "\n"
          "Times NF4/FP4 4-bit (blocksize 64) and 8-bit blockwise (blocksize 4096)\n"
          "quantize and dequantize with cold caches, and prints GB/s (bytes read +\n"
          "written) and the ratio to the copy bandwidth measured in the same run.\n"
          "\n"
          "options:\n"
          "  --device SPEC     device to run on (default auto): cpu, cuda:0, ...\n"
          "  --threads LIST    CPU thread counts, comma-separated (default 1,2 on the\n"
          "                    CPU, 1 elsewhere)\n"
          "  --reps N          timed runs per figure; min and median are shown\n"
          "                    (default 11)\n"
          "  --size LIST       tensor sizes: ROWSxCOLS or N with an optional K/M/G\n"
          "                    (x1000) suffix, comma-separated (default 4096x4096,16M;\n"
          "                    16M = 16000000 elements, flat)\n"
          "  --ops LIST        only the ops whose name contains one of these words\n"
          "                    (e.g. nf4,q8); the copy baseline always runs. Ops:\n"
          "                    memcpy.f32, {nf4,fp4}.quant.f32, {nf4,fp4}.dequant.f32,\n"
          "                    {nf4,fp4}.dequant.bf16, q8.quant.f32, q8.dequant.f32\n"
          "  --bnb PATH        libbitsandbytes_cpu.so (or its directory) to compare\n"
          "                    with; default $KBIT_BNB_LIB (scripts/fetch-bnb gets it)\n"
          "  --no-bnb          do not compare with bitsandbytes\n"
          "  --cache-mib N     last-level cache size to defeat (default: the larger of\n"
          "                    what the system reports and 260)\n",
          to);
}

static int parse_int(const char *s, long min, long max, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return 0;
    *out = v;
    return 1;
}

/* N with an optional K/M/G suffix (powers of 1000). */
static int parse_count(const char *s, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || v < 1)
        return 0;
    long long scale = 1;
    if (*end == 'k' || *end == 'K')
        scale = 1000LL, end++;
    else if (*end == 'm' || *end == 'M')
        scale = 1000000LL, end++;
    else if (*end == 'g' || *end == 'G')
        scale = 1000000000LL, end++;
    if (*end != '\0' || v > INT64_MAX / scale)
        return 0;
    *out = v * scale;
    return 1;
}

static int parse_size(const char *s, bench_size *size)
{
    const char *x = strchr(s, 'x');
    if (x == NULL) {
        size->rows = 1;
        return parse_count(s, &size->cols);
    }
    char rows[32];
    size_t len = (size_t)(x - s);
    if (len == 0 || len >= sizeof rows)
        return 0;
    memcpy(rows, s, len);
    rows[len] = '\0';
    return parse_count(rows, &size->rows) && parse_count(x + 1, &size->cols) &&
           size->rows <= INT64_MAX / size->cols;
}

/* Split a comma-separated list; calls item() on each element. */
static int parse_list(const char *list, int (*item)(const char *, void *, int), void *out,
                      int *count)
{
    char buf[512];
    if (strlen(list) >= sizeof buf)
        return 0;
    strcpy(buf, list);
    *count = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (*count == BENCH_MAX_LIST || !item(tok, out, *count))
            return 0;
        (*count)++;
    }
    return *count > 0;
}

static int thread_item(const char *s, void *out, int i)
{
    long v;
    if (!parse_int(s, 1, 1024, &v))
        return 0;
    ((int *)out)[i] = (int)v;
    return 1;
}

static int size_item(const char *s, void *out, int i)
{
    return parse_size(s, &((bench_size *)out)[i]);
}

int bench_parse_options(int argc, char **argv, bench_options *o)
{
    static const struct option longs[] = {
        { "device", required_argument, NULL, 'd' },
        { "threads", required_argument, NULL, 't' },
        { "reps", required_argument, NULL, 'r' },
        { "size", required_argument, NULL, 's' },
        { "ops", required_argument, NULL, 'o' },
        { "bnb", required_argument, NULL, 'b' },
        { "no-bnb", no_argument, NULL, 'n' },
        { "cache-mib", required_argument, NULL, 'c' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    memset(o, 0, sizeof *o);
    o->device = "auto";
    o->reps = 11;
    parse_list("1,2", thread_item, o->threads, &o->thread_count);
    parse_list("4096x4096,16M", size_item, o->sizes, &o->size_count);

    opterr = 0;
    optind = 1;
    int c;
    long v;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case 'd':
            o->device = optarg;
            break;
        case 't':
            if (!parse_list(optarg, thread_item, o->threads, &o->thread_count)) {
                fprintf(stderr, "kbit bench quant: --threads wants counts 1..1024 like 1,2\n");
                return 2;
            }
            o->threads_given = 1;
            break;
        case 'r':
            if (!parse_int(optarg, 1, MAX_REPS, &v)) {
                fprintf(stderr, "kbit bench quant: --reps wants 1..%d\n", MAX_REPS);
                return 2;
            }
            o->reps = (int)v;
            break;
        case 's':
            if (!parse_list(optarg, size_item, o->sizes, &o->size_count)) {
                fprintf(stderr, "kbit bench quant: --size wants sizes like 4096x4096,16M\n");
                return 2;
            }
            break;
        case 'o':
            o->ops = optarg;
            break;
        case 'b':
            o->bnb_path = optarg;
            break;
        case 'n':
            o->no_bnb = 1;
            break;
        case 'c':
            if (!parse_int(optarg, 1, 1L << 30, &v)) {
                fprintf(stderr, "kbit bench quant: --cache-mib wants a positive count\n");
                return 2;
            }
            o->cache_mib = (size_t)v;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            fprintf(stderr, "kbit bench quant: unknown or incomplete option '%s'\n\n",
                    argv[optind - 1]);
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "kbit bench quant: unexpected argument '%s'\n\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    return -1;
}

int bench_selected(const bench_options *o, const bench_case *c)
{
    if (c->kind == BENCH_COPY || o->ops == NULL)
        return 1;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", o->ops);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        if (strstr(c->key, tok))
            return 1;
    return 0;
}

