/*
 * backends/cpu/gemm4/avx512bf16.c - the fast-mode 4-bit matmul forward for
 * bf16 activations (doc/determinism.md 1, doc/numerics.md 5.4) on
 * AVX512_BF16's vdpbf16ps, for CPUs without AMX (AMD Zen 4 and 5, Intel
 * Cooper Lake). Opt-in only, checked against the exact result with the 5.4
 * bound (tests/test_gemm4_fast.c), as amx.c, whose weight panel, magnitude
 * rule and write-out it shares (bf16_panel.h): Wdq rounded once to bf16,
 * products of two bf16 exact in fp32, sums in fp32 in this kernel's order
 * (fixed, whatever the thread count); vdpbf16ps reads denormal inputs as
 * zero and flushes denormal results, which the magnitude rule keeps out.
 *
 * vdpbf16ps adds to each fp32 lane the two products of a pair of bf16. The
 * activation's layout (gemm4.h, AMX's B operand) holds, per m tile and step
 * of 32 k, 16 rows p of 16 words: row p = the pair (k = 32 s + 2p, 2p + 1)
 * of the tile's 16 activation rows m, one register with m in the lanes.
 * So for weight row r, C[r][m] += A-row p . broadcast(W pair p of row r):
 * 16 accumulators (one per weight row of the group, lanes = m), 16 x 16
 * vdpbf16ps per step, each activation row loaded once per step and each
 * weight pair broadcast from the panel (vpbroadcastd or an embedded {1to16}).
 */
#include <immintrin.h>
#include <stdint.h>

#include "bf16_panel.h"

/* acc[r] += the step's products for weight row r (lanes: the m tile's 16
 * activation rows): activation pair-row p times row r's weight pair p. */
static inline __attribute__((always_inline)) void multiply_step(__m512 acc[16],
                                                                const uint32_t *a_step,
                                                                const uint16_t *tile)
{
    const uint32_t *w = (const uint32_t *)tile;
    for (int p = 0; p < 16; p++) {
        __m512bh ap = (__m512bh)_mm512_load_si512(a_step + 16 * p);
        /* unrolled, so that the accumulators stay in registers */
#pragma GCC unroll 16
        for (int r = 0; r < 16; r++)
            acc[r] = _mm512_dpbf16_ps(acc[r], ap, (__m512bh)_mm512_set1_epi32((int)w[16 * r + p]));
    }
}

static inline __attribute__((always_inline)) void store_acc(float *c, const __m512 acc[16])
{
#pragma GCC unroll 16
    for (int r = 0; r < 16; r++)
        _mm512_store_ps(c + 16 * r, acc[r]);
}

/* One m tile (M <= 16): each step pair's weight decoded into two L1 tiles
 * just before its products, instead of the whole group's panel first (a
 * 128 KiB round trip through L2 for K = 4096: on the EPYC of family 1Ah
 * the panel's decode cost as much as the products). */
static void group_one_tile(const kbit_op_gemm_4bit *op, __m512 dec, int lg, int64_t n, int rows,
                           int64_t steps, const uint32_t *a, float *c)
{
    _Alignas(64) uint16_t tile[2][TILE_WORDS];
    for (int r = rows; r < 16; r++) {
        _mm512_store_si512(tile[0] + 32 * r, _mm512_setzero_si512());
        _mm512_store_si512(tile[1] + 32 * r, _mm512_setzero_si512());
    }
    __m512 acc[16];
#pragma GCC unroll 16
    for (int r = 0; r < 16; r++)
        acc[r] = _mm512_setzero_ps();
    for (int64_t s = 0; s < steps; s += 2) {
        int two = s + 1 < steps;
        for (int r = 0; r < rows; r++) {
            int64_t f0 = (n + r) * op->K + 32 * s;
            /* 16 rows are 16 streams: too many for the hardware alone */
            _mm_prefetch((const char *)op->packed + f0 / 2 + 512, _MM_HINT_T0);
            kbit_bf16_decode_pair(op, dec, lg, f0, two, tile[0] + 32 * r, tile[1] + 32 * r);
        }
        multiply_step(acc, a + s * 256, tile[0]);
        if (two)
            multiply_step(acc, a + (s + 1) * 256, tile[1]);
    }
    store_acc(c, acc);
}

kbit_status kbit_avx512bf16_gemm_4bit(const kbit_op_gemm_4bit *op,
                                      const kbit_cpu_gemm4_fast_args *f, int thread, int64_t n0,
                                      int64_t n1)
{
    const int64_t steps = op->K / 32, mtiles = (op->M + 15) / 16;
    const int64_t tile_words = steps * 256; /* the activation tiles of one m tile */
    const int lg = __builtin_ctz((unsigned)op->blocksize);
    const __m512 dec = kbit_bf16_dec(op->type);
    /* more m tiles: the group's weight, decoded once, read once per m tile */
    uint16_t *panel = (uint16_t *)((char *)f->panels + (size_t)thread * f->panel_bytes);
    _Alignas(64) float c[256];
    kbit_status st = KBIT_OK;
    for (int64_t n = n0; n < n1 && st == KBIT_OK; n += 16) {
        int rows = n1 - n < 16 ? (int)(n1 - n) : 16;
        if (!kbit_bf16_group_absmax_ok(op, lg, n, rows)) {
            st = kbit_ref_gemm_4bit(op, f->a32, n, n + rows);
            continue;
        }
        if (mtiles == 1) {
            group_one_tile(op, dec, lg, n, rows, steps, f->avnni, c);
            kbit_bf16_write_out(op, c, n, rows, 0, 1, 1);
            continue;
        }
        kbit_bf16_decode_panel(op, dec, lg, n, rows, steps, panel);
        for (int64_t mt = 0; mt < mtiles; mt++) {
            __m512 acc[16];
#pragma GCC unroll 16
            for (int r = 0; r < 16; r++)
                acc[r] = _mm512_setzero_ps();
            const uint32_t *a = f->avnni + mt * tile_words;
            for (int64_t s = 0; s < steps; s++)
                multiply_step(acc, a + s * 256, panel + s * TILE_WORDS);
            store_acc(c, acc);
            kbit_bf16_write_out(op, c, n, rows, mt, 1, 1);
        }
    }
    return st;
}
