/*
 * backends/cpu/quant4/cells.c - tables for a compare-free-search 4-bit encoder.
 *
 * The SIMD variants map a normalised value x to one of 32 cells with
 * cell(x) = floor(x * scale + offset) (fp32 multiply, fp32 add, floor) and
 * finish with one comparison: rank = rank[cell] + (x > thr[cell]), and
 * code = rank_code[rank], where ranks count the code changes from -1 up
 * (so a threshold always adds one, and the SIMD code maps 64 ranks to codes
 * with one byte shuffle).
 *
 * Why that is exact: cell() is monotone, so for every code boundary b (the
 * code changes between b and the next float up) and every x in cell k,
 * cell(b) < k implies b < x and cell(b) > k implies x <= b. If no two
 * boundaries share a cell, only the boundary inside x's own cell (if any)
 * needs a comparison. The tables are built here from the reference encoders
 * (numerics/encode.h), evaluating cell() with the same fp32 operations the SIMD
 * code uses, and checked; should a check fail, ok = 0 and the kernels keep
 * their binary search.
 *
 * Domain: |x| <= 1 + 2^-22, which every x' = f32(v) * r has when r = 1/absmax
 * is finite (kernels use the search for a block whose r is +inf), plus NaN:
 * the SIMD float->int conversion turns NaN into 0x80000000, whose cell index
 * 0 is arranged to give code 0 (checked).
 */
#include <math.h>
#include <stdlib.h>

#include "quant4.h"
#include "numerics/encode.h"

static int cell_of(float x, float scale, float offset)
{
    return (int)floorf(x * scale + offset);
}

static float next_up(float x)
{
    return nextafterf(x, INFINITY);
}

static int by_value(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

void kbit_enc4_cells_init(kbit_enc4_cells *c, kbit_quant_type type)
{
    unsigned (*encode)(float) = type == KBIT_NF4 ? kbit_nf4_encode : kbit_fp4_encode;
    float bound[16];
    int nbound = 0;
    if (type == KBIT_NF4) {
        /* NF4 needs no sign boundary, so an offset keeps -1 in cell 0 (code 0, as NaN). */
        c->scale = 15.5f;
        c->offset = 16.0f;
        for (int i = 0; i < 15; i++)
            bound[nbound++] = kbit_nf4_threshold.f[i];
    } else {
        /* FP4 changes code between -denorm_min (8) and -0.0 (0): without an
         * offset that is exactly the edge between cells -1 and 0. */
        c->scale = 15.99f;
        c->offset = 0.0f;
        for (int i = 0; i < 7; i++) {
            float t = kbit_fp4_threshold.f[i];
            bound[nbound++] = t;                            /* x > t: larger magnitude */
            bound[nbound++] = nextafterf(-t, -INFINITY);    /* x > that <=> x >= -t */
        }
        bound[nbound++] = -kbit_f32_from_bits(1u);          /* x > -denorm_min: no sign */
    }
    qsort(bound, (size_t)nbound, sizeof *bound, by_value);

    const float limit = 1.0f + 0x1p-22f;
    int lo = cell_of(-limit, c->scale, c->offset), hi = cell_of(limit, c->scale, c->offset);
    c->ok = hi - lo < 32;
    unsigned code = encode(-limit); /* code of the region left of the first boundary */
    int rank = 0, next = 0;
    c->rank_code[0] = (uint8_t)code;
    for (int k = lo; k <= hi && c->ok; k++) {
        int idx = k & 31, inside = 0;
        c->thr[idx] = NAN; /* no boundary: the comparison is false */
        c->rank[idx] = rank;
        for (; next < nbound && cell_of(bound[next], c->scale, c->offset) == k; next++) {
            float b = bound[next];
            if (encode(b) != code || rank == 15)
                c->ok = 0;
            code = encode(next_up(b));
            c->rank_code[++rank & 15] = (uint8_t)code;
            if (cell_of(next_up(b), c->scale, c->offset) != k)
                continue; /* b is the cell's last float: the code changes with the cell */
            if (inside++ > 0)
                c->ok = 0; /* two boundaries inside one cell */
            c->thr[idx] = b;
        }
    }
    /* Every boundary was placed, each rank is a different code, the last
     * region is the code of +limit, and NaN (cell index 0, compares false)
     * gives code 0. */
    unsigned seen = 0;
    for (int r = 0; r < 16; r++)
        seen |= 1u << c->rank_code[r];
    if (next != nbound || rank != 15 || seen != 0xffffu || code != encode(limit) ||
        c->rank_code[c->rank[0]] != 0)
        c->ok = 0;
}
