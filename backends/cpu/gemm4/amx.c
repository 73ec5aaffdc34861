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
 * activation outside it, and a 16-row group with an absmax outside it takes
 * the exact kernel here.
 *
 * AMX computes C[16 x 16] += A[16 x 32] . B[32 x 16] with B in pairs
 * ("VNNI": B row p holds column j's elements 2p and 2p+1 side by side). The
 * weight is the A operand: 16 weight rows x 32 consecutive k, decoded
 * straight from the packed bytes (a row's 32 k are one absmax block, as K %
 * 32 == 0 and blocksize >= 32). The activation, packed once per call by
 * ops.c (gemm4.h), is the B operand, so C[n][m] is out[m][n] transposed.
 */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "numerics/encode.h"
#include "gemm4.h"

/* Tiles: C (accumulators) for up to MTILES activation tiles in tmm0..3,
 * the weight in tmm4, the activation in tmm5. */
#define MTILES 4
#define W_TILE 4
#define A_TILE 5
#define TILE_BYTES 1024 /* 16 rows of 64 bytes */

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

/* Decode weight rows [n, n + rows) (rows <= 16; the others are +0.0), k
 * step s (k = 32 s .. 32 s + 31) into a tile: row r = 32 bf16 of
 * bf16(DEC[q] * absmax) in k order. 0 if an absmax breaks the magnitude
 * rule (the group then runs exact). */
static int decode_tile(const kbit_op_gemm_4bit *op, __m512 dec, int lg, int64_t n, int rows,
                       int64_t s, uint16_t *tile)
{
    /* bf16 element i of the 32: even k from lanes 0-15, odd from 16-31 */
    const __m512i interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10,
                                                25, 9, 24, 8, 23, 7, 22, 6, 21, 5, 20, 4, 19, 3,
                                                18, 2, 17, 1, 16, 0);
    for (int r = 0; r < 16; r++) {
        __m512i *dst = (__m512i *)(tile + r * 32);
        if (r >= rows) {
            _mm512_store_si512(dst, _mm512_setzero_si512());
            continue;
        }
        int64_t f = (n + r) * op->K + 32 * s;
        float am = op->absmax[f >> lg];
        if (!kbit_cpu_gemm4_fast_magnitude_ok(am))
            return 0;
        __m512 table = _mm512_mul_ps(dec, _mm512_set1_ps(am));
        __m512i q = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(op->packed + f / 2)));
        /* even k: the high nibble; vpermps reads the low 4 bits */
        __m512 even = _mm512_permutexvar_ps(_mm512_srli_epi32(q, 4), table);
        __m512 odd = _mm512_permutexvar_ps(q, table);
        __m512i both = (__m512i)_mm512_cvtne2ps_pbh(odd, even); /* RNE, once */
        _mm512_store_si512(dst, _mm512_permutexvar_epi16(interleave, both));
    }
    return 1;
}

/* C[t] += W . A(m tile mt0 + t, step s) for t < count (tile numbers are
 * immediates, hence one line per tile). */
static inline void multiply(const uint32_t *a_step, int64_t tile_words, int count)
{
#define KBIT_AMX_STEP(t)                                                                     \
    if (count > t) {                                                                         \
        _tile_loadd(A_TILE, a_step + (t) * tile_words, 64);                                  \
        _tile_dpbf16ps(t, W_TILE, A_TILE);                                                   \
    }
    KBIT_AMX_STEP(0)
    KBIT_AMX_STEP(1)
    KBIT_AMX_STEP(2)
    KBIT_AMX_STEP(3)
#undef KBIT_AMX_STEP
}

static inline void zero_and_store(int count, float *c, int store)
{
#define KBIT_AMX_C(t)                                                                        \
    if (count > t) {                                                                         \
        if (store)                                                                           \
            _tile_stored(t, c + (t) * 256, 64);                                              \
        else                                                                                 \
            _tile_zero(t);                                                                   \
    }
    KBIT_AMX_C(0)
    KBIT_AMX_C(1)
    KBIT_AMX_C(2)
    KBIT_AMX_C(3)
#undef KBIT_AMX_C
}

/* out[m][n + r] = T(C[r][m] + bias) for the count tiles from mt0. */
static void write_out(const kbit_op_gemm_4bit *op, const float *c, int64_t n, int rows,
                      int64_t mt0, int count)
{
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
                if (op->bias != NULL)
                    v = v + bias;
                kbit_store_f32(op->out, op->dtype, m * op->N + n + r, 1, &v);
            }
    }
}

kbit_status kbit_amx_gemm_4bit(const kbit_op_gemm_4bit *op, const kbit_cpu_gemm4_fast_args *f,
                               int64_t n0, int64_t n1)
{
    const int64_t steps = op->K / 32, mtiles = (op->M + 15) / 16;
    const int64_t tile_words = steps * 256; /* one activation tile row-major, per m tile */
    const int lg = __builtin_ctz((unsigned)op->blocksize);
    float dec_f[16];
    for (unsigned q = 0; q < 16; q++)
        dec_f[q] = kbit_4bit_decode(op->type, q);
    const __m512 dec = _mm512_loadu_ps(dec_f);
    /* More than MTILES activation tiles: the group's weight is decoded once
     * into a panel of all its steps and read once per MTILES tiles. */
    uint16_t *panel = NULL;
    _Alignas(64) uint16_t one_tile[TILE_BYTES / 2];
    if (mtiles > MTILES) {
        panel = aligned_alloc(64, (size_t)steps * TILE_BYTES);
        if (panel == NULL)
            return KBIT_ENOMEM;
    }
    _Alignas(64) float c[MTILES * 256];
    kbit_status st = KBIT_OK;
    load_config();
    for (int64_t n = n0; n < n1 && st == KBIT_OK; n += 16) {
        int rows = n1 - n < 16 ? (int)(n1 - n) : 16;
        int ok = 1;
        if (panel != NULL) {
            for (int64_t s = 0; s < steps && ok; s++)
                ok = decode_tile(op, dec, lg, n, rows, s, panel + s * (TILE_BYTES / 2));
            for (int64_t mt0 = 0; mt0 < mtiles && ok; mt0 += MTILES) {
                int count = mtiles - mt0 < MTILES ? (int)(mtiles - mt0) : MTILES;
                zero_and_store(count, c, 0);
                for (int64_t s = 0; s < steps; s++) {
                    _tile_loadd(W_TILE, panel + s * (TILE_BYTES / 2), 64);
                    multiply(f->avnni + mt0 * tile_words + s * 256, tile_words, count);
                }
                zero_and_store(count, c, 1);
                write_out(op, c, n, rows, mt0, count);
            }
        } else {
            int count = (int)mtiles;
            zero_and_store(count, c, 0);
            for (int64_t s = 0; s < steps && ok; s++) {
                ok = decode_tile(op, dec, lg, n, rows, s, one_tile);
                if (!ok)
                    break;
                _tile_loadd(W_TILE, one_tile, 64);
                multiply(f->avnni + s * 256, tile_words, count);
            }
            if (ok) {
                zero_and_store(count, c, 1);
                write_out(op, c, n, rows, 0, count);
            }
        }
        if (!ok) /* an absmax outside the magnitude rule: this group exact */
            st = f->exact->forward(op, f->a32, f->at, n, n + rows);
    }
    _tile_release();
    free(panel);
    return st;
}
