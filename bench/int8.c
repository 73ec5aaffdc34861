/* bench/int8.c - `kbit bench int8`: LLM.int8() on the CPU with cold caches.
 *
 *  1. The clock, measured: a chain of dependent integer adds (one per cycle).
 *  2. The int8 peak of the variant in use, from its instruction rate:
 *     avx512vnni: 2 vpdpbusd zmm per cycle x 64 multiply-adds x 2 ops,
 *     avx512: 2 vpmaddwd zmm per cycle x 32 x 2, avx2: 2 vpmaddwd ymm x 16 x 2,
 *     times the measured clock and the threads; plus the vpdpbusd rate
 *     measured with independent accumulators, to check the assumption.
 *  3. int8 GEMM M=512, N=K=4096: GOPS (2*M*N*K / time) and the ratio to peak.
 *  4. The whole forward (fp16 activations, threshold 6, ~0.5 % outlier
 *     columns) at M = 1, 16, 512 for N x K = 4096 x 4096 and 11008 x 4096,
 *     beside an fp32 OpenBLAS sgemm of the same shape (when configure found
 *     it); at M = 1 the bandwidth on the int8 weight against the read
 *     bandwidth measured in the same run (bench/copy.c).
 * Every timed run uses the next of a rotation of buffer sets larger than
 * twice the last-level cache, so weights come from memory. Min and median
 * over the repeats, for 1 and 2 threads. */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef KBIT_HAVE_CBLAS
#include <cblas.h>
#endif
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "bench.h"
#include "copy.h"
#include "rotation.h"
#include "timer.h"

#define MAX_SLOTS 64

typedef struct cfg {
    kbit_device *dev;
    const char *variant;
    int threads[4];
    int nthreads;
    int reps;
    size_t cache;
    double ghz;
    double measured_peak; /* ops/s per core from the measured vpdpbusd rate, 0 if none */
} cfg;

/* ---- clock and peak ---- */

/* GHz from 8 dependent register-register adds per loop iteration (one
 * cycle each; add-immediate chains can be folded at rename on recent cores). */
static double measure_ghz(void)
{
#if defined(__x86_64__)
    double best = 0;
    for (int t = 0; t < 5; t++) {
        uint64_t x = 0, n = 20000000, one = 1;
        double t0 = bench_now();
        __asm__ volatile("1:\n\t"
                         "add %2, %0\n\tadd %2, %0\n\tadd %2, %0\n\tadd %2, %0\n\t"
                         "add %2, %0\n\tadd %2, %0\n\tadd %2, %0\n\tadd %2, %0\n\t"
                         "dec %1\n\tjnz 1b"
                         : "+r"(x), "+r"(n)
                         : "r"(one));
        double ghz = 8.0 * 20000000 / (bench_now() - t0) / 1e9;
        if (ghz > best)
            best = ghz;
    }
    return best;
#else
    return 0.0;
#endif
}

#if defined(__x86_64__) && defined(__GNUC__)
/* vpdpbusd zmm per second with 12 independent accumulators (named variables:
 * an array would live in memory). */
__attribute__((target("avx512f,avx512vnni"))) static double vnni_per_second(void)
{
#define ACC(i) __m512i c##i = _mm512_set1_epi32(i);
    ACC(0) ACC(1) ACC(2) ACC(3) ACC(4) ACC(5) ACC(6) ACC(7) ACC(8) ACC(9) ACC(10) ACC(11)
#undef ACC
    const __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(-5);
    const long iters = 20000000;
    double t0 = bench_now();
    for (long i = 0; i < iters; i++) {
#define STEP(i) c##i = _mm512_dpbusd_epi32(c##i, a, b);
        STEP(0) STEP(1) STEP(2) STEP(3) STEP(4) STEP(5)
        STEP(6) STEP(7) STEP(8) STEP(9) STEP(10) STEP(11)
#undef STEP
    }
    double sec = bench_now() - t0;
    __m512i t = _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(c0, c1), _mm512_add_epi32(c2, c3)),
                                 _mm512_add_epi32(_mm512_add_epi32(c4, c5), _mm512_add_epi32(c6, c7)));
    t = _mm512_add_epi32(t, _mm512_add_epi32(_mm512_add_epi32(c8, c9), _mm512_add_epi32(c10, c11)));
    volatile int sink = _mm512_reduce_add_epi32(t);
    (void)sink;
    return 12.0 * iters / sec;
}
#endif

/* int8 multiply-add ops per cycle per core of the variant's GEMM instruction. */
static int peak_ops_per_cycle(const char *variant, const char **formula)
{
    if (strcmp(variant, "avx512vnni") == 0) {
        *formula = "2 vpdpbusd zmm/cycle x 64 MAC x 2 ops = 256 ops/cycle/core";
        return 256;
    }
    if (strcmp(variant, "avx512") == 0) {
        *formula = "2 vpmaddwd zmm/cycle x 32 MAC x 2 ops = 128 ops/cycle/core";
        return 128;
    }
    if (strcmp(variant, "avx2") == 0) {
        *formula = "2 vpmaddwd ymm/cycle x 16 MAC x 2 ops = 64 ops/cycle/core";
        return 64;
    }
    *formula = "scalar: 1 multiply-add/cycle x 2 ops = 2 ops/cycle/core";
    return 2;
}

/* ---- data ---- */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Roughly normal: sum of four uniforms, centred, unit variance. */
static float gauss(uint64_t *s)
{
    double v = 0;
    for (int i = 0; i < 4; i++)
        v += (double)(splitmix(s) >> 11) * 0x1p-53;
    return (float)((v - 2.0) * 1.7320508);
}

static uint16_t to_f16(float f)
{
#if defined(__F16C__)
    return (uint16_t)_cvtss_sh(f, 0);
#else
    /* the values used here are normal fp16 numbers: truncating is fine for data */
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u, e = (x >> 23) & 0xff;
    if (e < 113)
        return (uint16_t)sign;
    return (uint16_t)(sign | ((e - 112) << 10) | ((x >> 13) & 0x3ff));
#endif
}

static void *xalloc(kbit_device *dev, size_t bytes)
{
    void *p = NULL;
    if (kbit_malloc(dev, bytes, &p) != KBIT_OK) {
        fprintf(stderr, "kbit bench int8: %s\n", kbit_last_error());
        exit(1);
    }
    return p;
}

/* count slots of the sizes given, slot 0 filled by the caller then copied. */
typedef struct slots {
    int count;
    void *buf[MAX_SLOTS][4];
    size_t bytes[4];
} slots;

static void slots_alloc(cfg *c, slots *s, const size_t bytes[4])
{
    size_t per = bytes[0] + bytes[1] + bytes[2] + bytes[3];
    s->count = bench_rotation_slots(per, c->cache);
    if (s->count > MAX_SLOTS)
        s->count = MAX_SLOTS;
    memcpy(s->bytes, bytes, sizeof s->bytes);
    for (int i = 0; i < s->count; i++)
        for (int j = 0; j < 4; j++)
            s->buf[i][j] = bytes[j] ? xalloc(c->dev, bytes[j]) : NULL;
}

static void slots_replicate(slots *s)
{
    for (int i = 1; i < s->count; i++)
        for (int j = 0; j < 4; j++)
            if (s->bytes[j])
                memcpy(s->buf[i][j], s->buf[0][j], s->bytes[j]);
}

static void slots_free(cfg *c, slots *s)
{
    for (int i = 0; i < s->count; i++)
        for (int j = 0; j < 4; j++)
            kbit_free(c->dev, s->buf[i][j]);
}

static void check(kbit_status st, const char *what)
{
    if (st != KBIT_OK) {
        fprintf(stderr, "kbit bench int8: %s: %s\n", what, kbit_last_error());
        exit(1);
    }
}

/* ---- 3. GEMM ---- */

static void bench_gemm(cfg *c, int ppc)
{
    const int64_t M = 512, N = 4096, K = 4096;
    size_t bytes[4] = { (size_t)(M * K), (size_t)(N * K), (size_t)(M * N) * 4, 0 };
    slots s;
    slots_alloc(c, &s, bytes);
    uint64_t seed = 1;
    for (size_t i = 0; i < bytes[0]; i++)
        ((int8_t *)s.buf[0][0])[i] = (int8_t)(splitmix(&seed) % 255 - 127);
    for (size_t i = 0; i < bytes[1]; i++)
        ((int8_t *)s.buf[0][1])[i] = (int8_t)(splitmix(&seed) % 255 - 127);
    slots_replicate(&s);
    printf("\nint8 GEMM M=%lld N=%lld K=%lld (int32 out), %d-slot rotation\n", (long long)M,
           (long long)N, (long long)K, s.count);
    double ops = 2.0 * M * N * K;
    double *t = malloc(sizeof(double) * (size_t)c->reps);
    int next = 0;
    for (int ti = 0; ti < c->nthreads; ti++) {
        check(kbit_device_set_threads(c->dev, c->threads[ti]), "set_threads");
        check(kbit_int8_matmul(c->dev, s.buf[0][0], s.buf[0][1], M, N, K, s.buf[0][2]), "warm-up");
        for (int r = 0; r < c->reps; r++) {
            int i = next++ % s.count;
            double t0 = bench_now();
            check(kbit_int8_matmul(c->dev, s.buf[i][0], s.buf[i][1], M, N, K, s.buf[i][2]),
                  "kbit_int8_matmul");
            t[r] = bench_now() - t0;
        }
        bench_stats st = bench_stats_of(t, c->reps);
        double peak = (double)ppc * c->ghz * 1e9 * c->threads[ti];
        printf("  t%d: min %8.2f ms  median %8.2f ms   %7.1f GOPS (median %7.1f)   "
               "%.2f of peak %.0f GOPS (median %.2f)",
               c->threads[ti], st.min * 1e3, st.median * 1e3, ops / st.min / 1e9,
               ops / st.median / 1e9, ops / st.min / peak, peak / 1e9, ops / st.median / peak);
        if (c->measured_peak > 0) {
            double mp = c->measured_peak * c->threads[ti];
            printf("; %.2f of the measured-rate peak %.0f GOPS (median %.2f)", ops / st.min / mp,
                   mp / 1e9, ops / st.median / mp);
        }
        printf("\n");
    }
    free(t);
    slots_free(c, &s);
}

/* ---- 4. forward ---- */

#ifdef KBIT_HAVE_CBLAS
static void blas_threads(int n)
{
#ifdef HAVE_OPENBLAS_SET_NUM_THREADS
    openblas_set_num_threads(n);
#else
    (void)n;
#endif
}
#endif

/* Read bandwidth (GB/s, min-time over reps) with a cold rotation of 64 MiB buffers. */
static double read_bandwidth(cfg *c, int threads)
{
    const size_t bytes = (size_t)64 << 20;
    size_t b[4] = { bytes, 0, 0, 0 };
    slots s;
    slots_alloc(c, &s, b);
    for (int i = 0; i < s.count; i++)
        memset(s.buf[i][0], i + 1, bytes);
    double best = 1e30;
    uint64_t sink = 0;
    for (int r = 0; r < c->reps + 2; r++) {
        double t0 = bench_now();
        const void *part = s.buf[r % s.count][0];
        sink += bench_read(threads, &part, &bytes, 1);
        double dt = bench_now() - t0;
        if (dt < best)
            best = dt;
    }
    slots_free(c, &s);
    if (sink == 42)
        printf(" ");
    return bytes / best / 1e9;
}

static void bench_forward_shape(cfg *c, int64_t N, int64_t K)
{
    static const int64_t Ms[3] = { 1, 16, 512 };
    printf("\nforward N=%lld K=%lld (fp16 X, threshold 6, ~0.5%% outlier columns)\n",
           (long long)N, (long long)K);
    double *t = malloc(sizeof(double) * (size_t)c->reps);
    double *tb = malloc(sizeof(double) * (size_t)c->reps);
    for (int mi = 0; mi < 3; mi++) {
        int64_t M = Ms[mi];
        /* kbit: X fp16, CB, SCB, Y */
        size_t kb[4] = { (size_t)(M * K) * 2, (size_t)(N * K), (size_t)N * 4, (size_t)(M * N) * 2 };
        slots s;
        slots_alloc(c, &s, kb);
        uint64_t seed = 7;
        uint16_t *x = s.buf[0][0];
        int64_t n_out = K / 200 > 0 ? K / 200 : 1; /* 0.5 % of the columns */
        for (int64_t i = 0; i < M * K; i++)
            x[i] = to_f16(gauss(&seed));
        for (int64_t j = 0; j < n_out; j++) { /* an outlier in every row of these columns */
            int64_t col = (int64_t)(splitmix(&seed) % (uint64_t)K);
            for (int64_t m = 0; m < M; m++)
                x[m * K + col] = to_f16(8.0f + (float)(m % 4));
        }
        float *w = malloc((size_t)(N * K) * 4);
        for (int64_t i = 0; i < N * K; i++)
            w[i] = gauss(&seed) * 0.02f;
        check(kbit_int8_quantize_weight(c->dev, KBIT_F32, w, N, K, s.buf[0][1], s.buf[0][2]),
              "quantize_weight");
        slots_replicate(&s);
#ifdef KBIT_HAVE_CBLAS
        size_t bb[4] = { (size_t)(M * K) * 4, (size_t)(N * K) * 4, (size_t)(M * N) * 4, 0 };
        slots sb;
        slots_alloc(c, &sb, bb);
        for (int64_t i = 0; i < M * K; i++)
            ((float *)sb.buf[0][0])[i] = gauss(&seed);
        memcpy(sb.buf[0][1], w, bb[1]);
        slots_replicate(&sb);
#endif
        free(w);
        for (int ti = 0; ti < c->nthreads; ti++) {
            int th = c->threads[ti];
            check(kbit_device_set_threads(c->dev, th), "set_threads");
            int next = 0;
            check(kbit_int8_linear_forward(c->dev, KBIT_F16, s.buf[0][0], M, K, s.buf[0][1],
                                           s.buf[0][2], N, 6.0f, NULL, s.buf[0][3]), "warm-up");
            for (int r = 0; r < c->reps; r++) {
                int i = next++ % s.count;
                double t0 = bench_now();
                check(kbit_int8_linear_forward(c->dev, KBIT_F16, s.buf[i][0], M, K, s.buf[i][1],
                                               s.buf[i][2], N, 6.0f, NULL, s.buf[i][3]),
                      "kbit_int8_linear_forward");
                t[r] = bench_now() - t0;
            }
            bench_stats st = bench_stats_of(t, c->reps);
            printf("  M=%-4lld t%d  kbit int8: min %9.3f ms  median %9.3f ms", (long long)M, th,
                   st.min * 1e3, st.median * 1e3);
#ifdef KBIT_HAVE_CBLAS
            blas_threads(th);
            next = 0;
            for (int r = 0; r < c->reps; r++) {
                int i = next++ % sb.count;
                double t0 = bench_now();
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)N, (int)K, 1.0f,
                            sb.buf[i][0], (int)K, sb.buf[i][1], (int)K, 0.0f, sb.buf[i][2], (int)N);
                tb[r] = bench_now() - t0;
            }
            bench_stats sb_st = bench_stats_of(tb, c->reps);
            printf("   | OpenBLAS sgemm fp32: min %9.3f ms  median %9.3f ms   kbit/OpenBLAS time "
                   "%.2f (median %.2f)", sb_st.min * 1e3, sb_st.median * 1e3,
                   st.min / sb_st.min, st.median / sb_st.median);
#else
            printf("   | OpenBLAS not available");
#endif
            printf("\n");
            if (M == 1) {
                double bw = read_bandwidth(c, th);
                double gbs = (double)(N * K) / st.min / 1e9;
                printf("         int8 weight %.1f GB/s (median %.1f) vs read bandwidth %.1f GB/s: "
                       "%.2f (median %.2f)\n", gbs, (double)(N * K) / st.median / 1e9, bw,
                       gbs / bw, (double)(N * K) / st.median / 1e9 / bw);
            }
        }
#ifdef KBIT_HAVE_CBLAS
        slots_free(c, &sb);
#endif
        slots_free(c, &s);
    }
    free(t);
    free(tb);
}

static int usage(FILE *to, int status)
{
    fputs("usage: kbit bench int8 [--threads LIST] [--reps N] [--cache-mib MIB] [--no-forward]\n"
          "  LLM.int8() GEMM and forward with cold caches (defaults: threads 1,2; reps 7)\n", to);
    return status;
}

int kbit_bench_int8(int argc, char **argv)
{
    cfg c = { 0 };
    c.threads[0] = 1, c.threads[1] = 2, c.nthreads = 2, c.reps = 7;
    size_t cache_mib = 0;
    int forward = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return usage(stdout, 0);
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            c.nthreads = 0;
            for (char *p = argv[++i]; *p && c.nthreads < 4;) {
                c.threads[c.nthreads++] = (int)strtol(p, &p, 10);
                if (*p == ',')
                    p++;
                else if (*p)
                    return usage(stderr, 2);
            }
        } else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            c.reps = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--cache-mib") == 0 && i + 1 < argc) {
            cache_mib = (size_t)atol(argv[++i]);
        } else if (strcmp(argv[i], "--no-forward") == 0) {
            forward = 0;
        } else {
            return usage(stderr, 2);
        }
    }
    if (c.reps < 1 || c.nthreads < 1)
        return usage(stderr, 2);
    c.cache = bench_cache_bytes(cache_mib);
    kbit_device_info info;
    if (kbit_device_open("cpu", &c.dev) != KBIT_OK || kbit_device_get_info(c.dev, &info) != KBIT_OK) {
        fprintf(stderr, "kbit bench int8: %s\n", kbit_last_error());
        return 1;
    }
    /* the CPU driver's variant reads "avx512vnni/generic": the ISA decides the peak */
    char isa[sizeof info.variant];
    snprintf(isa, sizeof isa, "%.*s", (int)strcspn(info.variant, "/"), info.variant);
    c.variant = info.variant;
    c.ghz = measure_ghz();
    const char *formula;
    int ppc = peak_ops_per_cycle(isa, &formula);
    printf("kbit bench int8 - %s, variant %s, cold caches (rotations over > 2 x %zu MiB), "
           "%d repeats\n", info.name, info.variant, c.cache >> 20, c.reps);
    printf("clock: %.3f GHz (measured: 8 dependent adds per loop iteration)\n", c.ghz);
    printf("int8 peak: %s; peak = threads x %d x clock = %.0f GOPS per core\n", formula, ppc,
           ppc * c.ghz);
    c.measured_peak = 0;
#if defined(__x86_64__) && defined(__GNUC__)
    if (strcmp(isa, "avx512vnni") == 0) {
        double rate = vnni_per_second();
        c.measured_peak = rate * 128.0;
        printf("measured vpdpbusd zmm rate: %.2f G/s = %.2f per cycle of the clock above "
               "(12 independent accumulators; the core may run AVX-512 at a lower clock) -> "
               "sustained peak %.0f GOPS per core\n", rate / 1e9, rate / (c.ghz * 1e9),
               c.measured_peak / 1e9);
    }
#endif
    bench_gemm(&c, ppc);
    if (forward) {
        bench_forward_shape(&c, 4096, 4096);
        bench_forward_shape(&c, 11008, 4096);
    }
    kbit_device_close(c.dev);
    return 0;
}
