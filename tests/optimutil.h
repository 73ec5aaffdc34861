/* tests/optimutil.h - the optimizer helpers of the test programs are those of
 * `kbit conformance` (saved-state layout, kind names). */
#ifndef KBIT_TESTS_OPTIMUTIL_H
#define KBIT_TESTS_OPTIMUTIL_H

#include "optimstate.h"

#endif
