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

#include "bf16_panel.h"

/* Tiles: C (accumulators) for up to MTILES activation tiles in tmm0..3,
 * the weight in tmm4, the activation in tmm5. */
#define MTILES 4
#define W_TILE 4
#define A_TILE 5

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

/* The accumulator of m tile t in step s: with fewer than MTILES m tiles,
 * the spare C tiles take every second (fourth) step, so that consecutive
 * tdpbf16ps do not wait on each other; kbit_bf16_write_out adds them up. C tile
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

kbit_status kbit_amx_gemm_4bit(const kbit_op_gemm_4bit *op, const kbit_cpu_gemm4_fast_args *f,
                               int thread, int64_t n0, int64_t n1)
{
    const int64_t steps = op->K / 32, mtiles = (op->M + 15) / 16;
    const int64_t tile_words = steps * 256; /* the activation tiles of one m tile */
    const int lg = __builtin_ctz((unsigned)op->blocksize);
    const __m512 dec = kbit_bf16_dec(op->type);
    /* the group's weight, decoded once, read once per MTILES m tiles */
    uint16_t *panel = (uint16_t *)((char *)f->panels + (size_t)thread * f->panel_bytes);
    _Alignas(64) float c[MTILES * 256];
    kbit_status st = KBIT_OK;
    load_config();
    for (int64_t n = n0; n < n1 && st == KBIT_OK; n += 16) {
        int rows = n1 - n < 16 ? (int)(n1 - n) : 16;
        if (!kbit_bf16_group_absmax_ok(op, lg, n, rows)) {
            st = kbit_ref_gemm_4bit(op, f->a32, n, n + rows);
            continue;
        }
        kbit_bf16_decode_panel(op, dec, lg, n, rows, steps, panel);
        for (int64_t mt0 = 0; mt0 < mtiles; mt0 += MTILES) {
            int count = mtiles - mt0 < MTILES ? (int)(mtiles - mt0) : MTILES;
            zero_all();
            for (int64_t s = 0; s < steps; s++) {
                _tile_loadd(W_TILE, panel + s * TILE_WORDS, 64);
                multiply(f->avnni + mt0 * tile_words + s * 256, tile_words, count, s);
            }
            store_all(c);
            kbit_bf16_write_out(op, c, n, rows, mt0, count, count < 3 ? MTILES / count : 1);
        }
    }
    _tile_release();
    return st;
}
