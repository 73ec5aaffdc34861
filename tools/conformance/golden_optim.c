/* tools/conformance/golden_optim.c - the golden vectors of the optim family
 * (optim.safetensors, doc/numerics.md 6) and the host scalars of numerics
 * 6.2 / 6.4.
 *
 * Each case's initial state is loaded through kbit_optim_state_load_bnb (the
 * bitsandbytes state_dict route), then its steps (3) run one after the
 * other through kbit_optim_step; after every step the parameter, the saved
 * state parts (doc/formats.md layout) and, with max_unorm, the norms and
 * update scale reported by kbit_optim_state_get_info are compared with the
 * vectors. Hyperparameters are the cases' decimal values in double, as a
 * user gives them (numerics 6.2: the AdEMAMix schedules are computed from
 * them), checked against f32_bits (the fp32 values the kernels get). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devmem.h"
#include "families.h"
#include "golden.h"
#include "numbers.h"
#include "optimstate.h"
#include "tap.h"

/* A tensor's bytes in fresh, aligned host memory. */
static void *host_copy(const kbit_st_tensor *t)
{
    void *p = conf_xmalloc((size_t)t->nbytes);
    memcpy(p, t->data, (size_t)t->nbytes);
    return p;
}

/* Compare got_bytes of host memory with the role. */
static void expect(conf_golden *g, const char *cname, const char *role, const void *got,
                   size_t got_bytes)
{
    const kbit_st_tensor *want = golden_role(g, cname, role);
    if (want == NULL)
        return;
    if (got_bytes != want->nbytes) {
        g->tally->errors++;
        tap_diag("%s.%s on %s: %zu bytes, the vectors have %llu", cname, role, g->target,
                 got_bytes, (unsigned long long)want->nbytes);
        return;
    }
    golden_expect_host(g, cname, "kbit_optim_step", got, want);
}

static float hex_float(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    if (s == NULL)
        tap_bail("optim.safetensors: missing hex value %s", key);
    return f32_from_bits((uint32_t)strtoul(s, NULL, 16));
}

/* A hyperparameter as the user gave it (numerics 6.2): the decimal value of
 * params, in double, whose fp32 must be the vectors' f32_bits (the kernels'
 * value); vectors without the decimal value give the fp32 one widened. */
static double hyper(json_t *params, json_t *f32, const char *key, int *ok)
{
    float f = hex_float(f32, key);
    json_t *v = json_object_get(params, key);
    if (!json_is_number(v))
        return (double)f;
    double d = json_number_value(v);
    if (f32_bits((float)d) != f32_bits(f)) {
        tap_diag("optim.safetensors: %s = %.17g, whose fp32 is not f32_bits %s (0x%08x)", key,
                 d, key, f32_bits(f));
        *ok = 0;
    }
    return d;
}

static int64_t int_param(json_t *params, const char *key)
{
    json_t *v = json_object_get(params, key);
    return json_is_integer(v) ? json_integer_value(v) : 0; /* null: no schedule */
}

/* The case's configuration, from its params and state bits. */
static int case_config(json_t *params, int bits, kbit_optim_config *cfg)
{
    int kind = optim_kind_of(json_string_value(json_object_get(params, "optimizer")));
    if (kind < 0 || kbit_optim_config_default((kbit_optim_kind)kind, cfg) != KBIT_OK)
        return 0;
    json_t *f32 = json_object_get(params, "f32_bits");
    int ok = 1;
    cfg->lr = hyper(params, f32, "lr", &ok);
    cfg->beta1 = hyper(params, f32, "beta1", &ok);
    cfg->beta2 = hyper(params, f32, "beta2", &ok);
    cfg->beta3 = hyper(params, f32, "beta3", &ok);
    cfg->alpha = hyper(params, f32, "alpha", &ok);
    cfg->eps = hyper(params, f32, "eps", &ok);
    cfg->weight_decay = hyper(params, f32, "weight_decay", &ok);
    cfg->max_unorm = hyper(params, f32, "max_unorm", &ok);
    if (!ok)
        return 0;
    cfg->t_alpha = int_param(params, "t_alpha");
    cfg->t_beta3 = int_param(params, "t_beta3");
    cfg->skip_zeros = json_is_true(json_object_get(params, "skip_zeros"));
    cfg->state_bits = bits;
    cfg->min_8bit_size = 0;
    return 1;
}

static int bits_of_op(const char *op)
{
    return op && strcmp(op, "optimizer_8bit_blockwise") == 0 ? 8 : 32;
}

static void run_case(conf_golden *g, const char *cname, json_t *params, int bits)
{
    kbit_optim_config cfg;
    if (!case_config(params, bits, &cfg)) {
        golden_fail(g, cname, "unknown optimizer or inconsistent f32_bits", NULL);
        return;
    }
    kbit_dtype dtype = KBIT_F32;
    golden_param_dtype(params, "dtype", &dtype);
    int64_t n = int_param(params, "n"), first = int_param(params, "first_step");
    int64_t nsteps = int_param(params, "nsteps");
    int eight = cfg.state_bits == 8, two = optim_two_state(cfg.kind);

    const char *roles[6] = { "state1_init", "state2_init", "absmax1_init", "absmax2_init",
                             "qmap1", "qmap2" };
    int present[6] = { 1, two, eight, eight && two, eight, eight && two };
    const kbit_st_tensor *init[6] = { 0 };
    for (int i = 0; i < 6; i++)
        if (present[i] && (init[i] = golden_role(g, cname, roles[i])) == NULL)
            return;
    const kbit_st_tensor *p0 = golden_role(g, cname, "p_init");
    if (p0 == NULL)
        return;

    kbit_optim_state *state = NULL;
    if (kbit_optim_state_create(g->dev, &cfg, n, dtype, &state) != KBIT_OK) {
        golden_fail(g, cname, "kbit_optim_state_create", kbit_last_error());
        return;
    }
    void *parts[6] = { 0 };
    for (int i = 0; i < 6; i++)
        if (present[i])
            parts[i] = host_copy(init[i]);
    kbit_optim_bnb_state bnb = { .step = first - 1, .state1 = parts[0], .state2 = parts[1],
                                 .absmax1 = parts[2], .absmax2 = parts[3], .qmap1 = parts[4],
                                 .qmap2 = parts[5], .gnorm_vec = NULL };
    if (kbit_optim_state_load_bnb(state, &bnb) != KBIT_OK)
        golden_fail(g, cname, "kbit_optim_state_load_bnb", kbit_last_error());
    for (int i = 0; i < 6; i++)
        free(parts[i]);

    void *p_d = golden_upload(g, p0);
    void *p_h = conf_xmalloc((size_t)p0->nbytes);
    for (int64_t s = 1; s <= nsteps; s++) {
        char role[64];
        snprintf(role, sizeof role, "g_step%lld", (long long)s);
        const kbit_st_tensor *grad = golden_role(g, cname, role);
        if (grad == NULL)
            break;
        void *g_d = golden_upload(g, grad);
        kbit_status st = kbit_optim_step(g->dev, &cfg, state, p_d, g_d, grad->dtype, 1.0f);
        dev_free(g->dev, g_d);
        if (st != KBIT_OK) {
            golden_fail(g, cname, "kbit_optim_step", kbit_last_error());
            break;
        }
        dev_download(g->dev, p_h, p_d, (size_t)p0->nbytes);
        snprintf(role, sizeof role, "p_step%lld", (long long)s);
        expect(g, cname, role, p_h, (size_t)p0->nbytes);

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
            expect(g, cname, role, got[i], bytes[i]);
        }
        if (sv.info.step != first - 1 + s)
            golden_fail(g, cname, "step counter", NULL);
        if (cfg.max_unorm > 0.0f && !eight) {
            const char *nr[3] = { "param_norm", "unorm", "update_scale" };
            float nv[3] = { sv.info.param_norm, sv.info.unorm, sv.info.update_scale };
            for (int i = 0; i < 3; i++) {
                snprintf(role, sizeof role, "%s_step%lld", nr[i], (long long)s);
                expect(g, cname, role, &nv[i], sizeof nv[i]);
            }
        }
        saved_free(&sv);
    }
    free(p_h);
    dev_free(g->dev, p_d);
    kbit_optim_state_release(state);
}

static void op_32bit(conf_golden *g, const char *cname, json_t *params)
{
    run_case(g, cname, params, 32);
}

static void op_8bit(conf_golden *g, const char *cname, json_t *params)
{
    run_case(g, cname, params, 8);
}

const conf_golden_op conf_golden_optim[] = {
    { "optimizer_32bit", op_32bit },
    { "optimizer_8bit_blockwise", op_8bit },
    { NULL, NULL },
};

/* The host scalars of every case and step against the file's host_scalars
 * (computed by the core, the same on every device: one line per file). */
void conf_golden_optim_file(const conf_run *run, const char *file, const kbit_st_file *st,
                            json_t *cases)
{
    (void)st;
    size_t i, values = 0, bad = 0;
    json_t *c;
    json_array_foreach(cases, i, c) {
        const char *op = json_string_value(json_object_get(c, "op"));
        if (op == NULL || strncmp(op, "optimizer_", 10) != 0)
            continue;
        json_t *params = json_object_get(c, "params");
        kbit_optim_config cfg;
        if (!case_config(params, bits_of_op(op), &cfg)) {
            bad++;
            continue;
        }
        size_t k;
        json_t *h;
        json_array_foreach(json_object_get(params, "host_scalars"), k, h) {
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
                    tap_diag("%s %s step %lld %s: got 0x%08x, want 0x%08x", file,
                             json_string_value(json_object_get(c, "name")), (long long)step,
                             keys[j], f32_bits(got[j]), f32_bits(hex_float(h, keys[j])));
                }
            }
        }
    }
    tap_ok(bad == 0 && values > 0,
           "%s: %s host scalars (c1, c2, step_size, alpha_t, beta3_t, c1p, c2p): %zu values "
           "bit-exact, %zu wrong", kbit_family_name(run->family), file, values, bad);
}
