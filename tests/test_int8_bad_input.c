/* tests/test_int8_bad_input.c - the LLM.int8() functions with bad arguments:
 * the right status, a kbit_last_error() naming the argument or condition,
 * and every output left untouched (outputs are filled with a sentinel before
 * each call and checked after it). Runs on the CPU device. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "testutil.h"

#define SENTINEL 0xc3
#define BYTES 4096

static kbit_device *dev;
static unsigned char *in, *o1, *o2, *o3;
static int64_t count_out;

static unsigned char *buffer(void)
{
    unsigned char *p = aligned_alloc(64, BYTES);
    if (p == NULL)
        tap_bail("out of memory");
    return p;
}

static void arm(void)
{
    error_plant();
    memset(o1, SENTINEL, BYTES);
    memset(o2, SENTINEL, BYTES);
    memset(o3, SENTINEL, BYTES);
    count_out = -77;
}

static int untouched(void)
{
    for (size_t i = 0; i < BYTES; i++)
        if (o1[i] != SENTINEL || o2[i] != SENTINEL || o3[i] != SENTINEL)
            return 0;
    return count_out == -77;
}

static void expect(kbit_status st, kbit_status want, const char *needle, const char *call)
{
    expect_failure(st, want, needle, untouched(), call);
    arm();
}

static void expect_ok(kbit_status st, const char *call)
{
    expect_success(st, call);
    arm();
}

#define I8(p) ((int8_t *)(void *)(p))
#define F(p) ((float *)(void *)(p))
#define I32(p) ((int32_t *)(void *)(p))
#define I64(p) ((int64_t *)(void *)(p))

static void bad_vq(void)
{
    const char *f = "kbit_int8_vectorwise_quant";
    char c[160];
#define VQ(dv, dt, a, r, cl, thr, ca, sca, oc, n) \
    kbit_int8_vectorwise_quant(dv, dt, a, r, cl, thr, ca, sca, oc, n)
    expect_ok(VQ(dev, KBIT_F32, in, 4, 16, 6.0f, I8(o1), F(o2), I64(o3), &count_out),
              "kbit_int8_vectorwise_quant baseline");
    expect_ok(VQ(dev, KBIT_F16, in, 4, 16, 0.0f, I8(o1), F(o2), NULL, NULL),
              "kbit_int8_vectorwise_quant threshold 0 without an outlier list");
    snprintf(c, sizeof c, "%s(device NULL)", f);
    expect(VQ(NULL, KBIT_F32, in, 4, 16, 6.0f, I8(o1), F(o2), I64(o3), &count_out), KBIT_EINVAL,
           "device", c);
    expect(VQ(dev, KBIT_F32, in, 4, 16, -1.0f, I8(o1), F(o2), I64(o3), &count_out), KBIT_EINVAL,
           "threshold", "kbit_int8_vectorwise_quant(threshold -1)");
    expect(VQ(dev, KBIT_F32, in, 4, 16, NAN, I8(o1), F(o2), I64(o3), &count_out), KBIT_EINVAL,
           "threshold", "kbit_int8_vectorwise_quant(threshold NaN)");
    expect(VQ(dev, KBIT_I8, in, 4, 16, 6.0f, I8(o1), F(o2), I64(o3), &count_out), KBIT_EINVAL,
           "dtype", "kbit_int8_vectorwise_quant(dtype I8)");
    expect(VQ(dev, KBIT_F32, NULL, 4, 16, 6.0f, I8(o1), F(o2), I64(o3), &count_out), KBIT_EINVAL,
           "A", "kbit_int8_vectorwise_quant(A NULL)");
    expect(VQ(dev, KBIT_F32, in, 4, 16, 6.0f, NULL, F(o2), I64(o3), &count_out), KBIT_EINVAL,
           "CA", "kbit_int8_vectorwise_quant(CA NULL)");
    expect(VQ(dev, KBIT_F32, in, 4, 16, 6.0f, I8(o1), NULL, I64(o3), &count_out), KBIT_EINVAL,
           "SCA", "kbit_int8_vectorwise_quant(SCA NULL)");
    expect(VQ(dev, KBIT_F32, in, 4, 16, 6.0f, I8(o1), F(o2), NULL, &count_out), KBIT_EINVAL,
           "outlier_cols", "kbit_int8_vectorwise_quant(outlier_cols NULL, threshold 6)");
    expect(VQ(dev, KBIT_F32, in, 4, 16, 6.0f, I8(o1), F(o2), I64(o3), NULL), KBIT_EINVAL,
           "n_outliers", "kbit_int8_vectorwise_quant(n_outliers NULL, threshold 6)");
    expect(VQ(dev, KBIT_F32, in, -1, 16, 6.0f, I8(o1), F(o2), I64(o3), &count_out), KBIT_EINVAL,
           "rows", "kbit_int8_vectorwise_quant(rows -1)");
    expect(VQ(dev, KBIT_F32, in, 4, -16, 6.0f, I8(o1), F(o2), I64(o3), &count_out), KBIT_EINVAL,
           "cols", "kbit_int8_vectorwise_quant(cols -16)");
    expect(VQ(dev, KBIT_F32, in, (int64_t)1 << 40, (int64_t)1 << 40, 6.0f, I8(o1), F(o2),
              I64(o3), &count_out),
           KBIT_EOVERFLOW, "rows", "kbit_int8_vectorwise_quant(2^40 x 2^40)");
    expect(VQ(dev, KBIT_F32, in + 2, 4, 16, 6.0f, I8(o1), F(o2), I64(o3), &count_out),
           KBIT_EINVAL, "A", "kbit_int8_vectorwise_quant(f32 A misaligned)");
    expect(VQ(dev, KBIT_F32, in, 4, 16, 6.0f, I8(o1), F(o2 + 1), I64(o3), &count_out),
           KBIT_EINVAL, "SCA", "kbit_int8_vectorwise_quant(SCA misaligned)");
    expect(VQ(dev, KBIT_F32, in, 4, 16, 6.0f, I8(o1), F(o2), I64(o3 + 4), &count_out),
           KBIT_EINVAL, "outlier_cols", "kbit_int8_vectorwise_quant(outlier_cols misaligned)");
#undef VQ
}

static void bad_weight(void)
{
    expect_ok(kbit_int8_quantize_weight(dev, KBIT_BF16, in, 8, 16, I8(o1), F(o2)),
              "kbit_int8_quantize_weight baseline");
    expect(kbit_int8_quantize_weight(NULL, KBIT_BF16, in, 8, 16, I8(o1), F(o2)), KBIT_EINVAL,
           "device", "kbit_int8_quantize_weight(device NULL)");
    expect(kbit_int8_quantize_weight(dev, KBIT_U8, in, 8, 16, I8(o1), F(o2)), KBIT_EINVAL,
           "dtype", "kbit_int8_quantize_weight(dtype U8)");
    expect(kbit_int8_quantize_weight(dev, KBIT_F32, NULL, 8, 16, I8(o1), F(o2)), KBIT_EINVAL,
           "W", "kbit_int8_quantize_weight(W NULL)");
    expect(kbit_int8_quantize_weight(dev, KBIT_F32, in, 8, 16, NULL, F(o2)), KBIT_EINVAL, "CB",
           "kbit_int8_quantize_weight(CB NULL)");
    expect(kbit_int8_quantize_weight(dev, KBIT_F32, in, 8, 16, I8(o1), NULL), KBIT_EINVAL, "SCB",
           "kbit_int8_quantize_weight(SCB NULL)");
    expect(kbit_int8_quantize_weight(dev, KBIT_F32, in, -8, 16, I8(o1), F(o2)), KBIT_EINVAL,
           "rows", "kbit_int8_quantize_weight(rows -8)");
    expect(kbit_int8_quantize_weight(dev, KBIT_F16, in + 1, 8, 16, I8(o1), F(o2)), KBIT_EINVAL,
           "W", "kbit_int8_quantize_weight(f16 W misaligned)");
    expect_ok(kbit_int8_dequantize_weight(dev, I8(in), F(in), 8, 16, KBIT_F16, o1),
              "kbit_int8_dequantize_weight baseline");
    expect(kbit_int8_dequantize_weight(dev, I8(in), F(in), 8, 16, KBIT_I32, o1), KBIT_EINVAL,
           "out_dtype", "kbit_int8_dequantize_weight(out_dtype I32)");
    expect(kbit_int8_dequantize_weight(dev, NULL, F(in), 8, 16, KBIT_F32, o1), KBIT_EINVAL, "CB",
           "kbit_int8_dequantize_weight(CB NULL)");
    expect(kbit_int8_dequantize_weight(dev, I8(in), NULL, 8, 16, KBIT_F32, o1), KBIT_EINVAL,
           "SCB", "kbit_int8_dequantize_weight(SCB NULL)");
    expect(kbit_int8_dequantize_weight(dev, I8(in), F(in), 8, 16, KBIT_F32, NULL), KBIT_EINVAL,
           "out", "kbit_int8_dequantize_weight(out NULL)");
    expect(kbit_int8_dequantize_weight(dev, I8(in), F(in), 8, -1, KBIT_F32, o1), KBIT_EINVAL,
           "cols", "kbit_int8_dequantize_weight(cols -1)");
}

static void bad_matmul(void)
{
    expect_ok(kbit_int8_matmul(dev, I8(in), I8(in), 4, 8, 64, I32(o1)),
              "kbit_int8_matmul baseline");
    expect_ok(kbit_int8_matmul(dev, NULL, NULL, 0, 0, 64, NULL),
              "kbit_int8_matmul M = N = 0 with NULL pointers");
    expect(kbit_int8_matmul(NULL, I8(in), I8(in), 4, 8, 64, I32(o1)), KBIT_EINVAL, "device",
           "kbit_int8_matmul(device NULL)");
    expect(kbit_int8_matmul(dev, NULL, I8(in), 4, 8, 64, I32(o1)), KBIT_EINVAL, "A",
           "kbit_int8_matmul(A NULL)");
    expect(kbit_int8_matmul(dev, I8(in), NULL, 4, 8, 64, I32(o1)), KBIT_EINVAL, "B",
           "kbit_int8_matmul(B NULL)");
    expect(kbit_int8_matmul(dev, I8(in), I8(in), 4, 8, 64, NULL), KBIT_EINVAL, "out",
           "kbit_int8_matmul(out NULL)");
    expect(kbit_int8_matmul(dev, I8(in), I8(in), 4, 8, 64, I32(o1 + 2)), KBIT_EINVAL, "out",
           "kbit_int8_matmul(out misaligned)");
    expect(kbit_int8_matmul(dev, I8(in), I8(in), -4, 8, 64, I32(o1)), KBIT_EINVAL, "M",
           "kbit_int8_matmul(M -4)");
    expect(kbit_int8_matmul(dev, I8(in), I8(in), 1, 1, KBIT_INT8_MAX_K + 1, I32(o1)),
           KBIT_EOVERFLOW, "K", "kbit_int8_matmul(K = 133144, overflowing int32)");
}

static void bad_mm_dequant(void)
{
    expect_ok(kbit_int8_mm_dequant(dev, I32(in), F(in), F(in), 4, 8, in, KBIT_F16, KBIT_BF16, o1),
              "kbit_int8_mm_dequant baseline");
    expect_ok(kbit_int8_mm_dequant(dev, I32(in), F(in), F(in), 4, 8, NULL, (kbit_dtype)99,
                                   KBIT_F32, o1),
              "kbit_int8_mm_dequant without bias ignores bias_dtype");
    expect(kbit_int8_mm_dequant(dev, I32(in), F(in), F(in), 4, 8, in, KBIT_I8, KBIT_F16, o1),
           KBIT_EINVAL, "bias_dtype", "kbit_int8_mm_dequant(bias_dtype I8)");
    expect(kbit_int8_mm_dequant(dev, I32(in), F(in), F(in), 4, 8, NULL, KBIT_F16, KBIT_I64, o1),
           KBIT_EINVAL, "out_dtype", "kbit_int8_mm_dequant(out_dtype I64)");
    expect(kbit_int8_mm_dequant(dev, NULL, F(in), F(in), 4, 8, NULL, KBIT_F16, KBIT_F16, o1),
           KBIT_EINVAL, "acc", "kbit_int8_mm_dequant(acc NULL)");
    expect(kbit_int8_mm_dequant(dev, I32(in), NULL, F(in), 4, 8, NULL, KBIT_F16, KBIT_F16, o1),
           KBIT_EINVAL, "SCA", "kbit_int8_mm_dequant(SCA NULL)");
    expect(kbit_int8_mm_dequant(dev, I32(in), F(in), NULL, 4, 8, NULL, KBIT_F16, KBIT_F16, o1),
           KBIT_EINVAL, "SCB", "kbit_int8_mm_dequant(SCB NULL)");
    expect(kbit_int8_mm_dequant(dev, I32(in), F(in), F(in), 4, 8, in + 1, KBIT_F16, KBIT_F16, o1),
           KBIT_EINVAL, "bias", "kbit_int8_mm_dequant(bias misaligned)");
    expect(kbit_int8_mm_dequant(dev, I32(in), F(in), F(in), 4, -8, NULL, KBIT_F16, KBIT_F16, o1),
           KBIT_EINVAL, "N", "kbit_int8_mm_dequant(N -8)");
}

static void bad_forward(void)
{
#define FW(dv, dt, x, M, K, cb, scb, N, thr, bias, y) \
    kbit_int8_linear_forward(dv, dt, x, M, K, cb, scb, N, thr, bias, y)
    expect_ok(FW(dev, KBIT_F16, in, 4, 32, I8(in), F(in), 8, 6.0f, in, o1),
              "kbit_int8_linear_forward baseline");
    expect(FW(NULL, KBIT_F16, in, 4, 32, I8(in), F(in), 8, 6.0f, in, o1), KBIT_EINVAL, "device",
           "kbit_int8_linear_forward(device NULL)");
    expect(FW(dev, KBIT_I32, in, 4, 32, I8(in), F(in), 8, 6.0f, in, o1), KBIT_EINVAL, "dtype",
           "kbit_int8_linear_forward(dtype I32)");
    expect(FW(dev, KBIT_F16, in, 4, 32, I8(in), F(in), 8, -0.5f, in, o1), KBIT_EINVAL,
           "threshold", "kbit_int8_linear_forward(threshold -0.5)");
    expect(FW(dev, KBIT_F16, in, 4, 32, I8(in), F(in), 8, NAN, in, o1), KBIT_EINVAL, "threshold",
           "kbit_int8_linear_forward(threshold NaN)");
    expect(FW(dev, KBIT_F16, NULL, 4, 32, I8(in), F(in), 8, 6.0f, in, o1), KBIT_EINVAL, "X",
           "kbit_int8_linear_forward(X NULL)");
    expect(FW(dev, KBIT_F16, in, 4, 32, NULL, F(in), 8, 6.0f, in, o1), KBIT_EINVAL, "CB",
           "kbit_int8_linear_forward(CB NULL)");
    expect(FW(dev, KBIT_F16, in, 4, 32, I8(in), NULL, 8, 6.0f, in, o1), KBIT_EINVAL, "SCB",
           "kbit_int8_linear_forward(SCB NULL)");
    expect(FW(dev, KBIT_F16, in, 4, 32, I8(in), F(in), 8, 6.0f, in, NULL), KBIT_EINVAL, "Y",
           "kbit_int8_linear_forward(Y NULL)");
    expect(FW(dev, KBIT_F32, in, 4, 32, I8(in), F(in), 8, 6.0f, in + 2, o1), KBIT_EINVAL, "bias",
           "kbit_int8_linear_forward(f32 bias misaligned)");
    expect(FW(dev, KBIT_F16, in, 4, -32, I8(in), F(in), 8, 6.0f, in, o1), KBIT_EINVAL, "K",
           "kbit_int8_linear_forward(K -32)");
    expect(FW(dev, KBIT_F16, in, 1, KBIT_INT8_MAX_K + 1, I8(in), F(in), 1, 6.0f, in, o1),
           KBIT_EOVERFLOW, "K", "kbit_int8_linear_forward(K = 133144, overflowing int32)");
#undef FW
    expect_ok(kbit_int8_linear_backward(dev, KBIT_BF16, in, 4, 8, I8(in), F(in), 32, o1),
              "kbit_int8_linear_backward baseline");
    expect(kbit_int8_linear_backward(dev, KBIT_U8, in, 4, 8, I8(in), F(in), 32, o1), KBIT_EINVAL,
           "dtype", "kbit_int8_linear_backward(dtype U8)");
    expect(kbit_int8_linear_backward(dev, KBIT_F32, NULL, 4, 8, I8(in), F(in), 32, o1),
           KBIT_EINVAL, "dOut", "kbit_int8_linear_backward(dOut NULL)");
    expect(kbit_int8_linear_backward(dev, KBIT_F32, in, 4, 8, NULL, F(in), 32, o1), KBIT_EINVAL,
           "CB", "kbit_int8_linear_backward(CB NULL)");
    expect(kbit_int8_linear_backward(dev, KBIT_F32, in, 4, 8, I8(in), F(in), 32, NULL),
           KBIT_EINVAL, "dX", "kbit_int8_linear_backward(dX NULL)");
    expect(kbit_int8_linear_backward(dev, KBIT_F32, in, 4, -8, I8(in), F(in), 32, o1),
           KBIT_EINVAL, "N", "kbit_int8_linear_backward(N -8)");
}

int main(void)
{
    if (kbit_device_open("cpu", &dev) != KBIT_OK)
        tap_bail("cannot open the CPU device: %s", kbit_last_error());
    in = buffer(), o1 = buffer(), o2 = buffer(), o3 = buffer();
    for (size_t i = 0; i < BYTES; i++)
        in[i] = (unsigned char)(i * 7 % 61); /* small finite values in every dtype */
    arm();
    bad_vq();
    bad_weight();
    bad_matmul();
    bad_mm_dequant();
    bad_forward();
    free(in), free(o1), free(o2), free(o3);
    kbit_device_close(dev);
    return tap_done();
}
