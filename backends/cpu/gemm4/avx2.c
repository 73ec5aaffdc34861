/*
 * backends/cpu/gemm4/avx2.c - AVX2 4-bit matmul forward (dot32,
 * doc/determinism.md 3), bit-identical to ref/gemm4.c.
 *
 * The layout of avx512_gemm4.c in 256-bit halves: a 16-chunk group of a
 * weight row is two loads of 8 packed words (dot32 lanes 0-7 and 8-15 for
 * even groups, 16-23 and 24-31 for odd ones), so the 32 lanes are four
 * accumulators. Lanes past the row's last chunk keep their sum (blend): a
 * lane with no chunk left does not step.
 *
 * DEC[q] of the forward is four byte look-ups (vpshufb reads 4 index bits,
 * one instruction per 32 nibbles; on Sapphire Rapids 1.69 ms for a 4096x4096
 * GEMV in cache against 2.48 ms for two 8-entry vpermps, a blend and a
 * multiply per 8 weights, and 2.09 ms with the multiply moved into per-block
 * tables): the bytes of each 128-bit half of a
 * load are transposed so that dword p of the result holds chunk p's elements,
 * the nibbles split into bytes, each byte of DEC looked up, and the four
 * byte planes interleaved back into fp32 (decode8). The fp32 values are
 * exactly DEC[q]; the multiply by absmax is the reference's.
 *
 * Weights with K % 8 != 0 use the reference kernel. The backward is at the
 * end of the file.
 */
#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "numerics/encode.h"
#include "gemm4.h"
#include "../x86/avx2_io.h"

typedef struct gemm4_args {
    const kbit_op_gemm_4bit *op;
    const float *at;
    int64_t row_floats;
    int64_t chunks;
    int64_t groups;
    int64_t nblocks;
    int lg_block;
    __m256 dec_lo, dec_hi; /* DEC[0..7], DEC[8..15] (backward) */
    __m256i plane[4];      /* byte k of DEC[0..15], in both 128-bit halves */
    __m256i transpose;     /* vpshufb: byte 4p + t -> 4t + p in each half */
    __m256i low4;          /* 0x0f bytes */
    int one_block;         /* the 64 weights of every full load share one absmax */
    __m256i lane_off;      /* 8 * lane */
    __m256i iota;          /* lane */
    int64_t ahead;         /* prefetch distance per tile row in packed bytes (>= K/2) */
} gemm4_args;

/* Lanes i < count as an all-ones mask. */
KBIT_INLINE __m256i lanes_below(const gemm4_args *g, int64_t count)
{
    int c = count < 0 ? 0 : count > 8 ? 8 : (int)count;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(c), g->iota);
}

/* Per-lane absmax of the 8 chunks from flat element f0 (at most 3 blocks). */
KBIT_INLINE __m256 lane_absmax(const gemm4_args *g, int64_t f0)
{
    int64_t b0 = f0 >> g->lg_block;
    int off = (int)(f0 - (b0 << g->lg_block));
    __m256i idx = _mm256_srlv_epi32(_mm256_add_epi32(_mm256_set1_epi32(off), g->lane_off),
                                    _mm256_set1_epi32(g->lg_block));
    __m256 a = _mm256_maskload_ps(g->op->absmax + b0, lanes_below(g, g->nblocks - b0));
    return _mm256_permutevar8x32_ps(a, idx);
}

KBIT_INLINE __m256 decode(const gemm4_args *g, __m256i q, __m256i bit3_in_sign)
{
    __m256 lo = _mm256_permutevar8x32_ps(g->dec_lo, q);
    __m256 hi = _mm256_permutevar8x32_ps(g->dec_hi, q);
    return _mm256_blendv_ps(lo, hi, _mm256_castsi256_ps(bit3_in_sign));
}

/* dot32 steps 3-4 over lanes 0-7, 8-15, 16-23, 24-31. */
KBIT_INLINE float fold32(__m256 a0, __m256 a1, __m256 a2, __m256 a3)
{
    __m256 t = _mm256_add_ps(_mm256_add_ps(a0, a2), _mm256_add_ps(a1, a3));
    __m128 u = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
    __m128 v = _mm_add_ps(u, _mm_movehl_ps(u, u));
    return _mm_cvtss_f32(_mm_add_ss(v, _mm_shuffle_ps(v, v, 1)));
}

/* Four fp32 DEC[x] vectors from 32 nibble bytes x laid out [g][p] in each
 * 128-bit half: v[g] lane (half, p) = DEC[x byte 16 half + 4g + p]. */
KBIT_INLINE void lookup4(const gemm4_args *g, __m256i x, __m256 v[4])
{
    __m256i p0 = _mm256_shuffle_epi8(g->plane[0], x), p1 = _mm256_shuffle_epi8(g->plane[1], x);
    __m256i p2 = _mm256_shuffle_epi8(g->plane[2], x), p3 = _mm256_shuffle_epi8(g->plane[3], x);
    __m256i a = _mm256_unpacklo_epi8(p0, p1), b = _mm256_unpacklo_epi8(p2, p3);
    __m256i c = _mm256_unpackhi_epi8(p0, p1), d = _mm256_unpackhi_epi8(p2, p3);
    v[0] = _mm256_castsi256_ps(_mm256_unpacklo_epi16(a, b));
    v[1] = _mm256_castsi256_ps(_mm256_unpackhi_epi16(a, b));
    v[2] = _mm256_castsi256_ps(_mm256_unpacklo_epi16(c, d));
    v[3] = _mm256_castsi256_ps(_mm256_unpackhi_epi16(c, d));
}

/* The weights of one load W (8 chunks, dword i = chunk i): w[e] lane i =
 * element e of chunk i, DEC[q] * am[i]. Byte t of a chunk holds elements 2t
 * (high nibble) and 2t + 1 (low nibble). */
KBIT_INLINE void decode8(const gemm4_args *g, __m256i W, __m256 am, __m256 w[8])
{
    __m256i t = _mm256_shuffle_epi8(W, g->transpose);
    __m256 even[4], odd[4];
    lookup4(g, _mm256_and_si256(_mm256_srli_epi16(t, 4), g->low4), even);
    lookup4(g, _mm256_and_si256(t, g->low4), odd);
    _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++) {
        w[2 * k] = _mm256_mul_ps(even[k], am);
        w[2 * k + 1] = _mm256_mul_ps(odd[k], am);
    }
}

#define GEMM4_MAX_ROWS 2
#define GEMM4_MAX_M 2

/* Half h (chunks 16j+8h .. +7) of group j of R weight rows from n, into
 * acc[r][mt]; `masked`: only lanes in `valid` step. */
KBIT_INLINE void half_step(const gemm4_args *g, int ob, int64_t n, int R, int64_t m0, int MT,
                           int64_t j, int h, int masked, __m256i valid,
                           __m256 acc[GEMM4_MAX_ROWS][GEMM4_MAX_M])
{
    const int64_t K = g->op->K;
    const float *a = g->at + m0 * g->row_floats + j * KBIT_GEMM4_GROUP + 8 * h;
    _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {
        const uint8_t *p = g->op->packed + (n + r) * K / 2 + j * 64 + 32 * h;
        /* the same place of the next tile of R rows (avx512_gemm4.c) */
        _mm_prefetch((const char *)p + R * g->ahead, _MM_HINT_T0);
        __m256i W = masked ? _mm256_maskload_epi32((const int *)p, valid)
                           : _mm256_loadu_si256((const __m256i *)p);
        int64_t f0 = (n + r) * K + j * KBIT_GEMM4_GROUP + 64 * h;
        __m256 am = !masked && ob ? _mm256_broadcast_ss(g->op->absmax + (f0 >> g->lg_block))
                                  : lane_absmax(g, f0);
        __m256 w[8];
        decode8(g, W, am, w);
        _Pragma("GCC unroll 8") for (int e = 0; e < 8; e++)
            _Pragma("GCC unroll 8") for (int mt = 0; mt < MT; mt++) {
                __m256 s_ = _mm256_fmadd_ps(w[e], _mm256_load_ps(a + mt * g->row_floats + 16 * e),
                                            acc[r][mt]);
                acc[r][mt] = masked ? _mm256_blendv_ps(acc[r][mt], s_, _mm256_castsi256_ps(valid))
                                    : s_;
            }
    }
}

/* Group j into the lane quarters q0 (its first half) and q1 (its second). */
KBIT_INLINE void group_step(const gemm4_args *g, int ob, int64_t n, int R, int64_t m0, int MT, int64_t j,
                            int masked, __m256 q0[GEMM4_MAX_ROWS][GEMM4_MAX_M],
                            __m256 q1[GEMM4_MAX_ROWS][GEMM4_MAX_M])
{
    int64_t left = g->chunks - j * 16;
    half_step(g, ob, n, R, m0, MT, j, 0, masked, lanes_below(g, left), q0);
    half_step(g, ob, n, R, m0, MT, j, 1, masked, lanes_below(g, left - 8), q1);
}

KBIT_INLINE void tile(const gemm4_args *g, int ob, int64_t n, int R, int64_t m0, int MT)
{
    __m256 a0[GEMM4_MAX_ROWS][GEMM4_MAX_M], a1[GEMM4_MAX_ROWS][GEMM4_MAX_M];
    __m256 a2[GEMM4_MAX_ROWS][GEMM4_MAX_M], a3[GEMM4_MAX_ROWS][GEMM4_MAX_M];
    _Pragma("GCC unroll 8") for (int r = 0; r < R; r++)
        _Pragma("GCC unroll 8") for (int mt = 0; mt < MT; mt++)
            a0[r][mt] = a1[r][mt] = a2[r][mt] = a3[r][mt] = _mm256_setzero_ps();
    const int64_t G = g->groups;
    int64_t j = 0;
    for (; j + 2 < G; j += 2) {
        group_step(g, ob, n, R, m0, MT, j, 0, a0, a1);
        group_step(g, ob, n, R, m0, MT, j + 1, 0, a2, a3);
    }
    for (; j < G; j++) {
        if (j % 2 == 0)
            group_step(g, ob, n, R, m0, MT, j, 1, a0, a1);
        else
            group_step(g, ob, n, R, m0, MT, j, 1, a2, a3);
    }
    const kbit_op_gemm_4bit *op = g->op;
    _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {
        float bias = 0.0f;
        if (op->bias != NULL)
            kbit_load_f32(op->bias, op->dtype, n + r, 1, &bias);
        _Pragma("GCC unroll 8") for (int mt = 0; mt < MT; mt++) {
            float v = fold32(a0[r][mt], a1[r][mt], a2[r][mt], a3[r][mt]);
            if (op->bias != NULL)
                v = v + bias;
            kbit_store_f32(op->out, op->dtype, (m0 + mt) * op->N + n + r, 1, &v);
        }
    }
}

/* ob: g->one_block as a constant, so that the test leaves the loops */
#define GEMM4_ROWS_(R, MT, ob)                             \
    do {                                                   \
        int64_t n_ = n0;                                   \
        for (; n_ + (R) <= n1; n_ += (R))                  \
            tile(&g, (ob), n_, (R), m0, (MT));             \
        for (; n_ < n1; n_++)                              \
            tile(&g, (ob), n_, 1, m0, (MT));               \
    } while (0)
#define GEMM4_ROWS(R, MT)                                  \
    do {                                                   \
        if (g.one_block)                                   \
            GEMM4_ROWS_(R, MT, 1);                         \
        else                                               \
            GEMM4_ROWS_(R, MT, 0);                         \
    } while (0)

kbit_status kbit_avx2_gemm_4bit(const kbit_op_gemm_4bit *op, const float *a32, const float *at, int64_t n0,
                                int64_t n1)
{
    if (op->K % 8 != 0)
        return kbit_ref_gemm_4bit(op, a32, n0, n1);
    gemm4_args g = {
        .op = op, .at = at, .row_floats = kbit_cpu_gemm4_row_floats(op->K),
        .chunks = op->K / 8, .nblocks = (op->N * op->K + op->blocksize - 1) / op->blocksize,
        .lg_block = __builtin_ctz((unsigned)op->blocksize),
        .lane_off = _mm256_setr_epi32(0, 8, 16, 24, 32, 40, 48, 56),
        .iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
    };
    g.groups = (g.chunks + 15) / 16;
    g.ahead = op->K / 2 > KBIT_PREFETCH_BYTES / 4 ? op->K / 2 : KBIT_PREFETCH_BYTES / 4;
    float dec[16];
    for (unsigned q = 0; q < 16; q++)
        dec[q] = kbit_4bit_decode(op->type, q);
    uint8_t planes[4][32];
    for (int q = 0; q < 32; q++) {
        uint32_t bits;
        memcpy(&bits, &dec[q % 16], sizeof bits);
        for (int k = 0; k < 4; k++)
            planes[k][q] = (uint8_t)(bits >> (8 * k));
    }
    for (int k = 0; k < 4; k++)
        g.plane[k] = _mm256_loadu_si256((const __m256i *)planes[k]);
    g.transpose = _mm256_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15,
                                   0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    g.low4 = _mm256_set1_epi8(0x0f);
    /* a full load starts on a multiple of 64 elements */
    g.one_block = op->K % 64 == 0 && op->blocksize >= 64;
    for (int64_t m0 = 0; m0 < op->M;) {
        if (op->M - m0 >= 2) {
            GEMM4_ROWS(1, 2);
            m0 += 2;
        } else {
            GEMM4_ROWS(2, 1);
            m0 += 1;
        }
    }
    return KBIT_OK;
}

/* ------------------------------------------------------------------ */
/* Backward: dA[m, k] = dot32 over n of dOut[m, n] and W[n, k]          */
/*
 * avx512_gemm4.c's backward on 8 columns per register: each dot32 lane l
 * (chunks of 8 weight rows, c = l mod 32) runs on its own register, its
 * products taken in increasing n, and the 32 lane registers are folded 16,
 * 8, 4, 2, 1 element-wise, the order of the reference. Needs K even (each
 * row starts on a byte); columns past the last whole group of 8, and odd K,
 * use the reference kernel.
 */

#define BWD_MAX_M 8

/* W[n, k0 .. k0+7] as fp32 (one multiply each). */
KBIT_INLINE __m256 row8(const kbit_op_gemm_4bit *op, const gemm4_args *g, int64_t n, int64_t k0)
{
    int64_t f0 = n * op->K + k0; /* even */
    uint32_t word;
    memcpy(&word, op->packed + f0 / 2, sizeof word);
    /* byte i / 2 in lane i; even elements: the high nibble */
    __m128i pairs = _mm_shuffle_epi8(_mm_cvtsi32_si128((int)word),
                                     _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, -1, -1, -1, -1, -1, -1,
                                                   -1, -1));
    __m256i q = _mm256_srlv_epi32(_mm256_cvtepu8_epi32(pairs),
                                  _mm256_setr_epi32(4, 0, 4, 0, 4, 0, 4, 0));
    int64_t b0 = f0 >> g->lg_block;
    int off = (int)(f0 - (b0 << g->lg_block));
    __m256i idx = _mm256_srlv_epi32(_mm256_add_epi32(_mm256_set1_epi32(off), g->iota),
                                    _mm256_set1_epi32(g->lg_block));
    __m256 am = _mm256_permutevar8x32_ps(
        _mm256_maskload_ps(op->absmax + b0, lanes_below(g, g->nblocks - b0)), idx);
    return _mm256_mul_ps(decode(g, q, _mm256_slli_epi32(q, 28)), am);
}

/* Columns k0 .. k0+7 for activation rows m0 .. m0+MT (a: fp32 dOut). */
KBIT_INLINE void bwd_tile(const kbit_op_gemm_4bit *op, const gemm4_args *g, const float *a,
                          int64_t k0, int64_t m0, int MT)
{
    const int64_t N = op->N, chunks = (N + 7) / 8;
    __m256 s[BWD_MAX_M][32];
    for (int l = 0; l < 32; l++) {
        __m256 acc[BWD_MAX_M];
        _Pragma("GCC unroll 8") for (int mt = 0; mt < MT; mt++)
            acc[mt] = _mm256_setzero_ps();
        for (int64_t c = l; c < chunks; c += 32) {
            for (int e = 0; e < 8; e++) {
                int64_t n = c * 8 + e;
                if (n >= N) { /* padding: fma(+0, +0, s) = s + (+0) */
                    _Pragma("GCC unroll 8") for (int mt = 0; mt < MT; mt++)
                        acc[mt] = _mm256_add_ps(acc[mt], _mm256_setzero_ps());
                    continue;
                }
                __m256 w = row8(op, g, n, k0);
                _Pragma("GCC unroll 8") for (int mt = 0; mt < MT; mt++)
                    acc[mt] = _mm256_fmadd_ps(w, _mm256_set1_ps(a[(m0 + mt) * N + n]), acc[mt]);
            }
        }
        _Pragma("GCC unroll 8") for (int mt = 0; mt < MT; mt++)
            s[mt][l] = acc[mt];
    }
    for (int mt = 0; mt < MT; mt++) {
        for (int h = 16; h >= 1; h /= 2)
            for (int l = 0; l < h; l++)
                s[mt][l] = _mm256_add_ps(s[mt][l], s[mt][l + h]);
        float v[8];
        _mm256_storeu_ps(v, s[mt][0]);
        kbit_store_f32(op->out, op->dtype, (m0 + mt) * op->K + k0, 8, v);
    }
}

kbit_status kbit_avx2_gemm_4bit_backward(const kbit_op_gemm_4bit *op, const float *a32, int64_t k_begin,
                                         int64_t k_end)
{
    if (op->K % 2 != 0 || op->N == 0)
        return kbit_ref_gemm_4bit_backward(op, a32, k_begin, k_end);
    const int64_t M = op->M, N = op->N;
    const float *a = a32; /* dOut as fp32, converted once per call (ops.c) */
    gemm4_args g = {
        .op = op, .nblocks = (N * op->K + op->blocksize - 1) / op->blocksize,
        .lg_block = __builtin_ctz((unsigned)op->blocksize),
        .iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
    };
    float dec[16];
    for (unsigned q = 0; q < 16; q++)
        dec[q] = kbit_4bit_decode(op->type, q);
    g.dec_lo = _mm256_loadu_ps(dec);
    g.dec_hi = _mm256_loadu_ps(dec + 8);
    int64_t k0 = k_begin;
    for (; k0 + 8 <= k_end; k0 += 8) {
        int64_t m0 = 0;
        for (; m0 + 8 <= M; m0 += 8)
            bwd_tile(op, &g, a, k0, m0, 8);
        for (; m0 + 4 <= M; m0 += 4)
            bwd_tile(op, &g, a, k0, m0, 4);
        for (; m0 < M; m0++)
            bwd_tile(op, &g, a, k0, m0, 1);
    }
    return k0 < k_end ? kbit_ref_gemm_4bit_backward(op, a32, k0, k_end) : KBIT_OK;
}
