/* backends/cpu/int8/ref.c - reference LLM.int8() kernels (numerics 4,
 * determinism 3.1 and 4.1): loops over the element rules of numerics/int8.h
 * and the dot32 of numerics/dot32.h. Each kernel handles a range of output
 * rows (or a tile), so a driver can split an op across threads. */
#include <string.h>

#include "numerics/dot32.h"
#include "numerics/encode.h"
#include "numerics/int8.h"
#include "int8.h"

void kbit_ref_int8_quant_rows(const kbit_op_int8_quant *op, int64_t r0, int64_t r1,
                              uint8_t *colmask)
{
    const int use = op->use_threshold;
    const float thr = op->threshold_f16;
    for (int64_t r = r0; r < r1; r++) {
        int64_t base = r * op->cols;
        float absmax = 0.0f;
        for (int64_t c = 0; c < op->cols; c++) {
            float a = kbit_through_f16(kbit_dtype_load(op->dtype, op->A, base + c));
            if (kbit_int8_eligible(a, use, thr))
                absmax = kbit_absmax_step(absmax, a);
            else if (kbit_int8_is_outlier(a, use, thr))
                colmask[c] = 1;
        }
        op->SCA[r] = absmax;
        float s = kbit_int8_row_scale(absmax);
        for (int64_t c = 0; c < op->cols; c++) {
            float a = kbit_through_f16(kbit_dtype_load(op->dtype, op->A, base + c));
            op->CA[base + c] = kbit_int8_quant_elem(a, absmax, s, use, thr);
        }
    }
}

int64_t kbit_ref_int8_compact(const uint8_t *colmask, int64_t cols, int64_t *outlier_cols)
{
    int64_t n = 0;
    for (int64_t c = 0; c < cols; c++)
        if (colmask[c])
            outlier_cols[n++] = c;
    return n;
}

void kbit_ref_int8_zero_cols(const kbit_op_int8_quant *op, int64_t n_outliers, int64_t r0,
                             int64_t r1)
{
    for (int64_t r = r0; r < r1; r++)
        for (int64_t i = 0; i < n_outliers; i++)
            op->CA[r * op->cols + op->outlier_cols[i]] = 0;
}

kbit_status kbit_ref_int8_quant(const kbit_op_int8_quant *op, uint8_t *colmask)
{
    if (op->use_threshold)
        memset(colmask, 0, (size_t)op->cols);
    kbit_ref_int8_quant_rows(op, 0, op->rows, colmask);
    if (!op->use_threshold)
        return KBIT_OK;
    int64_t n = kbit_ref_int8_compact(colmask, op->cols, op->outlier_cols);
    kbit_ref_int8_zero_cols(op, n, 0, op->rows);
    *op->n_outliers = n;
    return KBIT_OK;
}

void kbit_ref_int8_matmul(const kbit_op_int8_matmul *op, int64_t m0, int64_t m1, int64_t n0,
                          int64_t n1)
{
    for (int64_t m = m0; m < m1; m++) {
        const int8_t *a = op->A + m * op->K;
        for (int64_t n = n0; n < n1; n++) {
            const int8_t *b = op->B + n * op->K;
            uint32_t s = 0; /* modulo 2^32: exact whenever the sum fits int32 */
            for (int64_t k = 0; k < op->K; k++)
                s += (uint32_t)((int32_t)a[k] * (int32_t)b[k]);
            op->out[m * op->N + n] = (int32_t)s;
        }
    }
}

void kbit_ref_int8_matmul_cols(const kbit_op_int8_matmul *op, int64_t n0, int64_t n1)
{
    kbit_ref_int8_matmul(op, 0, op->M, n0, n1);
}

void kbit_ref_int8_gather(const kbit_op_int8_matmul_gather *op, int64_t n0, int64_t n1)
{
    /* locals: the byte stores could alias op's fields otherwise */
    const int64_t n_cols = *op->n_cols, K = op->mm.K;
    const int64_t *cols = op->cols;
    for (int64_t n = n0; n < n1; n++) {
        const int8_t *row = op->mm.B + n * K;
        int8_t *dst = op->gathered + n * n_cols;
        for (int64_t i = 0; i < n_cols; i++)
            dst[i] = row[cols[i]];
    }
}

void kbit_ref_int8_mm_dequant(const kbit_op_int8_mm_dequant *op, int64_t r0, int64_t r1)
{
    int kind = op->bias == NULL ? 0 : op->bias_dtype == KBIT_F16 ? 1 : 2;
    for (int64_t r = r0; r < r1; r++)
        for (int64_t j = 0; j < op->N; j++) {
            float b = kind ? kbit_dtype_load(op->bias_dtype, op->bias, j) : 0.0f;
            float o = kbit_int8_mm_dequant_elem(op->acc[r * op->N + j], op->SCA[r], op->SCB[j],
                                                kind, b);
            kbit_dtype_store(op->out_dtype, op->out, r * op->N + j, o);
        }
}

void kbit_ref_int8_outlier_add(const kbit_op_int8_outlier_add *op, int64_t j0, int64_t j1)
{
    const int8_t *cb_cols = kbit_outlier_cb_cols(op);
    for (int64_t m = 0; m < op->M; m++)
        for (int64_t j = j0; j < j1; j++) {
            const int64_t n_out = *op->n_outliers;
            kbit_dot32_acc d;
            kbit_dot32_init(&d);
            for (int64_t i = 0; i < n_out; i++) {
                int64_t k = op->outlier_cols[i];
                float a = kbit_dtype_load(op->dtype, op->X, m * op->K + k);
                int8_t cb = cb_cols ? cb_cols[j * n_out + i] : op->CB[j * op->K + k];
                kbit_dot32_add(&d, i, kbit_int8_outlier_weight(cb, op->SCB[j], op->dtype), a);
            }
            float r = kbit_dot32_finish(&d, n_out);
            float y = kbit_dtype_load(op->dtype, op->out, m * op->N + j);
            kbit_dtype_store(op->dtype, op->out, m * op->N + j,
                             kbit_int8_outlier_out(y, r));
        }
}

void kbit_ref_int8_dequant_weight(const kbit_op_int8_dequant_weight *op, int64_t r0, int64_t r1)
{
    for (int64_t r = r0; r < r1; r++)
        for (int64_t c = 0; c < op->cols; c++)
            kbit_dtype_store(op->out_dtype, op->out, r * op->cols + c,
                            kbit_int8_weight_of(op->CB[r * op->cols + c], op->SCB[r]));
}

void kbit_ref_int8_backward(const kbit_op_int8_backward *op, int64_t k0, int64_t k1)
{
    for (int64_t m = 0; m < op->M; m++)
        for (int64_t k = k0; k < k1; k++) {
            kbit_dot32_acc d;
            kbit_dot32_init(&d);
            for (int64_t n = 0; n < op->N; n++) {
                float a = kbit_dtype_load(op->dtype, op->dOut, m * op->N + n);
                float w = kbit_int8_outlier_weight(op->CB[n * op->K + k], op->SCB[n], op->dtype);
                kbit_dot32_add(&d, n, w, a);
            }
            kbit_dtype_store(op->dtype, op->dX, m * op->K + k, kbit_dot32_finish(&d, op->N));
        }
}
