/*
 * bench/optim.c - `kbit bench optim`: one optimizer step (Adam, Lion; 32-bit
 * and 8-bit states; fp32 and bf16 parameters with gradients of the same
 * dtype) over cold caches, next to the copy bandwidth of the same run and a
 * plain fp32 AdamW loop (bench/optim_baseline.c).
 *
 * Cold caches: each timed step uses the next of a set of tensors (parameter,
 * gradient, optimizer state), enough of them that the bytes the others touch
 * add up to twice the last-level cache; a step that touches that much alone
 * needs only one. Every step is preceded by a timed copy run over the copy's
 * own cold rotation, and the ratio uses those interleaved copies.
 *
 * The peer: bitsandbytes' CPU optimizers on the same sizes, thread counts
 * and dtypes, run by bench/python/optim_peer.py with the interop venv's
 * Python (scripts/check makes it) before kbit's steps of each section.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "copy.h"
#include "optim_baseline.h"
#include "optim_peer.h"
#include "rotation.h"
#include "timer.h"

#define MAX_SETS 64

typedef struct mode {
    const char *name;
    kbit_optim_kind kind;
    int bits;
    kbit_dtype dtype;
    int baseline; /* the plain fp32 AdamW loop instead of kbit */
    const char *peer; /* the mode's name for optim_peer.py (NULL: none) */
} mode;

static const mode modes[] = {
    { "adam  32-bit f32 ", KBIT_OPTIM_ADAMW, 32, KBIT_F32, 0, "adam 32 f32" },
    { "adam  32-bit bf16", KBIT_OPTIM_ADAMW, 32, KBIT_BF16, 0, "adam 32 bf16" },
    { "adam   8-bit f32 ", KBIT_OPTIM_ADAMW, 8, KBIT_F32, 0, "adam 8 f32" },
    { "adam   8-bit bf16", KBIT_OPTIM_ADAMW, 8, KBIT_BF16, 0, "adam 8 bf16" },
    { "lion  32-bit f32 ", KBIT_OPTIM_LION, 32, KBIT_F32, 0, "lion 32 f32" },
    { "lion  32-bit bf16", KBIT_OPTIM_LION, 32, KBIT_BF16, 0, "lion 32 bf16" },
    { "lion   8-bit f32 ", KBIT_OPTIM_LION, 8, KBIT_F32, 0, "lion 8 f32" },
    { "lion   8-bit bf16", KBIT_OPTIM_LION, 8, KBIT_BF16, 0, "lion 8 bf16" },
    { "plain AdamW f32  ", KBIT_OPTIM_ADAMW, 32, KBIT_F32, 1, NULL },
};
#define NMODES (sizeof modes / sizeof modes[0])

/* Optimizer state bytes per parameter (8-bit: codes + one fp32 absmax per 256). */
static double state_bytes(const mode *m)
{
    int states = m->kind == KBIT_OPTIM_LION ? 1 : 2;
    return m->bits == 32 ? 4.0 * states : states * (1.0 + 4.0 / 256);
}

/* Memory traffic per parameter per step: the parameter read and written, the
 * gradient read, every state read and written. */
static double traffic_bytes(const mode *m)
{
    double P = (double)kbit_dtype_size(m->dtype);
    return 2 * P + P + 2 * state_bytes(m);
}

typedef struct tensor_set {
    void *p, *g;
    kbit_optim_state *state;
    float *m, *v; /* baseline states */
} tensor_set;

typedef struct options {
    const char *device;
    int threads[4], nthreads;
    int64_t sizes[8];
    int nsizes, reps;
    size_t cache_mib;
    const char *peer_python; /* NULL: KBIT_BENCH_PYTHON, else the interop venv's */
    int peer_reps, no_peer;
} options;

static int parse(int argc, char **argv, options *o)
{
    *o = (options){ "cpu", { 1, 2 }, 2, { (int64_t)16 << 20, (int64_t)64 << 20 }, 2, 5, 0,
                    NULL, 3, 0 };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0) {
            printf("usage: kbit bench optim [--device SPEC] [--threads 1,2] [--sizes 16,64]\n"
                   "                        [--reps 5] [--cache-mib MIB]\n"
                   "                        [--peer-python PY] [--peer-reps 3] [--no-peer]\n"
                   "  sizes in Mi parameters (2^20)\n"
                   "  the peer: bitsandbytes' CPU optimizers (bench/python/optim_peer.py) run\n"
                   "  by PY, else $KBIT_BENCH_PYTHON, else the build's interop venv\n");
            return 0;
        }
        if (strcmp(a, "--no-peer") == 0) {
            o->no_peer = 1;
            continue;
        }
        if (v == NULL)
            goto usage;
        i++;
        if (strcmp(a, "--device") == 0) {
            o->device = v;
        } else if (strcmp(a, "--reps") == 0) {
            o->reps = atoi(v);
        } else if (strcmp(a, "--cache-mib") == 0) {
            o->cache_mib = (size_t)atol(v);
        } else if (strcmp(a, "--peer-python") == 0) {
            o->peer_python = v;
        } else if (strcmp(a, "--peer-reps") == 0) {
            o->peer_reps = atoi(v);
        } else if (strcmp(a, "--threads") == 0 || strcmp(a, "--sizes") == 0) {
            int is_threads = a[2] == 't', count = 0;
            for (char *s = (char *)v; *s && count < (is_threads ? 4 : 8);) {
                long x = strtol(s, &s, 10);
                if (x <= 0)
                    goto usage;
                if (is_threads)
                    o->threads[count++] = (int)x;
                else
                    o->sizes[count++] = (int64_t)x << 20;
                if (*s == ',')
                    s++;
            }
            *(is_threads ? &o->nthreads : &o->nsizes) = count;
        } else {
            goto usage;
        }
    }
    if (o->reps >= 1 && o->nthreads >= 1 && o->nsizes >= 1 && o->peer_reps >= 1)
        return -1;
usage:
    fprintf(stderr, "kbit bench optim: bad arguments (see --help)\n");
    return 2;
}

/* Deterministic, cheap test data in [-scale, scale). */
static void fill(float *x, int64_t n, uint32_t seed, float scale)
{
    uint32_t s = seed * 2654435761u + 1;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = ((float)(s >> 8) * (1.0f / 8388608.0f) - 1.0f) * scale;
    }
}

static kbit_status upload(kbit_device *dev, kbit_dtype dtype, const float *x, int64_t n,
                          void **out)
{
    size_t bytes = (size_t)n * kbit_dtype_size(dtype);
    kbit_status st = kbit_malloc(dev, bytes, out);
    if (st != KBIT_OK)
        return st;
    if (dtype == KBIT_F32)
        return kbit_copy(dev, *out, x, bytes, KBIT_HOST_TO_DEVICE);
    uint16_t *h = malloc(bytes);
    if (h == NULL)
        return KBIT_ENOMEM;
    for (int64_t i = 0; i < n; i++) { /* bf16, truncated: these are just inputs */
        uint32_t b;
        memcpy(&b, &x[i], 4);
        h[i] = (uint16_t)(b >> 16);
    }
    st = kbit_copy(dev, *out, h, bytes, KBIT_HOST_TO_DEVICE);
    free(h);
    return st;
}

static void free_set(kbit_device *dev, tensor_set *s)
{
    if (s->p)
        kbit_free(dev, s->p);
    if (s->g)
        kbit_free(dev, s->g);
    kbit_optim_state_release(s->state);
    free(s->m);
    free(s->v);
    memset(s, 0, sizeof *s);
}

static kbit_status make_set(kbit_device *dev, const mode *m, const kbit_optim_config *cfg,
                            int64_t n, const float *p0, const float *g0, tensor_set *s)
{
    memset(s, 0, sizeof *s);
    kbit_status st;
    if ((st = upload(dev, m->dtype, p0, n, &s->p)) != KBIT_OK ||
        (st = upload(dev, m->dtype, g0, n, &s->g)) != KBIT_OK)
        return st;
    if (m->baseline) {
        s->m = calloc((size_t)n, 4);
        s->v = calloc((size_t)n, 4);
        return s->m && s->v ? KBIT_OK : KBIT_ENOMEM;
    }
    return kbit_optim_state_create(dev, cfg, n, m->dtype, &s->state);
}

static kbit_status run_step(kbit_device *dev, const mode *m, const kbit_optim_config *cfg,
                            tensor_set *s, int64_t n, int threads)
{
    if (m->baseline) {
        /* the kernels' values: f32 of the config's doubles */
        bench_adamw_hyper h = { (float)cfg->beta1, (float)cfg->beta2, (float)cfg->lr,
                                (float)cfg->weight_decay, -1e-3f, 1e-8f };
        bench_adamw_plain(s->p, s->g, s->m, s->v, n, threads, h);
        return KBIT_OK;
    }
    return kbit_optim_step(dev, cfg, s->state, s->p, s->g, m->dtype, 1.0f);
}

typedef struct section {
    kbit_device *dev;
    int host_memory, threads, reps;
    int64_t n;
    size_t cache;
    bench_rotation copy_rot;
    const float *p0, *g0;
    const bench_peer_result *peer; /* [NMODES], NULL: no peer */
} section;

/* Rotation sets for a step that moves `moved` bytes (cold caches). */
static int sets_for(const section *sec, double moved)
{
    int sets = moved >= 2.0 * (double)sec->cache ? 1 : (int)(2.0 * sec->cache / moved) + 2;
    return sets > MAX_SETS ? MAX_SETS : sets;
}

/* The peer's figures of mode index mi beside kbit's median (seconds). */
static void peer_line(const section *sec, size_t mi, double kbit_min, double kbit_median)
{
    if (sec->peer == NULL || modes[mi].peer == NULL)
        return;
    const bench_peer_result *r = &sec->peer[mi];
    if (!r->ok) {
        printf("    bitsandbytes     skipped: %s\n", r->why);
        return;
    }
    printf("    bitsandbytes %*s %8.2f %8.2f %9.1f   kbit %.2fx as fast (min), %.2fx (med)\n", 17,
           "", r->min * 1e3, r->median * 1e3, sec->n / r->min / 1e6, r->min / kbit_min,
           r->median / kbit_median);
}

static void run_mode(section *sec, const mode *m)
{
    kbit_optim_config cfg;
    kbit_optim_config_default(m->kind, &cfg);
    cfg.state_bits = m->bits;
    double per_param = traffic_bytes(m);
    double moved = per_param * (double)sec->n;
    int sets = sets_for(sec, moved);
    tensor_set set[MAX_SETS];
    memset(set, 0, sizeof set);
    kbit_status st = KBIT_OK;
    for (int i = 0; i < sets && st == KBIT_OK; i++)
        st = make_set(sec->dev, m, &cfg, sec->n, sec->p0, sec->g0, &set[i]);
    for (int i = 0; i < sets && st == KBIT_OK; i++) /* untimed pass: first touch */
        st = run_step(sec->dev, m, &cfg, &set[i], sec->n, sec->threads);

    double t[64], tc[64];
    int reps = sec->reps < 64 ? sec->reps : 64;
    size_t copy_bytes = (size_t)sec->n * 4;
    for (int r = 0; r < reps && st == KBIT_OK; r++) {
        const bench_slot *cs = bench_rotation_next(&sec->copy_rot);
        double t0 = bench_now();
        st = bench_copy(sec->dev, sec->host_memory, 1, sec->threads, cs->dst, cs->src, copy_bytes);
        double t1 = bench_now();
        if (st == KBIT_OK)
            st = run_step(sec->dev, m, &cfg, &set[(r + 1) % sets], sec->n, sec->threads);
        if (st == KBIT_OK)
            st = kbit_sync(sec->dev);
        double t2 = bench_now();
        tc[r] = t1 - t0;
        t[r] = t2 - t1;
    }
    if (st != KBIT_OK) {
        printf("  %s  skipped: %s\n", m->name, kbit_last_error());
    } else {
        bench_stats s = bench_stats_of(t, reps), c = bench_stats_of(tc, reps);
        double cmin = 2.0 * copy_bytes / c.min / 1e9, cmed = 2.0 * copy_bytes / c.median / 1e9;
        double gmin = moved / s.min / 1e9, gmed = moved / s.median / 1e9;
        printf("  %s %6.3f %6.1f %8.2f %8.2f %9.1f %7.2f %7.2f %6.2f / %4.2f %3d\n", m->name,
               state_bytes(m), per_param, s.min * 1e3, s.median * 1e3, sec->n / s.min / 1e6, gmin,
               gmed, gmin / cmin, gmed / cmed, sets);
        peer_line(sec, (size_t)(m - modes), s.min, s.median);
    }
    for (int i = 0; i < sets; i++)
        free_set(sec->dev, &set[i]);
}

int kbit_bench_optim(int argc, char **argv)
{
    options o;
    int rc = parse(argc, argv, &o);
    if (rc >= 0)
        return rc;
    kbit_device *dev;
    kbit_device_info info;
    if (kbit_device_open_for(o.device, KBIT_FAMILY_OPTIM, &dev) != KBIT_OK || kbit_device_get_info(dev, &info) != KBIT_OK) {
        fprintf(stderr, "kbit bench optim: %s\n", kbit_last_error());
        return 1;
    }
    section sec = { .dev = dev, .host_memory = strcmp(info.driver, "cpu") == 0, .reps = o.reps,
                    .cache = bench_cache_bytes(o.cache_mib) };
    printf("kbit bench optim: %s (%s, %s)\n", info.name, info.driver, info.variant);
    printf("One optimizer step per timed run, cold caches (rotation over `sets` tensors so the\n"
           "  others touch >= 2 x %zu MiB), %d runs per figure; min and median.\n"
           "traffic B/param = 2P + G + 2S: parameter read and written (P bytes), gradient read\n"
           "  (G = P), each state byte read and written (S = state B/param: 32-bit 4 per state,\n"
           "  8-bit 1 + 4/256 per state); GB/s = traffic x params / time (1 GB = 1e9 B).\n"
           "x copy = GB/s / the copy bandwidth of copies (non-temporal stores, 2 x bytes / time,\n"
           "  same threads) timed between the steps. Params: AdamW defaults (wd 0.01), Lion\n"
           "  defaults; gradients in the parameter dtype. plain AdamW f32: bench/optim_baseline.c.\n",
           sec.cache >> 20, o.reps);
    char python[1024], no_python[512];
    int peer = !o.no_peer && bench_optim_peer_python(o.peer_python, python, sizeof python,
                                                     no_python, sizeof no_python);
    if (o.no_peer)
        printf("peer: none (--no-peer)\n");
    else if (!peer)
        printf("peer: bitsandbytes skipped: %s\n", no_python);
    else
        printf("peer: bitsandbytes' CPU optimizers (bnb.optim.AdamW/AdamW8bit/Lion/Lion8bit,\n"
               "  defaults; bench/python/optim_peer.py) by %s, %d runs, the same cold-cache\n"
               "  rotation; \"as fast\" = bitsandbytes' time / kbit's\n",
               python, o.peer_reps);
    for (int si = 0; si < o.nsizes; si++) {
        sec.n = o.sizes[si];
        float *p0 = malloc((size_t)sec.n * 4), *g0 = malloc((size_t)sec.n * 4);
        if (p0 == NULL || g0 == NULL) {
            printf("\n%lld parameters: skipped: out of host memory\n", (long long)sec.n);
            free(p0);
            free(g0);
            continue;
        }
        fill(p0, sec.n, 1, 0.1f);
        fill(g0, sec.n, 2, 0.01f);
        sec.p0 = p0, sec.g0 = g0;
        for (int ti = 0; ti < o.nthreads; ti++) {
            sec.threads = o.threads[ti];
            printf("\n== %lld Mi parameters, %d thread%s ==\n", (long long)(sec.n >> 20),
                   sec.threads, sec.threads == 1 ? "" : "s");
            if (kbit_device_set_threads(dev, sec.threads) != KBIT_OK) {
                printf("skipped: %s\n", kbit_last_error());
                continue;
            }
            char why[256];
            size_t cb = (size_t)sec.n * 4;
            if (bench_rotation_alloc(&sec.copy_rot, dev, bench_rotation_slots(2 * cb, sec.cache),
                                     cb, 0, cb, why, sizeof why) != KBIT_OK) {
                printf("skipped: copy rotation: %s\n", why);
                continue;
            }
            for (int i = 0; i < sec.copy_rot.count; i++) { /* untimed pass: first touch */
                const bench_slot *cs = bench_rotation_next(&sec.copy_rot);
                bench_copy(dev, sec.host_memory, 1, sec.threads, cs->dst, cs->src, cb);
            }
            bench_peer_result peer_res[NMODES];
            sec.peer = NULL;
            if (peer) {
                const char *names[NMODES];
                size_t idx[NMODES];
                int count = 0, sets = MAX_SETS;
                for (size_t mi = 0; mi < NMODES; mi++)
                    if (modes[mi].peer) {
                        int s = sets_for(&sec, traffic_bytes(&modes[mi]) * (double)sec.n);
                        sets = s < sets ? s : sets;
                        idx[count] = mi;
                        names[count++] = modes[mi].peer;
                    }
                bench_peer_result got[NMODES];
                char version[256];
                sets = sets > 4 ? 4 : sets;
                bench_optim_peer_run(python, sec.n, sec.threads, o.peer_reps, sets, names, count,
                                     got, version, sizeof version);
                for (int i = 0; i < count; i++)
                    peer_res[idx[i]] = got[i];
                if (version[0])
                    printf("  peer: %s, %d set%s\n", version, sets, sets == 1 ? "" : "s");
                sec.peer = peer_res;
            }
            printf("  %-17s %6s %6s %8s %8s %9s %7s %7s %13s %3s\n", "mode", "stateB",
                   "trafB", "min ms", "med ms", "Mparam/s", "GB/s", "GB/s", "x copy", "");
            printf("  %-17s %6s %6s %8s %8s %9s %7s %7s %13s %3s\n", "", "/param", "/param",
                   "", "", "@min", "@min", "@med", "min / med", "sets");
            for (size_t mi = 0; mi < NMODES; mi++)
                if (!modes[mi].baseline || sec.host_memory)
                    run_mode(&sec, &modes[mi]);
            bench_rotation_free(&sec.copy_rot);
        }
        free(p0);
        free(g0);
    }
    kbit_device_close(dev);
    return 0;
}
