/* tools/conformance/random_quant8.c - the randomized cases of the quant8
 * family against the scalar reference: 8-bit blockwise quantize (f32, f16,
 * bf16 in; signed, unsigned, linear and custom maps) and dequantize (to f32,
 * f16, bf16).
 *
 * Sizes: n = 0, 1, 2, 3, B-1, B, B+1, 2B+1, 3B+2, 7B+5 for every blocksize
 * 64..4096, a few between 64 Ki and 256 Ki elements, and a few of 1-8 M
 * elements (16 MiB of bf16 output: the CPU's non-temporal store path);
 * inputs of inputs.h, and for every dtype one input with every block style
 * (scale class) in turn. --quick: sizes 0, 1, B+1, 3B+2, one mid size per
 * op, none of the large ones. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "blockwise.h"
#include "devmem.h"
#include "families.h"
#include "inputs.h"

enum { OP_Q8, OP_DQ8 };

static void run_case(kbit_device *dev, const bw_case *c, unsigned char fill, bw_result *res)
{
    int64_t n = c->n;
    size_t nb = (size_t)kbit_nblocks(n, c->blocksize);
    if (c->op == OP_Q8) {
        void *x = bw_in_upload(dev, c, 0), *q = bw_out_alloc(dev, (size_t)n, fill),
             *a = bw_out_alloc(dev, nb * 4, fill);
        res->st = kbit_quantize_8bit(dev, c->dtype, x, n, c->blocksize, c->code, q, a);
        bw_add_out(res, dev, "q", 3, (size_t)n, 1, q);
        bw_add_out(res, dev, "absmax", 0, nb, 4, a);
        dev_free(dev, x);
        dev_free(dev, q);
        dev_free(dev, a);
    } else {
        size_t ob = (size_t)n * kbit_dtype_size(c->out_dtype);
        void *q = bw_in_upload(dev, c, 0), *a = bw_in_upload(dev, c, 1),
             *o = bw_out_alloc(dev, ob, fill);
        res->st = kbit_dequantize_8bit(dev, q, a, n, c->blocksize, c->code, c->out_dtype, o);
        bw_add_out(res, dev, "out", bw_cmp_code(c->out_dtype), (size_t)n,
                   kbit_dtype_size(c->out_dtype), o);
        dev_free(dev, q);
        dev_free(dev, a);
        dev_free(dev, o);
    }
}

static void q8_case(bw_runner *b, kbit_dtype dtype, int B, int64_t n, int map, const char *note,
                    int every_style)
{
    const char *mname;
    bw_case c = { .op = OP_Q8, .dtype = dtype, .n = n, .blocksize = B };
    c.code = map_of(map, &mname);
    snprintf(c.desc, sizeof c.desc, "%s map %s B=%d n=%lld%s", dtype_str(dtype), mname, B,
             (long long)n, note);
    if (n)
        c.in[0] = every_style ? gen_input_every_style(&b->r, n, B, dtype, &c.in_bytes[0])
                              : gen_input(&b->r, n, B, dtype, &c.in_bytes[0]);
    bw_everywhere(b, &c);
}

static void cases_q8(bw_runner *b)
{
    int quick = b->run->quick, which = 0;
    for (int di = 0; di < 3; di++) {
        for (int B = 64; B <= 4096; B *= 2) {
            int64_t sizes[16];
            int ns = bw_sizes_for(B, quick, sizes);
            for (int k = 0; k < ns; k++)
                q8_case(b, bw_float_dtypes[di], B, sizes[k], which++, "", 0);
        }
    }
    for (int k = 0; k < (quick ? 1 : 8); k++)
        q8_case(b, bw_float_dtypes[k % 3], 64 << (k % 7), bw_medium_n(k), k, "", 0);
    const struct { kbit_dtype d; int B; int map; int64_t n; } big[] = {
        { KBIT_F32, 4096, 0, 3145735 },
        { KBIT_BF16, 256, 1, 1048577 },
        { KBIT_F16, 64, 3, 1000003 },
    };
    for (size_t i = 0; !quick && i < sizeof big / sizeof big[0]; i++)
        q8_case(b, big[i].d, big[i].B, big[i].n, big[i].map, " (large)", 0);
    for (int di = 0; di < 3; di++)
        for (int map = 0; map < 4; map++)
            q8_case(b, bw_float_dtypes[di], 64, 20 * 64 + 5, map, " (every style)", 1);
    bw_report(b, "quantize_8bit");
}

static void dq8_case(bw_runner *b, kbit_dtype out_dtype, int B, int64_t n, int map,
                     const char *note, int every_class)
{
    const char *mname;
    bw_case c = { .op = OP_DQ8, .out_dtype = out_dtype, .n = n, .blocksize = B };
    c.code = map_of(map, &mname);
    snprintf(c.desc, sizeof c.desc, "-> %s map %s B=%d n=%lld%s", dtype_str(out_dtype), mname,
             B, (long long)n, note);
    if (n) {
        c.in_bytes[0] = (size_t)n;
        c.in[0] = gen_bytes(&b->r, c.in_bytes[0]);
        c.in_bytes[1] = (size_t)kbit_nblocks(n, B) * 4;
        c.in[1] = every_class ? gen_scales_every_class(&b->r, kbit_nblocks(n, B))
                              : gen_scales(&b->r, kbit_nblocks(n, B));
    }
    bw_everywhere(b, &c);
}

static void cases_dq8(bw_runner *b)
{
    int quick = b->run->quick, which = 0;
    for (int di = 0; di < 3; di++) {
        for (int B = 64; B <= 4096; B *= 2) {
            int64_t sizes[16];
            int ns = bw_sizes_for(B, quick, sizes);
            for (int k = 0; k < ns; k++) {
                if (!quick && k % 2 != di % 2 && sizes[k] > 3)
                    continue;
                dq8_case(b, bw_float_dtypes[di], B, sizes[k], which++, "", 0);
            }
        }
    }
    for (int k = 0; k < (quick ? 1 : 6); k++)
        dq8_case(b, bw_float_dtypes[k % 3], 64 << k, bw_medium_n(k + 2), k + 1, "", 0);
    /* 16 MiB of bf16 output: the CPU's non-temporal store path. */
    if (!quick)
        dq8_case(b, KBIT_BF16, 64, 8388613, 0, " (large)", 0);
    for (int di = 0; di < 3; di++)
        for (int map = 0; map < 4; map++)
            dq8_case(b, bw_float_dtypes[di], 64, 20 * 64 + 5, map, " (every class of scale)", 1);
    bw_report(b, "dequantize_8bit");
}

void conf_random_quant8(conf_run *run)
{
    static bw_runner b;
    bw_start(&b, run, run_case, 0x6b626974c0ffeeull);
    cases_q8(&b);
    cases_dq8(&b);
}
