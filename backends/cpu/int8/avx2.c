/*
 * backends/cpu/int8/avx2.c - LLM.int8() kernels of the avx2 variant.
 *
 * Same operations per element as the reference (ref/int8.c), 8 lanes at a
 * time; AVX2 has no masked 16-bit loads or byte stores, so the last
 * (count mod 8) elements of a row go through the reference's element rules
 * (numerics/int8.h). The GEMM multiplies sign-extended 16-bit values with
 * vpmaddwd, which is exact (vpmaddubsw would saturate); int32 sums modulo
 * 2^32 give the reference's bits in any order.
 */
#include <stdlib.h>
#include <string.h>

#include "numerics/dot32.h"
#include "numerics/encode.h"
#include "numerics/int8.h"
#include "int8.h"
#include "../x86/avx2_io.h"

KBIT_INLINE __m256 k256_through_f16(__m256 v)
{
    return _mm256_cvtph_ps(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

KBIT_INLINE __m256 k256_round_to(__m256 v, kbit_dtype dtype)
{
    if (dtype == KBIT_F16)
        return k256_through_f16(v);
    if (dtype == KBIT_BF16)
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(k256_to_bf16(v)), 16));
    return v;
}

KBIT_INLINE __m256 load_act(const void *A, kbit_dtype dtype, int64_t i)
{
    __m256 v = k256_load(A, dtype, i);
    return dtype == KBIT_F16 ? v : k256_through_f16(v);
}

/* ---- row-wise quantization ---- */

static void quant_rows(const kbit_op_int8_quant *op, kbit_dtype dtype, int64_t r0, int64_t r1,
                       uint8_t *colmask)
{
    const int use = op->use_threshold;
    const float thr_s = op->threshold_f16;
    const __m256 thr = _mm256_set1_ps(thr_s);
    const int64_t cols = op->cols, full = cols / 8 * 8;
    for (int64_t r = r0; r < r1; r++) {
        int64_t base = r * cols;
        __m256 mx = _mm256_setzero_ps();
        for (int64_t c = 0; c < full; c += 8) {
            __m256 a = k256_abs(load_act(op->A, dtype, base + c));
            __m256 elig = use ? _mm256_cmp_ps(a, thr, _CMP_LT_OQ) : _mm256_cmp_ps(a, a, _CMP_ORD_Q);
            mx = _mm256_max_ps(mx, _mm256_and_ps(a, elig)); /* ineligible lanes count as +0 */
            if (use) {
                int out = _mm256_movemask_ps(_mm256_cmp_ps(a, thr, _CMP_GE_OQ));
                for (int l = 0; out; l++, out >>= 1)
                    if (out & 1)
                        colmask[c + l] = 1;
            }
        }
        float absmax = k256_reduce_max(mx);
        for (int64_t c = full; c < cols; c++) {
            float a = kbit_through_f16(kbit_dtype_load(dtype, op->A, base + c));
            if (kbit_int8_eligible(a, use, thr_s))
                absmax = kbit_absmax_step(absmax, a);
            else if (kbit_int8_is_outlier(a, use, thr_s))
                colmask[c] = 1;
        }
        op->SCA[r] = absmax;
        const float s_s = kbit_int8_row_scale(absmax);
        const __m256 s = _mm256_set1_ps(s_s);
        const __m256 big = _mm256_set1_ps(3.40282347e38f);
        for (int64_t c = 0; c < full; c += 8) {
            __m256 a = load_act(op->A, dtype, base + c);
            __m256 p = _mm256_mul_ps(a, s);
            __m256 keep = _mm256_cmp_ps(k256_abs(p), big, _CMP_LE_OQ);
            if (use)
                keep = _mm256_and_ps(keep, _mm256_cmp_ps(k256_abs(a), thr, _CMP_LT_OQ));
            if (absmax == 0.0f)
                keep = _mm256_setzero_ps();
            __m256i q = _mm256_and_si256(_mm256_cvtps_epi32(p), _mm256_castps_si256(keep));
            __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
            _mm_storel_epi64((__m128i *)(op->CA + base + c), _mm_packs_epi16(w, w));
        }
        for (int64_t c = full; c < cols; c++) {
            float a = kbit_through_f16(kbit_dtype_load(dtype, op->A, base + c));
            op->CA[base + c] = kbit_int8_quant_elem(a, absmax, s_s, use, thr_s);
        }
    }
}

void kbit_avx2_int8_quant_rows(const kbit_op_int8_quant *op, int64_t r0, int64_t r1,
                               uint8_t *colmask)
{
#define Q(DT) quant_rows(op, DT, r0, r1, colmask)
    KBIT_DTYPE_SWITCH(op->dtype, Q);
#undef Q
}

/* ---- int8_mm_dequant ---- */

static void mm_dequant(const kbit_op_int8_mm_dequant *op, kbit_dtype out_dtype, int64_t r0,
                       int64_t r1)
{
    const int kind = op->bias == NULL ? 0 : op->bias_dtype == KBIT_F16 ? 1 : 2;
    const __m256 C = _mm256_set1_ps(kbit_f32_from_bits(KBIT_INT8_MM_DEQUANT_BITS));
    const int64_t N = op->N, full = N / 8 * 8;
    for (int64_t r = r0; r < r1; r++) {
        const __m256 sa = _mm256_set1_ps(op->SCA[r]);
        for (int64_t j = 0; j < full; j += 8) {
            __m256 acc = _mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)(op->acc + r * N + j)));
            __m256 t = _mm256_mul_ps(_mm256_mul_ps(acc, sa), _mm256_loadu_ps(op->SCB + j));
            __m256 b = kind ? k256_load(op->bias, op->bias_dtype, j) : _mm256_setzero_ps();
            __m256 o = k256_through_f16(_mm256_fmadd_ps(t, C, kind == 1 ? b : _mm256_setzero_ps()));
            if (kind == 2)
                o = k256_through_f16(_mm256_add_ps(o, b));
            k256_store(op->out, out_dtype, r * N + j, o);
        }
        for (int64_t j = full; j < N; j++) {
            float b = kind ? kbit_dtype_load(op->bias_dtype, op->bias, j) : 0.0f;
            kbit_dtype_store(out_dtype, op->out, r * N + j,
                            kbit_int8_mm_dequant_elem(op->acc[r * N + j], op->SCA[r], op->SCB[j],
                                                      kind, b));
        }
    }
}

void kbit_avx2_int8_mm_dequant(const kbit_op_int8_mm_dequant *op, int64_t r0, int64_t r1)
{
#define D(DT) mm_dequant(op, DT, r0, r1)
    KBIT_DTYPE_SWITCH(op->out_dtype, D);
#undef D
}

/* ---- weight dequantization ---- */

KBIT_INLINE __m256 weight8(const int8_t *cb, __m256 scb)
{
    __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)cb)));
    return _mm256_mul_ps(_mm256_mul_ps(q, scb),
                         _mm256_set1_ps(kbit_f32_from_bits(KBIT_INT8_INV127_BITS)));
}

static void dequant_weight(const kbit_op_int8_dequant_weight *op, kbit_dtype dt, int64_t r0,
                           int64_t r1)
{
    const int64_t cols = op->cols, full = cols / 8 * 8;
    for (int64_t r = r0; r < r1; r++) {
        const int8_t *cb = op->CB + r * cols;
        const __m256 scb = _mm256_set1_ps(op->SCB[r]);
        for (int64_t c = 0; c < full; c += 8)
            k256_store(op->out, dt, r * cols + c, weight8(cb + c, scb));
        for (int64_t c = full; c < cols; c++)
            kbit_dtype_store(dt, op->out, r * cols + c, kbit_int8_weight_of(cb[c], op->SCB[r]));
    }
}

void kbit_avx2_int8_dequant_weight(const kbit_op_int8_dequant_weight *op, int64_t r0, int64_t r1)
{
#define D(DT) dequant_weight(op, DT, r0, r1)
    KBIT_DTYPE_SWITCH(op->out_dtype, D);
#undef D
}

/* ---- dot32 on 8 outputs at once ---- */

/* r = dot32 over i < n of a[i] * w[i*8 + lane] (determinism 3): element i
 * feeds dot32 lane (i / 8) mod 32 in ascending i. Only the lanes that get a
 * chunk are kept, the padding elements are not run, and the fold leaves out
 * the unused lanes; adding +0.0 to the result when
 * kbit_dot32_needs_plus_zero(n) then gives the rule's bits exactly
 * (numerics/dot32.h says why: the shortcut differs only in the sign of a
 * zero, which that addition settles). */
KBIT_INLINE __m256 dot32_8(const float *a, const float *w, int64_t n)
{
    __m256 s[32];
    const int lanes = kbit_dot32_lanes_used(n);
    for (int l = 0; l < lanes; l++)
        s[l] = _mm256_setzero_ps();
    for (int64_t c = 0; c * 8 < n; c++) {
        __m256 acc = s[c & 31];
        int64_t end = n - c * 8 < 8 ? n : c * 8 + 8;
        for (int64_t i = c * 8; i < end; i++)
            acc = _mm256_fmadd_ps(_mm256_load_ps(w + i * 8), _mm256_set1_ps(a[i]), acc);
        s[c & 31] = acc;
    }
    for (int h = 16; h > 0; h >>= 1)
        for (int l = 0; l < h && l + h < lanes; l++)
            s[l] = _mm256_add_ps(s[l], s[l + h]);
    __m256 r = lanes ? s[0] : _mm256_setzero_ps();
    return kbit_dot32_needs_plus_zero(n) ? _mm256_add_ps(r, _mm256_setzero_ps()) : r;
}

/* Whole groups of 8 outputs [j0, j0 + 8 * groups); the caller does the rest
 * with the reference. Columns go in chunks whose weights fit in about
 * 512 KiB, rows outermost within a chunk, so each output row segment is read
 * and written once, in order. */
static void outlier_add(const kbit_op_int8_outlier_add *op, kbit_dtype dt, int64_t j0,
                        int64_t groups)
{
    const int8_t *cb_cols = kbit_outlier_cb_cols(op);
    const int64_t n = *op->n_outliers, M = op->M, K = op->K, N = op->N;
    int64_t chunk = ((int64_t)512 << 10) / (n * 8 * (int64_t)sizeof(float)) * 8;
    if (chunk < 8)
        chunk = 8;
    if (chunk > 8 * groups)
        chunk = 8 * groups;
    float *a = malloc((size_t)(M * n) * sizeof(float) + 32);
    float *w = aligned_alloc(32, (size_t)(chunk * n) * sizeof(float) + 32);
    if (a == NULL || w == NULL) {
        free(a), free(w);
        kbit_ref_int8_outlier_add(op, j0, j0 + 8 * groups);
        return;
    }
    for (int64_t m = 0; m < M; m++)
        for (int64_t i = 0; i < n; i++)
            a[m * n + i] = kbit_dtype_load(dt, op->X, m * K + op->outlier_cols[i]);
    const int64_t j1 = j0 + 8 * groups;
    for (int64_t c0 = j0; c0 < j1; c0 += chunk) {
        int64_t c1 = j1 - c0 < chunk ? j1 : c0 + chunk;
        for (int64_t j = c0; j < c1; j += 8) {
            float *wj = w + (j - c0) * n;
            const __m256 scb = _mm256_loadu_ps(op->SCB + j);
            for (int64_t i = 0; i < n; i++) {
                int8_t col[8];
                for (int l = 0; l < 8; l++)
                    col[l] = cb_cols ? cb_cols[(j + l) * n + i]
                                         : op->CB[(j + l) * K + op->outlier_cols[i]];
                _mm256_store_ps(wj + i * 8, k256_round_to(weight8(col, scb), dt));
            }
        }
        for (int64_t m = 0; m < M; m++)
            for (int64_t j = c0; j < c1; j += 8) {
                __m256 y = k256_load(op->out, dt, m * N + j);
                __m256 d = dot32_8(a + m * n, w + (j - c0) * n, n);
                k256_store(op->out, dt, m * N + j, _mm256_add_ps(y, d)); /* kbit_int8_outlier_out */
            }
    }
    free(a), free(w);
}

void kbit_avx2_int8_outlier_add(const kbit_op_int8_outlier_add *op, int64_t j0, int64_t j1)
{
    int64_t groups = (j1 - j0) / 8;
#define D(DT) outlier_add(op, DT, j0, groups)
    KBIT_DTYPE_SWITCH(op->dtype, D);
#undef D
    if (j0 + 8 * groups < j1)
        kbit_ref_int8_outlier_add(op, j0 + 8 * groups, j1);
}

/* ---- backward ---- */

static void backward(const kbit_op_int8_backward *op, kbit_dtype dt, int64_t k0, int64_t groups)
{
    const int64_t M = op->M, N = op->N, K = op->K;
    float *w = aligned_alloc(32, (size_t)N * 8 * sizeof(float) + 32);
    float *a = malloc((size_t)N * sizeof(float) + 32);
    if (w == NULL || a == NULL) {
        free(w), free(a);
        kbit_ref_int8_backward(op, k0, k0 + 8 * groups);
        return;
    }
    for (int64_t k = k0; k < k0 + 8 * groups; k += 8) {
        for (int64_t n = 0; n < N; n++)
            _mm256_store_ps(w + n * 8, k256_round_to(weight8(op->CB + n * K + k,
                                                             _mm256_set1_ps(op->SCB[n])), dt));
        for (int64_t m = 0; m < M; m++) {
            for (int64_t n = 0; n < N; n++)
                a[n] = kbit_dtype_load(dt, op->dOut, m * N + n);
            k256_store(op->dX, dt, m * K + k, dot32_8(a, w, N));
        }
    }
    free(w), free(a);
}

void kbit_avx2_int8_backward(const kbit_op_int8_backward *op, int64_t k0, int64_t k1)
{
    int64_t groups = (k1 - k0) / 8;
#define D(DT) backward(op, DT, k0, groups)
    KBIT_DTYPE_SWITCH(op->dtype, D);
#undef D
    if (k0 + 8 * groups < k1)
        kbit_ref_int8_backward(op, k0 + 8 * groups, k1);
}

/* ---- int8 GEMM, vpmaddwd ---- */

KBIT_INLINE uint32_t hsum8(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return (uint32_t)_mm_cvtsi128_si32(s);
}

/* R x 4 tile (R = 1 or 2 after inlining), sums modulo 2^32; the last
 * K mod 16 products are added one by one. */
KBIT_INLINE void tile(int R, const int8_t *const a[2], const int8_t *const b[4], int64_t K,
                      uint32_t out[8])
{
    __m256i acc[8];
    for (int i = 0; i < 8; i++)
        acc[i] = _mm256_setzero_si256();
    const int64_t full = K / 16 * 16;
    for (int64_t k = 0; k < full; k += 16) {
        __m256i va[2], vb[4];
        for (int i = 0; i < R; i++)
            va[i] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(a[i] + k)));
        for (int j = 0; j < 4; j++)
            vb[j] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b[j] + k)));
        for (int i = 0; i < R; i++)
            for (int j = 0; j < 4; j++)
                acc[i * 4 + j] = _mm256_add_epi32(acc[i * 4 + j], _mm256_madd_epi16(va[i], vb[j]));
    }
    for (int i = 0; i < R; i++)
        for (int j = 0; j < 4; j++) {
            uint32_t s = hsum8(acc[i * 4 + j]);
            for (int64_t k = full; k < K; k++)
                s += (uint32_t)((int32_t)a[i][k] * (int32_t)b[j][k]);
            out[i * 4 + j] = s;
        }
}

void kbit_avx2_int8_matmul(const kbit_op_int8_matmul *op, int64_t n0, int64_t n1)
{
    const int64_t M = op->M, N = op->N, K = op->K;
    /* blocks of 64 rows of B (L2) against every 2-row tile of A (L1) */
    for (int64_t nb = n0; nb < n1; nb += 64) {
        int64_t ne = n1 - nb < 64 ? n1 : nb + 64;
        for (int64_t m = 0; m < M; m += 2)
            for (int64_t n = nb; n < ne; n += 4) {
                /* B rows past the block repeat the last one; their results are dropped */
                const int8_t *a[2], *b[4];
                a[0] = op->A + m * K;
                a[1] = op->A + (m + 1 < M ? m + 1 : m) * K;
                for (int j = 0; j < 4; j++)
                    b[j] = op->B + (n + j < ne ? n + j : ne - 1) * K;
                uint32_t t[8];
                int rows = M - m < 2 ? 1 : 2;
                if (rows == 1)
                    tile(1, a, b, K, t);
                else
                    tile(2, a, b, K, t);
                for (int i = 0; i < rows; i++)
                    for (int j = 0; j < 4 && n + j < ne; j++)
                        op->out[(m + i) * N + n + j] = (int32_t)t[i * 4 + j];
            }
    }
}
