/* tests/test_numerics_opencl.c - the numerics/ headers as OpenCL C 1.2, run
 * on the first OpenCL device the ICD loader finds (PoCL in CI), against the
 * same headers compiled as C here, bit for bit.
 *
 * The program is built from the headers as they are (with -I to the source
 * tree), `#pragma OPENCL FP_CONTRACT OFF` at its top (numerics/platform.h
 * states it too) and -cl-fp32-correctly-rounded-divide-sqrt, the options
 * the OpenCL driver will use. Its kernels run the rules over the values
 * where they can go wrong:
 *   - fp16 and bf16 -> fp32: every one of the 65536 patterns of each;
 *   - fp32 -> fp16 and -> bf16: every value of the narrow type, every
 *     midpoint between two neighbours (the ties) and the floats just either
 *     side of it, denormals, inf, NaN payloads, 65504 / 65520, random bits;
 *   - NF4 / FP4 encode: every threshold and table value, both signs, and
 *     their float neighbours; -0.0, NaN, inf; the 32 decodes;
 *   - 8-bit encode (binary search and literal count, signed and unsigned
 *     maps, and the count on an unsorted array): every midpoint (the ties),
 *     its neighbours, the map entries, NaN, out-of-range values;
 *   - dot32 of rows whose length ends a chunk or pads one (0 .. 1025), with
 *     underflowing products (-0.0 lanes), cancellations, inf and NaN;
 *   - pairsum leaves (partial last leaves) and trees of odd and even counts;
 *   - every other function of numerics/ once per work item
 *     (tests/numerics_exercise.h): the LLM.int8() rules, the optimizer
 *     updates of every kernel, dtype and flag, requantization, the scales.
 * The whole test skips, saying why, when configure found no OpenCL headers
 * or loader, when there is no platform or device, or when the device lacks
 * fp64, denormals or correctly rounded division and square root (kbit gives
 * such a device no ops). POCL_CACHE_DIR (tests/local.mk) keeps PoCL's
 * compiled kernels inside the build tree. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numerics/numerics.h"
#include "numerics_exercise.h"
#include "tap.h"
#include "testutil.h"

#if defined(KBIT_HAVE_OPENCL_ICD)
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

/* The program: the headers, then thin kernels over them. */
static const char *program_source =
    "#pragma OPENCL FP_CONTRACT OFF\n"
    "#include \"numerics/numerics.h\"\n"
    "#include \"numerics_exercise.h\"\n"
    "\n"
    "__kernel void widen16(__global const ushort *h, __global uint *f16, __global uint *bf16)\n"
    "{\n"
    "    size_t i = get_global_id(0);\n"
    "    f16[i] = kbit_f32_to_bits(kbit_f16_to_f32(h[i]));\n"
    "    bf16[i] = kbit_f32_to_bits(kbit_bf16_to_f32(h[i]));\n"
    "}\n"
    "__kernel void narrow(__global const float *x, __global ushort *f16, __global ushort *bf16)\n"
    "{\n"
    "    size_t i = get_global_id(0);\n"
    "    f16[i] = kbit_f32_to_f16(x[i]);\n"
    "    bf16[i] = kbit_f32_to_bf16(x[i]);\n"
    "}\n"
    "__kernel void encode4(__global const float *x, __global uchar *out)\n"
    "{\n"
    "    size_t i = get_global_id(0);\n"
    "    out[2 * i] = (uchar)kbit_nf4_encode(x[i]);\n"
    "    out[2 * i + 1] = (uchar)kbit_fp4_encode(x[i]);\n"
    "}\n"
    "__kernel void decode4(__global uint *out)\n"
    "{\n"
    "    uint q = (uint)get_global_id(0);\n"
    "    out[q] = kbit_f32_to_bits(kbit_4bit_decode(q < 16 ? KBIT_NF4 : KBIT_FP4, q & 15u));\n"
    "}\n"
    "__kernel void encode8(__global const float *x, __constant float *mid_s,\n"
    "                      __constant float *mid_u, __constant float *mid_x, __global uchar *out)\n"
    "{\n"
    "    size_t i = get_global_id(0);\n"
    "    out[5 * i] = (uchar)kbit_enc8_sorted(x[i], mid_s);\n"
    "    out[5 * i + 1] = (uchar)kbit_enc8_count(x[i], mid_s);\n"
    "    out[5 * i + 2] = (uchar)kbit_enc8_sorted(x[i], mid_u);\n"
    "    out[5 * i + 3] = (uchar)kbit_enc8(x[i], mid_u, 0);\n"
    "    out[5 * i + 4] = (uchar)kbit_enc8_count(x[i], mid_x);\n"
    "}\n"
    "__kernel void dot32_rows(__global const float *a, __global const float *w,\n"
    "                         __global const long *len, long stride, __global uint *out)\n"
    "{\n"
    "    size_t i = get_global_id(0);\n"
    "    out[i] = kbit_f32_to_bits(kbit_dot32(a + i * stride, w + i * stride, len[i]));\n"
    "}\n"
    "__kernel void pairsum_trees(__global double *leaves, __global const long *count,\n"
    "                            long stride, __global ulong *out)\n"
    "{\n"
    "    size_t i = get_global_id(0);\n"
    "    out[i] = kbit_f64_to_bits(kbit_pairsum_tree(leaves + i * stride, count[i]));\n"
    "}\n"
    "__kernel void pairsum_leaves(__global const float *x, long n, __global ulong *out)\n"
    "{\n"
    "    size_t b = get_global_id(0);\n"
    "    out[b] = kbit_f64_to_bits(kbit_pairsum_leaf(x, n, (long)b));\n"
    "}\n"
    "__kernel void exercise(__global const float *in, __constant float *map,\n"
    "                       __constant float *mid, __global float *scratch,\n"
    "                       __global double *dscratch, __global uint *out)\n"
    "{\n"
    "    kbit_exercise((long)get_global_id(0), in, map, mid, scratch, dscratch, out);\n"
    "}\n";

/* ------------------------------------------------------------------ */
/* A small OpenCL harness: one context, queue and program; any runtime
 * failure after the device was found is a bail-out (not a skip).        */

static cl_context ctx;
static cl_command_queue queue;
static cl_program prog;
static cl_device_id device;

static void check_cl(cl_int err, const char *what)
{
    if (err != CL_SUCCESS)
        tap_bail("%s: OpenCL error %d", what, (int)err);
}

static cl_mem buffer_in(const void *host, size_t bytes)
{
    cl_int err;
    cl_mem m = clCreateBuffer(ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, bytes ? bytes : 1,
                              (void *)host, &err);
    check_cl(err, "clCreateBuffer (input)");
    return m;
}

static cl_mem buffer_out(size_t bytes)
{
    cl_int err;
    cl_mem m = clCreateBuffer(ctx, CL_MEM_READ_WRITE, bytes ? bytes : 1, NULL, &err);
    check_cl(err, "clCreateBuffer (output)");
    return m;
}

/* Run kernel `name` over `items` work items with the arguments given as
 * (size, pointer) pairs (a cl_mem is passed by its address), and wait. */
static void run_kernel(const char *name, size_t items, int nargs, const size_t *sizes,
                       const void *const *values)
{
    cl_int err;
    cl_kernel k = clCreateKernel(prog, name, &err);
    check_cl(err, name);
    for (int a = 0; a < nargs; a++)
        check_cl(clSetKernelArg(k, (cl_uint)a, sizes[a], values[a]), "clSetKernelArg");
    check_cl(clEnqueueNDRangeKernel(queue, k, 1, NULL, &items, NULL, 0, NULL, NULL),
             "clEnqueueNDRangeKernel");
    check_cl(clFinish(queue), "clFinish");
    clReleaseKernel(k);
}

static void download(cl_mem m, void *host, size_t bytes)
{
    check_cl(clEnqueueReadBuffer(queue, m, CL_TRUE, 0, bytes, host, 0, NULL, NULL),
             "clEnqueueReadBuffer");
}

static void *xmalloc(size_t bytes)
{
    void *p = calloc(1, bytes ? bytes : 1);
    if (p == NULL)
        tap_bail("out of host memory");
    return p;
}

/* Whether element i of size es is a NaN when read as a float of that size
 * (floating: the arrays hold fp32 or fp64 results). */
static int is_nan_at(const void *p, size_t i, size_t es, int floating)
{
    if (!floating)
        return 0;
    if (es == 4) {
        uint32_t u;
        memcpy(&u, (const char *)p + i * 4, 4);
        return (u & 0x7fffffffu) > 0x7f800000u;
    }
    uint64_t u;
    memcpy(&u, (const char *)p + i * 8, 8);
    return (u & 0x7fffffffffffffffull) > 0x7ff0000000000000ull;
}

/* First mismatch of two arrays of n elements of size es, or -1; for
 * floating results every NaN equals every NaN (doc/determinism.md 1). */
static long long first_diff(const void *a, const void *b, size_t n, size_t es, int floating,
                            size_t *count)
{
    long long first = -1;
    *count = 0;
    for (size_t i = 0; i < n; i++)
        if (memcmp((const char *)a + i * es, (const char *)b + i * es, es) != 0 &&
            !(is_nan_at(a, i, es, floating) && is_nan_at(b, i, es, floating))) {
            if (first < 0)
                first = (long long)i;
            (*count)++;
        }
    return first;
}

/* One TAP line: got (from the device) against want (the C build).
 * floating: the results are fp32/fp64 values (else codes, compared raw). */
static void verdict(const char *what, const void *got, const void *want, size_t n, size_t es,
                    int floating, const float *inputs)
{
    size_t bad;
    long long at = first_diff(got, want, n, es, floating, &bad);
    if (at >= 0) {
        unsigned long long g = 0, w = 0;
        memcpy(&g, (const char *)got + (size_t)at * es, es);
        memcpy(&w, (const char *)want + (size_t)at * es, es);
        if (inputs)
            tap_diag("%s: element %lld (input 0x%08x): OpenCL 0x%llx, C 0x%llx", what, at,
                     f32_bits(inputs[at]), g, w);
        else
            tap_diag("%s: element %lld: OpenCL 0x%llx, C 0x%llx", what, at, g, w);
    }
    tap_ok(bad == 0, "%s: %zu values, %zu differ", what, n, bad);
}

/* ------------------------------------------------------------------ */
/* Edge values                                                          */

typedef struct fvec {
    float *v;
    size_t n, cap;
} fvec;

static void push(fvec *f, float x)
{
    if (f->n == f->cap) {
        f->cap = f->cap ? 2 * f->cap : 1024;
        f->v = realloc(f->v, f->cap * sizeof *f->v);
        if (f->v == NULL)
            tap_bail("out of host memory");
    }
    f->v[f->n++] = x;
}

/* x and its float neighbours out to `ulps` on each side. */
static void push_around(fvec *f, float x, int ulps)
{
    push(f, x);
    float up = x, down = x;
    for (int u = 0; u < ulps; u++) {
        up = f32_next_up(up);
        down = f32_next_down(down);
        push(f, up);
        push(f, down);
    }
}

static void push_specials(fvec *f)
{
    static const uint32_t bits[] = {
        0x00000000u, 0x80000000u, 0x7f800000u, 0xff800000u, 0x7fc00000u, 0xffc00000u,
        0x7f800001u, 0xff800001u, 0x7fbfffffu, 0x7fffffffu, 0x7fffe000u, 0x7f802000u,
        0x7f801fffu, 0x00000001u, 0x80000001u, 0x007fffffu, 0x00400000u, 0x00800000u,
        0x7f7fffffu, 0xff7fffffu,
    };
    for (size_t i = 0; i < sizeof bits / sizeof bits[0]; i++)
        push(f, f32_from_bits(bits[i]));
}

/* fp32 values for the narrowing conversions. */
static fvec narrow_values(rng *r)
{
    fvec f = { 0 };
    push_specials(&f);
    static const float named[] = { 65504.0f, 65520.0f, 65519.99609375f, 65536.0f,
                                   0x1p-14f, 0x1p-24f, 0x1p-25f, 0x3p-26f, 0x1p-26f };
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
        push_around(&f, named[i], 2);
        push_around(&f, -named[i], 2);
    }
    /* every fp16 and every bf16 value, the midpoint to its upper neighbour
     * (exact in fp32: a 12- or 9-bit significand) and that midpoint's
     * neighbours */
    for (uint32_t h = 0; h < 0x10000u; h++) {
        for (int type = 0; type < 2; type++) {
            float v = type ? bf16_to_f32((uint16_t)h) : f16_to_f32((uint16_t)h);
            float u = type ? bf16_to_f32((uint16_t)(h + 1)) : f16_to_f32((uint16_t)(h + 1));
            if (v != v)
                continue;
            push(&f, v);
            if ((h & 0x7fffu) == 0x7fffu || u != u || isinf(v) || isinf(u))
                continue;
            float mid = (float)(((double)v + (double)u) / 2.0);
            push_around(&f, mid, 1);
        }
    }
    for (int i = 0; i < 65536; i++)
        push(&f, f32_from_bits((uint32_t)rng_next(r)));
    return f;
}

/* fp32 values for the 4-bit encoders (x' = v * r, so mostly in [-1, 1]). */
static fvec encode4_values(rng *r)
{
    fvec f = { 0 };
    push_specials(&f);
    for (int i = 0; i < 15; i++) {
        push_around(&f, kbit_nf4_threshold_at(i), 3);
        push_around(&f, -kbit_nf4_threshold_at(i), 3);
    }
    for (int i = 0; i < 7; i++) {
        push_around(&f, kbit_fp4_threshold_at(i), 3);
        push_around(&f, -kbit_fp4_threshold_at(i), 3);
    }
    for (unsigned q = 0; q < 16; q++) {
        push_around(&f, kbit_nf4_value(q), 1);
        push_around(&f, kbit_4bit_decode(KBIT_FP4, q), 1);
    }
    push_around(&f, 1.0f, 2);
    push_around(&f, -1.0f, 2);
    for (int i = 0; i < 20000; i++)
        push(&f, (float)(rng_uniform(r) * 3.0 - 1.5));
    for (int i = 0; i < 10000; i++)
        push(&f, f32_from_bits((uint32_t)rng_next(r)));
    return f;
}

/* The 255 midpoints of a 256-entry map, as the core computes them. */
static void midpoints(const float *code, float *mid)
{
    for (int i = 0; i < 255; i++)
        mid[i] = (code[i] + code[i + 1]) * 0.5f;
}

static fvec encode8_values(rng *r, const float *mid_s, const float *mid_u, const float *map_s,
                           const float *map_u)
{
    fvec f = { 0 };
    push_specials(&f);
    for (int i = 0; i < 255; i++) {
        push_around(&f, mid_s[i], 2);
        push_around(&f, mid_u[i], 2);
    }
    for (int i = 0; i < 256; i++) {
        push(&f, map_s[i]);
        push(&f, map_u[i]);
    }
    static const float named[] = { 1.5f, -1.5f, 2.0f, -2.0f, 1e-30f, -1e-30f };
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
        push(&f, named[i]);
    for (int i = 0; i < 20000; i++)
        push(&f, (float)(rng_uniform(r) * 2.2 - 1.1));
    return f;
}

/* ------------------------------------------------------------------ */
/* The checks                                                           */

static void check_widen(void)
{
    uint16_t *h = xmalloc(0x10000 * 2);
    uint32_t *f16 = xmalloc(0x10000 * 4), *bf16 = xmalloc(0x10000 * 4);
    uint32_t *w16 = xmalloc(0x10000 * 4), *wbf = xmalloc(0x10000 * 4);
    for (uint32_t i = 0; i < 0x10000u; i++) {
        h[i] = (uint16_t)i;
        w16[i] = kbit_f32_to_bits(kbit_f16_to_f32((uint16_t)i));
        wbf[i] = kbit_f32_to_bits(kbit_bf16_to_f32((uint16_t)i));
    }
    cl_mem bh = buffer_in(h, 0x10000 * 2), b16 = buffer_out(0x10000 * 4),
           bbf = buffer_out(0x10000 * 4);
    size_t sz[3] = { sizeof(cl_mem), sizeof(cl_mem), sizeof(cl_mem) };
    const void *val[3] = { &bh, &b16, &bbf };
    run_kernel("widen16", 0x10000, 3, sz, val);
    download(b16, f16, 0x10000 * 4);
    download(bbf, bf16, 0x10000 * 4);
    verdict("kbit_f16_to_f32, every fp16 pattern", f16, w16, 0x10000, 4, 0, NULL);
    verdict("kbit_bf16_to_f32, every bf16 pattern", bf16, wbf, 0x10000, 4, 0, NULL);
    clReleaseMemObject(bh), clReleaseMemObject(b16), clReleaseMemObject(bbf);
    free(h), free(f16), free(bf16), free(w16), free(wbf);
}

static void check_narrow(rng *r)
{
    fvec x = narrow_values(r);
    uint16_t *g16 = xmalloc(x.n * 2), *gbf = xmalloc(x.n * 2);
    uint16_t *w16 = xmalloc(x.n * 2), *wbf = xmalloc(x.n * 2);
    for (size_t i = 0; i < x.n; i++) {
        w16[i] = kbit_f32_to_f16(x.v[i]);
        wbf[i] = kbit_f32_to_bf16(x.v[i]);
    }
    cl_mem bx = buffer_in(x.v, x.n * 4), b16 = buffer_out(x.n * 2), bbf = buffer_out(x.n * 2);
    size_t sz[3] = { sizeof(cl_mem), sizeof(cl_mem), sizeof(cl_mem) };
    const void *val[3] = { &bx, &b16, &bbf };
    run_kernel("narrow", x.n, 3, sz, val);
    download(b16, g16, x.n * 2);
    download(bbf, gbf, x.n * 2);
    verdict("kbit_f32_to_f16: fp16 values, ties and neighbours, specials, random", g16, w16, x.n,
            2, 0, x.v);
    verdict("kbit_f32_to_bf16: bf16 values, ties and neighbours, specials, random", gbf, wbf,
            x.n, 2, 0, x.v);
    clReleaseMemObject(bx), clReleaseMemObject(b16), clReleaseMemObject(bbf);
    free(x.v), free(g16), free(gbf), free(w16), free(wbf);
}

static void check_encode4(rng *r)
{
    fvec x = encode4_values(r);
    uint8_t *got = xmalloc(x.n * 2), *want = xmalloc(x.n * 2);
    uint8_t *g1 = xmalloc(x.n), *w1 = xmalloc(x.n), *g2 = xmalloc(x.n), *w2 = xmalloc(x.n);
    for (size_t i = 0; i < x.n; i++) {
        want[2 * i] = (uint8_t)kbit_nf4_encode(x.v[i]);
        want[2 * i + 1] = (uint8_t)kbit_fp4_encode(x.v[i]);
    }
    cl_mem bx = buffer_in(x.v, x.n * 4), bo = buffer_out(x.n * 2);
    size_t sz[2] = { sizeof(cl_mem), sizeof(cl_mem) };
    const void *val[2] = { &bx, &bo };
    run_kernel("encode4", x.n, 2, sz, val);
    download(bo, got, x.n * 2);
    for (size_t i = 0; i < x.n; i++) {
        g1[i] = got[2 * i], w1[i] = want[2 * i];
        g2[i] = got[2 * i + 1], w2[i] = want[2 * i + 1];
    }
    verdict("kbit_nf4_encode: thresholds, codes and neighbours, specials, random", g1, w1, x.n,
            1, 0, x.v);
    verdict("kbit_fp4_encode: thresholds, codes and neighbours, specials, random", g2, w2, x.n,
            1, 0, x.v);
    clReleaseMemObject(bx), clReleaseMemObject(bo);

    uint32_t dg[32], dw[32];
    for (unsigned q = 0; q < 32; q++)
        dw[q] = kbit_f32_to_bits(kbit_4bit_decode(q < 16 ? KBIT_NF4 : KBIT_FP4, q & 15u));
    cl_mem bd = buffer_out(sizeof dg);
    size_t szd[1] = { sizeof(cl_mem) };
    const void *vald[1] = { &bd };
    run_kernel("decode4", 32, 1, szd, vald);
    download(bd, dg, sizeof dg);
    verdict("kbit_4bit_decode: NF4 and FP4 codes", dg, dw, 32, 4, 0, NULL);
    clReleaseMemObject(bd);
    free(x.v), free(got), free(want), free(g1), free(w1), free(g2), free(w2);
}

static void check_encode8(rng *r)
{
    static const uint32_t sbits[256] = { KBIT_DYNAMIC_SIGNED_BITS_INIT };
    static const uint32_t ubits[256] = { KBIT_DYNAMIC_UNSIGNED_BITS_INIT };
    float map_s[256], map_u[256], mid_s[255], mid_u[255], mid_x[255];
    for (int i = 0; i < 256; i++)
        map_s[i] = f32_from_bits(sbits[i]), map_u[i] = f32_from_bits(ubits[i]);
    midpoints(map_s, mid_s);
    midpoints(map_u, mid_u);
    /* an unsorted array for the literal count: the signed midpoints shuffled */
    memcpy(mid_x, mid_s, sizeof mid_x);
    for (int i = 254; i > 0; i--) {
        int j = (int)rng_below(r, (uint32_t)i + 1);
        float t = mid_x[i];
        mid_x[i] = mid_x[j], mid_x[j] = t;
    }
    fvec x = encode8_values(r, mid_s, mid_u, map_s, map_u);
    uint8_t *got = xmalloc(x.n * 5), *want = xmalloc(x.n * 5);
    for (size_t i = 0; i < x.n; i++) {
        want[5 * i] = (uint8_t)kbit_enc8_sorted(x.v[i], mid_s);
        want[5 * i + 1] = (uint8_t)kbit_enc8_count(x.v[i], mid_s);
        want[5 * i + 2] = (uint8_t)kbit_enc8_sorted(x.v[i], mid_u);
        want[5 * i + 3] = (uint8_t)kbit_enc8(x.v[i], mid_u, 0);
        want[5 * i + 4] = (uint8_t)kbit_enc8_count(x.v[i], mid_x);
    }
    cl_mem bx = buffer_in(x.v, x.n * 4), bs = buffer_in(mid_s, sizeof mid_s),
           bu = buffer_in(mid_u, sizeof mid_u), bxx = buffer_in(mid_x, sizeof mid_x),
           bo = buffer_out(x.n * 5);
    size_t sz[5] = { sizeof(cl_mem), sizeof(cl_mem), sizeof(cl_mem), sizeof(cl_mem),
                     sizeof(cl_mem) };
    const void *val[5] = { &bx, &bs, &bu, &bxx, &bo };
    run_kernel("encode8", x.n, 5, sz, val);
    download(bo, got, x.n * 5);
    verdict("kbit_enc8 (binary search, literal count; signed, unsigned and unsorted "
            "midpoints): midpoints (ties) and neighbours, map entries, specials, random",
            got, want, x.n * 5, 1, 0, NULL);
    clReleaseMemObject(bx), clReleaseMemObject(bs), clReleaseMemObject(bu);
    clReleaseMemObject(bxx), clReleaseMemObject(bo);
    free(x.v), free(got), free(want);
}

#define DOT_STRIDE 1032

static void check_dot32(rng *r)
{
    static const int64_t lens[] = { 0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 100, 248, 255, 256,
                                    257, 263, 264, 300, 511, 512, 513, 1000, 1024, 1025 };
    const int nlen = (int)(sizeof lens / sizeof lens[0]), styles = 5;
    const size_t rows = (size_t)nlen * styles;
    float *a = xmalloc(rows * DOT_STRIDE * 4), *w = xmalloc(rows * DOT_STRIDE * 4);
    int64_t *len = xmalloc(rows * 8);
    uint32_t *got = xmalloc(rows * 4), *want = xmalloc(rows * 4);
    for (int l = 0; l < nlen; l++)
        for (int s = 0; s < styles; s++) {
            size_t row = (size_t)l * styles + (size_t)s;
            len[row] = lens[l];
            float *ar = a + row * DOT_STRIDE, *wr = w + row * DOT_STRIDE;
            for (int64_t k = 0; k < lens[l] && k < DOT_STRIDE; k++) {
                switch (s) {
                case 0: /* normal values: the order of lanes and fold */
                    ar[k] = (float)rng_normal(r), wr[k] = (float)rng_normal(r);
                    break;
                case 1: /* every product underflows: a lane ends with the sign
                         * of its last product, here mostly -0.0 */
                    ar[k] = -1e-30f, wr[k] = rng_below(r, 4) ? 1e-30f : -1e-30f;
                    break;
                case 2: /* large terms that cancel, tiny ones between */
                    ar[k] = (k & 1) ? 1e20f : -1e20f, wr[k] = rng_below(r, 3) ? 1.0f : 1e-25f;
                    break;
                case 3: /* now and then inf or NaN */
                    ar[k] = (float)rng_normal(r);
                    wr[k] = rng_below(r, 64) == 0 ? (rng_below(r, 2) ? INFINITY : NAN)
                                                  : (float)rng_normal(r);
                    break;
                case 4: /* every product underflows and is negative: -0.0 lanes */
                    ar[k] = -1e-30f, wr[k] = 1e-30f;
                    break;
                }
            }
            want[row] = kbit_f32_to_bits(kbit_dot32(ar, wr, lens[l]));
        }
    cl_mem ba = buffer_in(a, rows * DOT_STRIDE * 4), bw = buffer_in(w, rows * DOT_STRIDE * 4),
           bl = buffer_in(len, rows * 8), bo = buffer_out(rows * 4);
    cl_long stride = DOT_STRIDE;
    size_t sz[5] = { sizeof(cl_mem), sizeof(cl_mem), sizeof(cl_mem), sizeof stride,
                     sizeof(cl_mem) };
    const void *val[5] = { &ba, &bw, &bl, &stride, &bo };
    run_kernel("dot32_rows", rows, 5, sz, val);
    download(bo, got, rows * 4);
    verdict("kbit_dot32: lengths 0..1025 (padded and full chunks), underflow, cancellation, "
            "inf/NaN", got, want, rows, 4, 1, NULL);
    /* the cases must contain what they are for */
    size_t negz = 0, posz = 0;
    for (size_t i = 0; i < rows; i++)
        negz += want[i] == 0x80000000u, posz += want[i] == 0u;
    tap_ok(negz > 0 && posz > 0, "dot32 cases include -0.0 (%zu) and +0.0 (%zu) results", negz,
           posz);
    clReleaseMemObject(ba), clReleaseMemObject(bw), clReleaseMemObject(bl);
    clReleaseMemObject(bo);
    free(a), free(w), free(len), free(got), free(want);
}

#define TREE_STRIDE 1100

static void check_pairsum(rng *r)
{
    /* trees of 1 .. 70 leaves and a few large odd and even counts */
    int64_t counts[80];
    int ntrees = 0;
    for (int c = 1; c <= 70; c++)
        counts[ntrees++] = c;
    static const int64_t big[] = { 127, 128, 129, 255, 511, 1000, 1023, 1025 };
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++)
        counts[ntrees++] = big[i];
    double *leaves = xmalloc((size_t)ntrees * TREE_STRIDE * 8);
    double *copy = xmalloc((size_t)ntrees * TREE_STRIDE * 8);
    uint64_t *got = xmalloc((size_t)ntrees * 8), *want = xmalloc((size_t)ntrees * 8);
    for (int t = 0; t < ntrees; t++)
        for (int64_t i = 0; i < counts[t]; i++)
            leaves[(size_t)t * TREE_STRIDE + (size_t)i] =
                rng_normal(r) * ldexp(1.0, (int)rng_below(r, 120) - 60);
    memcpy(copy, leaves, (size_t)ntrees * TREE_STRIDE * 8);
    for (int t = 0; t < ntrees; t++)
        want[t] = kbit_f64_to_bits(kbit_pairsum_tree(copy + (size_t)t * TREE_STRIDE, counts[t]));
    cl_mem bl = buffer_in(leaves, (size_t)ntrees * TREE_STRIDE * 8);
    cl_mem bc = buffer_in(counts, (size_t)ntrees * 8), bo = buffer_out((size_t)ntrees * 8);
    cl_long stride = TREE_STRIDE;
    size_t sz[4] = { sizeof(cl_mem), sizeof(cl_mem), sizeof stride, sizeof(cl_mem) };
    const void *val[4] = { &bl, &bc, &stride, &bo };
    run_kernel("pairsum_trees", (size_t)ntrees, 4, sz, val);
    download(bo, got, (size_t)ntrees * 8);
    verdict("kbit_pairsum_tree: 1..70, 127..1025 leaves (odd counts carry)", got, want,
            (size_t)ntrees, 8, 1, NULL);
    clReleaseMemObject(bl), clReleaseMemObject(bc), clReleaseMemObject(bo);

    /* leaves of n = 1000 terms: 3 full leaves and a partial one */
    const int64_t n = 1000, nb = (n + 255) / 256;
    float *x = xmalloc((size_t)n * 4);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)rng_normal(r) * ldexpf(1.0f, (int)rng_below(r, 60) - 30);
    uint64_t lg[4], lw[4];
    for (int64_t b = 0; b < nb; b++)
        lw[b] = kbit_f64_to_bits(kbit_pairsum_leaf(x, n, b));
    cl_mem bx = buffer_in(x, (size_t)n * 4), bo2 = buffer_out(sizeof lg);
    cl_long cn = n;
    size_t sz2[3] = { sizeof(cl_mem), sizeof cn, sizeof(cl_mem) };
    const void *val2[3] = { &bx, &cn, &bo2 };
    run_kernel("pairsum_leaves", (size_t)nb, 3, sz2, val2);
    download(bo2, lg, (size_t)nb * 8);
    verdict("kbit_pairsum_leaf: 1000 terms (a partial last leaf)", lg, lw, (size_t)nb, 8, 1, NULL);
    clReleaseMemObject(bx), clReleaseMemObject(bo2);
    free(leaves), free(copy), free(got), free(want), free(x);
}

#define EXERCISE_ITEMS 4096

static void check_exercise(rng *r)
{
    static const uint32_t sbits[256] = { KBIT_DYNAMIC_SIGNED_BITS_INIT };
    float map[256], mid[255];
    for (int i = 0; i < 256; i++)
        map[i] = f32_from_bits(sbits[i]);
    midpoints(map, mid);
    const size_t N = EXERCISE_ITEMS;
    float *in = xmalloc(N * KBIT_EXERCISE_IN * 4);
    for (size_t i = 0; i < N * KBIT_EXERCISE_IN; i++) {
        switch (rng_below(r, 16)) {
        case 0: in[i] = 0.0f; break;
        case 1: in[i] = -0.0f; break;
        case 2: in[i] = rng_below(r, 2) ? INFINITY : NAN; break;
        case 3: in[i] = f32_from_bits((uint32_t)rng_next(r)); break;
        case 4: in[i] = (float)rng_normal(r) * 1e-38f; break;
        case 5: in[i] = (float)rng_normal(r) * 1e4f; break;
        default: in[i] = (float)rng_normal(r); break;
        }
    }
    float *scratch = xmalloc(N * KBIT_EXERCISE_SCRATCH * 4);
    double *dscratch = xmalloc(N * KBIT_EXERCISE_DSCRATCH * 8);
    uint32_t *want = xmalloc(N * KBIT_EXERCISE_OUT * 4), *got = xmalloc(N * KBIT_EXERCISE_OUT * 4);
    for (size_t i = 0; i < N; i++)
        kbit_exercise((int64_t)i, in, map, mid, scratch, dscratch, want);

    cl_mem bin = buffer_in(in, N * KBIT_EXERCISE_IN * 4), bmap = buffer_in(map, sizeof map),
           bmid = buffer_in(mid, sizeof mid), bs = buffer_out(N * KBIT_EXERCISE_SCRATCH * 4),
           bd = buffer_out(N * KBIT_EXERCISE_DSCRATCH * 8),
           bo = buffer_out(N * KBIT_EXERCISE_OUT * 4);
    size_t sz[6] = { sizeof(cl_mem), sizeof(cl_mem), sizeof(cl_mem),
                     sizeof(cl_mem), sizeof(cl_mem), sizeof(cl_mem) };
    const void *val[6] = { &bin, &bmap, &bmid, &bs, &bd, &bo };
    run_kernel("exercise", N, 6, sz, val);
    download(bo, got, N * KBIT_EXERCISE_OUT * 4);
    size_t bad;
    /* raw: the exercise writes every NaN as one pattern itself */
    long long at = first_diff(got, want, N * KBIT_EXERCISE_OUT, 4, 0, &bad);
    if (at >= 0)
        tap_diag("kbit_exercise: work item %lld, result %lld: OpenCL 0x%08x, C 0x%08x "
                 "(tests/numerics_exercise.h, in order)",
                 at / KBIT_EXERCISE_OUT, at % KBIT_EXERCISE_OUT, got[at], want[at]);
    tap_ok(bad == 0,
           "every other rule (int8, optimizer updates of every kernel and dtype, "
           "requantization, scales, dtype I/O): %d work items x %d results, %zu differ",
           EXERCISE_ITEMS, KBIT_EXERCISE_OUT, bad);
    clReleaseMemObject(bin), clReleaseMemObject(bmap), clReleaseMemObject(bmid);
    clReleaseMemObject(bs), clReleaseMemObject(bd), clReleaseMemObject(bo);
    free(in), free(scratch), free(dscratch), free(want), free(got);
}

/* ------------------------------------------------------------------ */
/* Finding a device that kbit would use                                 */

/* The first device of the first platform that has one; NULL and a reason
 * when there is none or when it lacks what bit-exact results need. */
static const char *find_device(char *name, size_t name_size)
{
    static char why[300];
    cl_uint np = 0;
    cl_platform_id plats[16];
    cl_int err = clGetPlatformIDs(16, plats, &np);
    if (err != CL_SUCCESS || np == 0) {
        snprintf(why, sizeof why,
                 "no OpenCL platform (clGetPlatformIDs: %d; install pocl-opencl-icd)", (int)err);
        return why;
    }
    for (cl_uint p = 0; p < np && p < 16; p++) {
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 1, &device, &nd) != CL_SUCCESS || nd == 0)
            continue;
        clGetDeviceInfo(device, CL_DEVICE_NAME, name_size, name, NULL);
        cl_device_fp_config sp = 0, dp = 0;
        clGetDeviceInfo(device, CL_DEVICE_SINGLE_FP_CONFIG, sizeof sp, &sp, NULL);
        clGetDeviceInfo(device, CL_DEVICE_DOUBLE_FP_CONFIG, sizeof dp, &dp, NULL);
        if (dp == 0) {
            snprintf(why, sizeof why, "OpenCL device '%.100s' has no fp64", name);
            return why;
        }
        if (!(sp & CL_FP_DENORM) || !(sp & CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT)) {
            snprintf(why, sizeof why,
                     "OpenCL device '%.100s' lacks fp32 denormals or correctly rounded "
                     "division and sqrt",
                     name);
            return why;
        }
        return NULL;
    }
    snprintf(why, sizeof why, "no OpenCL device on %u platform(s)", (unsigned)np);
    return why;
}

/* Build the program; returns 1 on success, else prints the log. */
static int build_program(void)
{
    cl_int err;
    prog = clCreateProgramWithSource(ctx, 1, &program_source, NULL, &err);
    check_cl(err, "clCreateProgramWithSource");
    char opts[1200];
    snprintf(opts, sizeof opts,
             "-cl-std=CL1.2 -cl-fp32-correctly-rounded-divide-sqrt -I%s/.. -I%s/../include -I%s",
             KBIT_TESTS_SRCDIR, KBIT_TESTS_SRCDIR, KBIT_TESTS_SRCDIR);
    err = clBuildProgram(prog, 1, &device, opts, NULL, NULL);
    size_t log_size = 0;
    clGetProgramBuildInfo(prog, device, CL_PROGRAM_BUILD_LOG, 0, NULL, &log_size);
    char *log = xmalloc(log_size + 1);
    clGetProgramBuildInfo(prog, device, CL_PROGRAM_BUILD_LOG, log_size, log, NULL);
    log[log_size] = '\0';
    /* warnings count as failures too: the headers must build cleanly */
    int clean = err == CL_SUCCESS && strstr(log, "warning") == NULL && strstr(log, "error") == NULL;
    if (!clean) {
        for (char *line = strtok(log, "\n"); line != NULL; line = strtok(NULL, "\n"))
            tap_diag("build log: %s", line);
    }
    free(log);
    return clean && err == CL_SUCCESS;
}

int main(void)
{
    char name[200] = "";
    const char *why = find_device(name, sizeof name);
    if (why != NULL) {
        tap_skip("numerics/ as OpenCL C", "%s", why);
        return tap_done();
    }
    cl_int err;
    ctx = clCreateContext(NULL, 1, &device, NULL, NULL, &err);
    check_cl(err, "clCreateContext");
    queue = clCreateCommandQueue(ctx, device, 0, &err);
    check_cl(err, "clCreateCommandQueue");
    int built = build_program();
    tap_ok(built, "numerics/ builds as OpenCL C 1.2 on '%s' (no warnings)", name);
    if (!built)
        return tap_done();

    rng r;
    rng_seed(&r, 0x0c1a55ull);
    check_widen();
    check_narrow(&r);
    check_encode4(&r);
    check_encode8(&r);
    check_dot32(&r);
    check_pairsum(&r);
    check_exercise(&r);

    clReleaseProgram(prog);
    clReleaseCommandQueue(queue);
    clReleaseContext(ctx);
    return tap_done();
}

#else /* no OpenCL headers or loader */

int main(void)
{
    tap_skip("numerics/ as OpenCL C",
             "configure found no OpenCL headers or ICD loader (apt-get install opencl-headers "
             "ocl-icd-opencl-dev pocl-opencl-icd, then configure again)");
    return tap_done();
}

#endif
