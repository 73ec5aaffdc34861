/* tools/conformance/random_int8.c - the randomized cases of the int8
 * family: every LLM.int8() op on every target, bit for bit against the
 * scalar reference, plus the exactness property of the forward.
 *
 * Shapes: M in {1, 3, 17, 128}, K and N among {1, 3, 4, 63, 4097}, K = 0, (and a few
 * mid sizes that cross the SIMD kernels' blockings: two 4096-k blocks,
 * K not a multiple of 4, partial 64-column panels and 6-row tiles). Activations: normal data
 * with planted outlier columns, entries exactly at the threshold (6.0), an
 * all-zero row, and (in the "edge" style) fp16 extremes: +-65504, denormals,
 * +-inf and NaN; fp32 inputs also hold values that overflow fp16.
 * Thresholds: 0, 6 and 0.001 (every non-zero column is an outlier).
 * Ops: vectorwise_quant (F32/F16/BF16), quantize_weight, dequantize_weight,
 * matmul (incl. -128 operands), mm_dequant (three out dtypes x bias none /
 * F16 / F32 / BF16), linear_forward (three dtypes x thresholds x bias) and
 * linear_backward. One TAP line per (op, target) with the counts; outputs
 * are pre-filled with different bytes on the two sides so an element left
 * unwritten shows up.
 *
 * Property: with threshold 0, activation rows and weight rows that hold
 * integers times a power of two with one entry +-127 * 2^e per row, and
 * |acc| < 1040, every step is exact and the forward returns exactly
 * T(sum_k X[m,k] * W[n,k]).
 *
 * --quick: six of the shapes (both styles, K = 0, K over 4096), the GEMM
 * over two k blocks, mm_dequant on two shapes; the property. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devmem.h"
#include "families.h"
#include "numbers.h"
#include "tap.h"

enum { OP_VQ, OP_QW, OP_DQW, OP_MM, OP_MMDQ, OP_FWD, OP_BWD, OP_COUNT };
static const char *op_names[OP_COUNT] = {
    "int8_vectorwise_quant", "int8_quantize_weight", "int8_dequantize_weight", "int8_matmul",
    "int8_mm_dequant", "int8_linear_forward", "int8_linear_backward",
};

/* The run being checked (set by conf_random_int8). */
static conf_run *the_run;
static kbit_device *ref_dev;
static conf_tally tallies[OP_COUNT][CONF_MAX_TARGETS];
static rng R;

static const kbit_dtype fdt[3] = { KBIT_F32, KBIT_F16, KBIT_BF16 };

/* ---- inputs ---- */

/* X[M,K] as fp32 values, in the style: 0 normal, 1 edge values. */
static float *gen_x(int64_t M, int64_t K, int style, kbit_dtype dtype)
{
    float *x = malloc((size_t)(M * K) * 4 + 4);
    if (!x)
        tap_bail("out of memory");
    int64_t outlier_col = K > 2 ? (int64_t)rng_below(&R, (uint32_t)K) : -1;
    for (int64_t m = 0; m < M; m++)
        for (int64_t k = 0; k < K; k++) {
            float v = (float)rng_normal(&R);
            if (k == outlier_col && rng_below(&R, 2))
                v = (float)(rng_normal(&R) * 20.0);
            uint32_t u = rng_below(&R, 64);
            if (u == 0)
                v = 6.0f; /* exactly at the threshold */
            else if (u == 1)
                v = -6.0f;
            else if (u == 2)
                v = f32_next_down(6.0f);
            if (style == 1) {
                switch (rng_below(&R, 12)) {
                case 0: v = 65504.0f; break;
                case 1: v = -65504.0f; break;
                case 2: v = f16_to_f32(1); break;           /* smallest fp16 denormal */
                case 3: v = -f16_to_f32(0x3ff); break;      /* largest fp16 denormal */
                case 4: v = INFINITY; break;
                case 5: v = NAN; break;
                case 6: v = dtype == KBIT_F16 ? -INFINITY : 1.0e6f; break; /* overflows fp16 */
                case 7: v = -0.0f; break;
                default: break;
                }
            }
            x[m * K + k] = dtype_round(dtype, v);
        }
    if (M > 1) /* an all-zero row */
        memset(x + (M / 2) * K, 0, (size_t)K * 4);
    return x;
}

static void *to_dtype(kbit_dtype dt, const float *v, size_t n)
{
    void *p = malloc(n * 4 + 4);
    if (!p)
        tap_bail("out of memory");
    f32_to_dtype(dt, v, p, n);
    return p;
}

static void *gen_i8(size_t n, int with_min)
{
    int8_t *p = malloc(n + 1);
    if (!p)
        tap_bail("out of memory");
    for (size_t i = 0; i < n; i++)
        p[i] = (int8_t)((int)rng_below(&R, with_min ? 256 : 255) - (with_min ? 128 : 127));
    return p;
}

/* ---- running one op on two devices ---- */

typedef struct io {
    const void *in[6];
    size_t in_bytes[6];
    size_t out_bytes[3];
} io;

typedef kbit_status (*call_fn)(kbit_device *dev, void *const *in, void *const *out,
                               const void *ctx, int64_t *count);

/* Upload the inputs, run call on dev with outputs pre-filled with fill,
 * download the outputs (host[i] gets out_bytes[i]). */
static kbit_status run_on(kbit_device *dev, const io *x, call_fn call, const void *ctx,
                          unsigned char fill, void **host, int64_t *count)
{
    void *in[6] = { 0 }, *out[3] = { 0 };
    for (int i = 0; i < 6; i++)
        if (x->in[i])
            in[i] = dev_upload(dev, x->in[i], x->in_bytes[i]);
    for (int i = 0; i < 3; i++)
        if (x->out_bytes[i])
            out[i] = dev_alloc_fill(dev, x->out_bytes[i], fill);
    kbit_status st = call(dev, in, out, ctx, count);
    for (int i = 0; i < 3; i++)
        if (out[i]) {
            host[i] = malloc(x->out_bytes[i]);
            if (!host[i])
                tap_bail("out of memory");
            dev_download(dev, host[i], out[i], x->out_bytes[i]);
            dev_free(dev, out[i]);
        } else {
            host[i] = NULL;
        }
    for (int i = 0; i < 6; i++)
        if (in[i])
            dev_free(dev, in[i]);
    return st;
}

/* Compare out i as cmp (tap_cmp_dtype code, or -1 = bytes). */
static size_t compare(int cmp, const void *got, const void *want, size_t bytes, const char *what)
{
    if (cmp < 0) {
        for (size_t i = 0; i < bytes; i++)
            if (((const unsigned char *)got)[i] != ((const unsigned char *)want)[i]) {
                tap_diag("%s: first byte mismatch at %zu", what, i);
                size_t bad = 0;
                for (size_t j = i; j < bytes; j++)
                    bad += ((const unsigned char *)got)[j] != ((const unsigned char *)want)[j];
                return bad;
            }
        return 0;
    }
    size_t es = cmp == 0 ? 4 : 2;
    return tap_cmp_dtype(cmp, got, want, bytes / es, what);
}

static void everywhere(int op, const char *desc, const io *x, call_fn call, const void *ctx,
                       const int cmp[3])
{
    void *want[3];
    int64_t want_count = -1;
    if (run_on(ref_dev, x, call, ctx, 0x11, want, &want_count) != KBIT_OK)
        tap_bail("reference failed on %s %s: %s", op_names[op], desc, kbit_last_error());
    for (int t = 0; t < the_run->ntargets; t++) {
        kbit_device *dev = conf_dev(the_run, t);
        if (!dev)
            continue;
        const char *label = the_run->targets[t].label;
        conf_tally *ty = &tallies[op][t];
        void *got[3];
        int64_t count = -2;
        kbit_status st = run_on(dev, x, call, ctx, 0xee, got, &count);
        ty->cases++;
        if (st != KBIT_OK) {
            ty->errors++;
            tap_diag("%s %s on %s: %s", op_names[op], desc, label, kbit_last_error());
        } else {
            if (count != want_count) {
                ty->errors++;
                tap_diag("%s %s on %s: count %lld, want %lld", op_names[op], desc, label,
                         (long long)count, (long long)want_count);
            }
            for (int i = 0; i < 3; i++)
                if (x->out_bytes[i]) {
                    /* the outlier list: only its first count entries are defined */
                    size_t bytes = op == OP_VQ && i == 2 ? (size_t)(want_count > 0 ? want_count : 0) * 8
                                                         : x->out_bytes[i];
                    char what[400];
                    snprintf(what, sizeof what, "%s %.160s out%d on %.96s", op_names[op], desc, i,
                             label);
                    ty->mismatches += compare(cmp[i], got[i], want[i], bytes, what);
                    ty->elements += bytes;
                }
        }
        for (int i = 0; i < 3; i++)
            free(got[i]);
    }
    for (int i = 0; i < 3; i++)
        free(want[i]);
}

/* ---- the calls ---- */

typedef struct shape {
    kbit_dtype dtype, out_dtype, bias_dtype;
    int64_t M, K, N;
    float threshold;
    int has_bias;
} shape;

static kbit_status call_vq(kbit_device *d, void *const *in, void *const *out, const void *c,
                           int64_t *count)
{
    const shape *s = c;
    return kbit_int8_vectorwise_quant(d, s->dtype, in[0], s->M, s->K, s->threshold, out[0],
                                      out[1], out[2], count);
}

static kbit_status call_qw(kbit_device *d, void *const *in, void *const *out, const void *c,
                           int64_t *count)
{
    const shape *s = c;
    *count = 0;
    return kbit_int8_quantize_weight(d, s->dtype, in[0], s->N, s->K, out[0], out[1]);
}

static kbit_status call_dqw(kbit_device *d, void *const *in, void *const *out, const void *c,
                            int64_t *count)
{
    const shape *s = c;
    *count = 0;
    return kbit_int8_dequantize_weight(d, in[0], in[1], s->N, s->K, s->out_dtype, out[0]);
}

static kbit_status call_mm(kbit_device *d, void *const *in, void *const *out, const void *c,
                           int64_t *count)
{
    const shape *s = c;
    *count = 0;
    return kbit_int8_matmul(d, in[0], in[1], s->M, s->N, s->K, out[0]);
}

static kbit_status call_mmdq(kbit_device *d, void *const *in, void *const *out, const void *c,
                             int64_t *count)
{
    const shape *s = c;
    *count = 0;
    return kbit_int8_mm_dequant(d, in[0], in[1], in[2], s->M, s->N, s->has_bias ? in[3] : NULL,
                                s->bias_dtype, s->out_dtype, out[0]);
}

static kbit_status call_fwd(kbit_device *d, void *const *in, void *const *out, const void *c,
                            int64_t *count)
{
    const shape *s = c;
    *count = 0;
    return kbit_int8_linear_forward(d, s->dtype, in[0], s->M, s->K, in[1], in[2], s->N,
                                    s->threshold, s->has_bias ? in[3] : NULL, out[0]);
}

static kbit_status call_bwd(kbit_device *d, void *const *in, void *const *out, const void *c,
                            int64_t *count)
{
    const shape *s = c;
    *count = 0;
    return kbit_int8_linear_backward(d, s->dtype, in[0], s->M, s->N, in[1], in[2], s->K,
                                     out[0]);
}

/* A weight quantized by the reference: CB[N,K], SCB[N] (host). */
static void make_weight(int64_t N, int64_t K, int8_t **cb, float **scb)
{
    float *w = malloc((size_t)(N * K) * 4 + 4);
    if (!w)
        tap_bail("out of memory");
    for (int64_t i = 0; i < N * K; i++)
        w[i] = (float)(rng_normal(&R) * 0.05);
    if (N > 2) /* an all-zero weight row */
        memset(w + K, 0, (size_t)K * 4);
    *cb = malloc((size_t)(N * K) + 1);
    *scb = malloc((size_t)N * 4 + 4);
    int8_t *dcb = dev_alloc(ref_dev, (size_t)(N * K) + 1);
    float *dscb = dev_alloc(ref_dev, (size_t)N * 4 + 4);
    void *dw = dev_upload(ref_dev, w, (size_t)(N * K) * 4);
    if (kbit_int8_quantize_weight(ref_dev, KBIT_F32, dw, N, K, dcb, dscb) != KBIT_OK)
        tap_bail("quantize_weight: %s", kbit_last_error());
    dev_download(ref_dev, *cb, dcb, (size_t)(N * K));
    dev_download(ref_dev, *scb, dscb, (size_t)N * 4);
    dev_free(ref_dev, dcb), dev_free(ref_dev, dscb), dev_free(ref_dev, dw);
    free(w);
}

static const int cmp_i8[3] = { -1, 0, -1 };

/* The int8 GEMM on its own, with -128 in both operands. */
static void gemm_case(int64_t M, int64_t K, int64_t N)
{
    char desc[160];
    shape s = { KBIT_F32, KBIT_F32, KBIT_F32, M, K, N, 0.0f, 0 };
    snprintf(desc, sizeof desc, "M=%lld K=%lld N=%lld", (long long)M, (long long)K, (long long)N);
    void *a = gen_i8((size_t)(M * K), 1), *b = gen_i8((size_t)(N * K), 1);
    io v = { { a, b }, { (size_t)(M * K), (size_t)(N * K) }, { (size_t)(M * N) * 4 } };
    int cmp[3] = { -1, 0, 0 };
    everywhere(OP_MM, desc, &v, call_mm, &s, cmp);
    free(a), free(b);
}

static void shape_cases(int64_t M, int64_t K, int64_t N, int style)
{
    char desc[160];
    static const float thresholds[3] = { 0.0f, 6.0f, 0.001f };
    int8_t *cb;
    float *scb;
    make_weight(N, K, &cb, &scb);
    for (int d = 0; d < 3; d++) {
        kbit_dtype dt = fdt[d];
        float *xv = gen_x(M, K, style, dt);
        void *x = to_dtype(dt, xv, (size_t)(M * K));
        size_t es = kbit_dtype_size(dt);
        for (int ti = 0; ti < 3; ti++) {
            shape s = { dt, dt, dt, M, K, N, thresholds[ti], ti & 1 };
            snprintf(desc, sizeof desc, "%s M=%lld K=%lld N=%lld thr=%g style=%d",
                     dtype_str(dt), (long long)M, (long long)K, (long long)N,
                     (double)s.threshold, style);
            io v = { { x }, { (size_t)(M * K) * es }, { (size_t)(M * K), (size_t)M * 4,
                                                        (size_t)K * 8 } };
            int cmp_vq[3] = { -1, 0, -1 };
            everywhere(OP_VQ, desc, &v, call_vq, &s, cmp_vq);
            void *bias = NULL;
            float *bv = malloc((size_t)N * 4 + 4);
            for (int64_t j = 0; j < N; j++)
                bv[j] = (float)rng_normal(&R);
            bias = to_dtype(dt, bv, (size_t)N);
            free(bv);
            io f = { { x, cb, scb, bias },
                     { (size_t)(M * K) * es, (size_t)(N * K), (size_t)N * 4, (size_t)N * es },
                     { (size_t)(M * N) * es } };
            int cmp_f[3] = { (int)dt, 0, 0 };
            everywhere(OP_FWD, desc, &f, call_fwd, &s, cmp_f);
            free(bias);
        }
        /* the weight path and the backward with this dtype */
        shape s = { dt, dt, dt, M, K, N, 0.0f, 0 };
        snprintf(desc, sizeof desc, "%s M=%lld K=%lld N=%lld style=%d", dtype_str(dt),
                 (long long)M, (long long)K, (long long)N, style);
        io q = { { x }, { (size_t)(M * K) * es }, { (size_t)(M * K), (size_t)M * 4 } };
        shape sq = s;
        sq.N = M; /* the activations as a weight [M, K] */
        everywhere(OP_QW, desc, &q, call_qw, &sq, cmp_i8);
        io dq = { { cb, scb }, { (size_t)(N * K), (size_t)N * 4 }, { (size_t)(N * K) * es } };
        int cmp_dq[3] = { (int)dt, 0, 0 };
        everywhere(OP_DQW, desc, &dq, call_dqw, &s, cmp_dq);
        float *gv = malloc((size_t)(M * N) * 4 + 4);
        for (int64_t i = 0; i < M * N; i++)
            gv[i] = (float)rng_normal(&R);
        if (style == 1 && M * N > 3)
            gv[0] = NAN, gv[1] = INFINITY, gv[2] = 65504.0f;
        void *g = to_dtype(dt, gv, (size_t)(M * N));
        free(gv);
        io b = { { g, cb, scb }, { (size_t)(M * N) * es, (size_t)(N * K), (size_t)N * 4 },
                 { (size_t)(M * K) * es } };
        everywhere(OP_BWD, desc, &b, call_bwd, &s, cmp_dq);
        free(g);
        free(x), free(xv);
    }
    gemm_case(M, K, N);
    free(cb), free(scb);
}

static void mmdq_cases(void)
{
    static const int64_t shapes[][2] = { { 1, 1 }, { 3, 63 }, { 17, 4097 }, { 128, 65 } };
    for (size_t i = 0; i < 4; i++) {
        if (the_run->quick && i % 2)
            continue;
        int64_t M = shapes[i][0], N = shapes[i][1];
        int32_t *acc = malloc((size_t)(M * N) * 4);
        float *sca = malloc((size_t)M * 4), *scb = malloc((size_t)N * 4), *bv = malloc((size_t)N * 4);
        for (int64_t k = 0; k < M * N; k++)
            acc[k] = (int32_t)(rng_next(&R) >> (34 + rng_below(&R, 30))) * (rng_below(&R, 2) ? 1 : -1);
        for (int64_t k = 0; k < M; k++)
            sca[k] = (float)fabs(rng_normal(&R) * 3);
        for (int64_t k = 0; k < N; k++) {
            scb[k] = (float)fabs(rng_normal(&R) * 0.2);
            bv[k] = (float)rng_normal(&R);
        }
        if (M * N > 4)
            acc[0] = INT32_MAX, acc[1] = INT32_MIN, acc[2] = 0, sca[0] = 0.0f;
        for (int od = 0; od < 3; od++)
            for (int bk = 0; bk < 4; bk++) { /* none, F32, F16, BF16 bias */
                kbit_dtype bdt = bk ? fdt[bk - 1] : KBIT_F32;
                void *bias = to_dtype(bdt, bv, (size_t)N);
                shape s = { KBIT_F32, fdt[od], bdt, M, 0, N, 0.0f, bk != 0 };
                char desc[120];
                snprintf(desc, sizeof desc, "M=%lld N=%lld out %s bias %s", (long long)M,
                         (long long)N, dtype_str(fdt[od]), bk ? dtype_str(bdt) : "none");
                io v = { { acc, sca, scb, bias },
                         { (size_t)(M * N) * 4, (size_t)M * 4, (size_t)N * 4,
                           (size_t)N * kbit_dtype_size(bdt) },
                         { (size_t)(M * N) * kbit_dtype_size(fdt[od]) } };
                int cmp[3] = { (int)fdt[od], 0, 0 };
                everywhere(OP_MMDQ, desc, &v, call_mmdq, &s, cmp);
                free(bias);
            }
        free(acc), free(sca), free(scb), free(bv);
    }
}

/* ---- the property ---- */

static void property(void)
{
    const int64_t M = 5, K = 16, N = 7;
    float x[5 * 16], w[7 * 16];
    for (int64_t m = 0; m < M; m++) {
        float scale = ldexpf(1.0f, (int)rng_below(&R, 9) - 4);
        for (int64_t k = 0; k < K; k++)
            x[m * K + k] = (float)((int)rng_below(&R, 7) - 3) * scale;
        x[m * K + 0] = (m & 1 ? -127.0f : 127.0f) * scale;
    }
    for (int64_t n = 0; n < N; n++) {
        float scale = ldexpf(1.0f, (int)rng_below(&R, 7) - 6);
        for (int64_t k = 0; k < K; k++)
            w[n * K + k] = (float)((int)rng_below(&R, 7) - 3) * scale;
        w[n * K + 1] = (n & 1 ? 127.0f : -127.0f) * scale;
    }
    for (int d = 0; d < 3; d++) {
        kbit_dtype dt = fdt[d];
        size_t es = kbit_dtype_size(dt);
        for (int t = 0; t < the_run->ntargets; t++) {
            kbit_device *dev = conf_dev(the_run, t);
            if (!dev) {
                conf_report_one(the_run, t, 0, "property on %s (%s): not run",
                                the_run->targets[t].label, dtype_str(dt));
                continue;
            }
            void *xh = to_dtype(dt, x, (size_t)(M * K)), *wh = to_dtype(KBIT_F16, w, (size_t)(N * K));
            void *xd = dev_upload(dev, xh, (size_t)(M * K) * es);
            void *wd = dev_upload(dev, wh, (size_t)(N * K) * 2);
            int8_t *cb = dev_alloc(dev, (size_t)(N * K));
            float *scb = dev_alloc(dev, (size_t)N * 4);
            void *y = dev_alloc_fill(dev, (size_t)(M * N) * es, 0x77);
            size_t bad = 0;
            int ok = kbit_int8_quantize_weight(dev, KBIT_F16, wd, N, K, cb, scb) == KBIT_OK &&
                     kbit_int8_linear_forward(dev, dt, xd, M, K, cb, scb, N, 0.0f, NULL, y) ==
                         KBIT_OK;
            if (ok) {
                void *yh = malloc((size_t)(M * N) * es);
                dev_download(dev, yh, y, (size_t)(M * N) * es);
                for (int64_t m = 0; m < M; m++)
                    for (int64_t n = 0; n < N; n++) {
                        double e = 0;
                        for (int64_t k = 0; k < K; k++)
                            e += (double)x[m * K + k] * (double)w[n * K + k];
                        float want = dtype_round(dt, (float)e);
                        if (dtype_load(dt, yh, (size_t)(m * N + n)) != want && bad++ == 0)
                            tap_diag("property %s on %s: Y[%lld,%lld] = %g, exact %g",
                                     dtype_str(dt), the_run->targets[t].label, (long long)m,
                                     (long long)n, (double)dtype_load(dt, yh, (size_t)(m * N + n)),
                                     (double)want);
                    }
                free(yh);
            }
            conf_report_one(the_run, t, ok && bad == 0,
                            "property on %s (%s): threshold 0 and exactly representable inputs "
                            "give the exact product (%lld outputs, %zu off)",
                            the_run->targets[t].label, dtype_str(dt), (long long)(M * N), bad);
            dev_free(dev, xd), dev_free(dev, wd), dev_free(dev, cb), dev_free(dev, scb);
            dev_free(dev, y);
            free(xh), free(wh);
        }
    }
}

void conf_random_int8(conf_run *run)
{
    the_run = run;
    ref_dev = run->ref;
    memset(tallies, 0, sizeof tallies);
    rng_seed(&R, conf_seed(run, 0x696e7438u));

    static const int64_t shapes[][3] = {
        { 1, 1, 1 }, { 3, 3, 4 }, { 1, 4, 63 }, { 17, 63, 3 }, { 3, 4097, 4 },
        { 1, 4097, 63 }, { 17, 1, 4097 }, { 128, 63, 63 }, { 128, 4, 1 }, { 3, 63, 4097 },
        { 17, 300, 130 }, { 128, 260, 100 }, { 1, 520, 300 }, { 64, 1101, 70 }, { 3, 0, 5 },
        { 50, 2048, 130 },
    };
    /* --quick: both styles, K = 0, K over 4096 and a mid size */
    static const int quick_shapes[] = { 0, 1, 3, 4, 13, 14 };
    size_t count = run->quick ? sizeof quick_shapes / sizeof quick_shapes[0]
                              : sizeof shapes / sizeof shapes[0];
    for (size_t k = 0; k < count; k++) {
        size_t i = run->quick ? (size_t)quick_shapes[k] : k;
        shape_cases(shapes[i][0], shapes[i][1], shapes[i][2], (int)(i % 2));
    }
    gemm_case(48, 4100, 65); /* the packed GEMM over two k blocks */
    mmdq_cases();

    for (int op = 0; op < OP_COUNT; op++)
        conf_report(run, op_names[op], tallies[op], "bytes", "vs the scalar reference");
    property();
}
