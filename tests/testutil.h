/* tests/testutil.h - what the test programs share: the helpers of the
 * conformance module (tools/conformance: TAP, PRNG, half/bfloat16
 * conversions, device buffers, the reference device, the vectors
 * directory), which `kbit conformance` uses too, and the verdicts of the
 * bad-input programs. */
#ifndef KBIT_TESTS_TESTUTIL_H
#define KBIT_TESTS_TESTUTIL_H

#include "kbit.h"

#include "devices.h"
#include "devmem.h"
#include "numbers.h"
#include "tap.h"
#include "vectors.h"

/* The verdict on one call that must fail: status `want`, a message (kbit_last_error)
 * that contains `needle`, and `untouched` true (the caller's check of its outputs).
 * One TAP line; returns its result. */
int expect_failure(kbit_status got, kbit_status want, const char *needle, int untouched,
                   const char *call);
/* The verdict on one call that must succeed: KBIT_OK, and the message left
 * as it was (a success never records one, kbit.h): when error_plant() ran
 * before the call, the planted message must still be there. */
int expect_success(kbit_status got, const char *call);
/* Record a known failure message (kbit_sync(NULL)'s) for expect_success;
 * error_planted() is its text. */
void error_plant(void);
const char *error_planted(void);

#endif
