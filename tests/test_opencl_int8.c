/* tests/test_opencl_int8.c - what is particular to LLM.int8() on the OpenCL
 * driver (opencl:0, PoCL in CI); its numbers at large are `kbit
 * conformance`'s (make check runs the int8 family on opencl:0). Against the
 * reference (the CPU driver forced to scalar, one thread), bit for bit:
 *
 *  1. every int8 op with each buffer PAD bytes into its allocation (the
 *     driver's (cl_mem, offset) arguments), on data with outlier columns,
 *     values at the threshold and fp16 extremes (+-65504, denormals, +-inf,
 *     NaN), the GEMM with -128 operands over several 16x16 tiles and k
 *     slices;
 *  2. the forward both with the gathered weight columns (outliers <= 256)
 *     and without (every column an outlier, K > 256), and prepared weights
 *     (kbit_int8_prepare_weight: the driver keeps the standard layout);
 *  3. launches past KBIT_GPU_MAX_GROUPS groups (65536): more rows than
 *     groups in the quantization, more 16x16 tiles than groups in the GEMM,
 *     so the grid-stride loops of backends/gpu/int8*.h run more than once.
 *
 * Outputs are pre-filled with different bytes on the two devices, so an
 * element that either leaves unwritten is a mismatch. KBIT_TEST_SEED changes
 * the seed. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clutil.h"
#include "testutil.h"

#define MAX_IO 5

/* One op on device w: inputs in, outputs out (device pointers); host
 * values come back through *n (the outlier count) when the op has one. */
typedef kbit_status (*op_fn)(int w, void *const *in, void *const *out, const void *ctx,
                             int64_t *n);

typedef struct io {
    const void *in[MAX_IO];
    size_t in_bytes[MAX_IO];
    size_t out_bytes[MAX_IO]; /* 0 ends the list */
} io;

/* Run the op on both devices and compare every output byte (and the host
 * value); one TAP line. */
static void both(const char *desc, const io *v, op_fn f, const void *ctx)
{
    void *in[2][MAX_IO] = { { 0 } }, *out[2][MAX_IO] = { { 0 } };
    unsigned char *host[2][MAX_IO] = { { 0 } };
    kbit_status st[2];
    int64_t n[2] = { -1, -1 }; /* set by the ops that hand back a count */
    size_t bytes = 0, bad = 0;
    for (int w = 0; w < 2; w++) {
        for (int i = 0; i < MAX_IO; i++) {
            if (v->in[i] != NULL)
                in[w][i] = up(w, v->in[i], v->in_bytes[i]);
            if (v->out_bytes[i] > 0)
                out[w][i] = outbuf(w, v->out_bytes[i]);
        }
        st[w] = f(w, in[w], out[w], ctx, &n[w]);
        for (int i = 0; i < MAX_IO && v->out_bytes[i] > 0; i++) {
            host[w][i] = xmalloc(v->out_bytes[i]);
            dev_download(devs[w], host[w][i], out[w][i], v->out_bytes[i]);
        }
    }
    int ok = st[REF] == KBIT_OK && st[CL] == KBIT_OK;
    if (!ok)
        tap_diag("%s: ref %s, opencl:0 %s (%s)", desc, kbit_strerror(st[REF]),
                 kbit_strerror(st[CL]), kbit_last_error());
    for (int i = 0; ok && i < MAX_IO && v->out_bytes[i] > 0; i++) {
        size_t first = (size_t)-1, nb = v->out_bytes[i];
        /* the outlier list is defined only up to the count */
        if (i == 2 && n[REF] >= 0 && (size_t)n[REF] * 8 < nb)
            nb = (size_t)n[REF] * 8;
        for (size_t b = 0; b < nb; b++)
            if (host[REF][i][b] != host[CL][i][b] && bad++ == 0)
                first = b;
        bytes += nb;
        if (first != (size_t)-1)
            tap_diag("%s: output %d differs first at byte %zu (ref 0x%02x, opencl:0 0x%02x)",
                     desc, i, first, host[REF][i][first], host[CL][i][first]);
    }
    if (ok && n[REF] != n[CL]) {
        tap_diag("%s: outlier count ref %lld, opencl:0 %lld", desc, (long long)n[REF],
                 (long long)n[CL]);
        bad++;
    }
    tap_ok(ok && bad == 0, "%s: %zu bytes bit-exact at offset %d (%zu mismatches)", desc, bytes,
           PAD, bad);
    for (int w = 0; w < 2; w++)
        for (int i = 0; i < MAX_IO; i++) {
            rel(w, in[w][i]);
            rel(w, out[w][i]);
            free(host[w][i]);
        }
}

/* ------------------------------------------------------------------ */
/* Inputs                                                               */

/* X [M, K] as dtype: normal data, a planted outlier column, values at the
 * threshold, and with `edges` the fp16 extremes. */
static void *gen_x(kbit_dtype dt, int64_t M, int64_t K, int edges)
{
    size_t n = (size_t)(M * K);
    float *x = xmalloc(n * 4);
    int64_t col = K > 1 ? (int64_t)rng_below(&R, (uint32_t)K) : 0;
    for (size_t i = 0; i < n; i++) {
        float v = (float)rng_normal(&R);
        if ((int64_t)(i % (size_t)K) == col && rng_below(&R, 2))
            v *= 20.0f;
        switch (edges ? rng_below(&R, 40) : 40) {
        case 0: v = 6.0f; break;
        case 1: v = -6.0f; break;
        case 2: v = 65504.0f; break;
        case 3: v = -65504.0f; break;
        case 4: v = f16_to_f32(1); break;
        case 5: v = INFINITY; break;
        case 6: v = -INFINITY; break;
        case 7: v = NAN; break;
        case 8: v = 1e6f; break; /* overflows fp16 */
        default: break;
        }
        x[i] = v;
    }
    void *out = xmalloc(n * kbit_dtype_size(dt));
    f32_to_dtype(dt, x, out, n);
    free(x);
    return out;
}

static int8_t *gen_i8(size_t n)
{
    int8_t *p = xmalloc(n);
    for (size_t i = 0; i < n; i++)
        p[i] = (int8_t)(int)rng_below(&R, 256);
    if (n > 1)
        p[0] = -128, p[n - 1] = -128;
    return p;
}

/* A weight CB [N, K], SCB [N] quantized by the reference. */
static void make_weight(int64_t N, int64_t K, int8_t **cb, float **scb)
{
    float *w = xmalloc((size_t)(N * K) * 4);
    for (int64_t i = 0; i < N * K; i++)
        w[i] = (float)(rng_normal(&R) * 0.05);
    void *dw = dev_upload(devs[REF], w, (size_t)(N * K) * 4);
    int8_t *dcb = dev_alloc(devs[REF], (size_t)(N * K));
    float *dscb = dev_alloc(devs[REF], (size_t)N * 4);
    if (kbit_int8_quantize_weight(devs[REF], KBIT_F32, dw, N, K, dcb, dscb) != KBIT_OK)
        tap_bail("quantize_weight: %s", kbit_last_error());
    *cb = xmalloc((size_t)(N * K));
    *scb = xmalloc((size_t)N * 4);
    dev_download(devs[REF], *cb, dcb, (size_t)(N * K));
    dev_download(devs[REF], *scb, dscb, (size_t)N * 4);
    dev_free(devs[REF], dw), dev_free(devs[REF], dcb), dev_free(devs[REF], dscb);
    free(w);
}

/* ------------------------------------------------------------------ */
/* The ops                                                              */

typedef struct shape {
    kbit_dtype dt, out_dt;
    int64_t M, K, N;
    float threshold;
    int prepared;
} shape;

static kbit_status op_vq(int w, void *const *in, void *const *out, const void *c, int64_t *n)
{
    const shape *s = c;
    return kbit_int8_vectorwise_quant(devs[w], s->dt, in[0], s->M, s->K, s->threshold, out[0],
                                      out[1], s->threshold > 0 ? out[2] : NULL, n);
}

static kbit_status op_qw(int w, void *const *in, void *const *out, const void *c, int64_t *n)
{
    const shape *s = c;
    (void)n;
    return kbit_int8_quantize_weight(devs[w], s->dt, in[0], s->M, s->K, out[0], out[1]);
}

static kbit_status op_dqw(int w, void *const *in, void *const *out, const void *c, int64_t *n)
{
    const shape *s = c;
    (void)n;
    return kbit_int8_dequantize_weight(devs[w], in[0], in[1], s->N, s->K, s->out_dt, out[0]);
}

static kbit_status op_mm(int w, void *const *in, void *const *out, const void *c, int64_t *n)
{
    const shape *s = c;
    (void)n;
    return kbit_int8_matmul(devs[w], in[0], in[1], s->M, s->N, s->K, out[0]);
}

static kbit_status op_mmdq(int w, void *const *in, void *const *out, const void *c, int64_t *n)
{
    const shape *s = c;
    (void)n;
    return kbit_int8_mm_dequant(devs[w], in[0], in[1], in[2], s->M, s->N, in[3], s->dt,
                                s->out_dt, out[0]);
}

static kbit_status op_fwd(int w, void *const *in, void *const *out, const void *c, int64_t *n)
{
    const shape *s = c;
    (void)n;
    if (!s->prepared)
        return kbit_int8_linear_forward(devs[w], s->dt, in[0], s->M, s->K, in[1], in[2], s->N,
                                        s->threshold, in[3], out[0]);
    kbit_int8_weight *wt = NULL;
    kbit_status st = kbit_int8_prepare_weight(devs[w], in[1], in[2], s->N, s->K, &wt);
    if (st == KBIT_OK)
        st = kbit_int8_linear_forward_prepared(devs[w], s->dt, in[0], s->M, wt, s->threshold,
                                               in[3], out[0]);
    kbit_int8_weight_destroy(wt);
    return st;
}

static kbit_status op_bwd(int w, void *const *in, void *const *out, const void *c, int64_t *n)
{
    const shape *s = c;
    (void)n;
    if (!s->prepared)
        return kbit_int8_linear_backward(devs[w], s->dt, in[0], s->M, s->N, in[1], in[2], s->K,
                                         out[0]);
    kbit_int8_weight *wt = NULL;
    kbit_status st = kbit_int8_prepare_weight(devs[w], in[1], in[2], s->N, s->K, &wt);
    if (st == KBIT_OK)
        st = kbit_int8_linear_backward_prepared(devs[w], s->dt, in[0], s->M, wt, out[0]);
    kbit_int8_weight_destroy(wt);
    return st;
}

/* ------------------------------------------------------------------ */
/* Cases                                                                */

static void layer_cases(kbit_dtype dt, int64_t M, int64_t K, int64_t N)
{
    char d[160];
    size_t es = kbit_dtype_size(dt);
    int8_t *cb;
    float *scb;
    make_weight(N, K, &cb, &scb);
    void *x = gen_x(dt, M, K, 1);
    float *bv = xmalloc((size_t)N * 4);
    for (int64_t j = 0; j < N; j++)
        bv[j] = (float)rng_normal(&R);
    void *bias = xmalloc((size_t)N * es);
    f32_to_dtype(dt, bv, bias, (size_t)N);

    static const float thresholds[3] = { 0.0f, 6.0f, 0.001f };
    for (int t = 0; t < 3; t++) {
        shape s = { dt, dt, M, K, N, thresholds[t], 0 };
        snprintf(d, sizeof d, "vectorwise_quant %s %lldx%lld threshold %g", dtype_str(dt),
                 (long long)M, (long long)K, (double)s.threshold);
        io q = { { x }, { (size_t)(M * K) * es },
                 { (size_t)(M * K), (size_t)M * 4, t ? (size_t)K * 8 : 0 } };
        both(d, &q, op_vq, &s);
        for (int p = 0; p < 2; p++) {
            s.prepared = p;
            snprintf(d, sizeof d, "linear_forward %s M=%lld K=%lld N=%lld threshold %g%s%s",
                     dtype_str(dt), (long long)M, (long long)K, (long long)N,
                     (double)s.threshold, t == 2 && K > 256 ? " (no gather)" : "",
                     p ? " prepared" : "");
            io f = { { x, cb, scb, bias },
                     { (size_t)(M * K) * es, (size_t)(N * K), (size_t)N * 4, (size_t)N * es },
                     { (size_t)(M * N) * es } };
            both(d, &f, op_fwd, &s);
        }
    }
    shape s = { dt, dt, M, K, N, 0.0f, 0 };
    snprintf(d, sizeof d, "quantize_weight %s %lldx%lld", dtype_str(dt), (long long)M,
             (long long)K);
    io qw = { { x }, { (size_t)(M * K) * es }, { (size_t)(M * K), (size_t)M * 4 } };
    both(d, &qw, op_qw, &s);
    snprintf(d, sizeof d, "dequantize_weight to %s %lldx%lld", dtype_str(dt), (long long)N,
             (long long)K);
    io dq = { { cb, scb }, { (size_t)(N * K), (size_t)N * 4 }, { (size_t)(N * K) * es } };
    both(d, &dq, op_dqw, &s);

    void *g = gen_x(dt, M, N, 1);
    for (int p = 0; p < 2; p++) {
        s.prepared = p;
        snprintf(d, sizeof d, "linear_backward %s M=%lld N=%lld K=%lld%s", dtype_str(dt),
                 (long long)M, (long long)N, (long long)K, p ? " prepared" : "");
        io b = { { g, cb, scb }, { (size_t)(M * N) * es, (size_t)(N * K), (size_t)N * 4 },
                 { (size_t)(M * K) * es } };
        both(d, &b, op_bwd, &s);
    }
    free(g), free(x), free(bias), free(bv), free(cb), free(scb);
}

static void gemm_case(int64_t M, int64_t K, int64_t N, const char *why)
{
    char d[160];
    shape s = { KBIT_F32, KBIT_F32, M, K, N, 0.0f, 0 };
    int8_t *a = gen_i8((size_t)(M * K)), *b = gen_i8((size_t)(N * K));
    snprintf(d, sizeof d, "matmul M=%lld K=%lld N=%lld%s", (long long)M, (long long)K,
             (long long)N, why);
    io v = { { a, b }, { (size_t)(M * K), (size_t)(N * K) }, { (size_t)(M * N) * 4 } };
    both(d, &v, op_mm, &s);
    free(a), free(b);
}

static void mm_dequant_cases(void)
{
    const int64_t M = 19, N = 37;
    int32_t *acc = xmalloc((size_t)(M * N) * 4);
    float *sca = xmalloc((size_t)M * 4), *scb = xmalloc((size_t)N * 4), *bv = xmalloc((size_t)N * 4);
    for (int64_t i = 0; i < M * N; i++)
        acc[i] = (int32_t)(rng_next(&R) >> 40) - (1 << 23);
    acc[0] = INT32_MAX, acc[1] = INT32_MIN;
    for (int64_t i = 0; i < M; i++)
        sca[i] = (float)fabs(rng_normal(&R) * 3);
    sca[0] = 0.0f;
    for (int64_t j = 0; j < N; j++)
        scb[j] = (float)fabs(rng_normal(&R) * 0.2), bv[j] = (float)rng_normal(&R);
    static const kbit_dtype dts[3] = { KBIT_F32, KBIT_F16, KBIT_BF16 };
    for (int o = 0; o < 3; o++)
        for (int bk = 0; bk < 4; bk++) {
            kbit_dtype bdt = bk ? dts[bk - 1] : KBIT_F32;
            void *bias = xmalloc((size_t)N * 4);
            f32_to_dtype(bdt, bv, bias, (size_t)N);
            shape s = { bdt, dts[o], M, 0, N, 0.0f, 0 };
            char d[120];
            snprintf(d, sizeof d, "mm_dequant %lldx%lld to %s, bias %s", (long long)M,
                     (long long)N, dtype_str(dts[o]), bk ? dtype_str(bdt) : "none");
            io v = { { acc, sca, scb, bk ? bias : NULL },
                     { (size_t)(M * N) * 4, (size_t)M * 4, (size_t)N * 4,
                       (size_t)N * kbit_dtype_size(bdt) },
                     { (size_t)(M * N) * kbit_dtype_size(dts[o]) } };
            both(d, &v, op_mmdq, &s);
            free(bias);
        }
    free(acc), free(sca), free(scb), free(bv);
}

/* More rows than groups (65536) in the quantization, with outliers. */
static void many_rows(void)
{
    const int64_t M = 70001, K = 3;
    void *x = gen_x(KBIT_F16, M, K, 1);
    shape s = { KBIT_F16, KBIT_F16, M, K, 1, 6.0f, 0 };
    io q = { { x }, { (size_t)(M * K) * 2 }, { (size_t)(M * K), (size_t)M * 4, (size_t)K * 8 } };
    both("vectorwise_quant f16 70001x3 threshold 6 (more rows than groups)", &q, op_vq, &s);
    free(x);
}

int main(void)
{
    seed_rng(0x696e74386f636cull);

    if (kbit_device_open("opencl:0", &devs[CL]) != KBIT_OK) {
        tap_skip("LLM.int8() on opencl:0", "%s", kbit_last_error());
        return tap_done();
    }
    if (kbit_device_supports(devs[CL], KBIT_FAMILY_INT8) != KBIT_OK) {
        tap_skip("LLM.int8() on opencl:0", "%s", kbit_last_error());
        kbit_device_close(devs[CL]);
        return tap_done();
    }
    devs[REF] = reference_open();

    layer_cases(KBIT_F16, 5, 300, 37);  /* gather (<= 256 outliers) and none (thr 0.001) */
    layer_cases(KBIT_BF16, 17, 70, 3);
    layer_cases(KBIT_F32, 2, 1, 20);
    gemm_case(33, 130, 40, " (3x3 tiles, 3 k slices)");
    gemm_case(4160, 3, 4080, " (66300 tiles: more than groups)");
    mm_dequant_cases();
    many_rows();

    kbit_device_close(devs[REF]);
    kbit_device_close(devs[CL]);
    return tap_done();
}
