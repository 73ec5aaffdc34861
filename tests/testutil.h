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
/* The verdict on one call that must succeed: KBIT_OK and no message. */
int expect_success(kbit_status got, const char *call);

#endif
