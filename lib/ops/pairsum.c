/* lib/ops/pairsum.c - the tree part of pairsum; the leaves come from the driver so
 * that every backend feeds the same fp64 block sums into the same tree. */
#include "config.h"

#include "ops/pairsum.h"

double kbit_pairsum_tree(double *sums, int64_t count)
{
    if (count == 0)
        return 0.0;
    while (count > 1) {
        int64_t next = 0;
        for (int64_t i = 0; i + 1 < count; i += 2)
            sums[next++] = sums[i] + sums[i + 1];
        if (count % 2 == 1)
            sums[next++] = sums[count - 1];
        count = next;
    }
    return sums[0];
}
