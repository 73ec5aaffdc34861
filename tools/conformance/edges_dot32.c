/* tools/conformance/edges_dot32.c - the row ends of dot32 (doc/determinism.md
 * 3 and 3.1) through every public op that reduces with it, on every target
 * that runs the family, against a literal dot32 written here from the text
 * of the contract (kbit conformance --family gemm4 / int8).
 *
 * The cases aim at what only the exact rule decides: the sign of a zero. A
 * negative product that underflows leaves a lane at -0.0; then
 *   - the padding elements of a last partial chunk go through the fma, and
 *     fma(+0, +0, -0.0) = +0.0;
 *   - the fold runs over all 32 lanes, and a lane that never had a chunk is
 *     +0.0, so -0.0 + +0.0 = +0.0;
 * and only a reduction length that is a multiple of 8 and >= 256 keeps -0.0.
 * Lengths 1, 7, 8, 9, 100, 255, 256, 257 (one chunk, one lane, the padded
 * and unpadded ends, all 32 lanes used). Each matrix has a row whose products
 * all underflow - with every product negative, every product positive, zero
 * weights, or mixed signs, where a lane ends with the sign of its last
 * product - and a row of normal values (the order of the fold).
 *
 * Ops: kbit_int8_linear_backward (dot32 over n), the outlier part of
 * kbit_int8_linear_forward (dot32 over the outlier columns; inputs chosen so
 * that the int8 part is -0.0 and the sign of the outlier sum shows),
 * kbit_gemm_4bit (over k) and kbit_gemm_4bit_backward (over n); F32 and
 * BF16 activations, and F16 for the 4-bit ops (an fp16 activation times a
 * denormal fp32 weight can underflow; an fp16-rounded int8 weight cannot).
 * One TAP line per op and target, and one per op that checks that the cases
 * do produce both -0.0 and +0.0 from all-underflow rows (a check that cannot
 * tell the two apart would prove nothing). */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kbit-formats.h"
#include "devices.h"
#include "devmem.h"
#include "edges.h"
#include "harness.h"
#include "numbers.h"
#include "tap.h"

static const int64_t lengths[] = { 1, 7, 8, 9, 100, 255, 256, 257 };
#define NLENGTHS ((int)(sizeof lengths / sizeof lengths[0]))
/* The other dimension: crosses a 16-wide group, an 8-wide group and a tail. */
#define WIDTH 37
#define ROWS 2 /* row 0: underflowing products; row 1: normal values */

enum { OP_INT8_BWD, OP_INT8_FWD, OP_GEMM4_FWD, OP_GEMM4_BWD, NOPS };
static const char *op_names[NOPS] = { "int8_linear_backward", "int8_linear_forward outliers",
                                      "gemm_4bit", "gemm_4bit_backward" };

static const conf_run *the_run;
static conf_tally tallies[NOPS][CONF_MAX_TARGETS];
static size_t want_neg_zero[NOPS], want_pos_zero[NOPS];
static kbit_device *ref_dev;
static rng R;

/* ------------------------------------------------------------------ */
/* dot32, literally (determinism 3): chunks c = 0 .. ceil(K/8)-1 of 8
 * elements, elements past K are +0.0 and go through the fma; chunk c to lane
 * c mod 32 in increasing c; fold h = 16, 8, 4, 2, 1 over all 32 lanes. a and
 * w are read with strides. */
static float dot32_literal(const float *a, int64_t as, const float *w, int64_t ws, int64_t K)
{
    float s[32];
    for (int l = 0; l < 32; l++)
        s[l] = 0.0f;
    for (int64_t c = 0; c < (K + 7) / 8; c++)
        for (int64_t k = 8 * c; k < 8 * c + 8; k++) {
            float ak = k < K ? a[k * as] : 0.0f, wk = k < K ? w[k * ws] : 0.0f;
            s[c % 32] = fmaf(wk, ak, s[c % 32]);
        }
    for (int h = 16; h >= 1; h /= 2)
        for (int l = 0; l < h; l++)
            s[l] = s[l] + s[l + h];
    return s[0];
}

/* ------------------------------------------------------------------ */

/* Signs of the weights along a reduction, by the index of the other
 * dimension: all positive (the underflow row's products are all negative),
 * mixed, all negative, zero. */
static int sign_pattern(int64_t other)
{
    switch (other % 4) {
    case 0: return 1;
    case 1: return (int)rng_below(&R, 3) - 1;
    case 2: return -1;
    default: return 0;
    }
}

/* Count the zeros of row 0 of want (F32 values, n of them). */
static void count_zeros(int op, const float *want0, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (want0[i] == 0.0f) {
            if (signbit(want0[i]))
                want_neg_zero[op]++;
            else
                want_pos_zero[op]++;
        }
}

/* Compare the outputs of every target (run(dev, out) fills out, host, in
 * dtype) with want (fp32 values to be rounded to dtype). */
typedef kbit_status (*run_fn)(kbit_device *dev, const void *ctx, void *out);

static void check_everywhere(int op, const char *desc, kbit_dtype dtype, const float *want,
                             int64_t count, run_fn run, const void *ctx)
{
    size_t es = kbit_dtype_size(dtype);
    void *want_t = conf_xmalloc((size_t)count * es), *got = conf_xmalloc((size_t)count * es);
    f32_to_dtype(dtype, want, want_t, (size_t)count);
    for (int t = 0; t < the_run->ntargets; t++) {
        kbit_device *dev = conf_dev(the_run, t);
        if (dev == NULL)
            continue;
        conf_tally *ty = &tallies[op][t];
        ty->cases++;
        memset(got, 0xa5, (size_t)count * es);
        if (run(dev, ctx, got) != KBIT_OK) {
            ty->errors++;
            tap_diag("%s %s on %s: %s", op_names[op], desc, the_run->targets[t].label,
                     kbit_last_error());
            continue;
        }
        ty->elements += (size_t)count;
        char what[300];
        snprintf(what, sizeof what, "%s %.100s on %.100s", op_names[op], desc,
                 the_run->targets[t].label);
        ty->mismatches += tap_cmp_dtype((int)dtype, got, want_t, (size_t)count, what);
    }
    free(want_t);
    free(got);
}

/* ------------------------------------------------------------------ */
/* LLM.int8(): CB[N,K] int8, SCB[N]; w = f32(T((f32(CB) * SCB) * 1/127)).   */

static float int8_weight(int8_t cb, float scb, kbit_dtype dtype)
{
    return dtype_round(dtype, ((float)cb * scb) * f32_from_bits(KBIT_INT8_INV127_BITS));
}

typedef struct int8_case {
    kbit_dtype dtype;
    int64_t M, N, K;
    void *act;     /* dOut[M,N] (backward) or X[M,K] (forward), in dtype */
    int8_t *CB;    /* [N,K] */
    float *SCB;    /* [N] */
    float threshold;
} int8_case;

static kbit_status run_int8(kbit_device *dev, const int8_case *c, int forward, void *out)
{
    size_t es = kbit_dtype_size(c->dtype);
    size_t act_bytes = (size_t)(c->M * (forward ? c->K : c->N)) * es;
    size_t out_bytes = (size_t)(c->M * (forward ? c->N : c->K)) * es;
    void *act = dev_upload(dev, c->act, act_bytes);
    void *cb = dev_upload(dev, c->CB, (size_t)(c->N * c->K));
    void *scb = dev_upload(dev, c->SCB, (size_t)c->N * 4);
    void *o = dev_alloc_fill(dev, out_bytes, 0xee);
    kbit_status st =
        forward ? kbit_int8_linear_forward(dev, c->dtype, act, c->M, c->K, cb, scb, c->N,
                                           c->threshold, NULL, o)
                : kbit_int8_linear_backward(dev, c->dtype, act, c->M, c->N, cb, scb, c->K, o);
    if (st == KBIT_OK)
        dev_download(dev, out, o, out_bytes);
    dev_free(dev, act);
    dev_free(dev, cb);
    dev_free(dev, scb);
    dev_free(dev, o);
    return st;
}

static kbit_status run_int8_bwd(kbit_device *dev, const void *ctx, void *out)
{
    return run_int8(dev, ctx, 0, out);
}

static kbit_status run_int8_fwd(kbit_device *dev, const void *ctx, void *out)
{
    return run_int8(dev, ctx, 1, out);
}

/* dX = T(dot32 over n of dOut[m,n] and w[n,k]): N is the length. Row 0 of
 * dOut is -1e-30, the weights about +-1e-30 (or 0): every product
 * underflows. */
static void case_int8_backward(kbit_dtype dtype, int64_t N)
{
    const int64_t M = ROWS, K = WIDTH;
    int8_case c = { dtype, M, N, K, NULL, conf_xmalloc((size_t)(N * K)), conf_xmalloc((size_t)N * 4), 0 };
    float *dout = conf_xmalloc((size_t)(M * N) * 4);
    for (int64_t n = 0; n < N; n++) {
        c.SCB[n] = 127e-30f * (1.0f + 0.01f * (float)rng_below(&R, 50));
        dout[n] = -1e-30f;
        dout[N + n] = (float)rng_normal(&R);
    }
    for (int64_t k = 0; k < K; k++)
        for (int64_t n = 0; n < N; n++)
            c.CB[n * K + k] = (int8_t)(sign_pattern(k) * (int)(1 + rng_below(&R, 3)));
    c.act = conf_xmalloc((size_t)(M * N) * kbit_dtype_size(dtype));
    f32_to_dtype(dtype, dout, c.act, (size_t)(M * N));

    /* the test's side: a = f32(T(dOut)), w = f32(T(weight)) column by column */
    float *a = conf_xmalloc((size_t)(M * N) * 4), *w = conf_xmalloc((size_t)(N * K) * 4);
    float *want = conf_xmalloc((size_t)(M * K) * 4);
    for (int64_t i = 0; i < M * N; i++)
        a[i] = dtype_load(dtype, c.act, (size_t)i);
    for (int64_t n = 0; n < N; n++)
        for (int64_t k = 0; k < K; k++)
            w[n * K + k] = int8_weight(c.CB[n * K + k], c.SCB[n], dtype);
    for (int64_t m = 0; m < M; m++)
        for (int64_t k = 0; k < K; k++)
            want[m * K + k] = dot32_literal(a + m * N, 1, w + k, K, N);
    count_zeros(OP_INT8_BWD, want, K);

    char desc[120];
    snprintf(desc, sizeof desc, "%s N=%lld", dtype_str(dtype), (long long)N);
    check_everywhere(OP_INT8_BWD, desc, dtype, want, M * K, run_int8_bwd, &c);
    free(dout), free(a), free(w), free(want), free(c.act), free(c.CB), free(c.SCB);
}

/* The forward with n_out outlier columns (the length) and one more column
 * that is not an outlier: X[m,oc] about -1e-5 (F32) or -4e-6 (BF16),
 * threshold 1e-6, the other column -2^-24 (so its code is -127 with SCA =
 * 2^-24) and SCB tiny (1e-39, 1.2e-38), so that
 *   - the outlier products underflow (weights about 8e-42 or 9e-41), and
 *   - the int8 part, (-127 * 2^-24 * SCB) / 127^2, underflows to -0.0,
 * and Y = T(-0.0 + r) shows the sign of r. The expected int8 part comes from
 * the reference device's vectorwise_quant, matmul and mm_dequant (their own
 * conformance tests cover them); the outlier sum from the literal dot32. */
static void case_int8_forward(kbit_dtype dtype, int64_t n_out)
{
    const int64_t M = ROWS, N = WIDTH, K = n_out + 1, plain = n_out / 2;
    const float big = dtype == KBIT_BF16 ? -4e-6f : -1e-5f;
    const float scb = dtype == KBIT_BF16 ? 1.2e-38f : 1e-39f;
    const int maxw = dtype == KBIT_BF16 ? 1 : 3; /* |CB| that still underflows */
    int8_case c = { dtype, M, N, K, NULL, conf_xmalloc((size_t)(N * K)), conf_xmalloc((size_t)N * 4), 1e-6f };
    float *x = conf_xmalloc((size_t)(M * K) * 4);
    for (int64_t k = 0; k < K; k++) {
        x[k] = k == plain ? -0x1p-24f : big;
        x[K + k] = k == plain ? 0x1p-24f : (float)rng_normal(&R);
    }
    for (int64_t j = 0; j < N; j++) {
        c.SCB[j] = scb;
        for (int64_t k = 0; k < K; k++)
            c.CB[j * K + k] = k == plain ? 1
                                         : (int8_t)(sign_pattern(j) * (int)(1 + rng_below(&R, (uint32_t)maxw)));
    }
    c.act = conf_xmalloc((size_t)(M * K) * kbit_dtype_size(dtype));
    f32_to_dtype(dtype, x, c.act, (size_t)(M * K));

    /* the int8 part on the reference device */
    size_t es = kbit_dtype_size(dtype);
    void *x_d = dev_upload(ref_dev, c.act, (size_t)(M * K) * es);
    void *cb_d = dev_upload(ref_dev, c.CB, (size_t)(N * K));
    void *scb_d = dev_upload(ref_dev, c.SCB, (size_t)N * 4);
    void *ca_d = dev_alloc(ref_dev, (size_t)(M * K)), *sca_d = dev_alloc(ref_dev, (size_t)M * 4);
    void *oc_d = dev_alloc(ref_dev, (size_t)K * 8), *acc_d = dev_alloc(ref_dev, (size_t)(M * N) * 4);
    void *y_d = dev_alloc(ref_dev, (size_t)(M * N) * es);
    int64_t count = -1, *oc = conf_xmalloc((size_t)K * 8);
    if (kbit_int8_vectorwise_quant(ref_dev, dtype, x_d, M, K, c.threshold, ca_d, sca_d, oc_d,
                                   &count) != KBIT_OK ||
        kbit_int8_matmul(ref_dev, ca_d, cb_d, M, N, K, acc_d) != KBIT_OK ||
        kbit_int8_mm_dequant(ref_dev, acc_d, sca_d, scb_d, M, N, NULL, dtype, dtype, y_d) != KBIT_OK)
        tap_bail("int8 reference pipeline: %s", kbit_last_error());
    if (count != n_out)
        tap_bail("int8 forward case %lld: %lld outlier columns", (long long)n_out, (long long)count);
    void *yint8 = conf_xmalloc((size_t)(M * N) * es);
    dev_download(ref_dev, yint8, y_d, (size_t)(M * N) * es);
    dev_download(ref_dev, oc, oc_d, (size_t)count * 8);

    float *a = conf_xmalloc((size_t)n_out * 4), *w = conf_xmalloc((size_t)n_out * 4);
    float *want = conf_xmalloc((size_t)(M * N) * 4);
    int int8_part_neg_zero = 1;
    for (int64_t m = 0; m < M; m++)
        for (int64_t j = 0; j < N; j++) {
            for (int64_t i = 0; i < n_out; i++) {
                a[i] = dtype_load(dtype, c.act, (size_t)(m * K + oc[i]));
                w[i] = int8_weight(c.CB[j * K + oc[i]], c.SCB[j], dtype);
            }
            float y = dtype_load(dtype, yint8, (size_t)(m * N + j));
            if (m == 0 && !(y == 0.0f && signbit(y)))
                int8_part_neg_zero = 0;
            want[m * N + j] = dtype_round(dtype, y + dot32_literal(a, 1, w, 1, n_out));
        }
    if (!int8_part_neg_zero)
        tap_bail("int8 forward case %lld: the int8 part of row 0 is not -0.0", (long long)n_out);
    count_zeros(OP_INT8_FWD, want, N);

    char desc[120];
    snprintf(desc, sizeof desc, "%s n_out=%lld", dtype_str(dtype), (long long)n_out);
    check_everywhere(OP_INT8_FWD, desc, dtype, want, M * N, run_int8_fwd, &c);
    dev_free(ref_dev, x_d), dev_free(ref_dev, cb_d), dev_free(ref_dev, scb_d);
    dev_free(ref_dev, ca_d), dev_free(ref_dev, sca_d), dev_free(ref_dev, oc_d);
    dev_free(ref_dev, acc_d), dev_free(ref_dev, y_d);
    free(x), free(oc), free(yint8), free(a), free(w), free(want), free(c.act), free(c.CB),
        free(c.SCB);
}

/* ------------------------------------------------------------------ */
/* 4-bit: NF4 weight [N,K], blocksize 64, plain absmax; w = DEC[q] * absmax. */

#define GEMM4_BLOCK 64

typedef struct gemm4_case {
    kbit_dtype dtype;
    int backward;
    int64_t M, N, K;
    void *act;       /* A[M,K] or dOut[M,N], in dtype */
    uint8_t *packed; /* ceil(N*K/2) */
    float *absmax;   /* nblocks */
} gemm4_case;

static kbit_status run_gemm4(kbit_device *dev, const void *ctx, void *out)
{
    const gemm4_case *c = ctx;
    size_t es = kbit_dtype_size(c->dtype);
    int64_t shape[2] = { c->N, c->K }, nblocks = (c->N * c->K + GEMM4_BLOCK - 1) / GEMM4_BLOCK;
    kbit_quant_state qs;
    if (kbit_quant_state_init(&qs, KBIT_NF4, KBIT_F32, 2, shape, GEMM4_BLOCK, 0) != KBIT_OK)
        return KBIT_EINVAL;
    size_t act_bytes = (size_t)(c->M * (c->backward ? c->N : c->K)) * es;
    size_t out_bytes = (size_t)(c->M * (c->backward ? c->K : c->N)) * es;
    void *act = dev_upload(dev, c->act, act_bytes);
    void *packed = dev_upload(dev, c->packed, (size_t)((c->N * c->K + 1) / 2));
    qs.absmax = dev_upload(dev, c->absmax, (size_t)nblocks * 4);
    void *o = dev_alloc_fill(dev, out_bytes, 0xee);
    kbit_status st = c->backward
                         ? kbit_gemm_4bit_backward(dev, act, c->dtype, c->M, packed, &qs, o)
                         : kbit_gemm_4bit(dev, act, c->dtype, c->M, packed, &qs, NULL, o);
    if (st == KBIT_OK)
        dev_download(dev, out, o, out_bytes);
    dev_free(dev, act);
    dev_free(dev, packed);
    dev_free(dev, qs.absmax);
    dev_free(dev, o);
    return st;
}

/* NF4 codes 15 (+1.0), 0 (-1.0), 7 (0.0) and a random one. */
static unsigned nf4_code_of(int sign)
{
    if (sign > 0)
        return 15;
    if (sign < 0)
        return 0;
    return rng_below(&R, 2) ? 7 : rng_below(&R, 16);
}

/* Row 0 of the activation is -1e-30 (F32, BF16) or -2^-24 (F16), the absmax
 * 1e-30 or 1e-39: every product of row 0 underflows. len is K (forward) or
 * N (backward); the other dimension is WIDTH. */
static void case_gemm4(kbit_dtype dtype, int backward, int64_t len)
{
    static const uint32_t nf4_bits[16] = { KBIT_NF4_BITS_INIT };
    const int64_t M = ROWS, N = backward ? len : WIDTH, K = backward ? WIDTH : len;
    const int64_t nblocks = (N * K + GEMM4_BLOCK - 1) / GEMM4_BLOCK, red = backward ? N : K;
    const float tiny_a = dtype == KBIT_F16 ? -0x1p-24f : -1e-30f;
    const float absmax = dtype == KBIT_F16 ? 1e-39f : 1e-30f;
    gemm4_case c = { dtype, backward, M, N, K, NULL, conf_xmalloc((size_t)((N * K + 1) / 2)),
                     conf_xmalloc((size_t)nblocks * 4) };
    for (int64_t b = 0; b < nblocks; b++)
        c.absmax[b] = absmax;
    float *w = conf_xmalloc((size_t)(N * K) * 4);
    memset(c.packed, 0, (size_t)((N * K + 1) / 2));
    for (int64_t n = 0; n < N; n++)
        for (int64_t k = 0; k < K; k++) {
            int64_t i = n * K + k;
            unsigned q = nf4_code_of(sign_pattern(backward ? k : n));
            c.packed[i / 2] |= (uint8_t)(i % 2 ? q : q << 4);
            w[i] = f32_from_bits(nf4_bits[q]) * c.absmax[i / GEMM4_BLOCK];
        }
    float *act = conf_xmalloc((size_t)(M * red) * 4);
    for (int64_t i = 0; i < red; i++) {
        act[i] = tiny_a;
        act[red + i] = (float)rng_normal(&R);
    }
    c.act = conf_xmalloc((size_t)(M * red) * kbit_dtype_size(dtype));
    f32_to_dtype(dtype, act, c.act, (size_t)(M * red));
    for (int64_t i = 0; i < M * red; i++)
        act[i] = dtype_load(dtype, c.act, (size_t)i);

    const int64_t outs = backward ? K : N;
    float *want = conf_xmalloc((size_t)(M * outs) * 4);
    for (int64_t m = 0; m < M; m++)
        for (int64_t o = 0; o < outs; o++)
            want[m * outs + o] = backward ? dot32_literal(act + m * N, 1, w + o, K, N)
                                          : dot32_literal(act + m * K, 1, w + o * K, 1, K);
    int op = backward ? OP_GEMM4_BWD : OP_GEMM4_FWD;
    count_zeros(op, want, outs);

    char desc[120];
    snprintf(desc, sizeof desc, "%s %s=%lld", dtype_str(dtype), backward ? "N" : "K",
             (long long)len);
    check_everywhere(op, desc, dtype, want, M * outs, run_gemm4, &c);
    free(w), free(act), free(want), free(c.act), free(c.packed), free(c.absmax);
}

/* ------------------------------------------------------------------ */

/* The verdicts of the ops in [op0, op1). */
static void report(int op0, int op1)
{
    for (int op = op0; op < op1; op++) {
        tap_ok(want_neg_zero[op] > 0 && want_pos_zero[op] > 0,
               "%s: %s: the all-underflow rows give -0.0 (%zu outputs) and +0.0 (%zu outputs)",
               kbit_family_name(the_run->family), op_names[op], want_neg_zero[op],
               want_pos_zero[op]);
        char check[80];
        snprintf(check, sizeof check, "%s row ends (literal dot32)", op_names[op]);
        conf_report(the_run, check, tallies[op], "elements", NULL);
    }
}

static void start(const conf_run *run, uint64_t seed)
{
    the_run = run;
    ref_dev = run->ref;
    memset(tallies, 0, sizeof tallies);
    memset(want_neg_zero, 0, sizeof want_neg_zero);
    memset(want_pos_zero, 0, sizeof want_pos_zero);
    rng_seed(&R, conf_seed(run, seed));
}

void conf_edges_int8(const conf_run *run)
{
    start(run, 0xd0732edull);
    const kbit_dtype dtypes[2] = { KBIT_F32, KBIT_BF16 };
    for (int l = 0; l < NLENGTHS; l++)
        for (int d = 0; d < 2; d++) {
            case_int8_backward(dtypes[d], lengths[l]);
            case_int8_forward(dtypes[d], lengths[l]);
        }
    report(OP_INT8_BWD, OP_INT8_FWD + 1);
}

void conf_edges_gemm4(const conf_run *run)
{
    start(run, 0xd0732ee0ull);
    const kbit_dtype dtypes[3] = { KBIT_F32, KBIT_F16, KBIT_BF16 };
    for (int l = 0; l < NLENGTHS; l++)
        for (int d = 0; d < 3; d++) {
            case_gemm4(dtypes[d], 0, lengths[l]);
            case_gemm4(dtypes[d], 1, lengths[l]);
        }
    report(OP_GEMM4_FWD, OP_GEMM4_BWD + 1);
}
