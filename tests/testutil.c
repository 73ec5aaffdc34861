/* tests/testutil.c - see testutil.h. */
#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "testutil.h"

/* ------------------------------------------------------------------ */
/* PRNG */

void rng_seed(rng *r, uint64_t seed)
{
    r->state = seed;
}

uint64_t rng_next(rng *r)
{
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint32_t rng_below(rng *r, uint32_t bound)
{
    return bound ? (uint32_t)((rng_next(r) >> 32) * bound >> 32) : 0;
}

double rng_uniform(rng *r)
{
    return (double)(rng_next(r) >> 11) * 0x1p-53;
}

double rng_normal(rng *r)
{
    double u1 = rng_uniform(r), u2 = rng_uniform(r);
    if (u1 < 0x1p-60)
        u1 = 0x1p-60;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* ------------------------------------------------------------------ */
/* Bits and conversions */

uint32_t f32_bits(float f)
{
    uint32_t b;
    memcpy(&b, &f, 4);
    return b;
}

float f32_from_bits(uint32_t b)
{
    float f;
    memcpy(&f, &b, 4);
    return f;
}

/* fp32 -> binary16, round to nearest even. The mantissa (with its implicit
 * bit) is shifted right and rounded; a carry out of the mantissa moves into
 * the exponent, which is exactly what IEEE rounding does (up to infinity). */
uint16_t f32_to_f16(float f)
{
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u)
        return sign | 0x7e00u | (uint16_t)((ax >> 13) & 0x1ffu); /* quiet NaN */
    if (ax == 0x7f800000u)
        return sign | 0x7c00u;
    int e = (int)(ax >> 23) - 127;
    if (e > 15)
        return sign | 0x7c00u;
    if (e < -25 - 1) /* below half of the smallest half denormal */
        return sign;
    uint32_t mant = (ax & 0x7fffffu) | 0x800000u;
    int shift = 13;
    uint32_t base = 0;
    if (e < -14)
        shift += -14 - e; /* subnormal half: exponent field 0 */
    else
        base = (uint32_t)(e + 14) << 10;
    if (shift > 31)
        return sign;
    uint32_t q = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1u);
    uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1u)))
        q++;
    return (uint16_t)(sign | (base + q));
}

float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0x1f)
        return f32_from_bits(sign | 0x7f800000u | (m << 13) | (m ? 0x400000u : 0));
    if (e == 0) {
        /* zero or subnormal: m * 2^-24, exact in fp32 */
        float v = (float)m * 0x1p-24f;
        return sign ? -v : v;
    }
    return f32_from_bits(sign | ((e + 112) << 23) | (m << 13));
}

uint16_t f32_to_bf16(float f)
{
    uint32_t x = f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x40u);
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

float bf16_to_f32(uint16_t h)
{
    return f32_from_bits((uint32_t)h << 16);
}

float f32_next_up(float f)
{
    uint32_t b = f32_bits(f);
    if (f != f || b == 0x7f800000u)
        return f;
    if (b == 0x80000000u)
        return f32_from_bits(1);
    return f32_from_bits(b & 0x80000000u ? b - 1 : b + 1);
}

float f32_next_down(float f)
{
    return -f32_next_up(-f);
}

void f32_to_dtype(kbit_dtype dtype, const float *src, void *dst, size_t n)
{
    if (dtype == KBIT_F32) {
        memcpy(dst, src, n * 4);
        return;
    }
    uint16_t *d = dst;
    for (size_t i = 0; i < n; i++)
        d[i] = dtype == KBIT_F16 ? f32_to_f16(src[i]) : f32_to_bf16(src[i]);
}

float dtype_load(kbit_dtype dtype, const void *src, size_t i)
{
    if (dtype == KBIT_F32) {
        float f;
        memcpy(&f, (const char *)src + 4 * i, 4);
        return f;
    }
    uint16_t h;
    memcpy(&h, (const char *)src + 2 * i, 2);
    return dtype == KBIT_F16 ? f16_to_f32(h) : bf16_to_f32(h);
}

float dtype_max(kbit_dtype dtype)
{
    switch (dtype) {
    case KBIT_F16: return 65504.0f;
    case KBIT_BF16: return f32_from_bits(0x7f7f0000u);
    default: return f32_from_bits(0x7f7fffffu);
    }
}

float dtype_min_denormal(kbit_dtype dtype)
{
    switch (dtype) {
    case KBIT_F16: return 0x1p-24f;
    case KBIT_BF16: return 0x1p-133f;
    default: return 0x1p-149f;
    }
}

const char *dtype_str(kbit_dtype dtype)
{
    const char *s = kbit_dtype_name(dtype);
    return s ? s : "?";
}

float dtype_round(kbit_dtype dtype, float f)
{
    if (dtype == KBIT_F16)
        return f16_to_f32(f32_to_f16(f));
    if (dtype == KBIT_BF16)
        return bf16_to_f32(f32_to_bf16(f));
    return f;
}

/* ------------------------------------------------------------------ */
/* Device buffers */

void *dev_alloc(kbit_device *dev, size_t bytes)
{
    void *p = NULL;
    kbit_status st = kbit_malloc(dev, bytes, &p);
    if (st != KBIT_OK)
        tap_bail("kbit_malloc(%zu) failed: %s", bytes, kbit_last_error());
    return p;
}

void *dev_alloc_fill(kbit_device *dev, size_t bytes, unsigned char fill)
{
    void *p = dev_alloc(dev, bytes);
    if (bytes) {
        unsigned char *h = malloc(bytes);
        if (h == NULL)
            tap_bail("out of host memory (%zu bytes)", bytes);
        memset(h, fill, bytes);
        if (kbit_copy(dev, p, h, bytes, KBIT_HOST_TO_DEVICE) != KBIT_OK)
            tap_bail("kbit_copy to device failed: %s", kbit_last_error());
        free(h);
    }
    return p;
}

void *dev_upload(kbit_device *dev, const void *host, size_t bytes)
{
    void *p = dev_alloc(dev, bytes);
    if (bytes && kbit_copy(dev, p, host, bytes, KBIT_HOST_TO_DEVICE) != KBIT_OK)
        tap_bail("kbit_copy to device failed: %s", kbit_last_error());
    return p;
}

void dev_download(kbit_device *dev, void *host, const void *src, size_t bytes)
{
    if (bytes && kbit_copy(dev, host, src, bytes, KBIT_DEVICE_TO_HOST) != KBIT_OK)
        tap_bail("kbit_copy to host failed: %s", kbit_last_error());
}

void dev_free(kbit_device *dev, void *p)
{
    if (p != NULL && kbit_free(dev, p) != KBIT_OK)
        tap_bail("kbit_free failed: %s", kbit_last_error());
}

/* ------------------------------------------------------------------ */
/* Targets */

char *str_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = malloc((size_t)len + 1);
    if (s == NULL)
        tap_bail("out of host memory");
    va_start(ap, fmt);
    vsnprintf(s, (size_t)len + 1, fmt, ap);
    va_end(ap);
    return s;
}

kbit_status cpu_open_isa(const char *isa, kbit_device **dev)
{
    const char *old = getenv("KBIT_CPU_ISA");
    char *saved = old ? str_printf("%s", old) : NULL;
    if (isa)
        setenv("KBIT_CPU_ISA", isa, 1);
    else
        unsetenv("KBIT_CPU_ISA");
    kbit_status st = kbit_device_open("cpu", dev);
    /* restore without clobbering the message of a failed open */
    if (saved) {
        setenv("KBIT_CPU_ISA", saved, 1);
        free(saved);
    } else {
        unsetenv("KBIT_CPU_ISA");
    }
    return st;
}

kbit_device *reference_open(void)
{
    kbit_device *dev = NULL;
    if (cpu_open_isa("scalar", &dev) != KBIT_OK)
        tap_bail("cannot open the reference device (cpu, KBIT_CPU_ISA=scalar): %s",
                 kbit_last_error());
    kbit_device_info info;
    if (kbit_device_get_info(dev, &info) != KBIT_OK || strcmp(info.variant, "scalar") != 0)
        tap_bail("the reference device is not the scalar CPU variant (variant '%s')",
                 info.variant);
    if (kbit_device_set_threads(dev, 1) != KBIT_OK)
        tap_bail("kbit_device_set_threads(ref, 1): %s", kbit_last_error());
    return dev;
}

/* Plugins that exist only to be refused (tests/drivers); test_plugins covers them. */
static int is_broken_fixture(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    return strcmp(base, "kbit-badabi.so") == 0 || strcmp(base, "kbit-nosym.so") == 0;
}

static void target_set_skip(target *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->skip, sizeof t->skip, fmt, ap);
    va_end(ap);
    if (t->dev) {
        kbit_device_close(t->dev);
        t->dev = NULL;
    }
}

static void target_open(target *t)
{
    kbit_status st;
    if (t->isa[0])
        st = cpu_open_isa(t->isa, &t->dev);
    else
        st = kbit_device_open(t->spec, &t->dev);
    if (st != KBIT_OK) {
        t->dev = NULL;
        target_set_skip(t, "%s unavailable: %s", t->spec, kbit_last_error());
        return;
    }
    kbit_device_info info;
    if (kbit_device_get_info(t->dev, &info) != KBIT_OK) {
        target_set_skip(t, "kbit_device_get_info failed: %s", kbit_last_error());
        return;
    }
    if (t->isa[0] && strcmp(info.variant, t->isa) != 0) {
        target_set_skip(t, "KBIT_CPU_ISA=%s opened variant '%s' instead", t->isa, info.variant);
        return;
    }
    if (!t->isa[0] && info.variant[0]) {
        char label[sizeof t->label];
        snprintf(label, sizeof label, "%s/%s/t%d", t->spec, info.variant, t->threads);
        memcpy(t->label, label, sizeof label);
    }
    if (kbit_device_set_threads(t->dev, t->threads) != KBIT_OK)
        target_set_skip(t, "kbit_device_set_threads(%d): %s", t->threads, kbit_last_error());
}

static target *target_add(target *t, int *count, int max)
{
    if (*count >= max)
        tap_bail("too many targets");
    target *x = &t[(*count)++];
    memset(x, 0, sizeof *x);
    return x;
}

int targets_open(target *t, int max)
{
    static const char *isas[] = { "scalar", "avx2", "avx512", "avx512vnni" };
    int count = 0;
    for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++) {
        for (int threads = 1; threads <= 2; threads++) {
            target *x = target_add(t, &count, max);
            snprintf(x->label, sizeof x->label, "cpu/%s/t%d", isas[i], threads);
            snprintf(x->spec, sizeof x->spec, "cpu");
            snprintf(x->isa, sizeof x->isa, "%s", isas[i]);
            x->threads = threads;
        }
    }

    int drivers = 0, have_cuda = 0;
    if (kbit_driver_count(&drivers) != KBIT_OK)
        tap_bail("kbit_driver_count: %s", kbit_last_error());
    for (int i = 0; i < drivers; i++) {
        kbit_driver_report r;
        if (kbit_driver_get(i, &r) != KBIT_OK)
            tap_bail("kbit_driver_get(%d): %s", i, kbit_last_error());
        if (strcmp(r.name, "cpu") == 0 || is_broken_fixture(r.path))
            continue;
        if (strcmp(r.name, "cuda") == 0)
            have_cuda = 1;
        /* host drivers also run with 2 threads; GPU drivers take only 1 */
        int max_threads = strcmp(r.name, "testref") == 0 ? 2 : 1;
        for (int threads = 1; threads <= max_threads; threads++) {
            target *x = target_add(t, &count, max);
            snprintf(x->spec, sizeof x->spec, "%.40s:0", r.name);
            snprintf(x->label, sizeof x->label, "%s/t%d", x->spec, threads);
            x->threads = threads;
            if (!r.loaded)
                snprintf(x->skip, sizeof x->skip, "driver '%s' (%s) was refused: %s", r.name,
                         r.path, r.reason);
        }
    }
    if (!have_cuda) {
        target *x = target_add(t, &count, max);
        snprintf(x->spec, sizeof x->spec, "cuda:0");
        snprintf(x->label, sizeof x->label, "cuda:0/t1");
        x->threads = 1;
    }
    for (int i = 0; i < count; i++)
        if (!t[i].skip[0])
            target_open(&t[i]);
    return count;
}

void targets_close(target *t, int count)
{
    for (int i = 0; i < count; i++) {
        kbit_device_close(t[i].dev);
        t[i].dev = NULL;
    }
}

const char *vectors_dir(void)
{
    const char *env = getenv("KBIT_VECTORS_DIR");
    if (env && *env)
        return env;
#ifdef KBIT_TESTS_SRCDIR
    return KBIT_TESTS_SRCDIR "/vectors";
#else
    return "tests/vectors";
#endif
}

int expect_failure(kbit_status got, kbit_status want, const char *needle, int untouched,
                   const char *call)
{
    const char *msg = kbit_last_error();
    int ok = got == want && msg && msg[0] && strstr(msg, needle) != NULL && untouched;
    if (!tap_ok(ok, "%s -> %s, message names '%s', outputs untouched", call, kbit_strerror(want),
                needle))
        tap_diag("got %s (%d), message \"%s\", outputs %s", kbit_strerror(got), (int)got,
                 msg ? msg : "(null)", untouched ? "untouched" : "MODIFIED");
    return ok;
}

static char planted[512];

void error_plant(void)
{
    kbit_sync(NULL);
    snprintf(planted, sizeof planted, "%s", kbit_last_error());
}

const char *error_planted(void)
{
    return planted;
}

int expect_success(kbit_status got, const char *call)
{
    int ok = got == KBIT_OK && (planted[0] == '\0' || strcmp(kbit_last_error(), planted) == 0);
    if (!tap_ok(ok, "%s -> KBIT_OK, message left alone", call))
        tap_diag("got %s, message \"%s\" (planted \"%s\")", kbit_strerror(got),
                 kbit_last_error(), planted);
    return ok;
}
