/*
 * backends/cpu/gemm4/amx.c - the fast-mode 4-bit matmul forward for bf16
 * activations (doc/determinism.md 1, doc/numerics.md 5.4) on AMX-BF16
 * tiles. Opt-in only: it is not dot32, its results are checked against the
 * exact ones with the bound of numerics 5.4 (tests/test_gemm4_fast.c).
 *
 * What 5.4 allows and this kernel uses: Wdq = DEC[q] * absmax in fp32,
 * rounded once to bf16 (the activation's dtype T); the activation is bf16
 * already, so every product of two bf16 is exact in fp32; tdpbf16ps sums
 * them in fp32 in its own order. What it does not allow, tdpbf16ps'
 * treatment of denormals (inputs read as zero, results flushed), is kept
 * out by the magnitude rule of gemm4.h: ops.c runs the exact kernel for an
 * activation outside it, and a 16-row group with an absmax outside it runs
 * the reference here (the exact bits without the exact kernels' transposed
 * copy of the activation).
 *
 * AMX computes C[16 x 16] += A[16 x 32] . B[32 x 16] with B in pairs
 * ("VNNI": B row p holds column j's elements 2p and 2p+1 side by side). The
 * weight is the A operand: 16 weight rows x 32 consecutive k, decoded
 * straight from the packed bytes (a row's 32 k are one absmax block, as K %
 * 32 == 0 and blocksize >= 32). The activation, packed once per call by
 * ops.c (gemm4.h), is the B operand, so C[n][m] is out[m][n] transposed.
 *
 * Per group of 16 weight rows: the whole row span is decoded into the
 * thread's panel (L2; a tile load of data just stored would wait for the
 * stores), then every 32-k step loads its weight tile once for up to four
 * activation tiles. On the 2-core Sapphire Rapids-class VM it was written
 * on, a scratch loop (not in bench/) timed a 1 KiB tile load at ~19 ns and
 * a tdpbf16ps at ~17 ns, and perf put half of an M = 16 call in the decode:
 * there the decode and the loads, not the products, set the time.
 */
#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "numerics/encode.h"
#include "gemm4.h"
#include "../x86/avx512_io.h"

/* Tiles: C (accumulators) for up to MTILES activation tiles in tmm0..3,
 * the weight in tmm4, the activation in tmm5. */
#define MTILES 4
#define W_TILE 4
#define A_TILE 5
#define TILE_WORDS 512 /* bf16 per tile: 16 rows of 64 bytes */

typedef struct tile_config {
    uint8_t palette, start_row;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_config;

static void load_config(void)
{
    tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t <= A_TILE; t++) {
        cfg.colsb[t] = 64;
        cfg.rows[t] = 16;
    }
    _tile_loadconfig(&cfg);
}

/* 1 if every absmax of weight rows [n, n + rows) (one contiguous span)
 * keeps the magnitude rule of gemm4.h, else 0 (the group then runs exact). */
static int group_absmax_ok(const kbit_op_gemm_4bit *op, int lg, int64_t n, int rows)
{
    int64_t b = (n * op->K) >> lg, end = (((n + rows) * op->K - 1) >> lg) + 1;
    const __m512 lo = _mm512_set1_ps(KBIT_CPU_GEMM4_FAST_MIN);
    const __m512 hi = _mm512_set1_ps(KBIT_CPU_GEMM4_FAST_MAX);
    for (; b < end; b += 16) {
        __mmask16 live = k512_mask(end - b);
        __m512 a = _mm512_abs_ps(_mm512_maskz_loadu_ps(live, op->absmax + b));
        /* 0, or 2^-40 <= a < 2^40; NaN fails both */
        __mmask16 good = _mm512_cmp_ps_mask(a, _mm512_setzero_ps(), _CMP_EQ_OQ) |
                         (_mm512_cmp_ps_mask(a, lo, _CMP_GE_OQ) &
                          _mm512_cmp_ps_mask(a, hi, _CMP_LT_OQ));
        if ((good & live) != live)
            return 0;
    }
    return 1;
}

/* Decode weight rows [n, n + rows) (rows <= 16; the others are +0.0), all
 * steps, into the panel: tile s (k = 32 s .. 32 s + 31), row r = 32 bf16
 * of bf16(DEC[q] * absmax) in k order. vpermw looks the bf16 up in a
 * 32-word table holding step s's table in words 0-15 and step s + 1's in
 * 16-31 (one conversion for two steps); it reads the low 5 bits of each
 * word index: byte i of the packed row gives word 2i = byte >> 4 (even k,
 * the high nibble) and word 2i + 1 = byte & 15, plus 16 for step s + 1. */
static void decode_panel(const kbit_op_gemm_4bit *op, __m512 dec, int lg, int64_t n, int rows,
                         int64_t steps, uint16_t *panel)
{
    const __m512i low4 = _mm512_set1_epi32(0x000f000f), second = _mm512_set1_epi32(0x00100010);
    for (int r = 0; r < 16; r++) {
        if (r >= rows) {
            for (int64_t s = 0; s < steps; s++)
                _mm512_store_si512(panel + s * TILE_WORDS + r * 32, _mm512_setzero_si512());
            continue;
        }
        const int64_t f = (n + r) * op->K;
        for (int64_t s = 0; s < steps; s += 2) {
            int two = s + 1 < steps;
            int64_t f0 = f + 32 * s, f1 = two ? f0 + 32 : f0;
            __m512 t0 = _mm512_mul_ps(dec, _mm512_set1_ps(op->absmax[f0 >> lg]));
            __m512 t1 = _mm512_mul_ps(dec, _mm512_set1_ps(op->absmax[f1 >> lg]));
            __m512i table = (__m512i)_mm512_cvtne2ps_pbh(t1, t0); /* RNE, once */
            __m512i v0 = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(op->packed + f0 / 2)));
            __m512i i0 = _mm512_and_si512(
                _mm512_or_si512(_mm512_slli_epi32(v0, 16), _mm512_srli_epi32(v0, 4)), low4);
            _mm512_store_si512(panel + s * TILE_WORDS + r * 32, _mm512_permutexvar_epi16(i0, table));
            if (!two)
                break;
            __m512i v1 = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(op->packed + f1 / 2)));
            /* ((v1 << 16) | (v1 >> 4)) & 0x000f000f | 0x00100010: 0xEA = (A & B) | C */
            __m512i i1 = _mm512_ternarylogic_epi32(
                _mm512_or_si512(_mm512_slli_epi32(v1, 16), _mm512_srli_epi32(v1, 4)), low4,
                second, 0xEA);
            _mm512_store_si512(panel + (s + 1) * TILE_WORDS + r * 32, _mm512_permutexvar_epi16(i1, table));
        }
    }
}

/* The accumulator of m tile t in step s: with fewer than MTILES m tiles,
 * the spare C tiles take every second (fourth) step, so that consecutive
 * tdpbf16ps do not wait on each other; write_out adds them up. C tile
 * numbers are immediates, hence the cases. */
#define KBIT_AMX_MMA(c, t)                                                                       do {                                                                                             _tile_loadd(A_TILE, a_step + (t) * tile_words, 64);                                          _tile_dpbf16ps(c, W_TILE, A_TILE);                                                       } while (0)

static inline void multiply(const uint32_t *a_step, int64_t tile_words, int count, int64_t s)
{
    switch (count * 4 + (int)(s % (MTILES / count))) {
    case 4: KBIT_AMX_MMA(0, 0); break;           /* one m tile: C0..C3 in turn */
    case 5: KBIT_AMX_MMA(1, 0); break;
    case 6: KBIT_AMX_MMA(2, 0); break;
    case 7: KBIT_AMX_MMA(3, 0); break;
    case 8: KBIT_AMX_MMA(0, 0); KBIT_AMX_MMA(1, 1); break; /* two: C0-1, C2-3 */
    case 9: KBIT_AMX_MMA(2, 0); KBIT_AMX_MMA(3, 1); break;
    case 12: KBIT_AMX_MMA(0, 0); KBIT_AMX_MMA(1, 1); KBIT_AMX_MMA(2, 2); break;
    default: KBIT_AMX_MMA(0, 0); KBIT_AMX_MMA(1, 1); KBIT_AMX_MMA(2, 2); KBIT_AMX_MMA(3, 3);
    }
}
#undef KBIT_AMX_MMA

static void zero_all(void)
{
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
}

static void store_all(float *c)
{
    _tile_stored(0, c, 64);
    _tile_stored(1, c + 256, 64);
    _tile_stored(2, c + 512, 64);
    _tile_stored(3, c + 768, 64);
}

/* out[m][n + r] = T(C[r][m] + bias) for the count m tiles from mt0; m tile
 * t's sum is C tile t plus, with spare tiles, t + count (+ 2 count ...). */
static void write_out(const kbit_op_gemm_4bit *op, const float *c, int64_t n, int rows,
                      int64_t mt0, int count)
{
    int splits = count < 3 ? MTILES / count : 1;
    for (int r = 0; r < rows; r++) {
        float bias = 0.0f;
        if (op->bias != NULL)
            kbit_load_f32(op->bias, op->dtype, n + r, 1, &bias);
        for (int t = 0; t < count; t++)
            for (int i = 0; i < 16; i++) {
                int64_t m = (mt0 + t) * 16 + i;
                if (m >= op->M)
                    break;
                float v = c[t * 256 + r * 16 + i];
                for (int k = 1; k < splits; k++)
                    v = v + c[(t + k * count) * 256 + r * 16 + i];
                if (op->bias != NULL)
                    v = v + bias;
                kbit_store_f32(op->out, op->dtype, m * op->N + n + r, 1, &v);
            }
    }
}

kbit_status kbit_amx_gemm_4bit(const kbit_op_gemm_4bit *op, const kbit_cpu_gemm4_fast_args *f,
                               int thread, int64_t n0, int64_t n1)
{
    const int64_t steps = op->K / 32, mtiles = (op->M + 15) / 16;
    const int64_t tile_words = steps * 256; /* the activation tiles of one m tile */
    const int lg = __builtin_ctz((unsigned)op->blocksize);
    float dec_f[16];
    for (unsigned q = 0; q < 16; q++)
        dec_f[q] = kbit_4bit_decode(op->type, q);
    const __m512 dec = _mm512_loadu_ps(dec_f);
    /* the group's weight, decoded once, read once per MTILES m tiles */
    uint16_t *panel = (uint16_t *)((char *)f->panels + (size_t)thread * f->panel_bytes);
    _Alignas(64) float c[MTILES * 256];
    kbit_status st = KBIT_OK;
    load_config();
    for (int64_t n = n0; n < n1 && st == KBIT_OK; n += 16) {
        int rows = n1 - n < 16 ? (int)(n1 - n) : 16;
        if (!group_absmax_ok(op, lg, n, rows)) {
            st = kbit_ref_gemm_4bit(op, f->a32, n, n + rows);
            continue;
        }
        decode_panel(op, dec, lg, n, rows, steps, panel);
        for (int64_t mt0 = 0; mt0 < mtiles; mt0 += MTILES) {
            int count = mtiles - mt0 < MTILES ? (int)(mtiles - mt0) : MTILES;
            zero_all();
            for (int64_t s = 0; s < steps; s++) {
                _tile_loadd(W_TILE, panel + s * TILE_WORDS, 64);
                multiply(f->avnni + mt0 * tile_words + s * 256, tile_words, count, s);
            }
            store_all(c);
            write_out(op, c, n, rows, mt0, count);
        }
    }
    _tile_release();
    return st;
}
