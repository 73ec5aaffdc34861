/* tests/test_plugins.c - the plugin loader, with the test drivers of
 * tests/drivers (KBIT_DRIVER_PATH points at their build directory):
 *  - kbit-testref.so (driver "testref", priority -10) loads, has a device,
 *    computes (a quantize with hand-computed codes, and bit-identity with the
 *    built-in CPU driver), and is never what "auto" picks;
 *  - kbit-partial.so (driver "partial", an ABI 2.0 table with poisoned 2.1
 *    slots behind it, two devices with different families, priority 50):
 *    accepted, its incomplete family dropped with the reason, per-device
 *    families, "auto" choosing by the families asked for;
 *  - kbit-badabi.so (ABI major 999), kbit-short.so (a table shorter than
 *    2.0) and kbit-nosym.so (no entry symbol) are refused with a reason, and
 *    opening them by name fails with KBIT_ENODEV and a message;
 *  - a directory that does not exist and a file that is not a shared object
 *    in the search path are handled (ignored / refused), and a second copy of
 *    a driver already loaded is refused.
 * The search path is extended here, before the first kbit call, because the
 * registry scans once per process. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "testutil.h"

static char junk_dir[256];

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* The report of the entry whose plugin file is `file` (or, with dup=1, the
 * second one). */
static int find_report(const char *file, int dup, kbit_driver_report *out)
{
    int count = 0, seen = 0;
    if (kbit_driver_count(&count) != KBIT_OK)
        return 0;
    for (int i = 0; i < count; i++) {
        kbit_driver_report r;
        if (kbit_driver_get(i, &r) == KBIT_OK && strcmp(base_name(r.path), file) == 0 &&
            seen++ == dup) {
            *out = r;
            return 1;
        }
    }
    return 0;
}

static int contains(const char *s, const char *needle)
{
    return s && strstr(s, needle) != NULL;
}

static void check_refused(const char *file, const char *why_word, const char *what)
{
    kbit_driver_report r;
    if (!tap_ok(find_report(file, 0, &r), "%s is listed by the registry", file)) {
        tap_skip(what, "%s was not found in KBIT_DRIVER_PATH", file);
        return;
    }
    if (!tap_ok(!r.loaded && r.device_count == 0 && contains(r.reason, why_word),
                "%s is refused: %s (reason mentions '%s')", file, what, why_word))
        tap_diag("loaded %d, devices %d, reason \"%s\"", r.loaded, r.device_count, r.reason);
    else
        tap_diag("%s: %s", file, r.reason);
}

static void check_open_refused(const char *spec)
{
    kbit_device *d = (kbit_device *)(uintptr_t)0x1234;
    kbit_status st = kbit_device_open(spec, &d);
    const char *msg = kbit_last_error();
    if (!tap_ok(st == KBIT_ENODEV && contains(msg, spec) && contains(msg, "refused") &&
                    d == (kbit_device *)(uintptr_t)0x1234,
                "kbit_device_open(\"%s\") of a refused driver -> KBIT_ENODEV with the reason",
                spec))
        tap_diag("got %s, message \"%s\"", kbit_strerror(st), msg);
}

/* Quantize a block with known codes on dev. */
static void check_quantize(kbit_device *dev, const char *label)
{
    /* NF4 of {1, -1, 0.5, 0, 0.25, -0.25, 0.75}, absmax 1, odd n:
     * 1 -> 15, -1 -> 0, 0.5 -> 12 (T11 = 0.389 < 0.5 <= T12 = 0.5017),
     * 0 -> 7, 0.25 -> 10 (T9 = 0.2035 < 0.25 <= T10 = 0.292),
     * -0.25 -> 4 (T3 = -0.3397 < -0.25 <= T4 = -0.2346), 0.75 -> 14,
     * padding nibble of the odd tail: +0 * 1 -> 7. */
    const float x[7] = { 1.0f, -1.0f, 0.5f, 0.0f, 0.25f, -0.25f, 0.75f };
    const uint8_t want[4] = { 0xf0, 0xc7, 0xa4, 0xe7 };
    void *x_d = dev_upload(dev, x, sizeof x);
    void *p_d = dev_alloc_fill(dev, 4, 0x5a), *a_d = dev_alloc_fill(dev, 4, 0x5a);
    kbit_status st = kbit_quantize_4bit(dev, KBIT_NF4, KBIT_F32, x_d, 7, 64, p_d, a_d);
    uint8_t got[4] = { 0 };
    float absmax = 0.0f;
    if (st == KBIT_OK) {
        dev_download(dev, got, p_d, 4);
        dev_download(dev, &absmax, a_d, 4);
    }
    if (!tap_ok(st == KBIT_OK && memcmp(got, want, 4) == 0 && absmax == 1.0f,
                "%s: NF4 quantize of 7 values gives f0 c7 a4 e7, absmax 1", label))
        tap_diag("status %s (%s), got %02x %02x %02x %02x, absmax %g", kbit_strerror(st),
                 kbit_last_error(), got[0], got[1], got[2], got[3], (double)absmax);
    dev_free(dev, x_d);
    dev_free(dev, p_d);
    dev_free(dev, a_d);
}

/* A larger random quantize/dequantize: testref and cpu must agree bit for bit. */
static void check_same_as_cpu(kbit_device *tr, kbit_device *cpu)
{
    enum { n = 10007, B = 128 };
    static float x[n];
    rng r;
    rng_seed(&r, 42);
    for (int i = 0; i < n; i++)
        x[i] = (float)rng_normal(&r) * (i % 300 == 0 ? 1e-30f : 1.0f);
    x[17] = -0.0f;
    x[500] = 1.0f / 0.0f;
    kbit_device *devs[2] = { tr, cpu };
    static uint8_t packed[2][n / 2 + 1], q8[2][n];
    static float absmax[2][n / B + 1], out[2][n], absmax8[2][n / 64 + 1];
    int ok = 1;
    for (int k = 0; k < 2; k++) {
        kbit_device *d = devs[k];
        void *x_d = dev_upload(d, x, sizeof x);
        void *p_d = dev_alloc(d, sizeof packed[0]), *a_d = dev_alloc(d, sizeof absmax[0]);
        void *o_d = dev_alloc(d, sizeof out[0]), *q_d = dev_alloc(d, sizeof q8[0]);
        void *a8_d = dev_alloc(d, sizeof absmax8[0]);
        ok &= kbit_quantize_4bit(d, KBIT_FP4, KBIT_F32, x_d, n, B, p_d, a_d) == KBIT_OK;
        ok &= kbit_dequantize_4bit(d, KBIT_FP4, p_d, a_d, n, B, KBIT_F32, o_d) == KBIT_OK;
        ok &= kbit_quantize_8bit(d, KBIT_F32, x_d, n, 64, NULL, q_d, a8_d) == KBIT_OK;
        dev_download(d, packed[k], p_d, (size_t)kbit_packed_4bit_bytes(n));
        dev_download(d, absmax[k], a_d, (size_t)kbit_nblocks(n, B) * 4);
        dev_download(d, out[k], o_d, sizeof out[0]);
        dev_download(d, q8[k], q_d, sizeof q8[0]);
        dev_download(d, absmax8[k], a8_d, (size_t)kbit_nblocks(n, 64) * 4);
        dev_free(d, x_d);
        dev_free(d, p_d);
        dev_free(d, a_d);
        dev_free(d, o_d);
        dev_free(d, q_d);
        dev_free(d, a8_d);
    }
    size_t bad = tap_cmp_u8(packed[0], packed[1], (size_t)kbit_packed_4bit_bytes(n), "packed") +
                 tap_cmp_f32(absmax[0], absmax[1], (size_t)kbit_nblocks(n, B), "absmax") +
                 tap_cmp_f32(out[0], out[1], n, "dequantized") +
                 tap_cmp_u8(q8[0], q8[1], n, "q8") +
                 tap_cmp_f32(absmax8[0], absmax8[1], (size_t)kbit_nblocks(n, 64), "absmax8");
    tap_ok(ok && bad == 0, "testref and the built-in cpu driver agree bit for bit (FP4 and 8-bit, "
                           "n = %d)", n);
}

static void check_testref(void)
{
    kbit_driver_report r;
    if (!tap_ok(find_report("kbit-testref.so", 0, &r), "kbit-testref.so is listed")) {
        tap_skip("testref driver checks", "kbit-testref.so was not found in KBIT_DRIVER_PATH");
        return;
    }
    tap_ok(r.loaded && strcmp(r.name, "testref") == 0 && r.device_count >= 1 &&
               r.reason[0] == '\0' && r.description && r.description[0],
           "testref: loaded, named, %d device(s), no reason, described", r.device_count);

    kbit_device *tr = NULL, *cpu = NULL;
    kbit_status st = kbit_device_open("testref", &tr);
    if (!tap_ok(st == KBIT_OK, "kbit_device_open(\"testref\")")) {
        tap_diag("%s", kbit_last_error());
        return;
    }
    kbit_device_info info;
    tap_ok(kbit_device_get_info(tr, &info) == KBIT_OK && strcmp(info.driver, "testref") == 0 &&
               info.index == 0,
           "testref device info names its driver");
    tap_ok(kbit_device_set_threads(tr, 1) == KBIT_OK, "testref accepts 1 thread");
    check_quantize(tr, "testref");
    if (kbit_device_open("cpu", &cpu) == KBIT_OK) {
        check_quantize(cpu, "cpu");
        check_same_as_cpu(tr, cpu);
        kbit_device_close(cpu);
    } else {
        tap_ok(0, "kbit_device_open(\"cpu\"): %s", kbit_last_error());
    }
    kbit_device_close(tr);

    kbit_device *a = NULL;
    if (tap_ok(kbit_device_open("auto", &a) == KBIT_OK, "kbit_device_open(\"auto\")")) {
        tap_ok(kbit_device_get_info(a, &info) == KBIT_OK && strcmp(info.driver, "testref") != 0,
               "\"auto\" does not pick testref (priority -10); it picked '%s'", info.driver);
        kbit_device_close(a);
    }

    /* the same file again, named directly in the path: refused as a duplicate */
    kbit_driver_report dup;
    if (tap_ok(find_report("kbit-testref.so", 1, &dup), "the second copy of testref is listed"))
        tap_ok(!dup.loaded && contains(dup.reason, "already"),
               "a second driver called testref is refused (\"%s\")", dup.reason);
}

/* The driver name of the device "auto" opens for families (or "" if none). */
static const char *auto_for(uint32_t families, char *name, size_t len)
{
    kbit_device *d = NULL;
    kbit_device_info info;
    name[0] = '\0';
    if (kbit_device_open_for("auto", families, &d) == KBIT_OK) {
        if (kbit_device_get_info(d, &info) == KBIT_OK)
            snprintf(name, len, "%s:%d", info.driver, info.index);
        kbit_device_close(d);
    }
    return name;
}

static void check_partial(void)
{
    kbit_driver_report r;
    if (!tap_ok(find_report("kbit-partial.so", 0, &r), "kbit-partial.so is listed")) {
        tap_skip("partial driver checks", "kbit-partial.so was not found in KBIT_DRIVER_PATH");
        return;
    }
    tap_ok(r.limits && contains(r.limits, "quant8: dtypes f32, blocksizes 64-256"),
           "partial: its subset is reported (\"%s\")", r.limits ? r.limits : "");
    tap_ok(r.loaded && r.abi_major == 2 && r.abi_minor == 0 && r.device_count == 2,
           "partial: an ABI 2.0 table is accepted (ABI %u.%u, %d devices)",
           (unsigned)r.abi_major, (unsigned)r.abi_minor, r.device_count);
    if (!tap_ok(r.families == (KBIT_FAMILY_QUANT4 | KBIT_FAMILY_QUANT8) &&
                    contains(r.families_reason, "gemm_4bit_backward"),
                "partial: gemm4, claimed without its backward slot, is dropped with the reason"))
        tap_diag("families 0x%x, reason \"%s\"", (unsigned)r.families, r.families_reason);

    char name[64];
    tap_ok(strcmp(auto_for(KBIT_FAMILY_QUANT4, name, sizeof name), "partial:0") == 0,
           "auto for quant4 picks the higher-priority partial:0 (got %s)", name);
    tap_ok(strcmp(auto_for(KBIT_FAMILY_QUANT8, name, sizeof name), "partial:0") == 0,
           "auto for quant8 picks partial:0, its first device with quant8 (got %s)", name);
    tap_ok(strcmp(auto_for(KBIT_FAMILY_QUANT4 | KBIT_FAMILY_GEMM4, name, sizeof name),
                  "cpu:0") == 0,
           "auto for quant4 + gemm4 picks the cpu driver (got %s)", name);
    tap_ok(strcmp(auto_for(KBIT_FAMILY_OPTIM, name, sizeof name), "cpu:0") == 0,
           "auto for optim picks the cpu driver (got %s)", name);
    kbit_device *d = NULL;
    kbit_device_info info;
    if (tap_ok(kbit_device_open("auto", &d) == KBIT_OK, "kbit_device_open(\"auto\")")) {
        tap_ok(kbit_device_get_info(d, &info) == KBIT_OK && strcmp(info.driver, "cpu") == 0,
               "plain \"auto\" wants every family: the cpu driver (got %s)", info.driver);
        kbit_device_close(d);
    }

    /* device 0: quant4 works and gemm4 is refused with the reason */
    kbit_device *p0 = NULL, *p1 = NULL;
    if (!tap_ok(kbit_device_open("partial:0", &p0) == KBIT_OK, "open partial:0")) {
        tap_diag("%s", kbit_last_error());
        return;
    }
    check_quantize(p0, "partial:0");
    kbit_status st = kbit_device_supports(p0, KBIT_FAMILY_GEMM4);
    if (!tap_ok(st == KBIT_ENOTSUP && contains(kbit_last_error(), "gemm4") &&
                    contains(kbit_last_error(), "gemm_4bit_backward"),
                "kbit_device_supports(partial:0, gemm4) -> KBIT_ENOTSUP with the reason"))
        tap_diag("%s: %s", kbit_strerror(st), kbit_last_error());
    tap_ok(kbit_device_supports(p0, KBIT_FAMILY_QUANT4 | KBIT_FAMILY_QUANT8) == KBIT_OK,
           "kbit_device_supports(partial:0, quant4 | quant8) -> KBIT_OK");
    tap_ok(kbit_device_get_info(p0, &info) == KBIT_OK &&
               info.families == (KBIT_FAMILY_QUANT4 | KBIT_FAMILY_QUANT8),
           "partial:0 info lists quant4 and quant8 (0x%x)", (unsigned)info.families);
    /* A 2.1 slot past the 2.0 table (poisoned: it aborts) is never called. */
    void *buf = NULL;
    if (kbit_malloc(p0, 256, &buf) == KBIT_OK) {
        tap_ok(kbit_prefetch(p0, buf, 256, 1) == KBIT_OK,
               "kbit_prefetch on a 2.0 driver: its missing slot is not supported, a no-op");
        kbit_free(p0, buf);
    }
    kbit_device_close(p0);

    /* device 1: no quant4, said with the driver's reason */
    st = kbit_device_open_for("partial:1", KBIT_FAMILY_QUANT4, &p1);
    if (!tap_ok(st == KBIT_ENOTSUP && contains(kbit_last_error(), "without 4-bit"),
                "kbit_device_open_for(\"partial:1\", quant4) -> KBIT_ENOTSUP with the device's "
                "reason"))
        tap_diag("%s: %s", kbit_strerror(st), kbit_last_error());
    if (tap_ok(kbit_device_open("partial:1", &p1) == KBIT_OK, "open partial:1 (no families asked)")) {
        float y[8] = { 1.0f, -1.0f, 0.5f, 0.0f, 0.25f, -0.25f, 0.75f, 0.125f };
        float *y_d = dev_upload(p1, y, sizeof y), *a_d = dev_alloc(p1, 4);
        uint8_t *p_d = dev_alloc(p1, 8);
        st = kbit_quantize_4bit(p1, KBIT_NF4, KBIT_F32, y_d, 8, 64, p_d, a_d);
        tap_ok(st == KBIT_ENOTSUP && contains(kbit_last_error(), "partial:1"),
               "kbit_quantize_4bit on partial:1 -> KBIT_ENOTSUP naming the device (%s)",
               kbit_last_error());
        st = kbit_quantize_8bit(p1, KBIT_F32, y_d, 8, 64, NULL, p_d, a_d);
        tap_ok(st == KBIT_OK, "kbit_quantize_8bit on partial:1 works (%s)", kbit_strerror(st));
        /* the driver's subset of quant8: f32 data, blocksizes 64..256 */
        st = kbit_quantize_8bit(p1, KBIT_F16, y_d, 8, 64, NULL, p_d, a_d);
        tap_ok(st == KBIT_ENOTSUP && contains(kbit_last_error(), "f16"),
               "quant8 from f16 on partial:1 -> KBIT_ENOTSUP (%s)", kbit_last_error());
        st = kbit_quantize_8bit(p1, KBIT_F32, y_d, 8, 4096, NULL, p_d, a_d);
        tap_ok(st == KBIT_ENOTSUP && contains(kbit_last_error(), "4096"),
               "quant8 with blocksize 4096 on partial:1 -> KBIT_ENOTSUP (%s)", kbit_last_error());
        tap_ok(kbit_device_supports_args(p1, KBIT_FAMILY_QUANT8, KBIT_F32, 128) == KBIT_OK &&
                   kbit_device_supports_args(p1, KBIT_FAMILY_QUANT8, KBIT_BF16, 0) == KBIT_ENOTSUP,
               "kbit_device_supports_args answers for the subset");
        dev_free(p1, y_d);
        dev_free(p1, a_d);
        dev_free(p1, p_d);
        kbit_device_close(p1);
    }
}

int main(void)
{
    const char *path = getenv("KBIT_DRIVER_PATH");
    if (path == NULL || path[0] == '\0') {
        tap_skip("plugin loader", "KBIT_DRIVER_PATH is not set (run through make check)");
        return tap_done();
    }
    const char *first = path;
    char drivers_dir[1024];
    size_t len = strcspn(first, ":");
    snprintf(drivers_dir, sizeof drivers_dir, "%.*s", (int)len, first);

    /* a directory holding a "plugin" that is not a shared object */
    snprintf(junk_dir, sizeof junk_dir, "test_plugins.XXXXXX");
    int have_junk = mkdtemp(junk_dir) != NULL;
    if (have_junk) {
        char junk[512];
        snprintf(junk, sizeof junk, "%s/kbit-junk.so", junk_dir);
        FILE *f = fopen(junk, "w");
        if (f) {
            fputs("this is not an ELF file\n", f);
            fclose(f);
        }
    }
    char *newpath = str_printf("/nonexistent/kbit-drivers:%s:%s:%s/kbit-testref.so:"
                               "/nonexistent/kbit-missing.so", path,
                               have_junk ? junk_dir : "/nonexistent", drivers_dir);
    setenv("KBIT_DRIVER_PATH", newpath, 1);
    tap_diag("KBIT_DRIVER_PATH=%s", newpath);
    free(newpath);

    int count = 0;
    kbit_status st = kbit_driver_count(&count);
    tap_ok(st == KBIT_OK && count >= 1,
           "the registry scans a path with missing entries (%d drivers)", count);
    int cpu_ok = 0, missing_listed = 0;
    for (int i = 0; i < count; i++) {
        kbit_driver_report r;
        if (kbit_driver_get(i, &r) != KBIT_OK)
            continue;
        tap_diag("driver %d: %s (%s) loaded=%d devices=%d%s%s", i, r.name, r.path, r.loaded,
                 r.device_count, r.reason[0] ? " reason: " : "", r.reason);
        cpu_ok |= strcmp(r.name, "cpu") == 0 && r.loaded && r.device_count == 1;
        missing_listed |= contains(r.path, "/nonexistent/");
    }
    tap_ok(cpu_ok, "the built-in cpu driver is loaded with one device");
    tap_ok(!missing_listed, "path entries that do not exist are skipped quietly");

    check_testref();
    check_partial();
    check_refused("kbit-badabi.so", "999", "ABI major version 999");
    check_refused("kbit-short.so", "smaller", "a table shorter than ABI 2.0");
    check_refused("kbit-nosym.so", "kbit_driver_entry", "no kbit_driver_entry symbol");
    if (have_junk)
        check_refused("kbit-junk.so", "load", "not a shared object");
    check_open_refused("badabi");
    check_open_refused("short");
    check_open_refused("nosym");

    kbit_driver_report r;
    tap_ok(kbit_driver_get(count, &r) == KBIT_EINVAL && contains(kbit_last_error(), "index"),
           "kbit_driver_get past the end -> KBIT_EINVAL");

    if (have_junk) {
        char junk[512];
        snprintf(junk, sizeof junk, "%s/kbit-junk.so", junk_dir);
        unlink(junk);
        rmdir(junk_dir);
    }
    return tap_done();
}
