/*
 * backends/cpu/quant4/cells.c - tables for a compare-free-search 4-bit encoder.
 *
 * The AVX-512 variant maps a normalised value x to one of 32 cells with
 * cell(x) = floor(fma(x, scale, offset)) (one fp32 fused multiply-add, floor) and
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
 * AVX2 has 8-entry permutes: kbit_enc4_cells8_init builds 8 cells of up to
 * 3 thresholds each, rank = rank[cell] + the count of the cell's thresholds
 * below x (the same argument, for each boundary inside a cell). NF4 fits;
 * FP4's grid is not ok (NaN's cell 0 would start at code 11, not 0, and one
 * cell holds 4 boundaries), so FP4 keeps the search there.
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

/* One rounding, as the kernels' vfmadd: an explicit fma, not a contraction. */
static int cell_of(float x, float scale, float offset)
{
    return (int)floorf(fmaf(x, scale, offset));
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

/* The code boundaries of type, ascending: the code changes between b and
 * the next float up. Returns their count. */
static int boundaries(kbit_quant_type type, float bound[16])
{
    int nbound = 0;
    if (type == KBIT_NF4) {
        for (int i = 0; i < 15; i++)
            bound[nbound++] = kbit_nf4_threshold.f[i];
    } else {
        for (int i = 0; i < 7; i++) {
            float t = kbit_fp4_threshold.f[i];
            bound[nbound++] = t;                            /* x > t: larger magnitude */
            bound[nbound++] = nextafterf(-t, -INFINITY);    /* x > that <=> x >= -t */
        }
        bound[nbound++] = -kbit_f32_from_bits(1u);          /* x > -denorm_min: no sign */
    }
    qsort(bound, (size_t)nbound, sizeof *bound, by_value);
    return nbound;
}

/* Fill a grid of ncells cells (a power of two; cell k at index k & (ncells - 1))
 * with up to nthr thresholds each: thr[j * ncells + idx] ascending in j, NaN
 * past the cell's own (the comparison is false), rank[idx] the rank at the
 * cell's start. Returns 1 when the grid is exact (see the top). */
static int build_grid(kbit_quant_type type, float scale, float offset, int ncells, int nthr,
                      float *thr, int32_t *rank_at, uint8_t rank_code[16])
{
    unsigned (*encode)(float) = type == KBIT_NF4 ? kbit_nf4_encode : kbit_fp4_encode;
    float bound[16];
    int nbound = boundaries(type, bound);
    const float limit = 1.0f + 0x1p-22f;
    int lo = cell_of(-limit, scale, offset), hi = cell_of(limit, scale, offset);
    int ok = hi - lo < ncells;
    for (int r = 0; r < 16; r++)
        rank_code[r] = 0; /* a grid that fails early leaves ranks unset */
    for (int i = 0; i < ncells; i++) {
        rank_at[i] = 0;
        for (int j = 0; j < nthr; j++)
            thr[j * ncells + i] = NAN;
    }
    unsigned code = encode(-limit); /* code of the region left of the first boundary */
    int rank = 0, next = 0;
    rank_code[0] = (uint8_t)code;
    for (int k = lo; k <= hi && ok; k++) {
        int idx = k & (ncells - 1), inside = 0;
        rank_at[idx] = rank;
        for (; next < nbound && cell_of(bound[next], scale, offset) == k; next++) {
            float b = bound[next];
            if (encode(b) != code || rank == 15)
                ok = 0;
            code = encode(next_up(b));
            rank_code[++rank & 15] = (uint8_t)code;
            if (cell_of(next_up(b), scale, offset) != k)
                continue; /* b is the cell's last float: the code changes with the cell */
            if (inside == nthr) {
                ok = 0; /* more boundaries inside one cell than thresholds */
                break;
            }
            thr[inside++ * ncells + idx] = b;
        }
    }
    /* Every boundary was placed, each rank is a different code, the last
     * region is the code of +limit, and NaN (cell index 0, compares false)
     * gives code 0. */
    unsigned seen = 0;
    for (int r = 0; r < 16; r++)
        seen |= 1u << rank_code[r];
    return ok && next == nbound && rank == 15 && seen == 0xffffu && code == encode(limit) &&
           rank_code[rank_at[0]] == 0;
}

void kbit_enc4_cells_init(kbit_enc4_cells *c, kbit_quant_type type)
{
    if (type == KBIT_NF4) {
        /* NF4 needs no sign boundary, so an offset keeps -1 in cell 0 (code 0, as NaN). */
        c->scale = 15.5f;
        c->offset = 16.0f;
    } else {
        /* FP4 changes code between -denorm_min (8) and -0.0 (0): without an
         * offset that is exactly the edge between cells -1 and 0. */
        c->scale = 15.99f;
        c->offset = 0.0f;
    }
    c->ok = build_grid(type, c->scale, c->offset, 32, 1, c->thr, c->rank, c->rank_code);
}

void kbit_enc4_cells8_init(kbit_enc4_cells8 *c, kbit_quant_type type)
{
    /* x * scale + offset >= 0.0099 on the domain: truncation is the floor */
    c->scale = 3.99f;
    c->offset = 4.0f;
    c->ok = build_grid(type, c->scale, c->offset, 8, 3, &c->thr[0][0], c->rank, c->rank_code);
}
