/* tests/numerics_check.c - a translation unit that includes every header of
 * numerics/ and calls every function (tests/numerics_exercise.h), compiled
 * by tests/test-numerics-compile.sh with -std=c11 -pedantic -Wall -Wextra
 * -Werror: the headers are strict C11 for the core and the CPU driver. */
#include "numerics_exercise.h"

void kbit_exercise_all(int64_t count, const float *in, const float *map, const float *mid,
                       float *scratch, double *dscratch, uint32_t *out);

void kbit_exercise_all(int64_t count, const float *in, const float *map, const float *mid,
                       float *scratch, double *dscratch, uint32_t *out)
{
    for (int64_t i = 0; i < count; i++)
        kbit_exercise(i, in, map, mid, scratch, dscratch, out);
}
