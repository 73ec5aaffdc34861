/*
 * backends/cpu/quant4/sums_avx512.c - pairsum leaves with AVX-512, identical to
 * sums_ref.c: the sum of one block must stay a single sequential fp64 chain,
 * so the vector runs eight blocks side by side, one lane per block, each lane
 * adding its block's elements in ascending order.
 */
#include "../x86/avx512_io.h"
#include "kbit-formats.h"
#include "quant4.h"

void kbit_avx512_block_sums(const kbit_op_block_sums *op, int64_t block_begin, int64_t block_end)
{
    const int64_t leaf = KBIT_PAIRSUM_LEAF;
    const int64_t full = op->n / leaf; /* blocks with all 256 elements */
    const __m256i stride = _mm256_setr_epi32(0, 256, 512, 768, 1024, 1280, 1536, 1792);
    int64_t b = block_begin;
    for (; b + 8 <= block_end && b + 8 <= full; b += 8) {
        const float *x = op->x + b * leaf;
        __m512d s = _mm512_setzero_pd();
        for (int64_t i = 0; i < leaf; i++)
            s = _mm512_add_pd(s, _mm512_cvtps_pd(_mm256_i32gather_ps(x + i, stride, 4)));
        _mm512_storeu_pd(op->leaves + b, s);
    }
    if (b < block_end)
        kbit_ref_block_sums(op, b, block_end);
}
