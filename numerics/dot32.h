/*
 * numerics/dot32.h - the canonical dot product of doc/determinism.md 3, the
 * one rule of every floating matrix product (4-bit forward and backward,
 * the LLM.int8() outlier product and backward, determinism 3.1):
 *
 *   1. chunk c holds elements 8c .. 8c+7; chunks run from 0 to ceil(K/8)-1,
 *      and the elements of the last chunk at k >= K are +0.0 padding;
 *   2. 32 lanes start at +0.0; chunk c goes to lane c mod 32, which takes
 *      its chunks in increasing c and their elements in increasing k:
 *      s[l] = fma(w_k, a_k, s[l]) - the padding elements too;
 *   3. fold over all 32 lanes: for h = 16, 8, 4, 2, 1, s[l] = s[l] + s[l+h]
 *      for l < h; the result is s[0]. K = 0 gives +0.0.
 *
 * The row end is visible only in the sign of a zero. A negative product
 * that underflows leaves -0.0 in a lane; the padding fma(+0, +0, -0.0) and
 * the fold with a lane that never had a chunk (+0.0) both make it +0.0.
 *
 * Two forms of the same statements: a stream (kbit_dot32_acc: add element k,
 * then finish with the row length, which runs the padding and the fold) for
 * kernels that produce w_k and a_k on the fly, and kbit_dot32 over two
 * arrays. Vector kernels may hold the lanes differently (a register per lane,
 * 16 lanes per register); the facts they may rely on to skip work and stay
 * bit-exact are kbit_dot32_lanes_used and kbit_dot32_needs_plus_zero below.
 */
#ifndef KBIT_NUMERICS_DOT32_H
#define KBIT_NUMERICS_DOT32_H

#include "numerics/platform.h"

#define KBIT_DOT32_LANES 32
#define KBIT_DOT32_CHUNK 8

/* The lane of element k (step 2). */
KBIT_NUM_FN int kbit_dot32_lane(int64_t k)
{
    return (int)((k / KBIT_DOT32_CHUNK) % KBIT_DOT32_LANES);
}

/* s[0..31] -> s[0] (step 3). */
KBIT_NUM_FN float kbit_dot32_fold(KBIT_PRIVATE float *s)
{
    for (int h = KBIT_DOT32_LANES / 2; h >= 1; h /= 2)
        for (int l = 0; l < h; l++)
            s[l] = KBIT_FADD(s[l], s[l + h]);
    return s[0];
}

/* The stream form. */
typedef struct kbit_dot32_acc {
    float s[KBIT_DOT32_LANES];
} kbit_dot32_acc;

KBIT_NUM_FN void kbit_dot32_init(KBIT_PRIVATE kbit_dot32_acc *d)
{
    for (int l = 0; l < KBIT_DOT32_LANES; l++)
        d->s[l] = 0.0f;
}

/* Element k, in increasing k: the lane's fma (step 2). */
KBIT_NUM_FN void kbit_dot32_add(KBIT_PRIVATE kbit_dot32_acc *d, int64_t k, float w, float a)
{
    int l = kbit_dot32_lane(k);
    d->s[l] = KBIT_FMA(w, a, d->s[l]);
}

/* The end of a row of K elements: the padding elements K .. 8*ceil(K/8)-1
 * of the last chunk through the fma (step 1), then the fold. */
KBIT_NUM_FN float kbit_dot32_finish(KBIT_PRIVATE kbit_dot32_acc *d, int64_t K)
{
    for (int64_t k = K; k % KBIT_DOT32_CHUNK != 0; k++)
        kbit_dot32_add(d, k, 0.0f, 0.0f);
    return kbit_dot32_fold(d->s);
}

/* dot32 of a[0..K) and w[0..K) (fp32 values). */
KBIT_NUM_FN float kbit_dot32(KBIT_GLOBAL const float *a, KBIT_GLOBAL const float *w, int64_t K)
{
    kbit_dot32_acc d;
    kbit_dot32_init(&d);
    for (int64_t k = 0; k < K; k++)
        kbit_dot32_add(&d, k, w[k], a[k]);
    return kbit_dot32_finish(&d, K);
}

/* ------------------------------------------------------------------ */
/* What a vector kernel may skip (and why that is exact)                */

/* Lanes that get at least one chunk: min(32, ceil(K/8)). The others stay
 * +0.0 until the fold. */
KBIT_NUM_FN int kbit_dot32_lanes_used(int64_t K)
{
    int64_t chunks = (K + KBIT_DOT32_CHUNK - 1) / KBIT_DOT32_CHUNK;
    return chunks < KBIT_DOT32_LANES ? (int)chunks : KBIT_DOT32_LANES;
}

/* A kernel may leave out both the padding elements and the fold steps that
 * add a lane that never had a chunk, if it then adds +0.0 to its result
 * exactly when this returns 1 - when K is not a multiple of 8 or K < 256.
 *
 * Why: adding +0.0 (which is what a padding fma, fma(+0, +0, s) = s + +0, and
 * a fold step with an unused lane both do) leaves every value unchanged
 * except -0.0, which becomes +0.0. In round-to-nearest a sum is -0.0 only
 * when both terms are -0.0, so the full rule's result is -0.0 only when all
 * 32 lanes end at -0.0; a padded lane or an unused lane never does. So the
 * shortcut's result differs from the rule's at most in the sign of a zero,
 * and the rule's is never -0.0 when there is padding or an unused lane:
 * then adding +0.0 once gives exactly the rule's bits. With K a multiple of
 * 8 and K >= 256 there is neither, and the shortcut is the rule itself. */
KBIT_NUM_FN int kbit_dot32_needs_plus_zero(int64_t K)
{
    return K % KBIT_DOT32_CHUNK != 0 ||
           K < (int64_t)KBIT_DOT32_LANES * KBIT_DOT32_CHUNK;
}

#endif /* KBIT_NUMERICS_DOT32_H */
