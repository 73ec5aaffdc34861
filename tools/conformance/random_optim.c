/* tools/conformance/random_optim.c - the randomized cases of the optim
 * family: optimizers on every target bit for bit against the scalar
 * reference, save / restore and percentile clipping on every target.
 *
 * Conformance: every kind x 32/8-bit states x param dtype (f32, f16, bf16)
 * x gradient dtype (the param dtype, and f32 for 16-bit params), sizes
 * n = 1, 255, 256, 257, 4096+3 and (f32 params) 65536+77 so that two threads
 * really split the work; gradients hold +-0, a whole zero block, denormals,
 * +-inf and NaN. Options vary with the case: weight decay, skip_zeros,
 * percentile clipping, max_unorm (LAMB/LARS; RMSprop, Adagrad, Lion 32-bit). Three steps from a fresh state;
 * after each, the parameter and the whole saved state (doc/formats.md layout)
 * are compared (any NaN equals any NaN).
 *
 * Save/restore: 50 steps, save, restore into a fresh state, 50 more steps ==
 * 100 uninterrupted steps, byte for byte (parameter and saved state), for
 * every kind with 32- and 8-bit states.
 *
 * Percentile clipping: the gradient scale of every step against numerics
 * 6.7 with pairsum norms computed here. Then formula_optim.c's cases.
 *
 * --quick: sizes 1, 257 and 4096+3 (every kind, both state sizes, every
 * dtype); the custom-map case at 4096+3; no 2^19 cases. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devmem.h"
#include "families.h"
#include "numbers.h"
#include "optimstate.h"
#include "tap.h"

typedef struct opt_case {
    kbit_optim_config cfg;
    kbit_dtype pdtype, gdtype;
    int64_t n;
    uint64_t seed;
    int custom_maps; /* 8-bit: maps other than the normative ones, through load_bnb */
} opt_case;

/* Load fresh (zero) 8-bit states with the normative maps scaled by 0.97 away
 * from their ends, and +0.0, -0.0 at 126, 127 of the signed one: drivers must
 * not assume the normative tables. */
static void load_custom_maps(kbit_optim_state *st, const opt_case *c)
{
    static float q1[256], q2[256];
    const float *s = kbit_dynamic_map(KBIT_MAP_SIGNED), *u = kbit_dynamic_map(KBIT_MAP_UNSIGNED);
    for (int i = 0; i < 256; i++) {
        q1[i] = i == 0 || i == 255 ? s[i] : s[i] * 0.97f;
        q2[i] = i == 255 ? u[i] : u[i] * 0.97f;
    }
    q1[126] = 0.0f; /* +0 then -0: the sign bits are no longer a prefix */
    q1[127] = -0.0f;
    size_t nb = (size_t)(c->n + 255) / 256;
    void *codes = calloc((size_t)c->n * 2 + 1, 1), *absmax = calloc(nb * 2 + 1, 4);
    kbit_optim_bnb_state b = { .step = 0, .state1 = codes, .state2 = codes, .absmax1 = absmax,
                               .absmax2 = absmax, .qmap1 = q1, .qmap2 = q2 };
    if (kbit_optim_state_load_bnb(st, &b) != KBIT_OK)
        tap_bail("kbit_optim_state_load_bnb: %s", kbit_last_error());
    free(codes);
    free(absmax);
}

/* Parameters ~ N(0, 0.1); gradients ~ N(0, 0.01) with edge values. */
static void fill_inputs(const opt_case *c, int step, float *p, float *g)
{
    rng r;
    rng_seed(&r, c->seed * 1000 + (uint64_t)step);
    for (int64_t i = 0; i < c->n; i++) {
        if (p)
            p[i] = (float)(rng_normal(&r) * 0.1);
        g[i] = (float)(rng_normal(&r) * 0.01);
    }
    static const float edges[] = { 0.0f, -0.0f, 1e-40f, -3e-42f, INFINITY, -INFINITY, NAN };
    int64_t nedge = c->n / 37 + 1;
    for (int64_t k = 0; k < nedge; k++) {
        int64_t i = (int64_t)rng_below(&r, (uint32_t)c->n);
        /* the non-finite ones only at step 2, so states stay mostly finite */
        int e = (int)rng_below(&r, step == 2 ? 7 : 4);
        g[i] = edges[e];
    }
    if (c->n >= 512) /* a whole zero block */
        for (int64_t i = 256; i < 512; i++)
            g[i] = step == 1 ? 0.0f : g[i];
}

static void *to_device(kbit_device *dev, kbit_dtype dtype, const float *x, int64_t n)
{
    size_t bytes = (size_t)n * kbit_dtype_size(dtype);
    void *h = malloc(bytes ? bytes : 1);
    f32_to_dtype(dtype, x, h, (size_t)n);
    void *d = dev_upload(dev, h, bytes);
    free(h);
    return d;
}

/* The parameter bytes and the saved state after each of the 3 steps of a case. */
typedef struct outcome {
    void *p[3];
    saved_state s[3];
    int ok;
} outcome;

/* The inputs of a case, drawn once for every target. */
typedef struct inputs {
    float *p0, *g[3];
} inputs;

static void inputs_make(const opt_case *c, inputs *in)
{
    size_t bytes = (size_t)c->n * 4 + 4;
    in->p0 = malloc(bytes);
    float *scratch = malloc(bytes);
    fill_inputs(c, 0, in->p0, scratch);
    for (int s = 0; s < 3; s++) {
        in->g[s] = malloc(bytes);
        fill_inputs(c, s + 1, NULL, in->g[s]);
    }
    free(scratch);
}

static void inputs_free(inputs *in)
{
    free(in->p0);
    for (int s = 0; s < 3; s++)
        free(in->g[s]);
}

static void run_case(kbit_device *dev, const opt_case *c, const inputs *in, outcome *out)
{
    memset(out, 0, sizeof *out);
    size_t pbytes = (size_t)c->n * kbit_dtype_size(c->pdtype);
    kbit_optim_state *st = NULL;
    if (kbit_optim_state_create(dev, &c->cfg, c->n, c->pdtype, &st) != KBIT_OK)
        tap_bail("kbit_optim_state_create: %s", kbit_last_error());
    if (c->custom_maps)
        load_custom_maps(st, c);
    void *p_d = to_device(dev, c->pdtype, in->p0, c->n);
    out->ok = 1;
    for (int s = 0; s < 3; s++) {
        void *g_d = to_device(dev, c->gdtype, in->g[s], c->n);
        if (kbit_optim_step(dev, &c->cfg, st, p_d, g_d, c->gdtype, 1.0f) != KBIT_OK) {
            tap_diag("kbit_optim_step: %s", kbit_last_error());
            out->ok = 0;
        }
        dev_free(dev, g_d);
        out->p[s] = malloc(pbytes + 1);
        dev_download(dev, out->p[s], p_d, pbytes);
        saved_take(st, &out->s[s]);
    }
    dev_free(dev, p_d);
    kbit_optim_state_release(st);
}

static void outcome_free(outcome *o, int nsteps)
{
    for (int s = 0; s < nsteps; s++) {
        free(o->p[s]);
        saved_free(&o->s[s]);
    }
}

/* Mismatching elements between two saved states: 32-bit parts as fp32 (NaN
 * equals NaN), 8-bit codes exactly, absmax as fp32, header and history bytes. */
static size_t cmp_saved(const saved_state *a, const saved_state *b, const char *what)
{
    if (a->bytes != b->bytes)
        return 1;
    size_t bad = 0;
    size_t head = (size_t)(a->state1 - a->buf);
    bad += tap_cmp_f32(a->buf + 40, b->buf + 40, (head - 40) / 4, what); /* history, maps */
    bad += memcmp(a->buf, b->buf, 40) != 0;
    int eight = a->info.state_bits == 8;
    size_t s12 = a->state1_bytes + a->state2_bytes;
    if (eight)
        bad += tap_cmp_u8(a->state1, b->state1, s12, what);
    else
        bad += tap_cmp_f32(a->state1, b->state1, s12 / 4, what);
    bad += tap_cmp_f32(a->absmax1, b->absmax1, (a->absmax1_bytes + a->absmax2_bytes) / 4, what);
    if (a->pending != NULL) { /* LION's pending update-norm sum, f64 (NaN equals NaN) */
        double x, y;
        memcpy(&x, a->pending, 8);
        memcpy(&y, b->pending, 8);
        if (memcmp(&x, &y, 8) != 0 && !(x != x && y != y)) {
            tap_diag("%s: LION's pending update-norm sum %a, want %a", what, x, y);
            bad++;
        }
    }
    return bad;
}

/* Added to every case's seed: --seed (0 by default). */
static uint64_t seed_offset;

static void make_case(opt_case *c, kbit_optim_kind kind, int bits, kbit_dtype pd, kbit_dtype gd,
                      int64_t n, int variant)
{
    memset(c, 0, sizeof *c);
    kbit_optim_config_default(kind, &c->cfg);
    c->cfg.state_bits = bits;
    c->cfg.min_8bit_size = 0;
    c->cfg.weight_decay = variant & 1 ? 0.01f : 0.0f;
    c->cfg.skip_zeros = (variant & 2) != 0;
    c->cfg.percentile_clipping = variant & 4 ? 5 : 100;
    /* max_unorm for the 1-state kinds that have it with 32-bit states only
     * (numerics 6.4; LAMB and LARS have it by default) */
    if (bits == 32 && (variant & 1) &&
        (kind == KBIT_OPTIM_RMSPROP || kind == KBIT_OPTIM_ADAGRAD || kind == KBIT_OPTIM_LION))
        c->cfg.max_unorm = kind == KBIT_OPTIM_LION ? 0.02 : 0.5;
    if (kind == KBIT_OPTIM_ADEMAMIX && (variant & 1)) {
        c->cfg.t_alpha = 3;
        c->cfg.t_beta3 = 5;
    }
    c->pdtype = pd;
    c->gdtype = gd;
    c->n = n;
    c->seed = (uint64_t)(kind * 131 + bits * 7 + pd * 3 + gd) * 1000003u + (uint64_t)n +
              seed_offset;
}

/* Run c on the reference and every usable target; add mismatches and
 * compared elements per target. */
static void compare_case(const conf_run *run, const opt_case *c, size_t *bad, size_t *compared)
{
    inputs in;
    inputs_make(c, &in);
    outcome want;
    run_case(run->ref, c, &in, &want);
    for (int t = 0; t < run->ntargets; t++) {
        kbit_device *dev = conf_dev(run, t);
        const char *label = run->targets[t].label;
        if (dev == NULL)
            continue;
        /* the large cases are for the fast paths: the scalar targets run the reference's code */
        if (c->n > 65536 + 77 && (strstr(label, "/scalar/") || strstr(label, "/ref/")))
            continue;
        outcome got;
        run_case(dev, c, &in, &got);
        char what[300];
        snprintf(what, sizeof what, "%s %d-bit %s/%s n=%lld on %.96s",
                 optim_kind_name(c->cfg.kind), c->cfg.state_bits, dtype_str(c->pdtype),
                 dtype_str(c->gdtype), (long long)c->n, label);
        for (int s = 0; s < 3; s++) {
            bad[t] += tap_cmp_dtype(c->pdtype, got.p[s], want.p[s], (size_t)c->n, what);
            bad[t] += cmp_saved(&got.s[s], &want.s[s], what);
            compared[t] += (size_t)c->n;
        }
        bad[t] += !got.ok || !want.ok;
        outcome_free(&got, 3);
    }
    outcome_free(&want, 3);
    inputs_free(&in);
}

static void conformance(const conf_run *run)
{
    static const int64_t sizes[] = { 1, 255, 256, 257, 4096 + 3, 65536 + 77 };
    static const kbit_dtype pdt[] = { KBIT_F32, KBIT_F16, KBIT_BF16 };
    for (int bits = 32; bits >= 8; bits -= 24) {
        size_t compared[CONF_MAX_TARGETS] = { 0 }, bad[CONF_MAX_TARGETS] = { 0 };
        int cases = 0;
        opt_case c;
        for (int kind = KBIT_OPTIM_ADAM; kind <= KBIT_OPTIM_LION; kind++)
            for (int d = 0; d < 3; d++)
                for (int gf = 0; gf < (d ? 2 : 1); gf++)
                    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
                        if (d > 0 && sizes[k] > 65536)
                            continue;
                        if (run->quick && sizes[k] != 1 && sizes[k] != 257 &&
                            sizes[k] != 4096 + 3)
                            continue;
                        make_case(&c, (kbit_optim_kind)kind, bits, pdt[d], gf ? KBIT_F32 : pdt[d],
                                  sizes[k], (int)(k + (size_t)d + (size_t)kind));
                        compare_case(run, &c, bad, compared);
                        cases++;
                    }
        if (bits == 8) /* many requantizations: the SIMD encoders' fast paths near midpoints */
            for (int kind = KBIT_OPTIM_ADAMW; kind <= KBIT_OPTIM_LION; kind += 7) {
                if (!run->quick) {
                    make_case(&c, (kbit_optim_kind)kind, 8, KBIT_F32, KBIT_F32, 1 << 19, 0);
                    compare_case(run, &c, bad, compared);
                    cases++;
                }
                make_case(&c, (kbit_optim_kind)kind, 8, KBIT_BF16, KBIT_F32,
                          run->quick ? 4096 + 3 : 65536 + 77, 3);
                c.custom_maps = 1; /* the encoders' search path and general sign fix */
                compare_case(run, &c, bad, compared);
                cases++;
            }
        for (int t = 0; t < run->ntargets; t++)
            conf_report_one(run, t, bad[t] == 0 && compared[t] > 0,
                            "%d-bit states on %.96s vs the scalar reference: %d cases x 3 "
                            "steps, %zu elements, %zu mismatches", bits, run->targets[t].label,
                            cases, compared[t], bad[t]);
    }
}

/* nsteps steps of the case on an existing state and parameter, gradients by step number. */
static void steps(kbit_device *dev, const opt_case *c, kbit_optim_state *st, void *p_d,
                  int first, int count, int *ok)
{
    float *g = malloc((size_t)c->n * 4);
    for (int s = first; s < first + count; s++) {
        fill_inputs(c, 1 + s % 5, NULL, g); /* step 2 of 5 brings inf/NaN: keep them rare */
        for (int64_t i = 0; i < c->n; i++)
            if (!isfinite(g[i]))
                g[i] = 0.0f;
        g[s % c->n] = (float)s * 1e-3f; /* every step different */
        void *g_d = to_device(dev, c->gdtype, g, c->n);
        *ok &= kbit_optim_step(dev, &c->cfg, st, p_d, g_d, c->gdtype, 1.0f) == KBIT_OK;
        dev_free(dev, g_d);
    }
    free(g);
}

static void save_restore(const conf_run *run, int t)
{
    kbit_device *dev = conf_dev(run, t);
    for (int bits = 32; bits >= 8; bits -= 24) {
        if (dev == NULL) {
            conf_report_one(run, t, 0, "save/restore, %d-bit states on %s: not run", bits,
                            run->targets[t].label);
            continue;
        }
        int kinds = 0, equal = 0, ok = 1;
        for (int kind = KBIT_OPTIM_ADAM; kind <= KBIT_OPTIM_LION; kind++) {
            opt_case c;
            make_case(&c, (kbit_optim_kind)kind, bits, KBIT_BF16, KBIT_F32, 4096 + 3, 5);
            size_t pbytes = (size_t)c.n * 2;
            float *p0 = malloc((size_t)c.n * 4), *g0 = malloc((size_t)c.n * 4);
            fill_inputs(&c, 0, p0, g0);

            /* 100 uninterrupted steps */
            kbit_optim_state *a, *b1, *b2;
            ok &= kbit_optim_state_create(dev, &c.cfg, c.n, c.pdtype, &a) == KBIT_OK;
            void *pa = to_device(dev, c.pdtype, p0, c.n);
            steps(dev, &c, a, pa, 0, 100, &ok);

            /* 50, save, restore into a fresh state, 50 */
            ok &= kbit_optim_state_create(dev, &c.cfg, c.n, c.pdtype, &b1) == KBIT_OK;
            void *pb = to_device(dev, c.pdtype, p0, c.n);
            steps(dev, &c, b1, pb, 0, 50, &ok);
            saved_state mid;
            saved_take(b1, &mid);
            kbit_optim_state_release(b1);
            ok &= kbit_optim_state_create(dev, &c.cfg, c.n, c.pdtype, &b2) == KBIT_OK;
            ok &= kbit_optim_state_restore(b2, mid.buf, mid.bytes) == KBIT_OK;
            saved_free(&mid);
            steps(dev, &c, b2, pb, 50, 50, &ok);

            saved_state sa, sb;
            saved_take(a, &sa);
            saved_take(b2, &sb);
            unsigned char *ha = malloc(pbytes), *hb = malloc(pbytes);
            dev_download(dev, ha, pa, pbytes);
            dev_download(dev, hb, pb, pbytes);
            int same = sa.bytes == sb.bytes && memcmp(sa.buf, sb.buf, sa.bytes) == 0 &&
                       memcmp(ha, hb, pbytes) == 0 && sa.info.step == 100 &&
                       sa.info.state_bits == bits;
            if (!same)
                tap_diag("%s %d-bit: interrupted run differs", optim_kind_name(c.cfg.kind), bits);
            equal += same;
            kinds++;
            saved_free(&sa);
            saved_free(&sb);
            free(ha);
            free(hb);
            free(p0);
            free(g0);
            dev_free(dev, pa);
            dev_free(dev, pb);
            kbit_optim_state_release(a);
            kbit_optim_state_release(b2);
        }
        conf_report_one(run, t, ok && equal == kinds,
                        "save/restore, %d-bit states on %s: 50 steps + save + restore + 50 "
                        "steps == 100 steps, byte for byte, for %d of %d kinds (bf16 params, "
                        "percentile clipping)", bits, run->targets[t].label, equal, kinds);
    }
}

/* pairsum (determinism 4) of squares, written out here: 256-term leaves in
 * order, then the pairwise tree. */
static double pairsum_sq(const float *x, int64_t n)
{
    int64_t nl = (n + 255) / 256;
    double *leaf = malloc((size_t)(nl ? nl : 1) * sizeof *leaf);
    for (int64_t b = 0; b < nl; b++) {
        leaf[b] = 0.0;
        for (int64_t i = b * 256; i < n && i < (b + 1) * 256; i++)
            leaf[b] += (double)x[i] * (double)x[i];
    }
    while (nl > 1) {
        int64_t m = 0;
        for (int64_t i = 0; i + 1 < nl; i += 2)
            leaf[m++] = leaf[i] + leaf[i + 1];
        if (nl % 2)
            leaf[m++] = leaf[nl - 1];
        nl = m;
    }
    double s = n ? leaf[0] : 0.0;
    free(leaf);
    return s;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Percentile clipping (numerics 6.7) against the formula computed here: 130
 * steps (the 100-step history wraps) of gradients whose size varies; the
 * scale reported by kbit_optim_state_get_info must match bit for bit. */
static void percentile_clipping(const conf_run *run, int t)
{
    kbit_device *dev = conf_dev(run, t);
    if (dev == NULL) {
        conf_report_one(run, t, 0, "percentile clipping on %s: not run", run->targets[t].label);
        return;
    }
    const int64_t n = 3000;
    const int percentile = 10, steps = 130;
    kbit_optim_config c;
    kbit_optim_config_default(KBIT_OPTIM_ADAMW, &c);
    c.percentile_clipping = percentile;
    kbit_optim_state *st;
    if (kbit_optim_state_create(dev, &c, n, KBIT_F32, &st) != KBIT_OK)
        tap_bail("create: %s", kbit_last_error());
    float *p = calloc((size_t)n, 4), *g = malloc((size_t)n * 4), hist[100], sorted[100];
    void *p_d = dev_upload(dev, p, (size_t)n * 4), *g_d = dev_alloc(dev, (size_t)n * 4);
    rng r;
    rng_seed(&r, conf_seed(run, 77));
    int bad = 0, clipped = 0;
    for (int step = 1; step <= steps; step++) {
        double size = 0.01 * (1.0 + 5.0 * rng_uniform(&r));
        for (int64_t i = 0; i < n; i++)
            g[i] = (float)(rng_normal(&r) * size);
        kbit_copy(dev, g_d, g, (size_t)n * 4, KBIT_HOST_TO_DEVICE);
        bad += kbit_optim_step(dev, &c, st, p_d, g_d, KBIT_F32, 1.0f) != KBIT_OK;
        float gn = (float)pairsum_sq(g, n);
        for (int i = 0; i < 100; i++)
            if (step == 1 || i == step % 100)
                hist[i] = gn;
        memcpy(sorted, hist, sizeof sorted);
        qsort(sorted, 100, sizeof sorted[0], cmp_float);
        float current = sqrtf(hist[step % 100]), clip = sqrtf(sorted[percentile]);
        float want = current > clip ? clip / current : 1.0f;
        kbit_optim_state_info info;
        kbit_optim_state_get_info(st, &info);
        if (f32_bits(info.gnorm_scale) != f32_bits(want)) {
            if (bad++ == 0)
                tap_diag("%s step %d: gnorm_scale 0x%08x, want 0x%08x", run->targets[t].label,
                         step, f32_bits(info.gnorm_scale), f32_bits(want));
        }
        clipped += want < 1.0f;
    }
    conf_report_one(run, t, bad == 0 && clipped > 10 && clipped < steps,
                    "percentile clipping on %s (percentile %d, %d steps): the gradient scale of "
                    "every step equals numerics 6.7 with pairsum norms bit for bit (%d steps "
                    "clipped)", run->targets[t].label, percentile, steps, clipped);
    free(p);
    free(g);
    dev_free(dev, p_d);
    dev_free(dev, g_d);
    kbit_optim_state_release(st);
}

void conf_random_optim(conf_run *run)
{
    seed_offset = conf_seed(run, 0);
    conformance(run);
    for (int t = 0; t < run->ntargets; t++)
        save_restore(run, t);
    for (int t = 0; t < run->ntargets; t++)
        percentile_clipping(run, t);
    conf_formula_optim(run);
}
