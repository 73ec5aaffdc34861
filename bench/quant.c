/* bench/quant.c - `kbit bench quant`: throughput of 4-bit and 8-bit
 * (de)quantization with cold caches, next to the copy bandwidth measured in
 * the same run and, when its library is at hand, next to bitsandbytes.
 *
 * Every timed run of an op follows a timed copy run (over its own cold
 * rotation), and the op's ratio to copy uses those interleaved copies: a
 * change in machine load during a measurement hits both sides alike. */
#include <config.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "bnb.h"
#include "cases.h"
#include "copy.h"
#include "options.h"
#include "rotation.h"
#include "timer.h"

/* What one (size, thread count) section shares. */
typedef struct section {
    kbit_device *device;
    int host_memory; /* the CPU driver: device pointers are host pointers */
    int threads;
    int reps;
    size_t cache;
    bench_size size;
    int64_t n;
    const float *x;           /* the input tensor, device memory */
    bench_rotation copy_rot;  /* the copy baseline's own cold rotation */
    const bench_bnb *bnb;     /* NULL: no comparison */
    double *samples, *copy_samples; /* reps each */
} section;

/* A timed subject: kbit's op, or bitsandbytes' function fn. */
typedef kbit_status (*subject_fn)(const section *sec, const bench_case *c, const bench_slot *s,
                                  void *fn);

static const bench_case *copy_case(void)
{
    return &bench_cases[0]; /* BENCH_COPY comes first in the table */
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

/* ---- subjects ---- */

static kbit_status run_copy(const section *sec, const bench_slot *s, int streaming)
{
    return bench_copy(sec->device, sec->host_memory, streaming, sec->threads, s->dst, s->src,
                      (size_t)sec->n * sizeof(float));
}

static volatile uint64_t read_sink; /* keeps bench_read's loads */

static kbit_status subject_kbit(const section *sec, const bench_case *c, const bench_slot *s,
                                void *unused)
{
    (void)unused;
    if (c->kind == BENCH_READ) {
        const void *part = s->src;
        size_t bytes = (size_t)sec->n * sizeof(float);
        read_sink += bench_read(sec->threads, &part, &bytes, 1);
        return KBIT_OK;
    }
    if (bench_case_is_copy(c))
        return run_copy(sec, s, c->kind == BENCH_COPY);
    return bench_case_run(c, sec->device, s, sec->n);
}

static kbit_status subject_bnb(const section *sec, const bench_case *c, const bench_slot *s,
                               void *fn)
{
    bench_bnb_run(c, fn, s, sec->size.rows, sec->size.cols);
    return KBIT_OK;
}

/* ---- timing ---- */

static double gbps(size_t bytes, double seconds)
{
    return seconds > 0 ? (double)bytes / seconds * 1e-9 : 0.0;
}

static kbit_status timed(const section *sec, const bench_case *c, const bench_slot *s,
                         subject_fn run, void *fn, double *seconds)
{
    double t0 = bench_now();
    kbit_status st = run(sec, c, s, fn);
    if (st == KBIT_OK)
        st = kbit_sync(sec->device);
    *seconds = bench_now() - t0;
    return st;
}

/* reps runs of the subject on the next slots of rot, each right after a copy
 * run on the next slot of the copy rotation (unless the subject is the copy). */
static kbit_status time_interleaved(section *sec, const bench_case *c, bench_rotation *rot,
                                    subject_fn run, void *fn)
{
    for (int r = 0; r < sec->reps; r++) {
        kbit_status st = KBIT_OK;
        if (c->kind != BENCH_COPY)
            st = timed(sec, copy_case(), bench_rotation_next(&sec->copy_rot), subject_kbit, NULL,
                       &sec->copy_samples[r]);
        if (st == KBIT_OK)
            st = timed(sec, c, bench_rotation_next(rot), run, fn, &sec->samples[r]);
        if (st != KBIT_OK)
            return st;
    }
    return KBIT_OK;
}

/* Fill every slot, then one untimed pass over all of them: pages are faulted
 * in and the code is warm, but a slot's data is cold again by the time it
 * comes back. */
static kbit_status warm_up(section *sec, const bench_case *c, bench_rotation *rot)
{
    kbit_status st = KBIT_OK;
    for (int i = 0; i < rot->count && st == KBIT_OK; i++)
        st = bench_case_prepare(c, sec->device, &rot->slots[i], sec->x, sec->n);
    for (int i = 0; i < rot->count && st == KBIT_OK; i++)
        st = subject_kbit(sec, c, bench_rotation_next(rot), NULL);
    return st == KBIT_OK ? kbit_sync(sec->device) : st;
}

/* min ms, med ms, GB/s at both, and for an op the ratios to the copies timed
 * beside it. */
static void print_figures(const section *sec, const bench_case *c)
{
    size_t moved = bench_case_moved_bytes(c, sec->n);
    bench_stats s = bench_stats_of(sec->samples, sec->reps);
    printf(" %8.3f %8.3f %9.2f %9.2f", s.min * 1e3, s.median * 1e3, gbps(moved, s.min),
           gbps(moved, s.median));
    if (c->kind == BENCH_COPY) {
        printf("   (baseline)");
        return;
    }
    size_t copy_moved = bench_case_moved_bytes(copy_case(), sec->n);
    bench_stats cp = bench_stats_of(sec->copy_samples, sec->reps);
    printf("   %4.2f / %4.2f", gbps(moved, s.min) / gbps(copy_moved, cp.min),
           gbps(moved, s.median) / gbps(copy_moved, cp.median));
}

/* ---- bitsandbytes ---- */

/* Elements whose bits differ, and how many of those are zeros of opposite
 * sign (FP4 code 8 decodes to -0.0 in kbit, doc/numerics.md 1.2). */
static void count_differences(const bench_case *c, const void *a, const void *b, int64_t n,
                              int64_t *diff, int64_t *zero_sign)
{
    size_t size = c->kind == BENCH_QUANT8 ? 1 : kbit_dtype_size(c->out_dtype);
    *diff = *zero_sign = 0;
    for (int64_t i = 0; i < n; i++) {
        const unsigned char *p = (const unsigned char *)a + i * size;
        const unsigned char *q = (const unsigned char *)b + i * size;
        if (memcmp(p, q, size) == 0)
            continue;
        (*diff)++;
        if (size > 1) {
            /* little-endian: the sign is bit 7 of the last byte */
            int zeros = 1;
            for (size_t k = 0; k < size; k++)
                zeros &= ((k + 1 == size ? p[k] & 0x7f : p[k]) == 0) &&
                         ((k + 1 == size ? q[k] & 0x7f : q[k]) == 0);
            *zero_sign += zeros;
        }
    }
}

/* Time bitsandbytes' function for c on the same rotation, and compare its
 * output on one slot with kbit's. Prints one line. */
static void bnb_line(section *sec, const bench_case *c, bench_rotation *rot,
                     const bench_stats *ours)
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
    /* kbit's result on slot 0 (every slot holds kbit's output now) */
    const bench_slot *first = &rot->slots[0];
    size_t out_bytes = bench_case_dst_bytes(c, sec->n);
    void *kbit_out = malloc(out_bytes);
    if (kbit_out)
        memcpy(kbit_out, first->dst, out_bytes);

    int previous = bench_bnb_set_threads(sec->bnb, sec->threads);
    subject_bnb(sec, c, bench_rotation_next(rot), fn); /* starts its thread pool */
    kbit_status st = time_interleaved(sec, c, rot, subject_bnb, fn);
    subject_bnb(sec, c, first, fn);
    if (previous > 0)
        bench_bnb_set_threads(sec->bnb, previous);
    if (st != KBIT_OK) {
        printf("%-18s failed: %s\n", label, kbit_last_error());
        free(kbit_out);
        return;
    }

    printf("%-18s %6s %5s", label, "", "");
    print_figures(sec, c);
    bench_stats b = bench_stats_of(sec->samples, sec->reps);
    printf("   kbit %.2fx as fast (min), %.2fx (med)", ours->min > 0 ? b.min / ours->min : 0.0,
           ours->median > 0 ? b.median / ours->median : 0.0);
    if (kbit_out) {
        int64_t diff, zero_sign;
        count_differences(c, kbit_out, first->dst, sec->n, &diff, &zero_sign);
        if (diff == 0)
            printf("; same output bits");
        else if (diff == zero_sign)
            printf("; %lld of %lld outputs differ, all only in the sign of zero",
                   (long long)diff, (long long)sec->n);
        else
            printf("; %lld of %lld %s differ", (long long)diff, (long long)sec->n,
                   c->kind == BENCH_QUANT8 ? "codes" : "outputs");
        free(kbit_out);
    }
    printf("\n");
}

/* ---- one op ---- */

static void run_case(section *sec, const bench_case *c)
{
    size_t moved = bench_case_moved_bytes(c, sec->n);
    printf("%-18s %6.1f", c->key, (double)moved / 1e6);
    fflush(stdout);

    bench_rotation own;
    bench_rotation *rot = &sec->copy_rot;
    if (c->kind != BENCH_COPY) {
        char why[600];
        int slots = bench_rotation_slots(moved, sec->cache);
        if (bench_rotation_alloc(&own, sec->device, slots, bench_case_src_bytes(c, sec->n),
                                 bench_case_absmax_bytes(c, sec->n),
                                 bench_case_dst_bytes(c, sec->n), why, sizeof why) != KBIT_OK) {
            printf("  skipped: cannot allocate the rotation: %s\n", why);
            return;
        }
        rot = &own;
    }
    printf(" %5d", rot->count);
    fflush(stdout);

    kbit_status st = c->kind == BENCH_COPY ? KBIT_OK : warm_up(sec, c, rot);
    if (st == KBIT_OK)
        st = time_interleaved(sec, c, rot, subject_kbit, NULL);
    if (st != KBIT_OK) {
        printf("  failed: %s\n", kbit_last_error());
    } else {
        print_figures(sec, c);
        if (c->target > 0)
            printf("   >= %.2f", c->target);
        printf("\n");
        bench_stats ours = bench_stats_of(sec->samples, sec->reps);
        if (sec->bnb && !bench_case_is_copy(c))
            bnb_line(sec, c, rot, &ours);
    }
    if (rot == &own)
        bench_rotation_free(&own);
}

/* ---- sections ---- */

static void print_section_head(const section *sec)
{
    const char *s = sec->threads == 1 ? "" : "s";
    if (sec->size.rows > 1)
        printf("\n== %lldx%lld (%lld elements), %d thread%s ==\n", (long long)sec->size.rows,
               (long long)sec->size.cols, (long long)sec->n, sec->threads, s);
    else
        printf("\n== %lld elements (flat), %d thread%s ==\n", (long long)sec->n, sec->threads, s);
    if (sec->bnb && sec->size.rows == 1 && sec->threads > 1)
        printf("(bitsandbytes' 4-bit dequantize splits rows over its threads: a flat tensor is\n"
               " one row, so it runs on one thread)\n");
    printf("%-18s %6s %5s %8s %8s %9s %9s   %-11s   %s\n", "op", "MB/run", "slots", "min ms",
           "med ms", "GB/s@min", "GB/s@med", "x copy", "target");
    printf("%-18s %6s %5s %8s %8s %9s %9s   %-11s\n", "", "", "", "", "", "", "", "min / med");
}

/* All the ops for one size and thread count. */
static void run_section(section *sec, const bench_options *o)
{
    char why[600];
    size_t copy_moved = bench_case_moved_bytes(copy_case(), sec->n);
    int slots = bench_rotation_slots(copy_moved, sec->cache);
    print_section_head(sec);
    if (bench_rotation_alloc(&sec->copy_rot, sec->device, slots,
                             bench_case_src_bytes(copy_case(), sec->n), 0,
                             bench_case_dst_bytes(copy_case(), sec->n), why,
                             sizeof why) != KBIT_OK) {
        printf("skipped: cannot allocate the copy rotation: %s\n", why);
        return;
    }
    if (warm_up(sec, copy_case(), &sec->copy_rot) != KBIT_OK) {
        printf("skipped: %s\n", kbit_last_error());
    } else {
        for (int i = 0; i < bench_case_count; i++) {
            const bench_case *c = &bench_cases[i];
            /* memcpy is worth showing only when the baseline is another copy */
            if (c->kind == BENCH_MEMCPY && !(sec->host_memory && bench_copy_streams()))
                continue;
            if (c->kind == BENCH_READ && !sec->host_memory)
                continue; /* bench_read reads host memory */
            if (bench_selected(o, c))
                run_case(sec, c);
        }
    }
    bench_rotation_free(&sec->copy_rot);
}

/* ---- main ---- */

static void print_header(const bench_options *o, const kbit_device_info *info, size_t cache,
                         const char *bnb_note)
{
    printf("kbit bench quant: %s:%d %s (variant %s), library %s\n", info->driver, info->index,
           info->name, info->variant, kbit_version());
    printf("cold caches: each run uses the next of a rotation of buffer slots; the other\n"
           "  slots total >= 2 x %zu MiB (the last-level cache)\n", cache >> 20);
    printf("%d timed runs per figure after one untimed pass over the slots; GB/s = (bytes\n"
           "  read + bytes written) / time, 1 GB = 1e9 bytes; x copy = GB/s / the GB/s of\n"
           "  copy.f32 runs timed between the op's runs (same threads, own cold rotation)\n",
           o->reps);
    if (strcmp(info->driver, "cpu") == 0 && bench_copy_streams())
        printf("copy.f32: copy with non-temporal stores (the machine's copy bandwidth);\n"
               "  memcpy.f32: the C library's memcpy, for information\n");
    if (strcmp(info->driver, "cpu") == 0)
        printf("read.f32: a read of the fp32 tensor alone (what quantize reads): the read\n"
               "  bandwidth, which bounds quantize; its x copy is the highest a quantize\n"
               "  that reads as fast as this could reach, about (4 + written) / 4 x that\n");
    else if (strcmp(info->driver, "cpu") == 0)
        printf("copy.f32: memcpy split over the threads\n");
    else
        printf("copy.f32: device-to-device kbit_copy\n");
    printf("blocksize: 64 for 4-bit, 4096 for 8-bit (bitsandbytes' defaults)\n");
    printf("bitsandbytes: %s\n", bnb_note);
}

/* Load bitsandbytes if asked for; the note says what happened. */
static const bench_bnb *open_bnb(const bench_options *o, int host_memory, bench_bnb *bnb,
                                 char *note, size_t note_len)
{
    if (o->no_bnb) {
        snprintf(note, note_len, "not compared (--no-bnb)");
        return NULL;
    }
    int got = bench_bnb_open(bnb, o->bnb_path, note, note_len);
    if (got == 0) {
        snprintf(note, note_len, "not compared (give --bnb PATH or KBIT_BNB_LIB; "
                                 "scripts/fetch-bnb gets libbitsandbytes_cpu.so)");
        return NULL;
    }
    if (got < 0)
        return NULL; /* the note says why */
    if (!host_memory) {
        snprintf(note, note_len,
                 "not compared (its CPU library works on host memory: use --device cpu)");
        bench_bnb_close(bnb);
        return NULL;
    }
    snprintf(note, note_len, "%s%s", bnb->path,
             bnb->omp_set_num_threads ? "" : " (no OpenMP runtime found: threads not set)");
    return bnb;
}

int kbit_bench_quant(int argc, char **argv)
{
    bench_options o;
    int rc = bench_parse_options(argc, argv, &o);
    if (rc >= 0)
        return rc;

    kbit_device *device = NULL;
    kbit_device_info info;
    if (kbit_device_open_for(o.device, KBIT_FAMILY_QUANT4 | KBIT_FAMILY_QUANT8, &device) != KBIT_OK ||
        kbit_device_get_info(device, &info) != KBIT_OK) {
        fprintf(stderr, "kbit bench quant: %s\n", kbit_last_error());
        kbit_device_close(device);
        return 1;
    }
    int host_memory = strcmp(info.driver, "cpu") == 0;
    if (!host_memory && !o.threads_given) {
        o.threads[0] = 1; /* a GPU device runs ops from one host thread */
        o.thread_count = 1;
    }
    size_t cache = bench_cache_bytes(o.cache_mib);
    bench_bnb bnb;
    char bnb_note[1200];
    const bench_bnb *use_bnb = open_bnb(&o, host_memory, &bnb, bnb_note, sizeof bnb_note);
    print_header(&o, &info, cache, bnb_note);

    int failures = 0;
    double *samples = calloc((size_t)o.reps * 2, sizeof *samples);
    for (int si = 0; si < o.size_count && samples; si++) {
        section sec;
        memset(&sec, 0, sizeof sec);
        sec.device = device;
        sec.host_memory = host_memory;
        sec.reps = o.reps;
        sec.cache = cache;
        sec.size = o.sizes[si];
        sec.n = sec.size.rows * sec.size.cols;
        sec.bnb = use_bnb;
        sec.samples = samples;
        sec.copy_samples = samples + o.reps;

        size_t bytes = (size_t)sec.n * sizeof(float);
        void *x = NULL;
        float *host = malloc(bytes);
        int host_ok = host != NULL;
        kbit_status st = host_ok ? kbit_malloc(device, bytes, &x) : KBIT_ENOMEM;
        if (st == KBIT_OK) {
            fill_gaussian(host, sec.n);
            st = kbit_copy(device, x, host, bytes, KBIT_HOST_TO_DEVICE);
        }
        free(host);
        sec.x = x;
        for (int ti = 0; ti < o.thread_count && st == KBIT_OK; ti++) {
            sec.threads = o.threads[ti];
            if (kbit_device_set_threads(device, sec.threads) != KBIT_OK)
                printf("\n%d threads: skipped: %s\n", sec.threads, kbit_last_error());
            else
                run_section(&sec, &o);
        }
        if (st != KBIT_OK) {
            printf("\n%lld elements: cannot set up the input: %s\n", (long long)sec.n,
                   host_ok ? kbit_last_error() : "out of host memory");
            failures++;
        }
        kbit_free(device, x);
    }
    if (samples == NULL) {
        fprintf(stderr, "kbit bench quant: out of host memory\n");
        failures++;
    }
    free(samples);
    if (use_bnb)
        bench_bnb_close(&bnb);
    kbit_device_close(device);
    return failures ? 1 : 0;
}
