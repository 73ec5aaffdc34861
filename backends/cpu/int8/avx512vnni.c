/*
 * backends/cpu/int8/avx512vnni.c - the int8 GEMM with AVX-512 VNNI.
 *
 * vpdpbusd multiplies unsigned by signed bytes, four products per 32-bit
 * lane, and adds them to the lane without saturation (modulo 2^32). The
 * weight operand B is offset to unsigned, B' = B + 128 (B xor 0x80), so
 *     sum_k B'[n,k] * A[m,k] = sum_k A[m,k] * B[n,k] + 128 * sum_k A[m,k]
 * and the exact product is the lane sum minus corr[m] = 128 * rowsum(A[m]),
 * all modulo 2^32: the bits of the reference's wrapping int32 sum, whatever
 * the order (integer addition modulo 2^32 is associative).
 *
 * Two kernels:
 *  - small M (or short K): rows of A against rows of B, 4 x 4 tiles of
 *    64-byte vectors, horizontal sums at the end; B is read once, straight
 *    from its row-major layout (what a GEMV needs: it is bandwidth bound);
 *  - large M: A is packed once per call into 6-row tiles of 4-byte k-groups;
 *    B is packed per (64-column panel, 4096-k block) into a slice of
 *    k-groups, 64 columns per 256-byte row (already
 *    offset to unsigned; gathered 16 columns at a time), and a 6 x 64
 *    register tile (24 zmm accumulators) runs over it: per k-group 4 vector
 *    loads of B, 6 broadcasts of A and 24 vpdpbusd. The int32 output tile
 *    holds the partial sums between k blocks; the correction is applied with
 *    the last one.
 */
#include <stdlib.h>
#include <string.h>

#include "int8.h"
#include "../x86/common.h"

#define MR 6            /* rows of the register tile */
#define NR 64           /* columns of a panel: 4 vectors of 16 lanes */
/* k per packed block (a multiple of 4): a 256 KiB slice of B in L2, which
 * measured faster here than 512 (a 32 KiB slice in L1 but the int32 tile
 * reloaded per block) */
#define KC 4096
#define SMALL_M 48      /* below: the direct kernel */

/* corr[m] = 128 * sum_k A[m,k], modulo 2^32. */
static void row_corrections(const int8_t *A, int64_t M, int64_t K, uint32_t *corr)
{
    const __m512i ones = _mm512_set1_epi8(1);
    for (int64_t m = 0; m < M; m++) {
        const int8_t *a = A + m * K;
        __m512i s = _mm512_setzero_si512();
        for (int64_t k = 0; k < K; k += 64) {
            __mmask64 mk = K - k >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (K - k)) - 1);
            s = _mm512_dpbusd_epi32(s, ones, _mm512_maskz_loadu_epi8(mk, a + k));
        }
        corr[m] = (uint32_t)_mm512_reduce_add_epi32(s) * 128u;
    }
}

/* ---- small M: R x 4 tiles of rows ---- */

/* The R x 4 tile of rows a[0..R) x b[0..4) (R a constant after inlining),
 * sums modulo 2^32. The four B rows are consecutive in memory, and so are
 * the next tile's: next (NULL: none) is prefetched 256 bytes per step, one
 * tile ahead, since the hardware prefetchers stop at each 4 KiB page. */
KBIT_INLINE void tile(int R, const int8_t *const a[4], const int8_t *const b[4], int64_t K,
                      const int8_t *next, uint32_t out[16])
{
    const __m512i offset = _mm512_set1_epi8((char)0x80);
    __m512i acc[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++)
        acc[i] = _mm512_setzero_si512();
    for (int64_t k = 0; k < K; k += 64) {
        if (next) {
            const char *p = (const char *)next + k * 4;
            _mm_prefetch(p, _MM_HINT_T0);
            _mm_prefetch(p + 64, _MM_HINT_T0);
            _mm_prefetch(p + 128, _MM_HINT_T0);
            _mm_prefetch(p + 192, _MM_HINT_T0);
        }
        __mmask64 mk = K - k >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (K - k)) - 1);
        __m512i va[4], vb[4];
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) {
            if (i < R)
                va[i] = _mm512_maskz_loadu_epi8(mk, a[i] + k); /* beyond K: A = 0 */
            vb[i] = _mm512_xor_si512(_mm512_maskz_loadu_epi8(mk, b[i] + k), offset);
        }
#pragma GCC unroll 16
        for (int ij = 0; ij < 16; ij++)
            if ((ij >> 2) < R)
                acc[ij] = _mm512_dpbusd_epi32(acc[ij], vb[ij & 3], va[ij >> 2]);
    }
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++)
        out[i] = ((i >> 2) < R) ? (uint32_t)_mm512_reduce_add_epi32(acc[i]) : 0;
}

static void direct(const kbit_op_int8_matmul *op, int64_t n0, int64_t n1, const uint32_t *corr)
{
    const int64_t M = op->M, N = op->N, K = op->K;
    for (int64_t n = n0; n < n1; n += 4)
        for (int64_t m = 0; m < M; m += 4) {
            /* B rows past the range repeat the last one; their results are dropped */
            const int8_t *a[4], *b[4];
            for (int i = 0; i < 4; i++) {
                a[i] = op->A + (m + i < M ? m + i : M - 1) * K;
                b[i] = op->B + (n + i < n1 ? n + i : n1 - 1) * K;
            }
            /* past n1 too: a caller running the range in chunks (the
             * gather of the forward) keeps the stream going */
            const int8_t *next = m == 0 && n + 8 <= N ? op->B + (n + 4) * K : NULL;
            int rows = M - m < 4 ? (int)(M - m) : 4;
            uint32_t t[16];
            switch (rows) {
            case 1: tile(1, a, b, K, next, t); break;
            case 2: tile(2, a, b, K, next, t); break;
            case 3: tile(3, a, b, K, next, t); break;
            default: tile(4, a, b, K, next, t); break;
            }
            for (int i = 0; i < rows; i++)
                for (int j = 0; j < 4 && n + j < n1; j++)
                    op->out[(m + i) * N + n + j] = (int32_t)(t[i * 4 + j] - corr[m + i]);
        }
}

/* ---- large M: packed panels ---- */

/* Bp[g * NR + c] = the 4 bytes of B[n + c, kb + 4g ..] xor 0x80, for
 * columns c < ncols (others and k >= K: 0x80, i.e. B = 0). Whole slices
 * gather 16 columns at a time; edges go byte by byte. */
static void pack_panel(uint32_t *Bp, const int8_t *B, int64_t K, int64_t n, int64_t ncols,
                       int64_t kb, int64_t groups)
{
    if (ncols == NR && kb + 4 * groups <= K && (int64_t)NR * K <= INT32_MAX) {
        const __m512i offset = _mm512_set1_epi32((int)0x80808080u);
        const __m512i rows = _mm512_mullo_epi32(
            _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
            _mm512_set1_epi32((int)K));
        for (int64_t c = 0; c < NR; c += 16) {
            const int8_t *src = B + (n + c) * K + kb;
            for (int64_t g = 0; g < groups; g++) {
                __m512i v = _mm512_i32gather_epi32(rows, (const void *)(src + 4 * g), 1);
                _mm512_store_si512((void *)(Bp + g * NR + c), _mm512_xor_si512(v, offset));
            }
        }
        return;
    }
    for (int64_t c = 0; c < NR; c++) {
        const int8_t *src = B + (n + c) * K;
        for (int64_t g = 0; g < groups; g++) {
            unsigned char b[4] = { 0, 0, 0, 0 };
            for (int t = 0; t < 4 && c < ncols && kb + 4 * g + t < K; t++)
                b[t] = (unsigned char)src[kb + 4 * g + t];
            uint32_t v;
            memcpy(&v, b, 4);
            Bp[g * NR + c] = v ^ 0x80808080u;
        }
    }
}

/* Ap: row tiles of MR rows, each holding for every k-group g the MR x 4
 * bytes of its rows (rows past M and k past K are 0): the micro-kernel's
 * broadcasts read 24 consecutive bytes per group instead of six rows
 * 4 KiB apart (which share L1 sets with the B slice). */
static void pack_a(int8_t *Ap, const int8_t *A, int64_t M, int64_t K, int64_t Kp)
{
    for (int64_t mt = 0; mt * MR < M; mt++) {
        int8_t *dst = Ap + mt * MR * Kp;
        for (int64_t g = 0; g < Kp / 4; g++)
            for (int i = 0; i < MR; i++) {
                int64_t m = mt * MR + i, k = 4 * g;
                int8_t *d = dst + (g * MR + i) * 4;
                if (m < M && k + 4 <= K) {
                    memcpy(d, A + m * K + k, 4);
                } else {
                    for (int t = 0; t < 4; t++)
                        d[t] = m < M && k + t < K ? A[m * K + k + t] : 0;
                }
            }
    }
}

KBIT_INLINE __m512i bcast4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* out tile [rows x ncols] at C (row stride ldc) += the packed A tile (from
 * the block's first group) x the packed B slice; first: start from 0; last:
 * subtract the corrections. */
static void micro(const int8_t *Ap, int rows, const uint32_t *Bp, int64_t groups, int32_t *C,
                  int64_t ldc, int64_t ncols, int first, int last, const uint32_t *corr)
{
    __mmask16 cm[4];
    for (int j = 0; j < 4; j++) {
        int64_t left = ncols - 16 * j;
        cm[j] = left >= 16 ? 0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1u);
    }
    __m512i acc[MR * 4];
#pragma GCC unroll 24
    for (int x = 0; x < MR * 4; x++)
        acc[x] = first || x / 4 >= rows ? _mm512_setzero_si512()
                                        : _mm512_maskz_loadu_epi32(cm[x & 3], C + (x / 4) * ldc + 16 * (x & 3));
    for (int64_t g = 0; g < groups; g++) {
        const __m512i *b = (const __m512i *)(Bp + g * NR);
        __m512i b0 = _mm512_load_si512(b), b1 = _mm512_load_si512(b + 1);
        __m512i b2 = _mm512_load_si512(b + 2), b3 = _mm512_load_si512(b + 3);
#pragma GCC unroll 6
        for (int i = 0; i < MR; i++) {
            __m512i av = bcast4(Ap + (g * MR + i) * 4);
            acc[i * 4 + 0] = _mm512_dpbusd_epi32(acc[i * 4 + 0], b0, av);
            acc[i * 4 + 1] = _mm512_dpbusd_epi32(acc[i * 4 + 1], b1, av);
            acc[i * 4 + 2] = _mm512_dpbusd_epi32(acc[i * 4 + 2], b2, av);
            acc[i * 4 + 3] = _mm512_dpbusd_epi32(acc[i * 4 + 3], b3, av);
        }
    }
#pragma GCC unroll 24
    for (int x = 0; x < MR * 4; x++) {
        int i = x / 4;
        if (i >= rows)
            continue;
        __m512i v = acc[x];
        if (last)
            v = _mm512_sub_epi32(v, _mm512_set1_epi32((int32_t)corr[i]));
        _mm512_mask_storeu_epi32(C + i * ldc + 16 * (x & 3), cm[x & 3], v);
    }
}

static int packed(const kbit_op_int8_matmul *op, int64_t n0, int64_t n1, const uint32_t *corr)
{
    const int64_t M = op->M, N = op->N, K = op->K;
    const int64_t Kp = (K + 3) / 4 * 4, tiles = (M + MR - 1) / MR;
    int8_t *Ap = malloc((size_t)(tiles * MR * Kp));
    uint32_t *Bp = aligned_alloc(64, (size_t)KC / 4 * NR * 4);
    if (Ap == NULL || Bp == NULL) {
        free(Ap), free(Bp);
        return 0;
    }
    pack_a(Ap, op->A, M, K, Kp);
    /* row blocks of packed A that stay in L2 (at most 1.5 MiB, beside a
     * 256 KiB slice of B) while every panel of the range runs over them; each
     * block packs the slices again, so the blocks are as few and as even as
     * that allows */
    int64_t block_tiles = ((int64_t)3 << 19) / (MR * Kp);
    if (block_tiles < 1)
        block_tiles = 1;
    int64_t blocks = (tiles + block_tiles - 1) / block_tiles;
    block_tiles = (tiles + blocks - 1) / blocks;
    for (int64_t t0 = 0; t0 < tiles; t0 += block_tiles) {
        int64_t t1 = t0 + block_tiles < tiles ? t0 + block_tiles : tiles;
        for (int64_t n = n0; n < n1; n += NR) {
            int64_t ncols = n1 - n < NR ? n1 - n : NR;
            for (int64_t kb = 0; kb < Kp; kb += KC) {
                int64_t groups = (Kp - kb < KC ? Kp - kb : KC) / 4;
                pack_panel(Bp, op->B, K, n, ncols, kb, groups);
                int first = kb == 0, last = kb + 4 * groups >= Kp;
                for (int64_t mt = t0; mt < t1; mt++) {
                    int64_t m = mt * MR;
                    int rows = M - m < MR ? (int)(M - m) : MR;
                    micro(Ap + mt * MR * Kp + kb * MR, rows, Bp, groups, op->out + m * N + n,
                          N, ncols, first, last, corr + m);
                }
            }
        }
    }
    free(Bp);
    free(Ap);
    return 1;
}

void kbit_avx512vnni_int8_matmul(const kbit_op_int8_matmul *op, int64_t n0, int64_t n1)
{
    uint32_t *corr = malloc((size_t)op->M * sizeof *corr);
    if (corr == NULL) { /* no scratch: the reference, same bits */
        kbit_ref_int8_matmul_cols(op, n0, n1);
        return;
    }
    row_corrections(op->A, op->M, op->K, corr);
    if (op->M < SMALL_M || op->K < 64 || !packed(op, n0, n1, corr))
        direct(op, n0, n1, corr);
    free(corr);
}
