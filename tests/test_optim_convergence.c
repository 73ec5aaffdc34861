/* tests/test_optim_convergence.c - every optimizer, with 32-bit and 8-bit
 * states, minimizes a fixed least-squares problem, and gets about as far as
 * an fp64 implementation of the same formulas (doc/numerics.md 6 in exact
 * arithmetic: no roundings, no quantized states).
 *
 * Problem: f(x) = 1/2 ||A x - b||^2 with N = 10000 parameters and a
 * bidiagonal A (a_i on the diagonal in [1, 2], c_i above it in [-0.5, 0.5]),
 * b = A x_true; x starts at x_true + N(0, 1). The gradient A^T (A x - b) is
 * computed in fp64 from the current parameters of each run and passed to
 * kbit as fp32.
 *
 * Stated bounds, after STEPS steps (f* = 0):
 *   - the fp64 run reaches f <= 5% of f(x0) (the hyperparameters work);
 *   - kbit 32-bit states: f <= F32 x the fp64 run's f (+ 1e-6 f(x0));
 *   - kbit 8-bit states:  f <= F8 x the fp64 run's f (+ F8_FLOOR f(x0): 8-bit
 *     states stop a run from going much below that); the fp64 run without
 *     max_unorm for LAMB and LARS, since 8-bit kernels do not clip (6.4);
 *   - the 8-bit and 32-bit trajectories stay close: over the first 100 steps
 *     the largest ||x8(t) - x32(t)|| / ||x0 - x_true|| (relative to the
 *     initial distance to the optimum) must stay below TRAJ_BOUND; printed
 *     with the relative parameter difference after 100 steps,
 *     ||x8(100) - x32(100)|| / ||x32(100)||. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optimutil.h"
#include "tap.h"
#include "testutil.h"

#define N 10000
#define STEPS 400
#define F32 1.25
#define F8 5.0
#define F8_FLOOR 1e-5 /* the precision floor of 8-bit states, relative to f(x0) */
#define TRAJ_BOUND 0.25 /* Lion, whose step is a sign, moves most: 0.18 */

static double diag_a[N], upper_c[N], x_true[N], x_init[N];

/* r = A x - b = A (x - x_true); g = A^T r; returns f = ||r||^2 / 2. */
static double grad(const double *x, double *g)
{
    static double r[N];
    for (int i = 0; i < N; i++) {
        double d0 = x[i] - x_true[i], d1 = i + 1 < N ? x[i + 1] - x_true[i + 1] : 0.0;
        r[i] = diag_a[i] * d0 + upper_c[i] * d1;
    }
    double f = 0.0;
    for (int i = 0; i < N; i++) {
        f += r[i] * r[i];
        g[i] = diag_a[i] * r[i] + (i > 0 ? upper_c[i - 1] * r[i - 1] : 0.0);
    }
    return 0.5 * f;
}

static double loss(const double *x)
{
    static double g[N];
    return grad(x, g);
}

static double norm(const double *x)
{
    double s = 0.0;
    for (int i = 0; i < N; i++)
        s += x[i] * x[i];
    return sqrt(s);
}

static double dpow(double b, int e)
{
    double r = 1.0;
    while (e-- > 0)
        r *= b;
    return r;
}

/* One step of the fp64 reference (the formulas of numerics 6.3/6.4 in
 * exact arithmetic). s1, s2, s3 start at 0. */
static void ref_step(const kbit_optim_config *c, int t, double *x, const double *g0, double *s1,
                     double *s2, double *s3)
{
    static double g[N], u[N];
    const double b1 = c->beta1, b2 = c->beta2, lr = c->lr, eps = c->eps, wd = c->weight_decay;
    const double c1 = 1.0 - dpow(b1, t), c2 = 1.0 - dpow(b2, t);
    double scale = 1.0;
    switch (c->kind) {
    case KBIT_OPTIM_ADAM:
    case KBIT_OPTIM_ADAMW:
    case KBIT_OPTIM_LAMB:
        for (int i = 0; i < N; i++) {
            s1[i] = b1 * s1[i] + (1 - b1) * g0[i];
            s2[i] = b2 * s2[i] + (1 - b2) * g0[i] * g0[i];
            u[i] = (s1[i] / c1) / (sqrt(s2[i] / c2) + eps);
        }
        if (c->max_unorm > 0) {
            double un = norm(u), lim = c->max_unorm * norm(x);
            scale = un > lim ? lim / un : 1.0;
        }
        for (int i = 0; i < N; i++)
            x[i] = (x[i] - lr * scale * u[i]) * (1 - lr * wd);
        break;
    case KBIT_OPTIM_ADEMAMIX:
        for (int i = 0; i < N; i++) {
            s1[i] = b1 * s1[i] + (1 - b1) * g0[i];
            s3[i] = c->beta3 * s3[i] + (1 - c->beta3) * g0[i];
            s2[i] = b2 * s2[i] + (1 - b2) * g0[i] * g0[i];
            x[i] = (x[i] - lr * ((s1[i] / c1 + c->alpha * s3[i]) / (sqrt(s2[i] / c2) + eps))) *
                   (1 - lr * wd);
        }
        break;
    case KBIT_OPTIM_SGD:
    case KBIT_OPTIM_LARS:
        for (int i = 0; i < N; i++) {
            u[i] = t == 1 ? g0[i] : b1 * s1[i] + g0[i]; /* the norm ignores weight decay */
            g[i] = g0[i] + wd * x[i];
            s1[i] = t == 1 ? g[i] : b1 * s1[i] + g[i];
        }
        if (c->max_unorm > 0) {
            double un = norm(u), lim = c->max_unorm * norm(x) + eps;
            scale = un > lim ? lim / un : 1.0;
        }
        for (int i = 0; i < N; i++)
            x[i] -= scale * lr * s1[i];
        break;
    case KBIT_OPTIM_RMSPROP:
        for (int i = 0; i < N; i++) {
            s1[i] = b1 * s1[i] + (1 - b1) * g0[i] * g0[i];
            x[i] -= lr * g0[i] / (sqrt(s1[i]) + eps);
        }
        break;
    case KBIT_OPTIM_ADAGRAD:
        for (int i = 0; i < N; i++) {
            s1[i] += g0[i] * g0[i];
            x[i] -= lr * g0[i] / (sqrt(s1[i]) + eps);
        }
        break;
    case KBIT_OPTIM_LION:
        for (int i = 0; i < N; i++) {
            double d = b1 * s1[i] + (1 - b1) * g0[i];
            x[i] = x[i] * (1 - lr * wd) - lr * ((d > 0) - (d < 0));
            s1[i] = b2 * s1[i] + (1 - b2) * g0[i];
        }
        break;
    }
}

/* The hyperparameters of each kind for this problem (wd 0 except AdamW and
 * AdEMAMix, which keep their default decoupled weight decay). */
static void problem_config(kbit_optim_kind kind, kbit_optim_config *c)
{
    kbit_optim_config_default(kind, c);
    c->min_8bit_size = 0;
    switch (kind) {
    case KBIT_OPTIM_SGD: c->lr = 0.05f; break;
    case KBIT_OPTIM_LARS: c->lr = 0.3f; break; /* the update is clipped to 2% of |x| */
    case KBIT_OPTIM_ADAGRAD: c->lr = 0.5f; break;
    case KBIT_OPTIM_LION: c->lr = 1e-2f; break;
    case KBIT_OPTIM_RMSPROP: c->lr = 1e-2f; break;
    default: c->lr = 2e-2f; break; /* Adam family, AdEMAMix */
    }
}

typedef struct trajectory {
    double x[STEPS + 1][N];
} trajectory;

/* kbit run; x[t] after t steps. */
static int kbit_run(kbit_device *dev, const kbit_optim_config *c, int bits, trajectory *tr)
{
    kbit_optim_config cfg = *c;
    cfg.state_bits = bits;
    kbit_optim_state *st;
    if (kbit_optim_state_create(dev, &cfg, N, KBIT_F32, &st) != KBIT_OK)
        return 0;
    static float xf[N], gf[N];
    static double g[N];
    for (int i = 0; i < N; i++)
        xf[i] = (float)x_init[i];
    float *x_d = dev_upload(dev, xf, sizeof xf), *g_d = dev_alloc(dev, sizeof gf);
    int ok = 1;
    for (int t = 0; t <= STEPS && ok; t++) {
        dev_download(dev, xf, x_d, sizeof xf);
        for (int i = 0; i < N; i++)
            tr->x[t][i] = xf[i];
        if (t == STEPS)
            break;
        grad(tr->x[t], g);
        for (int i = 0; i < N; i++)
            gf[i] = (float)g[i];
        kbit_copy(dev, g_d, gf, sizeof gf, KBIT_HOST_TO_DEVICE);
        ok = kbit_optim_step(dev, &cfg, st, x_d, g_d, KBIT_F32, 1.0f) == KBIT_OK;
    }
    kbit_optim_state_info info;
    ok &= kbit_optim_state_get_info(st, &info) == KBIT_OK && info.state_bits == bits;
    dev_free(dev, x_d);
    dev_free(dev, g_d);
    kbit_optim_state_release(st);
    return ok;
}

int main(void)
{
    rng r;
    rng_seed(&r, 2024);
    for (int i = 0; i < N; i++) {
        diag_a[i] = 1.0 + rng_uniform(&r);
        upper_c[i] = rng_uniform(&r) - 0.5;
        x_true[i] = rng_normal(&r);
        x_init[i] = x_true[i] + rng_normal(&r);
    }
    kbit_device *dev;
    if (kbit_device_open("cpu", &dev) != KBIT_OK)
        tap_bail("cpu: %s", kbit_last_error());
    trajectory *t32 = malloc(sizeof *t32), *t8 = malloc(sizeof *t8);
    static double x[N], g[N], s1[N], s2[N], s3[N];
    if (t32 == NULL || t8 == NULL)
        tap_bail("out of memory");
    const double f0 = loss(x_init);
    static double x_noclip[N];
    tap_diag("N = %d, %d steps, f(x0) = %.4g; bounds: fp64 <= 5%% f(x0), 32-bit <= %.2f x fp64, "
             "8-bit <= %.2f x fp64, 8-bit vs 32-bit trajectory <= %.2f", N, STEPS, f0, F32, F8,
             TRAJ_BOUND);

    for (int kind = KBIT_OPTIM_ADAM; kind <= KBIT_OPTIM_LION; kind++) {
        kbit_optim_config c;
        problem_config((kbit_optim_kind)kind, &c);
        memcpy(x, x_init, sizeof x);
        memset(s1, 0, sizeof s1);
        memset(s2, 0, sizeof s2);
        memset(s3, 0, sizeof s3);
        for (int t = 1; t <= STEPS; t++) {
            grad(x, g);
            ref_step(&c, t, x, g, s1, s2, s3);
        }
        double f64 = loss(x);
        /* 8-bit kernels have no update-norm clipping (numerics 6.4): their
         * fp64 formulas are the same without max_unorm */
        double f64_8 = f64;
        if (c.max_unorm > 0.0f) {
            kbit_optim_config nc = c;
            nc.max_unorm = 0.0f;
            memcpy(x_noclip, x_init, sizeof x_noclip);
            memset(s1, 0, sizeof s1);
            memset(s2, 0, sizeof s2);
            for (int t = 1; t <= STEPS; t++) {
                grad(x_noclip, g);
                ref_step(&nc, t, x_noclip, g, s1, s2, s3);
            }
            f64_8 = loss(x_noclip);
        }
        int ok32 = kbit_run(dev, &c, 32, t32), ok8 = kbit_run(dev, &c, 8, t8);
        double f32 = loss(t32->x[STEPS]), f8 = loss(t8->x[STEPS]);
        double traj = 0.0, d0 = 0.0, rel100 = 0.0;
        for (int i = 0; i < N; i++)
            d0 += (x_init[i] - x_true[i]) * (x_init[i] - x_true[i]);
        for (int t = 1; t <= 100; t++) {
            double dd = 0.0, xx = 0.0;
            for (int i = 0; i < N; i++) {
                double e = t8->x[t][i] - t32->x[t][i];
                dd += e * e;
                xx += t32->x[t][i] * t32->x[t][i];
            }
            if (sqrt(dd / d0) > traj)
                traj = sqrt(dd / d0);
            rel100 = sqrt(dd / xx);
        }
        const char *name = optim_kind_name((kbit_optim_kind)kind);
        tap_diag("%-8s fp64 %.4g  kbit 32-bit %.4g (x%.3f)  8-bit %.4g (x%.3f of fp64 %.4g)  "
                 "8-bit vs 32-bit: trajectory %.4f, after 100 steps %.2e", name, f64, f32,
                 f32 / f64, f8, f8 / f64_8, f64_8, traj, rel100);
        tap_ok(f64 <= 0.05 * f0, "%s: the fp64 reference reaches f <= 5%% of f(x0) (%.3g%%)", name,
               100 * f64 / f0);
        tap_ok(ok32 && f32 <= F32 * f64 + 1e-6 * f0, "%s 32-bit states: f = %.4g <= %.2f x fp64",
               name, f32, F32);
        tap_ok(ok8 && f8 <= F8 * f64_8 + F8_FLOOR * f0,
               "%s 8-bit states: f = %.4g <= %.2f x fp64 + %.0e f(x0)", name, f8, F8, F8_FLOOR);
        if (c.kind == KBIT_OPTIM_LARS)
            tap_skip("lars: 8-bit vs 32-bit trajectory", "8-bit LARS has no update-norm "
                     "clipping (numerics 6.4): a different algorithm than 32-bit LARS");
        else
            tap_ok(traj <= TRAJ_BOUND, "%s: 8-bit vs 32-bit trajectory %.4f <= %.2f", name, traj,
                   TRAJ_BOUND);
    }
    free(t32);
    free(t8);
    kbit_device_close(dev);
    return tap_done();
}
