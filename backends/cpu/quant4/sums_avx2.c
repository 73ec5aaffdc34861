/*
 * backends/cpu/quant4/sums_avx2.c - pairsum leaves with AVX2, identical to
 * sums_ref.c: four blocks side by side, one lane per block, each lane a single
 * sequential fp64 chain over its block's elements in ascending order.
 */
#include "../x86/avx2_io.h"
#include "kbit-formats.h"
#include "quant4.h"

void kbit_avx2_block_sums(const kbit_op_block_sums *op, int64_t block_begin, int64_t block_end)
{
    const int64_t leaf = KBIT_PAIRSUM_LEAF;
    const int64_t full = op->n / leaf; /* blocks with all 256 elements */
    const __m128i stride = _mm_setr_epi32(0, 256, 512, 768);
    int64_t b = block_begin;
    for (; b + 4 <= block_end && b + 4 <= full; b += 4) {
        const float *x = op->x + b * leaf;
        __m256d s = _mm256_setzero_pd();
        for (int64_t i = 0; i < leaf; i++)
            s = _mm256_add_pd(s, _mm256_cvtps_pd(_mm_i32gather_ps(x + i, stride, 4)));
        _mm256_storeu_pd(op->leaves + b, s);
    }
    if (b < block_end)
        kbit_ref_block_sums(op, b, block_end);
}
