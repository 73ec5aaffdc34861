/* tools/conformance/tap.c - see tap.h. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

static int test_count;
static int fail_count;

/* Descriptions must stay on one line and must not start a directive. */
static void print_clean(const char *s)
{
    for (; *s; s++)
        putchar(*s == '\n' || *s == '#' ? ' ' : *s);
}

int tap_ok(int cond, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    test_count++;
    if (!cond)
        fail_count++;
    printf("%sok %d - ", cond ? "" : "not ", test_count);
    print_clean(buf);
    putchar('\n');
    fflush(stdout);
    return cond;
}

void tap_skip(const char *what, const char *why_fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, why_fmt);
    vsnprintf(buf, sizeof buf, why_fmt, ap);
    va_end(ap);
    test_count++;
    printf("ok %d - ", test_count);
    print_clean(what);
    printf(" # SKIP ");
    print_clean(buf[0] ? buf : "no reason given");
    putchar('\n');
    fflush(stdout);
}

void tap_diag(const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    /* one "# " per line */
    char *line = buf;
    for (;;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        printf("# %s\n", line);
        if (!nl || nl[1] == '\0')
            break;
        line = nl + 1;
    }
    fflush(stdout);
}

void tap_bail(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    printf("Bail out! ");
    print_clean(buf);
    putchar('\n');
    fflush(stdout);
    exit(1);
}

int tap_done(void)
{
    printf("1..%d\n", test_count);
    if (fail_count)
        printf("# %d of %d tests failed\n", fail_count, test_count);
    fflush(stdout);
    return 0;
}

int tap_failures(void)
{
    return fail_count;
}

/* ------------------------------------------------------------------ */

static uint32_t load32(const void *p, size_t i)
{
    uint32_t v;
    memcpy(&v, (const unsigned char *)p + 4 * i, 4);
    return v;
}

static uint16_t load16(const void *p, size_t i)
{
    uint16_t v;
    memcpy(&v, (const unsigned char *)p + 2 * i, 2);
    return v;
}

static int f32_nan(uint32_t b) { return (b & 0x7f800000u) == 0x7f800000u && (b & 0x007fffffu); }
static int f16_nan(uint16_t b) { return (b & 0x7c00u) == 0x7c00u && (b & 0x03ffu); }
static int bf16_nan(uint16_t b) { return (b & 0x7f80u) == 0x7f80u && (b & 0x007fu); }

static void report(const char *what, size_t index, size_t mismatches, size_t n,
                   unsigned got, unsigned want, int width)
{
    tap_diag("%s: %zu of %zu elements differ; first at [%zu]: got 0x%0*x, want 0x%0*x",
             what, mismatches, n, index, width, got, width, want);
}

size_t tap_cmp_f32(const void *got, const void *want, size_t n, const char *what)
{
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t g = load32(got, i), w = load32(want, i);
        if (g != w && !(f32_nan(g) && f32_nan(w)) && bad++ == 0)
            first = i;
    }
    if (bad)
        report(what, first, bad, n, load32(got, first), load32(want, first), 8);
    return bad;
}

static size_t cmp16(const void *got, const void *want, size_t n, const char *what,
                    int (*is_nan)(uint16_t))
{
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++) {
        uint16_t g = load16(got, i), w = load16(want, i);
        if (g != w && !(is_nan(g) && is_nan(w)) && bad++ == 0)
            first = i;
    }
    if (bad)
        report(what, first, bad, n, load16(got, first), load16(want, first), 4);
    return bad;
}

size_t tap_cmp_f16(const void *got, const void *want, size_t n, const char *what)
{
    return cmp16(got, want, n, what, f16_nan);
}

size_t tap_cmp_bf16(const void *got, const void *want, size_t n, const char *what)
{
    return cmp16(got, want, n, what, bf16_nan);
}

size_t tap_cmp_u8(const void *got, const void *want, size_t n, const char *what)
{
    const unsigned char *g = got, *w = want;
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++)
        if (g[i] != w[i] && bad++ == 0)
            first = i;
    if (bad)
        report(what, first, bad, n, g[first], w[first], 2);
    return bad;
}

size_t tap_cmp_dtype(int dtype, const void *got, const void *want, size_t n, const char *what)
{
    switch (dtype) {
    case 0: return tap_cmp_f32(got, want, n, what);
    case 1: return tap_cmp_f16(got, want, n, what);
    case 2: return tap_cmp_bf16(got, want, n, what);
    case 3: return tap_cmp_u8(got, want, n, what);
    }
    tap_diag("%s: tap_cmp_dtype: unknown dtype %d", what, dtype);
    return n ? n : 1;
}

char *str_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = len >= 0 ? malloc((size_t)len + 1) : NULL;
    if (s == NULL)
        tap_bail("out of host memory");
    va_start(ap, fmt);
    vsnprintf(s, (size_t)len + 1, fmt, ap);
    va_end(ap);
    return s;
}
