/* tests/test_gemm4_bad.c - the 4-bit matmul functions with bad arguments:
 * the right status, a kbit_last_error() naming the argument, and the output
 * (out, dA, or the prepared-weight handle) left untouched. Runs on the CPU
 * device (host memory). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "testutil.h"

#define SENTINEL 0xc3
#define W_N 8
#define W_K 64
#define ROWS 2
#define BUF 4096

static kbit_device *dev;
static unsigned char *a_buf, *out_buf, *bias_buf, *packed;
static kbit_quant_state good;
static kbit_gemm4_weight *const NO_WEIGHT = (kbit_gemm4_weight *)(uintptr_t)0x1234;
static kbit_gemm4_weight *weight_out;

static void arm(void)
{
    memset(out_buf, SENTINEL, BUF);
    weight_out = NO_WEIGHT;
}

static int untouched(void)
{
    for (size_t i = 0; i < BUF; i++)
        if (out_buf[i] != SENTINEL)
            return 0;
    return weight_out == NO_WEIGHT;
}

static void expect(kbit_status st, kbit_status want, const char *needle, const char *what)
{
    expect_failure(st, want, needle, untouched(), what);
    arm();
}

static kbit_status fwd(kbit_device *d, const void *A, kbit_dtype dt, int64_t M,
                       const uint8_t *p, const kbit_quant_state *s, const void *bias, void *out)
{
    return kbit_gemm_4bit(d, A, dt, M, p, s, bias, out);
}

static void forward_cases(void)
{
    kbit_status st = fwd(dev, a_buf, KBIT_F32, ROWS, packed, &good, bias_buf, out_buf);
    tap_ok(st == KBIT_OK && !untouched(), "a good forward call works and writes out");
    arm();

    expect(fwd(NULL, a_buf, KBIT_F32, ROWS, packed, &good, NULL, out_buf), KBIT_EINVAL,
           "device", "forward, device NULL");
    expect(fwd(dev, NULL, KBIT_F32, ROWS, packed, &good, NULL, out_buf), KBIT_EINVAL, "A",
           "forward, A NULL");
    expect(fwd(dev, a_buf, KBIT_F32, ROWS, NULL, &good, NULL, out_buf), KBIT_EINVAL, "packed",
           "forward, packed NULL");
    expect(fwd(dev, a_buf, KBIT_F32, ROWS, packed, NULL, NULL, out_buf), KBIT_EINVAL, "state",
           "forward, state NULL");
    expect(fwd(dev, a_buf, KBIT_F32, ROWS, packed, &good, NULL, NULL), KBIT_EINVAL, "out",
           "forward, out NULL");
    expect(fwd(dev, a_buf, KBIT_F32, -1, packed, &good, NULL, out_buf), KBIT_EINVAL, "M",
           "forward, M = -1");
    expect(fwd(dev, a_buf, KBIT_F32, INT64_MAX / 4, packed, &good, NULL, out_buf),
           KBIT_EOVERFLOW, "M", "forward, M overflowing the element count");
    expect(fwd(dev, a_buf, KBIT_U8, ROWS, packed, &good, NULL, out_buf), KBIT_EINVAL, "dtype",
           "forward, dtype U8");
    expect(fwd(dev, a_buf, (kbit_dtype)99, ROWS, packed, &good, NULL, out_buf), KBIT_EINVAL,
           "dtype", "forward, dtype 99");
    expect(fwd(dev, a_buf + 1, KBIT_F32, ROWS, packed, &good, NULL, out_buf), KBIT_EINVAL, "A",
           "forward, A misaligned");
    expect(fwd(dev, a_buf, KBIT_BF16, ROWS, packed, &good, NULL, out_buf + 1), KBIT_EINVAL,
           "out", "forward, out misaligned (bf16)");
    expect(fwd(dev, a_buf, KBIT_F32, ROWS, packed, &good, bias_buf + 2, out_buf), KBIT_EINVAL,
           "bias", "forward, bias misaligned");

    kbit_quant_state s = good;
    s.ndim = 1;
    s.shape[0] = W_N * W_K;
    expect(fwd(dev, a_buf, KBIT_F32, ROWS, packed, &s, NULL, out_buf), KBIT_EINVAL, "ndim",
           "forward, 1-D state");
    s = good;
    s.ndim = 3;
    s.shape[0] = 2, s.shape[1] = W_N / 2, s.shape[2] = W_K;
    expect(fwd(dev, a_buf, KBIT_F32, ROWS, packed, &s, NULL, out_buf), KBIT_EINVAL, "ndim",
           "forward, 3-D state");
    s = good;
    s.shape[1] = W_K + 8; /* K no longer matches numel */
    expect(fwd(dev, a_buf, KBIT_F32, ROWS, packed, &s, NULL, out_buf), KBIT_EINVAL, "numel",
           "forward, shape inconsistent with numel");
    s = good;
    s.nblocks = 3;
    expect(fwd(dev, a_buf, KBIT_F32, ROWS, packed, &s, NULL, out_buf), KBIT_EINVAL, "nblocks",
           "forward, nblocks inconsistent with the blocksize");
    s = good;
    s.blocksize = 48;
    expect(fwd(dev, a_buf, KBIT_F32, ROWS, packed, &s, NULL, out_buf), KBIT_EINVAL, "blocksize",
           "forward, blocksize 48");
    s = good;
    s.quant_type = (kbit_quant_type)7;
    expect(fwd(dev, a_buf, KBIT_F32, ROWS, packed, &s, NULL, out_buf), KBIT_EINVAL, "type",
           "forward, quant_type 7");
    s = good;
    s.absmax = NULL;
    expect(fwd(dev, a_buf, KBIT_F32, ROWS, packed, &s, NULL, out_buf), KBIT_EINVAL,
           "state->absmax", "forward, state->absmax NULL");
    s = good;
    s.nested = 1;
    s.nblocks2 = 1;
    s.blocksize2 = 128;
    expect(fwd(dev, a_buf, KBIT_F32, ROWS, packed, &s, NULL, out_buf), KBIT_EINVAL, "blocksize2",
           "forward, nested state with blocksize2 128");
    s = good;
    s.nested = 1;
    s.nblocks2 = 1;
    s.blocksize2 = 256;
    s.absmax2 = NULL;
    expect(fwd(dev, a_buf, KBIT_F32, ROWS, packed, &s, NULL, out_buf), KBIT_EINVAL,
           "state->absmax2", "forward, nested state without absmax2");
}

static void backward_cases(void)
{
    kbit_status st = kbit_gemm_4bit_backward(dev, a_buf, KBIT_F32, ROWS, packed, &good, out_buf);
    tap_ok(st == KBIT_OK && !untouched(), "a good backward call works and writes dA");
    arm();
    expect(kbit_gemm_4bit_backward(dev, NULL, KBIT_F32, ROWS, packed, &good, out_buf),
           KBIT_EINVAL, "dout", "backward, dout NULL");
    expect(kbit_gemm_4bit_backward(dev, a_buf, KBIT_F32, ROWS, packed, &good, NULL), KBIT_EINVAL,
           "dA", "backward, dA NULL");
    expect(kbit_gemm_4bit_backward(dev, a_buf, KBIT_F16, ROWS, packed, &good, out_buf + 1),
           KBIT_EINVAL, "dA", "backward, dA misaligned (f16)");
    expect(kbit_gemm_4bit_backward(dev, a_buf, KBIT_I32, ROWS, packed, &good, out_buf),
           KBIT_EINVAL, "dtype", "backward, dtype I32");
    kbit_quant_state s = good;
    s.ndim = 1;
    s.shape[0] = W_N * W_K;
    expect(kbit_gemm_4bit_backward(dev, a_buf, KBIT_F32, ROWS, packed, &s, out_buf), KBIT_EINVAL,
           "ndim", "backward, 1-D state");
}

static void prepared_cases(void)
{
    expect(kbit_gemm_4bit_prepare(dev, packed, &good, NULL), KBIT_EINVAL, "weight",
           "prepare, weight NULL");
    kbit_quant_state s = good;
    s.ndim = 1;
    s.shape[0] = W_N * W_K;
    expect(kbit_gemm_4bit_prepare(dev, packed, &s, &weight_out), KBIT_EINVAL, "ndim",
           "prepare, 1-D state");
    expect(kbit_gemm_4bit_prepare(dev, NULL, &good, &weight_out), KBIT_EINVAL, "packed",
           "prepare, packed NULL");
    expect(kbit_gemm_4bit_prepared(dev, a_buf, KBIT_F32, ROWS, NULL, NULL, out_buf), KBIT_EINVAL,
           "weight", "forward, prepared weight NULL");
    expect(kbit_gemm_4bit_backward_prepared(dev, a_buf, KBIT_F32, ROWS, NULL, out_buf),
           KBIT_EINVAL, "weight", "backward, prepared weight NULL");

    kbit_gemm4_weight *w = NULL;
    kbit_status st = kbit_gemm_4bit_prepare(dev, packed, &good, &w);
    size_t want = W_N * W_K / 2 + (size_t)good.nblocks * 4;
    tap_ok(st == KBIT_OK && kbit_gemm_4bit_weight_bytes(w) == want,
           "a prepared weight reports its size (%zu bytes = packed + fp32 absmax)",
           kbit_gemm_4bit_weight_bytes(w));
    tap_ok(kbit_gemm_4bit_weight_bytes(NULL) == 0, "the size of a NULL weight is 0");
    kbit_device *other = NULL;
    if (cpu_open_isa(NULL, &other) != KBIT_OK)
        tap_bail("second cpu device: %s", kbit_last_error());
    arm();
    expect(kbit_gemm_4bit_prepared(other, a_buf, KBIT_F32, ROWS, w, NULL, out_buf), KBIT_EINVAL,
           "another device", "forward, weight prepared on another device");
    expect(kbit_gemm_4bit_prepared(dev, a_buf, KBIT_F32, ROWS, w, bias_buf + 1, out_buf),
           KBIT_EINVAL, "bias", "forward prepared, bias misaligned");
    expect(kbit_gemm_4bit_backward_prepared(dev, a_buf, KBIT_BF16, -3, w, out_buf), KBIT_EINVAL,
           "M", "backward prepared, M = -3");
    kbit_device_close(other);
    kbit_gemm_4bit_weight_destroy(w);
    kbit_gemm_4bit_weight_destroy(NULL);
}

int main(void)
{
    if (cpu_open_isa(NULL, &dev) != KBIT_OK)
        tap_bail("cpu device: %s", kbit_last_error());
    a_buf = aligned_alloc(64, BUF);
    out_buf = aligned_alloc(64, BUF);
    bias_buf = aligned_alloc(64, BUF);
    packed = aligned_alloc(64, BUF);
    float *x = aligned_alloc(64, W_N * W_K * 4);
    if (!a_buf || !out_buf || !bias_buf || !packed || !x)
        tap_bail("out of memory");
    rng r;
    rng_seed(&r, 3);
    for (int i = 0; i < W_N * W_K; i++)
        x[i] = (float)rng_normal(&r);
    memcpy(a_buf, x, ROWS * W_K * 4);
    memcpy(bias_buf, x, W_N * 4);
    int64_t shape[2] = { W_N, W_K };
    if (kbit_quant_state_init(&good, KBIT_NF4, KBIT_F32, 2, shape, 64, 0) != KBIT_OK ||
        kbit_quant_state_alloc(dev, &good) != KBIT_OK ||
        kbit_quantize_4bit_state(dev, x, packed, &good) != KBIT_OK)
        tap_bail("setting up the weight: %s", kbit_last_error());
    arm();

    forward_cases();
    backward_cases();
    prepared_cases();

    kbit_quant_state_release(dev, &good);
    free(x);
    free(a_buf);
    free(out_buf);
    free(bias_buf);
    free(packed);
    kbit_device_close(dev);
    return tap_done();
}
