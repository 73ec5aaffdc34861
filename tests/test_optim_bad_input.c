/* tests/test_optim_bad_input.c - every optimizer entry point refuses bad
 * arguments with the right status and a message naming the argument, and
 * leaves parameters and states untouched (checked byte for byte through a
 * saved copy of the state and a download of the parameters). */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optimutil.h"
#include "tap.h"
#include "testutil.h"

#define N 1000

static kbit_device *dev, *other;
static kbit_optim_state *adam, *lion;
static float *p_d, *g_d, *p2_d, *g2_d;
static float host_p[N];

/* Snapshot of everything a failed call must not change. */
typedef struct snapshot {
    saved_state a, l;
    float p[N];
    uint16_t p2[N]; /* bf16 */
} snapshot;

static void take(snapshot *s)
{
    saved_take(adam, &s->a);
    saved_take(lion, &s->l);
    dev_download(dev, s->p, p_d, sizeof s->p);
    dev_download(dev, s->p2, p2_d, sizeof s->p2);
}

static int unchanged(snapshot *before)
{
    snapshot *now = malloc(sizeof *now);
    take(now);
    int same = before->a.bytes == now->a.bytes && before->l.bytes == now->l.bytes &&
               memcmp(before->a.buf, now->a.buf, now->a.bytes) == 0 &&
               memcmp(before->l.buf, now->l.buf, now->l.bytes) == 0 &&
               memcmp(before->p, now->p, sizeof now->p) == 0 &&
               memcmp(before->p2, now->p2, sizeof now->p2) == 0;
    if (!same)
        tap_diag("changed: adam state %d, lion state %d, p %d, p2 %d",
                 memcmp(before->a.buf, now->a.buf, now->a.bytes) != 0,
                 memcmp(before->l.buf, now->l.buf, now->l.bytes) != 0,
                 memcmp(before->p, now->p, sizeof now->p) != 0,
                 memcmp(before->p2, now->p2, sizeof now->p2) != 0);
    saved_free(&now->a);
    saved_free(&now->l);
    free(now);
    return same;
}

/* Check a failed call: status, message mentioning `needle`, nothing changed. */
static void expect(kbit_status got, kbit_status want, const char *needle, snapshot *before,
                   const char *what)
{
    char msg[512];
    snprintf(msg, sizeof msg, "%s", kbit_last_error()); /* the next kbit call clears it */
    int same = unchanged(before);
    int ok = got == want && strstr(msg, needle) != NULL && same;
    if (!tap_ok(ok, "%s -> %s naming '%s', nothing changed", what, kbit_strerror(want), needle))
        tap_diag("got %s: \"%s\"%s", kbit_strerror(got), msg, same ? "" : " (state changed)");
}

static kbit_status step_with(const kbit_optim_config *c)
{
    return kbit_optim_step(dev, c, adam, p_d, g_d, KBIT_F32, 1.0f);
}

static void config_checks(snapshot *s)
{
    kbit_optim_config base, c;
    kbit_optim_config_default(KBIT_OPTIM_ADAM, &base);
    /* one change each */
    c = base, c.lr = -1e-3f;
    expect(step_with(&c), KBIT_EINVAL, "lr", s, "lr < 0");
    c = base, c.lr = NAN;
    expect(step_with(&c), KBIT_EINVAL, "lr", s, "lr NaN");
    c = base, c.beta1 = 1.0f;
    expect(step_with(&c), KBIT_EINVAL, "beta1", s, "beta1 = 1");
    c = base, c.beta2 = -0.5f;
    expect(step_with(&c), KBIT_EINVAL, "beta2", s, "beta2 < 0");
    c = base, c.eps = -1e-8f;
    expect(step_with(&c), KBIT_EINVAL, "eps", s, "eps < 0");
    c = base, c.weight_decay = INFINITY;
    expect(step_with(&c), KBIT_EINVAL, "weight_decay", s, "weight_decay inf");
    c = base, c.kind = (kbit_optim_kind)99;
    expect(step_with(&c), KBIT_EINVAL, "kind", s, "unknown kind");
    c = base, c.percentile_clipping = 101;
    expect(step_with(&c), KBIT_EINVAL, "percentile_clipping", s, "percentile_clipping 101");
    c = base, c.state_bits = 16;
    expect(step_with(&c), KBIT_EINVAL, "state_bits", s, "state_bits 16");
    kbit_optim_config_default(KBIT_OPTIM_SGD, &c);
    c.beta1 = 0.0f;
    expect(kbit_optim_step(dev, &c, adam, p_d, g_d, KBIT_F32, 1.0f), KBIT_EINVAL, "beta1", s,
           "SGD momentum 0");
    /* numerics 6.4: 32-bit states only for RMSprop, Adagrad, Lion (lion is 8-bit) */
    kbit_optim_config_default(KBIT_OPTIM_LION, &c);
    c.max_unorm = 1.0;
    expect(kbit_optim_step(dev, &c, lion, p2_d, g2_d, KBIT_BF16, 1.0f), KBIT_EINVAL,
           "only 32-bit states have an update scale", s, "max_unorm for Lion with 8-bit states");
    kbit_optim_config_default(KBIT_OPTIM_ADEMAMIX, &c);
    c.max_unorm = 1.0;
    expect(kbit_optim_step(dev, &c, adam, p_d, g_d, KBIT_F32, 1.0f), KBIT_EINVAL,
           "max_unorm must be 0 for ADEMAMIX", s, "max_unorm for AdEMAMix");
    /* hyperparameters are doubles; the kernels get f32 of them, which must be valid too */
    c = base, c.beta1 = 0.99999999999;
    expect(step_with(&c), KBIT_EINVAL, "also as fp32", s, "beta1 < 1 that is 1.0f in fp32");
    c = base, c.lr = 1e39;
    expect(step_with(&c), KBIT_EINVAL, "lr", s, "lr beyond FLT_MAX");
    kbit_optim_config_default(KBIT_OPTIM_SGD, &c);
    c.beta1 = 1e-50;
    expect(kbit_optim_step(dev, &c, adam, p_d, g_d, KBIT_F32, 1.0f), KBIT_EINVAL, "also as fp32",
           s, "SGD momentum > 0 that is 0 in fp32");
    kbit_optim_config_default(KBIT_OPTIM_ADEMAMIX, &c);
    c.beta3 = 1.5f;
    expect(kbit_optim_step(dev, &c, adam, p_d, g_d, KBIT_F32, 1.0f), KBIT_EINVAL, "beta3", s,
           "AdEMAMix beta3 > 1");
    expect(step_with(NULL), KBIT_EINVAL, "config", s, "config NULL");
    kbit_optim_config_default(KBIT_OPTIM_LION, &c);
    expect(step_with(&c), KBIT_EINVAL, "kind", s, "Lion config on an Adam state");
    expect(kbit_optim_config_default((kbit_optim_kind)-1, &c), KBIT_EINVAL, "kind", s,
           "kbit_optim_config_default(unknown kind)");
    kbit_optim_scalars sc;
    expect(kbit_optim_host_scalars(&base, 0, &sc), KBIT_EINVAL, "step", s,
           "kbit_optim_host_scalars(step 0)");
}

static void step_checks(snapshot *s)
{
    kbit_optim_config c;
    kbit_optim_config_default(KBIT_OPTIM_ADAM, &c);
    expect(kbit_optim_step(NULL, &c, adam, p_d, g_d, KBIT_F32, 1.0f), KBIT_EINVAL, "device", s,
           "device NULL");
    expect(kbit_optim_step(dev, &c, NULL, p_d, g_d, KBIT_F32, 1.0f), KBIT_EINVAL, "state", s,
           "state NULL");
    expect(kbit_optim_step(dev, &c, adam, NULL, g_d, KBIT_F32, 1.0f), KBIT_EINVAL, "param", s,
           "param NULL");
    expect(kbit_optim_step(dev, &c, adam, p_d, NULL, KBIT_F32, 1.0f), KBIT_EINVAL, "grad", s,
           "grad NULL");
    expect(kbit_optim_step(dev, &c, adam, (char *)p_d + 2, g_d, KBIT_F32, 1.0f), KBIT_EINVAL,
           "aligned", s, "misaligned param");
    expect(kbit_optim_step(dev, &c, adam, p_d, g_d, KBIT_F16, 1.0f), KBIT_EINVAL, "grad_dtype",
           s, "f16 gradient for f32 parameters");
    expect(kbit_optim_step(dev, &c, adam, p_d, g_d, KBIT_U8, 1.0f), KBIT_EINVAL, "grad_dtype", s,
           "u8 gradient");
    expect(kbit_optim_step(dev, &c, adam, p_d, g_d, KBIT_F32, 0.0f), KBIT_EINVAL, "gnorm_scale",
           s, "gnorm_scale 0");
    expect(kbit_optim_step(dev, &c, adam, p_d, g_d, KBIT_F32, NAN), KBIT_EINVAL, "gnorm_scale",
           s, "gnorm_scale NaN");
    expect(kbit_optim_step(other, &c, adam, p_d, g_d, KBIT_F32, 1.0f), KBIT_EINVAL,
           "another device", s, "state of another device");

    /* step_many: nothing is stepped when a later tensor is bad */
    kbit_optim_state *states[2] = { adam, adam };
    void *params[2] = { p_d, p_d };
    const void *grads[2] = { g_d, NULL };
    kbit_dtype gd[2] = { KBIT_F32, KBIT_F32 };
    expect(kbit_optim_step_many(dev, &c, 2, states, params, grads, gd, 1.0f), KBIT_EINVAL,
           "grads[1]", s, "step_many with grads[1] NULL");
    grads[1] = g_d;
    expect(kbit_optim_step_many(dev, &c, 2, states, params, grads, gd, 1.0f), KBIT_EINVAL, "same",
           s, "step_many with one state twice");
    expect(kbit_optim_step_many(dev, &c, 2, NULL, params, grads, gd, 1.0f), KBIT_EINVAL, "states",
           s, "step_many with states NULL");
    expect(kbit_optim_step_many(dev, &c, -1, states, params, grads, gd, 1.0f), KBIT_EINVAL,
           "count", s, "step_many with count < 0");
}

static void state_checks(snapshot *s)
{
    kbit_optim_config c;
    kbit_optim_config_default(KBIT_OPTIM_ADAM, &c);
    kbit_optim_state *x = NULL;
    expect(kbit_optim_state_create(dev, &c, -5, KBIT_F32, &x), KBIT_EINVAL, "n", s,
           "create with n < 0");
    expect(kbit_optim_state_create(dev, &c, 10, KBIT_I8, &x), KBIT_EINVAL, "param_dtype", s,
           "create with i8 parameters");
    expect(kbit_optim_state_create(dev, &c, 10, KBIT_F32, NULL), KBIT_EINVAL, "state", s,
           "create with state NULL");

    /* restore: a saved state of another size, kind or a damaged buffer */
    kbit_optim_state *small;
    if (kbit_optim_state_create(dev, &c, N - 1, KBIT_F32, &small) != KBIT_OK)
        tap_bail("create: %s", kbit_last_error());
    saved_state sv;
    saved_take(small, &sv);
    expect(kbit_optim_state_restore(adam, sv.buf, sv.bytes), KBIT_EFORMAT, "n", s,
           "restore a state of another size");
    saved_free(&sv);
    kbit_optim_state_release(small);
    saved_take(lion, &sv);
    expect(kbit_optim_state_restore(adam, sv.buf, sv.bytes), KBIT_EFORMAT, "kind", s,
           "restore a Lion state into an Adam state");
    saved_free(&sv);
    saved_take(adam, &sv);
    expect(kbit_optim_state_restore(adam, sv.buf, sv.bytes - 1), KBIT_EFORMAT, "size", s,
           "restore a truncated buffer");
    sv.buf[0] = 'X';
    expect(kbit_optim_state_restore(adam, sv.buf, sv.bytes), KBIT_EFORMAT, "not a saved", s,
           "restore a buffer without the magic");
    expect(kbit_optim_state_save(adam, sv.buf, sv.bytes - 1), KBIT_EINVAL, "bytes", s,
           "save into a short buffer");
    saved_free(&sv);
    /* layout version 1 (no LION update-norm sum at the end) is still read; others are not */
    saved_take(lion, &sv);
    sv.buf[8] = 1;
    expect(kbit_optim_state_restore(lion, sv.buf, sv.bytes), KBIT_EFORMAT, "size", s,
           "restore a version 1 Lion buffer that has version 2's size");
    sv.buf[8] = 3;
    expect(kbit_optim_state_restore(lion, sv.buf, sv.bytes - 8), KBIT_EFORMAT, "layout version",
           s, "restore layout version 3");
    sv.buf[8] = 1;
    tap_ok(kbit_optim_state_restore(lion, sv.buf, sv.bytes - 8) == KBIT_OK && unchanged(s),
           "a version 1 Lion buffer (8 bytes shorter) restores; same state");
    saved_free(&sv);

    /* bitsandbytes tensors: missing or invalid parts (lion is 8-bit, 1 state) */
    static uint8_t codes[N];
    static float absmax[4], qmap[256];
    memcpy(qmap, kbit_dynamic_map(KBIT_MAP_SIGNED), sizeof qmap);
    kbit_optim_bnb_state b = { .step = 3, .state1 = codes, .absmax1 = absmax, .qmap1 = qmap };
    kbit_optim_bnb_state nob = b;
    nob.absmax1 = NULL;
    expect(kbit_optim_state_load_bnb(lion, &nob), KBIT_EINVAL, "absmax1", s,
           "load_bnb without absmax1");
    qmap[10] = 5.0f;
    expect(kbit_optim_state_load_bnb(lion, &b), KBIT_EINVAL, "qmap1", s,
           "load_bnb with a qmap1 that is not ascending");
    kbit_optim_bnb_state adam_b = { .step = 1, .state1 = host_p };
    expect(kbit_optim_state_load_bnb(adam, &adam_b), KBIT_EINVAL, "state2", s,
           "load_bnb of Adam without state2");
    adam_b.step = -1;
    expect(kbit_optim_state_load_bnb(adam, &adam_b), KBIT_EINVAL, "step", s,
           "load_bnb with a negative step");
    kbit_optim_state_info info;
    expect(kbit_optim_state_get_info(NULL, &info), KBIT_EINVAL, "state", s, "get_info(NULL)");
}

int main(void)
{
    if (kbit_device_open("cpu", &dev) != KBIT_OK || cpu_open_isa("scalar", &other) != KBIT_OK)
        tap_bail("cpu: %s", kbit_last_error());
    kbit_optim_config c;
    kbit_optim_config_default(KBIT_OPTIM_ADAM, &c);
    if (kbit_optim_state_create(dev, &c, N, KBIT_F32, &adam) != KBIT_OK)
        tap_bail("create: %s", kbit_last_error());
    kbit_optim_config_default(KBIT_OPTIM_LION, &c);
    c.state_bits = 8;
    c.min_8bit_size = 0;
    if (kbit_optim_state_create(dev, &c, N, KBIT_BF16, &lion) != KBIT_OK)
        tap_bail("create: %s", kbit_last_error());

    /* a few real steps first, so the states are not all zero */
    rng r;
    rng_seed(&r, 5);
    float g[N];
    uint16_t p16[N], g16[N];
    for (int i = 0; i < N; i++) {
        host_p[i] = (float)rng_normal(&r);
        g[i] = (float)rng_normal(&r) * 0.01f;
    }
    f32_to_dtype(KBIT_BF16, host_p, p16, N);
    f32_to_dtype(KBIT_BF16, g, g16, N);
    p_d = dev_upload(dev, host_p, sizeof host_p);
    g_d = dev_upload(dev, g, sizeof g);
    p2_d = dev_upload(dev, p16, sizeof p16);
    g2_d = dev_upload(dev, g16, sizeof g16);
    kbit_optim_config ca;
    kbit_optim_config_default(KBIT_OPTIM_ADAM, &ca);
    for (int s = 0; s < 2; s++)
        if (kbit_optim_step(dev, &ca, adam, p_d, g_d, KBIT_F32, 1.0f) != KBIT_OK ||
            kbit_optim_step(dev, &c, lion, p2_d, g2_d, KBIT_BF16, 1.0f) != KBIT_OK)
            tap_bail("step: %s", kbit_last_error());

    snapshot *s = malloc(sizeof *s);
    take(s);
    config_checks(s);
    step_checks(s);
    state_checks(s);
    tap_ok(kbit_optim_step(dev, &ca, adam, p_d, g_d, KBIT_F32, 1.0f) == KBIT_OK &&
               !unchanged(s),
           "a valid step after all that succeeds and changes the parameters");
    saved_free(&s->a);
    saved_free(&s->l);
    free(s);
    kbit_optim_state_release(adam);
    kbit_optim_state_release(lion);
    dev_free(dev, p_d);
    dev_free(dev, g_d);
    dev_free(dev, p2_d);
    dev_free(dev, g2_d);
    kbit_device_close(other);
    kbit_device_close(dev);
    return tap_done();
}
