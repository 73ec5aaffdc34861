/* tools/conformance/random_quant4.c - the randomized cases of the quant4
 * family against the scalar reference: 4-bit quantize (NF4/FP4, f32/f16/bf16
 * in), 4-bit dequantize (to f32/f16/bf16), nested quantize / dequantize of
 * absmax, and the quant-state functions (plain and nested).
 *
 * Sizes: n = 0, 1, 2, 3, B-1, B, B+1, 2B+1, 3B+2, 7B+5 for every blocksize,
 * a few between 64 Ki and 256 Ki elements (above the CPU driver's threshold
 * for splitting work across threads, with chunk boundaries at many block
 * positions) and a few of 1-8 M elements (outputs of 16 MiB or more take
 * the CPU's non-temporal store path); inputs of inputs.h, and for every
 * (type, dtype) one input with every block style in turn. --quick: sizes 0,
 * 1, B+1, 3B+2, one mid size per op, none of the large ones. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "blockwise.h"
#include "devmem.h"
#include "families.h"
#include "inputs.h"

enum { OP_Q4, OP_DQ4, OP_NQ, OP_NDQ, OP_STATE };

static void run_state(kbit_device *dev, const bw_case *c, unsigned char fill, bw_result *res)
{
    kbit_quant_state qs;
    res->st = kbit_quant_state_init(&qs, c->type, c->dtype, c->ndim, c->shape, c->blocksize,
                                    c->nested);
    if (res->st != KBIT_OK)
        return;
    int64_t n = qs.numel;
    size_t pb = (size_t)kbit_packed_4bit_bytes(n);
    size_t ab = (size_t)qs.nblocks * (c->nested ? 1 : 4), a2b = (size_t)qs.nblocks2 * 4;
    void *x = bw_in_upload(dev, c, 0);
    void *p = bw_out_alloc(dev, pb, fill);
    qs.absmax = bw_out_alloc(dev, ab, fill);
    qs.absmax2 = c->nested ? bw_out_alloc(dev, a2b, fill) : NULL;
    qs.offset = f32_from_bits(0x7fc00000u | fill);
    void *out = bw_out_alloc(dev, (size_t)n * kbit_dtype_size(c->out_dtype), fill);
    res->st = kbit_quantize_4bit_state(dev, x, p, &qs);
    if (res->st == KBIT_OK)
        res->st = kbit_dequantize_4bit_state(dev, p, &qs, c->out_dtype, out);
    bw_add_out(res, dev, "packed", 3, pb, 1, p);
    bw_add_out(res, dev, "absmax", c->nested ? 3 : 0, (size_t)qs.nblocks, c->nested ? 1 : 4,
               qs.absmax);
    if (c->nested) {
        bw_add_out(res, dev, "absmax2", 0, (size_t)qs.nblocks2, 4, qs.absmax2);
        bw_add_host_out(res, "offset", 1, &qs.offset);
        bw_add_host_out(res, "code2", 256, qs.code2);
    }
    bw_add_out(res, dev, "out", bw_cmp_code(c->out_dtype), (size_t)n,
               kbit_dtype_size(c->out_dtype), out);
    dev_free(dev, x);
    dev_free(dev, p);
    dev_free(dev, qs.absmax);
    dev_free(dev, qs.absmax2);
    dev_free(dev, out);
}

static void run_case(kbit_device *dev, const bw_case *c, unsigned char fill, bw_result *res)
{
    int64_t n = c->n;
    size_t nb = (size_t)kbit_nblocks(n, c->blocksize);
    switch (c->op) {
    case OP_Q4: {
        size_t pb = (size_t)kbit_packed_4bit_bytes(n);
        void *x = bw_in_upload(dev, c, 0), *p = bw_out_alloc(dev, pb, fill),
             *a = bw_out_alloc(dev, nb * 4, fill);
        res->st = kbit_quantize_4bit(dev, c->type, c->dtype, x, n, c->blocksize, p, a);
        bw_add_out(res, dev, "packed", 3, pb, 1, p);
        bw_add_out(res, dev, "absmax", 0, nb, 4, a);
        dev_free(dev, x);
        dev_free(dev, p);
        dev_free(dev, a);
        break;
    }
    case OP_DQ4: {
        size_t ob = (size_t)n * kbit_dtype_size(c->out_dtype);
        void *p = bw_in_upload(dev, c, 0), *a = bw_in_upload(dev, c, 1),
             *o = bw_out_alloc(dev, ob, fill);
        res->st = kbit_dequantize_4bit(dev, c->type, p, a, n, c->blocksize, c->out_dtype, o);
        bw_add_out(res, dev, "out", bw_cmp_code(c->out_dtype), (size_t)n,
                   kbit_dtype_size(c->out_dtype), o);
        dev_free(dev, p);
        dev_free(dev, a);
        dev_free(dev, o);
        break;
    }
    case OP_NQ: {
        size_t nb2 = (size_t)kbit_nblocks(n, KBIT_NESTED_BLOCKSIZE);
        void *a = bw_in_upload(dev, c, 0), *q = bw_out_alloc(dev, (size_t)n, fill),
             *a2 = bw_out_alloc(dev, nb2 * 4, fill);
        float offset = f32_from_bits(0x7fc00000u | fill);
        res->st = kbit_nested_quantize(dev, a, n, q, a2, &offset);
        bw_add_out(res, dev, "qabsmax", 3, (size_t)n, 1, q);
        bw_add_out(res, dev, "absmax2", 0, nb2, 4, a2);
        bw_add_host_out(res, "offset", 1, &offset);
        dev_free(dev, a);
        dev_free(dev, q);
        dev_free(dev, a2);
        break;
    }
    case OP_NDQ: {
        void *q = bw_in_upload(dev, c, 0), *a2 = bw_in_upload(dev, c, 1),
             *o = bw_out_alloc(dev, (size_t)n * 4, fill);
        res->st = kbit_nested_dequantize(dev, q, a2, c->code, c->offset, n, o);
        bw_add_out(res, dev, "absmax_out", 0, (size_t)n, 4, o);
        dev_free(dev, q);
        dev_free(dev, a2);
        dev_free(dev, o);
        break;
    }
    case OP_STATE:
        run_state(dev, c, fill, res);
        break;
    }
}

static const kbit_quant_type types[2] = { KBIT_NF4, KBIT_FP4 };

static const char *type_name(kbit_quant_type t)
{
    return t == KBIT_FP4 ? "fp4" : "nf4";
}

static void q4_case(bw_runner *b, kbit_quant_type type, kbit_dtype dtype, int B, int64_t n,
                    const char *note, int every_style)
{
    bw_case c = { .op = OP_Q4, .type = type, .dtype = dtype, .n = n, .blocksize = B };
    snprintf(c.desc, sizeof c.desc, "%s %s B=%d n=%lld%s", type_name(type), dtype_str(dtype), B,
             (long long)n, note);
    if (n)
        c.in[0] = every_style ? gen_input_every_style(&b->r, n, B, dtype, &c.in_bytes[0])
                              : gen_input(&b->r, n, B, dtype, &c.in_bytes[0]);
    bw_everywhere(b, &c);
}

static void cases_q4(bw_runner *b)
{
    int quick = b->run->quick;
    for (int ti = 0; ti < 2; ti++) {
        for (int di = 0; di < 3; di++) {
            for (int B = 32; B <= 4096; B *= 2) {
                int64_t sizes[16];
                int ns = bw_sizes_for(B, quick, sizes);
                for (int k = 0; k < ns; k++)
                    q4_case(b, types[ti], bw_float_dtypes[di], B, sizes[k], "", 0);
            }
        }
    }
    for (int k = 0; k < (quick ? 1 : 6); k++)
        q4_case(b, types[k % 2], bw_float_dtypes[k % 3], 32 << (k + 1), bw_medium_n(k), "", 0);
    const struct { kbit_quant_type t; kbit_dtype d; int B; int64_t n; } big[] = {
        { KBIT_NF4, KBIT_F32, 64, 4194305 },
        { KBIT_FP4, KBIT_BF16, 4096, 1048579 },
        { KBIT_NF4, KBIT_F16, 128, 2097151 },
    };
    for (size_t i = 0; !quick && i < sizeof big / sizeof big[0]; i++)
        q4_case(b, big[i].t, big[i].d, big[i].B, big[i].n, " (large)", 0);
    for (int ti = 0; ti < 2; ti++)
        for (int di = 0; di < 3; di++)
            q4_case(b, types[ti], bw_float_dtypes[di], 64, 20 * 64 + 5, " (every style)", 1);
    bw_report(b, "quantize_4bit");
}

static void dq4_case(bw_runner *b, kbit_quant_type type, kbit_dtype out_dtype, int B, int64_t n,
                     const char *note, int every_class)
{
    bw_case c = { .op = OP_DQ4, .type = type, .out_dtype = out_dtype, .n = n, .blocksize = B };
    snprintf(c.desc, sizeof c.desc, "%s -> %s B=%d n=%lld%s", type_name(type),
             dtype_str(out_dtype), B, (long long)n, note);
    if (n) {
        c.in_bytes[0] = (size_t)kbit_packed_4bit_bytes(n);
        c.in[0] = gen_bytes(&b->r, c.in_bytes[0]);
        c.in_bytes[1] = (size_t)kbit_nblocks(n, B) * 4;
        c.in[1] = every_class ? gen_scales_every_class(&b->r, kbit_nblocks(n, B))
                              : gen_scales(&b->r, kbit_nblocks(n, B));
    }
    bw_everywhere(b, &c);
}

static void cases_dq4(bw_runner *b)
{
    int quick = b->run->quick;
    for (int ti = 0; ti < 2; ti++) {
        for (int di = 0; di < 3; di++) {
            for (int B = 32; B <= 4096; B *= 2) {
                int64_t sizes[16];
                int ns = bw_sizes_for(B, quick, sizes);
                for (int k = 0; k < ns; k++) {
                    /* one size in three is enough per (type, dtype, B): they share code paths */
                    if (!quick && k % 3 != (di + ti) % 3 && sizes[k] > 3)
                        continue;
                    dq4_case(b, types[ti], bw_float_dtypes[di], B, sizes[k], "", 0);
                }
            }
        }
    }
    for (int k = 0; k < (quick ? 1 : 6); k++)
        dq4_case(b, types[k % 2], bw_float_dtypes[k % 3], 32 << k, bw_medium_n(k + 1), "", 0);
    const struct { kbit_quant_type t; kbit_dtype d; int B; int64_t n; } big[] = {
        { KBIT_FP4, KBIT_F16, 64, 2097155 },
        { KBIT_NF4, KBIT_BF16, 1024, 1048576 },
        /* Outputs of 16 MiB or more take the CPU's non-temporal store path. */
        { KBIT_NF4, KBIT_F32, 64, 4194309 },
        { KBIT_FP4, KBIT_BF16, 256, 8388613 },
    };
    for (size_t i = 0; !quick && i < sizeof big / sizeof big[0]; i++)
        dq4_case(b, big[i].t, big[i].d, big[i].B, big[i].n, " (large)", 0);
    for (int ti = 0; ti < 2; ti++)
        for (int di = 0; di < 3; di++)
            dq4_case(b, types[ti], bw_float_dtypes[di], 64, 20 * 64 + 5,
                     " (every class of scale)", 1);
    bw_report(b, "dequantize_4bit");
}

static void cases_nested(bw_runner *b)
{
    static const int64_t sizes[] = { 0, 1, 2, 3, 255, 256, 257, 511, 513, 1000, 4097, 70001,
                                     300007 };
    static const int64_t quick_sizes[] = { 0, 1, 257, 513, 4097 };
    const int64_t *ns = b->run->quick ? quick_sizes : sizes;
    size_t count = b->run->quick ? sizeof quick_sizes / sizeof quick_sizes[0]
                                 : sizeof sizes / sizeof sizes[0];
    int style = 0;
    for (size_t k = 0; k < count; k++) {
        /* every style (gen_absmax_array's 8) at each small size */
        int reps = ns[k] > 5000 ? 2 : 8;
        for (int rep = 0; rep < reps; rep++, style++) {
            bw_case c = { .op = OP_NQ, .n = ns[k], .blocksize = KBIT_NESTED_BLOCKSIZE };
            snprintf(c.desc, sizeof c.desc, "nblocks=%lld style %d", (long long)c.n, style % 8);
            if (c.n) {
                c.in_bytes[0] = (size_t)c.n * 4;
                c.in[0] = gen_absmax_array(&b->r, c.n, style % 8);
            }
            bw_everywhere(b, &c);
        }
    }
    bw_report(b, "nested_quantize");

    for (size_t k = 0; k < count; k++) {
        for (int rep = 0; rep < 3; rep++) {
            const char *mname;
            bw_case c = { .op = OP_NDQ, .n = ns[k], .blocksize = KBIT_NESTED_BLOCKSIZE };
            c.code = map_of(rep == 2 ? 3 : rep, &mname);
            float offsets[4] = { 0.0f, (float)rng_normal(&b->r) * 0.01f, -1.5f, NAN };
            c.offset = offsets[rng_below(&b->r, 4)];
            snprintf(c.desc, sizeof c.desc, "nblocks=%lld code2 %s offset %g", (long long)c.n,
                     mname, (double)c.offset);
            if (c.n) {
                int64_t nb2 = kbit_nblocks(c.n, KBIT_NESTED_BLOCKSIZE);
                c.in_bytes[0] = (size_t)c.n;
                c.in[0] = gen_bytes(&b->r, c.in_bytes[0]);
                c.in_bytes[1] = (size_t)nb2 * 4;
                /* the first rep of each size: every class of absmax2 in turn */
                c.in[1] = rep == 0 ? gen_scales_every_class(&b->r, nb2) : gen_scales(&b->r, nb2);
            }
            bw_everywhere(b, &c);
        }
    }
    bw_report(b, "nested_dequantize");
}

static void cases_state(bw_runner *b)
{
    static const struct { int ndim; int64_t shape[3]; } shapes[] = {
        { 0, { 0 } }, { 1, { 0 } }, { 1, { 1 } }, { 2, { 3, 5 } }, { 2, { 7, 33 } },
        { 3, { 4, 16, 33 } }, { 2, { 64, 129 } }, { 2, { 1, 12289 } },
    };
    int i = 0;
    for (int nested = 0; nested <= 1; nested++) {
        for (int ti = 0; ti < 2; ti++) {
            for (int di = 0; di < 3; di++) {
                for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++, i++) {
                    if (b->run->quick && s % 3 != (size_t)(ti + di) % 3)
                        continue;
                    bw_case c = { .op = OP_STATE, .type = types[ti],
                                  .dtype = bw_float_dtypes[di],
                                  .out_dtype = bw_float_dtypes[(di + s) % 3], .nested = nested,
                                  .blocksize = 32 << (i % 8), .ndim = shapes[s].ndim };
                    int64_t n = 1;
                    for (int d = 0; d < c.ndim; d++)
                        n *= c.shape[d] = shapes[s].shape[d];
                    snprintf(c.desc, sizeof c.desc, "%s%s %s -> %s B=%d ndim=%d n=%lld",
                             nested ? "nested " : "", type_name(types[ti]), dtype_str(c.dtype),
                             dtype_str(c.out_dtype), c.blocksize, c.ndim, (long long)n);
                    if (n)
                        c.in[0] = gen_input(&b->r, n, c.blocksize, c.dtype, &c.in_bytes[0]);
                    bw_everywhere(b, &c);
                }
            }
        }
    }
    if (!b->run->quick) {
        bw_case c = { .op = OP_STATE, .type = KBIT_NF4, .dtype = KBIT_F16,
                      .out_dtype = KBIT_BF16, .nested = 1, .blocksize = 64, .ndim = 2,
                      .shape = { 2048, 1029 } };
        snprintf(c.desc, sizeof c.desc, "nested nf4 f16 -> bf16 B=64 [2048, 1029] (large)");
        c.in[0] = gen_input(&b->r, 2048 * 1029, 64, KBIT_F16, &c.in_bytes[0]);
        bw_everywhere(b, &c);
    }
    bw_report(b, "quant_state (quantize/dequantize_4bit_state)");
}

void conf_random_quant4(conf_run *run)
{
    static bw_runner b;
    bw_start(&b, run, run_case, 0x6b626974c0ffeeull);
    cases_q4(&b);
    cases_dq4(&b);
    cases_nested(&b);
    cases_state(&b);
}
