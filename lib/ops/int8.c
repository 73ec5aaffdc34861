/* lib/ops/int8.c - LLM.int8(): row-wise quantization with outliers, the int8
 * weight, the exact int8 GEMM, its dequantization and the mixed-precision
 * linear forward and backward (numerics.md 4, determinism.md 3.1 and 5). */
#include "config.h"

#include <math.h>

#include "runtime/check.h"
#include "runtime/error.h"
#include "numerics/half.h"

static kbit_status check_threshold(float threshold, const char *fn)
{
    if (isnan(threshold) || threshold < 0.0f)
        return kbit_error(KBIT_EINVAL, "%s: threshold = %g must be >= 0 (and not NaN)", fn,
                          (double)threshold);
    return KBIT_OK;
}

static kbit_status check_k(int64_t K, const char *fn, const char *arg)
{
    if (K > KBIT_INT8_MAX_K)
        return kbit_error(KBIT_EOVERFLOW,
                          "%s: %s = %lld exceeds %d, the largest inner dimension whose int8 "
                          "dot products cannot overflow int32", fn, arg, (long long)K,
                          KBIT_INT8_MAX_K);
    return KBIT_OK;
}

static kbit_status check_slots(const kbit_device *dev, const char *fn, int count,
                               const void *const *slots)
{
    for (int i = 0; i < count; i++) {
        kbit_status st = kbit_check_slot(dev, slots[i], fn);
        if (st != KBIT_OK)
            return st;
    }
    return KBIT_OK;
}

/* The quantize op for validated arguments (rows > 0). */
static kbit_status run_quant(kbit_device *dev, kbit_dtype dtype, const void *A, int64_t rows,
                             int64_t cols, float threshold, int8_t *CA, float *SCA,
                             int64_t *outlier_cols, int64_t *n_outliers, const char *fn)
{
    kbit_op_int8_quant op = {
        .dtype = dtype, .A = A, .rows = rows, .cols = cols,
        .use_threshold = threshold > 0.0f,
        .threshold_f16 = kbit_f16_to_f32(kbit_f32_to_f16(threshold)),
        .CA = CA, .SCA = SCA,
        .outlier_cols = threshold > 0.0f ? outlier_cols : NULL,
        .n_outliers = threshold > 0.0f ? n_outliers : NULL,
    };
    return kbit_driver_result(dev, dev->driver->int8_quant(dev->ctx, &op), fn);
}

/* What the row-wise quantizers share: the input [rows, cols] in dtype, the
 * codes and the row statistics (argument names for the messages). */
static kbit_status check_rows(const kbit_device *dev, kbit_dtype dtype, const void *A,
                              int64_t rows, int64_t cols, const int8_t *codes, const float *stats,
                              const char *fn, const char *const names[3])
{
    kbit_status st;
    int64_t n = 0;
    if ((st = kbit_check_device(dev, fn)) != KBIT_OK ||
        (st = kbit_check_float_dtype(dtype, fn, "dtype")) != KBIT_OK ||
        (st = kbit_check_matrix(rows, cols, 4, fn, "rows", "cols", &n)) != KBIT_OK ||
        (st = kbit_check_data(A, n, kbit_dtype_size(dtype), fn, names[0])) != KBIT_OK ||
        (st = kbit_check_data(codes, n, 1, fn, names[1])) != KBIT_OK ||
        (st = kbit_check_data(stats, rows, 4, fn, names[2])) != KBIT_OK)
        return st;
    return KBIT_CHECK_OVERLAP(fn, KBIT_IN(A, n * (int64_t)kbit_dtype_size(dtype), names[0]),
                              KBIT_OUT(codes, n, names[1]), KBIT_OUT(stats, rows * 4, names[2]));
}

KBIT_API kbit_status kbit_int8_vectorwise_quant(kbit_device *device, kbit_dtype dtype,
                                                const void *A, int64_t rows, int64_t cols,
                                                float threshold, int8_t *CA, float *SCA,
                                                int64_t *outlier_cols, int64_t *n_outliers)
{
    static const char fn[] = "kbit_int8_vectorwise_quant";
    kbit_clear_error();
    static const char *const names[3] = { "A", "CA", "SCA" };
    kbit_status st;
    if ((st = check_rows(device, dtype, A, rows, cols, CA, SCA, fn, names)) != KBIT_OK ||
        (st = check_threshold(threshold, fn)) != KBIT_OK)
        return st;
    int with_outliers = threshold > 0.0f;
    if (with_outliers) {
        if ((st = kbit_check_data(outlier_cols, cols, 8, fn, "outlier_cols")) != KBIT_OK ||
            (st = KBIT_CHECK_OVERLAP(fn, KBIT_IN(A, rows * cols * (int64_t)kbit_dtype_size(dtype),
                                                 "A"),
                                     KBIT_OUT(CA, rows * cols, "CA"),
                                     KBIT_OUT(SCA, rows * 4, "SCA"),
                                     KBIT_OUT(outlier_cols, cols * 8, "outlier_cols"))) != KBIT_OK)
            return st;
        if (n_outliers == NULL)
            return kbit_error(KBIT_EINVAL, "%s: n_outliers is NULL (threshold > 0)", fn);
    }
    const void *slots[] = { (const void *)device->driver->int8_quant };
    if ((st = check_slots(device, fn, 1, slots)) != KBIT_OK)
        return st;
    if (rows == 0) {
        if (n_outliers)
            *n_outliers = 0;
        return KBIT_OK;
    }
    int64_t count = 0;
    st = run_quant(device, dtype, A, rows, cols, threshold, CA, SCA, outlier_cols, &count, fn);
    if (st == KBIT_OK && n_outliers)
        *n_outliers = count;
    return st;
}

KBIT_API kbit_status kbit_int8_quantize_weight(kbit_device *device, kbit_dtype dtype,
                                               const void *W, int64_t rows, int64_t cols,
                                               int8_t *CB, float *SCB)
{
    static const char fn[] = "kbit_int8_quantize_weight";
    kbit_clear_error();
    static const char *const names[3] = { "W", "CB", "SCB" };
    kbit_status st = check_rows(device, dtype, W, rows, cols, CB, SCB, fn, names);
    if (st != KBIT_OK)
        return st;
    const void *slots[] = { (const void *)device->driver->int8_quant };
    if ((st = check_slots(device, fn, 1, slots)) != KBIT_OK || rows == 0)
        return st;
    return run_quant(device, dtype, W, rows, cols, 0.0f, CB, SCB, NULL, NULL, fn);
}

KBIT_API kbit_status kbit_int8_dequantize_weight(kbit_device *device, const int8_t *CB,
                                                 const float *SCB, int64_t rows, int64_t cols,
                                                 kbit_dtype out_dtype, void *out)
{
    static const char fn[] = "kbit_int8_dequantize_weight";
    kbit_clear_error();
    kbit_status st;
    int64_t n = 0;
    if ((st = kbit_check_device(device, fn)) != KBIT_OK ||
        (st = kbit_check_float_dtype(out_dtype, fn, "out_dtype")) != KBIT_OK ||
        (st = kbit_check_matrix(rows, cols, 4, fn, "rows", "cols", &n)) != KBIT_OK ||
        (st = kbit_check_data(CB, n, 1, fn, "CB")) != KBIT_OK ||
        (st = kbit_check_data(SCB, rows, 4, fn, "SCB")) != KBIT_OK ||
        (st = kbit_check_data(out, n, kbit_dtype_size(out_dtype), fn, "out")) != KBIT_OK ||
        (st = KBIT_CHECK_OVERLAP(fn, KBIT_IN(CB, n, "CB"), KBIT_IN(SCB, rows * 4, "SCB"),
                                 KBIT_OUT(out, n * (int64_t)kbit_dtype_size(out_dtype), "out"))) !=
            KBIT_OK)
        return st;
    const void *slots[] = { (const void *)device->driver->int8_dequant_weight };
    if ((st = check_slots(device, fn, 1, slots)) != KBIT_OK || n == 0)
        return st;
    kbit_op_int8_dequant_weight op = {
        .CB = CB, .SCB = SCB, .rows = rows, .cols = cols, .out_dtype = out_dtype, .out = out,
    };
    return kbit_driver_result(device, device->driver->int8_dequant_weight(device->ctx, &op), fn);
}

/* The GEMM op for validated arguments. */
static kbit_status run_matmul(kbit_device *dev, const int8_t *A, const int8_t *B, int64_t M,
                              int64_t N, int64_t K, int32_t *out, const char *fn)
{
    kbit_op_int8_matmul op = { .A = A, .B = B, .M = M, .N = N, .K = K, .out = out };
    return kbit_driver_result(dev, dev->driver->int8_matmul(dev->ctx, &op), fn);
}

KBIT_API kbit_status kbit_int8_matmul(kbit_device *device, const int8_t *A, const int8_t *B,
                                      int64_t M, int64_t N, int64_t K, int32_t *out)
{
    static const char fn[] = "kbit_int8_matmul";
    kbit_clear_error();
    kbit_status st;
    int64_t na = 0, nb = 0, nout = 0;
    if ((st = kbit_check_device(device, fn)) != KBIT_OK ||
        (st = kbit_check_matrix(M, K, 4, fn, "M", "K", &na)) != KBIT_OK ||
        (st = kbit_check_matrix(N, K, 4, fn, "N", "K", &nb)) != KBIT_OK ||
        (st = kbit_check_matrix(M, N, 4, fn, "M", "N", &nout)) != KBIT_OK ||
        (st = check_k(K, fn, "K")) != KBIT_OK ||
        (st = kbit_check_data(A, na, 1, fn, "A")) != KBIT_OK ||
        (st = kbit_check_data(B, nb, 1, fn, "B")) != KBIT_OK ||
        (st = kbit_check_data(out, nout, 4, fn, "out")) != KBIT_OK ||
        (st = KBIT_CHECK_OVERLAP(fn, KBIT_IN(A, na, "A"), KBIT_IN(B, nb, "B"),
                                 KBIT_OUT(out, nout * 4, "out"))) != KBIT_OK)
        return st;
    const void *slots[] = { (const void *)device->driver->int8_matmul };
    if ((st = check_slots(device, fn, 1, slots)) != KBIT_OK || nout == 0)
        return st;
    return run_matmul(device, A, B, M, N, K, out, fn);
}

/* The dequant op for validated arguments. */
static kbit_status run_mm_dequant(kbit_device *dev, const int32_t *acc, const float *SCA,
                                  const float *SCB, int64_t M, int64_t N, const void *bias,
                                  kbit_dtype bias_dtype, kbit_dtype out_dtype, void *out,
                                  const char *fn)
{
    kbit_op_int8_mm_dequant op = {
        .acc = acc, .SCA = SCA, .SCB = SCB, .M = M, .N = N, .bias = bias,
        .bias_dtype = bias ? bias_dtype : KBIT_F32, .out_dtype = out_dtype, .out = out,
    };
    return kbit_driver_result(dev, dev->driver->int8_mm_dequant(dev->ctx, &op), fn);
}

KBIT_API kbit_status kbit_int8_mm_dequant(kbit_device *device, const int32_t *acc,
                                          const float *SCA, const float *SCB, int64_t M,
                                          int64_t N, const void *bias, kbit_dtype bias_dtype,
                                          kbit_dtype out_dtype, void *out)
{
    static const char fn[] = "kbit_int8_mm_dequant";
    kbit_clear_error();
    kbit_status st;
    int64_t n = 0;
    if ((st = kbit_check_device(device, fn)) != KBIT_OK ||
        (st = kbit_check_float_dtype(out_dtype, fn, "out_dtype")) != KBIT_OK ||
        (bias && (st = kbit_check_float_dtype(bias_dtype, fn, "bias_dtype")) != KBIT_OK) ||
        (st = kbit_check_matrix(M, N, 4, fn, "M", "N", &n)) != KBIT_OK ||
        (st = kbit_check_data(acc, n, 4, fn, "acc")) != KBIT_OK ||
        (st = kbit_check_data(SCA, M, 4, fn, "SCA")) != KBIT_OK ||
        (st = kbit_check_data(SCB, N, 4, fn, "SCB")) != KBIT_OK ||
        (bias && (st = kbit_check_data(bias, N, kbit_dtype_size(bias_dtype), fn, "bias")) != KBIT_OK) ||
        (st = kbit_check_data(out, n, kbit_dtype_size(out_dtype), fn, "out")) != KBIT_OK ||
        (st = KBIT_CHECK_OVERLAP(fn, KBIT_IN(acc, n * 4, "acc"), KBIT_IN(SCA, M * 4, "SCA"),
                                 KBIT_IN(SCB, N * 4, "SCB"),
                                 KBIT_IN(bias, bias ? N * (int64_t)kbit_dtype_size(bias_dtype) : 0,
                                         "bias"),
                                 KBIT_OUT(out, n * (int64_t)kbit_dtype_size(out_dtype), "out"))) !=
            KBIT_OK)
        return st;
    const void *slots[] = { (const void *)device->driver->int8_mm_dequant };
    if ((st = check_slots(device, fn, 1, slots)) != KBIT_OK || n == 0)
        return st;
    return run_mm_dequant(device, acc, SCA, SCB, M, N, bias, bias_dtype, out_dtype, out, fn);
}

/* Scratch of the forward, freed together. */
typedef struct forward_scratch {
    int8_t *CA;
    float *SCA;
    int64_t *oc;
    int32_t *acc;
    int8_t *CB_cols; /* the weight's outlier columns, when the driver gathers them */
} forward_scratch;

static void scratch_release(kbit_device *dev, forward_scratch *s)
{
    kbit_scratch_free(dev, s->CA);
    kbit_scratch_free(dev, s->SCA);
    kbit_scratch_free(dev, s->oc);
    kbit_scratch_free(dev, s->acc);
    kbit_scratch_free(dev, s->CB_cols);
}

/* The int8 product of the forward. With outlier columns and a driver that
 * can, the weight's bytes at those columns are gathered in the same pass
 * (s->CB_cols); otherwise the outlier part reads CB itself. */
static kbit_status forward_matmul(kbit_device *dev, forward_scratch *s, const int8_t *CB,
                                  int64_t M, int64_t N, int64_t K, int64_t n_out, const char *fn)
{
    const kbit_driver *d = dev->driver;
    if (n_out == 0 || d->int8_matmul_gather == NULL)
        return run_matmul(dev, s->CA, CB, M, N, K, s->acc, fn);
    kbit_status st = kbit_scratch_alloc(dev, (size_t)(N * n_out), (void **)&s->CB_cols);
    if (st != KBIT_OK)
        return st;
    kbit_op_int8_matmul_gather op = {
        .mm = { .A = s->CA, .B = CB, .M = M, .N = N, .K = K, .out = s->acc },
        .cols = s->oc, .n_cols = n_out, .gathered = s->CB_cols,
    };
    return kbit_driver_result(dev, d->int8_matmul_gather(dev->ctx, &op), fn);
}

static kbit_status scratch_get(kbit_device *dev, forward_scratch *s, int64_t M, int64_t K,
                               int64_t N, int with_outliers)
{
    kbit_status st;
    if ((st = kbit_scratch_alloc(dev, (size_t)(M * K), (void **)&s->CA)) != KBIT_OK ||
        (st = kbit_scratch_alloc(dev, (size_t)M * 4, (void **)&s->SCA)) != KBIT_OK ||
        (with_outliers &&
         (st = kbit_scratch_alloc(dev, (size_t)K * 8, (void **)&s->oc)) != KBIT_OK) ||
        (st = kbit_scratch_alloc(dev, (size_t)(M * N) * 4, (void **)&s->acc)) != KBIT_OK)
        return st;
    return KBIT_OK;
}

/* What the forward and the backward share: device, dtype, the shapes of
 * X/dX [M,K], W [N,K] and Y/dOut [M,N] (element counts in nx, ny), CB, SCB. */
static kbit_status check_layer(const kbit_device *dev, kbit_dtype dtype, int64_t M, int64_t K,
                               int64_t N, const int8_t *CB, const float *SCB, const char *fn,
                               int64_t *nx, int64_t *ny)
{
    kbit_status st;
    int64_t nw = 0;
    if ((st = kbit_check_device(dev, fn)) != KBIT_OK ||
        (st = kbit_check_float_dtype(dtype, fn, "dtype")) != KBIT_OK ||
        (st = kbit_check_matrix(M, K, 4, fn, "M", "K", nx)) != KBIT_OK ||
        (st = kbit_check_matrix(N, K, 4, fn, "N", "K", &nw)) != KBIT_OK ||
        (st = kbit_check_matrix(M, N, 4, fn, "M", "N", ny)) != KBIT_OK ||
        (st = kbit_check_data(CB, nw, 1, fn, "CB")) != KBIT_OK ||
        (st = kbit_check_data(SCB, N, 4, fn, "SCB")) != KBIT_OK)
        return st;
    return KBIT_OK;
}

KBIT_API kbit_status kbit_int8_linear_forward(kbit_device *device, kbit_dtype dtype,
                                              const void *X, int64_t M, int64_t K,
                                              const int8_t *CB, const float *SCB, int64_t N,
                                              float threshold, const void *bias, void *Y)
{
    static const char fn[] = "kbit_int8_linear_forward";
    kbit_clear_error();
    kbit_status st;
    int64_t nx = 0, ny = 0;
    size_t es = kbit_dtype_size(dtype);
    if ((st = check_layer(device, dtype, M, K, N, CB, SCB, fn, &nx, &ny)) != KBIT_OK ||
        (st = check_k(K, fn, "K")) != KBIT_OK ||
        (st = check_threshold(threshold, fn)) != KBIT_OK ||
        (st = kbit_check_data(X, nx, es, fn, "X")) != KBIT_OK ||
        (bias && (st = kbit_check_data(bias, N, es, fn, "bias")) != KBIT_OK) ||
        (st = kbit_check_data(Y, ny, es, fn, "Y")) != KBIT_OK ||
        (st = KBIT_CHECK_OVERLAP(fn, KBIT_IN(X, nx * (int64_t)es, "X"), KBIT_IN(CB, N * K, "CB"),
                                 KBIT_IN(SCB, N * 4, "SCB"),
                                 KBIT_IN(bias, bias ? N * (int64_t)es : 0, "bias"),
                                 KBIT_OUT(Y, ny * (int64_t)es, "Y"))) != KBIT_OK)
        return st;
    const kbit_driver *d = device->driver;
    const void *slots[] = { (const void *)d->int8_quant, (const void *)d->int8_matmul,
                            (const void *)d->int8_mm_dequant, (const void *)d->int8_outlier_add };
    if ((st = check_slots(device, fn, 4, slots)) != KBIT_OK || ny == 0)
        return st;

    int with_outliers = threshold > 0.0f;
    forward_scratch s = { NULL, NULL, NULL, NULL, NULL };
    int64_t n_out = 0;
    if ((st = scratch_get(device, &s, M, K, N, with_outliers)) != KBIT_OK ||
        (st = run_quant(device, dtype, X, M, K, threshold, s.CA, s.SCA, s.oc, &n_out, fn)) !=
            KBIT_OK ||
        (st = forward_matmul(device, &s, CB, M, N, K, n_out, fn)) != KBIT_OK ||
        (st = run_mm_dequant(device, s.acc, s.SCA, SCB, M, N, bias, dtype, dtype, Y, fn)) !=
            KBIT_OK) {
        scratch_release(device, &s);
        return st;
    }
    if (n_out > 0) {
        kbit_op_int8_outlier_add op = {
            .dtype = dtype, .X = X, .M = M, .K = K, .outlier_cols = s.oc, .n_outliers = n_out,
            .CB = CB, .SCB = SCB, .N = N, .out = Y, .CB_cols = s.CB_cols,
        };
        st = kbit_driver_result(device, d->int8_outlier_add(device->ctx, &op), fn);
    }
    scratch_release(device, &s);
    return st;
}

KBIT_API kbit_status kbit_int8_linear_backward(kbit_device *device, kbit_dtype dtype,
                                               const void *dOut, int64_t M, int64_t N,
                                               const int8_t *CB, const float *SCB, int64_t K,
                                               void *dX)
{
    static const char fn[] = "kbit_int8_linear_backward";
    kbit_clear_error();
    kbit_status st;
    int64_t ng = 0, nx = 0;
    size_t es = kbit_dtype_size(dtype);
    if ((st = check_layer(device, dtype, M, K, N, CB, SCB, fn, &nx, &ng)) != KBIT_OK ||
        (st = kbit_check_data(dOut, ng, es, fn, "dOut")) != KBIT_OK ||
        (st = kbit_check_data(dX, nx, es, fn, "dX")) != KBIT_OK ||
        (st = KBIT_CHECK_OVERLAP(fn, KBIT_IN(dOut, ng * (int64_t)es, "dOut"),
                                 KBIT_IN(CB, N * K, "CB"), KBIT_IN(SCB, N * 4, "SCB"),
                                 KBIT_OUT(dX, nx * (int64_t)es, "dX"))) != KBIT_OK)
        return st;
    const void *slots[] = { (const void *)device->driver->int8_backward };
    if ((st = check_slots(device, fn, 1, slots)) != KBIT_OK || nx == 0)
        return st;
    kbit_op_int8_backward op = {
        .dtype = dtype, .dOut = dOut, .M = M, .N = N, .K = K, .CB = CB, .SCB = SCB, .dX = dX,
    };
    return kbit_driver_result(device, device->driver->int8_backward(device->ctx, &op), fn);
}
