/* tests/test_conformance.c - every op on every target, bit for bit against
 * the reference (the CPU driver forced to its scalar variant, one thread),
 * on seeded random inputs of many shapes with edge values mixed in.
 *
 * Ops: 4-bit quantize (NF4/FP4, f32/f16/bf16 in), 4-bit dequantize (to
 * f32/f16/bf16), 8-bit quantize (signed, unsigned and custom maps), 8-bit
 * dequantize, nested quantize/dequantize of absmax, and the quant-state
 * functions (plain and nested). Sizes: n = 0, 1, 2, 3, B-1, B, B+1, 2B+1,
 * 3B+2, 7B+5 for every blocksize, plus a few of 1-4 M elements. Every block
 * draws a style: normal or heavy-tailed data at random scales, specials
 * sprinkled in (+-0, denormals, +-inf, NaN, largest finite), all-zero and
 * all-NaN blocks, blocks whose absmax is a power of two holding exact
 * thresholds/midpoints/code values and their +-1 ulp neighbours, denormal
 * blocks (incl. absmax so small that 1/absmax = inf), blocks with inf or the
 * largest finite value.
 *
 * One TAP line per (op, target) with counts; outputs are pre-filled with
 * different bytes for the reference and the target, so an element that
 * either leaves unwritten shows up as a mismatch. KBIT_TEST_SEED changes the
 * seed (the default is fixed, so runs are reproducible). */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kbit-formats.h"
#include "tap.h"
#include "testutil.h"

enum { OP_Q4, OP_DQ4, OP_Q8, OP_DQ8, OP_NQ, OP_NDQ, OP_STATE, OP_COUNT };

static const char *op_names[OP_COUNT] = {
    "quantize_4bit", "dequantize_4bit", "quantize_8bit", "dequantize_8bit",
    "nested_quantize", "nested_dequantize", "quant_state (quantize/dequantize_4bit_state)",
};

typedef struct ccase {
    int op;
    char desc[200];
    kbit_quant_type type;
    kbit_dtype dtype;      /* input dtype (quantize) */
    kbit_dtype out_dtype;  /* output dtype (dequantize) */
    int64_t n;             /* elements (nblocks for the nested ops) */
    int blocksize;
    const float *code;     /* 8-bit map / code2; NULL = default */
    float offset;          /* nested dequantize */
    int nested;            /* quant state */
    int ndim;
    int64_t shape[KBIT_MAX_DIMS];
    void *in[3];           /* host inputs */
    size_t in_bytes[3];
} ccase;

typedef struct out_buf {
    const char *name;
    int dtype; /* tap_cmp_dtype code */
    size_t n;
    void *host;
} out_buf;

typedef struct result {
    kbit_status st;
    char err[512];
    int nout;
    out_buf out[8];
} result;

typedef struct tstats {
    int cases;
    size_t elements;
    size_t mismatches;
    int errors;
} tstats;

static int cmp_code(kbit_dtype d)
{
    return d == KBIT_F32 ? 0 : d == KBIT_F16 ? 1 : d == KBIT_BF16 ? 2 : 3;
}

/* ------------------------------------------------------------------ */
/* Inputs */

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

/* Fill x[0..n) (fp32 values already representable in dtype after
 * f32_to_dtype) block by block with the styles described above. */
static void gen_x(rng *r, float *x, int64_t n, int B, kbit_dtype dtype)
{
    for (int64_t b0 = 0; b0 < n; b0 += B) {
        int64_t len = n - b0 < B ? n - b0 : B;
        float *blk = x + b0;
        uint32_t style = rng_below(r, 100);
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

/* Scales for dequantization: anything a float can hold. */
static float gen_scale(rng *r)
{
    uint32_t s = rng_below(r, 100);
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

static void *xmalloc(size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    if (p == NULL)
        tap_bail("out of host memory (%zu bytes)", bytes);
    return p;
}

static void *gen_bytes(rng *r, size_t n)
{
    uint8_t *b = xmalloc(n);
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)rng_next(r);
    return b;
}

/* x in dtype, from fp32 values generated by gen_x. */
static void *gen_input(rng *r, int64_t n, int B, kbit_dtype dtype, size_t *bytes)
{
    float *f = xmalloc((size_t)n * 4);
    gen_x(r, f, n, B, dtype);
    *bytes = (size_t)n * kbit_dtype_size(dtype);
    void *x = xmalloc(*bytes);
    f32_to_dtype(dtype, f, x, (size_t)n);
    free(f);
    return x;
}

static float *gen_scales(rng *r, int64_t n)
{
    float *a = xmalloc((size_t)n * 4);
    for (int64_t i = 0; i < n; i++)
        a[i] = gen_scale(r);
    return a;
}

/* 4-bit absmax arrays as the nested ops see them. */
static float *gen_absmax_array(rng *r, int64_t n, int style)
{
    float *a = xmalloc((size_t)n * 4);
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
        default: a[i] = gen_scale(r); break;
        }
    }
    return a;
}

/* ------------------------------------------------------------------ */
/* Maps for the 8-bit ops */

static float linear_map[256], custom_map[256];

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static void build_maps(rng *r)
{
    for (int i = 0; i < 256; i++)
        linear_map[i] = (float)i * (2.0f / 255.0f) - 1.0f; /* create_linear_map-like */
    for (int i = 0; i < 256; i++)
        custom_map[i] = (float)(rng_uniform(r) * 5.0 - 2.0); /* wider than [-1, 1] */
    custom_map[17] = custom_map[18];  /* a duplicate entry: equal codes tie */
    custom_map[100] = 0.0f;
    custom_map[101] = -0.0f;          /* +0 and -0 compare equal */
    qsort(custom_map, 256, sizeof custom_map[0], cmp_float);
}

static const float *map_of(int which, const char **name)
{
    switch (which % 4) {
    case 0: *name = "signed (NULL)"; return NULL;
    case 1: *name = "unsigned"; return kbit_dynamic_map(KBIT_MAP_UNSIGNED);
    case 2: *name = "linear"; return linear_map;
    default: *name = "custom"; return custom_map;
    }
}

/* ------------------------------------------------------------------ */
/* Running one case on one device */

static void add_out(result *res, kbit_device *dev, const char *name, int dtype, size_t n,
                    size_t elem, const void *dev_ptr)
{
    out_buf *o = &res->out[res->nout++];
    o->name = name;
    o->dtype = dtype;
    o->n = n;
    o->host = xmalloc(n * elem);
    if (res->st == KBIT_OK && n)
        dev_download(dev, o->host, dev_ptr, n * elem);
}

static void add_host_out(result *res, const char *name, size_t n, const float *src)
{
    out_buf *o = &res->out[res->nout++];
    o->name = name;
    o->dtype = 0;
    o->n = n;
    o->host = xmalloc(n * 4);
    memcpy(o->host, src, n * 4);
}

static void result_free(result *res)
{
    for (int i = 0; i < res->nout; i++)
        free(res->out[i].host);
    res->nout = 0;
}

/* Device buffer of `bytes` filled with `fill`, or NULL for an empty one. */
static void *out_alloc(kbit_device *dev, size_t bytes, unsigned char fill)
{
    return bytes ? dev_alloc_fill(dev, bytes, fill) : NULL;
}

static void *in_upload(kbit_device *dev, const ccase *c, int i)
{
    return c->in_bytes[i] ? dev_upload(dev, c->in[i], c->in_bytes[i]) : NULL;
}

static void run_state(kbit_device *dev, const ccase *c, unsigned char fill, result *res)
{
    kbit_quant_state qs;
    res->st = kbit_quant_state_init(&qs, c->type, c->dtype, c->ndim, c->shape, c->blocksize,
                                    c->nested);
    if (res->st != KBIT_OK)
        return;
    int64_t n = qs.numel;
    size_t pb = (size_t)kbit_packed_4bit_bytes(n);
    size_t ab = (size_t)qs.nblocks * (c->nested ? 1 : 4), a2b = (size_t)qs.nblocks2 * 4;
    void *x = in_upload(dev, c, 0);
    void *p = out_alloc(dev, pb, fill);
    qs.absmax = out_alloc(dev, ab, fill);
    qs.absmax2 = c->nested ? out_alloc(dev, a2b, fill) : NULL;
    qs.offset = f32_from_bits(0x7fc00000u | fill);
    void *out = out_alloc(dev, (size_t)n * kbit_dtype_size(c->out_dtype), fill);
    res->st = kbit_quantize_4bit_state(dev, x, p, &qs);
    if (res->st == KBIT_OK)
        res->st = kbit_dequantize_4bit_state(dev, p, &qs, c->out_dtype, out);
    add_out(res, dev, "packed", 3, pb, 1, p);
    add_out(res, dev, "absmax", c->nested ? 3 : 0, (size_t)qs.nblocks, c->nested ? 1 : 4,
            qs.absmax);
    if (c->nested) {
        add_out(res, dev, "absmax2", 0, (size_t)qs.nblocks2, 4, qs.absmax2);
        add_host_out(res, "offset", 1, &qs.offset);
        add_host_out(res, "code2", 256, qs.code2);
    }
    add_out(res, dev, "out", cmp_code(c->out_dtype), (size_t)n, kbit_dtype_size(c->out_dtype),
            out);
    dev_free(dev, x);
    dev_free(dev, p);
    dev_free(dev, qs.absmax);
    dev_free(dev, qs.absmax2);
    dev_free(dev, out);
}

static void run_case(kbit_device *dev, const ccase *c, unsigned char fill, result *res)
{
    memset(res, 0, sizeof *res);
    int64_t n = c->n;
    size_t nb = (size_t)kbit_nblocks(n, c->blocksize);
    switch (c->op) {
    case OP_Q4: {
        size_t pb = (size_t)kbit_packed_4bit_bytes(n);
        void *x = in_upload(dev, c, 0), *p = out_alloc(dev, pb, fill),
             *a = out_alloc(dev, nb * 4, fill);
        res->st = kbit_quantize_4bit(dev, c->type, c->dtype, x, n, c->blocksize, p, a);
        add_out(res, dev, "packed", 3, pb, 1, p);
        add_out(res, dev, "absmax", 0, nb, 4, a);
        dev_free(dev, x);
        dev_free(dev, p);
        dev_free(dev, a);
        break;
    }
    case OP_DQ4: {
        size_t ob = (size_t)n * kbit_dtype_size(c->out_dtype);
        void *p = in_upload(dev, c, 0), *a = in_upload(dev, c, 1), *o = out_alloc(dev, ob, fill);
        res->st = kbit_dequantize_4bit(dev, c->type, p, a, n, c->blocksize, c->out_dtype, o);
        add_out(res, dev, "out", cmp_code(c->out_dtype), (size_t)n,
                kbit_dtype_size(c->out_dtype), o);
        dev_free(dev, p);
        dev_free(dev, a);
        dev_free(dev, o);
        break;
    }
    case OP_Q8: {
        void *x = in_upload(dev, c, 0), *q = out_alloc(dev, (size_t)n, fill),
             *a = out_alloc(dev, nb * 4, fill);
        res->st = kbit_quantize_8bit(dev, c->dtype, x, n, c->blocksize, c->code, q, a);
        add_out(res, dev, "q", 3, (size_t)n, 1, q);
        add_out(res, dev, "absmax", 0, nb, 4, a);
        dev_free(dev, x);
        dev_free(dev, q);
        dev_free(dev, a);
        break;
    }
    case OP_DQ8: {
        size_t ob = (size_t)n * kbit_dtype_size(c->out_dtype);
        void *q = in_upload(dev, c, 0), *a = in_upload(dev, c, 1), *o = out_alloc(dev, ob, fill);
        res->st = kbit_dequantize_8bit(dev, q, a, n, c->blocksize, c->code, c->out_dtype, o);
        add_out(res, dev, "out", cmp_code(c->out_dtype), (size_t)n,
                kbit_dtype_size(c->out_dtype), o);
        dev_free(dev, q);
        dev_free(dev, a);
        dev_free(dev, o);
        break;
    }
    case OP_NQ: {
        size_t nb2 = (size_t)kbit_nblocks(n, KBIT_NESTED_BLOCKSIZE);
        void *a = in_upload(dev, c, 0), *q = out_alloc(dev, (size_t)n, fill),
             *a2 = out_alloc(dev, nb2 * 4, fill);
        float offset = f32_from_bits(0x7fc00000u | fill);
        res->st = kbit_nested_quantize(dev, a, n, q, a2, &offset);
        add_out(res, dev, "qabsmax", 3, (size_t)n, 1, q);
        add_out(res, dev, "absmax2", 0, nb2, 4, a2);
        add_host_out(res, "offset", 1, &offset);
        dev_free(dev, a);
        dev_free(dev, q);
        dev_free(dev, a2);
        break;
    }
    case OP_NDQ: {
        void *q = in_upload(dev, c, 0), *a2 = in_upload(dev, c, 1),
             *o = out_alloc(dev, (size_t)n * 4, fill);
        res->st = kbit_nested_dequantize(dev, q, a2, c->code, c->offset, n, o);
        add_out(res, dev, "absmax_out", 0, (size_t)n, 4, o);
        dev_free(dev, q);
        dev_free(dev, a2);
        dev_free(dev, o);
        break;
    }
    case OP_STATE:
        run_state(dev, c, fill, res);
        break;
    }
    if (res->st != KBIT_OK)
        snprintf(res->err, sizeof res->err, "%s", kbit_last_error());
}

static void compare(const ccase *c, const result *ref, const result *got, const char *label,
                    tstats *s)
{
    s->cases++;
    if (ref->st != KBIT_OK) {
        s->errors++;
        tap_diag("%s: the reference failed on %s: %s (%s)", label, c->desc,
                 kbit_strerror(ref->st), ref->err);
        return;
    }
    if (got->st != KBIT_OK) {
        s->errors++;
        tap_diag("%s: %s failed: %s (%s)", label, c->desc, kbit_strerror(got->st), got->err);
        return;
    }
    for (int i = 0; i < ref->nout; i++) {
        char what[400];
        snprintf(what, sizeof what, "%s: %s: %s", label, c->desc, ref->out[i].name);
        s->mismatches += tap_cmp_dtype(ref->out[i].dtype, got->out[i].host, ref->out[i].host,
                                       ref->out[i].n, what);
        s->elements += ref->out[i].n;
    }
}

/* ------------------------------------------------------------------ */
/* The case lists */

typedef struct runner {
    kbit_device *ref;
    target *targets;
    int ntargets;
    tstats stats[MAX_TARGETS];
    rng r;
} runner;

static void free_inputs(ccase *c)
{
    for (int i = 0; i < 3; i++) {
        free(c->in[i]);
        c->in[i] = NULL;
    }
}

/* Run c on the reference and on every usable target; frees c's inputs. */
static void run_everywhere(runner *run, ccase *c)
{
    result ref;
    run_case(run->ref, c, 0xa5, &ref);
    for (int t = 0; t < run->ntargets; t++) {
        if (run->targets[t].dev == NULL)
            continue;
        result got;
        run_case(run->targets[t].dev, c, 0x5a, &got);
        compare(c, &ref, &got, run->targets[t].label, &run->stats[t]);
        result_free(&got);
    }
    result_free(&ref);
    free_inputs(c);
}

static void report(runner *run, int op)
{
    for (int t = 0; t < run->ntargets; t++) {
        char what[256];
        snprintf(what, sizeof what, "%s on %s", op_names[op], run->targets[t].label);
        if (run->targets[t].dev == NULL) {
            tap_skip(what, "%s", run->targets[t].skip);
            continue;
        }
        tstats *s = &run->stats[t];
        tap_ok(s->mismatches == 0 && s->errors == 0 && s->cases > 0,
               "%s: %d cases, %zu elements bit-exact vs scalar reference (%zu mismatches, "
               "%d errors)", what, s->cases, s->elements, s->mismatches, s->errors);
    }
    memset(run->stats, 0, sizeof run->stats);
}

static const kbit_dtype float_dtypes[3] = { KBIT_F32, KBIT_F16, KBIT_BF16 };

/* n values for blocksize B */
static int sizes_for(int B, int64_t *out)
{
    const int64_t s[] = { 1, 2, 3, B - 1, B, B + 1, 2 * (int64_t)B + 1, 3 * (int64_t)B + 2,
                          7 * (int64_t)B + 5 };
    int k = 0;
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
        if (s[i] >= 1)
            out[k++] = s[i];
    return k;
}

/* Sizes between 64 Ki and 256 Ki elements, odd and even. */
static int64_t medium_n(int k)
{
    static const int64_t n[] = { 65537, 98304, 100003, 131071, 131072, 163841, 200000, 262145,
                                 70001 };
    return n[k % 9];
}

static void cases_q4(runner *run)
{
    static const kbit_quant_type types[2] = { KBIT_NF4, KBIT_FP4 };
    for (int ti = 0; ti < 2; ti++) {
        for (int di = 0; di < 3; di++) {
            for (int B = 32; B <= 4096; B *= 2) {
                int64_t sizes[16];
                int ns = sizes_for(B, sizes);
                if (B == 64)
                    sizes[ns++] = 0;
                for (int k = 0; k < ns; k++) {
                    ccase c = { .op = OP_Q4, .type = types[ti], .dtype = float_dtypes[di],
                                .n = sizes[k], .blocksize = B };
                    snprintf(c.desc, sizeof c.desc, "%s %s B=%d n=%lld",
                             ti ? "fp4" : "nf4", dtype_str(c.dtype), B, (long long)c.n);
                    if (c.n)
                        c.in[0] = gen_input(&run->r, c.n, B, c.dtype, &c.in_bytes[0]);
                    run_everywhere(run, &c);
                }
            }
        }
    }
    /* medium sizes: above the CPU driver's threshold for splitting work across
     * threads, with chunk boundaries at many block positions */
    for (int k = 0; k < 6; k++) {
        ccase c = { .op = OP_Q4, .type = types[k % 2], .dtype = float_dtypes[k % 3],
                    .n = medium_n(k), .blocksize = 32 << (k + 1) };
        snprintf(c.desc, sizeof c.desc, "%s %s B=%d n=%lld", k % 2 ? "fp4" : "nf4",
                 dtype_str(c.dtype), c.blocksize, (long long)c.n);
        c.in[0] = gen_input(&run->r, c.n, c.blocksize, c.dtype, &c.in_bytes[0]);
        run_everywhere(run, &c);
    }
    const struct { kbit_quant_type t; kbit_dtype d; int B; int64_t n; } big[] = {
        { KBIT_NF4, KBIT_F32, 64, 4194305 },
        { KBIT_FP4, KBIT_BF16, 4096, 1048579 },
        { KBIT_NF4, KBIT_F16, 128, 2097151 },
    };
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        ccase c = { .op = OP_Q4, .type = big[i].t, .dtype = big[i].d, .n = big[i].n,
                    .blocksize = big[i].B };
        snprintf(c.desc, sizeof c.desc, "%s %s B=%d n=%lld (large)",
                 big[i].t == KBIT_FP4 ? "fp4" : "nf4", dtype_str(c.dtype), c.blocksize,
                 (long long)c.n);
        c.in[0] = gen_input(&run->r, c.n, c.blocksize, c.dtype, &c.in_bytes[0]);
        run_everywhere(run, &c);
    }
    report(run, OP_Q4);
}

static void cases_dq4(runner *run)
{
    static const kbit_quant_type types[2] = { KBIT_NF4, KBIT_FP4 };
    for (int ti = 0; ti < 2; ti++) {
        for (int di = 0; di < 3; di++) {
            for (int B = 32; B <= 4096; B *= 2) {
                int64_t sizes[16];
                int ns = sizes_for(B, sizes);
                if (B == 64)
                    sizes[ns++] = 0;
                for (int k = 0; k < ns; k++) {
                    /* one size in three is enough per (type, dtype, B): they share code paths */
                    if (k % 3 != (di + ti) % 3 && sizes[k] > 3)
                        continue;
                    ccase c = { .op = OP_DQ4, .type = types[ti], .out_dtype = float_dtypes[di],
                                .n = sizes[k], .blocksize = B };
                    snprintf(c.desc, sizeof c.desc, "%s -> %s B=%d n=%lld", ti ? "fp4" : "nf4",
                             dtype_str(c.out_dtype), B, (long long)c.n);
                    if (c.n) {
                        c.in_bytes[0] = (size_t)kbit_packed_4bit_bytes(c.n);
                        c.in[0] = gen_bytes(&run->r, c.in_bytes[0]);
                        c.in_bytes[1] = (size_t)kbit_nblocks(c.n, B) * 4;
                        c.in[1] = gen_scales(&run->r, kbit_nblocks(c.n, B));
                    }
                    run_everywhere(run, &c);
                }
            }
        }
    }
    for (int k = 0; k < 6; k++) {
        ccase c = { .op = OP_DQ4, .type = types[k % 2], .out_dtype = float_dtypes[k % 3],
                    .n = medium_n(k + 1), .blocksize = 32 << k };
        snprintf(c.desc, sizeof c.desc, "%s -> %s B=%d n=%lld", k % 2 ? "fp4" : "nf4",
                 dtype_str(c.out_dtype), c.blocksize, (long long)c.n);
        c.in_bytes[0] = (size_t)kbit_packed_4bit_bytes(c.n);
        c.in[0] = gen_bytes(&run->r, c.in_bytes[0]);
        c.in_bytes[1] = (size_t)kbit_nblocks(c.n, c.blocksize) * 4;
        c.in[1] = gen_scales(&run->r, kbit_nblocks(c.n, c.blocksize));
        run_everywhere(run, &c);
    }
    const struct { kbit_quant_type t; kbit_dtype d; int B; int64_t n; } big[] = {
        { KBIT_FP4, KBIT_F16, 64, 2097155 },
        { KBIT_NF4, KBIT_BF16, 1024, 1048576 },
        /* Outputs of 16 MiB or more take the CPU's non-temporal store path. */
        { KBIT_NF4, KBIT_F32, 64, 4194309 },
        { KBIT_FP4, KBIT_BF16, 256, 8388613 },
    };
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        ccase c = { .op = OP_DQ4, .type = big[i].t, .out_dtype = big[i].d, .n = big[i].n,
                    .blocksize = big[i].B };
        snprintf(c.desc, sizeof c.desc, "%s -> %s B=%d n=%lld (large)",
                 big[i].t == KBIT_FP4 ? "fp4" : "nf4", dtype_str(c.out_dtype), c.blocksize,
                 (long long)c.n);
        c.in_bytes[0] = (size_t)kbit_packed_4bit_bytes(c.n);
        c.in[0] = gen_bytes(&run->r, c.in_bytes[0]);
        c.in_bytes[1] = (size_t)kbit_nblocks(c.n, c.blocksize) * 4;
        c.in[1] = gen_scales(&run->r, kbit_nblocks(c.n, c.blocksize));
        run_everywhere(run, &c);
    }
    report(run, OP_DQ4);
}

static void cases_q8(runner *run)
{
    int which = 0;
    for (int di = 0; di < 3; di++) {
        for (int B = 64; B <= 4096; B *= 2) {
            int64_t sizes[16];
            int ns = sizes_for(B, sizes);
            if (B == 64)
                sizes[ns++] = 0;
            for (int k = 0; k < ns; k++) {
                const char *mname;
                ccase c = { .op = OP_Q8, .dtype = float_dtypes[di], .n = sizes[k],
                            .blocksize = B };
                c.code = map_of(which++, &mname);
                snprintf(c.desc, sizeof c.desc, "%s map %s B=%d n=%lld", dtype_str(c.dtype),
                         mname, B, (long long)c.n);
                if (c.n)
                    c.in[0] = gen_input(&run->r, c.n, B, c.dtype, &c.in_bytes[0]);
                run_everywhere(run, &c);
            }
        }
    }
    for (int k = 0; k < 8; k++) {
        const char *mname;
        ccase c = { .op = OP_Q8, .dtype = float_dtypes[k % 3], .n = medium_n(k),
                    .blocksize = 64 << (k % 7) };
        c.code = map_of(k, &mname);
        snprintf(c.desc, sizeof c.desc, "%s map %s B=%d n=%lld", dtype_str(c.dtype), mname,
                 c.blocksize, (long long)c.n);
        c.in[0] = gen_input(&run->r, c.n, c.blocksize, c.dtype, &c.in_bytes[0]);
        run_everywhere(run, &c);
    }
    const struct { kbit_dtype d; int B; int map; int64_t n; } big[] = {
        { KBIT_F32, 4096, 0, 3145735 },
        { KBIT_BF16, 256, 1, 1048577 },
        { KBIT_F16, 64, 3, 1000003 },
    };
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        const char *mname;
        ccase c = { .op = OP_Q8, .dtype = big[i].d, .n = big[i].n, .blocksize = big[i].B };
        c.code = map_of(big[i].map, &mname);
        snprintf(c.desc, sizeof c.desc, "%s map %s B=%d n=%lld (large)", dtype_str(c.dtype),
                 mname, c.blocksize, (long long)c.n);
        c.in[0] = gen_input(&run->r, c.n, c.blocksize, c.dtype, &c.in_bytes[0]);
        run_everywhere(run, &c);
    }
    report(run, OP_Q8);
}

static void cases_dq8(runner *run)
{
    int which = 0;
    for (int di = 0; di < 3; di++) {
        for (int B = 64; B <= 4096; B *= 2) {
            int64_t sizes[16];
            int ns = sizes_for(B, sizes);
            if (B == 64)
                sizes[ns++] = 0;
            for (int k = 0; k < ns; k++) {
                if (k % 2 != di % 2 && sizes[k] > 3)
                    continue;
                const char *mname;
                ccase c = { .op = OP_DQ8, .out_dtype = float_dtypes[di], .n = sizes[k],
                            .blocksize = B };
                c.code = map_of(which++, &mname);
                snprintf(c.desc, sizeof c.desc, "-> %s map %s B=%d n=%lld",
                         dtype_str(c.out_dtype), mname, B, (long long)c.n);
                if (c.n) {
                    c.in_bytes[0] = (size_t)c.n;
                    c.in[0] = gen_bytes(&run->r, c.in_bytes[0]);
                    c.in_bytes[1] = (size_t)kbit_nblocks(c.n, B) * 4;
                    c.in[1] = gen_scales(&run->r, kbit_nblocks(c.n, B));
                }
                run_everywhere(run, &c);
            }
        }
    }
    for (int k = 0; k < 6; k++) {
        const char *mname;
        ccase c = { .op = OP_DQ8, .out_dtype = float_dtypes[k % 3], .n = medium_n(k + 2),
                    .blocksize = 64 << k };
        c.code = map_of(k + 1, &mname);
        snprintf(c.desc, sizeof c.desc, "-> %s map %s B=%d n=%lld", dtype_str(c.out_dtype),
                 mname, c.blocksize, (long long)c.n);
        c.in_bytes[0] = (size_t)c.n;
        c.in[0] = gen_bytes(&run->r, c.in_bytes[0]);
        c.in_bytes[1] = (size_t)kbit_nblocks(c.n, c.blocksize) * 4;
        c.in[1] = gen_scales(&run->r, kbit_nblocks(c.n, c.blocksize));
        run_everywhere(run, &c);
    }
    /* 16 MiB of bf16 output: the CPU's non-temporal store path. */
    ccase c = { .op = OP_DQ8, .out_dtype = KBIT_BF16, .n = 8388613, .blocksize = 64 };
    snprintf(c.desc, sizeof c.desc, "-> bf16 map signed B=64 n=%lld (large)", (long long)c.n);
    c.in_bytes[0] = (size_t)c.n;
    c.in[0] = gen_bytes(&run->r, c.in_bytes[0]);
    c.in_bytes[1] = (size_t)kbit_nblocks(c.n, 64) * 4;
    c.in[1] = gen_scales(&run->r, kbit_nblocks(c.n, 64));
    run_everywhere(run, &c);
    report(run, OP_DQ8);
}

static void cases_nested(runner *run)
{
    static const int64_t sizes[] = { 0, 1, 2, 3, 255, 256, 257, 511, 513, 1000, 4097, 70001,
                                     300007 };
    int style = 0;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        int reps = sizes[k] > 5000 ? 2 : 8;
        for (int rep = 0; rep < reps; rep++, style++) {
            ccase c = { .op = OP_NQ, .n = sizes[k], .blocksize = KBIT_NESTED_BLOCKSIZE };
            snprintf(c.desc, sizeof c.desc, "nblocks=%lld style %d", (long long)c.n, style % 8);
            if (c.n) {
                c.in_bytes[0] = (size_t)c.n * 4;
                c.in[0] = gen_absmax_array(&run->r, c.n, style % 8);
            }
            run_everywhere(run, &c);
        }
    }
    report(run, OP_NQ);

    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        for (int rep = 0; rep < 3; rep++) {
            const char *mname;
            ccase c = { .op = OP_NDQ, .n = sizes[k], .blocksize = KBIT_NESTED_BLOCKSIZE };
            c.code = map_of(rep == 2 ? 3 : rep, &mname);
            float offsets[4] = { 0.0f, (float)rng_normal(&run->r) * 0.01f, -1.5f, NAN };
            c.offset = offsets[rng_below(&run->r, 4)];
            snprintf(c.desc, sizeof c.desc, "nblocks=%lld code2 %s offset %g", (long long)c.n,
                     mname, (double)c.offset);
            if (c.n) {
                c.in_bytes[0] = (size_t)c.n;
                c.in[0] = gen_bytes(&run->r, c.in_bytes[0]);
                c.in_bytes[1] = (size_t)kbit_nblocks(c.n, KBIT_NESTED_BLOCKSIZE) * 4;
                c.in[1] = gen_scales(&run->r, kbit_nblocks(c.n, KBIT_NESTED_BLOCKSIZE));
            }
            run_everywhere(run, &c);
        }
    }
    report(run, OP_NDQ);
}

static void cases_state(runner *run)
{
    static const struct { int ndim; int64_t shape[3]; } shapes[] = {
        { 0, { 0 } }, { 1, { 0 } }, { 1, { 1 } }, { 2, { 3, 5 } }, { 2, { 7, 33 } },
        { 3, { 4, 16, 33 } }, { 2, { 64, 129 } }, { 2, { 1, 12289 } },
    };
    static const kbit_quant_type types[2] = { KBIT_NF4, KBIT_FP4 };
    int i = 0;
    for (int nested = 0; nested <= 1; nested++) {
        for (int ti = 0; ti < 2; ti++) {
            for (int di = 0; di < 3; di++) {
                for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++, i++) {
                    ccase c = { .op = OP_STATE, .type = types[ti], .dtype = float_dtypes[di],
                                .out_dtype = float_dtypes[(di + s) % 3], .nested = nested,
                                .blocksize = 32 << (i % 8), .ndim = shapes[s].ndim };
                    int64_t n = 1;
                    for (int d = 0; d < c.ndim; d++)
                        n *= c.shape[d] = shapes[s].shape[d];
                    snprintf(c.desc, sizeof c.desc, "%s%s %s -> %s B=%d ndim=%d n=%lld",
                             nested ? "nested " : "", ti ? "fp4" : "nf4", dtype_str(c.dtype),
                             dtype_str(c.out_dtype), c.blocksize, c.ndim, (long long)n);
                    if (n)
                        c.in[0] = gen_input(&run->r, n, c.blocksize, c.dtype, &c.in_bytes[0]);
                    run_everywhere(run, &c);
                }
            }
        }
    }
    ccase c = { .op = OP_STATE, .type = KBIT_NF4, .dtype = KBIT_F16, .out_dtype = KBIT_BF16,
                .nested = 1, .blocksize = 64, .ndim = 2, .shape = { 2048, 1029 } };
    snprintf(c.desc, sizeof c.desc, "nested nf4 f16 -> bf16 B=64 [2048, 1029] (large)");
    c.in[0] = gen_input(&run->r, 2048 * 1029, 64, KBIT_F16, &c.in_bytes[0]);
    run_everywhere(run, &c);
    report(run, OP_STATE);
}

int main(void)
{
    uint64_t seed = 0x6b626974c0ffeeull;
    const char *env = getenv("KBIT_TEST_SEED");
    if (env && *env)
        seed = strtoull(env, NULL, 0);
    tap_diag("seed 0x%llx (set KBIT_TEST_SEED to change it)", (unsigned long long)seed);

    static runner run;
    rng_seed(&run.r, seed);
    build_pool();
    build_maps(&run.r);
    run.ref = reference_open();
    static target targets[MAX_TARGETS];
    run.targets = targets;
    run.ntargets = targets_open(targets, MAX_TARGETS);

    cases_q4(&run);
    cases_dq4(&run);
    cases_q8(&run);
    cases_dq8(&run);
    cases_nested(&run);
    cases_state(&run);

    targets_close(targets, run.ntargets);
    kbit_device_close(run.ref);
    return tap_done();
}
