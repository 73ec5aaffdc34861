/* tests/test_quant4_cells.c - the cell tables of the SIMD 4-bit encoders
 * (backends/cpu/quant4/cells.c): the grids the kernels rely on are built
 * (ok; a grid that fails leaves the kernels on their slower binary search,
 * which no bit-exactness test would notice), and the tables give the
 * reference's code (numerics/encode.h) for every boundary of the domain,
 * the floats on either side of it, a sweep of the domain, and NaN. */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "backends/cpu/quant4/quant4.h"
#include "numerics/encode.h"
#include "tap.h"

static const float limit = 1.0f + 0x1p-22f;

/* the cell index the kernels compute: one fused multiply-add, then floor
 * (NaN converts to 0x80000000, whose low bits are 0) */
static int32_t cell_of(float x, float scale, float offset)
{
    float y = fmaf(x, scale, offset);
    return isnan(y) ? INT32_MIN : (int32_t)floorf(y);
}

static unsigned code32(const kbit_enc4_cells *c, float x)
{
    int k = (int)((uint32_t)cell_of(x, c->scale, c->offset) & 31u);
    return c->rank_code[(c->rank[k] + (c->thr[k] < x ? 1 : 0)) & 15];
}

static unsigned code8(const kbit_enc4_cells8 *c, float x)
{
    int k = (int)((uint32_t)cell_of(x, c->scale, c->offset) & 7u);
    int r = c->rank[k];
    for (int j = 0; j < 3; j++)
        r += c->thr[j][k] < x ? 1 : 0;
    return c->rank_code[r & 15];
}

/* Values to try: every threshold of the type and its neighbours (a few
 * floats each way, both signs), the domain's ends, zeros, the smallest
 * denormals, and a sweep of 2^20 + 1 points; each code against the
 * reference. Returns the number of mismatches (the first is described). */
static long check_codes(kbit_quant_type type, const void *cells, int eight)
{
    long bad = 0;
    float tries[64 + 2 * 15 * 9];
    int n = 0;
    const kbit_f32_table16 *t = type == KBIT_NF4 ? &kbit_nf4_threshold : &kbit_fp4_threshold;
    int nt = type == KBIT_NF4 ? 15 : 7;
    for (int i = 0; i < nt; i++)
        for (int s = -1; s <= 1; s += 2) {
            float b = s * t->f[i];
            tries[n++] = b;
            float up = b, down = b;
            for (int j = 0; j < 4; j++) {
                up = nextafterf(up, INFINITY);
                down = nextafterf(down, -INFINITY);
                tries[n++] = up;
                tries[n++] = down;
            }
        }
    const float ends[] = { limit, -limit, 1.0f, -1.0f, 0.0f, -0.0f, 0x1p-149f, -0x1p-149f, NAN };
    for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++)
        tries[n++] = ends[i];
    for (long i = -n; i <= (1L << 20); i++) {
        float x = i < 0 ? tries[-i - 1] : -limit + 2.0f * limit * (float)i / (float)(1L << 20);
        unsigned want = kbit_4bit_encode(type, x);
        unsigned got = eight ? code8(cells, x) : code32(cells, x);
        if (got != want && bad++ == 0)
            tap_diag("x = %a: code %u, reference %u", (double)x, got, want);
    }
    return bad;
}

int main(void)
{
    kbit_enc4_cells c;
    kbit_enc4_cells8 c8;
    const kbit_quant_type types[2] = { KBIT_NF4, KBIT_FP4 };
    const char *names[2] = { "NF4", "FP4" };
    for (int i = 0; i < 2; i++) {
        kbit_enc4_cells_init(&c, types[i]);
        tap_ok(c.ok, "%s: the 32-cell grid (AVX-512) is built", names[i]);
        if (c.ok) {
            long bad = check_codes(types[i], &c, 0);
            tap_ok(bad == 0, "%s: 32-cell codes equal the reference at every threshold, its neighbours, the ends and a sweep (%ld differ)", names[i], bad);
        } else {
            tap_skip("32-cell codes", "the grid was not built");
        }
    }
    kbit_enc4_cells8_init(&c8, KBIT_NF4);
    tap_ok(c8.ok, "NF4: the 8-cell grid (AVX2) is built");
    if (c8.ok) {
        long bad = check_codes(KBIT_NF4, &c8, 1);
        tap_ok(bad == 0, "NF4: 8-cell codes equal the reference (%ld differ)", bad);
    } else {
        tap_skip("8-cell codes", "the grid was not built");
    }
    kbit_enc4_cells8_init(&c8, KBIT_FP4);
    tap_ok(!c8.ok, "FP4: the 8-cell grid is refused, as cells.c documents (AVX2 searches)");
    return tap_done();
}
