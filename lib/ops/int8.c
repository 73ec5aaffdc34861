/* lib/ops/int8.c - LLM.int8(): row-wise quantization with outliers, the int8
 * weight, the exact int8 GEMM, its dequantization and the mixed-precision
 * linear forward and backward (doc/numerics.md 4, doc/determinism.md 3.1 and 5). */
#include "config.h"

#include <math.h>

#include <stdlib.h>

#include "runtime/check.h"
#include "runtime/error.h"
#include "numerics/half.h"
#include "ops/state.h"

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

static kbit_status check_family(const kbit_device *dev, int dtype, const char *fn)
{
    kbit_status st = kbit_check_family(dev, KBIT_FAMILY_INT8, fn);
    return st != KBIT_OK ? st : kbit_check_limits(dev, KBIT_FAMILY_INT8, dtype, 0, fn);
}

/* The quantize op for validated arguments (rows > 0); the outlier count
 * goes to n_outliers in device memory. */
static kbit_op_int8_quant quant_op(kbit_dtype dtype, const void *A, int64_t rows, int64_t cols,
                                   float threshold, int8_t *CA, float *SCA)
{
    return (kbit_op_int8_quant){
        .struct_size = sizeof(kbit_op_int8_quant), .dtype = dtype, .A = A, .rows = rows,
        .cols = cols, .use_threshold = threshold > 0.0f,
        .threshold_f16 = kbit_f16_to_f32(kbit_f32_to_f16(threshold)), .CA = CA, .SCA = SCA,
    };
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
    if ((st = check_family(device, dtype, fn)) != KBIT_OK)
        return st;
    if (rows == 0) {
        if (n_outliers)
            *n_outliers = 0;
        return KBIT_OK;
    }
    kbit_op_int8_quant op = quant_op(dtype, A, rows, cols, threshold, CA, SCA);
    kbit_call c;
    if ((st = kbit_call_begin(&c, device, with_outliers ? kbit_call_size(8) : 0,
                              kbit_driver_workspace(device, KBIT_OP_INT8_QUANT, &op), fn)) !=
        KBIT_OK)
        return st;
    if (!with_outliers) {
        if ((st = KBIT_RUN(&c, int8_quant, &op)) == KBIT_OK && n_outliers)
            *n_outliers = 0;
        return st;
    }
    op.outlier_cols = outlier_cols;
    int64_t count = 0;
    if ((st = kbit_call_take(&c, 8, &op.n_outliers)) != KBIT_OK ||
        (st = KBIT_RUN(&c, int8_quant, &op)) != KBIT_OK ||
        (st = kbit_call_download(&c, &count, op.n_outliers, sizeof count)) != KBIT_OK)
        return st;
    *n_outliers = count; /* the value this call hands to the host */
    return KBIT_OK;
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
    if ((st = check_family(device, dtype, fn)) != KBIT_OK || rows == 0)
        return st;
    kbit_op_int8_quant op = quant_op(dtype, W, rows, cols, 0.0f, CB, SCB);
    kbit_call c;
    st = kbit_call_begin(&c, device, 0, kbit_driver_workspace(device, KBIT_OP_INT8_QUANT, &op),
                         fn);
    return st != KBIT_OK ? st : KBIT_RUN(&c, int8_quant, &op);
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
    if ((st = check_family(device, out_dtype, fn)) != KBIT_OK || n == 0)
        return st;
    kbit_op_int8_dequant_weight op = {
        .struct_size = sizeof op, .CB = CB, .SCB = SCB, .rows = rows, .cols = cols,
        .out_dtype = out_dtype, .out = out,
    };
    kbit_call c;
    st = kbit_call_begin(&c, device, 0,
                         kbit_driver_workspace(device, KBIT_OP_INT8_DEQUANT_WEIGHT, &op), fn);
    return st != KBIT_OK ? st : KBIT_RUN(&c, int8_dequant_weight, &op);
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
    if ((st = check_family(device, -1, fn)) != KBIT_OK || nout == 0)
        return st;
    kbit_op_int8_matmul op = { .struct_size = sizeof op, .A = A, .B = B, .M = M, .N = N,
                               .K = K, .out = out };
    kbit_call c;
    st = kbit_call_begin(&c, device, 0, kbit_driver_workspace(device, KBIT_OP_INT8_MATMUL, &op),
                         fn);
    return st != KBIT_OK ? st : KBIT_RUN(&c, int8_matmul, &op);
}

static kbit_op_int8_mm_dequant mm_dequant_op(const int32_t *acc, const float *SCA,
                                             const float *SCB, int64_t M, int64_t N,
                                             const void *bias, kbit_dtype bias_dtype,
                                             kbit_dtype out_dtype, void *out)
{
    return (kbit_op_int8_mm_dequant){
        .struct_size = sizeof(kbit_op_int8_mm_dequant), .acc = acc, .SCA = SCA, .SCB = SCB,
        .M = M, .N = N, .bias = bias, .bias_dtype = bias ? bias_dtype : KBIT_F32,
        .out_dtype = out_dtype, .out = out,
    };
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
    if ((st = check_family(device, out_dtype, fn)) != KBIT_OK || n == 0)
        return st;
    kbit_op_int8_mm_dequant op =
        mm_dequant_op(acc, SCA, SCB, M, N, bias, bias_dtype, out_dtype, out);
    kbit_call c;
    st = kbit_call_begin(&c, device, 0,
                         kbit_driver_workspace(device, KBIT_OP_INT8_MM_DEQUANT, &op), fn);
    return st != KBIT_OK ? st : KBIT_RUN(&c, int8_mm_dequant, &op);
}

/* The weight of a layer: raw CB/SCB, or a prepared weight. */
typedef struct weight_view {
    const int8_t *CB;
    const float *SCB;
    int64_t N, K;
    const void *prepared; /* the driver's own layout (CB NULL then), or NULL */
} weight_view;

struct kbit_int8_weight {
    kbit_device *device;
    weight_view view;
    int8_t *CB; /* owned copies (no driver layout) */
    float *SCB;
    void *driver_weight;
    size_t bytes;
};

/* Outlier columns whose weight bytes the forward gathers during the int8
 * product (when the driver can); more than this and the outlier part reads
 * the weight itself. */
#define GATHER_CAPACITY 256

/* The forward on checked arguments (rows of output > 0). All intermediates
 * live in the workspace and the outlier count never leaves the device. */
static kbit_status forward(kbit_device *dev, kbit_dtype dtype, const void *X, int64_t M,
                           const weight_view *w, float threshold, const void *bias, void *Y,
                           const char *fn)
{
    const kbit_driver *d = dev->driver;
    int64_t N = w->N, K = w->K;
    int with_outliers = threshold > 0.0f;
    int gather = with_outliers && d->int8_matmul_gather != NULL && K > 0;
    int64_t capacity = K < GATHER_CAPACITY ? K : GATHER_CAPACITY;

    kbit_op_int8_quant q = quant_op(dtype, X, M, K, threshold, NULL, NULL);
    kbit_op_int8_matmul mm = { .struct_size = sizeof mm, .B = w->CB, .M = M, .N = N, .K = K,
                               .prepared_B = w->prepared };
    kbit_op_int8_matmul_gather mg = { .struct_size = sizeof mg, .capacity = capacity };
    kbit_op_int8_mm_dequant dq = mm_dequant_op(NULL, NULL, w->SCB, M, N, bias, dtype, dtype, Y);
    kbit_op_int8_outlier_add oa = {
        .struct_size = sizeof oa, .dtype = dtype, .X = X, .M = M, .K = K, .CB = w->CB,
        .SCB = w->SCB, .N = N, .out = Y, .mode = dev->mode, .prepared_B = w->prepared,
    };
    size_t core = kbit_call_size((size_t)(M * K)) + kbit_call_size((size_t)M * 4) +
                  kbit_call_size((size_t)(M * N) * 4);
    if (with_outliers)
        core += kbit_call_size((size_t)K * 8) + kbit_call_size(8);
    if (gather)
        core += kbit_call_size((size_t)(N * capacity));
    size_t need[5] = {
        kbit_driver_workspace(dev, KBIT_OP_INT8_QUANT, &q),
        kbit_driver_workspace(dev, KBIT_OP_INT8_MATMUL, &mm),
        gather ? kbit_driver_workspace(dev, KBIT_OP_INT8_MATMUL_GATHER, &mg) : 0,
        kbit_driver_workspace(dev, KBIT_OP_INT8_MM_DEQUANT, &dq),
        with_outliers ? kbit_driver_workspace(dev, KBIT_OP_INT8_OUTLIER_ADD, &oa) : 0,
    };
    size_t driver = 0;
    for (int i = 0; i < 5; i++)
        driver = need[i] > driver ? need[i] : driver;

    kbit_call c;
    kbit_status st;
    if ((st = kbit_call_begin(&c, dev, core, driver, fn)) != KBIT_OK ||
        (st = kbit_call_take(&c, (size_t)(M * K), &q.CA)) != KBIT_OK ||
        (st = kbit_call_take(&c, (size_t)M * 4, &q.SCA)) != KBIT_OK ||
        (st = kbit_call_take(&c, (size_t)(M * N) * 4, &mm.out)) != KBIT_OK)
        return st;
    if (with_outliers &&
        ((st = kbit_call_take(&c, (size_t)K * 8, &q.outlier_cols)) != KBIT_OK ||
         (st = kbit_call_take(&c, 8, &q.n_outliers)) != KBIT_OK))
        return st;
    int8_t *gathered = NULL;
    if (gather && (st = kbit_call_take(&c, (size_t)(N * capacity), &gathered)) != KBIT_OK)
        return st;
    mm.A = q.CA;
    dq.acc = mm.out;
    dq.SCA = q.SCA;
    if ((st = KBIT_RUN(&c, int8_quant, &q)) != KBIT_OK)
        return st;
    if (gather) {
        mg.mm = mm;
        mg.cols = q.outlier_cols;
        mg.n_cols = q.n_outliers;
        mg.gathered = gathered;
        st = KBIT_RUN(&c, int8_matmul_gather, &mg);
    } else {
        st = KBIT_RUN(&c, int8_matmul, &mm);
    }
    if (st != KBIT_OK || (st = KBIT_RUN(&c, int8_mm_dequant, &dq)) != KBIT_OK || !with_outliers)
        return st;
    oa.outlier_cols = q.outlier_cols;
    oa.n_outliers = q.n_outliers;
    oa.CB_cols = gathered;
    oa.CB_cols_capacity = gather ? capacity : 0;
    return KBIT_RUN(&c, int8_outlier_add, &oa);
}

static kbit_status backward(kbit_device *dev, kbit_dtype dtype, const void *dOut, int64_t M,
                            const weight_view *w, void *dX, const char *fn)
{
    kbit_op_int8_backward op = {
        .struct_size = sizeof op, .dtype = dtype, .dOut = dOut, .M = M, .N = w->N, .K = w->K,
        .CB = w->CB, .SCB = w->SCB, .dX = dX, .mode = dev->mode, .prepared_B = w->prepared,
    };
    kbit_call c;
    kbit_status st = kbit_call_begin(&c, dev, 0,
                                     kbit_driver_workspace(dev, KBIT_OP_INT8_BACKWARD, &op), fn);
    return st != KBIT_OK ? st : KBIT_RUN(&c, int8_backward, &op);
}

/* The activation side of a forward: X [M,K], bias [N], Y [M,N]. */
static kbit_status check_forward_operands(const kbit_device *dev, kbit_dtype dtype,
                                          const void *X, int64_t M, const weight_view *w,
                                          float threshold, const void *bias, const void *Y,
                                          const char *fn, int64_t *ny)
{
    kbit_status st;
    int64_t nx = 0;
    size_t es = kbit_dtype_size(dtype);
    if ((st = kbit_check_float_dtype(dtype, fn, "dtype")) != KBIT_OK ||
        (st = kbit_check_matrix(M, w->K, 4, fn, "M", "K", &nx)) != KBIT_OK ||
        (st = kbit_check_matrix(M, w->N, 4, fn, "M", "N", ny)) != KBIT_OK ||
        (st = check_k(w->K, fn, "K")) != KBIT_OK ||
        (st = check_threshold(threshold, fn)) != KBIT_OK ||
        (st = kbit_check_data(X, nx, es, fn, "X")) != KBIT_OK ||
        (bias && (st = kbit_check_data(bias, w->N, es, fn, "bias")) != KBIT_OK) ||
        (st = kbit_check_data(Y, *ny, es, fn, "Y")) != KBIT_OK ||
        (st = KBIT_CHECK_OVERLAP(fn, KBIT_IN(X, nx * (int64_t)es, "X"),
                                 KBIT_IN(w->CB, w->N * w->K, "CB"),
                                 KBIT_IN(w->SCB, w->N * 4, "SCB"),
                                 KBIT_IN(bias, bias ? w->N * (int64_t)es : 0, "bias"),
                                 KBIT_OUT(Y, *ny * (int64_t)es, "Y"))) != KBIT_OK)
        return st;
    return check_family(dev, dtype, fn);
}

static kbit_status check_backward_operands(const kbit_device *dev, kbit_dtype dtype,
                                           const void *dOut, int64_t M, const weight_view *w,
                                           const void *dX, const char *fn, int64_t *nx)
{
    kbit_status st;
    int64_t ng = 0;
    size_t es = kbit_dtype_size(dtype);
    if ((st = kbit_check_float_dtype(dtype, fn, "dtype")) != KBIT_OK ||
        (st = kbit_check_matrix(M, w->K, 4, fn, "M", "K", nx)) != KBIT_OK ||
        (st = kbit_check_matrix(M, w->N, 4, fn, "M", "N", &ng)) != KBIT_OK ||
        (st = kbit_check_data(dOut, ng, es, fn, "dOut")) != KBIT_OK ||
        (st = kbit_check_data(dX, *nx, es, fn, "dX")) != KBIT_OK ||
        (st = KBIT_CHECK_OVERLAP(fn, KBIT_IN(dOut, ng * (int64_t)es, "dOut"),
                                 KBIT_IN(w->CB, w->N * w->K, "CB"),
                                 KBIT_IN(w->SCB, w->N * 4, "SCB"),
                                 KBIT_OUT(dX, *nx * (int64_t)es, "dX"))) != KBIT_OK)
        return st;
    return check_family(dev, dtype, fn);
}

/* A raw weight CB [N,K] + SCB [N]. */
static kbit_status view_of_raw(const int8_t *CB, const float *SCB, int64_t N, int64_t K,
                               weight_view *v, const char *fn)
{
    kbit_status st;
    int64_t nw = 0;
    if ((st = kbit_check_matrix(N, K, 4, fn, "N", "K", &nw)) != KBIT_OK ||
        (st = kbit_check_data(CB, nw, 1, fn, "CB")) != KBIT_OK ||
        (st = kbit_check_data(SCB, N, 4, fn, "SCB")) != KBIT_OK)
        return st;
    *v = (weight_view){ .CB = CB, .SCB = SCB, .N = N, .K = K };
    return KBIT_OK;
}

static kbit_status view_of_prepared(const kbit_device *dev, const kbit_int8_weight *w,
                                    weight_view *v, const char *fn)
{
    if (w == NULL)
        return kbit_error(KBIT_EINVAL, "%s: weight is NULL", fn);
    if (w->device != dev)
        return kbit_error(KBIT_EINVAL, "%s: weight was prepared on another device", fn);
    *v = w->view;
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
    weight_view w;
    int64_t ny = 0;
    if ((st = kbit_check_device(device, fn)) != KBIT_OK ||
        (st = view_of_raw(CB, SCB, N, K, &w, fn)) != KBIT_OK ||
        (st = check_forward_operands(device, dtype, X, M, &w, threshold, bias, Y, fn, &ny)) !=
            KBIT_OK || ny == 0)
        return st;
    return forward(device, dtype, X, M, &w, threshold, bias, Y, fn);
}

KBIT_API kbit_status kbit_int8_linear_backward(kbit_device *device, kbit_dtype dtype,
                                               const void *dOut, int64_t M, int64_t N,
                                               const int8_t *CB, const float *SCB, int64_t K,
                                               void *dX)
{
    static const char fn[] = "kbit_int8_linear_backward";
    kbit_clear_error();
    kbit_status st;
    weight_view w;
    int64_t nx = 0;
    if ((st = kbit_check_device(device, fn)) != KBIT_OK ||
        (st = view_of_raw(CB, SCB, N, K, &w, fn)) != KBIT_OK ||
        (st = check_backward_operands(device, dtype, dOut, M, &w, dX, fn, &nx)) != KBIT_OK ||
        nx == 0)
        return st;
    return backward(device, dtype, dOut, M, &w, dX, fn);
}

KBIT_API kbit_status kbit_int8_linear_forward_prepared(kbit_device *device, kbit_dtype dtype,
                                                       const void *X, int64_t M,
                                                       const kbit_int8_weight *weight,
                                                       float threshold, const void *bias,
                                                       void *Y)
{
    static const char fn[] = "kbit_int8_linear_forward_prepared";
    kbit_clear_error();
    kbit_status st;
    weight_view w;
    int64_t ny = 0;
    if ((st = kbit_check_device(device, fn)) != KBIT_OK ||
        (st = view_of_prepared(device, weight, &w, fn)) != KBIT_OK ||
        (st = check_forward_operands(device, dtype, X, M, &w, threshold, bias, Y, fn, &ny)) !=
            KBIT_OK || ny == 0)
        return st;
    return forward(device, dtype, X, M, &w, threshold, bias, Y, fn);
}

KBIT_API kbit_status kbit_int8_linear_backward_prepared(kbit_device *device, kbit_dtype dtype,
                                                        const void *dOut, int64_t M,
                                                        const kbit_int8_weight *weight,
                                                        void *dX)
{
    static const char fn[] = "kbit_int8_linear_backward_prepared";
    kbit_clear_error();
    kbit_status st;
    weight_view w;
    int64_t nx = 0;
    if ((st = kbit_check_device(device, fn)) != KBIT_OK ||
        (st = view_of_prepared(device, weight, &w, fn)) != KBIT_OK ||
        (st = check_backward_operands(device, dtype, dOut, M, &w, dX, fn, &nx)) != KBIT_OK ||
        nx == 0)
        return st;
    return backward(device, dtype, dOut, M, &w, dX, fn);
}

/* ------------------------------------------------------------------ */
/* Prepared weights                                                     */

static void weight_free(kbit_int8_weight *w)
{
    kbit_device *dev = w->device;
    if (w->driver_weight != NULL)
        dev->driver->int8_release(dev->ctx, w->driver_weight);
    kbit_device_free(dev, w->CB);
    kbit_device_free(dev, w->SCB);
    free(w);
}

/* A copy of SCB, and of CB unless the driver keeps CB in its own layout;
 * waits for the copies so the originals may be freed afterwards. */
static kbit_status weight_fill(kbit_int8_weight *w, const weight_view *v, const char *fn)
{
    kbit_device *dev = w->device;
    size_t cb_bytes = (size_t)(v->N * v->K), scb_bytes = (size_t)v->N * 4;
    int driver_layout = dev->driver->int8_prepare != NULL && dev->driver->int8_release != NULL &&
                        cb_bytes > 0;
    kbit_call c;
    kbit_status st = kbit_call_begin(&c, dev, 0, 0, fn);
    if (st != KBIT_OK ||
        (st = kbit_device_alloc(dev, scb_bytes, KBIT_MEM_DEVICE, (void **)&w->SCB, fn)) !=
            KBIT_OK)
        return st;
    if (scb_bytes > 0 &&
        (st = kbit_call_result(&c, dev->driver->mem_copy(dev->ctx, c.ex.stream, w->SCB, v->SCB,
                                                         scb_bytes, KBIT_DEVICE_TO_DEVICE))) !=
            KBIT_OK)
        return st;
    w->bytes = scb_bytes;
    if (driver_layout) {
        kbit_op_int8_prepare op = { .struct_size = sizeof op, .CB = v->CB, .SCB = v->SCB,
                                    .N = v->N, .K = v->K };
        size_t bytes = 0;
        st = kbit_call_result(&c, dev->driver->int8_prepare(dev->ctx, &c.ex, &op,
                                                            &w->driver_weight, &bytes));
        w->bytes += bytes;
    } else {
        if ((st = kbit_device_alloc(dev, cb_bytes, KBIT_MEM_DEVICE, (void **)&w->CB, fn)) !=
            KBIT_OK)
            return st;
        if (cb_bytes > 0)
            st = kbit_call_result(&c, dev->driver->mem_copy(dev->ctx, c.ex.stream, w->CB, v->CB,
                                                            cb_bytes, KBIT_DEVICE_TO_DEVICE));
        w->bytes += cb_bytes;
    }
    if (st == KBIT_OK)
        st = kbit_call_result(&c, dev->driver->sync(dev->ctx, c.ex.stream));
    return st;
}

KBIT_API kbit_status kbit_int8_prepare_weight(kbit_device *device, const int8_t *CB,
                                              const float *SCB, int64_t N, int64_t K,
                                              kbit_int8_weight **weight)
{
    static const char fn[] = "kbit_int8_prepare_weight";
    kbit_clear_error();
    kbit_status st;
    weight_view v;
    if ((st = kbit_check_device(device, fn)) != KBIT_OK ||
        (st = view_of_raw(CB, SCB, N, K, &v, fn)) != KBIT_OK ||
        (st = check_k(K, fn, "K")) != KBIT_OK ||
        (st = check_family(device, -1, fn)) != KBIT_OK)
        return st;
    if (weight == NULL)
        return kbit_error(KBIT_EINVAL, "%s: weight is NULL", fn);
    kbit_int8_weight *w = calloc(1, sizeof *w);
    if (w == NULL)
        return kbit_error(KBIT_ENOMEM, "%s: out of host memory", fn);
    w->device = device;
    if ((st = weight_fill(w, &v, fn)) != KBIT_OK) {
        weight_free(w);
        return st;
    }
    w->view = (weight_view){ .CB = w->CB, .SCB = w->SCB, .N = N, .K = K,
                             .prepared = w->driver_weight };
    *weight = w;
    return KBIT_OK;
}

KBIT_API size_t kbit_int8_weight_bytes(const kbit_int8_weight *weight)
{
    return weight == NULL ? 0 : weight->bytes;
}

KBIT_API void kbit_int8_weight_destroy(kbit_int8_weight *weight)
{
    if (weight != NULL)
        weight_free(weight);
}
