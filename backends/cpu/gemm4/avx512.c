/*
 * backends/cpu/gemm4/avx512.c - AVX-512 4-bit matmul forward (dot32,
 * doc/determinism.md 3), bit-identical to ref/gemm4.c.
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
#include <string.h>

#include "numerics/encode.h"
#include "gemm4.h"
#include "../x86/avx512_io.h"

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
 * bits; doc/determinism.md 3 allows a per-block table prepared in advance):
 *  LOOKUP_LANES: any blocksize and K % 8 == 0: vpermps of DEC, times the
 *    per-lane absmax (lane_absmax);
 *  LOOKUP_PAIR: blocksize 64 and K % 128 == 0: a group's 16 chunks are
 *    exactly blocks b (lanes 0-7) and b+1 (lanes 8-15), so one vpermt2ps of
 *    the tables DEC*absmax[b] and DEC*absmax[b+1] gives w; the nibbles are
 *    masked once per group with the table-select bit 4 set in lanes 8-15;
 *  LOOKUP_ONE: blocksize >= 128 and K % 128 == 0: the group lies in one
 *    block, one vpermps of the table DEC*absmax[b] gives w. */
enum { LOOKUP_LANES, LOOKUP_PAIR, LOOKUP_ONE };
/* What bounds M = 1 (measured on an EPYC family 19h, where a 512-bit
 * operation takes two of the four vector pipes): per 16 weights one fma,
 * one vpermt2ps and about one shift or mask, 2.1-2.4 cycles in all, so a
 * core decodes about 13 GB/s of packed weight, half its read bandwidth;
 * two cores reach 0.55-0.8 of it. The shifts cannot become loads at
 * byte offsets (three of four such loads split a cache line: slower), nor
 * the permutes 256-bit ones (as many operations per weight: slower). */

/* The weight of group j (chunks 16j..16j+15, mask `valid`) of weight row n
 * as fp32: w[e] holds element e of the group's 16 chunks (dot32 lanes). The
 * next tile, `ahead` bytes on, is prefetched. */
KBIT_INLINE void decode_group(const gemm4_args *g, int mode, int64_t n, int64_t j,
                              __mmask16 valid, int64_t ahead, __m512 w[8])
{
    const int64_t K = g->op->K;
    const uint8_t *p = g->op->packed + n * K / 2 + j * 64;
    const float *am_p = g->op->absmax + ((n * K + j * KBIT_GEMM4_GROUP) >> g->lg_block);
    _mm_prefetch((const char *)p + ahead, _MM_HINT_T0);
    _mm_prefetch((const char *)am_p + (ahead >> (g->lg_block - 3)), _MM_HINT_T0);
    __m512i W = _mm512_maskz_loadu_epi32(valid, p);
    if (mode == LOOKUP_PAIR) {
        __m512 t0 = _mm512_mul_ps(g->dec, _mm512_set1_ps(am_p[0]));
        __m512 t1 = _mm512_mul_ps(g->dec, _mm512_set1_ps(am_p[1]));
        /* (x & 0x0f0f0f0f) | select: 0xEA = (A & B) | C */
        __m512i lo4 = _mm512_ternarylogic_epi32(W, g->nibbles, g->select, 0xEA);
        __m512i hi4 = _mm512_ternarylogic_epi32(_mm512_srli_epi32(W, 4), g->nibbles, g->select,
                                                0xEA);
        /* element e: byte e / 2 of hi4 (even e) or lo4 (odd e) */
        w[0] = _mm512_permutex2var_ps(t0, hi4, t1);
        w[1] = _mm512_permutex2var_ps(t0, lo4, t1);
        w[2] = _mm512_permutex2var_ps(t0, _mm512_srli_epi32(hi4, 8), t1);
        w[3] = _mm512_permutex2var_ps(t0, _mm512_srli_epi32(lo4, 8), t1);
        w[4] = _mm512_permutex2var_ps(t0, _mm512_srli_epi32(hi4, 16), t1);
        w[5] = _mm512_permutex2var_ps(t0, _mm512_srli_epi32(lo4, 16), t1);
        w[6] = _mm512_permutex2var_ps(t0, _mm512_srli_epi32(hi4, 24), t1);
        w[7] = _mm512_permutex2var_ps(t0, _mm512_srli_epi32(lo4, 24), t1);
        return;
    }
    /* element e: nibble e of the word; vpermps reads the low 4 bits */
    __m512 t0 = _mm512_setzero_ps(), am = t0;
    if (mode == LOOKUP_ONE)
        t0 = _mm512_mul_ps(g->dec, _mm512_set1_ps(am_p[0]));
    else
        am = lane_absmax(g, n, j);
#define GEMM4_ONE(q)                                                                         \
    (mode == LOOKUP_ONE ? _mm512_permutexvar_ps(q, t0)                                       \
                        : _mm512_mul_ps(_mm512_permutexvar_ps(q, g->dec), am))
    w[0] = GEMM4_ONE(_mm512_srli_epi32(W, 4));
    w[1] = GEMM4_ONE(W);
    w[2] = GEMM4_ONE(_mm512_srli_epi32(W, 12));
    w[3] = GEMM4_ONE(_mm512_srli_epi32(W, 8));
    w[4] = GEMM4_ONE(_mm512_srli_epi32(W, 20));
    w[5] = GEMM4_ONE(_mm512_srli_epi32(W, 16));
    w[6] = GEMM4_ONE(_mm512_srli_epi32(W, 28));
    w[7] = GEMM4_ONE(_mm512_srli_epi32(W, 24));
#undef GEMM4_ONE
}

/* One group j (mask `valid`) of R weight rows from n, accumulated into
 * acc[r][mt] for MT activation rows from m0. */
KBIT_INLINE void group_step(const gemm4_args *g, int mode, int64_t n, int R, int64_t m0, int MT,
                            int64_t j, __mmask16 valid, __m512 acc[GEMM4_MAX_ROWS][GEMM4_MAX_M])
{
    const float *a = g->at + m0 * g->row_floats + j * KBIT_GEMM4_GROUP;
    _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {
        /* The R rows of a tile are one contiguous stretch of the weight:
         * fetch the same place of the next tile (one row further would be
         * this tile's next row, already on its way). */
        __m512 w[8];
        decode_group(g, mode, n + r, j, valid, R * g->ahead, w);
        _Pragma("GCC unroll 8") for (int e = 0; e < 8; e++)
            _Pragma("GCC unroll 8") for (int mt = 0; mt < MT; mt++)
                acc[r][mt] = _mm512_mask3_fmadd_ps(
                    w[e], _mm512_load_ps(a + mt * g->row_floats + 16 * e), acc[r][mt], valid);
    }
}

/* Outputs (m0..m0+MT) x (n..n+R): whole dot32s, then bias and the dtype.
 * Lanes 0-15 only ever see the even groups and lanes 16-31 the odd ones. */
KBIT_INLINE void tile(const gemm4_args *g, int mode, int64_t n, int R, int64_t m0, int MT)
{
    __m512 lo[GEMM4_MAX_ROWS][GEMM4_MAX_M], hi[GEMM4_MAX_ROWS][GEMM4_MAX_M];
    _Pragma("GCC unroll 8") for (int r = 0; r < R; r++)
        _Pragma("GCC unroll 8") for (int mt = 0; mt < MT; mt++)
            lo[r][mt] = hi[r][mt] = _mm512_setzero_ps();
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

/* Rows [n0, n1) for MT activation rows from m0, R rows at a time. */
KBIT_INLINE void rows(const gemm4_args *g, int mode, int64_t n0, int64_t n1, int R, int64_t m0,
                      int MT)
{
    int64_t n = n0;
    for (; n + R <= n1; n += R)
        tile(g, mode, n, R, m0, MT);
    for (; n < n1; n++)
        tile(g, mode, n, 1, m0, MT);
}

/* ------------------------------------------------------------------ */
/* M > 1: each weight decoded once per call                             */
/*
 * A block of up to BLOCK_ROWS weight rows runs over all the activation rows
 * of a slab (sized for the L1 and L2 caches) two groups of the same lane
 * half at a time (j and j + 2: 0, 2, 1, 3, 4, 6, 5, 7, ...): the block's
 * groups are decoded once into wbuf (L1), then every register tile of
 * TILE_R rows x TILE_M activation rows loads its accumulators (acc, L1:
 * [activation row][row][lanes 0-15 or 16-31]), takes the groups' 16
 * elements (per element: TILE_R weight vectors and TILE_M activation
 * vectors, all their products) and stores them back. The groups'
 * activations (slab x 1 KiB) stay in L1 for all the block's rows. Each
 * output still takes its chunks in increasing order per lane, the order of
 * dot32.
 */
#define BLOCK_ROWS 8
#define TILE_R 4
#define TILE_M 4
/* Activation rows per slab: at most MAX_SLAB (the accumulators and the
 * activations of a group stay in L1), and at most SLAB_BYTES of
 * activations (in L2, 2 MiB per core). */
#define MAX_SLAB 32
#define SLAB_BYTES (1 << 20)

typedef struct block_work {
    int64_t mslab;   /* activation rows per slab */
    __m512 *acc;     /* [mslab][BLOCK_ROWS][2] */
    __m512 *wbuf;    /* [BLOCK_ROWS][2][8] */
    float *slab;     /* the slab's activations, group-major: [groups][rows][128] */
} block_work;

/* Groups j and j + 2 (U = 2) or j alone (U = 1) of the decoded rows
 * r0 .. r0+R into the accumulators of MT activation rows from mt0 of the
 * slab (MS rows); lane half h = j % 2; valid[u]: the chunks of group u. */
KBIT_INLINE void block_tile(const block_work *bw, int r0, int R, int64_t MS, int64_t mt0, int MT,
                            int64_t j, int U, int h, const __mmask16 valid[2])
{
    /* one pointer each to the accumulators, activations and weights:
     * every access below is at a constant offset from it */
    __m512 acc[TILE_R][TILE_M];
    __m512 *mem = bw->acc + (mt0 * BLOCK_ROWS + r0) * 2 + h;
    _Pragma("GCC unroll 8") for (int r = 0; r < R; r++)
        _Pragma("GCC unroll 8") for (int mt = 0; mt < MT; mt++)
            acc[r][mt] = mem[(mt * BLOCK_ROWS + r) * 2];
    _Pragma("GCC unroll 2") for (int u = 0; u < U; u++) {
        const float *a = bw->slab + ((j + 2 * u) * MS + mt0) * KBIT_GEMM4_GROUP;
        const __m512 *wb = bw->wbuf + r0 * 16 + u * 8;
        _Pragma("GCC unroll 8") for (int e = 0; e < 8; e++) {
            __m512 w[TILE_R], av[TILE_M];
            _Pragma("GCC unroll 8") for (int r = 0; r < R; r++)
                w[r] = wb[r * 16 + e];
            _Pragma("GCC unroll 8") for (int mt = 0; mt < MT; mt++)
                av[mt] = _mm512_load_ps(a + mt * KBIT_GEMM4_GROUP + 16 * e);
            _Pragma("GCC unroll 8") for (int r = 0; r < R; r++)
                _Pragma("GCC unroll 8") for (int mt = 0; mt < MT; mt++)
                    acc[r][mt] = _mm512_mask3_fmadd_ps(w[r], av[mt], acc[r][mt], valid[u]);
        }
    }
    _Pragma("GCC unroll 8") for (int r = 0; r < R; r++)
        _Pragma("GCC unroll 8") for (int mt = 0; mt < MT; mt++)
            mem[(mt * BLOCK_ROWS + r) * 2] = acc[r][mt];
}

/* The decoded rows r0 .. r0+R of groups j (and j + 2) for every activation
 * row of the slab, TILE_M (then 2, 1) at a time. */
KBIT_INLINE void block_rows(const block_work *bw, int r0, int R, int64_t MS, int64_t j, int U,
                            int h, const __mmask16 valid[2])
{
    int64_t mt0 = 0;
    for (; mt0 + TILE_M <= MS; mt0 += TILE_M)
        block_tile(bw, r0, R, MS, mt0, TILE_M, j, U, h, valid);
    for (; mt0 + 2 <= MS; mt0 += 2)
        block_tile(bw, r0, R, MS, mt0, 2, j, U, h, valid);
    for (; mt0 < MS; mt0++)
        block_tile(bw, r0, R, MS, mt0, 1, j, U, h, valid);
}

/* Groups j and j + 2 (U = 2) or j (U = 1) of the block's RB rows. */
KBIT_INLINE void block_groups(const gemm4_args *g, const block_work *bw, int mode, int64_t n,
                              int RB, int64_t MS, int64_t j, int U)
{
    __mmask16 valid[2];
    for (int u = 0; u < U; u++) {
        int64_t ju = j + 2 * u;
        valid[u] = ju + 1 < g->groups ? 0xffff : k512_mask(g->chunks - ju * 16);
        for (int r = 0; r < RB; r++)
            decode_group(g, mode, n + r, ju, valid[u], RB * g->ahead, bw->wbuf + r * 16 + u * 8);
    }
    int h = (int)(j & 1), r0 = 0;
    for (; r0 + TILE_R <= RB; r0 += TILE_R)
        block_rows(bw, r0, TILE_R, MS, j, U, h, valid);
    for (; r0 < RB; r0++)
        block_rows(bw, r0, 1, MS, j, U, h, valid);
}

/* Outputs (m0 .. m0+MS) x (n .. n+RB), RB <= BLOCK_ROWS. */
KBIT_INLINE void block(const gemm4_args *g, const block_work *bw, int mode, int64_t n, int RB,
                       int64_t m0, int64_t MS)
{
    const int64_t G = g->groups;
    for (int64_t i = 0; i < MS * BLOCK_ROWS * 2; i++)
        bw->acc[i] = _mm512_setzero_ps();
    for (int64_t j4 = 0; j4 < G; j4 += 4)
        for (int64_t j = j4; j < j4 + 2 && j < G; j++) {
            if (j + 2 < G)
                block_groups(g, bw, mode, n, RB, MS, j, 2);
            else
                block_groups(g, bw, mode, n, RB, MS, j, 1);
        }
    const kbit_op_gemm_4bit *op = g->op;
    for (int r = 0; r < RB; r++) {
        float bias = 0.0f;
        if (op->bias != NULL)
            kbit_load_f32(op->bias, op->dtype, n + r, 1, &bias);
        for (int64_t mt = 0; mt < MS; mt++) {
            const __m512 *s = bw->acc + (mt * BLOCK_ROWS + r) * 2;
            float v = fold32(s[0], s[1]);
            if (op->bias != NULL)
                v = v + bias;
            kbit_store_f32(op->out, op->dtype, (m0 + mt) * op->N + n + r, 1, &v);
        }
    }
}

/* Weight rows [n0, n1), every activation row, slab by slab. */
KBIT_INLINE void all_rows_blocked(const gemm4_args *g, const block_work *bw, int mode, int64_t n0,
                                  int64_t n1)
{
    for (int64_t m0 = 0; m0 < g->op->M; m0 += bw->mslab) {
        int64_t MS = g->op->M - m0 < bw->mslab ? g->op->M - m0 : bw->mslab;
        for (int64_t j = 0; j < g->groups; j++)
            for (int64_t mt = 0; mt < MS; mt++)
                memcpy(bw->slab + (j * MS + mt) * KBIT_GEMM4_GROUP,
                       g->at + (m0 + mt) * g->row_floats + j * KBIT_GEMM4_GROUP,
                       KBIT_GEMM4_GROUP * sizeof(float));
        for (int64_t n = n0; n < n1; n += BLOCK_ROWS)
            block(g, bw, mode, n, n1 - n < BLOCK_ROWS ? (int)(n1 - n) : BLOCK_ROWS, m0, MS);
    }
}

/* Weight rows [n0, n1). The paths and tile shapes were chosen by
 * measurement (kbit bench gemm4): M < 8: the weight streams once per tile of
 * 4 (then 2, 1) activation rows, 4 (2 for 4 activation rows) weight rows
 * sharing each activation load, accumulators in registers; M >= 8: blocks
 * (above), each weight decoded once. */
KBIT_INLINE kbit_status all_rows(const gemm4_args *g, int mode, int64_t n0, int64_t n1)
{
    const int64_t M = g->op->M;
    if (M < 8) {
        int64_t m0 = 0;
        for (; m0 + 4 <= M; m0 += 4)
            rows(g, mode, n0, n1, 2, m0, 4);
        for (; m0 + 2 <= M; m0 += 2)
            rows(g, mode, n0, n1, 4, m0, 2);
        for (; m0 < M; m0++)
            rows(g, mode, n0, n1, 4, m0, 1);
        return KBIT_OK;
    }
    block_work bw;
    bw.mslab = SLAB_BYTES / (g->row_floats * (int64_t)sizeof(float));
    bw.mslab = bw.mslab > MAX_SLAB ? MAX_SLAB : bw.mslab < TILE_M ? TILE_M : bw.mslab;
    if (bw.mslab > M)
        bw.mslab = M;
    size_t vectors = (size_t)(BLOCK_ROWS * bw.mslab * 2 + BLOCK_ROWS * 16);
    size_t bytes = vectors * sizeof(__m512) + (size_t)(bw.mslab * g->row_floats) * sizeof(float);
    bw.acc = aligned_alloc(64, bytes);
    if (bw.acc == NULL)
        return KBIT_ENOMEM;
    bw.wbuf = bw.acc + BLOCK_ROWS * bw.mslab * 2;
    bw.slab = (float *)(bw.wbuf + BLOCK_ROWS * 16);
    all_rows_blocked(g, &bw, mode, n0, n1);
    free(bw.acc);
    return KBIT_OK;
}

kbit_status kbit_avx512_gemm_4bit(const kbit_op_gemm_4bit *op, const float *a32, const float *at,
                                  int64_t n0, int64_t n1)
{
    if (op->K % 8 != 0)
        return kbit_ref_gemm_4bit(op, a32, n0, n1);
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
        return all_rows(&g, LOOKUP_LANES, n0, n1);
    if (op->blocksize == 64)
        return all_rows(&g, LOOKUP_PAIR, n0, n1);
    if (op->blocksize > 64)
        return all_rows(&g, LOOKUP_ONE, n0, n1);
    return all_rows(&g, LOOKUP_LANES, n0, n1);
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

kbit_status kbit_avx512_gemm_4bit_backward(const kbit_op_gemm_4bit *op, const float *a32, int64_t k_begin,
                                           int64_t k_end)
{
    if (op->K % 2 != 0 || op->N == 0)
        return kbit_ref_gemm_4bit_backward(op, a32, k_begin, k_end);
    const int64_t M = op->M, N = op->N;
    const float *a = a32; /* dOut as fp32, converted once per call (ops.c) */
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
    return k0 < k_end ? kbit_ref_gemm_4bit_backward(op, a32, k0, k_end) : KBIT_OK;
}
