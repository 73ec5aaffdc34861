/* bench/quant.c - `kbit bench quant`: throughput of 4-bit and 8-bit
 * (de)quantization with cold caches, next to the copy bandwidth measured in
 * the same run and, when its library is at hand, next to bitsandbytes. */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "bnb.h"
#include "cases.h"
#include "copy.h"
#include "rotation.h"
#include "timer.h"

#define MAX_LIST 16
#define MAX_REPS 1000

typedef struct bench_size {
    int64_t rows, cols; /* a flat size is 1 x n */
} bench_size;

typedef struct options {
    const char *device;
    int threads[MAX_LIST];
    int thread_count;
    int reps;
    bench_size sizes[MAX_LIST];
    int size_count;
    const char *ops;
    const char *bnb_path;
    int no_bnb;
    size_t cache_mib;
} options;

/* What one (size, thread count) section shares. */
typedef struct section {
    kbit_device *device;
    int host_memory; /* the CPU driver: device pointers are host pointers */
    int threads;
    int reps;
    size_t cache;
    bench_size size;
    int64_t n;
    const float *x; /* the input tensor, device memory */
    bench_stats copy; /* the baseline */
    int have_copy;
    const bench_bnb *bnb; /* NULL: no comparison */
} section;

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
          "  --threads LIST    CPU thread counts, comma-separated (default 1,2)\n"
          "  --reps N          timed runs per figure; min and median are shown\n"
          "                    (default 11)\n"
          "  --size LIST       tensor sizes: ROWSxCOLS or N with an optional K/M/G\n"
          "                    (x1000) suffix, comma-separated (default 4096x4096,16M)\n"
          "  --ops LIST        only the ops whose name contains one of these words\n"
          "                    (e.g. nf4,q8); the copy baseline always runs\n"
          "  --bnb PATH        libbitsandbytes_cpu.so (or its directory) to compare\n"
          "                    with; default $KBIT_BNB_LIB (scripts/fetch-bnb gets it)\n"
          "  --no-bnb          do not compare with bitsandbytes\n"
          "  --cache-mib N     last-level cache size to defeat (default: the larger of\n"
          "                    what the system reports and 260)\n",
          to);
}

/* ---- option parsing ---- */

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
        if (*count == MAX_LIST || !item(tok, out, *count))
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

/* Returns -1 to go on, else the exit status. */
static int parse_options(int argc, char **argv, options *o)
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

static int selected(const options *o, const bench_case *c)
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

/* ---- data ---- */

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Normally distributed weights (Box-Muller), the shape of real LLM tensors. */
static void fill_gaussian(float *x, int64_t n)
{
    uint64_t state = 0x6b626974; /* "kbit" */
    for (int64_t i = 0; i < n; i += 2) {
        double u1 = ((double)(splitmix64(&state) >> 11) + 1.0) * 0x1.0p-53;
        double u2 = (double)(splitmix64(&state) >> 11) * 0x1.0p-53;
        double r = sqrt(-2.0 * log(u1));
        x[i] = (float)(r * cos(6.283185307179586 * u2));
        if (i + 1 < n)
            x[i + 1] = (float)(r * sin(6.283185307179586 * u2));
    }
}

/* ---- timing ---- */

static double gbps(size_t bytes, double seconds)
{
    return seconds > 0 ? (double)bytes / seconds * 1e-9 : 0.0;
}

static kbit_status run_kbit(const section *sec, const bench_case *c, const bench_slot *s)
{
    if (c->kind == BENCH_COPY)
        return bench_copy(sec->device, sec->host_memory, sec->threads, s->dst, s->src,
                          bench_case_src_bytes(c, sec->n));
    return bench_case_run(c, sec->device, s, sec->n);
}

/* Time reps runs of kbit, each on the next slot; then sync. */
static kbit_status time_kbit(const section *sec, const bench_case *c, bench_rotation *rot,
                             double *samples)
{
    for (int r = 0; r < sec->reps; r++) {
        const bench_slot *s = bench_rotation_next(rot);
        double t0 = bench_now();
        kbit_status st = run_kbit(sec, c, s);
        if (st == KBIT_OK)
            st = kbit_sync(sec->device);
        if (st != KBIT_OK)
            return st;
        samples[r] = bench_now() - t0;
    }
    return KBIT_OK;
}

/* min ms, med ms, GB/s at both, and the ratios to the copy baseline. */
static void print_figures(const section *sec, size_t moved, const bench_stats *s)
{
    printf(" %8.3f %8.3f %9.2f %9.2f", s->min * 1e3, s->median * 1e3, gbps(moved, s->min),
           gbps(moved, s->median));
    if (sec->have_copy) {
        size_t copy_moved = 2 * (size_t)sec->n * sizeof(float);
        printf("   %4.2f / %4.2f", gbps(moved, s->min) / gbps(copy_moved, sec->copy.min),
               gbps(moved, s->median) / gbps(copy_moved, sec->copy.median));
    }
}

/* How many output elements of bitsandbytes differ from kbit's (bit patterns). */
static int64_t count_differences(const bench_case *c, const void *a, const void *b, int64_t n)
{
    size_t size = c->kind == BENCH_QUANT8 ? 1 : kbit_dtype_size(c->out_dtype);
    int64_t diff = 0;
    for (int64_t i = 0; i < n; i++)
        diff += memcmp((const char *)a + i * size, (const char *)b + i * size, size) != 0;
    return diff;
}

/* Time bitsandbytes' function for c on the same rotation, and compare its
 * output on one slot with kbit's. Prints one line. */
static void bnb_line(const section *sec, const bench_case *c, bench_rotation *rot,
                     double *samples, const bench_stats *ours)
{
    const char *label = "  bitsandbytes";
    if (c->bnb_symbol == NULL) {
        printf("%-18s n/a: %s\n", label, c->bnb_none);
        return;
    }
    void *fn = bench_bnb_find(sec->bnb, c->bnb_symbol);
    if (fn == NULL) {
        printf("%-18s n/a: %s is not exported by this library\n", label, c->bnb_symbol);
        return;
    }
    /* kbit's result on slot 0, to compare with bitsandbytes' below */
    const bench_slot *first = &rot->slots[0];
    size_t out_bytes = bench_case_dst_bytes(c, sec->n);
    void *kbit_out = malloc(out_bytes);
    if (kbit_out)
        memcpy(kbit_out, first->dst, out_bytes);

    int previous = bench_bnb_set_threads(sec->bnb, sec->threads);
    bench_bnb_run(c, fn, bench_rotation_next(rot), sec->size.rows, sec->size.cols); /* warm */
    for (int r = 0; r < sec->reps; r++) {
        const bench_slot *s = bench_rotation_next(rot);
        double t0 = bench_now();
        bench_bnb_run(c, fn, s, sec->size.rows, sec->size.cols);
        samples[r] = bench_now() - t0;
    }
    bench_bnb_run(c, fn, first, sec->size.rows, sec->size.cols);
    if (previous > 0)
        bench_bnb_set_threads(sec->bnb, previous);

    bench_stats b = bench_stats_of(samples, sec->reps);
    printf("%-18s %6s %5s", label, "", "");
    print_figures(sec, bench_case_moved_bytes(c, sec->n), &b);
    printf("   kbit/bnb speed %.2f (med)", ours->median > 0 ? b.median / ours->median : 0.0);
    if (kbit_out) {
        int64_t diff = count_differences(c, kbit_out, first->dst, sec->n);
        if (diff == 0)
            printf("; same output bits");
        else
            printf("; %lld of %lld %s differ", (long long)diff, (long long)sec->n,
                   c->kind == BENCH_QUANT8 ? "codes" : "outputs");
        free(kbit_out);
    }
    printf("\n");
}

static void run_case(section *sec, const bench_case *c)
{
    size_t moved = bench_case_moved_bytes(c, sec->n);
    int slots = bench_rotation_slots(moved, sec->cache);
    bench_rotation rot;
    char why[600];
    printf("%-18s %6.1f %5d", c->key, (double)moved / 1e6, slots);
    fflush(stdout);
    if (bench_rotation_alloc(&rot, sec->device, slots, bench_case_src_bytes(c, sec->n),
                             bench_case_absmax_bytes(c, sec->n), bench_case_dst_bytes(c, sec->n),
                             why, sizeof why) != KBIT_OK) {
        printf("  skipped: cannot allocate the rotation: %s\n", why);
        return;
    }
    double *samples = calloc((size_t)sec->reps, sizeof *samples);
    kbit_status st = samples ? KBIT_OK : KBIT_ENOMEM;
    /* Fill every slot, then one untimed pass over all of them: pages are
     * faulted in and the code is warm, but the data is cold again by the time
     * a slot comes back. */
    for (int i = 0; i < slots && st == KBIT_OK; i++)
        st = bench_case_prepare(c, sec->device, &rot.slots[i], sec->x, sec->n);
    for (int i = 0; i < slots && st == KBIT_OK; i++)
        st = run_kbit(sec, c, bench_rotation_next(&rot));
    if (st == KBIT_OK)
        st = kbit_sync(sec->device);
    if (st == KBIT_OK)
        st = time_kbit(sec, c, &rot, samples);
    if (st != KBIT_OK) {
        printf("  failed: %s\n", st == KBIT_ENOMEM ? "out of memory" : kbit_last_error());
        free(samples);
        bench_rotation_free(&rot);
        return;
    }

    bench_stats s = bench_stats_of(samples, sec->reps);
    if (c->kind == BENCH_COPY) {
        sec->copy = s;
        sec->have_copy = 1;
    }
    print_figures(sec, moved, &s);
    if (c->kind == BENCH_COPY)
        printf("\n");
    else
        printf("   >= %.2f\n", c->target);
    if (sec->bnb && c->kind != BENCH_COPY)
        bnb_line(sec, c, &rot, samples, &s);
    free(samples);
    bench_rotation_free(&rot);
}

static void print_table_head(const section *sec)
{
    if (sec->size.rows > 1)
        printf("\n== %lldx%lld (%lld elements), %d thread%s ==\n", (long long)sec->size.rows,
               (long long)sec->size.cols, (long long)sec->n, sec->threads,
               sec->threads == 1 ? "" : "s");
    else
        printf("\n== %lld elements, %d thread%s ==\n", (long long)sec->n, sec->threads,
               sec->threads == 1 ? "" : "s");
    printf("%-18s %6s %5s %8s %8s %9s %9s   %-11s   %s\n", "op", "MB/run", "slots", "min ms",
           "med ms", "GB/s@min", "GB/s@med", "x copy", "target");
    printf("%-18s %6s %5s %8s %8s %9s %9s   %-11s\n", "", "", "", "", "", "", "", "min / med");
}

/* ---- main ---- */

static void print_header(const options *o, const kbit_device_info *info, size_t cache,
                         const char *bnb_note)
{
    printf("kbit bench quant: %s:%d %s (variant %s), library %s\n", info->driver, info->index,
           info->name, info->variant, kbit_version());
    printf("cold caches: each run uses the next of a rotation of buffer slots; the other\n"
           "  slots total >= 2 x %zu MiB (the last-level cache)\n", cache >> 20);
    printf("%d timed runs per figure after one untimed pass over the slots; GB/s = (bytes\n"
           "  read + bytes written) / time, 1 GB = 1e9 bytes; x copy = GB/s over the GB/s of\n"
           "  copy.f32 (same rotation and threads)\n", o->reps);
    printf("blocksize: 64 for 4-bit, 4096 for 8-bit (bitsandbytes' defaults)\n");
    printf("bitsandbytes: %s\n", bnb_note);
}

int kbit_bench_quant(int argc, char **argv)
{
    options o;
    int rc = parse_options(argc, argv, &o);
    if (rc >= 0)
        return rc;

    kbit_device *device = NULL;
    kbit_device_info info;
    if (kbit_device_open(o.device, &device) != KBIT_OK ||
        kbit_device_get_info(device, &info) != KBIT_OK) {
        fprintf(stderr, "kbit bench quant: %s\n", kbit_last_error());
        kbit_device_close(device);
        return 1;
    }
    int host_memory = strcmp(info.driver, "cpu") == 0;
    size_t cache = bench_cache_bytes(o.cache_mib);

    bench_bnb bnb;
    char bnb_note[1200];
    const bench_bnb *use_bnb = NULL;
    int got = 0;
    if (o.no_bnb) {
        snprintf(bnb_note, sizeof bnb_note, "not compared (--no-bnb)");
    } else if ((got = bench_bnb_open(&bnb, o.bnb_path, bnb_note, sizeof bnb_note)) == 0) {
        snprintf(bnb_note, sizeof bnb_note,
                 "not compared (give --bnb PATH or KBIT_BNB_LIB; scripts/fetch-bnb gets "
                 "libbitsandbytes_cpu.so)");
    } else if (got > 0 && !host_memory) {
        snprintf(bnb_note, sizeof bnb_note,
                 "not compared (its CPU library runs on host memory: use --device cpu)");
    } else if (got > 0) {
        snprintf(bnb_note, sizeof bnb_note, "%s%s", bnb.path,
                 bnb.omp_set_num_threads ? "" : " (no OpenMP runtime found: threads not set)");
        use_bnb = &bnb;
    }
    print_header(&o, &info, cache, bnb_note);

    int failures = 0;
    for (int si = 0; si < o.size_count; si++) {
        section sec;
        memset(&sec, 0, sizeof sec);
        sec.device = device;
        sec.host_memory = host_memory;
        sec.reps = o.reps;
        sec.cache = cache;
        sec.size = o.sizes[si];
        sec.n = sec.size.rows * sec.size.cols;
        sec.bnb = use_bnb;

        void *x = NULL;
        float *host = malloc((size_t)sec.n * sizeof(float));
        if (host == NULL || kbit_malloc(device, (size_t)sec.n * sizeof(float), &x) != KBIT_OK) {
            printf("\nsize %lld: cannot allocate the input: %s\n", (long long)sec.n,
                   host ? kbit_last_error() : "out of host memory");
            free(host);
            failures++;
            continue;
        }
        fill_gaussian(host, sec.n);
        kbit_status st = kbit_copy(device, x, host, (size_t)sec.n * sizeof(float),
                                   KBIT_HOST_TO_DEVICE);
        free(host);
        sec.x = x;
        for (int ti = 0; ti < o.thread_count && st == KBIT_OK; ti++) {
            sec.threads = o.threads[ti];
            sec.have_copy = 0;
            if (kbit_device_set_threads(device, sec.threads) != KBIT_OK) {
                printf("\n%d threads: skipped: %s\n", sec.threads, kbit_last_error());
                continue;
            }
            print_table_head(&sec);
            for (int ci = 0; ci < bench_case_count; ci++)
                if (selected(&o, &bench_cases[ci]))
                    run_case(&sec, &bench_cases[ci]);
        }
        if (st != KBIT_OK) {
            printf("size %lld: %s\n", (long long)sec.n, kbit_last_error());
            failures++;
        }
        kbit_free(device, x);
    }
    if (got > 0)
        bench_bnb_close(&bnb);
    kbit_device_close(device);
    return failures ? 1 : 0;
}
