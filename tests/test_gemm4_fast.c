/* tests/test_gemm4_fast.c - the 4-bit matmul in fast mode (KBIT_MATH_FAST,
 * doc/determinism.md 1) on the CPU device, against the exact result and the
 * bound of doc/numerics.md 5.4:
 *   |out - ref| <= (2^-p_T + K 2^-24) * sum_k |A[m,k] Wdq[n,k]| + ulp_T(out),
 * ref the fp32 reference before its final rounding (acc of A*Wdq in k order,
 * plus the bias). Where the device has a fast kernel (the variant ends in
 * "+amx-bf16" or "+avx512-bf16") and the case's M is one it takes (from 2
 * for amx-bf16, from 10 for avx512-bf16: backends/cpu/gemm4/ops.c), it must
 * also have run (some outputs differ from exact), its
 * typical error must be far below the bound, and it must be deterministic
 * (the same bits with 1 and 2 threads). Everything the fast kernel does not
 * take (fp32 and fp16 activations, M = 1, data outside the magnitude rule
 * of backends/cpu/gemm4/gemm4.h) must give the exact bits, and so must every
 * case on a device without one. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static kbit_device *dev;
static int has_fast;
static int64_t fast_min_m; /* the least M the device's fast kernel takes */

typedef struct gemm_case {
    kbit_quant_type type;
    int64_t M, N, K;
    int blocksize, nested, bias;
} gemm_case;

typedef struct problem {
    gemm_case c;
    kbit_dtype dtype;
    uint16_t *a;     /* M x K, dtype (bf16 or f16) */
    float *a32;      /* the same as fp32 (or the fp32 activation) */
    void *a_any;     /* what the op reads */
    float *wdq;      /* N x K: the dequantized weight (fp32) */
    uint8_t *packed;
    kbit_quant_state qs;
    void *bias;      /* N, dtype */
    float *bias32;
} problem;

static size_t dsize(kbit_dtype d)
{
    return d == KBIT_F32 ? 4 : 2;
}

/* Random activation (N(0,1), a few exact zeros) and weight (N(0, 0.02)),
 * the weight quantized by the device; huge_group >= 0 multiplies the
 * weight rows of that 16-row group by 2^50 (their absmax leaves the fast
 * kernels' magnitude rule). */
static int make_problem(problem *p, const gemm_case *c, kbit_dtype dtype, uint64_t seed,
                        int huge_group)
{
    memset(p, 0, sizeof *p);
    p->c = *c;
    p->dtype = dtype;
    rng r;
    rng_seed(&r, seed);
    int64_t MK = c->M * c->K, NK = c->N * c->K;
    p->a32 = malloc((size_t)MK * sizeof(float));
    p->a_any = malloc((size_t)MK * dsize(dtype));
    float *w = malloc((size_t)NK * sizeof(float));
    p->wdq = malloc((size_t)NK * sizeof(float));
    p->packed = malloc((size_t)(NK + 1) / 2);
    p->bias32 = malloc((size_t)c->N * sizeof(float));
    p->bias = malloc((size_t)c->N * dsize(dtype));
    if (!p->a32 || !p->a_any || !w || !p->wdq || !p->packed || !p->bias32 || !p->bias)
        return 0;
    for (int64_t i = 0; i < MK; i++)
        p->a32[i] = rng_below(&r, 50) == 0 ? 0.0f : (float)rng_normal(&r);
    f32_to_dtype(dtype, p->a32, p->a_any, (size_t)MK);
    for (int64_t i = 0; i < MK; i++) /* what the op sees */
        p->a32[i] = dtype_load(dtype, p->a_any, (size_t)i);
    for (int64_t n = 0; n < c->N; n++)
        for (int64_t k = 0; k < c->K; k++)
            w[n * c->K + k] = (float)(0.02 * rng_normal(&r)) *
                              (n / 16 == huge_group ? 0x1p50f : 1.0f);
    for (int64_t n = 0; n < c->N; n++)
        p->bias32[n] = (float)(0.1 * rng_normal(&r));
    f32_to_dtype(dtype, p->bias32, p->bias, (size_t)c->N);
    for (int64_t n = 0; n < c->N; n++)
        p->bias32[n] = dtype_load(dtype, p->bias, (size_t)n);
    int64_t shape[2] = { c->N, c->K };
    int ok = kbit_quant_state_init(&p->qs, c->type, KBIT_F32, 2, shape, c->blocksize,
                                   c->nested) == KBIT_OK &&
             kbit_quant_state_alloc(dev, &p->qs) == KBIT_OK &&
             kbit_quantize_4bit_state(dev, w, p->packed, &p->qs) == KBIT_OK &&
             kbit_dequantize_4bit_state(dev, p->packed, &p->qs, KBIT_F32, p->wdq) == KBIT_OK;
    free(w);
    return ok;
}

static void free_problem(problem *p)
{
    kbit_quant_state_release(dev, &p->qs);
    free(p->a32);
    free(p->a_any);
    free(p->wdq);
    free(p->packed);
    free(p->bias32);
    free(p->bias);
}

static int run(const problem *p, kbit_math_mode mode, int threads, void *out)
{
    return kbit_device_set_math_mode(dev, mode) == KBIT_OK &&
           kbit_device_set_threads(dev, threads) == KBIT_OK &&
           kbit_gemm_4bit(dev, p->a_any, p->dtype, p->c.M, p->packed, &p->qs,
                          p->c.bias ? p->bias : NULL, out) == KBIT_OK;
}

/* ulp of a bf16 / fp16 / fp32 value v (its normal binade, or the denormal step). */
static double ulp_of(kbit_dtype d, double v)
{
    int p = d == KBIT_BF16 ? 8 : d == KBIT_F16 ? 11 : 24;
    int emin = d == KBIT_F16 ? -14 : -126;
    int e = v == 0.0 ? emin : (int)floor(log2(fabs(v)));
    if (e < emin)
        e = emin;
    return ldexp(1.0, e - (p - 1));
}

typedef struct verdict {
    double worst;    /* max err / bound */
    double typical;  /* median err / (2^-p_T sum |A Wdq| + ulp) */
    int64_t differ;  /* outputs whose bits differ from exact */
    int64_t count;
} verdict;

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* The 5.4 verdict on `out` (and how many outputs differ from `exact`). */
static verdict judge(const problem *p, const void *out, const void *exact)
{
    const gemm_case *c = &p->c;
    int pt = p->dtype == KBIT_BF16 ? 8 : p->dtype == KBIT_F16 ? 11 : 24;
    verdict v = { 0, 0, 0, c->M * c->N };
    double *ratios = malloc((size_t)v.count * sizeof(double));
    for (int64_t m = 0; m < c->M; m++)
        for (int64_t n = 0; n < c->N; n++) {
            float acc = 0.0f;
            double sum_abs = 0.0;
            for (int64_t k = 0; k < c->K; k++) {
                float prod = p->a32[m * c->K + k] * p->wdq[n * c->K + k];
                acc = acc + prod;
                sum_abs += fabs((double)prod);
            }
            float ref = c->bias ? acc + p->bias32[n] : acc;
            size_t i = (size_t)(m * c->N + n);
            double got = dtype_load(p->dtype, out, i);
            double err = fabs(got - (double)ref);
            double ulp = ulp_of(p->dtype, got);
            double bound = (ldexp(1.0, -pt) + (double)c->K * 0x1p-24) * sum_abs + ulp;
            double r = err / bound;
            v.worst = r > v.worst ? r : v.worst;
            ratios[i] = err / (ldexp(1.0, -pt) * sum_abs + ulp);
            if (memcmp((const char *)out + i * dsize(p->dtype),
                       (const char *)exact + i * dsize(p->dtype), dsize(p->dtype)) != 0)
                v.differ++;
        }
    qsort(ratios, (size_t)v.count, sizeof(double), cmp_double);
    v.typical = ratios[v.count / 2];
    free(ratios);
    return v;
}

static const char *type_name(kbit_quant_type t)
{
    return t == KBIT_NF4 ? "nf4" : "fp4";
}

/* bf16 activations: the fast kernel's case. */
static void bf16_case(const gemm_case *c, uint64_t seed)
{
    char what[160];
    snprintf(what, sizeof what, "%s M=%lld N=%lld K=%lld blocksize %d%s%s, bf16", type_name(c->type),
             (long long)c->M, (long long)c->N, (long long)c->K, c->blocksize,
             c->nested ? " nested" : "", c->bias ? " +bias" : "");
    problem p;
    size_t bytes = (size_t)(c->M * c->N) * 2;
    void *exact = malloc(bytes), *fast = malloc(bytes), *fast2 = malloc(bytes);
    if (!make_problem(&p, c, KBIT_BF16, seed, -1) || !exact || !fast || !fast2 ||
        !run(&p, KBIT_MATH_EXACT, 1, exact) || !run(&p, KBIT_MATH_FAST, 1, fast) ||
        !run(&p, KBIT_MATH_FAST, 2, fast2)) {
        tap_ok(0, "%s: the calls ran (%s)", what, kbit_last_error());
        goto done;
    }
    verdict v = judge(&p, fast, exact);
    if (has_fast && c->M < fast_min_m) {
        tap_ok(v.differ == 0, "%s: M below the fast kernel's %lld, fast mode gives the exact "
               "bits (%lld of %lld differ)", what, (long long)fast_min_m, (long long)v.differ,
               (long long)v.count);
        goto done;
    }
    if (!has_fast) {
        tap_ok(v.differ == 0, "%s: no fast kernel here, fast mode gives the exact bits (%lld of "
               "%lld differ)", what, (long long)v.differ, (long long)v.count);
        goto done;
    }
    tap_ok(v.worst <= 1.0, "%s: within the 5.4 bound (worst err/bound %.3g)", what, v.worst);
    tap_ok(v.typical <= 0.25,
           "%s: typical error far below it (median err / (2^-8 sum|A Wdq| + ulp) = %.3g)", what,
           v.typical);
    tap_ok(v.differ > 0, "%s: the fast kernel ran (%lld of %lld outputs differ from exact)",
           what, (long long)v.differ, (long long)v.count);
    tap_ok(memcmp(fast, fast2, bytes) == 0, "%s: the same bits on 1 and 2 threads", what);
done:
    free_problem(&p);
    free(exact);
    free(fast);
    free(fast2);
}

/* What fast mode does not take gives the exact bits. */
static void exact_case(const gemm_case *c, kbit_dtype dtype, int huge_group, int tiny_a,
                       const char *why)
{
    char what[200];
    snprintf(what, sizeof what, "%s M=%lld N=%lld K=%lld, %s (%s): fast mode gives the exact bits",
             type_name(c->type), (long long)c->M, (long long)c->N, (long long)c->K,
             dtype_str(dtype), why);
    problem p;
    size_t bytes = (size_t)(c->M * c->N) * dsize(dtype);
    void *exact = malloc(bytes), *fast = malloc(bytes);
    int ok = make_problem(&p, c, dtype, 77, huge_group) && exact && fast;
    if (ok && tiny_a) /* one bf16 denormal in the activation */
        ((uint16_t *)p.a_any)[c->K + 3] = 0x0001;
    ok = ok && run(&p, KBIT_MATH_EXACT, 2, exact) && run(&p, KBIT_MATH_FAST, 2, fast);
    if (!ok) {
        tap_ok(0, "%s: the calls ran (%s)", what, kbit_last_error());
    } else if (huge_group >= 0 && has_fast) {
        /* the group outside the rule is exact, the others still fast */
        int64_t group_differ = 0, others_differ = 0;
        for (int64_t m = 0; m < c->M; m++)
            for (int64_t n = 0; n < c->N; n++) {
                size_t i = (size_t)(m * c->N + n) * 2;
                int d = memcmp((char *)fast + i, (char *)exact + i, 2) != 0;
                if (n / 16 == huge_group)
                    group_differ += d;
                else
                    others_differ += d;
            }
        verdict v = judge(&p, fast, exact);
        tap_ok(group_differ == 0 && others_differ > 0 && v.worst <= 1.0,
               "%s [rows %d-%d; %lld other outputs differ, worst err/bound %.3g]", what,
               huge_group * 16, huge_group * 16 + 15, (long long)others_differ, v.worst);
    } else {
        tap_ok(memcmp(fast, exact, bytes) == 0, "%s", what);
    }
    free_problem(&p);
    free(exact);
    free(fast);
}

int main(void)
{
    kbit_device_info info;
    if (kbit_device_open("cpu", &dev) != KBIT_OK || kbit_device_get_info(dev, &info) != KBIT_OK)
        tap_bail("no cpu device: %s", kbit_last_error());
    has_fast = strstr(info.variant, "+") != NULL;
    fast_min_m = strstr(info.variant, "+avx512-bf16") != NULL ? 10 : 2;
    tap_diag("cpu variant %s: %s", info.variant,
             has_fast ? "fast mode has a kernel" : "no fast kernel, fast mode runs exact");

    /* mixes of: one or several 16-row activation tiles (more than 4 takes
     * the panel path), partial tiles in M and N, blocksizes 32..4096,
     * nested absmax, bias */
    static const gemm_case cases[] = {
        { KBIT_NF4, 2, 48, 256, 64, 0, 1 },
        { KBIT_NF4, 16, 64, 4096, 64, 0, 0 },
        { KBIT_FP4, 17, 37, 96, 32, 0, 1 },
        { KBIT_NF4, 70, 40, 512, 128, 0, 1 },
        { KBIT_FP4, 33, 16, 1024, 4096, 0, 0 },
        { KBIT_NF4, 5, 100, 2048, 256, 1, 1 },
        { KBIT_NF4, 12, 100, 2048, 256, 1, 1 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        bf16_case(&cases[i], 1000 + i);

    const gemm_case small = { KBIT_NF4, 12, 48, 256, 64, 0, 1 };
    exact_case(&small, KBIT_F32, -1, 0, "fp32 activation");
    exact_case(&small, KBIT_F16, -1, 0, "fp16 activation");
    const gemm_case gemv = { KBIT_NF4, 1, 48, 256, 64, 0, 1 };
    exact_case(&gemv, KBIT_BF16, -1, 0, "M = 1");
    const gemm_case odd_k = { KBIT_FP4, 4, 20, 200, 64, 0, 0 };
    exact_case(&odd_k, KBIT_BF16, -1, 0, "K % 32 != 0");
    exact_case(&small, KBIT_BF16, -1, 1, "a denormal activation");
    exact_case(&small, KBIT_BF16, 1, 0, "absmax of rows 16-31 beyond 2^40");
    kbit_device_close(dev);
    return tap_done();
}
