/*
 * backends/cpu/enc8_plan.c - per-op preparation of the 8-bit encoder for the
 * SIMD variants.
 *
 * The bucket table answers enc8(x) (numerics 2.4) with one read: map x to the
 * order-preserving integer key of its float bits (negative: all bits flipped;
 * positive: sign bit set), after x + 0.0f turned -0.0 into +0.0 so that equal
 * floats have equal keys. The top 16 key bits name a bucket, a contiguous
 * range of floats. For x in bucket b, the count of midpoints below x is j_lo(b)
 * (midpoints in lower buckets) plus, if the bucket holds a midpoint m, one
 * when low16(key(x)) > low16(key(m)); x == m exactly when the low bits are
 * equal. That is exact as long as no bucket holds two midpoints (buckets are
 * 1/128 of a binade; the dynamic maps have at most one), else no table is
 * built and the kernels fall back to a binary search.
 */
#include <math.h>
#include <stdlib.h>

#include "kernels.h"
#include "ref/encode.h"

static uint32_t order_key(float x)
{
    uint32_t bits = kbit_f32_to_bits(x + 0.0f);
    return (bits & 0x80000000u) ? ~bits : bits | 0x80000000u;
}

static uint32_t *build_buckets(const float *mid)
{
    uint32_t key[255];
    for (int i = 0; i < 255; i++) {
        key[i] = order_key(mid[i]);
        if (i > 0 && (key[i] >> 16) == (key[i - 1] >> 16))
            return NULL; /* two midpoints in one bucket: search instead */
    }
    uint32_t *table = aligned_alloc(64, KBIT_ENC8_BUCKETS * sizeof *table);
    if (table == NULL)
        return NULL;
    uint32_t next = 0; /* first bucket not yet written */
    for (uint32_t i = 0; i < 255; i++) {
        uint32_t b = key[i] >> 16;
        for (; next < b; next++)
            table[next] = i | (KBIT_ENC8_NO_MID << 8);
        table[b] = i | ((key[i] & 0xffffu) << 8);
        next = b + 1;
    }
    for (; next < KBIT_ENC8_BUCKETS; next++)
        table[next] = 255u | (KBIT_ENC8_NO_MID << 8);
    return table;
}

void kbit_enc8_plan_init(kbit_enc8_plan *plan, kbit_enc8_plan_storage *storage,
                         const float *mid, int want_buckets)
{
    for (int i = 0; i < 255; i++)
        storage->mid_pad[i] = mid[i];
    storage->mid_pad[255] = NAN;
    for (int l = 0; l < 5; l++) {
        int h = 128 >> l;
        for (int k = 0; k < 16; k++)
            storage->level[l][k] = k < (1 << l) ? storage->mid_pad[k * 2 * h + h - 1] : 0.0f;
    }
    plan->sorted = kbit_mid_sorted(mid);
    plan->mid_pad = storage->mid_pad;
    plan->level = (const float (*)[16])storage->level;
    plan->buckets = plan->sorted && want_buckets ? build_buckets(mid) : NULL;
}

void kbit_enc8_plan_release(kbit_enc8_plan *plan)
{
    free((void *)plan->buckets);
    plan->buckets = NULL;
}
