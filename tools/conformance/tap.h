/* tools/conformance/tap.h - a tiny TAP producer (automake's tap-driver reads
 * it in `make check`; `kbit conformance` prints it).
 *
 * Every test line is "ok N - description" or "not ok N - description"; a skip
 * is "ok N - description # SKIP reason" (never "not ok ... # SKIP"). Lines
 * starting with '#' are diagnostics. The plan "1..N" is printed by tap_done()
 * at the end, so a test that crashes half way is reported as an error. */
#ifndef KBIT_CONFORMANCE_TAP_H
#define KBIT_CONFORMANCE_TAP_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define TAP_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define TAP_PRINTF(a, b)
#endif

/* Record one test; returns cond (so callers can chain diagnostics). */
int tap_ok(int cond, const char *fmt, ...) TAP_PRINTF(2, 3);
/* Record a skipped test: "ok N - what # SKIP why". */
void tap_skip(const char *what, const char *why_fmt, ...) TAP_PRINTF(2, 3);
/* A diagnostic line ("# ..."); may be called any time. */
void tap_diag(const char *fmt, ...) TAP_PRINTF(1, 2);
/* Stop everything: "Bail out! reason" and exit(1). */
void tap_bail(const char *fmt, ...) TAP_PRINTF(1, 2);
/* Print the plan; returns the process exit status (0: the TAP lines carry
 * the verdict). */
int tap_done(void);
/* Number of "not ok" lines so far. */
int tap_failures(void);

/* Bit comparisons. got/want need no alignment (read with memcpy). Any NaN
 * equals any NaN for the float types; integers compare exactly. Each returns
 * the number of mismatching elements and, for the first one, writes a
 * diagnostic naming `what`, the index and both bit patterns. */
size_t tap_cmp_f32(const void *got, const void *want, size_t n, const char *what);
size_t tap_cmp_f16(const void *got, const void *want, size_t n, const char *what);
size_t tap_cmp_bf16(const void *got, const void *want, size_t n, const char *what);
size_t tap_cmp_u8(const void *got, const void *want, size_t n, const char *what);
/* By kbit_dtype value (KBIT_F32 = 0, KBIT_F16 = 1, KBIT_BF16 = 2, KBIT_U8 = 3). */
size_t tap_cmp_dtype(int dtype, const void *got, const void *want, size_t n, const char *what);

/* printf into a malloc'd string (bails out when out of memory). */
char *str_printf(const char *fmt, ...) TAP_PRINTF(1, 2);

#endif
