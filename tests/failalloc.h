/* tests/failalloc.h - allocation failures on demand, for the tests of the
 * failure paths (test_errors).
 *
 * failalloc.c defines malloc, calloc, realloc, aligned_alloc, posix_memalign
 * and memalign for the whole test program (glibc lets a program replace
 * them, and its own functions, jansson and libkbit then use them too). They
 * forward to glibc's allocator, except while the calling thread is armed:
 * then allocation number `at` (counted from 1 since failalloc_arm) returns
 * NULL with errno = ENOMEM, and with `persistent` so does every later one
 * until failalloc_disarm. Not for ASan builds (ASan has its own allocator). */
#ifndef KBIT_TESTS_FAILALLOC_H
#define KBIT_TESTS_FAILALLOC_H

void failalloc_arm(long at, int persistent);
/* Stop failing; returns the allocations counted since the arm. */
long failalloc_disarm(void);
/* Whether an allocation was refused since the arm. */
int failalloc_fired(void);

#endif
