/* bench/gemm4_peers.c - the fp32 GEMV baseline and bitsandbytes' layout. */
#include <config.h>

#include <string.h>

#include "gemm4_peers.h"

typedef float v16 __attribute__((vector_size(64)));

/* dot(a, w) with 32 partial sums in two 16-wide vectors. */
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__)) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static float dot_f32(const float *a, const float *w, int64_t K)
{
    v16 s0 = { 0 }, s1 = { 0 };
    int64_t k = 0;
    for (; k + 32 <= K; k += 32) {
        v16 a0, a1, w0, w1;
        memcpy(&a0, a + k, sizeof a0);
        memcpy(&a1, a + k + 16, sizeof a1);
        memcpy(&w0, w + k, sizeof w0);
        memcpy(&w1, w + k + 16, sizeof w1);
        s0 += a0 * w0;
        s1 += a1 * w1;
    }
    s0 += s1;
    float r = 0.0f;
    for (int i = 0; i < 16; i++)
        r += s0[i];
    for (; k < K; k++)
        r += a[k] * w[k];
    return r;
}

void bench_fp32_gemm(int threads, const float *A, int64_t M, const float *W, int64_t N, int64_t K,
                     float *out)
{
    (void)threads;
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static)
#endif
    for (int64_t n = 0; n < N; n++)
        for (int64_t m = 0; m < M; m++)
            out[m * N + n] = dot_f32(A + m * K, W + n * K, K);
}

int bench_bnb_layout_fits(int64_t N, int64_t K, int blocksize)
{
    return N % 32 == 0 && K % blocksize == 0 && K % 2 == 0;
}

static uint16_t to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x40u);
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

static unsigned nibble(const uint8_t *packed, int64_t i)
{
    return (i & 1) ? packed[i >> 1] & 15u : packed[i >> 1] >> 4;
}

void bench_bnb_repack(const uint8_t *packed, const float *absmax, int64_t N, int64_t K,
                      int blocksize, uint8_t *w_out, uint16_t *absmax_out)
{
    uint8_t *o = w_out;
    for (int64_t g = 0; g < N / 32; g++) {
        for (int64_t k = 0; k < K; k += 2) {
            for (int b = 0; b < 32; b++) {
                int64_t row = g * 32 + b / 2, col = k + b % 2;
                unsigned lo = nibble(packed, row * K + col);
                unsigned hi = nibble(packed, (row + 16) * K + col);
                *o++ = (uint8_t)((hi << 4) | lo);
            }
        }
    }
    int64_t per_row = K / blocksize;
    for (int64_t n = 0; n < N; n++)
        for (int64_t kb = 0; kb < per_row; kb++)
            absmax_out[kb * N + n] = to_bf16(absmax[n * per_row + kb]);
}
