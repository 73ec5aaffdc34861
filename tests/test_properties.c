/* tests/test_properties.c - properties the formats promise, checked on the
 * default CPU device (the conformance test shows every other target gives
 * the same bits).
 *
 * 1. Error bound. For a block whose absmax A has a normal reciprocal
 *    r = 1/A (outside that range 1/A overflows or loses bits and the codes
 *    follow numerics 1.7; the golden and conformance tests cover them), every
 *    finite element x with code q satisfies
 *        |dq - x| <= A * h(q) + 2^-23 * (|x| + |dq|) + 2^-148
 *    where dq is the fp32 dequantization and h(q) is the largest distance
 *    from the code value DEC[q] to the two thresholds that bound its decision
 *    cell (the ends of the table are bounded by -1 and +1; for the 8-bit maps
 *    the thresholds are the fp32 midpoints). For thresholds that are exact
 *    midpoints h(q) is half the gap to the neighbouring code. The 2^-23 term
 *    covers only the roundings of 1/A, of x*r and of DEC[q]*A (each at most
 *    2^-24 relative); the 2^-148 term covers denormal results. The bound is
 *    evaluated in double, where A * h(q) is exact.
 *    NaN elements must get the code of NaN (0 for NF4, FP4 and 8-bit).
 * 2. Output dtypes: dequantizing to f16/bf16 gives exactly the RNE
 *    conversion of the fp32 dequantization (one multiply, one rounding).
 * 3. Idempotence. Re-quantizing the fp32 dequantization reproduces the codes
 *    and the absmax exactly for every block where this is guaranteed:
 *    A finite with 2^-100 <= A <= 2^100 (so DEC[q]*A and 1/A are normal
 *    floats) and some element of the block dequantizes to +-A exactly (a code
 *    with |DEC| = 1, so the new absmax equals A and the new reciprocal equals
 *    r). Then each dq*r lies within 3 ulp of DEC[q], far inside q's cell.
 *    (NF4/FP4 always hit |DEC| = 1 on the block maximum; the signed 8-bit map
 *    has no -1.0, so blocks whose maximum is negative are not eligible.) The
 *    test requires that at least a third of the blocks are eligible, so it
 *    cannot pass vacuously. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kbit-formats.h"
#include "tap.h"
#include "testutil.h"

typedef struct scheme {
    const char *name;
    int bits;              /* 4 or 8 */
    kbit_quant_type type;  /* 4-bit */
    const float *code;     /* 8-bit map */
    int nonneg;            /* draw non-negative inputs (unsigned map) */
    float dec[256];        /* code values */
    double lo[256], hi[256]; /* decision cell of each code */
} scheme;

static void scheme_nf4(scheme *s)
{
    static const uint32_t dec[16] = { KBIT_NF4_BITS_INIT };
    static const uint32_t thr[15] = { KBIT_NF4_THRESHOLD_BITS_INIT };
    memset(s, 0, sizeof *s);
    s->name = "NF4";
    s->bits = 4;
    s->type = KBIT_NF4;
    for (int q = 0; q < 16; q++) {
        s->dec[q] = f32_from_bits(dec[q]);
        s->lo[q] = q == 0 ? -1.0 : f32_from_bits(thr[q - 1]);
        s->hi[q] = q == 15 ? 1.0 : f32_from_bits(thr[q]);
    }
}

static void scheme_fp4(scheme *s)
{
    static const uint32_t mag[8] = { KBIT_FP4_MAGNITUDE_BITS_INIT };
    static const uint32_t thr[7] = { KBIT_FP4_THRESHOLD_BITS_INIT };
    /* magnitude order 0 < 1 < 6 < 7 < 4 < 5 < 2 < 3, cut at t_a .. t_g */
    static const int order[8] = { 0, 1, 6, 7, 4, 5, 2, 3 };
    memset(s, 0, sizeof *s);
    s->name = "FP4";
    s->bits = 4;
    s->type = KBIT_FP4;
    for (int j = 0; j < 8; j++) {
        int k = order[j];
        double lo = j == 0 ? 0.0 : f32_from_bits(thr[j - 1]);
        double hi = j == 7 ? 1.0 : f32_from_bits(thr[j]);
        s->dec[k] = f32_from_bits(mag[k]);
        s->lo[k] = lo;
        s->hi[k] = hi;
        s->dec[k | 8] = -f32_from_bits(mag[k]);
        s->lo[k | 8] = -hi;
        s->hi[k | 8] = -lo;
    }
}

static void scheme_8bit(scheme *s, const char *name, const float *code, int nonneg)
{
    memset(s, 0, sizeof *s);
    s->name = name;
    s->bits = 8;
    s->code = code;
    s->nonneg = nonneg;
    for (int q = 0; q < 256; q++) {
        s->dec[q] = code[q];
        s->lo[q] = q == 0 ? -1.0 : (float)((code[q - 1] + code[q]) * 0.5f);
        s->hi[q] = q == 255 ? 1.0 : (float)((code[q] + code[q + 1]) * 0.5f);
    }
    if (nonneg)
        s->lo[0] = 0.0; /* non-negative inputs only */
}

static double half_cell(const scheme *s, int q)
{
    double a = fabs((double)s->dec[q] - s->lo[q]), b = fabs(s->hi[q] - (double)s->dec[q]);
    return a > b ? a : b;
}

/* Inputs: random blocks at many scales, with some NaN, denormal and exact
 * power-of-two values; nonneg folds the sign away. */
static void gen(rng *r, float *x, int64_t n, int B, kbit_dtype dtype, int nonneg)
{
    for (int64_t b0 = 0; b0 < n; b0 += B) {
        int64_t len = n - b0 < B ? n - b0 : B;
        double span = dtype == KBIT_F16 ? 3.0 : 30.0;
        float scale = (float)pow(2.0, (rng_uniform(r) * 2.0 - 1.0) * span * 3.32);
        uint32_t style = rng_below(r, 10);
        for (int64_t i = 0; i < len; i++) {
            float v = (float)rng_normal(r) * scale;
            if (style == 0 && rng_below(r, 8) == 0)
                v = NAN;
            else if (style == 1)
                v = (float)rng_uniform(r) * dtype_min_denormal(dtype) * 64.0f;
            else if (style == 2)
                v = ldexpf(1.0f, (int)rng_below(r, 10)) * (rng_below(r, 2) ? scale : -scale);
            if (nonneg)
                v = fabsf(v);
            x[b0 + i] = dtype_round(dtype, v);
        }
    }
}

static int code_at(const scheme *s, const uint8_t *codes, int64_t i)
{
    if (s->bits == 8)
        return codes[i];
    uint8_t b = codes[i / 2];
    return i % 2 ? b & 0x0f : b >> 4;
}

typedef struct run_out {
    uint8_t *codes;
    float *absmax;
    float *dq32;
    uint16_t *dq16, *dqbf;
} run_out;

/* Quantize x (host, dtype) and dequantize to all three dtypes. */
static int run(kbit_device *dev, const scheme *s, kbit_dtype dtype, const void *x, int64_t n,
               int B, run_out *o)
{
    size_t cb = s->bits == 4 ? (size_t)kbit_packed_4bit_bytes(n) : (size_t)n;
    size_t nb = (size_t)kbit_nblocks(n, B);
    void *x_d = dev_upload(dev, x, (size_t)n * kbit_dtype_size(dtype));
    void *c_d = dev_alloc_fill(dev, cb, 0xa5), *a_d = dev_alloc_fill(dev, nb * 4, 0xa5);
    void *o32 = dev_alloc_fill(dev, (size_t)n * 4, 0xa5), *o16 = dev_alloc_fill(dev, (size_t)n * 2, 0xa5),
         *obf = dev_alloc_fill(dev, (size_t)n * 2, 0xa5);
    kbit_status st;
    if (s->bits == 4) {
        st = kbit_quantize_4bit(dev, s->type, dtype, x_d, n, B, c_d, a_d);
        if (st == KBIT_OK)
            st = kbit_dequantize_4bit(dev, s->type, c_d, a_d, n, B, KBIT_F32, o32);
        if (st == KBIT_OK)
            st = kbit_dequantize_4bit(dev, s->type, c_d, a_d, n, B, KBIT_F16, o16);
        if (st == KBIT_OK)
            st = kbit_dequantize_4bit(dev, s->type, c_d, a_d, n, B, KBIT_BF16, obf);
    } else {
        st = kbit_quantize_8bit(dev, dtype, x_d, n, B, s->code, c_d, a_d);
        if (st == KBIT_OK)
            st = kbit_dequantize_8bit(dev, c_d, a_d, n, B, s->code, KBIT_F32, o32);
        if (st == KBIT_OK)
            st = kbit_dequantize_8bit(dev, c_d, a_d, n, B, s->code, KBIT_F16, o16);
        if (st == KBIT_OK)
            st = kbit_dequantize_8bit(dev, c_d, a_d, n, B, s->code, KBIT_BF16, obf);
    }
    if (st != KBIT_OK)
        tap_diag("%s B=%d n=%lld: %s", s->name, B, (long long)n, kbit_last_error());
    o->codes = malloc(cb + 1);
    o->absmax = malloc(nb * 4 + 4);
    o->dq32 = malloc((size_t)n * 4 + 4);
    o->dq16 = malloc((size_t)n * 2 + 2);
    o->dqbf = malloc((size_t)n * 2 + 2);
    if (!o->codes || !o->absmax || !o->dq32 || !o->dq16 || !o->dqbf)
        tap_bail("out of memory");
    dev_download(dev, o->codes, c_d, cb);
    dev_download(dev, o->absmax, a_d, nb * 4);
    dev_download(dev, o->dq32, o32, (size_t)n * 4);
    dev_download(dev, o->dq16, o16, (size_t)n * 2);
    dev_download(dev, o->dqbf, obf, (size_t)n * 2);
    dev_free(dev, x_d);
    dev_free(dev, c_d);
    dev_free(dev, a_d);
    dev_free(dev, o32);
    dev_free(dev, o16);
    dev_free(dev, obf);
    return st == KBIT_OK;
}

static void run_free(run_out *o)
{
    free(o->codes);
    free(o->absmax);
    free(o->dq32);
    free(o->dq16);
    free(o->dqbf);
}

static void check_scheme(kbit_device *dev, const scheme *s, rng *r)
{
    static const kbit_dtype dtypes[3] = { KBIT_F32, KBIT_F16, KBIT_BF16 };
    size_t checked = 0, bad_bound = 0, bad_nan = 0, bad_conv = 0, conv_checked = 0;
    size_t eligible = 0, blocks = 0, bad_requant = 0, requant_elems = 0;
    int api_ok = 1;
    for (int di = 0; di < 3; di++) {
        for (int B = s->bits == 4 ? 32 : 64; B <= 4096; B *= 2) {
            int64_t n = 40 * (int64_t)B + 3;
            if (n > 60000)
                n = 60000 + 3;
            kbit_dtype dt = dtypes[di];
            float *xf = malloc((size_t)n * 4);
            void *x = malloc((size_t)n * 4);
            if (!xf || !x)
                tap_bail("out of memory");
            gen(r, xf, n, B, dt, s->nonneg);
            f32_to_dtype(dt, xf, x, (size_t)n);
            run_out o;
            api_ok &= run(dev, s, dt, x, n, B, &o);

            /* 1. the bound, and NaN -> code 0 */
            for (int64_t i = 0; i < n; i++) {
                float A = o.absmax[i / B], v = xf[i], dq = o.dq32[i];
                int q = code_at(s, o.codes, i);
                if (isnan(v)) {
                    if (q != 0 && bad_nan++ == 0)
                        tap_diag("%s: NaN at [%lld] got code %d, want 0", s->name, (long long)i, q);
                    continue;
                }
                if (!(A > 0.0f) || isinf(A) || !isnormal(1.0f / A))
                    continue;
                double bound = (double)A * half_cell(s, q) +
                               0x1p-23 * (fabs((double)v) + fabs((double)dq)) + 0x1p-148;
                checked++;
                if (!(fabs((double)dq - (double)v) <= bound) && bad_bound++ == 0)
                    tap_diag("%s %s B=%d: x[%lld] = %a, absmax %a, code %d, dq %a: error %a > "
                             "bound %a", s->name, dtype_str(dt), B, (long long)i, (double)v,
                             (double)A, q, (double)dq, fabs((double)dq - (double)v), bound);
            }
            /* 2. f16/bf16 output = RNE(f32 output) */
            for (int64_t i = 0; i < n; i++) {
                uint16_t h = f32_to_f16(o.dq32[i]), b = f32_to_bf16(o.dq32[i]);
                int h_ok = o.dq16[i] == h || (isnan(o.dq32[i]) && (o.dq16[i] & 0x7fffu) > 0x7c00u);
                int b_ok = o.dqbf[i] == b || (isnan(o.dq32[i]) && (o.dqbf[i] & 0x7fffu) > 0x7f80u);
                conv_checked += 2;
                if ((!h_ok || !b_ok) && bad_conv++ == 0)
                    tap_diag("%s B=%d: dq[%lld] f32 0x%08x: f16 0x%04x (want 0x%04x), bf16 0x%04x "
                             "(want 0x%04x)", s->name, B, (long long)i, f32_bits(o.dq32[i]),
                             o.dq16[i], h, o.dqbf[i], b);
            }
            /* 3. re-quantize the fp32 dequantization */
            run_out o2;
            api_ok &= run(dev, s, KBIT_F32, o.dq32, n, B, &o2);
            for (int64_t b0 = 0; b0 < n; b0 += B) {
                int64_t len = n - b0 < B ? n - b0 : B;
                float A = o.absmax[b0 / B];
                blocks++;
                if (!(A >= 0x1p-100f && A <= 0x1p100f))
                    continue;
                int hits = 0;
                for (int64_t i = 0; i < len; i++)
                    hits |= fabsf(o.dq32[b0 + i]) == A;
                if (!hits)
                    continue;
                eligible++;
                int same = f32_bits(o2.absmax[b0 / B]) == f32_bits(A);
                for (int64_t i = 0; i < len; i++) {
                    int q1 = code_at(s, o.codes, b0 + i);
                    /* FP4 code 8 decodes to -0.0, which encodes as code 0 */
                    if (s->bits == 4 && s->type == KBIT_FP4 && q1 == 8)
                        q1 = 0;
                    same &= q1 == code_at(s, o2.codes, b0 + i);
                }
                requant_elems += (size_t)len;
                if (!same && bad_requant++ == 0)
                    tap_diag("%s %s B=%d: block %lld (absmax %a) re-quantizes differently "
                             "(absmax %a)", s->name, dtype_str(dt), B, (long long)(b0 / B),
                             (double)A, (double)o2.absmax[b0 / B]);
            }
            run_free(&o);
            run_free(&o2);
            free(xf);
            free(x);
        }
    }
    tap_ok(api_ok, "%s: quantize/dequantize calls succeed", s->name);
    tap_ok(bad_bound == 0 && checked > 100000,
           "%s: |dq - x| <= absmax*h(q) + 2^-23(|x|+|dq|) + 2^-148 for %zu elements (%zu over)",
           s->name, checked, bad_bound);
    tap_ok(bad_nan == 0, "%s: NaN inputs get code 0 (%zu wrong)", s->name, bad_nan);
    tap_ok(bad_conv == 0, "%s: f16/bf16 dequantization = RNE of the fp32 one (%zu values, %zu wrong)",
           s->name, conv_checked, bad_conv);
    tap_ok(bad_requant == 0 && eligible * 3 >= blocks,
           "%s: re-quantizing dq reproduces codes and absmax in %zu eligible of %zu blocks "
           "(%zu elements, %zu differ)", s->name, eligible, blocks, requant_elems, bad_requant);
}

int main(void)
{
    kbit_device *dev = NULL;
    if (kbit_device_open("cpu", &dev) != KBIT_OK)
        tap_bail("kbit_device_open(cpu): %s", kbit_last_error());
    kbit_device_info info;
    if (kbit_device_get_info(dev, &info) == KBIT_OK)
        tap_diag("running on cpu variant %s, %d threads", info.variant, info.threads);
    rng r;
    rng_seed(&r, 0x70726f7065727479ull);
    static scheme s;
    scheme_nf4(&s);
    check_scheme(dev, &s, &r);
    scheme_fp4(&s);
    check_scheme(dev, &s, &r);
    const float *sm = kbit_dynamic_map(KBIT_MAP_SIGNED), *um = kbit_dynamic_map(KBIT_MAP_UNSIGNED);
    if (sm == NULL || um == NULL)
        tap_bail("kbit_dynamic_map returned NULL");
    scheme_8bit(&s, "8-bit signed", sm, 0);
    check_scheme(dev, &s, &r);
    scheme_8bit(&s, "8-bit unsigned", um, 1);
    check_scheme(dev, &s, &r);
    kbit_device_close(dev);
    return tap_done();
}
