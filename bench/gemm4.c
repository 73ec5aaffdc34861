/* bench/gemm4.c - `kbit bench gemm4`: the 4-bit inference matmul
 * (kbit_gemm_4bit, NF4, blocksize 64) with cold caches, against the read
 * bandwidth measured in the same run, with plain and nested absmax (and the
 * nested weight prepared), and side by side an fp32 GEMV over the
 * dequantized weight and, when its library is at hand, bitsandbytes' CPU
 * 4-bit GEMV.
 *
 * Bytes counted: the packed weight plus the absmax the op reads (fp32, or
 * u8 codes + fp32 absmax2 for nested). Every timed run of an op follows a
 * timed read of another cold slot's same bytes (bench_read), and the ratio
 * uses those interleaved reads. */
#include <config.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include "bench.h"
#include "bnb.h"
#include "copy.h"
#include "gemm4_peers.h"
#include "rotation.h"
#include "timer.h"

#define MAX_LIST 8
#define BLOCKSIZE 64

typedef struct options {
    const char *device;
    int threads[MAX_LIST], nthreads;
    int64_t shapes[MAX_LIST][2];
    int nshapes;
    int64_t ms[MAX_LIST];
    int nms;
    int reps;
    kbit_dtype dtype;
    size_t cache_mib;
    const char *bnb_path;
    int no_bnb;
    kbit_math_mode modes[2];
    int nmodes;
} options;

static void usage(FILE *to)
{
    fputs("usage: kbit bench gemm4 [OPTIONS]\n"
          "\n"
          "Times out[M,N] = A[M,K] x dequant(W[N,K])^T (kbit_gemm_4bit, NF4, blocksize 64)\n"
          "with cold caches: plain absmax, nested absmax, and the nested weight prepared\n"
          "(kbit_gemm_4bit_prepare). GB/s counts the packed weight and absmax bytes; the\n"
          "read bandwidth of the same bytes is measured between the runs. Beside it: an\n"
          "fp32 GEMV over the dequantized weight and bitsandbytes' 4-bit CPU GEMV.\n"
          "\n"
          "options:\n"
          "  --device SPEC    device (default cpu; the baselines need host memory)\n"
          "  --threads LIST   thread counts (default 1,2)\n"
          "  --shapes LIST    NxK weight shapes (default 4096x4096,11008x4096,4096x11008)\n"
          "  --m LIST         activation rows M (default 1,4,16)\n"
          "  --dtype T        activation/output dtype: f32 or bf16 (default bf16, as\n"
          "                   bitsandbytes' CPU kernel)\n"
          "  --reps N         timed runs per figure (default 9)\n"
          "  --cache-mib N    last-level cache size to defeat (default: detected, >= 260)\n"
          "  --bnb PATH       libbitsandbytes_cpu.so or its directory (default\n"
          "                   $KBIT_BNB_LIB; scripts/fetch-bnb gets it)\n"
          "  --no-bnb         do not compare with bitsandbytes\n"
          "  --mode LIST      math modes: exact, fast (default exact,fast; fast is\n"
          "                   KBIT_MATH_FAST, which runs exact where the device has no\n"
          "                   fast kernel for the case)\n",
          to);
}

static int parse_list(const char *s, int64_t *out, int max, int two)
{
    int n = 0;
    const char *p = s;
    while (*p && n < max) {
        char *end;
        errno = 0;
        long long a = strtoll(p, &end, 10), b = 0;
        if (errno || end == p || a < 1)
            return -1;
        if (two) {
            if (*end != 'x')
                return -1;
            p = end + 1;
            b = strtoll(p, &end, 10);
            if (errno || end == p || b < 1)
                return -1;
            out[2 * n + 1] = b;
            out[2 * n] = a;
        } else {
            out[n] = a;
        }
        n++;
        if (*end == ',')
            end++;
        else if (*end != '\0')
            return -1;
        p = end;
    }
    return *p ? -1 : n;
}

/* -1 to go on, else the exit status. */
static int parse_options(int argc, char **argv, options *o)
{
    *o = (options){ .device = "cpu", .threads = { 1, 2 }, .nthreads = 2,
                    .shapes = { { 4096, 4096 }, { 11008, 4096 }, { 4096, 11008 } }, .nshapes = 3,
                    .ms = { 1, 4, 16 }, .nms = 3, .reps = 9, .dtype = KBIT_BF16,
                    .modes = { KBIT_MATH_EXACT, KBIT_MATH_FAST }, .nmodes = 2 };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        int64_t tmp[MAX_LIST];
        int n = 0, ok = 1;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--no-bnb") == 0) {
            o->no_bnb = 1;
            continue;
        }
        i++; /* every other option takes a value */
        if (strcmp(a, "--device") == 0 && *v) {
            o->device = v;
        } else if (strcmp(a, "--bnb") == 0 && *v) {
            o->bnb_path = v;
        } else if (strcmp(a, "--threads") == 0 && (n = parse_list(v, tmp, MAX_LIST, 0)) > 0) {
            o->nthreads = n;
            for (int k = 0; k < n; k++)
                o->threads[k] = (int)(tmp[k] > 1024 ? 1024 : tmp[k]);
        } else if (strcmp(a, "--shapes") == 0 &&
                   (n = parse_list(v, &o->shapes[0][0], MAX_LIST, 1)) > 0) {
            o->nshapes = n;
        } else if (strcmp(a, "--m") == 0 && (n = parse_list(v, o->ms, MAX_LIST, 0)) > 0) {
            o->nms = n;
        } else if (strcmp(a, "--reps") == 0 && parse_list(v, tmp, 1, 0) == 1 && tmp[0] <= 1000) {
            o->reps = (int)tmp[0];
        } else if (strcmp(a, "--cache-mib") == 0 && parse_list(v, tmp, 1, 0) == 1) {
            o->cache_mib = (size_t)tmp[0];
        } else if (strcmp(a, "--dtype") == 0 && (strcmp(v, "f32") == 0 || strcmp(v, "bf16") == 0)) {
            o->dtype = strcmp(v, "f32") == 0 ? KBIT_F32 : KBIT_BF16;
        } else if (strcmp(a, "--mode") == 0 && (strcmp(v, "exact") == 0 ||
                                                strcmp(v, "fast") == 0 ||
                                                strcmp(v, "exact,fast") == 0)) {
            o->nmodes = strcmp(v, "exact,fast") == 0 ? 2 : 1;
            o->modes[0] = strcmp(v, "fast") == 0 ? KBIT_MATH_FAST : KBIT_MATH_EXACT;
        } else {
            ok = 0;
        }
        if (!ok) {
            fprintf(stderr, "kbit bench gemm4: bad option or value: %s %s\n", a, v);
            usage(stderr);
            return 2;
        }
    }
    return -1;
}

/* ---- data ---- */

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void fill_gaussian(float *x, int64_t n, uint64_t seed)
{
    for (int64_t i = 0; i < n; i++) {
        double u1 = ((double)(splitmix64(&seed) >> 11) + 1.0) * 0x1.0p-53;
        double u2 = (double)(splitmix64(&seed) >> 11) * 0x1.0p-53;
        x[i] = (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
    }
}

static uint16_t bf16_of(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

/* ---- the weights of one rotation ---- */

enum { PLAIN, NESTED, PREPARED, NVARIANTS };
static const char *variant_names[NVARIANTS] = { "plain absmax", "nested absmax",
                                                "nested, prepared" };

typedef struct wslot {
    uint8_t *packed;
    kbit_quant_state state;
    kbit_gemm4_weight *prepared;
    const void *parts[3]; /* what the op reads, for bench_read */
    size_t part_bytes[3];
    int nparts;
} wslot;

typedef struct wset {
    kbit_device *dev;
    int variant;
    wslot *slots;
    int count, next;
    size_t bytes; /* read per run */
} wset;

static void wset_free(wset *s)
{
    for (int i = 0; i < s->count; i++) {
        wslot *w = &s->slots[i];
        kbit_gemm_4bit_weight_destroy(w->prepared);
        kbit_free(s->dev, w->packed);
        kbit_free(s->dev, w->state.absmax);
        kbit_free(s->dev, w->state.absmax2);
    }
    free(s->slots);
    s->slots = NULL;
    s->count = 0;
}

static void *dup_dev(kbit_device *dev, const void *src, size_t bytes, kbit_status *st)
{
    void *p = NULL;
    if (*st == KBIT_OK && (*st = kbit_malloc(dev, bytes, &p)) == KBIT_OK && bytes)
        *st = kbit_copy(dev, p, src, bytes, KBIT_DEVICE_TO_DEVICE);
    return p;
}

/* count copies of a master weight (packed + state) as the variant reads it. */
static kbit_status wset_alloc(wset *s, kbit_device *dev, int variant, const uint8_t *packed,
                              const kbit_quant_state *master, size_t cache)
{
    size_t pb = (size_t)kbit_packed_4bit_bytes(master->numel);
    size_t ab = (size_t)master->nblocks * (master->nested ? 1 : 4);
    size_t a2b = (size_t)master->nblocks2 * 4;
    *s = (wset){ .dev = dev, .variant = variant };
    s->bytes = pb + (variant == PREPARED ? (size_t)master->nblocks * 4 : ab + a2b);
    int count = bench_rotation_slots(s->bytes, cache);
    s->slots = calloc((size_t)count, sizeof *s->slots);
    if (s->slots == NULL)
        return KBIT_ENOMEM;
    kbit_status st = KBIT_OK;
    for (int i = 0; i < count && st == KBIT_OK; i++, s->count++) {
        wslot *w = &s->slots[i];
        w->state = *master;
        w->state.absmax = NULL;
        w->state.absmax2 = NULL;
        w->state.owns_buffers = 0;
        w->packed = dup_dev(dev, packed, pb, &st);
        w->state.absmax = dup_dev(dev, master->absmax, ab, &st);
        if (master->nested)
            w->state.absmax2 = dup_dev(dev, master->absmax2, a2b, &st);
        if (st == KBIT_OK && variant == PREPARED) {
            st = kbit_gemm_4bit_prepare(dev, w->packed, &w->state, &w->prepared);
            /* the prepared copy is what is read: drop the originals */
            kbit_free(dev, w->packed);
            kbit_free(dev, w->state.absmax);
            kbit_free(dev, w->state.absmax2);
            w->packed = NULL;
            w->state.absmax = NULL;
            w->state.absmax2 = NULL;
        }
    }
    return st;
}

/* The bytes a slot's op reads, for the read baseline (host memory). Prepared
 * weights hide their buffers: read the original layout of the same size. */
static void wset_parts(wset *s, const wset *plain_twin)
{
    for (int i = 0; i < s->count; i++) {
        wslot *w = &s->slots[i];
        if (s->variant == PREPARED) {
            const wslot *t = &plain_twin->slots[i % plain_twin->count];
            *w = (wslot){ .prepared = w->prepared, .state = w->state };
            w->parts[0] = t->packed;
            w->part_bytes[0] = (size_t)kbit_packed_4bit_bytes(t->state.numel);
            w->parts[1] = t->state.absmax;
            w->part_bytes[1] = (size_t)t->state.nblocks * 4;
            w->nparts = 2;
            continue;
        }
        w->parts[0] = w->packed;
        w->part_bytes[0] = (size_t)kbit_packed_4bit_bytes(w->state.numel);
        w->parts[1] = w->state.absmax;
        w->part_bytes[1] = (size_t)w->state.nblocks * (w->state.nested ? 1 : 4);
        w->parts[2] = w->state.absmax2;
        w->part_bytes[2] = (size_t)w->state.nblocks2 * 4;
        w->nparts = w->state.nested ? 3 : 2;
    }
}

/* ---- timing ---- */

typedef struct run_ctx {
    kbit_device *dev;
    int threads;
    int64_t N, K;
    double dot32_rate; /* fp32 operations/s of one core (dot32_rate()), 0: none */
    kbit_dtype dtype;
    const void *A; /* [M_max, K] */
    void *out;     /* [M_max, N] */
} run_ctx;

static double dot32_ops_per_core; /* main measures it once: dot32_rate() */

/* The arithmetic floor of an exact (dot32) 4-bit matmul: every weight
 * dequantized once (w = DEC[q] * absmax: one multiplication), then for each
 * of the M activation rows one product and one sum per weight, separate
 * roundings (no FMA): N K (2M + 1) fp32 operations, at the measured rate of
 * the variant's vector multiplications and additions on every thread. */
static double dot32_floor(const run_ctx *r, int64_t M)
{
    if (r->dot32_rate <= 0)
        return 0;
    return (double)r->N * (double)r->K * (2.0 * (double)M + 1.0) / (r->dot32_rate * r->threads);
}

#if defined(__x86_64__) && defined(__GNUC__)
/* fp32 multiplications and additions per second on one core, the shape of
 * dot32's inner step: 12 independent accumulators, each acc = acc + x * y_i
 * with its own roundings (the bench is built with -ffp-contract=off), x
 * passed through an empty asm every iteration so that no product is hoisted
 * out of the loop; 16 lanes (AVX-512) or 8 (AVX2). Named accumulators: an
 * array would live in memory. */
#define DOT32_CHAINS(V, SET1, MUL, ADD, LANES)                                                  \
    V c0 = SET1(0.0f), c1 = SET1(1.0f), c2 = SET1(2.0f), c3 = SET1(3.0f), c4 = SET1(4.0f),      \
      c5 = SET1(5.0f), c6 = SET1(6.0f), c7 = SET1(7.0f), c8 = SET1(8.0f), c9 = SET1(9.0f),      \
      c10 = SET1(10.0f), c11 = SET1(11.0f);                                                     \
    V y[12];                                                                                    \
    for (int i = 0; i < 12; i++)                                                                \
        y[i] = SET1(1e-3f * (float)(i + 1));                                                    \
    V x = SET1(0.999f);                                                                         \
    const long iters = 20000000;                                                                \
    double t0 = bench_now();                                                                    \
    for (long i = 0; i < iters; i++) {                                                          \
        __asm__ volatile("" : "+x"(x));                                                         \
        c0 = ADD(c0, MUL(x, y[0])), c1 = ADD(c1, MUL(x, y[1])), c2 = ADD(c2, MUL(x, y[2]));     \
        c3 = ADD(c3, MUL(x, y[3])), c4 = ADD(c4, MUL(x, y[4])), c5 = ADD(c5, MUL(x, y[5]));     \
        c6 = ADD(c6, MUL(x, y[6])), c7 = ADD(c7, MUL(x, y[7])), c8 = ADD(c8, MUL(x, y[8]));     \
        c9 = ADD(c9, MUL(x, y[9])), c10 = ADD(c10, MUL(x, y[10])), c11 = ADD(c11, MUL(x, y[11])); \
    }                                                                                           \
    double sec = bench_now() - t0;                                                              \
    V t = ADD(ADD(ADD(c0, c1), ADD(c2, c3)), ADD(ADD(c4, c5), ADD(c6, c7)));                    \
    t = ADD(t, ADD(ADD(c8, c9), ADD(c10, c11)));                                                \
    float lanes[LANES];                                                                         \
    memcpy(lanes, &t, sizeof t);                                                                \
    volatile float sink = lanes[0];                                                             \
    (void)sink;                                                                                 \
    return 12.0 * 2.0 * LANES * iters / sec

__attribute__((target("avx512f"))) static double dot32_rate_avx512(void)
{
    DOT32_CHAINS(__m512, _mm512_set1_ps, _mm512_mul_ps, _mm512_add_ps, 16);
}

__attribute__((target("avx2"))) static double dot32_rate_avx2(void)
{
    DOT32_CHAINS(__m256, _mm256_set1_ps, _mm256_mul_ps, _mm256_add_ps, 8);
}
#undef DOT32_CHAINS
#endif

/* The rate for the CPU variant in use ("avx512vnni/zen4+..."), 0 when none
 * is measured here (scalar, other devices, other architectures). */
static double dot32_rate(const char *variant, const char **what)
{
    *what = NULL;
#if defined(__x86_64__) && defined(__GNUC__)
    if (strncmp(variant, "avx512", 6) == 0 && __builtin_cpu_supports("avx512f")) {
        *what = "vmulps + vaddps zmm";
        return dot32_rate_avx512();
    }
    if (strncmp(variant, "avx2", 4) == 0 && __builtin_cpu_supports("avx2")) {
        *what = "vmulps + vaddps ymm";
        return dot32_rate_avx2();
    }
#else
    (void)variant;
#endif
    return 0;
}

static kbit_status run_gemm(const run_ctx *r, const wslot *w, int64_t M)
{
    if (w->prepared)
        return kbit_gemm_4bit_prepared(r->dev, r->A, r->dtype, M, w->prepared, NULL, r->out);
    return kbit_gemm_4bit(r->dev, r->A, r->dtype, M, w->packed, &w->state, NULL, r->out);
}

static volatile uint64_t read_sink;

static double time_read(const run_ctx *r, const wslot *w)
{
    double t0 = bench_now();
    read_sink += bench_read(r->threads, w->parts, w->part_bytes, w->nparts);
    return bench_now() - t0;
}

static double gbps(size_t bytes, double s)
{
    return s > 0 ? (double)bytes / s * 1e-9 : 0.0;
}

/* reps x (read of the next slot, op on the next slot); the stats of both. */
static kbit_status time_op(const run_ctx *r, wset *s, int64_t M, int reps, double *op_t,
                           double *read_t, bench_stats *op, bench_stats *rd)
{
    for (int i = 0; i < reps; i++) {
        read_t[i] = time_read(r, &s->slots[s->next]);
        s->next = (s->next + 1) % s->count;
        double t0 = bench_now();
        kbit_status st = run_gemm(r, &s->slots[s->next], M);
        op_t[i] = bench_now() - t0;
        s->next = (s->next + 1) % s->count;
        if (st != KBIT_OK)
            return st;
    }
    *op = bench_stats_of(op_t, reps);
    *rd = bench_stats_of(read_t, reps);
    return KBIT_OK;
}

/* ---- one shape ---- */

typedef struct shape_results {
    /* [mode][threads][M][variant] min and median s (0: not measured) */
    bench_stats kbit[2][MAX_LIST][MAX_LIST][NVARIANTS];
    double read[MAX_LIST];                      /* median read of the plain bytes */
} shape_results;

/* "a / b": the peer's time over kbit's, min over min and median over
 * median (a noisy peer's two can differ by 2x), or "- / -" when kbit's was
 * not measured. */
static void print_speedups(bench_stats peer, bench_stats kbit)
{
    if (kbit.min > 0 && kbit.median > 0)
        printf("%.2f / %.2f", peer.min / kbit.min, peer.median / kbit.median);
    else
        printf("- / -");
}

static void print_row_head(void)
{
    printf("  %-22s %3s %3s %8s %8s %8s %8s  %-11s  %s\n", "variant", "thr", "M", "min ms",
           "med ms", "GB/s@min", "GB/s@med", "x read", "t(M)/t(1) med");
}

static int run_variant(const options *o, run_ctx *r, wset *s, int mode, int ti,
                       shape_results *res, double *op_t, double *read_t)
{
    char label[40];
    snprintf(label, sizeof label, "%s%s", variant_names[s->variant],
             mode == KBIT_MATH_FAST ? ", fast" : "");
    /* one untimed pass: pages faulted in, code warm, the slots cold again */
    for (int i = 0; i < s->count; i++)
        if (run_gemm(r, &s->slots[i], 1) != KBIT_OK)
            return 0;
    double t1 = 0.0;
    for (int mi = 0; mi < o->nms; mi++) {
        bench_stats op, rd;
        if (time_op(r, s, o->ms[mi], o->reps, op_t, read_t, &op, &rd) != KBIT_OK) {
            printf("  %-22s failed: %s\n", label, kbit_last_error());
            return 0;
        }
        if (o->ms[mi] == 1)
            t1 = op.median;
        res->kbit[mode][ti][mi][s->variant] = op;
        if (s->variant == PLAIN && mi == 0 && mode == KBIT_MATH_EXACT)
            res->read[ti] = rd.median;
        printf("  %-22s %3d %3lld %8.3f %8.3f %8.2f %8.2f  %4.2f / %4.2f", label,
               r->threads, (long long)o->ms[mi], op.min * 1e3, op.median * 1e3,
               gbps(s->bytes, op.min), gbps(s->bytes, op.median),
               gbps(s->bytes, op.min) / gbps(s->bytes, rd.min),
               gbps(s->bytes, op.median) / gbps(s->bytes, rd.median));
        if (t1 > 0)
            printf("  %5.2f", op.median / t1);
        printf("   (read %.2f / %.2f GB/s)", gbps(s->bytes, rd.min), gbps(s->bytes, rd.median));
        double floor = dot32_floor(r, o->ms[mi]);
        if (floor > 0 && o->ms[mi] > 1 && mode == KBIT_MATH_EXACT)
            printf("  dot32 floor %.3f ms: x %.2f / %.2f", floor * 1e3, op.min / floor,
                   op.median / floor);
        printf("\n");
    }
    return 1;
}

/* The fp32 GEMM over the dequantized weight, rotated over cold copies. */
static void fp32_peer(const options *o, kbit_device *dev, const uint8_t *packed,
                      const kbit_quant_state *plain, size_t cache, const shape_results *res)
{
    int64_t N = plain->shape[0], K = plain->shape[1];
    size_t wb = (size_t)(N * K) * 4;
    int count = bench_rotation_slots(wb, cache);
    float **w = calloc((size_t)count, sizeof *w);
    int64_t mmax = 1;
    for (int i = 0; i < o->nms; i++)
        mmax = o->ms[i] > mmax ? o->ms[i] : mmax;
    float *A32 = malloc((size_t)(mmax * K) * 4), *out = malloc((size_t)(mmax * N) * 4);
    double *t = malloc((size_t)o->reps * sizeof *t);
    int ok = w && A32 && out && t;
    for (int i = 0; i < count && ok; i++) {
        ok = kbit_malloc(dev, wb, (void **)&w[i]) == KBIT_OK;
        if (ok && i == 0)
            ok = kbit_dequantize_4bit_state(dev, packed, plain, KBIT_F32, w[0]) == KBIT_OK;
        else if (ok)
            memcpy(w[i], w[0], wb);
    }
    if (!ok) {
        printf("  fp32 GEMV: skipped (out of memory for %d x %.0f MB)\n", count, wb / 1e6);
    } else {
        fill_gaussian(A32, mmax * K, 7);
        printf("\n  fp32 GEMV/GEMM over the dequantized fp32 weight (%.1f MB per run, %d slots):\n",
               wb / 1e6, count);
        printf("  %3s %3s %8s %8s %8s  %s\n", "thr", "M", "min ms", "med ms", "GB/s@med",
               "kbit (plain) is x as fast: min / med");
        int next = 0;
        for (int ti = 0; ti < o->nthreads; ti++) {
            for (int i = 0; i < count; i++)
                bench_fp32_gemm(o->threads[ti], A32, 1, w[i], N, K, out);
            for (int mi = 0; mi < o->nms; mi++) {
                for (int r = 0; r < o->reps; r++) {
                    double t0 = bench_now();
                    bench_fp32_gemm(o->threads[ti], A32, o->ms[mi], w[next], N, K, out);
                    t[r] = bench_now() - t0;
                    next = (next + 1) % count;
                }
                bench_stats s = bench_stats_of(t, o->reps);
                printf("  %3d %3lld %8.3f %8.3f %8.2f  ", o->threads[ti], (long long)o->ms[mi],
                       s.min * 1e3, s.median * 1e3, gbps(wb, s.median));
                print_speedups(s, res->kbit[KBIT_MATH_EXACT][ti][mi][PLAIN]);
                printf("\n");
            }
        }
    }
    for (int i = 0; w && i < count; i++)
        kbit_free(dev, w[i]);
    free(w);
    free(A32);
    free(out);
    free(t);
}

/* bitsandbytes' 4-bit GEMV on the same weight in its layout, bf16 in and out. */
static void bnb_peer(const options *o, const bench_bnb *bnb, const uint8_t *packed,
                     const kbit_quant_state *plain, size_t cache, const shape_results *res,
                     const float *kbit_out_m1)
{
    int64_t N = plain->shape[0], K = plain->shape[1];
    bench_bnb_gemv_fn fn = (bench_bnb_gemv_fn)bench_bnb_find(bnb, BENCH_BNB_GEMV_NF4);
    if (fn == NULL) {
        printf("\n  bitsandbytes: n/a: %s is not exported by %s\n", BENCH_BNB_GEMV_NF4, bnb->path);
        return;
    }
    if (!bench_bnb_layout_fits(N, K, BLOCKSIZE)) {
        printf("\n  bitsandbytes: n/a: its layout needs N %% 32 == 0 and K %% 64 == 0\n");
        return;
    }
    size_t wb = (size_t)(N * K / 2), ab = (size_t)(N * K / BLOCKSIZE) * 2;
    int count = bench_rotation_slots(wb + ab, cache);
    uint8_t **w = calloc((size_t)count, sizeof *w);
    uint16_t **a = calloc((size_t)count, sizeof *a);
    int64_t mmax = 1;
    for (int i = 0; i < o->nms; i++)
        mmax = o->ms[i] > mmax ? o->ms[i] : mmax;
    uint16_t *x = malloc((size_t)(mmax * K) * 2), *out = malloc((size_t)(mmax * N) * 2);
    float *xf = malloc((size_t)(mmax * K) * 4);
    double *t = malloc((size_t)o->reps * sizeof *t);
    int ok = w && a && x && out && xf && t;
    for (int i = 0; i < count && ok; i++) {
        w[i] = malloc(wb);
        a[i] = malloc(ab);
        ok = w[i] && a[i];
        if (ok && i == 0)
            bench_bnb_repack(packed, plain->absmax, N, K, BLOCKSIZE, w[0], a[0]);
        else if (ok) {
            memcpy(w[i], w[0], wb);
            memcpy(a[i], a[0], ab);
        }
    }
    if (!ok) {
        printf("\n  bitsandbytes: skipped (out of memory)\n");
    } else {
        fill_gaussian(xf, mmax * K, 11);
        for (int64_t i = 0; i < mmax * K; i++)
            x[i] = bf16_of(xf[i]);
        printf("\n  bitsandbytes %s (its repacked layout, bf16 absmax and activations; %.1f MB "
               "per run, %d slots):\n", BENCH_BNB_GEMV_NF4, (wb + ab) / 1e6, count);
        /* its output for M = 1 against kbit's (bf16 activations both) */
        fn(1, N, K, x, w[0], a[0], out, BLOCKSIZE, K, N);
        if (kbit_out_m1 != NULL) {
            double worst = 0.0, scale = 0.0;
            for (int64_t n = 0; n < N; n++) {
                uint32_t b = (uint32_t)out[n] << 16;
                float f;
                memcpy(&f, &b, 4);
                worst = fmax(worst, fabs((double)f - kbit_out_m1[n]));
                scale = fmax(scale, fabs((double)kbit_out_m1[n]));
            }
            printf("  (its M=1 output vs kbit's: max |difference| = %.3g of max |out| %.3g)\n",
                   worst, scale);
        }
        printf("  %3s %3s %8s %8s %8s %9s  %s\n", "thr", "M", "min ms", "med ms", "GB/s@med",
               "x read", "kbit (plain) is x as fast, min / med: exact, fast");
        int next = 0;
        for (int ti = 0; ti < o->nthreads; ti++) {
            int previous = bench_bnb_set_threads(bnb, o->threads[ti]);
            for (int i = 0; i < count; i++)
                fn(1, N, K, x, w[i], a[i], out, BLOCKSIZE, K, N);
            for (int mi = 0; mi < o->nms; mi++) {
                for (int r = 0; r < o->reps; r++) {
                    double t0 = bench_now();
                    fn(o->ms[mi], N, K, x, w[next], a[next], out, BLOCKSIZE, K, N);
                    t[r] = bench_now() - t0;
                    next = (next + 1) % count;
                }
                bench_stats s = bench_stats_of(t, o->reps);
                double rd = res->read[ti] > 0 ? gbps(wb + ab, s.median) /
                                                    gbps(wb + ab, res->read[ti]) : 0.0;
                printf("  %3d %3lld %8.3f %8.3f %8.2f %9.2f  ", o->threads[ti],
                       (long long)o->ms[mi], s.min * 1e3, s.median * 1e3, gbps(wb + ab, s.median),
                       rd);
                print_speedups(s, res->kbit[KBIT_MATH_EXACT][ti][mi][PLAIN]);
                printf(", ");
                print_speedups(s, res->kbit[KBIT_MATH_FAST][ti][mi][PLAIN]);
                printf("\n");
            }
            if (previous > 0)
                bench_bnb_set_threads(bnb, previous);
        }
    }
    for (int i = 0; i < count && w && a; i++) {
        free(w[i]);
        free(a[i]);
    }
    free(w);
    free(a);
    free(x);
    free(xf);
    free(out);
    free(t);
}

/* kbit's M = 1 output for the comparison with bitsandbytes (bf16 activations). */
static float *kbit_reference_m1(kbit_device *dev, const uint8_t *packed,
                                const kbit_quant_state *plain)
{
    int64_t N = plain->shape[0], K = plain->shape[1];
    float *xf = malloc((size_t)K * 4), *res = malloc((size_t)N * 4);
    uint16_t *x = malloc((size_t)K * 2), *out = malloc((size_t)N * 2);
    if (!xf || !res || !x || !out) {
        free(xf), free(res), free(x), free(out);
        return NULL;
    }
    fill_gaussian(xf, K, 11);
    for (int64_t i = 0; i < K; i++)
        x[i] = bf16_of(xf[i]);
    if (kbit_gemm_4bit(dev, x, KBIT_BF16, 1, packed, plain, NULL, out) != KBIT_OK) {
        free(res);
        res = NULL;
    }
    for (int64_t n = 0; res && n < N; n++) {
        uint32_t b = (uint32_t)out[n] << 16;
        memcpy(&res[n], &b, 4);
    }
    free(xf), free(x), free(out);
    return res;
}

static int run_shape(const options *o, kbit_device *dev, int64_t N, int64_t K, size_t cache,
                     const bench_bnb *bnb)
{
    int64_t shape[2] = { N, K };
    kbit_quant_state qs[2];
    uint8_t *packed[2] = { NULL, NULL };
    float *x = malloc((size_t)(N * K) * 4);
    int ok = x != NULL;
    for (int v = 0; v < 2 && ok; v++) {
        ok = kbit_quant_state_init(&qs[v], KBIT_NF4, KBIT_F32, 2, shape, BLOCKSIZE, v) == KBIT_OK &&
             kbit_quant_state_alloc(dev, &qs[v]) == KBIT_OK &&
             kbit_malloc(dev, (size_t)kbit_packed_4bit_bytes(N * K), (void **)&packed[v]) == KBIT_OK;
        if (ok && v == 0)
            fill_gaussian(x, N * K, 3);
        ok = ok && kbit_quantize_4bit_state(dev, x, packed[v], &qs[v]) == KBIT_OK;
    }
    free(x);
    int64_t mmax = 1;
    for (int i = 0; i < o->nms; i++)
        mmax = o->ms[i] > mmax ? o->ms[i] : mmax;
    size_t es = kbit_dtype_size(o->dtype);
    void *A = malloc((size_t)(mmax * K) * es), *out = malloc((size_t)(mmax * N) * es);
    float *Af = malloc((size_t)(mmax * K) * 4);
    double *op_t = malloc((size_t)o->reps * sizeof(double)), *read_t = malloc((size_t)o->reps * 8);
    shape_results *res = calloc(1, sizeof *res);
    ok = ok && A && out && Af && op_t && read_t && res;
    printf("\n== NF4 blocksize %d, weight %lldx%lld (N x K), activations %s ==\n", BLOCKSIZE,
           (long long)N, (long long)K, kbit_dtype_name(o->dtype));
    if (!ok) {
        printf("skipped: %s\n", kbit_last_error()[0] ? kbit_last_error() : "out of memory");
    } else {
        fill_gaussian(Af, mmax * K, 5);
        for (int64_t i = 0; i < mmax * K; i++) {
            if (o->dtype == KBIT_F32)
                ((float *)A)[i] = Af[i];
            else
                ((uint16_t *)A)[i] = bf16_of(Af[i]);
        }
        print_row_head();
        wset sets[NVARIANTS];
        memset(sets, 0, sizeof sets);
        for (int v = 0; v < NVARIANTS && ok; v++) {
            const kbit_quant_state *m = &qs[v == PLAIN ? 0 : 1];
            if (wset_alloc(&sets[v], dev, v, packed[v == PLAIN ? 0 : 1], m, cache) != KBIT_OK) {
                printf("  %-22s skipped: cannot allocate %d slots: %s\n", variant_names[v],
                       sets[v].count, kbit_last_error());
                wset_free(&sets[v]);
                continue;
            }
            wset_parts(&sets[v], &sets[PLAIN]);
            printf("  -- %s: %.2f MB read per run, %d slots\n", variant_names[v],
                   sets[v].bytes / 1e6, sets[v].count);
            for (int mo = 0; mo < o->nmodes; mo++)
                for (int ti = 0; ti < o->nthreads; ti++) {
                    run_ctx r = { dev, o->threads[ti], N, K, dot32_ops_per_core, o->dtype, A, out };
                    if (kbit_device_set_threads(dev, r.threads) != KBIT_OK ||
                        kbit_device_set_math_mode(dev, o->modes[mo]) != KBIT_OK) {
                        printf("  %d threads: %s\n", r.threads, kbit_last_error());
                        continue;
                    }
                    run_variant(o, &r, &sets[v], (int)o->modes[mo], ti, res, op_t, read_t);
                }
            /* the plain set is the read baseline of the prepared one */
            if (v != PLAIN)
                wset_free(&sets[v]);
        }
        wset_free(&sets[PLAIN]);
        kbit_device_set_math_mode(dev, KBIT_MATH_EXACT);
        fp32_peer(o, dev, packed[0], &qs[0], cache, res);
        if (bnb != NULL) {
            float *ref = kbit_reference_m1(dev, packed[0], &qs[0]);
            bnb_peer(o, bnb, packed[0], &qs[0], cache, res, ref);
            free(ref);
        }
    }
    for (int v = 0; v < 2; v++) {
        kbit_quant_state_release(dev, &qs[v]);
        kbit_free(dev, packed[v]);
    }
    free(A), free(out), free(Af), free(op_t), free(read_t), free(res);
    return ok;
}

int kbit_bench_gemm4(int argc, char **argv)
{
    options o;
    int rc = parse_options(argc, argv, &o);
    if (rc >= 0)
        return rc;
    kbit_device *dev = NULL;
    kbit_device_info info;
    if (kbit_device_open_for(o.device, KBIT_FAMILY_GEMM4, &dev) != KBIT_OK ||
        kbit_device_get_info(dev, &info) != KBIT_OK) {
        fprintf(stderr, "kbit bench gemm4: %s\n", kbit_last_error());
        kbit_device_close(dev);
        return 1;
    }
    if (strcmp(info.driver, "cpu") != 0) {
        fprintf(stderr, "kbit bench gemm4: the read-bandwidth and fp32 baselines need host "
                        "memory; use --device cpu\n");
        kbit_device_close(dev);
        return 1;
    }
    size_t cache = bench_cache_bytes(o.cache_mib);
    bench_bnb bnb;
    const bench_bnb *use_bnb = NULL;
    char note[1200] = "not compared (--no-bnb)";
    if (!o.no_bnb) {
        int got = bench_bnb_open(&bnb, o.bnb_path, note, sizeof note);
        if (got > 0) {
            use_bnb = &bnb;
            snprintf(note, sizeof note, "%s", bnb.path);
        } else if (got == 0) {
            snprintf(note, sizeof note, "not compared (give --bnb PATH or KBIT_BNB_LIB; "
                                        "scripts/fetch-bnb gets libbitsandbytes_cpu.so)");
        }
    }
    printf("kbit bench gemm4: %s %s (variant %s), library %s\n", info.driver, info.name,
           info.variant, kbit_version());
    printf("cold caches: each run uses the next of a rotation of weight copies; the others\n"
           "  total >= 2 x %zu MiB (the last-level cache). %d timed runs per figure.\n",
           cache >> 20, o.reps);
    printf("GB/s = (packed weight + absmax bytes read) / time; x read = that / the read\n"
           "  bandwidth of the same bytes (bench_read, %s loads) timed between the runs;\n"
           "  t(M)/t(1) = median time for M activation rows / for one\n",
           __builtin_cpu_supports("avx512f") ? "AVX-512" : "AVX2 or plain");
    const char *fast = strchr(info.variant, '+');
    printf("math modes: exact = dot32, bit-identical everywhere; fast = KBIT_MATH_FAST: %s\n",
           fast ? fast + 1 : "no fast kernel on this device (runs exact)");
    if (fast)
        printf("  (%s takes bf16 activations with M > 1 and K %% 32 == 0; the rest runs exact;\n"
               "  results within doc/numerics.md 5.4's bound, not bit-exact)\n", fast + 1);
    const char *rate_what;
    dot32_ops_per_core = dot32_rate(info.variant, &rate_what);
    if (dot32_ops_per_core > 0)
        printf("dot32 floor (M > 1, exact): N K (2M + 1) fp32 operations (each weight's\n"
               "  DEC[q] * absmax once, then a product and a sum per activation row, no FMA)\n"
               "  at %.1f G operations/s per core (%s, measured now) x threads\n",
               dot32_ops_per_core / 1e9, rate_what);
    printf("bitsandbytes: %s\n", note);
    int failures = 0;
    for (int i = 0; i < o.nshapes; i++)
        failures += !run_shape(&o, dev, o.shapes[i][0], o.shapes[i][1], cache, use_bnb);
    if (use_bnb)
        bench_bnb_close(&bnb);
    kbit_device_close(dev);
    return failures ? 1 : 0;
}
