/* tests/test_maps.c - the public code tables against the normative tables of
 * kbit-formats.h and the anchors of doc/numerics.md 2.3, their structure, the
 * 4-bit quant_map tables (FP4 entry 8 is +0.0 as bitsandbytes stores it),
 * and an independent implementation of the generation recipe (numerics 2.2,
 * written from the spec text) that must reproduce the normative tables. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "kbit-formats.h"
#include "tap.h"
#include "testutil.h"

static const uint32_t signed_bits[256] = { KBIT_DYNAMIC_SIGNED_BITS_INIT };
static const uint32_t unsigned_bits[256] = { KBIT_DYNAMIC_UNSIGNED_BITS_INIT };
static const uint32_t nf4_bits[16] = { KBIT_NF4_BITS_INIT };
static const uint32_t fp4m_bits[8] = { KBIT_FP4_MAGNITUDE_BITS_INIT };

static float bits_f(uint32_t b)
{
    return f32_from_bits(b);
}

static void check_table(const float *got, const uint32_t *want, int n, const char *what)
{
    float w[256];
    for (int i = 0; i < n; i++)
        w[i] = bits_f(want[i]);
    tap_ok(got != NULL && tap_cmp_f32(got, w, (size_t)n, what) == 0,
           "%s equals the normative table bit for bit (%d entries)", what, n);
}

/* doc/numerics.md 2.3 anchors, as printed there (9 significant digits name one float). */
static void check_anchors(const float *s)
{
    static const struct { int i; float v; } anchors[] = {
        { 0, -0.992968738f }, { 126, -5.50000038e-07f }, { 127, 0.0f },
        { 128, 5.50000038e-07f }, { 129, 3.25000019e-06f }, { 130, 7.7499999e-06f },
        { 254, 0.992968738f }, { 255, 1.0f },
    };
    int bad = 0;
    for (size_t k = 0; k < sizeof anchors / sizeof anchors[0]; k++) {
        if (f32_bits(s[anchors[k].i]) != f32_bits(anchors[k].v)) {
            bad++;
            tap_diag("signed map [%d] = %.9g (0x%08x), spec anchor %.9g", anchors[k].i,
                     (double)s[anchors[k].i], f32_bits(s[anchors[k].i]), (double)anchors[k].v);
        }
    }
    tap_ok(bad == 0, "signed map matches the 8 anchors of numerics 2.3");
}

static void check_structure(const float *s, const float *u)
{
    int ascending = 1, symmetric = 1, negatives = 0, positives = 0;
    for (int i = 1; i < 256; i++)
        ascending &= s[i] > s[i - 1] && u[i] > u[i - 1];
    for (int k = 0; k <= 126; k++)
        symmetric &= f32_bits(s[254 - k]) == (f32_bits(s[k]) ^ 0x80000000u);
    for (int i = 0; i < 256; i++) {
        negatives += s[i] < 0;
        positives += s[i] > 0;
    }
    tap_ok(ascending, "both dynamic maps are strictly ascending");
    tap_ok(symmetric, "signed map: code[254-k] == -code[k] for k = 0..126");
    tap_ok(negatives == 127 && positives == 128 && f32_bits(s[127]) == 0 &&
               f32_bits(s[255]) == 0x3f800000u,
           "signed map: 127 negatives, +0.0 at 127, 1.0 at 255, no -1.0 (%d neg, %d pos)",
           negatives, positives);
    tap_ok(f32_bits(u[0]) == 0 && f32_bits(u[255]) == 0x3f800000u && u[1] > 0,
           "unsigned map: +0.0 at 0, 1.0 at 255, all others positive");
}

/* doc/numerics.md 2.2, from the spec text; -ffp-contract=off makes every
 * operation below a single IEEE rounding. */
static void linspace_f32(int steps, float *out)
{
    const float start = 0.1f, end = 1.0f;
    const float step = (end - start) / (float)(steps - 1);
    const int half = steps / 2;
    for (int i = 0; i < steps; i++)
        out[i] = i < half ? start + step * (float)i : end - step * (float)(steps - 1 - i);
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static void recipe(int is_signed, float out[256])
{
    static const float scale[7] = { 1e-6f, 1e-5f, 1e-4f, 1e-3f, 1e-2f, 1e-1f, 1.0f };
    int n = 0;
    for (int i = 0; i < 7; i++) {
        int m = is_signed ? 1 << i : 1 << (i + 1);
        float b[129];
        linspace_f32(m + 1, b);
        for (int k = 0; k < m; k++) {
            float v = scale[i] * ((b[k] + b[k + 1]) / 2.0f);
            out[n++] = v;
            if (is_signed)
                out[n++] = -v;
        }
    }
    out[n++] = 0.0f;
    out[n++] = 1.0f;
    qsort(out, 256, sizeof out[0], cmp_float);
}

static void check_quant_maps(void)
{
    const float *nf4 = kbit_4bit_quant_map(KBIT_NF4);
    check_table(nf4, nf4_bits, 16, "kbit_4bit_quant_map(KBIT_NF4)");

    /* FP4 as get_4bit_type("fp4") stores it: FP4M with the sign of bit 3,
     * except entry 8, whose Python literal -0 is the integer 0 -> +0.0. */
    uint32_t fp4[16];
    for (int q = 0; q < 16; q++)
        fp4[q] = fp4m_bits[q & 7] | (q & 8 ? 0x80000000u : 0);
    fp4[8] = 0x00000000u;
    const float *fp = kbit_4bit_quant_map(KBIT_FP4);
    check_table(fp, fp4, 16, "kbit_4bit_quant_map(KBIT_FP4)");
    tap_ok(fp != NULL && f32_bits(fp[8]) == 0x00000000u,
           "FP4 quant_map entry 8 is +0.0 (bits 0x%08x)", fp ? f32_bits(fp[8]) : 0u);
    /* the FP4 magnitudes are the literals /12 of numerics 1.2 */
    static const float twelfths[8] = { 0, 0.0625f, 8, 12, 4, 6, 2, 3 };
    int ok = fp != NULL;
    for (int k = 0; ok && k < 8; k++)
        ok = f32_bits(fp[k]) == f32_bits(twelfths[k] / 12.0f);
    tap_ok(ok, "FP4 magnitudes are {0, 0.0625, 8, 12, 4, 6, 2, 3} / 12 in fp32");

    tap_ok(kbit_4bit_quant_map((kbit_quant_type)0) == NULL &&
               kbit_4bit_quant_map((kbit_quant_type)3) == NULL,
           "kbit_4bit_quant_map of an unknown type is NULL");
    tap_ok(kbit_dynamic_map((kbit_map_kind)2) == NULL &&
               kbit_dynamic_map((kbit_map_kind)-1) == NULL,
           "kbit_dynamic_map of an unknown kind is NULL");
}

int main(void)
{
    const float *s = kbit_dynamic_map(KBIT_MAP_SIGNED);
    const float *u = kbit_dynamic_map(KBIT_MAP_UNSIGNED);
    if (!tap_ok(s != NULL && u != NULL, "kbit_dynamic_map returns both maps"))
        tap_bail("no maps");
    check_table(s, signed_bits, 256, "kbit_dynamic_map(KBIT_MAP_SIGNED)");
    check_table(u, unsigned_bits, 256, "kbit_dynamic_map(KBIT_MAP_UNSIGNED)");
    tap_ok(kbit_dynamic_map(KBIT_MAP_SIGNED) == s,
           "kbit_dynamic_map returns the same table on every call");
    check_anchors(s);
    check_structure(s, u);

    float r[256];
    recipe(1, r);
    check_table(r, signed_bits, 256, "recipe (numerics 2.2, signed)");
    recipe(0, r);
    check_table(r, unsigned_bits, 256, "recipe (numerics 2.2, unsigned)");

    check_quant_maps();
    return tap_done();
}
