/* tools/conformance/random_gemm4.c - the randomized cases of the gemm4
 * family: the 4-bit matmul (kbit_gemm_4bit and its backward) on every
 * target, bit for bit against the scalar reference, and its accuracy
 * against fp64.
 *
 * Conformance: shapes M = 1, 2, 3, 7, 64 and N, K in 1, 8, 31, 33, B-1, B+1
 * (and a few around 128 and 256 lanes) over every blocksize, plus large
 * weights 4096x4096 and 4096x11008 with M = 1, 512x4096 with M = 16, M = 8 .. 64
 * around the blocks and slabs of the AVX-512 path for M >= 8; NF4/FP4, f32/f16/
 * bf16, plain/nested absmax, with/without bias (rotated over the shapes);
 * (11008x4096 is left out: its rows add nothing to 4096x11008's but time).
 * Weights come in three styles: quantized from normal data, random bytes
 * with random scales (0, inf, NaN, denormals, huge), and tiny scales with
 * tiny activations, where products underflow and lane sums are -0.0 (this
 * checks that a lane with no chunk left does not step). Each case runs
 * forward and backward, on the quant state and on a prepared weight; outputs
 * are pre-filled with different bytes for the reference and the target.
 *
 * Accuracy: against an fp64 sum over the same dequantized weights, every
 * output is within the bound of doc/numerics.md 5.4, |err| <= (2^-p + K 2^-24)
 * sum|a w| + ulp(out); the typical (median) relative error is printed. This
 * runs on the reference: every target gives the same bits.
 *
 * --quick: blocksizes 32, 64, 256 and 4096 with N, K in 1, 31, B+1, two
 * lane counts, the empty shapes and three M >= 8 shapes; no large weights;
 * the accuracy of f32 and bf16 at K = 4096 and f16 at K = 1024. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devmem.h"
#include "families.h"
#include "numbers.h"
#include "tap.h"

enum { FWD, BWD, FWD_PREP, BWD_PREP, NOPS };
static const char *op_names[NOPS] = { "gemm_4bit forward", "gemm_4bit backward",
                                      "gemm_4bit forward (prepared weight)",
                                      "gemm_4bit backward (prepared weight)" };

enum { STYLE_NORMAL, STYLE_RANDOM, STYLE_TINY, NSTYLES };

/* A weight in host memory: the bytes a quant state points at. */
typedef struct hweight {
    kbit_quant_type type;
    int blocksize, nested, style;
    int64_t N, K, nblocks;
    uint8_t *packed;
    void *absmax; /* float[nblocks] or uint8_t[nblocks] (nested) */
    float *absmax2;
    float offset;
    float code2[256];
} hweight;

typedef struct gcase {
    char desc[200];
    hweight w;
    kbit_dtype dtype;
    int64_t M;
    void *A, *dout, *bias; /* host, in dtype; bias may be NULL */
} gcase;

static size_t packed_bytes(const hweight *w)
{
    return (size_t)kbit_packed_4bit_bytes(w->N * w->K);
}

/* Scales of the random style: anything a float can hold. */
static float random_scale(rng *r)
{
    switch (rng_below(r, 12)) {
    case 0: return 0.0f;
    case 1: return INFINITY;
    case 2: return NAN;
    case 3: return 0x1p-149f * (float)(1 + rng_below(r, 1000));
    case 4: return 3e38f;
    default: return fabsf((float)rng_normal(r)) * ldexpf(1.0f, (int)rng_below(r, 40) - 20);
    }
}

static float random_value(rng *r, int style)
{
    if (style == STYLE_TINY)
        return (float)rng_normal(r) * 1e-25f;
    switch (rng_below(r, 50)) {
    case 0: return 0.0f;
    case 1: return -0.0f;
    case 2: return style == STYLE_RANDOM ? NAN : 1e-40f;
    case 3: return style == STYLE_RANDOM ? -INFINITY : 3e4f;
    default: return (float)rng_normal(r);
    }
}

static void *random_tensor(rng *r, kbit_dtype dtype, int64_t n, int style)
{
    float *f = conf_xmalloc((size_t)n * 4);
    for (int64_t i = 0; i < n; i++)
        f[i] = random_value(r, style);
    void *t = conf_xmalloc((size_t)n * kbit_dtype_size(dtype));
    f32_to_dtype(dtype, f, t, (size_t)n);
    free(f);
    return t;
}

/* Build a weight on the reference device and bring its bytes home. */
static void make_weight(kbit_device *ref, rng *r, hweight *w)
{
    int64_t n = w->N * w->K, shape[2] = { w->N, w->K };
    kbit_quant_state qs;
    if (kbit_quant_state_init(&qs, w->type, KBIT_F32, 2, shape, w->blocksize, w->nested) != KBIT_OK)
        tap_bail("kbit_quant_state_init: %s", kbit_last_error());
    w->nblocks = qs.nblocks;
    size_t pb = packed_bytes(w), ab = (size_t)qs.nblocks * (w->nested ? 1 : 4);
    w->packed = conf_xmalloc(pb);
    w->absmax = conf_xmalloc(ab);
    w->absmax2 = conf_xmalloc((size_t)qs.nblocks2 * 4);
    if (w->style == STYLE_NORMAL) {
        float *x = conf_xmalloc((size_t)n * 4);
        float s = ldexpf(1.0f, (int)rng_below(r, 20) - 10);
        for (int64_t i = 0; i < n; i++)
            x[i] = (float)rng_normal(r) * s;
        void *x_d = dev_upload(ref, x, (size_t)n * 4), *p_d = dev_alloc(ref, pb);
        if (kbit_quant_state_alloc(ref, &qs) != KBIT_OK ||
            kbit_quantize_4bit_state(ref, x_d, p_d, &qs) != KBIT_OK)
            tap_bail("quantizing a weight: %s", kbit_last_error());
        dev_download(ref, w->packed, p_d, pb);
        dev_download(ref, w->absmax, qs.absmax, ab);
        dev_download(ref, w->absmax2, qs.absmax2, (size_t)qs.nblocks2 * 4);
        w->offset = qs.offset;
        kbit_quant_state_release(ref, &qs);
        dev_free(ref, x_d);
        dev_free(ref, p_d);
        free(x);
    } else {
        for (size_t i = 0; i < pb; i++)
            w->packed[i] = (uint8_t)rng_next(r);
        float *a = conf_xmalloc((size_t)qs.nblocks * 4);
        for (int64_t i = 0; i < qs.nblocks; i++)
            a[i] = w->style == STYLE_TINY ? 1e-25f * (float)(1 + rng_below(r, 100))
                                          : random_scale(r);
        if (w->nested) {
            void *a_d = dev_upload(ref, a, (size_t)qs.nblocks * 4);
            void *q_d = dev_alloc(ref, ab), *a2_d = dev_alloc(ref, (size_t)qs.nblocks2 * 4);
            if (kbit_nested_quantize(ref, a_d, qs.nblocks, q_d, a2_d, &w->offset) != KBIT_OK)
                tap_bail("kbit_nested_quantize: %s", kbit_last_error());
            dev_download(ref, w->absmax, q_d, ab);
            dev_download(ref, w->absmax2, a2_d, (size_t)qs.nblocks2 * 4);
            dev_free(ref, a_d);
            dev_free(ref, q_d);
            dev_free(ref, a2_d);
        } else {
            memcpy(w->absmax, a, ab);
        }
        free(a);
    }
    memcpy(w->code2, qs.code2, sizeof w->code2);
}

static void weight_free(hweight *w)
{
    free(w->packed);
    free(w->absmax);
    free(w->absmax2);
}

/* The weight's quant state on a device, with uploaded buffers. */
static void *upload_weight(kbit_device *dev, const hweight *w, kbit_quant_state *qs)
{
    int64_t shape[2] = { w->N, w->K };
    if (kbit_quant_state_init(qs, w->type, KBIT_F32, 2, shape, w->blocksize, w->nested) != KBIT_OK)
        tap_bail("kbit_quant_state_init: %s", kbit_last_error());
    qs->absmax = w->nblocks ? dev_upload(dev, w->absmax, (size_t)w->nblocks * (w->nested ? 1 : 4))
                            : NULL;
    qs->absmax2 = w->nested && qs->nblocks2 ? dev_upload(dev, w->absmax2, (size_t)qs->nblocks2 * 4)
                                            : NULL;
    qs->offset = w->offset;
    memcpy(qs->code2, w->code2, sizeof qs->code2);
    size_t pb = packed_bytes(w);
    return pb ? dev_upload(dev, w->packed, pb) : NULL;
}

/* Run op on dev; out (host, out_elems in c->dtype) gets the result. */
static kbit_status run_op(kbit_device *dev, const gcase *c, int op, unsigned char fill, void *out,
                          size_t out_elems)
{
    size_t es = kbit_dtype_size(c->dtype);
    const hweight *w = &c->w;
    int backward = op == BWD || op == BWD_PREP;
    size_t in_elems = (size_t)(c->M * (backward ? w->N : w->K));
    kbit_quant_state qs;
    void *p_d = upload_weight(dev, w, &qs);
    void *in_d = in_elems ? dev_upload(dev, backward ? c->dout : c->A, in_elems * es) : NULL;
    void *b_d = c->bias && !backward && w->N ? dev_upload(dev, c->bias, (size_t)w->N * es) : NULL;
    void *o_d = out_elems ? dev_alloc_fill(dev, out_elems * es, fill) : NULL;
    kbit_status st;
    kbit_gemm4_weight *pw = NULL;
    if (op == FWD) {
        st = kbit_gemm_4bit(dev, in_d, c->dtype, c->M, p_d, &qs, b_d, o_d);
    } else if (op == BWD) {
        st = kbit_gemm_4bit_backward(dev, in_d, c->dtype, c->M, p_d, &qs, o_d);
    } else if ((st = kbit_gemm_4bit_prepare(dev, p_d, &qs, &pw)) == KBIT_OK) {
        size_t want = packed_bytes(w) + (size_t)w->nblocks * 4;
        if (kbit_gemm_4bit_weight_bytes(pw) != want)
            tap_diag("prepared weight of %s reports %zu bytes, expected %zu", c->desc,
                     kbit_gemm_4bit_weight_bytes(pw), want);
        if (op == FWD_PREP)
            st = kbit_gemm_4bit_prepared(dev, in_d, c->dtype, c->M, pw, b_d, o_d);
        else
            st = kbit_gemm_4bit_backward_prepared(dev, in_d, c->dtype, c->M, pw, o_d);
        if (kbit_gemm_4bit_weight_bytes(pw) != want)
            st = KBIT_EDRIVER;
        kbit_gemm_4bit_weight_destroy(pw);
    }
    if (st == KBIT_OK && out_elems)
        dev_download(dev, out, o_d, out_elems * es);
    dev_free(dev, o_d);
    dev_free(dev, b_d);
    dev_free(dev, in_d);
    dev_free(dev, p_d);
    dev_free(dev, qs.absmax);
    dev_free(dev, qs.absmax2);
    return st;
}

typedef struct runner {
    conf_run *run;
    kbit_device *ref;
    conf_tally stats[NOPS][CONF_MAX_TARGETS];
    rng r;
} runner;

static void run_everywhere(runner *run, gcase *c, int forward_only)
{
    size_t es = kbit_dtype_size(c->dtype);
    for (int op = 0; op < NOPS; op++) {
        int backward = op == BWD || op == BWD_PREP;
        if (backward && forward_only)
            continue;
        size_t n = (size_t)(c->M * (backward ? c->w.K : c->w.N));
        void *want = conf_xmalloc(n * es), *got = conf_xmalloc(n * es);
        /* the reference always runs the unprepared op: prepared must match it */
        kbit_status rst = run_op(run->ref, c, backward ? BWD : FWD, 0xa5, want, n);
        for (int t = 0; t < run->run->ntargets; t++) {
            kbit_device *dev = conf_dev(run->run, t);
            if (dev == NULL)
                continue;
            conf_tally *s = &run->stats[op][t];
            s->cases++;
            kbit_status st = run_op(dev, c, op, 0x5a, got, n);
            const char *label = run->run->targets[t].label;
            if (rst != KBIT_OK || st != KBIT_OK) {
                s->errors++;
                tap_diag("%s: %s %s failed: %s (%s)", label, op_names[op], c->desc,
                         kbit_strerror(rst != KBIT_OK ? rst : st), kbit_last_error());
                continue;
            }
            char what[400];
            snprintf(what, sizeof what, "%s: %s %s", label, op_names[op], c->desc);
            s->mismatches += tap_cmp_dtype((int)c->dtype, got, want, n, what);
            s->elements += n;
        }
        free(want);
        free(got);
    }
}

static void report(runner *run)
{
    for (int op = 0; op < NOPS; op++)
        conf_report(run->run, op_names[op], run->stats[op], "elements", "vs the scalar reference");
}

static const kbit_dtype dtypes[3] = { KBIT_F32, KBIT_F16, KBIT_BF16 };

/* One case: the options rotate with i so every combination turns up. */
static void some_ops(runner *run, int i, int64_t M, int64_t N, int64_t K, int B, int style,
                     int forward_only)
{
    gcase c = { .M = M, .dtype = dtypes[i % 3] };
    c.w = (hweight){ .type = (i / 3) % 2 ? KBIT_FP4 : KBIT_NF4, .blocksize = B,
                     .nested = (i / 2) % 2, .style = style, .N = N, .K = K };
    int bias = (i / 5) % 2;
    snprintf(c.desc, sizeof c.desc, "M=%lld N=%lld K=%lld B=%d %s %s%s%s style %d",
             (long long)M, (long long)N, (long long)K, B, c.w.type == KBIT_FP4 ? "fp4" : "nf4",
             dtype_str(c.dtype), c.w.nested ? " nested" : "", bias ? " bias" : "", style);
    make_weight(run->ref, &run->r, &c.w);
    c.A = random_tensor(&run->r, c.dtype, M * K, style);
    c.dout = random_tensor(&run->r, c.dtype, M * N, style);
    c.bias = bias ? random_tensor(&run->r, c.dtype, N, style == STYLE_TINY ? STYLE_TINY : 0) : NULL;
    run_everywhere(run, &c, forward_only);
    weight_free(&c.w);
    free(c.A);
    free(c.dout);
    free(c.bias);
}

static void one_case(runner *run, int i, int64_t M, int64_t N, int64_t K, int B, int style)
{
    some_ops(run, i, M, N, K, B, style, 0);
}

static void conformance(runner *run)
{
    static const int64_t Ms[] = { 1, 2, 3, 7 };
    int quick = run->run->quick, i = 0;
    for (int B = 32; B <= 4096; B *= 2) {
        if (quick && B != 32 && B != 64 && B != 256 && B != 4096)
            continue;
        const int64_t full[] = { 1, 8, 31, 33, B - 1, B + 1 }, small[] = { 1, 31, B + 1 };
        const int64_t *dims = quick ? small : full;
        const int nd = quick ? 3 : 6;
        for (int a = 0; a < nd; a++)
            for (int b = 0; b < nd; b++, i++)
                if (dims[a] < 600 || dims[b] < 600) /* large weights: below */
                    one_case(run, i, Ms[i % 4], dims[a], dims[b], B, i % NSTYLES);
    }
    /* lane counts around 32 chunks and 16-chunk groups, every style */
    static const int64_t ks[] = { 120, 128, 136, 248, 256, 264, 520, 1000, 1024 };
    for (size_t k = 0; k < sizeof ks / sizeof ks[0]; k++) {
        if (quick && ks[k] != 136 && ks[k] != 264)
            continue;
        for (int style = 0; style < NSTYLES; style++, i++)
            one_case(run, i, 1 + (int64_t)(i % 3), 19, ks[k], 64 << (i % 3), style);
    }
    /* M = 64 and empty shapes */
    one_case(run, i++, 64, 33, 256, 64, STYLE_NORMAL);
    one_case(run, i++, 64, 65, 31, 32, STYLE_RANDOM);
    one_case(run, i++, 0, 8, 8, 64, STYLE_NORMAL);
    one_case(run, i++, 2, 5, 0, 64, STYLE_NORMAL);
    one_case(run, i++, 2, 0, 9, 64, STYLE_NORMAL);
    /* large weights, M = 1, forward only (the backward's large-N cases are
     * N = 4097 above) */
    if (!quick) {
        some_ops(run, 0, 1, 4096, 4096, 64, STYLE_NORMAL, 1);
        some_ops(run, 7, 1, 4096, 11008, 64, STYLE_NORMAL, 1);
        some_ops(run, 2, 16, 512, 4096, 64, STYLE_NORMAL, 1);
        one_case(run, 5, 3, 40, 11008, 128, STYLE_RANDOM);
    }
    /* M >= 8 (AVX-512: blocks of weight rows, each weight decoded once):
     * activation slabs and their remainders (M > 32, and K = 11008 whose
     * slabs hold 23 rows), rows past the last whole block, partial last
     * groups (K % 128 != 0), every lookup (blocksize 32, 64, >= 128);
     * forward only */
    static const struct { int64_t M, N, K; int B; } blocked[] = {
        { 8, 13, 128, 64 },  { 9, 8, 136, 32 },    { 15, 21, 256, 128 },  { 16, 17, 1000, 64 },
        { 33, 9, 4096, 64 }, { 40, 11, 1024, 256 }, { 47, 5, 11008, 64 }, { 64, 19, 520, 4096 },
    };
    for (size_t k = 0; k < sizeof blocked / sizeof blocked[0]; k++)
        if (!quick || k % 3 == 0)
            some_ops(run, (int)k, blocked[k].M, blocked[k].N, blocked[k].K, blocked[k].B,
                     (int)k % NSTYLES, 1);
    report(run);
}

/* ------------------------------------------------------------------ */
/* Accuracy against fp64 */

static double ulp_of(kbit_dtype dtype, float v)
{
    int p = dtype == KBIT_F32 ? 24 : dtype == KBIT_F16 ? 11 : 8;
    int e;
    frexp(fabs((double)v), &e);
    int emin = dtype == KBIT_F16 ? -13 : -125; /* smallest normal exponent (frexp form) */
    if (e < emin)
        e = emin;
    return ldexp(1.0, e - p);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void accuracy(runner *run, kbit_dtype dtype, int64_t M, int64_t N, int64_t K)
{
    gcase c = { .M = M, .dtype = dtype };
    c.w = (hweight){ .type = KBIT_NF4, .blocksize = 64, .nested = 1, .style = STYLE_NORMAL,
                     .N = N, .K = K };
    make_weight(run->ref, &run->r, &c.w);
    float *a = conf_xmalloc((size_t)(M * K) * 4), *bias = conf_xmalloc((size_t)N * 4);
    for (int64_t i = 0; i < M * K; i++)
        a[i] = dtype_round(dtype, (float)rng_normal(&run->r));
    for (int64_t i = 0; i < N; i++)
        bias[i] = dtype_round(dtype, (float)rng_normal(&run->r) * 0.1f);
    c.A = conf_xmalloc((size_t)(M * K) * kbit_dtype_size(dtype));
    c.bias = conf_xmalloc((size_t)N * kbit_dtype_size(dtype));
    f32_to_dtype(dtype, a, c.A, (size_t)(M * K));
    f32_to_dtype(dtype, bias, c.bias, (size_t)N);
    void *out = conf_xmalloc((size_t)(M * N) * kbit_dtype_size(dtype));
    if (run_op(run->ref, &c, FWD, 0, out, (size_t)(M * N)) != KBIT_OK)
        tap_bail("accuracy run: %s", kbit_last_error());

    /* the same dequantized weights in fp32 */
    kbit_quant_state qs;
    void *p_d = upload_weight(run->ref, &c.w, &qs);
    void *w_d = dev_alloc(run->ref, (size_t)(N * K) * 4);
    if (kbit_dequantize_4bit_state(run->ref, p_d, &qs, KBIT_F32, w_d) != KBIT_OK)
        tap_bail("dequantize: %s", kbit_last_error());
    float *w = conf_xmalloc((size_t)(N * K) * 4);
    dev_download(run->ref, w, w_d, (size_t)(N * K) * 4);

    double *rel = conf_xmalloc((size_t)(M * N) * sizeof *rel);
    int64_t bad = 0;
    double worst = 0.0;
    for (int64_t m = 0; m < M; m++) {
        for (int64_t n = 0; n < N; n++) {
            double exact = 0.0, mag = 0.0;
            for (int64_t k = 0; k < K; k++) {
                double p = (double)a[m * K + k] * (double)w[n * K + k];
                exact += p;
                mag += fabs(p);
            }
            exact += (double)bias[n];
            float got = dtype_load(dtype, out, (size_t)(m * N + n));
            double err = fabs((double)got - exact);
            int p_t = dtype == KBIT_F32 ? 24 : dtype == KBIT_F16 ? 11 : 8;
            double bound = (ldexp(1.0, -p_t) + (double)K * 0x1p-24) * (mag + fabs((double)bias[n])) +
                           ulp_of(dtype, got);
            if (!(err <= bound))
                bad++;
            rel[m * N + n] = err / (mag + fabs((double)bias[n]));
            if (err / bound > worst)
                worst = err / bound;
        }
    }
    qsort(rel, (size_t)(M * N), sizeof *rel, cmp_double);
    tap_ok(bad == 0, "gemm4: accuracy %s M=%lld N=%lld K=%lld (nested nf4 B=64, bias): %lld of %lld "
           "outputs outside the numerics 5.4 bound; largest error / bound = %.3g", dtype_str(dtype),
           (long long)M, (long long)N, (long long)K, (long long)bad, (long long)(M * N), worst);
    tap_diag("typical relative error (median |out - fp64| / sum|a w|) %s K=%lld: %.3g "
             "(max %.3g)", dtype_str(dtype), (long long)K, rel[(M * N) / 2], rel[M * N - 1]);
    free(rel);
    free(w);
    free(a);
    free(bias);
    free(out);
    free(c.A);
    free(c.bias);
    dev_free(run->ref, w_d);
    dev_free(run->ref, p_d);
    dev_free(run->ref, qs.absmax);
    dev_free(run->ref, qs.absmax2);
    weight_free(&c.w);
}

void conf_random_gemm4(conf_run *crun)
{
    static runner run;
    memset(&run, 0, sizeof run);
    run.run = crun;
    run.ref = crun->ref;
    uint64_t seed = conf_seed(crun, 0x6b62697467656d34ull);
    rng_seed(&run.r, seed);
    conformance(&run);
    accuracy(&run, KBIT_F32, 4, 256, 4096);
    if (!crun->quick)
        accuracy(&run, KBIT_F32, 2, 64, 11008);
    accuracy(&run, KBIT_BF16, 4, 256, 4096);
    accuracy(&run, KBIT_F16, 4, 256, 1024);
}
