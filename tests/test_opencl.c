/* tests/test_opencl.c - what is particular to the OpenCL driver
 * (kbit-opencl.so) on opencl:0 (PoCL in CI). The numbers of every family are
 * `kbit conformance`'s (make check runs it on opencl:0: the golden vectors and
 * the randomized cases, bit for bit against the scalar reference); this
 * program checks, against the reference (the CPU driver forced to scalar, one
 * thread) where there are numbers:
 *
 *  1. every op of QUANT4 and QUANT8 with its buffers at an offset into their
 *     allocations (the driver's (cl_mem, offset) arguments), on blocks of
 *     edge values (+-0, denormals, +-inf, NaN, largest finite, exact
 *     thresholds / midpoints / codes and +-1 ulp at power-of-two absmax);
 *     and the GEMM4 forward and backward with every buffer at an offset;
 *  2. the block_sums and pairsum slots directly (fp64 results, counts whose
 *     trees carry odd elements at many levels) against numerics/pairsum.h;
 *  3. device info, memory kinds (pinned host memory; managed: ENOTSUP),
 *     pointers the driver does not own, copies, streams (a queue of kbit's
 *     context, one of another context, an out-of-order one), bad input and
 *     empty shapes;
 *  4. with KBIT_TEST_LARGE=1, a 2^31-element case (quantize and dequantize,
 *     bf16: 4 GiB, the most PoCL 3.1 allocates at once, so n > 2^31 with
 *     16-bit data cannot be one buffer there), when the device has the
 *     memory. Off by default: on this 2-core machine it takes about 130 s
 *     and 5.5 GiB (measured: 74 s quantize, 40 s dequantize, 0 mismatches).
 *
 * Outputs are pre-filled with different bytes on the two devices, so an
 * element that either leaves unwritten is a mismatch. KBIT_TEST_SEED changes
 * the seed. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


#include "backends/opencl/handles.h"
#include "clutil.h"
#include "kbit-formats.h"
#include "numerics/pairsum.h"
#include "runtime/device.h"
#include "tap.h"
#include "testutil.h"

typedef struct stats {
    int cases;
    size_t elements, mismatches;
    int errors;
} stats;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static size_t dsize(kbit_dtype d)
{
    return d == KBIT_F32 ? 4 : 2;
}

/* ------------------------------------------------------------------ */
/* Device buffers at an offset                                          */

static void down(int w, void *host, const void *p, size_t bytes)
{
    dev_download(devs[w], host, p, bytes);
}

/* ------------------------------------------------------------------ */
/* The ops on one device, host data in and out                          */

static kbit_status q4(int w, kbit_quant_type type, kbit_dtype dtype, const void *x, int64_t n,
                      int bs, uint8_t *packed, float *absmax)
{
    size_t pb = (size_t)(n + 1) / 2, ab = (size_t)kbit_nblocks(n, bs) * 4;
    void *dx = up(w, x, (size_t)n * dsize(dtype));
    uint8_t *dp = outbuf(w, pb);
    float *da = outbuf(w, ab);
    kbit_status st = kbit_quantize_4bit(devs[w], type, dtype, dx, n, bs, dp, da);
    down(w, packed, dp, pb);
    down(w, absmax, da, ab);
    rel(w, dx);
    rel(w, dp);
    rel(w, da);
    return st;
}

static kbit_status dq4(int w, kbit_quant_type type, const uint8_t *packed, const float *absmax,
                       int64_t n, int bs, kbit_dtype out_dtype, void *out)
{
    void *dp = up(w, packed, (size_t)(n + 1) / 2);
    void *da = up(w, absmax, (size_t)kbit_nblocks(n, bs) * 4);
    void *dout = outbuf(w, (size_t)n * dsize(out_dtype));
    kbit_status st = kbit_dequantize_4bit(devs[w], type, dp, da, n, bs, out_dtype, dout);
    down(w, out, dout, (size_t)n * dsize(out_dtype));
    rel(w, dp);
    rel(w, da);
    rel(w, dout);
    return st;
}

static kbit_status q8(int w, kbit_dtype dtype, const void *x, int64_t n, int bs,
                      const float *code, uint8_t *q, float *absmax)
{
    size_t ab = (size_t)kbit_nblocks(n, bs) * 4;
    void *dx = up(w, x, (size_t)n * dsize(dtype));
    uint8_t *dq = outbuf(w, (size_t)n);
    float *da = outbuf(w, ab);
    kbit_status st = kbit_quantize_8bit(devs[w], dtype, dx, n, bs, code, dq, da);
    down(w, q, dq, (size_t)n);
    down(w, absmax, da, ab);
    rel(w, dx);
    rel(w, dq);
    rel(w, da);
    return st;
}

static kbit_status dq8(int w, const uint8_t *q, const float *absmax, int64_t n, int bs,
                       const float *code, kbit_dtype out_dtype, void *out)
{
    void *dq = up(w, q, (size_t)n);
    void *da = up(w, absmax, (size_t)kbit_nblocks(n, bs) * 4);
    void *dout = outbuf(w, (size_t)n * dsize(out_dtype));
    kbit_status st = kbit_dequantize_8bit(devs[w], dq, da, n, bs, code, out_dtype, dout);
    down(w, out, dout, (size_t)n * dsize(out_dtype));
    rel(w, dq);
    rel(w, da);
    rel(w, dout);
    return st;
}

static kbit_status nq(int w, const float *absmax, int64_t nblocks, uint8_t *qabsmax,
                      float *absmax2, float *offset)
{
    size_t a2 = (size_t)kbit_nblocks(nblocks, KBIT_NESTED_BLOCKSIZE) * 4;
    void *da = up(w, absmax, (size_t)nblocks * 4);
    uint8_t *dq = outbuf(w, (size_t)nblocks);
    float *d2 = outbuf(w, a2);
    kbit_status st = kbit_nested_quantize(devs[w], da, nblocks, dq, d2, offset);
    down(w, qabsmax, dq, (size_t)nblocks);
    down(w, absmax2, d2, a2);
    rel(w, da);
    rel(w, dq);
    rel(w, d2);
    return st;
}

static kbit_status ndq(int w, const uint8_t *qabsmax, const float *absmax2, const float *code2,
                       float offset, int64_t nblocks, float *out)
{
    void *dq = up(w, qabsmax, (size_t)nblocks);
    void *d2 = up(w, absmax2, (size_t)kbit_nblocks(nblocks, KBIT_NESTED_BLOCKSIZE) * 4);
    float *dout = outbuf(w, (size_t)nblocks * 4);
    kbit_status st = kbit_nested_dequantize(devs[w], dq, d2, code2, offset, nblocks, dout);
    down(w, out, dout, (size_t)nblocks * 4);
    rel(w, dq);
    rel(w, d2);
    rel(w, dout);
    return st;
}

/* ------------------------------------------------------------------ */
/* Comparing                                                            */

/* got (opencl:0) against ref and, when not NULL, the golden `want`; code:
 * tap_cmp_dtype's (0 f32, 1 f16, 2 bf16, 3 u8). */
static void compare(stats *s, const char *what, int code, const void *got, const void *ref,
                    const void *want, size_t n)
{
    s->elements += n;
    s->mismatches += tap_cmp_dtype(code, got, ref, n, what);
    if (want != NULL)
        s->mismatches += tap_cmp_dtype(code, got, want, n, what);
}

static int statuses(stats *s, const char *what, kbit_status a, kbit_status b)
{
    if (a == KBIT_OK && b == KBIT_OK)
        return 1;
    s->errors++;
    tap_diag("%s: ref %s, opencl:0 %s (%s)", what, kbit_strerror(a), kbit_strerror(b),
             kbit_last_error());
    return 0;
}

static void verdict(const stats *s, const char *what)
{
    tap_ok(s->cases > 0 && s->mismatches == 0 && s->errors == 0,
           "%s: %d cases, %zu elements, %zu mismatches, %d errors", what, s->cases, s->elements,
           s->mismatches, s->errors);
}

/* Both devices through the 4-bit ops: quantize (when x), then dequantize of
 * the packed data to every dtype. want_*: golden outputs or NULL. */
static void both_q4(stats *s, const char *label, kbit_quant_type type, kbit_dtype dtype,
                    const void *x, int64_t n, int bs, const uint8_t *want_packed,
                    const float *want_absmax, const void *const want_dq[3])
{
    size_t pb = (size_t)(n + 1) / 2, nb = (size_t)kbit_nblocks(n, bs);
    uint8_t *p[2] = { xmalloc(pb), xmalloc(pb) };
    float *a[2] = { xmalloc(nb * 4), xmalloc(nb * 4) };
    char what[256];
    s->cases++;
    snprintf(what, sizeof what, "%s quantize_4bit", label);
    if (statuses(s, what, q4(REF, type, dtype, x, n, bs, p[0], a[0]),
                 q4(CL, type, dtype, x, n, bs, p[1], a[1]))) {
        compare(s, what, 3, p[1], p[0], want_packed, pb);
        compare(s, what, 0, a[1], a[0], want_absmax, nb);
    }
    for (int od = 0; od < 3; od++) {
        size_t ob = (size_t)n * dsize((kbit_dtype)od);
        void *o[2] = { xmalloc(ob), xmalloc(ob) };
        snprintf(what, sizeof what, "%s dequantize_4bit to %s", label, dtype_str((kbit_dtype)od));
        if (statuses(s, what, dq4(REF, type, p[0], a[0], n, bs, (kbit_dtype)od, o[0]),
                     dq4(CL, type, p[0], a[0], n, bs, (kbit_dtype)od, o[1])))
            compare(s, what, od, o[1], o[0], want_dq ? want_dq[od] : NULL, (size_t)n);
        free(o[0]);
        free(o[1]);
    }
    free(p[0]); free(p[1]); free(a[0]); free(a[1]);
}

static void both_q8(stats *s, const char *label, kbit_dtype dtype, const void *x, int64_t n,
                    int bs, const float *code, const uint8_t *want_q, const float *want_absmax,
                    const void *const want_dq[3])
{
    size_t nb = (size_t)kbit_nblocks(n, bs);
    uint8_t *q[2] = { xmalloc((size_t)n), xmalloc((size_t)n) };
    float *a[2] = { xmalloc(nb * 4), xmalloc(nb * 4) };
    char what[256];
    s->cases++;
    snprintf(what, sizeof what, "%s quantize_8bit", label);
    if (statuses(s, what, q8(REF, dtype, x, n, bs, code, q[0], a[0]),
                 q8(CL, dtype, x, n, bs, code, q[1], a[1]))) {
        compare(s, what, 3, q[1], q[0], want_q, (size_t)n);
        compare(s, what, 0, a[1], a[0], want_absmax, nb);
    }
    for (int od = 0; od < 3; od++) {
        size_t ob = (size_t)n * dsize((kbit_dtype)od);
        void *o[2] = { xmalloc(ob), xmalloc(ob) };
        snprintf(what, sizeof what, "%s dequantize_8bit to %s", label, dtype_str((kbit_dtype)od));
        if (statuses(s, what, dq8(REF, q[0], a[0], n, bs, code, (kbit_dtype)od, o[0]),
                     dq8(CL, q[0], a[0], n, bs, code, (kbit_dtype)od, o[1])))
            compare(s, what, od, o[1], o[0], want_dq ? want_dq[od] : NULL, (size_t)n);
        free(o[0]);
        free(o[1]);
    }
    free(q[0]); free(q[1]); free(a[0]); free(a[1]);
}

/* Nested: absmax -> (qabsmax, absmax2, offset) -> absmax_rec on both. */
static void both_nested(stats *s, const char *label, const float *absmax, int64_t nblocks,
                        const uint8_t *want_q, const float *want_a2, const float *want_offset,
                        const float *want_rec, float *rec_out)
{
    size_t n2 = (size_t)kbit_nblocks(nblocks, KBIT_NESTED_BLOCKSIZE);
    uint8_t *q[2] = { xmalloc((size_t)nblocks), xmalloc((size_t)nblocks) };
    float *a2[2] = { xmalloc(n2 * 4), xmalloc(n2 * 4) };
    float *r[2] = { xmalloc((size_t)nblocks * 4), xmalloc((size_t)nblocks * 4) };
    float off[2] = { 0.0f, 0.0f };
    char what[256];
    s->cases++;
    snprintf(what, sizeof what, "%s nested_quantize", label);
    if (statuses(s, what, nq(REF, absmax, nblocks, q[0], a2[0], &off[0]),
                 nq(CL, absmax, nblocks, q[1], a2[1], &off[1]))) {
        compare(s, what, 0, &off[1], &off[0], want_offset, 1);
        compare(s, what, 3, q[1], q[0], want_q, (size_t)nblocks);
        compare(s, what, 0, a2[1], a2[0], want_a2, n2);
        snprintf(what, sizeof what, "%s nested_dequantize", label);
        if (statuses(s, what, ndq(REF, q[0], a2[0], NULL, off[0], nblocks, r[0]),
                     ndq(CL, q[0], a2[0], NULL, off[0], nblocks, r[1]))) {
            compare(s, what, 0, r[1], r[0], want_rec, (size_t)nblocks);
            if (rec_out)
                memcpy(rec_out, r[0], (size_t)nblocks * 4);
        }
    }
    free(q[0]); free(q[1]); free(a2[0]); free(a2[1]); free(r[0]); free(r[1]);
}

/* ------------------------------------------------------------------ */
/* 1. Buffers at offsets                                                  */

static float pool[1200]; /* normalised thresholds, midpoints and codes */
static int pool_n;

static void pool_add(float v)
{
    if (pool_n < 1200 && fabsf(v) <= 1.0f)
        pool[pool_n++] = v;
}

static void build_pool(void)
{
    static const uint32_t t4[] = { KBIT_NF4_THRESHOLD_BITS_INIT, KBIT_NF4_BITS_INIT,
                                   KBIT_FP4_THRESHOLD_BITS_INIT, KBIT_FP4_MAGNITUDE_BITS_INIT };
    for (size_t i = 0; i < sizeof t4 / sizeof t4[0]; i++) {
        pool_add(f32_from_bits(t4[i]));
        pool_add(-f32_from_bits(t4[i]));
    }
    for (int m = 0; m < 2; m++) {
        const float *c = kbit_dynamic_map(m ? KBIT_MAP_UNSIGNED : KBIT_MAP_SIGNED);
        for (int i = 0; i < 255; i++)
            pool_add((c[i] + c[i + 1]) * 0.5f);
        for (int i = 0; i < 256; i += 2)
            pool_add(c[i]);
    }
}

/* One element of an edge-value block. */
static float special(kbit_dtype dtype)
{
    float sign = rng_below(&R, 2) ? -1.0f : 1.0f;
    switch (rng_below(&R, 9)) {
    case 0: return sign * 0.0f;
    case 1: return NAN;
    case 2: return sign * INFINITY;
    case 3: return sign * dtype_max(dtype);
    case 4: return sign * dtype_min_denormal(dtype) * (float)(1 + rng_below(&R, 100));
    case 5: return sign * (dtype == KBIT_F16 ? 0x1p-14f : 0x1p-126f);
    default: return sign * (float)rng_normal(&R);
    }
}

/* x[0..n) block by block in one of the styles; values representable in dtype. */
static void gen(float *x, int64_t n, int bs, kbit_dtype dtype)
{
    for (int64_t b0 = 0; b0 < n; b0 += bs) {
        int64_t len = n - b0 < bs ? n - b0 : bs;
        float *b = x + b0;
        float scale = (float)pow(10.0, (rng_uniform(&R) * 2 - 1) * (dtype == KBIT_F16 ? 3 : 6));
        uint32_t style = rng_below(&R, 10);
        for (int64_t i = 0; i < len; i++) {
            switch (style) {
            case 0: case 1: b[i] = (float)rng_normal(&R) * scale; break;
            case 2: b[i] = rng_below(&R, 8) ? (float)rng_normal(&R) * scale : special(dtype); break;
            case 3: b[i] = rng_below(&R, 2) ? -0.0f : 0.0f; break;
            case 4: b[i] = rng_below(&R, 3) ? NAN : -0.0f; break;
            case 5: case 6: { /* absmax 2^k: pool values scale exactly */
                int k = dtype == KBIT_F16 ? (int)rng_below(&R, 9) - 4 : (int)rng_below(&R, 41) - 20;
                float v = pool[rng_below(&R, (uint32_t)pool_n)];
                uint32_t nudge = rng_below(&R, 4);
                v = nudge == 1 ? f32_next_up(v) : nudge == 2 ? f32_next_down(v) : v;
                b[i] = ldexpf(fabsf(v) > 1.0f ? 1.0f : v, k);
                if (i == 0)
                    b[i] = ldexpf(rng_below(&R, 2) ? -1.0f : 1.0f, k);
                break;
            }
            case 7: b[i] = dtype_min_denormal(dtype) * (float)rng_below(&R, 4) *
                           (rng_below(&R, 2) ? -1.0f : 1.0f); break;
            case 8: b[i] = i == 0 ? (rng_below(&R, 2) ? INFINITY : -INFINITY)
                                  : (float)rng_normal(&R) * scale; break;
            default:
                b[i] = i == 0 ? dtype_max(dtype) : (float)rng_normal(&R) * dtype_max(dtype) * 0.3f;
                break;
            }
        }
    }
    for (int64_t i = 0; i < n; i++)
        x[i] = dtype_round(dtype, x[i]);
}

static void *as_dtype(const float *x, int64_t n, kbit_dtype dtype)
{
    void *d = xmalloc((size_t)n * dsize(dtype));
    f32_to_dtype(dtype, x, d, (size_t)n);
    return d;
}

/* Every op of QUANT4 and QUANT8 once more with its buffers at an offset
 * into their allocations (PAD: the (cl_mem, offset) arguments), on blocks
 * of every edge style; kbit conformance runs the full set at offset 0. */
static void offsets(void)
{
    stats s = { 0 };
    const struct { int64_t n; int bs; kbit_dtype d; kbit_quant_type t; } cs[] = {
        { 5001, 64, KBIT_BF16, KBIT_NF4 }, { 4097, 4096, KBIT_F32, KBIT_FP4 },
        { 333, 32, KBIT_F16, KBIT_NF4 }, { 70001, 256, KBIT_F32, KBIT_FP4 },
    };
    for (size_t k = 0; k < sizeof cs / sizeof cs[0]; k++) {
        float *x = xmalloc((size_t)cs[k].n * 4);
        gen(x, cs[k].n, cs[k].bs, cs[k].d);
        void *xd = as_dtype(x, cs[k].n, cs[k].d);
        char label[96];
        snprintf(label, sizeof label, "n=%lld B=%d %s", (long long)cs[k].n, cs[k].bs,
                 dtype_str(cs[k].d));
        both_q4(&s, label, cs[k].t, cs[k].d, xd, cs[k].n, cs[k].bs, NULL, NULL, NULL);
        if (cs[k].bs >= 64)
            both_q8(&s, label, cs[k].d, xd, cs[k].n, cs[k].bs,
                    kbit_dynamic_map(k % 2 ? KBIT_MAP_UNSIGNED : KBIT_MAP_SIGNED), NULL, NULL, NULL);
        for (int64_t i = 0; i < cs[k].n; i++)
            x[i] = fabsf(x[i]) < 3e38f ? fabsf(x[i]) : 0.0f; /* as an absmax */
        both_nested(&s, label, x, cs[k].n, NULL, NULL, NULL, NULL, NULL);
        free(x);
        free(xd);
    }
    verdict(&s, "every quant4/quant8 op with buffers at an offset into their allocations = "
                "reference");
}

/* ------------------------------------------------------------------ */
/* 1b. GEMM4 with its buffers at an offset                              */

/* One forward (bias when has_bias) and one backward of a [N, K] weight on
 * device w; everything the ops read or write is PAD bytes into its
 * allocation (the packed bytes and the plain fp32 absmax too). */
static kbit_status gemm4_on(int w, kbit_quant_type type, int bs, int64_t M, int64_t N, int64_t K,
                            kbit_dtype dtype, const uint8_t *packed, const float *absmax,
                            const void *A, const void *dout, const void *bias, void *out,
                            void *dA)
{
    int64_t shape[2] = { N, K };
    kbit_quant_state qs;
    if (kbit_quant_state_init(&qs, type, KBIT_F32, 2, shape, bs, 0) != KBIT_OK)
        tap_bail("kbit_quant_state_init: %s", kbit_last_error());
    const size_t es = dsize(dtype), pb = (size_t)(N * K + 1) / 2;
    void *dp = up(w, packed, pb), *dA_in = up(w, A, (size_t)(M * K) * es);
    void *dd = up(w, dout, (size_t)(M * N) * es), *db = bias ? up(w, bias, (size_t)N * es) : NULL;
    void *dout_f = outbuf(w, (size_t)(M * N) * es), *ddA = outbuf(w, (size_t)(M * K) * es);
    qs.absmax = up(w, absmax, (size_t)qs.nblocks * 4);
    kbit_status st = kbit_gemm_4bit(devs[w], dA_in, dtype, M, dp, &qs, db, dout_f);
    if (st == KBIT_OK)
        st = kbit_gemm_4bit_backward(devs[w], dd, dtype, M, dp, &qs, ddA);
    down(w, out, dout_f, (size_t)(M * N) * es);
    down(w, dA, ddA, (size_t)(M * K) * es);
    rel(w, dp);
    rel(w, dA_in);
    rel(w, dd);
    rel(w, db);
    rel(w, dout_f);
    rel(w, ddA);
    rel(w, qs.absmax);
    return st;
}

/* Random weights (every code, scales from denormal to large) against
 * activations of edge values; shapes whose blocks cross weight rows, odd
 * element counts (a half-used last byte) and row ends inside a chunk. */
static void gemm4_offsets(void)
{
    stats s = { 0 };
    const struct { int64_t M, N, K; int bs; kbit_dtype d; kbit_quant_type t; int bias; } cs[] = {
        { 3, 37, 70, 32, KBIT_F32, KBIT_NF4, 1 }, { 1, 129, 263, 64, KBIT_BF16, KBIT_FP4, 0 },
        { 9, 17, 1031, 4096, KBIT_F16, KBIT_NF4, 1 }, { 2, 300, 8, 256, KBIT_F32, KBIT_FP4, 1 },
    };
    for (size_t k = 0; k < sizeof cs / sizeof cs[0]; k++) {
        const int64_t M = cs[k].M, N = cs[k].N, K = cs[k].K;
        const size_t pb = (size_t)(N * K + 1) / 2, nb = (size_t)kbit_nblocks(N * K, cs[k].bs);
        const size_t es = dsize(cs[k].d);
        uint8_t *packed = xmalloc(pb);
        float *absmax = xmalloc(nb * 4);
        for (size_t i = 0; i < pb; i++)
            packed[i] = (uint8_t)rng_next(&R);
        for (size_t i = 0; i < nb; i++)
            absmax[i] = i % 5 == 4 ? 1e-40f : fabsf((float)rng_normal(&R)) * (float)(1 + i % 3);
        float *a = xmalloc((size_t)(M * K) * 4), *g = xmalloc((size_t)(M * N) * 4);
        float *b = xmalloc((size_t)N * 4);
        gen(a, M * K, 64, cs[k].d);
        for (int64_t i = 0; i < M * K; i++) /* keep the sums finite mostly */
            a[i] = isfinite(a[i]) && fabsf(a[i]) < 1e4f ? a[i] : 1.0f;
        for (int64_t i = 0; i < M * N; i++)
            g[i] = (float)rng_normal(&R);
        for (int64_t i = 0; i < N; i++)
            b[i] = (float)rng_normal(&R);
        void *ad = as_dtype(a, M * K, cs[k].d), *gd = as_dtype(g, M * N, cs[k].d);
        void *bd = cs[k].bias ? as_dtype(b, N, cs[k].d) : NULL;
        void *o[2] = { xmalloc((size_t)(M * N) * es), xmalloc((size_t)(M * N) * es) };
        void *da[2] = { xmalloc((size_t)(M * K) * es), xmalloc((size_t)(M * K) * es) };
        char what[128];
        snprintf(what, sizeof what, "gemm4 M=%lld N=%lld K=%lld B=%d %s", (long long)M,
                 (long long)N, (long long)K, cs[k].bs, dtype_str(cs[k].d));
        s.cases++;
        if (statuses(&s, what,
                     gemm4_on(REF, cs[k].t, cs[k].bs, M, N, K, cs[k].d, packed, absmax, ad, gd,
                              bd, o[0], da[0]),
                     gemm4_on(CL, cs[k].t, cs[k].bs, M, N, K, cs[k].d, packed, absmax, ad, gd,
                              bd, o[1], da[1]))) {
            compare(&s, what, (int)cs[k].d, o[1], o[0], NULL, (size_t)(M * N));
            compare(&s, what, (int)cs[k].d, da[1], da[0], NULL, (size_t)(M * K));
        }
        free(packed); free(absmax); free(a); free(g); free(b); free(ad); free(gd); free(bd);
        free(o[0]); free(o[1]); free(da[0]); free(da[1]);
    }
    verdict(&s, "gemm4 forward (bias) and backward with buffers at an offset into their "
                "allocations = reference");
}

/* ------------------------------------------------------------------ */
/* 2. block_sums and pairsum through the driver's slots                 */

static void sums_direct(void)
{
    kbit_device *d = devs[CL];
    const kbit_exec ex = { sizeof ex, NULL, NULL, 0 };
    stats s = { 0 };
    /* leaves */
    const int64_t ns[] = { 1, 255, 256, 257, 100003 };
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
        int64_t n = ns[k], count = (n + 255) / 256;
        float *x = xmalloc((size_t)n * 4);
        for (int64_t i = 0; i < n; i++)
            x[i] = (float)(rng_normal(&R) * pow(2.0, (double)rng_below(&R, 60) - 30.0));
        double *want = xmalloc((size_t)count * 8), *got = xmalloc((size_t)count * 8);
        for (int64_t b = 0; b < count; b++)
            want[b] = kbit_pairsum_leaf(x, n, b);
        float *dx = up(CL, x, (size_t)n * 4);
        double *dl = outbuf(CL, (size_t)count * 8);
        kbit_op_block_sums op = { sizeof op, dx, n, dl };
        kbit_status st = d->driver->block_sums(d->ctx, &ex, &op);
        down(CL, got, dl, (size_t)count * 8);
        s.cases++;
        if (st != KBIT_OK) {
            s.errors++;
            tap_diag("block_sums n=%lld: %s", (long long)n, kbit_last_error());
        } else {
            s.elements += (size_t)count;
            s.mismatches += memcmp(got, want, (size_t)count * 8) != 0;
        }
        rel(CL, dx); rel(CL, dl); free(x); free(want); free(got);
    }
    verdict(&s, "block_sums slot: fp64 leaves = numerics/pairsum.h, bit for bit");

    /* the tree: every count up to 300 and some whose levels carry odd values */
    memset(&s, 0, sizeof s);
    const int64_t big[] = { 511, 513, 1000, 4097, 65537, 131071 };
    for (int64_t k = 0; k < 300 + (int64_t)(sizeof big / sizeof big[0]); k++) {
        int64_t count = k < 300 ? k + 1 : big[k - 300];
        double *l = xmalloc((size_t)count * 8), *copy = xmalloc((size_t)count * 8);
        for (int64_t i = 0; i < count; i++) /* magnitudes far apart: any other order differs */
            l[i] = rng_normal(&R) * pow(2.0, (double)rng_below(&R, 100) - 50.0);
        memcpy(copy, l, (size_t)count * 8);
        double divisor = (double)(1 + rng_below(&R, 1000));
        double want = kbit_pairsum_tree(copy, count) / divisor, got = 0.0;
        float want32 = (float)want, got32 = 0.0f;
        double *dl = up(CL, l, (size_t)count * 8);
        double *dsum = outbuf(CL, 8);
        float *d32 = outbuf(CL, 4);
        kbit_op_pairsum op = { sizeof op, dl, count, divisor, dsum, k % 2 ? d32 : NULL };
        kbit_status st = d->driver->pairsum(d->ctx, &ex, &op);
        down(CL, &got, dsum, 8);
        down(CL, &got32, d32, 4);
        s.cases++;
        if (st != KBIT_OK) {
            s.errors++;
            tap_diag("pairsum count=%lld: %s", (long long)count, kbit_last_error());
        } else {
            int bad = memcmp(&got, &want, 8) != 0 || (k % 2 && memcmp(&got32, &want32, 4) != 0);
            s.elements++;
            s.mismatches += bad;
            if (bad)
                tap_diag("pairsum count=%lld: got %a (%a), want %a (%a)", (long long)count, got,
                         (double)got32, want, (double)want32);
        }
        rel(CL, dl); rel(CL, dsum); rel(CL, d32); free(l); free(copy);
    }
    verdict(&s, "pairsum slot: the fixed tree in one work-group = numerics/pairsum.h, bit for bit");
}

/* ------------------------------------------------------------------ */
/* 3. The driver: info, memory, streams, bad input, empty shapes        */

/* A call that must fail: `st` and the message it left (saved by the caller
 * before any other call clears it), and whether its outputs are untouched. */
static void expect_refused(kbit_status st, const char *msg, kbit_status want, const char *needle,
                           int untouched, const char *call)
{
    int ok = st == want && msg[0] && strstr(msg, needle) != NULL && untouched;
    if (!tap_ok(ok, "%s -> %s, message names '%s', outputs untouched", call, kbit_strerror(want),
                needle))
        tap_diag("got %s, message \"%s\", outputs %s", kbit_strerror(st), msg,
                 untouched ? "untouched" : "MODIFIED");
}

static char saved[1024];

static const char *save_msg(void)
{
    snprintf(saved, sizeof saved, "%s", kbit_last_error());
    return saved;
}

static void check_info(void)
{
    kbit_device_info info;
    int ok = kbit_device_get_info(devs[CL], &info) == KBIT_OK;
    tap_ok(ok && info.name[0] && strncmp(info.variant, "OpenCL ", 7) == 0 && info.threads == 1 &&
               info.memory_bytes > 0,
           "device_info: name \"%s\", variant \"%s\", %.1f GiB", ok ? info.name : "",
           ok ? info.variant : "", ok ? (double)info.memory_bytes / 1073741824.0 : 0.0);
    /* at least these (other families are checked by their conformance) */
    const uint32_t want = KBIT_FAMILY_QUANT4 | KBIT_FAMILY_QUANT8 | KBIT_FAMILY_GEMM4 |
                          KBIT_FAMILY_INT8 | KBIT_FAMILY_OPTIM;
    tap_ok(ok && (info.families & want) == want,
           "opencl:0 implements quant4, quant8, gemm4, int8 and optim (families 0x%x)",
           ok ? info.families : 0);
    tap_ok(kbit_device_set_threads(devs[CL], 2) == KBIT_ENOTSUP &&
               kbit_device_set_threads(devs[CL], 1) == KBIT_OK,
           "set_threads: 1 accepted, 2 refused");
}

static void check_memory(void)
{
    kbit_device *d = devs[CL];
    void *p = NULL;
    kbit_status st = kbit_malloc_kind(d, 64, KBIT_MEM_MANAGED, &p);
    expect_failure(st, KBIT_ENOTSUP, "managed", p == NULL, "kbit_malloc_kind(MANAGED)");

    /* pinned host memory: the host writes it, copies move it, ops refuse it */
    float *pin = NULL;
    st = kbit_malloc_kind(d, 1024 * 4, KBIT_MEM_HOST_PINNED, (void **)&pin);
    if (tap_ok(st == KBIT_OK, "kbit_malloc_kind(HOST_PINNED): %s", kbit_strerror(st))) {
        for (int i = 0; i < 1024; i++)
            pin[i] = (float)i - 500.5f;
        float *dev = dev_alloc(d, 1024 * 4);
        float back[1024];
        int ok = kbit_copy(d, dev, pin, 4096, KBIT_HOST_TO_DEVICE) == KBIT_OK;
        memset(pin, 0, 4096);
        ok = ok && kbit_copy(d, pin, dev, 4096, KBIT_DEVICE_TO_HOST) == KBIT_OK;
        ok = ok && kbit_copy(d, pin + 512, dev, 1024, KBIT_DEVICE_TO_DEVICE) == KBIT_OK;
        memcpy(back, pin, sizeof back);
        ok = ok && back[0] == -500.5f && back[511] == 10.5f && back[512] == -500.5f &&
             back[767] == -245.5f && back[768] == 267.5f;
        tap_ok(ok, "pinned memory: host writes, copies to and from device memory");
        uint8_t *packed = dev_alloc_fill(d, 512, 0x77);
        float *absmax = dev_alloc(d, 16 * 4);
        st = kbit_quantize_4bit(d, KBIT_NF4, KBIT_F32, pin, 1024, 64, packed, absmax);
        const char *msg = save_msg();
        uint8_t h[512];
        dev_download(d, h, packed, 512);
        int untouched = 1;
        for (int i = 0; i < 512; i++)
            untouched &= h[i] == 0x77;
        expect_refused(st, msg, KBIT_EINVAL, "pinned host memory", untouched,
                       "quantize_4bit with x in pinned memory");
        dev_free(d, packed);
        dev_free(d, absmax);
        dev_free(d, dev);
        tap_ok(kbit_free(d, pin) == KBIT_OK, "kbit_free of pinned memory");
    }

    /* pointers the driver does not own */
    float host[64] = { 0 };
    uint8_t *packed = dev_alloc_fill(d, 32, 0x11);
    float *absmax = dev_alloc(d, 4);
    st = kbit_quantize_4bit(d, KBIT_NF4, KBIT_F32, host, 64, 64, packed, absmax);
    const char *msg = save_msg();
    uint8_t h[32];
    dev_download(d, h, packed, 32);
    expect_refused(st, msg, KBIT_EINVAL, "x (", h[0] == 0x11 && h[31] == 0x11,
                   "quantize_4bit with x in host memory");
    float *small = dev_alloc(d, 16 * 4);
    st = kbit_quantize_4bit(d, KBIT_NF4, KBIT_F32, small + 8, 64, 64, packed, absmax);
    msg = save_msg();
    dev_download(d, h, packed, 32);
    expect_refused(st, msg, KBIT_EINVAL, "run past the end", h[0] == 0x11,
                   "quantize_4bit with x running past its allocation");
    float *freed = dev_alloc(d, 64 * 4);
    dev_free(d, freed);
    st = kbit_quantize_4bit(d, KBIT_NF4, KBIT_F32, freed, 64, 64, packed, absmax);
    expect_failure(st, KBIT_EINVAL, "not memory of opencl:0", 1, "quantize_4bit with x freed");
    expect_failure(kbit_free(d, host), KBIT_EINVAL, "not an allocation", 1,
                   "kbit_free of a host pointer");
    expect_failure(kbit_free(d, (char *)small + 4), KBIT_EINVAL, "not an allocation", 1,
                   "kbit_free of a pointer inside an allocation");
    expect_failure(kbit_copy(d, small, packed, 16, KBIT_HOST_TO_DEVICE), KBIT_EINVAL,
                   "src", 1, "kbit_copy host-to-device from device memory");
    expect_failure(kbit_copy(d, host, small, 128, KBIT_DEVICE_TO_HOST), KBIT_EINVAL,
                   "run past the end", 1, "kbit_copy reading past an allocation");
    void *huge = NULL;
    expect_failure(kbit_malloc(d, (size_t)1 << 50, &huge), KBIT_ENOMEM,
                   "CL_DEVICE_MAX_MEM_ALLOC_SIZE", huge == NULL, "kbit_malloc(2^50)");
    void *zero[2] = { NULL, NULL };
    tap_ok(kbit_malloc(d, 0, &zero[0]) == KBIT_OK && kbit_malloc(d, 0, &zero[1]) == KBIT_OK &&
               zero[0] && zero[1] && zero[0] != zero[1] && kbit_free(d, zero[0]) == KBIT_OK &&
               kbit_free(d, zero[1]) == KBIT_OK,
           "kbit_malloc of 0 bytes: unique pointers that can be freed");

    /* empty shapes and the core's checks on this device */
    expect_success(kbit_quantize_4bit(d, KBIT_NF4, KBIT_F32, small, 0, 64, packed, absmax),
                   "quantize_4bit n = 0 on opencl:0");
    dev_download(d, h, packed, 32);
    tap_ok(h[0] == 0x11 && h[31] == 0x11, "n = 0 writes nothing");
    expect_success(kbit_dequantize_8bit(d, packed, absmax, 0, 64, NULL, KBIT_F16, small),
                   "dequantize_8bit n = 0 on opencl:0");
    expect_failure(kbit_quantize_4bit(d, KBIT_NF4, KBIT_F32, small, 16, 48, packed, absmax),
                   KBIT_EINVAL, "blocksize", 1, "quantize_4bit blocksize 48 on opencl:0");
    expect_failure(kbit_quantize_8bit(d, KBIT_F32, small, 16, 32, NULL, packed, absmax),
                   KBIT_EINVAL, "blocksize", 1, "quantize_8bit blocksize 32 on opencl:0");
    expect_failure(kbit_quantize_4bit(d, KBIT_NF4, KBIT_I8, small, 16, 64, packed, absmax),
                   KBIT_EINVAL, "dtype", 1, "quantize_4bit dtype I8 on opencl:0");
    expect_failure(kbit_nested_quantize(d, NULL, 4, packed, absmax, host), KBIT_EINVAL,
                   "absmax", 1, "nested_quantize absmax NULL on opencl:0");
    int64_t empty_shape[2] = { 0, 5 };
    kbit_quant_state qs;
    st = kbit_quant_state_init(&qs, KBIT_FP4, KBIT_BF16, 2, empty_shape, 64, 1);
    if (st == KBIT_OK)
        st = kbit_quant_state_alloc(d, &qs);
    if (st == KBIT_OK) {
        st = kbit_quantize_4bit_state(d, small, packed, &qs);
        if (st == KBIT_OK)
            st = kbit_dequantize_4bit_state(d, packed, &qs, KBIT_F32, small);
        kbit_quant_state_release(d, &qs);
    }
    expect_success(st, "nested quant state of shape [0, 5] on opencl:0");
    dev_free(d, small);
    dev_free(d, packed);
    dev_free(d, absmax);
}

/* Quantize on the calling thread's stream; compare with the reference. */
static int quantize_on_stream(const char *what)
{
    int64_t n = 5000;
    float *x = xmalloc((size_t)n * 4);
    gen(x, n, 128, KBIT_F32);
    uint8_t p[2][2500];
    float a[2][40];
    stats s = { 0 };
    s.cases++;
    if (statuses(&s, what, q4(REF, KBIT_FP4, KBIT_F32, x, n, 128, p[0], a[0]),
                 q4(CL, KBIT_FP4, KBIT_F32, x, n, 128, p[1], a[1]))) {
        compare(&s, what, 3, p[1], p[0], NULL, 2500);
        compare(&s, what, 0, a[1], a[0], NULL, 40);
    }
    free(x);
    return s.errors == 0 && s.mismatches == 0;
}

static void check_streams(void)
{
    kbit_device *d = devs[CL];
    const kbit_cl_handles *h = (const kbit_cl_handles *)d->ctx;
    cl_int e;
    cl_command_queue q = clCreateCommandQueue(h->context, h->device, 0, &e);
    if (!tap_ok(e == CL_SUCCESS, "a queue of kbit's context (clCreateCommandQueue %d)", (int)e))
        return;
    tap_ok(kbit_device_set_stream(d, q) == KBIT_OK && quantize_on_stream("framework queue") &&
               kbit_sync(d) == KBIT_OK,
           "a framework cl_command_queue as the stream: ops and copies on it, bit-exact");
    tap_ok(kbit_device_set_stream(d, NULL) == KBIT_OK && quantize_on_stream("own queue again"),
           "back to the device's own queue");
    clReleaseCommandQueue(q);

    /* refused streams: a queue of another context, an out-of-order queue;
     * the core can still leave them (sync waits on any queue) */
    cl_context other = clCreateContext(NULL, 1, &h->device, NULL, NULL, &e);
    cl_command_queue foreign = e == CL_SUCCESS ? clCreateCommandQueue(other, h->device, 0, &e) : NULL;
    cl_command_queue ooo = clCreateCommandQueue(h->context, h->device,
                                                CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE, &e);
    const struct { cl_command_queue q; const char *needle, *what; } bad[] = {
        { foreign, "another cl_context", "a queue of another cl_context as the stream" },
        { ooo, "out of order", "an out-of-order queue as the stream" },
    };
    float *buf = dev_alloc(d, 16);
    for (int i = 0; i < 2; i++) {
        if (bad[i].q == NULL) {
            tap_skip(bad[i].what, "the queue could not be created here");
            continue;
        }
        float v[4];
        kbit_status st = kbit_device_set_stream(d, bad[i].q);
        if (st == KBIT_OK)
            st = kbit_copy(d, v, buf, 16, KBIT_DEVICE_TO_HOST);
        expect_failure(st, KBIT_EINVAL, bad[i].needle, 1, bad[i].what);
        tap_ok(kbit_device_set_stream(d, NULL) == KBIT_OK, "%s: left again", bad[i].what);
    }
    dev_free(d, buf);
    if (foreign)
        clReleaseCommandQueue(foreign);
    if (ooo)
        clReleaseCommandQueue(ooo);
    if (other)
        clReleaseContext(other);
}

/* ------------------------------------------------------------------ */
/* 4. 2^31 elements                                                     */

/* n = 2^31 bf16 elements (4 GiB, the most PoCL allocates at once): NF4
 * quantize, then dequantize to bf16, on data that repeats every P elements,
 * so one reference run over P elements predicts every output. */
static void large_case(void)
{
    const char *env = getenv("KBIT_TEST_LARGE");
    const int64_t n = (int64_t)1 << 31, P = (int64_t)1 << 24;
    const int bs = 64;
    kbit_device_info info;
    kbit_device_get_info(devs[CL], &info);
    if (env == NULL || strcmp(env, "1") != 0) {
        tap_skip("2^31-element quantize/dequantize on opencl:0",
                 "about 130 s and 5.5 GiB on PoCL with 2 cores; KBIT_TEST_LARGE=1 runs it");
        return;
    }
    if (info.memory_bytes < ((uint64_t)10 << 30)) {
        tap_skip("2^31-element quantize/dequantize on opencl:0",
                 "opencl:0 has %.1f GiB; the case needs 4 GiB + 1 GiB at once and 10 GiB to be safe",
                 (double)info.memory_bytes / 1073741824.0);
        return;
    }
    double t0 = now();
    kbit_device *d = devs[CL];
    float *xf = xmalloc((size_t)P * 4);
    gen(xf, P, bs, KBIT_BF16);
    uint16_t *chunk = as_dtype(xf, P, KBIT_BF16);
    free(xf);
    /* the reference over one period */
    uint8_t *rp = xmalloc((size_t)P / 2);
    float *ra = xmalloc((size_t)(P / bs) * 4);
    uint16_t *rd = xmalloc((size_t)P * 2);
    kbit_status st = q4(REF, KBIT_NF4, KBIT_BF16, chunk, P, bs, rp, ra);
    if (st == KBIT_OK)
        st = dq4(REF, KBIT_NF4, rp, ra, P, bs, KBIT_BF16, rd);
    if (st != KBIT_OK)
        tap_bail("reference for the large case: %s", kbit_last_error());

    void *x = NULL, *packed = NULL, *absmax = NULL, *out = NULL;
    st = kbit_malloc(d, (size_t)n * 2, &x);
    if (st == KBIT_OK)
        st = kbit_malloc(d, (size_t)n / 2, &packed);
    if (st == KBIT_OK)
        st = kbit_malloc(d, (size_t)(n / bs) * 4, &absmax);
    if (st != KBIT_OK) {
        tap_skip("2^31-element quantize/dequantize on opencl:0", "%s", kbit_last_error());
        kbit_free(d, x);
        kbit_free(d, packed);
        free(chunk); free(rp); free(ra); free(rd);
        return;
    }
    for (int64_t k = 0; k < n / P && st == KBIT_OK; k++)
        st = kbit_copy(d, (uint16_t *)x + k * P, chunk, (size_t)P * 2, KBIT_HOST_TO_DEVICE);
    double t1 = now();
    if (st == KBIT_OK)
        st = kbit_quantize_4bit(d, KBIT_NF4, KBIT_BF16, x, n, bs, packed, absmax);
    if (st == KBIT_OK)
        st = kbit_sync(d);
    double tq = now() - t1;
    kbit_free(d, x);
    size_t mism = 0;
    uint8_t *hp = xmalloc((size_t)P / 2);
    float *ha = xmalloc((size_t)(P / bs) * 4);
    for (int64_t k = 0; k < n / P && st == KBIT_OK; k++) {
        st = kbit_copy(d, hp, (uint8_t *)packed + k * (P / 2), (size_t)P / 2, KBIT_DEVICE_TO_HOST);
        if (st == KBIT_OK)
            st = kbit_copy(d, ha, (float *)absmax + k * (P / bs), (size_t)(P / bs) * 4,
                           KBIT_DEVICE_TO_HOST);
        mism += tap_cmp_u8(hp, rp, (size_t)P / 2, "large packed");
        mism += tap_cmp_f32(ha, ra, (size_t)(P / bs), "large absmax");
    }
    double td = 0;
    if (st == KBIT_OK)
        st = kbit_malloc(d, (size_t)n * 2, &out);
    if (st == KBIT_OK) {
        t1 = now();
        st = kbit_dequantize_4bit(d, KBIT_NF4, packed, absmax, n, bs, KBIT_BF16, out);
        if (st == KBIT_OK)
            st = kbit_sync(d);
        td = now() - t1;
        for (int64_t k = 0; k < n / P && st == KBIT_OK; k++) {
            st = kbit_copy(d, chunk, (uint16_t *)out + k * P, (size_t)P * 2, KBIT_DEVICE_TO_HOST);
            mism += tap_cmp_bf16(chunk, rd, (size_t)P, "large dequantized");
        }
    }
    if (st != KBIT_OK)
        tap_diag("large case: %s", kbit_last_error());
    tap_ok(st == KBIT_OK && mism == 0,
           "2^31 bf16 elements: quantize (%.1f s) and dequantize (%.1f s) on opencl:0 = "
           "reference, %zu mismatches (%.1f s in all)", tq, td, mism, now() - t0);
    kbit_free(d, packed);
    kbit_free(d, absmax);
    kbit_free(d, out);
    free(hp); free(ha); free(chunk); free(rp); free(ra); free(rd);
}

/* ------------------------------------------------------------------ */

int main(void)
{
    seed_rng(0x6f70656e636cull);

    kbit_status st = kbit_device_open("opencl:0", &devs[CL]);
    if (st != KBIT_OK) {
        tap_skip("the OpenCL driver on opencl:0", "%s", kbit_last_error());
        return tap_done();
    }
    if (kbit_device_supports(devs[CL], KBIT_FAMILY_QUANT4 | KBIT_FAMILY_QUANT8) != KBIT_OK) {
        tap_skip("the OpenCL driver on opencl:0", "%s", kbit_last_error());
        kbit_device_close(devs[CL]);
        return tap_done();
    }
    devs[REF] = reference_open();
    build_pool();

    double t0 = now();
    check_info();
    /* the first launches build the program (PoCL: seconds with a cold cache) */
    offsets();
    gemm4_offsets();
    sums_direct();
    check_memory();
    check_streams();
    tap_diag("numbers and driver checks: %.1f s", now() - t0);
    large_case();

    kbit_device_close(devs[REF]);
    kbit_device_close(devs[CL]);
    return tap_done();
}
