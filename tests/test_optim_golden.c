/* tests/test_optim_golden.c - the optimizer golden vectors (optim.safetensors,
 * numerics.md 6) bit for bit on every target (CPU variants x 1 and 2 threads,
 * plugin drivers, CUDA), and the host scalars of numerics 6.2/6.4.
 *
 * Cases come from the file's __metadata__ "cases" list. Each case's initial
 * state is loaded through kbit_optim_state_load_bnb (the bitsandbytes
 * state_dict route), then its steps (3) run one after the other through
 * kbit_optim_step; after every step the parameter, the saved state parts
 * (doc/formats.md layout) and, with max_unorm, the norms and update scale
 * reported by kbit_optim_state_get_info are compared with the vectors.
 * Hyperparameters are taken from f32_bits (the fp32 values kernels get). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "optimutil.h"
#include "checkpoint/safetensors.h"
#include "tap.h"
#include "testutil.h"

typedef struct run {
    kbit_st_file *st;
    const char *target;
    kbit_device *dev;
    int cases, errors;
    size_t elements, mismatches;
} run;

static void fail(run *r, const char *cname, const char *what)
{
    r->errors++;
    tap_diag("%s on %s: %s%s%s", cname, r->target, what, kbit_last_error()[0] ? ": " : "",
             kbit_last_error());
}

static const kbit_st_tensor *tensor(run *r, const char *cname, const char *role)
{
    char key[256];
    snprintf(key, sizeof key, "%s.%s", cname, role);
    const kbit_st_tensor *t = kbit_st_find(r->st, key);
    if (t == NULL)
        tap_bail("optim.safetensors: missing tensor %s", key);
    return t;
}

/* A tensor's bytes in fresh, aligned host memory. */
static void *host_copy(const kbit_st_tensor *t)
{
    void *p = malloc(t->nbytes ? t->nbytes : 1);
    if (p == NULL)
        tap_bail("out of memory");
    memcpy(p, t->data, t->nbytes);
    return p;
}

static int cmp_code(kbit_dtype d)
{
    return d == KBIT_F32 ? 0 : d == KBIT_F16 ? 1 : d == KBIT_BF16 ? 2 : 3;
}

static void expect(run *r, const char *cname, const char *role, const void *got,
                   size_t got_bytes)
{
    const kbit_st_tensor *want = tensor(r, cname, role);
    char label[300];
    snprintf(label, sizeof label, "%s.%s on %s", cname, role, r->target);
    if (got_bytes != want->nbytes) {
        r->errors++;
        tap_diag("%s: %zu bytes, the vectors have %llu", label, got_bytes,
                 (unsigned long long)want->nbytes);
        return;
    }
    r->mismatches += tap_cmp_dtype(cmp_code(want->dtype), got, want->data, (size_t)want->numel,
                                   label);
    r->elements += (size_t)want->numel;
}

static float hex_float(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    if (s == NULL)
        tap_bail("optim.safetensors: missing hex value %s", key);
    return f32_from_bits((uint32_t)strtoul(s, NULL, 16));
}

static int64_t int_param(json_t *params, const char *key)
{
    json_t *v = json_object_get(params, key);
    return json_is_integer(v) ? json_integer_value(v) : 0; /* null: no schedule */
}

static kbit_dtype dtype_param(json_t *params)
{
    const char *d = json_string_value(json_object_get(params, "dtype"));
    if (d && strcmp(d, "f16") == 0)
        return KBIT_F16;
    if (d && strcmp(d, "bf16") == 0)
        return KBIT_BF16;
    return KBIT_F32;
}

/* The case's configuration, from its params. */
static int case_config(json_t *c, kbit_optim_config *cfg)
{
    json_t *params = json_object_get(c, "params");
    const char *op = json_string_value(json_object_get(c, "op"));
    int kind = optim_kind_of(json_string_value(json_object_get(params, "optimizer")));
    if (kind < 0 || kbit_optim_config_default((kbit_optim_kind)kind, cfg) != KBIT_OK)
        return 0;
    json_t *bits = json_object_get(params, "f32_bits");
    cfg->lr = hex_float(bits, "lr");
    cfg->beta1 = hex_float(bits, "beta1");
    cfg->beta2 = hex_float(bits, "beta2");
    cfg->beta3 = hex_float(bits, "beta3");
    cfg->alpha = hex_float(bits, "alpha");
    cfg->eps = hex_float(bits, "eps");
    cfg->weight_decay = hex_float(bits, "weight_decay");
    cfg->max_unorm = hex_float(bits, "max_unorm");
    cfg->t_alpha = int_param(params, "t_alpha");
    cfg->t_beta3 = int_param(params, "t_beta3");
    cfg->skip_zeros = json_is_true(json_object_get(params, "skip_zeros"));
    cfg->state_bits = strcmp(op, "optimizer_8bit_blockwise") == 0 ? 8 : 32;
    cfg->min_8bit_size = 0;
    return 1;
}

static void run_case(run *r, json_t *c)
{
    const char *cname = json_string_value(json_object_get(c, "name"));
    json_t *params = json_object_get(c, "params");
    kbit_optim_config cfg;
    if (!case_config(c, &cfg)) {
        fail(r, cname, "unknown optimizer");
        return;
    }
    kbit_dtype dtype = dtype_param(params);
    int64_t n = int_param(params, "n"), first = int_param(params, "first_step");
    int64_t nsteps = int_param(params, "nsteps");
    int eight = cfg.state_bits == 8, two = optim_two_state(cfg.kind);
    r->cases++;

    kbit_optim_state *state = NULL;
    if (kbit_optim_state_create(r->dev, &cfg, n, dtype, &state) != KBIT_OK) {
        fail(r, cname, "kbit_optim_state_create");
        return;
    }
    void *parts[6] = { 0 };
    const char *roles[6] = { "state1_init", "state2_init", "absmax1_init", "absmax2_init",
                             "qmap1", "qmap2" };
    int present[6] = { 1, two, eight, eight && two, eight, eight && two };
    for (int i = 0; i < 6; i++)
        if (present[i])
            parts[i] = host_copy(tensor(r, cname, roles[i]));
    kbit_optim_bnb_state bnb = { .step = first - 1, .state1 = parts[0], .state2 = parts[1],
                                 .absmax1 = parts[2], .absmax2 = parts[3], .qmap1 = parts[4],
                                 .qmap2 = parts[5], .gnorm_vec = NULL };
    if (kbit_optim_state_load_bnb(state, &bnb) != KBIT_OK)
        fail(r, cname, "kbit_optim_state_load_bnb");
    for (int i = 0; i < 6; i++)
        free(parts[i]);

    const kbit_st_tensor *p0 = tensor(r, cname, "p_init");
    void *p_d = dev_upload(r->dev, p0->data, p0->nbytes);
    void *p_h = malloc(p0->nbytes);
    for (int64_t s = 1; s <= nsteps && p_h; s++) {
        char role[64];
        snprintf(role, sizeof role, "g_step%lld", (long long)s);
        const kbit_st_tensor *g = tensor(r, cname, role);
        void *g_d = dev_upload(r->dev, g->data, g->nbytes);
        kbit_status st = kbit_optim_step(r->dev, &cfg, state, p_d, g_d, g->dtype, 1.0f);
        dev_free(r->dev, g_d);
        if (st != KBIT_OK) {
            fail(r, cname, "kbit_optim_step");
            break;
        }
        dev_download(r->dev, p_h, p_d, p0->nbytes);
        snprintf(role, sizeof role, "p_step%lld", (long long)s);
        expect(r, cname, role, p_h, p0->nbytes);

        saved_state sv;
        saved_take(state, &sv);
        const char *names[4] = { "state1", "state2", "absmax1", "absmax2" };
        const unsigned char *got[4] = { sv.state1, sv.state2, sv.absmax1, sv.absmax2 };
        size_t bytes[4] = { sv.state1_bytes, sv.state2_bytes, sv.absmax1_bytes,
                            sv.absmax2_bytes };
        for (int i = 0; i < 4; i++) {
            if (!present[i])
                continue;
            snprintf(role, sizeof role, "%s_step%lld", names[i], (long long)s);
            expect(r, cname, role, got[i], bytes[i]);
        }
        if (sv.info.step != first - 1 + s)
            fail(r, cname, "step counter");
        if (cfg.max_unorm > 0.0f && !eight) {
            const char *nr[3] = { "param_norm", "unorm", "update_scale" };
            float nv[3] = { sv.info.param_norm, sv.info.unorm, sv.info.update_scale };
            for (int i = 0; i < 3; i++) {
                snprintf(role, sizeof role, "%s_step%lld", nr[i], (long long)s);
                expect(r, cname, role, &nv[i], sizeof nv[i]);
            }
        }
        saved_free(&sv);
    }
    free(p_h);
    dev_free(r->dev, p_d);
    kbit_optim_state_release(state);
}

/* Host scalars of every case and step against the vectors' host_scalars. */
static void check_host_scalars(json_t *cases)
{
    size_t i, values = 0, bad = 0;
    json_t *c;
    json_array_foreach(cases, i, c) {
        kbit_optim_config cfg;
        if (!case_config(c, &cfg)) {
            bad++;
            continue;
        }
        json_t *list = json_object_get(json_object_get(c, "params"), "host_scalars");
        size_t k;
        json_t *h;
        json_array_foreach(list, k, h) {
            kbit_optim_scalars sc;
            int64_t step = json_integer_value(json_object_get(h, "step"));
            if (kbit_optim_host_scalars(&cfg, step, &sc) != KBIT_OK) {
                bad++;
                continue;
            }
            const char *keys[7] = { "c1", "c2", "step_size", "alpha_t", "beta3_t", "c1p", "c2p" };
            float got[7] = { sc.c1, sc.c2, sc.step_size, sc.alpha_t, sc.beta3_t, sc.c1p, sc.c2p };
            for (int j = 0; j < 7; j++) {
                if (json_object_get(h, keys[j]) == NULL)
                    continue;
                values++;
                if (f32_bits(got[j]) != f32_bits(hex_float(h, keys[j]))) {
                    bad++;
                    tap_diag("%s step %lld %s: got 0x%08x, want 0x%08x",
                             json_string_value(json_object_get(c, "name")), (long long)step,
                             keys[j], f32_bits(got[j]), f32_bits(hex_float(h, keys[j])));
                }
            }
        }
    }
    tap_ok(bad == 0 && values > 0, "host scalars (c1, c2, step_size, alpha_t, beta3_t, c1p, c2p): "
           "%zu values bit-exact, %zu wrong", values, bad);
}

int main(void)
{
    char *path = str_printf("%s/optim.safetensors", vectors_dir());
    kbit_st_file *st = NULL;
    if (kbit_st_open(path, &st) != KBIT_OK || kbit_st_load_all(st) != KBIT_OK)
        tap_bail("%s: %s", path, kbit_last_error());
    const char *text = kbit_st_metadata(st, "cases");
    json_error_t jerr;
    json_t *cases = text ? json_loads(text, 0, &jerr) : NULL;
    if (!tap_ok(json_is_array(cases) && json_array_size(cases) > 0,
                "optim.safetensors: %zu cases", json_is_array(cases) ? json_array_size(cases) : 0))
        return tap_done();

    check_host_scalars(cases);

    target targets[MAX_TARGETS];
    int ntargets = targets_open(targets, MAX_TARGETS);
    for (int t = 0; t < ntargets; t++) {
        char what[256];
        snprintf(what, sizeof what, "optimizer golden vectors on %.96s", targets[t].label);
        if (targets[t].dev == NULL) {
            tap_skip(what, "%s", targets[t].skip);
            continue;
        }
        run r = { st, targets[t].label, targets[t].dev, 0, 0, 0, 0 };
        size_t i;
        json_t *c;
        json_array_foreach(cases, i, c)
            run_case(&r, c);
        tap_ok(r.errors == 0 && r.mismatches == 0 && r.elements > 0,
               "%s: %d cases (every step), %zu values bit-exact (%zu mismatches, %d errors)", what,
               r.cases, r.elements, r.mismatches, r.errors);
    }
    targets_close(targets, ntargets);
    json_decref(cases);
    kbit_st_close(st);
    free(path);
    return tap_done();
}
