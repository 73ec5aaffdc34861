/* tools/conformance/blockwise.c - see blockwise.h. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blockwise.h"
#include "devmem.h"
#include "inputs.h"
#include "tap.h"

const kbit_dtype bw_float_dtypes[3] = { KBIT_F32, KBIT_F16, KBIT_BF16 };

int bw_cmp_code(kbit_dtype d)
{
    return d == KBIT_F32 ? 0 : d == KBIT_F16 ? 1 : d == KBIT_BF16 ? 2 : 3;
}

void bw_add_out(bw_result *res, kbit_device *dev, const char *name, int dtype, size_t n,
                size_t elem, const void *dev_ptr)
{
    bw_out *o = &res->out[res->nout++];
    o->name = name;
    o->dtype = dtype;
    o->n = n;
    o->host = conf_xmalloc(n * elem);
    if (res->st == KBIT_OK && n)
        dev_download(dev, o->host, dev_ptr, n * elem);
}

void bw_add_host_out(bw_result *res, const char *name, size_t n, const float *src)
{
    bw_out *o = &res->out[res->nout++];
    o->name = name;
    o->dtype = 0;
    o->n = n;
    o->host = conf_xmalloc(n * 4);
    memcpy(o->host, src, n * 4);
}

static void result_free(bw_result *res)
{
    for (int i = 0; i < res->nout; i++)
        free(res->out[i].host);
    res->nout = 0;
}

void *bw_out_alloc(kbit_device *dev, size_t bytes, unsigned char fill)
{
    return bytes ? dev_alloc_fill(dev, bytes, fill) : NULL;
}

void *bw_in_upload(kbit_device *dev, const bw_case *c, int i)
{
    return c->in_bytes[i] ? dev_upload(dev, c->in[i], c->in_bytes[i]) : NULL;
}

static void run_case(bw_runner *b, kbit_device *dev, const bw_case *c, unsigned char fill,
                     bw_result *res)
{
    memset(res, 0, sizeof *res);
    b->fn(dev, c, fill, res);
    if (res->st != KBIT_OK)
        snprintf(res->err, sizeof res->err, "%s", kbit_last_error());
}

static void compare(const bw_case *c, const bw_result *ref, const bw_result *got,
                    const char *label, conf_tally *s)
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

void bw_start(bw_runner *b, conf_run *run, bw_run_fn fn, uint64_t default_seed)
{
    memset(b, 0, sizeof *b);
    b->run = run;
    b->fn = fn;
    rng_seed(&b->r, conf_seed(run, default_seed));
    inputs_init(&b->r);
}

void bw_everywhere(bw_runner *b, bw_case *c)
{
    bw_result ref;
    run_case(b, b->run->ref, c, 0xa5, &ref);
    for (int t = 0; t < b->run->ntargets; t++) {
        kbit_device *dev = conf_dev(b->run, t);
        if (dev == NULL)
            continue;
        bw_result got;
        run_case(b, dev, c, 0x5a, &got);
        compare(c, &ref, &got, b->run->targets[t].label, &b->tally[t]);
        result_free(&got);
    }
    result_free(&ref);
    for (int i = 0; i < 3; i++) {
        free(c->in[i]);
        c->in[i] = NULL;
    }
}

void bw_report(bw_runner *b, const char *check)
{
    conf_report(b->run, check, b->tally, "elements", "vs the scalar reference");
    memset(b->tally, 0, sizeof b->tally);
}

int bw_sizes_for(int B, int quick, int64_t *out)
{
    const int64_t full[] = { 1, 2, 3, B - 1, B, B + 1, 2 * (int64_t)B + 1, 3 * (int64_t)B + 2,
                             7 * (int64_t)B + 5 };
    const int64_t small[] = { 1, B + 1, 3 * (int64_t)B + 2 };
    const int64_t *s = quick ? small : full;
    size_t count = quick ? sizeof small / sizeof small[0] : sizeof full / sizeof full[0];
    int k = 0;
    for (size_t i = 0; i < count; i++)
        if (s[i] >= 1)
            out[k++] = s[i];
    if (B == 64) /* and the empty input, once per list */
        out[k++] = 0;
    return k;
}

int64_t bw_medium_n(int k)
{
    static const int64_t n[] = { 65537, 98304, 100003, 131071, 131072, 163841, 200000, 262145,
                                 70001 };
    return n[k % 9];
}
