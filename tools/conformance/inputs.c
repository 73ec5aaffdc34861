/* tools/conformance/inputs.c - see inputs.h. */
#include "config.h"

#include <math.h>
#include <stdlib.h>

#include "harness.h"
#include "inputs.h"
#include "kbit-formats.h"
#include "tap.h"

static float pool_norm[1024]; /* normalised thresholds, midpoints and code values */
static int pool_count;

static void pool_add(float v)
{
    if (pool_count < 1024 && fabsf(v) <= 1.0f)
        pool_norm[pool_count++] = v;
}

static void build_pool(void)
{
    static const uint32_t nf4t[15] = { KBIT_NF4_THRESHOLD_BITS_INIT };
    static const uint32_t nf4[16] = { KBIT_NF4_BITS_INIT };
    static const uint32_t fp4t[7] = { KBIT_FP4_THRESHOLD_BITS_INIT };
    static const uint32_t fp4m[8] = { KBIT_FP4_MAGNITUDE_BITS_INIT };
    for (int i = 0; i < 15; i++)
        pool_add(f32_from_bits(nf4t[i]));
    for (int i = 0; i < 16; i++)
        pool_add(f32_from_bits(nf4[i]));
    for (int i = 0; i < 7; i++) {
        pool_add(f32_from_bits(fp4t[i]));
        pool_add(-f32_from_bits(fp4t[i]));
    }
    for (int i = 0; i < 8; i++) {
        pool_add(f32_from_bits(fp4m[i]));
        pool_add(-f32_from_bits(fp4m[i]));
    }
    const float *maps[2] = { kbit_dynamic_map(KBIT_MAP_SIGNED), kbit_dynamic_map(KBIT_MAP_UNSIGNED) };
    for (int m = 0; m < 2; m++) {
        if (maps[m] == NULL)
            tap_bail("kbit_dynamic_map returned NULL");
        for (int i = 0; i < 255; i += 2) /* every other midpoint and code: the pool stays small */
            pool_add((maps[m][i] + maps[m][i + 1]) * 0.5f);
        for (int i = 1; i < 255; i += 2)
            pool_add((maps[m][i] + maps[m][i + 1]) * 0.5f);
        for (int i = 0; i < 256; i += 3)
            pool_add(maps[m][i]);
    }
}

static float special(rng *r, kbit_dtype dtype)
{
    float sign = rng_below(r, 2) ? -1.0f : 1.0f;
    switch (rng_below(r, 10)) {
    case 0: return sign * 0.0f;
    case 1: return NAN;
    case 2: return sign * INFINITY;
    case 3: return sign * dtype_max(dtype);
    case 4: return sign * dtype_min_denormal(dtype);
    case 5: return sign * dtype_min_denormal(dtype) * (float)(1 + rng_below(r, 1000));
    case 6: return sign * (dtype == KBIT_F16 ? 0x1p-14f : 0x1p-126f); /* smallest normal */
    case 7: return sign;
    case 8: return sign * 0.5f;
    default: return sign * (float)rng_normal(r);
    }
}

static float rand_scale(rng *r, kbit_dtype dtype)
{
    double span = dtype == KBIT_F16 ? 3.0 : 6.0; /* 10^+-span */
    return (float)pow(10.0, (rng_uniform(r) * 2.0 - 1.0) * span);
}

/* The styles of a block: a number in [0, 100) drawn for each block picks
 * the first style whose bound is above it. */
static const uint32_t x_style_start[10] = { 0, 35, 45, 55, 60, 64, 76, 82, 87, 92 };

/* Fill x[0..n) (fp32 values already representable in dtype after
 * f32_to_dtype) block by block with the styles of inputs.h: drawn at
 * random, or every style in turn. */
static void gen_x(rng *r, float *x, int64_t n, int B, kbit_dtype dtype, int every_style)
{
    for (int64_t b0 = 0; b0 < n; b0 += B) {
        int64_t len = n - b0 < B ? n - b0 : B;
        float *blk = x + b0;
        uint32_t style = every_style ? x_style_start[(b0 / B) % 10] : rng_below(r, 100);
        float s = rand_scale(r, dtype);
        if (style < 35) {
            for (int64_t i = 0; i < len; i++)
                blk[i] = (float)rng_normal(r) * s;
        } else if (style < 45) {
            for (int64_t i = 0; i < len; i++)
                blk[i] = (float)(rng_normal(r) / (rng_uniform(r) + 0.01)) * s;
        } else if (style < 55) {
            for (int64_t i = 0; i < len; i++)
                blk[i] = rng_below(r, 10) == 0 ? special(r, dtype) : (float)rng_normal(r) * s;
        } else if (style < 60) {
            for (int64_t i = 0; i < len; i++)
                blk[i] = rng_below(r, 2) ? -0.0f : 0.0f;
        } else if (style < 64) {
            for (int64_t i = 0; i < len; i++)
                blk[i] = NAN;
        } else if (style < 76) {
            /* absmax exactly 2^k: thresholds, midpoints and codes scale exactly */
            int k = dtype == KBIT_F16 ? (int)rng_below(r, 9) - 4 : (int)rng_below(r, 41) - 20;
            float p = ldexpf(1.0f, k);
            for (int64_t i = 0; i < len; i++) {
                float v = pool_norm[rng_below(r, (uint32_t)pool_count)];
                uint32_t nudge = rng_below(r, 4);
                if (nudge == 1)
                    v = f32_next_up(v);
                else if (nudge == 2)
                    v = f32_next_down(v);
                if (fabsf(v) > 1.0f)
                    v = 1.0f;
                blk[i] = v * p;
            }
            blk[rng_below(r, (uint32_t)len)] = rng_below(r, 2) ? -p : p;
        } else if (style < 82) {
            float d = dtype_min_denormal(dtype);
            uint32_t top = rng_below(r, 2) ? 4 : 1024; /* tiny: 1/absmax may overflow */
            for (int64_t i = 0; i < len; i++)
                blk[i] = (rng_below(r, 2) ? -d : d) * (float)rng_below(r, top);
        } else if (style < 87) {
            for (int64_t i = 0; i < len; i++)
                blk[i] = (float)rng_normal(r) * s;
            blk[rng_below(r, (uint32_t)len)] = rng_below(r, 2) ? -INFINITY : INFINITY;
        } else if (style < 92) {
            for (int64_t i = 0; i < len; i++)
                blk[i] = (float)rng_normal(r) * dtype_max(dtype) * 0.25f;
            blk[rng_below(r, (uint32_t)len)] = (rng_below(r, 2) ? -1.0f : 1.0f) * dtype_max(dtype);
        } else {
            /* exact small values: powers of two and integers */
            for (int64_t i = 0; i < len; i++)
                blk[i] = rng_below(r, 2) ? ldexpf(1.0f, (int)rng_below(r, 16) - 8)
                                         : (float)((int)rng_below(r, 33) - 16);
        }
    }
}

/* The classes of a scale, as for the blocks of gen_x. */
static const uint32_t scale_class_start[9] = { 0, 55, 60, 65, 70, 75, 82, 87, 92 };

/* Scales for dequantization: anything a float can hold. klass < 0: drawn
 * at random; else that class. */
static float gen_scale(rng *r, int klass)
{
    uint32_t s = klass < 0 ? rng_below(r, 100) : scale_class_start[klass % 9];
    if (s < 55)
        return fabsf((float)rng_normal(r)) * rand_scale(r, KBIT_F32);
    if (s < 60)
        return 0.0f;
    if (s < 65)
        return INFINITY;
    if (s < 70)
        return NAN;
    if (s < 75)
        return 0x1p-149f * (float)(1 + rng_below(r, 1u << 20));
    if (s < 82)
        return (float)(65504.0 + rng_uniform(r) * 1e6) * (rng_below(r, 2) ? 1.0f : 1e30f);
    if (s < 87)
        return rng_below(r, 2) ? -0.0f : -(float)rng_uniform(r) * 3.0f;
    if (s < 92)
        return f32_from_bits(0x7f7fffffu);
    return ldexpf(1.0f, (int)rng_below(r, 60) - 30);
}

void *gen_bytes(rng *r, size_t n)
{
    uint8_t *b = conf_xmalloc(n);
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)rng_next(r);
    return b;
}

static void *input(rng *r, int64_t n, int B, kbit_dtype dtype, size_t *bytes, int every_style)
{
    float *f = conf_xmalloc((size_t)n * 4);
    gen_x(r, f, n, B, dtype, every_style);
    *bytes = (size_t)n * kbit_dtype_size(dtype);
    void *x = conf_xmalloc(*bytes);
    f32_to_dtype(dtype, f, x, (size_t)n);
    free(f);
    return x;
}

void *gen_input(rng *r, int64_t n, int B, kbit_dtype dtype, size_t *bytes)
{
    return input(r, n, B, dtype, bytes, 0);
}

void *gen_input_every_style(rng *r, int64_t n, int B, kbit_dtype dtype, size_t *bytes)
{
    return input(r, n, B, dtype, bytes, 1);
}

static float *scales(rng *r, int64_t n, int every_class)
{
    float *a = conf_xmalloc((size_t)n * 4);
    for (int64_t i = 0; i < n; i++)
        a[i] = gen_scale(r, every_class ? (int)(i % 9) : -1);
    return a;
}

float *gen_scales(rng *r, int64_t n)
{
    return scales(r, n, 0);
}

float *gen_scales_every_class(rng *r, int64_t n)
{
    return scales(r, n, 1);
}

/* 4-bit absmax arrays as the nested ops see them. */
float *gen_absmax_array(rng *r, int64_t n, int style)
{
    float *a = conf_xmalloc((size_t)n * 4);
    float s = rand_scale(r, KBIT_F32), shift = (float)rng_uniform(r) * s;
    for (int64_t i = 0; i < n; i++) {
        switch (style) {
        case 0: a[i] = fabsf((float)rng_normal(r)) * s + shift; break;
        case 1: a[i] = 0.125f; break;
        case 2: a[i] = 0.0f; break;
        case 3: a[i] = rng_below(r, 8) == 0 ? 0.0f : fabsf((float)rng_normal(r)) * s; break;
        case 4: a[i] = rng_below(r, 50) == 0 ? INFINITY : fabsf((float)rng_normal(r)) * s; break;
        case 5: a[i] = rng_below(r, 50) == 0 ? NAN : fabsf((float)rng_normal(r)) * s; break;
        case 6: a[i] = 0x1p-149f * (float)rng_below(r, 4096); break;
        default: a[i] = gen_scale(r, -1); break;
        }
    }
    return a;
}

/* ------------------------------------------------------------------ */
/* Maps for the 8-bit ops */

static float linear_map[256], custom_map[256];
static int pool_built;

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

void inputs_init(rng *r)
{
    if (!pool_built) {
        build_pool();
        pool_built = 1;
    }
    for (int i = 0; i < 256; i++)
        linear_map[i] = (float)i * (2.0f / 255.0f) - 1.0f; /* create_linear_map-like */
    for (int i = 0; i < 256; i++)
        custom_map[i] = (float)(rng_uniform(r) * 5.0 - 2.0); /* wider than [-1, 1] */
    custom_map[17] = custom_map[18];  /* a duplicate entry: equal codes tie */
    custom_map[100] = 0.0f;
    custom_map[101] = -0.0f;          /* +0 and -0 compare equal */
    qsort(custom_map, 256, sizeof custom_map[0], cmp_float);
}

const float *map_of(int which, const char **name)
{
    switch (which % 4) {
    case 0: *name = "signed (NULL)"; return NULL;
    case 1: *name = "unsigned"; return kbit_dynamic_map(KBIT_MAP_UNSIGNED);
    case 2: *name = "linear"; return linear_map;
    default: *name = "custom"; return custom_map;
    }
}
