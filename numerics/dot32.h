/*
 * numerics/dot32.h - the canonical dot product of doc/determinism.md 3,
 * written literally: 32 lanes, chunk c of 8 elements goes to lane c mod 32,
 * fma in increasing index order, fold 16, 8, 4, 2, 1.
 *
 * Chunks run from 0 to ceil(K/8) - 1; elements of the last chunk past K are
 * +0.0 padding and go through the fma like any other element (fma(+0, +0, s)
 * turns a -0.0 sum into +0.0). A lane whose chunks are exhausted does not step.
 */
#ifndef KBIT_CPU_REF_DOT32_H
#define KBIT_CPU_REF_DOT32_H

#include <math.h>
#include <stdint.h>

#define KBIT_DOT32_LANES 32
#define KBIT_DOT32_CHUNK 8

/* s[0..31] -> s[0] (determinism 3 step 3). */
static inline float kbit_dot32_fold(float *s)
{
    for (int h = KBIT_DOT32_LANES / 2; h >= 1; h /= 2)
        for (int l = 0; l < h; l++)
            s[l] = s[l] + s[l + h];
    return s[0];
}

/* dot32 of a[0..K) and w[0..K) (fp32 values). */
static inline float kbit_dot32(const float *a, const float *w, int64_t K)
{
    float s[KBIT_DOT32_LANES] = { 0.0f };
    int64_t chunks = (K + KBIT_DOT32_CHUNK - 1) / KBIT_DOT32_CHUNK;
    for (int64_t c = 0; c < chunks; c++) {
        float *lane = &s[c % KBIT_DOT32_LANES];
        for (int e = 0; e < KBIT_DOT32_CHUNK; e++) {
            int64_t k = c * KBIT_DOT32_CHUNK + e;
            float wk = k < K ? w[k] : 0.0f, ak = k < K ? a[k] : 0.0f;
            *lane = fmaf(wk, ak, *lane);
        }
    }
    return kbit_dot32_fold(s);
}

#endif /* KBIT_CPU_REF_DOT32_H */
