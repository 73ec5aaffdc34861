/*
 * backends/cpu/quant8/plan.c - per-op preparation of the 8-bit encoder for the
 * SIMD variants.
 *
 * The bucket table answers enc8(x) (numerics 2.4) with one read. x is mapped
 * to the order-preserving integer key of its float bits (negative: all bits
 * flipped; positive: sign bit set); the top 16 key bits name a bucket, a
 * contiguous range of floats. For x in bucket b, the count of midpoints below
 * x is j_lo(b) (midpoints in lower buckets) plus one if the bucket holds a
 * midpoint m < x, i.e. low16(key(x)) > low16(key(m)); x == m exactly when the
 * low bits are equal, and the tie rule then adds one when j_lo is odd. Both
 * become one comparison, low16(key(x)) > thr with thr = low16(key(m)) - 1 when
 * j_lo is odd (a tie counts as above) and low16(key(m)) when it is even.
 *
 * Exact when no bucket holds two midpoints (buckets are 1/128 of a binade;
 * the dynamic maps have at most one) and no midpoint is zero (-0.0 and +0.0
 * would have different keys). The kernels use the table only for blocks with
 * a finite reciprocal, where x' is finite or NaN: the buckets of +-inf are
 * then NaN-only and give 0. Otherwise no table is built, or the block is
 * encoded with a binary search.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include "quant8.h"
#include "numerics/encode.h"

static uint32_t order_key(float x)
{
    uint32_t bits = kbit_f32_to_bits(x);
    return (bits & 0x80000000u) ? ~bits : bits | 0x80000000u;
}

static uint32_t entry(uint32_t j_lo, int32_t thr)
{
    return ((uint32_t)thr << 8) | j_lo;
}

/* The keys of sorted midpoints, and 1 if both encoders of this file work
 * for them: no midpoint is zero and no two share a bucket (else the
 * kernels search with gathers instead). */
static int bucket_keys(const float *mid, uint32_t key[255])
{
    for (int i = 0; i < 255; i++) {
        if (mid[i] == 0.0f)
            return 0;
        key[i] = order_key(mid[i]);
        if (i > 0 && (key[i] >> 16) == (key[i - 1] >> 16))
            return 0;
    }
    return 1;
}

static uint32_t *build_buckets(const uint32_t key[255])
{
    uint32_t *table = aligned_alloc(64, KBIT_ENC8_BUCKETS * sizeof *table);
    if (table == NULL)
        return NULL;
    uint32_t next = 0; /* first bucket not yet written */
    for (uint32_t i = 0; i < 255; i++) {
        uint32_t b = key[i] >> 16;
        for (; next < b; next++)
            table[next] = entry(i, KBIT_ENC8_NO_MID);
        table[b] = entry(i, (int32_t)(key[i] & 0xffffu) - (int32_t)(i & 1u));
        next = b + 1;
    }
    for (; next < KBIT_ENC8_BUCKETS; next++)
        table[next] = entry(255, KBIT_ENC8_NO_MID);
    /* Buckets whose only finite-or-NaN members are NaN: -inf and negative NaNs
     * (keys up to 0x007fffff), +inf and positive NaNs (from 0xff800000). */
    for (uint32_t b = 0; b <= 0x007fu; b++)
        table[b] = entry(0, KBIT_ENC8_NO_MID);
    for (uint32_t b = 0xff80u; b < KBIT_ENC8_BUCKETS; b++)
        table[b] = entry(0, KBIT_ENC8_NO_MID);
    return table;
}

/* v's low `bits` bits in reverse order. */
static unsigned bit_reversed(unsigned v, int bits)
{
    unsigned r = 0;
    for (int i = 0; i < bits; i++)
        if ((v >> i) & 1u)
            r |= 1u << (bits - 1 - i);
    return r;
}

/* The search tables (quant8.h) from bucket_keys' keys. */
static void build_search(const uint32_t key[255], kbit_enc8_search *t)
{
    uint32_t prefix[256], thr[256];
    for (int j = 0; j < 255; j++) {
        prefix[j] = key[j] >> 16;
        thr[j] = key[j] - (uint32_t)(j & 1);
    }
    prefix[255] = 0xffffu;
    thr[255] = 0xffffffffu;
    memset(t, 0, sizeof *t);
    for (int l = 0; l < 8; l++) {
        int h = 128 >> l;
        for (unsigned r = 0; r < (1u << l); r++)
            t->level[l][r] = (uint16_t)prefix[bit_reversed(r, l) * 2 * h + h - 1];
    }
    for (unsigned r = 0; r < 256; r++) {
        unsigned j = bit_reversed(r, 8);
        for (int b = 0; b < 4; b++)
            t->thr[b][r] = (uint8_t)(thr[j] >> (8 * b));
        t->code[r] = (uint8_t)j;
    }
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
    uint32_t key[255];
    int keyed = plan->sorted && want_buckets && bucket_keys(mid, key);
    plan->buckets = keyed ? build_buckets(key) : NULL;
    plan->search = NULL;
    if (keyed) {
        build_search(key, &storage->search);
        plan->search = &storage->search;
    }
}

void kbit_enc8_plan_release(kbit_enc8_plan *plan)
{
    free((void *)plan->buckets);
    plan->buckets = NULL;
}

/* The two normative maps' plans, built once per process. */
static struct normative_plan {
    float mid[255];
    kbit_enc8_plan plan;
    kbit_enc8_plan_storage storage;
} normative[2];
static pthread_once_t normative_once = PTHREAD_ONCE_INIT;

static void build_normative(void)
{
    for (int k = 0; k < 2; k++) {
        const float *map = kbit_dynamic_map(k == 0 ? KBIT_MAP_SIGNED : KBIT_MAP_UNSIGNED);
        for (int i = 0; i < 255; i++) /* as the core's kbit_map_midpoints */
            normative[k].mid[i] = (map[i] + map[i + 1]) * 0.5f;
        kbit_enc8_plan_init(&normative[k].plan, &normative[k].storage, normative[k].mid, 1);
    }
}

const kbit_enc8_plan *kbit_enc8_normative_plan(kbit_map_id id)
{
    if (id != KBIT_MAP_ID_SIGNED && id != KBIT_MAP_ID_UNSIGNED)
        return NULL;
    pthread_once(&normative_once, build_normative);
    return &normative[id == KBIT_MAP_ID_UNSIGNED].plan;
}
