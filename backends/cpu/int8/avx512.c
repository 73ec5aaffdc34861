/*
 * backends/cpu/int8/avx512.c - LLM.int8() kernels of the avx512 variant
 * (also used by avx512vnni, which replaces only the GEMM).
 *
 * Every kernel gives the reference's bits (ref/int8.c): the same fp32
 * operations in the same order per element, the same conversions
 * (avx512_io.h), fma where the spec names one. The GEMM is integer, and
 * int32 addition modulo 2^32 is associative, so any summation order gives
 * the reference's bits; it multiplies sign-extended 16-bit values with
 * vpmaddwd (exact: a pair of products of int8 values fits in int32).
 */
#include <stdlib.h>
#include <string.h>

#include "numerics/dot32.h"
#include "numerics/int8.h"
#include "int8.h"
#include "../x86/avx512_io.h"

/* f32(f16(v)) on 16 lanes: vcvtps2ph (RNE) and back, exact like the reference. */
KBIT_INLINE __m512 k512_through_f16(__m512 v)
{
    return _mm512_cvtph_ps(_mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

KBIT_INLINE __m512 k512_round_to(__m512 v, kbit_dtype dtype)
{
    if (dtype == KBIT_F16)
        return k512_through_f16(v);
    if (dtype == KBIT_BF16)
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(k512_to_bf16(v)), 16));
    return v;
}

/* Activations as the int8 path sees them: f32(f16(x)). */
KBIT_INLINE __m512 load_act(const void *A, kbit_dtype dtype, int64_t i, __mmask16 m)
{
    __m512 v = k512_load_mask(A, dtype, i, m);
    return dtype == KBIT_F16 ? v : k512_through_f16(v);
}

/* ---- row-wise quantization ---- */

static void quant_rows(const kbit_op_int8_quant *op, kbit_dtype dtype, int64_t r0, int64_t r1,
                       uint8_t *colmask)
{
    const int use = op->use_threshold;
    const __m512 thr = _mm512_set1_ps(op->threshold_f16);
    const __m128i ones = _mm_set1_epi8(1);
    const int64_t cols = op->cols;
    for (int64_t r = r0; r < r1; r++) {
        int64_t base = r * cols;
        __m512 mx = _mm512_setzero_ps();
        for (int64_t c = 0; c < cols; c += 16) {
            __mmask16 m = k512_mask(cols - c);
            __m512 a = k512_abs(load_act(op->A, dtype, base + c, m));
            __mmask16 elig = use ? _mm512_mask_cmp_ps_mask(m, a, thr, _CMP_LT_OQ)
                                 : _mm512_mask_cmp_ps_mask(m, a, a, _CMP_ORD_Q);
            mx = _mm512_mask_max_ps(mx, elig, mx, a);
            if (use) {
                __mmask16 out = _mm512_mask_cmp_ps_mask(m, a, thr, _CMP_GE_OQ);
                if (out)
                    _mm_mask_storeu_epi8(colmask + c, out, ones);
            }
        }
        float absmax = _mm512_reduce_max_ps(mx);
        op->SCA[r] = absmax;
        const __m512 s = _mm512_set1_ps(kbit_int8_row_scale(absmax));
        const __m512 big = _mm512_set1_ps(3.40282347e38f);
        for (int64_t c = 0; c < cols; c += 16) {
            __mmask16 m = k512_mask(cols - c);
            __m512 a = load_act(op->A, dtype, base + c, m);
            __m512 p = _mm512_mul_ps(a, s);
            /* code 0: product not finite, ineligible under a threshold, or absmax 0 */
            __mmask16 keep = _mm512_cmp_ps_mask(k512_abs(p), big, _CMP_LE_OQ);
            if (use)
                keep &= _mm512_cmp_ps_mask(k512_abs(a), thr, _CMP_LT_OQ);
            if (absmax == 0.0f)
                keep = 0;
            __m512i q = _mm512_maskz_cvt_roundps_epi32(keep, p,
                                                       _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            _mm_mask_storeu_epi8(op->CA + base + c, m, _mm512_cvtepi32_epi8(q));
        }
    }
}

void kbit_avx512_int8_quant_rows(const kbit_op_int8_quant *op, int64_t r0, int64_t r1,
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
    const __m512 C = _mm512_set1_ps(kbit_f32_from_bits(KBIT_INT8_MM_DEQUANT_BITS));
    const int64_t N = op->N;
    for (int64_t r = r0; r < r1; r++) {
        const __m512 sa = _mm512_set1_ps(op->SCA[r]);
        for (int64_t j = 0; j < N; j += 16) {
            __mmask16 m = k512_mask(N - j);
            __m512 acc = _mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(m, op->acc + r * N + j));
            __m512 t = _mm512_mul_ps(_mm512_mul_ps(acc, sa), _mm512_maskz_loadu_ps(m, op->SCB + j));
            __m512 b = kind ? k512_load_mask(op->bias, op->bias_dtype, j, m) : _mm512_setzero_ps();
            __m512 o = k512_through_f16(_mm512_fmadd_ps(t, C, kind == 1 ? b : _mm512_setzero_ps()));
            if (kind == 2)
                o = k512_through_f16(_mm512_add_ps(o, b));
            k512_store_mask(op->out, out_dtype, r * N + j, o, m);
        }
    }
}

void kbit_avx512_int8_mm_dequant(const kbit_op_int8_mm_dequant *op, int64_t r0, int64_t r1)
{
#define D(DT) mm_dequant(op, DT, r0, r1)
    KBIT_DTYPE_SWITCH(op->out_dtype, D);
#undef D
}

/* ---- weight dequantization ---- */

/* (codes q * SCB) * 1/127, q the int8 codes in int32 lanes. */
KBIT_INLINE __m512 weight16_of(__m512i q, __m512 scb)
{
    return _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(q), scb),
                         _mm512_set1_ps(kbit_f32_from_bits(KBIT_INT8_INV127_BITS)));
}

KBIT_INLINE __m512 weight16(const int8_t *cb, __m512 scb, __mmask16 m)
{
    return weight16_of(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, cb)), scb);
}

static void dequant_weight(const kbit_op_int8_dequant_weight *op, kbit_dtype dt, int64_t r0,
                           int64_t r1)
{
    for (int64_t r = r0; r < r1; r++) {
        const __m512 scb = _mm512_set1_ps(op->SCB[r]);
        for (int64_t c = 0; c < op->cols; c += 16) {
            __mmask16 m = k512_mask(op->cols - c);
            k512_store_mask(op->out, dt, r * op->cols + c, weight16(op->CB + r * op->cols + c, scb, m), m);
        }
    }
}

void kbit_avx512_int8_dequant_weight(const kbit_op_int8_dequant_weight *op, int64_t r0, int64_t r1)
{
#define D(DT) dequant_weight(op, DT, r0, r1)
    KBIT_DTYPE_SWITCH(op->out_dtype, D);
#undef D
}

/* ---- dot32 on 16 outputs at once ---- */

/* r = dot32 over i < n of a[i] * w[i*16 + lane] (determinism 3): element i
 * feeds dot32 lane (i / 8) mod 32 in ascending i. Only the lanes that get a
 * chunk are kept, the padding elements are not run, and the fold leaves out
 * the unused lanes; adding +0.0 to the result when
 * kbit_dot32_needs_plus_zero(n) then gives the rule's bits exactly
 * (numerics/dot32.h says why: the shortcut differs only in the sign of a
 * zero, which that addition settles). */
/* R dot products at once (R <= 4 rows a[r], a constant after inlining), so
 * that the fma chains of the rows overlap; each row's bits are those of a
 * lone dot32. */
KBIT_INLINE void dot32_16xR(int R, const float *const a[4], const float *w, int64_t n,
                            __m512 out[4])
{
    __m512 s[4][32];
    const int lanes = kbit_dot32_lanes_used(n);
    const int plus_zero = kbit_dot32_needs_plus_zero(n);
    for (int r = 0; r < R; r++)
        for (int l = 0; l < lanes; l++)
            s[r][l] = _mm512_setzero_ps();
    for (int64_t c = 0; c * 8 < n; c++) { /* chunk c: elements 8c .. 8c+7, lane c mod 32 */
        __m512 acc[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            acc[r] = s[r][c & 31];
        int64_t end = n - c * 8 < 8 ? n : c * 8 + 8;
        for (int64_t i = c * 8; i < end; i++) {
            __m512 wv = _mm512_load_ps(w + i * 16);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++)
                acc[r] = _mm512_fmadd_ps(wv, _mm512_set1_ps(a[r][i]), acc[r]);
        }
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            s[r][c & 31] = acc[r];
    }
    for (int r = 0; r < R; r++) {
        for (int h = 16; h > 0; h >>= 1)
            for (int l = 0; l < h && l + h < lanes; l++)
                s[r][l] = _mm512_add_ps(s[r][l], s[r][l + h]);
        out[r] = lanes ? s[r][0] : _mm512_setzero_ps();
        if (plus_zero)
            out[r] = _mm512_add_ps(out[r], _mm512_setzero_ps());
    }
}

KBIT_INLINE __m512 dot32_16(const float *a, const float *w, int64_t n)
{
    const float *rows[4] = { a, a, a, a };
    __m512 r[4];
    dot32_16xR(1, rows, w, n, r);
    return r[0];
}

/* ---- the outlier part of the forward ---- */

/* w[i * 16 + lane] = f32(T((CB[j+lane, oc[i]] * SCB[j+lane]) * 1/127)) for
 * the cnt columns from j (other lanes 0). */
static void outlier_weights(const kbit_op_int8_outlier_add *op, kbit_dtype dt, int64_t j,
                            int64_t cnt, float *w)
{
    const int8_t *cb_cols = kbit_outlier_cb_cols(op);
    const int64_t n = *op->n_outliers, K = op->K;
    __mmask16 mk = k512_mask(cnt);
    const __m512 scb = _mm512_maskz_loadu_ps(mk, op->SCB + j);
    /* the bytes of row j + lane: at i in CB_cols, else at oc[i] in CB */
    const int8_t *src = cb_cols ? cb_cols : op->CB;
    const int64_t stride = cb_cols ? n : K;
    /* one 32-bit gather per column instead of 16 byte loads, when each
     * lane's 4-byte read stays inside the matrix and int32 indices reach it */
    if (op->N * stride <= INT32_MAX && (j + cnt) * stride + 3 <= op->N * stride) {
        const __m512i rows = _mm512_mullo_epi32(
            _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
            _mm512_set1_epi32((int)stride));
        const int8_t *base = src + j * stride;
        for (int64_t i = 0; i < n; i++) {
            int64_t at = cb_cols ? i : op->outlier_cols[i];
            __m512i v = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), mk, rows,
                                                    (const void *)(base + at), 1);
            /* the low byte, sign-extended */
            __m512i q = _mm512_srai_epi32(_mm512_slli_epi32(v, 24), 24);
            _mm512_store_ps(w + i * 16, k512_round_to(weight16_of(q, scb), dt));
        }
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        int8_t col[16] = { 0 };
        for (int64_t l = 0; l < cnt; l++)
            col[l] = cb_cols ? cb_cols[(j + l) * n + i]
                                 : op->CB[(j + l) * K + op->outlier_cols[i]];
        _mm512_store_ps(w + i * 16, k512_round_to(weight16(col, scb, 0xffff), dt));
    }
}

/* Columns are taken in chunks whose weights (n x 16 floats per 16 columns)
 * fit in about 512 KiB; within a chunk rows go outermost, so each output row
 * segment is read and written once, in order. */
#define OUTLIER_CHUNK_BYTES ((int64_t)512 << 10)

static void outlier_add(const kbit_op_int8_outlier_add *op, kbit_dtype dt, int64_t j0, int64_t j1)
{
    const int64_t n = *op->n_outliers, M = op->M, K = op->K, N = op->N;
    int64_t chunk = OUTLIER_CHUNK_BYTES / (n * 16 * (int64_t)sizeof(float)) * 16;
    if (chunk < 16)
        chunk = 16;
    if (chunk > j1 - j0)
        chunk = (j1 - j0 + 15) / 16 * 16;
    float *a = malloc((size_t)(M * n) * sizeof(float) + 64);
    float *w = aligned_alloc(64, (size_t)(chunk * n) * sizeof(float) + 64);
    if (a == NULL || w == NULL) { /* no scratch: the reference, same bits */
        free(a), free(w);
        kbit_ref_int8_outlier_add(op, j0, j1);
        return;
    }
    for (int64_t m = 0; m < M; m++)
        for (int64_t i = 0; i < n; i++)
            a[m * n + i] = kbit_dtype_load(dt, op->X, m * K + op->outlier_cols[i]);
    for (int64_t c0 = j0; c0 < j1; c0 += chunk) {
        int64_t c1 = j1 - c0 < chunk ? j1 : c0 + chunk;
        for (int64_t j = c0; j < c1; j += 16)
            outlier_weights(op, dt, j, c1 - j < 16 ? c1 - j : 16, w + (j - c0) * n);
        for (int64_t m = 0; m < M; m += 4) {
            int R = M - m < 4 ? (int)(M - m) : 4;
            const float *rows[4];
            for (int r = 0; r < 4; r++)
                rows[r] = a + (m + (r < R ? r : 0)) * n;
            for (int64_t j = c0; j < c1; j += 16) {
                __mmask16 mk = k512_mask(c1 - j);
                const float *wj = w + (j - c0) * n;
                __m512 d[4];
                if (R == 4)
                    dot32_16xR(4, rows, wj, n, d);
                else
                    for (int r = 0; r < R; r++)
                        d[r] = dot32_16(rows[r], wj, n);
                for (int r = 0; r < R; r++) {
                    __m512 y = k512_load_mask(op->out, dt, (m + r) * N + j, mk);
                    k512_store_mask(op->out, dt, (m + r) * N + j, _mm512_add_ps(y, d[r]), mk);
                }
            }
        }
    }
    free(a), free(w);
}

void kbit_avx512_int8_outlier_add(const kbit_op_int8_outlier_add *op, int64_t j0, int64_t j1)
{
#define D(DT) outlier_add(op, DT, j0, j1)
    KBIT_DTYPE_SWITCH(op->dtype, D);
#undef D
}

/* ---- backward: dX = dOut x dequant(CB, SCB), dot32 over n ---- */

static void backward(const kbit_op_int8_backward *op, kbit_dtype dt, int64_t k0, int64_t k1)
{
    const int64_t M = op->M, N = op->N, K = op->K;
    float *w = aligned_alloc(64, (size_t)N * 16 * sizeof(float) + 64);
    float *a = malloc((size_t)N * sizeof(float) + 64);
    if (w == NULL || a == NULL) {
        free(w), free(a);
        kbit_ref_int8_backward(op, k0, k1);
        return;
    }
    for (int64_t k = k0; k < k1; k += 16) {
        int64_t cnt = k1 - k < 16 ? k1 - k : 16;
        __mmask16 mk = k512_mask(cnt);
        for (int64_t n = 0; n < N; n++) {
            __m512 v = k512_round_to(weight16(op->CB + n * K + k, _mm512_set1_ps(op->SCB[n]), mk), dt);
            _mm512_store_ps(w + n * 16, v);
        }
        for (int64_t m = 0; m < M; m++) {
            for (int64_t n = 0; n < N; n++)
                a[n] = kbit_dtype_load(dt, op->dOut, m * N + n);
            k512_store_mask(op->dX, dt, m * K + k, dot32_16(a, w, N), mk);
        }
    }
    free(w), free(a);
}

void kbit_avx512_int8_backward(const kbit_op_int8_backward *op, int64_t k0, int64_t k1)
{
#define D(DT) backward(op, DT, k0, k1)
    KBIT_DTYPE_SWITCH(op->dtype, D);
#undef D
}

/* ---- int8 GEMM, vpmaddwd ---- */

/* Sum of the 16 int32 lanes, modulo 2^32. */
KBIT_INLINE int32_t hsum(__m512i v)
{
    return (int32_t)_mm512_reduce_add_epi32(v);
}

/* The 4 x 4 tile of rows a[0..3] x rows b[0..3]; sums modulo 2^32. */
static void tile4x4(const int8_t *const a[4], const int8_t *const b[4], int64_t K, int32_t out[16])
{
    __m512i acc[16];
    for (int i = 0; i < 16; i++)
        acc[i] = _mm512_setzero_si512();
    for (int64_t k = 0; k < K; k += 32) {
        __mmask32 m = K - k >= 32 ? 0xffffffffu : (__mmask32)((1u << (K - k)) - 1u);
        __m512i va[4], vb[4];
        for (int i = 0; i < 4; i++) {
            va[i] = _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(m, a[i] + k));
            vb[i] = _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(m, b[i] + k));
        }
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
                acc[i * 4 + j] = _mm512_add_epi32(acc[i * 4 + j], _mm512_madd_epi16(va[i], vb[j]));
    }
    for (int i = 0; i < 16; i++)
        out[i] = hsum(acc[i]);
}

void kbit_avx512_int8_matmul(const kbit_op_int8_matmul *op, int64_t n0, int64_t n1)
{
    const int64_t M = op->M, N = op->N, K = op->K;
    /* blocks of 64 rows of B (L2) against every 4-row tile of A (L1) */
    for (int64_t nb = n0; nb < n1; nb += 64) {
        int64_t ne = n1 - nb < 64 ? n1 : nb + 64;
        for (int64_t m = 0; m < M; m += 4)
            for (int64_t n = nb; n < ne; n += 4) {
                /* rows past the end repeat the last one; their results are dropped */
                const int8_t *a[4], *b[4];
                for (int i = 0; i < 4; i++) {
                    a[i] = op->A + (m + i < M ? m + i : M - 1) * K;
                    b[i] = op->B + (n + i < ne ? n + i : ne - 1) * K;
                }
                int32_t t[16];
                tile4x4(a, b, K, t);
                for (int i = 0; i < 4 && m + i < M; i++)
                    for (int j = 0; j < 4 && n + j < ne; j++)
                        op->out[(m + i) * N + n + j] = t[i * 4 + j];
            }
    }
}
