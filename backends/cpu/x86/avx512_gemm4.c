/*
 * backends/cpu/x86/avx512_gemm4.c - AVX-512 4-bit matmul forward (dot32,
 * determinism.md 3), bit-identical to ref/gemm4.c.
 *
 * One 512-bit load of a weight row gives 16 packed 32-bit words = 16
 * consecutive chunks of 8 nibbles = dot32 lanes 0-15 (even groups) or 16-31
 * (odd groups). Element e of every lane is nibble e of its word: a shift
 * brings it to the low 4 bits, vpermps (which reads only those 4 bits) looks
 * up DEC[q], one multiply by the lane's absmax gives w, and one fma with
 * element e of the 16 chunks of the transposed activation (kernels.h)
 * accumulates it. Several weight rows share each activation load, and for
 * M > 1 each dequantized weight vector serves several activation rows, so the
 * weight is read once per call. Lanes past the row's last chunk are masked
 * out of the fma: a lane with no chunk left does not step.
 *
 * Weights with K % 8 != 0 (chunks straddle rows and blocks) use the
 * reference kernel.
 */
#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>

#include "../ref/encode.h"
#include "../ref/ref.h"
#include "avx512_io.h"
#include "variants.h"

typedef struct gemm4_args {
    const kbit_op_gemm_4bit *op;
    const float *at;   /* transposed activation */
    int64_t row_floats; /* per activation row of at */
    int64_t chunks;    /* per weight row: K / 8 */
    int64_t groups;    /* 16-chunk groups per row */
    int64_t nblocks;
    int lg_block;      /* log2(blocksize) */
    __m512 dec;        /* DEC[0..15] */
    __m512i lane_off;  /* 8 * lane */
    __m512i nibbles;   /* 0x0f0f0f0f */
    __m512i select;    /* 0x10101010 in lanes 8-15: vpermt2ps's second table */
    int64_t ahead;     /* prefetch distance per tile row in packed bytes (>= K/2) */
} gemm4_args;

/* Per-lane absmax of group j of weight row n: the lanes' blocks are at most
 * 5 consecutive ones (blocksize >= 32), gathered with one load and a permute. */
KBIT_INLINE __m512 lane_absmax(const gemm4_args *g, int64_t n, int64_t j)
{
    int64_t f0 = n * g->op->K + j * KBIT_GEMM4_GROUP;
    int64_t b0 = f0 >> g->lg_block;
    int off = (int)(f0 - (b0 << g->lg_block));
    __m512i idx = _mm512_srlv_epi32(_mm512_add_epi32(_mm512_set1_epi32(off), g->lane_off),
                                    _mm512_set1_epi32(g->lg_block));
    int64_t avail = g->nblocks - b0;
    __m512 a = _mm512_maskz_loadu_ps(k512_mask(avail), g->op->absmax + b0);
    return _mm512_permutexvar_ps(idx, a);
}

/* dot32 steps 3-4: fold the two halves of the 32 lanes. */
KBIT_INLINE float fold32(__m512 lo, __m512 hi)
{
    __m512 s = _mm512_add_ps(lo, hi);
    __m256 t = _mm256_add_ps(_mm512_castps512_ps256(s), _mm512_extractf32x8_ps(s, 1));
    __m128 u = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
    __m128 v = _mm_add_ps(u, _mm_movehl_ps(u, u));
    return _mm_cvtss_f32(_mm_add_ss(v, _mm_shuffle_ps(v, v, 1)));
}

#define GEMM4_MAX_ROWS 4
#define GEMM4_MAX_M 8

/* How w = DEC[q] * absmax is formed (all give the same product, so the same
 * bits; determinism.md 3 allows a per-block table prepared in advance):
 *  LOOKUP_LANES: any blocksize and K % 8 == 0: vpermps of DEC, times the
 *    per-lane absmax (lane_absmax);
 *  LOOKUP_PAIR: blocksize 64 and K % 128 == 0: a group's 16 chunks are
 *    exactly blocks b (lanes 0-7) and b+1 (lanes 8-15), so one vpermt2ps of
 *    the tables DEC*absmax[b] and DEC*absmax[b+1] gives w; the nibbles are
 *    masked once per group with the table-select bit 4 set in lanes 8-15;
 *  LOOKUP_ONE: blocksize >= 128 and K % 128 == 0: the group lies in one
 *    block, one vpermps of the table DEC*absmax[b] gives w. */
enum { LOOKUP_LANES, LOOKUP_PAIR, LOOKUP_ONE };

/* One group j (chunks 16j..16j+15, mask `valid`) of R weight rows from n,
 * accumulated into acc[r][mt] for MT activation rows from m0. */
KBIT_INLINE void group_step(const gemm4_args *g, int mode, int64_t n, int R, int64_t m0, int MT,
                            int64_t j, __mmask16 valid, __m512 acc[GEMM4_MAX_ROWS][GEMM4_MAX_M])
{
    const int64_t K = g->op->K;
    const float *a = g->at + m0 * g->row_floats + j * KBIT_GEMM4_GROUP;
    _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {
        const uint8_t *p = g->op->packed + (n + r) * K / 2 + j * 64;
        const float *am_p = g->op->absmax + (((n + r) * K + j * KBIT_GEMM4_GROUP) >> g->lg_block);
        /* The R rows of a tile are one contiguous stretch of the weight:
         * fetch the same place of the next tile (one row further would be
         * this tile's next row, already on its way). */
        _mm_prefetch((const char *)p + R * g->ahead, _MM_HINT_T0);
        _mm_prefetch((const char *)am_p + R * (g->ahead >> (g->lg_block - 3)), _MM_HINT_T0);
        __m512i W = _mm512_maskz_loadu_epi32(valid, p);
        __m512 am = _mm512_setzero_ps(), t0 = am, t1 = am;
        __m512i lo4 = W, hi4 = W;
        if (mode == LOOKUP_LANES) {
            am = lane_absmax(g, n + r, j);
        } else if (mode == LOOKUP_PAIR) {
            t0 = _mm512_mul_ps(g->dec, _mm512_set1_ps(am_p[0]));
            t1 = _mm512_mul_ps(g->dec, _mm512_set1_ps(am_p[1]));
            /* (x & 0x0f0f0f0f) | select: 0xEA = (A & B) | C */
            lo4 = _mm512_ternarylogic_epi32(W, g->nibbles, g->select, 0xEA);
            hi4 = _mm512_ternarylogic_epi32(_mm512_srli_epi32(W, 4), g->nibbles, g->select, 0xEA);
        } else {
            t0 = _mm512_mul_ps(g->dec, _mm512_set1_ps(am_p[0]));
        }
#define GEMM4_FMA(e, w)                                                                      \
        do {                                                                                \
            __m512 w_ = (w);                                                                \
            _Pragma("GCC unroll 8") for (int mt = 0; mt < MT; mt++)                        \
                acc[r][mt] = _mm512_mask3_fmadd_ps(                                         \
                    w_, _mm512_load_ps(a + mt * g->row_floats + 16 * (e)), acc[r][mt], valid); \
        } while (0)
        if (mode == LOOKUP_PAIR) {
            /* element e: byte e / 2 of hi4 (even e) or lo4 (odd e) */
#define GEMM4_PAIR(e, q) GEMM4_FMA(e, _mm512_permutex2var_ps(t0, q, t1))
            GEMM4_PAIR(0, hi4);
            GEMM4_PAIR(1, lo4);
            GEMM4_PAIR(2, _mm512_srli_epi32(hi4, 8));
            GEMM4_PAIR(3, _mm512_srli_epi32(lo4, 8));
            GEMM4_PAIR(4, _mm512_srli_epi32(hi4, 16));
            GEMM4_PAIR(5, _mm512_srli_epi32(lo4, 16));
            GEMM4_PAIR(6, _mm512_srli_epi32(hi4, 24));
            GEMM4_PAIR(7, _mm512_srli_epi32(lo4, 24));
#undef GEMM4_PAIR
        } else {
            /* element e: nibble e of the word; vpermps reads the low 4 bits */
#define GEMM4_ONE(e, q)                                                                      \
            GEMM4_FMA(e, mode == LOOKUP_ONE ? _mm512_permutexvar_ps(q, t0)                 \
                                            : _mm512_mul_ps(_mm512_permutexvar_ps(q, g->dec), am))
            GEMM4_ONE(0, _mm512_srli_epi32(W, 4));
            GEMM4_ONE(1, W);
            GEMM4_ONE(2, _mm512_srli_epi32(W, 12));
            GEMM4_ONE(3, _mm512_srli_epi32(W, 8));
            GEMM4_ONE(4, _mm512_srli_epi32(W, 20));
            GEMM4_ONE(5, _mm512_srli_epi32(W, 16));
            GEMM4_ONE(6, _mm512_srli_epi32(W, 28));
            GEMM4_ONE(7, _mm512_srli_epi32(W, 24));
#undef GEMM4_ONE
        }
#undef GEMM4_FMA
    }
}

/* The groups first, first + 2, ... of R weight rows into acc. */
KBIT_INLINE void half_pass(const gemm4_args *g, int mode, int64_t n, int R, int64_t m0, int MT,
                           int64_t first, __m512 acc[GEMM4_MAX_ROWS][GEMM4_MAX_M])
{
    const int64_t G = g->groups;
    int64_t j = first;
    for (; j + 2 < G; j += 2)
        group_step(g, mode, n, R, m0, MT, j, 0xffff, acc);
    if (j < G) /* the last group may be partial */
        group_step(g, mode, n, R, m0, MT, j, k512_mask(g->chunks - j * 16), acc);
}

/* Outputs (m0..m0+MT) x (n..n+R): whole dot32s, then bias and the dtype.
 * Lanes 0-15 only ever see the even groups and lanes 16-31 the odd ones, so
 * with `split` the even groups run over the whole row first, then the odd
 * ones (each lane still takes its chunks in increasing order): half the
 * accumulators are live, which leaves registers for more rows x more
 * activation rows (fewer loads per fma). Without it the row streams once. */
KBIT_INLINE void tile(const gemm4_args *g, int mode, int split, int64_t n, int R, int64_t m0,
                      int MT)
{
    __m512 lo[GEMM4_MAX_ROWS][GEMM4_MAX_M], hi[GEMM4_MAX_ROWS][GEMM4_MAX_M];
    _Pragma("GCC unroll 8") for (int r = 0; r < R; r++)
        _Pragma("GCC unroll 8") for (int mt = 0; mt < MT; mt++)
            lo[r][mt] = hi[r][mt] = _mm512_setzero_ps();
    if (split) {
        half_pass(g, mode, n, R, m0, MT, 0, lo);
        half_pass(g, mode, n, R, m0, MT, 1, hi);
    } else {
        const int64_t G = g->groups;
        int64_t j = 0;
        for (; j + 2 < G; j += 2) {
            group_step(g, mode, n, R, m0, MT, j, 0xffff, lo);
            group_step(g, mode, n, R, m0, MT, j + 1, 0xffff, hi);
        }
        for (; j < G; j++) {
            __mmask16 valid = k512_mask(g->chunks - j * 16);
            if (j % 2 == 0)
                group_step(g, mode, n, R, m0, MT, j, valid, lo);
            else
                group_step(g, mode, n, R, m0, MT, j, valid, hi);
        }
    }
    const kbit_op_gemm_4bit *op = g->op;
    _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {
        float bias = 0.0f;
        if (op->bias != NULL)
            kbit_load_f32(op->bias, op->dtype, n + r, 1, &bias);
        _Pragma("GCC unroll 8") for (int mt = 0; mt < MT; mt++) {
            float v = fold32(lo[r][mt], hi[r][mt]);
            if (op->bias != NULL)
                v = v + bias;
            kbit_store_f32(op->out, op->dtype, (m0 + mt) * op->N + n + r, 1, &v);
        }
    }
}

/* Rows [n0, n1) for MT activation rows from m0, R rows at a time, the row
 * streamed once (no split). */
KBIT_INLINE void rows(const gemm4_args *g, int mode, int64_t n0, int64_t n1, int R, int64_t m0,
                      int MT)
{
    int64_t n = n0;
    for (; n + R <= n1; n += R)
        tile(g, mode, 0, n, R, m0, MT);
    for (; n < n1; n++)
        tile(g, mode, 0, n, 1, m0, MT);
}

/* Every activation row for R weight rows from n, in split tiles of 4 (then
 * 2, 1) activation rows; the R rows' weights stay in the L1 cache from one
 * tile to the next. */
KBIT_INLINE void m_tiles(const gemm4_args *g, int mode, int64_t n, int R)
{
    int64_t m0 = 0;
    for (; m0 + 4 <= g->op->M; m0 += 4)
        tile(g, mode, 1, n, R, m0, 4);
    for (; m0 + 2 <= g->op->M; m0 += 2)
        tile(g, mode, 1, n, R, m0, 2);
    for (; m0 < g->op->M; m0++)
        tile(g, mode, 1, n, R, m0, 1);
}

/* Weight rows [n0, n1). The tile shapes were chosen by measurement (kbit
 * bench gemm4): M = 1: 4 weight rows share each activation load, the weight
 * streams once; M < 8: tiles of 4 or 2 activation rows over the whole row
 * range; M >= 8: 2 weight rows at a time, all activation rows in split
 * tiles, so the weight is read from memory once. */
KBIT_INLINE void all_rows(const gemm4_args *g, int mode, int64_t n0, int64_t n1)
{
    const int64_t M = g->op->M;
    if (M >= 8) {
        int64_t n = n0;
        for (; n + 2 <= n1; n += 2)
            m_tiles(g, mode, n, 2);
        for (; n < n1; n++)
            m_tiles(g, mode, n, 1);
        return;
    }
    int64_t m0 = 0;
    for (; m0 + 4 <= M; m0 += 4)
        rows(g, mode, n0, n1, 2, m0, 4);
    for (; m0 + 2 <= M; m0 += 2)
        rows(g, mode, n0, n1, 4, m0, 2);
    for (; m0 < M; m0++)
        rows(g, mode, n0, n1, 4, m0, 1);
}

kbit_status kbit_avx512_gemm_4bit(const kbit_op_gemm_4bit *op, const float *at, int64_t n0,
                                  int64_t n1)
{
    if (op->K % 8 != 0)
        return kbit_ref_gemm_4bit(op, n0, n1);
    gemm4_args g = {
        .op = op, .at = at, .row_floats = kbit_cpu_gemm4_row_floats(op->K),
        .chunks = op->K / 8, .nblocks = (op->N * op->K + op->blocksize - 1) / op->blocksize,
        .lg_block = __builtin_ctz((unsigned)op->blocksize),
        .lane_off = _mm512_setr_epi32(0, 8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 104, 112, 120),
        .nibbles = _mm512_set1_epi32(0x0f0f0f0f),
        .select = _mm512_mask_blend_epi32(0xff00, _mm512_setzero_si512(),
                                          _mm512_set1_epi32(0x10101010)),
    };
    g.groups = (g.chunks + 15) / 16;
    g.ahead = op->K / 2 > KBIT_PREFETCH_BYTES / 4 ? op->K / 2 : KBIT_PREFETCH_BYTES / 4;
    float dec[16];
    for (unsigned q = 0; q < 16; q++)
        dec[q] = kbit_4bit_decode(op->type, q);
    g.dec = _mm512_loadu_ps(dec);
    if (op->K % KBIT_GEMM4_GROUP != 0)
        all_rows(&g, LOOKUP_LANES, n0, n1);
    else if (op->blocksize == 64)
        all_rows(&g, LOOKUP_PAIR, n0, n1);
    else if (op->blocksize > 64)
        all_rows(&g, LOOKUP_ONE, n0, n1);
    else
        all_rows(&g, LOOKUP_LANES, n0, n1);
    return KBIT_OK;
}

/* ------------------------------------------------------------------ */
/* Backward: dA[m, k] = dot32 over n of dOut[m, n] and W[n, k]          */
/*
 * Vectorised over 16 consecutive columns k (one output per register lane):
 * each dot32 lane l (chunks of 8 weight rows, c = l mod 32) runs on its own
 * register, its products taken in increasing n; the 32 lane registers are
 * then folded 16, 8, 4, 2, 1 element-wise, the order of the reference. Needs
 * K even (each row starts on a byte); columns past the last whole group of
 * 16, and odd K, use the reference kernel.
 */

#define BWD_MAX_M 8

/* W[n, k0 .. k0+15] as fp32 (one multiply each). */
KBIT_INLINE __m512 row16(const kbit_op_gemm_4bit *op, __m512 dec, int lg, int64_t nblocks,
                         int64_t n, int64_t k0)
{
    static const int8_t dup[16] = { 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7 };
    int64_t f0 = n * op->K + k0; /* even */
    __m128i bytes = _mm_loadl_epi64((const __m128i *)(op->packed + f0 / 2));
    __m128i pairs = _mm_shuffle_epi8(bytes, _mm_loadu_si128((const __m128i *)dup));
    /* even elements: the high nibble; vpermps reads the low 4 bits */
    __m512i q = _mm512_srlv_epi32(_mm512_cvtepu8_epi32(pairs),
                                  _mm512_setr_epi32(4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0));
    int64_t b0 = f0 >> lg;
    int off = (int)(f0 - (b0 << lg));
    __m512i idx = _mm512_srlv_epi32(
        _mm512_add_epi32(_mm512_set1_epi32(off),
                         _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)),
        _mm512_set1_epi32(lg));
    __m512 am = _mm512_permutexvar_ps(
        idx, _mm512_maskz_loadu_ps(k512_mask(nblocks - b0), op->absmax + b0));
    return _mm512_mul_ps(_mm512_permutexvar_ps(q, dec), am);
}

/* Columns k0 .. k0+15 for activation rows m0 .. m0+MT. */
KBIT_INLINE void bwd_tile(const kbit_op_gemm_4bit *op, const float *a, __m512 dec, int lg,
                          int64_t nblocks, int64_t k0, int64_t m0, int MT)
{
    const int64_t N = op->N, chunks = (N + 7) / 8;
    __m512 s[BWD_MAX_M][32];
    for (int l = 0; l < 32; l++) {
        __m512 acc[BWD_MAX_M];
        _Pragma("GCC unroll 8") for (int mt = 0; mt < MT; mt++)
            acc[mt] = _mm512_setzero_ps();
        for (int64_t c = l; c < chunks; c += 32) {
            for (int e = 0; e < 8; e++) {
                int64_t n = c * 8 + e;
                if (n >= N) { /* padding: fma(+0, +0, s) = s + (+0) */
                    _Pragma("GCC unroll 8") for (int mt = 0; mt < MT; mt++)
                        acc[mt] = _mm512_add_ps(acc[mt], _mm512_setzero_ps());
                    continue;
                }
                __m512 w = row16(op, dec, lg, nblocks, n, k0);
                _Pragma("GCC unroll 8") for (int mt = 0; mt < MT; mt++)
                    acc[mt] = _mm512_fmadd_ps(w, _mm512_set1_ps(a[(m0 + mt) * N + n]), acc[mt]);
            }
        }
        _Pragma("GCC unroll 8") for (int mt = 0; mt < MT; mt++)
            s[mt][l] = acc[mt];
    }
    for (int mt = 0; mt < MT; mt++) {
        for (int h = 16; h >= 1; h /= 2)
            for (int l = 0; l < h; l++)
                s[mt][l] = _mm512_add_ps(s[mt][l], s[mt][l + h]);
        for (int i = 0; i < 16; i++) {
            float v = s[mt][0][i];
            kbit_store_f32(op->out, op->dtype, (m0 + mt) * op->K + k0 + i, 1, &v);
        }
    }
}

kbit_status kbit_avx512_gemm_4bit_backward(const kbit_op_gemm_4bit *op, int64_t k_begin,
                                           int64_t k_end)
{
    if (op->K % 2 != 0 || op->N == 0)
        return kbit_ref_gemm_4bit_backward(op, k_begin, k_end);
    const int64_t M = op->M, N = op->N;
    float *a = malloc((size_t)(M * N) * sizeof *a);
    if (a == NULL)
        return KBIT_ENOMEM;
    kbit_load_f32(op->a, op->dtype, 0, M * N, a);
    float dec_f[16];
    for (unsigned q = 0; q < 16; q++)
        dec_f[q] = kbit_4bit_decode(op->type, q);
    const __m512 dec = _mm512_loadu_ps(dec_f);
    const int lg = __builtin_ctz((unsigned)op->blocksize);
    const int64_t nblocks = (N * op->K + op->blocksize - 1) / op->blocksize;
    int64_t k0 = k_begin;
    for (; k0 + 16 <= k_end; k0 += 16) {
        int64_t m0 = 0;
        for (; m0 + 8 <= M; m0 += 8)
            bwd_tile(op, a, dec, lg, nblocks, k0, m0, 8);
        for (; m0 + 4 <= M; m0 += 4)
            bwd_tile(op, a, dec, lg, nblocks, k0, m0, 4);
        for (; m0 < M; m0++)
            bwd_tile(op, a, dec, lg, nblocks, k0, m0, 1);
    }
    free(a);
    return k0 < k_end ? kbit_ref_gemm_4bit_backward(op, k0, k_end) : KBIT_OK;
}
