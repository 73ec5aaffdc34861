/* tests/oclgrind_ops.c - runs one small case of every op of the OpenCL
 * driver on opencl:0, for tests/test-oclgrind.sh, which runs this program
 * under oclgrind --data-races and reads oclgrind's reports: races,
 * out-of-bounds accesses, divergent barriers. The NUMBERS are not checked
 * here (oclgrind's are not the reference's: kbit conformance on PoCL checks
 * them); an op that fails to launch is a failure (exit status 1).
 *
 * One entry of `ops` per op; together they must launch every kernel of
 * backends/opencl/ops.c's kernel_names[] (the script checks that from
 * oclgrind's per-kernel instruction counts). Sizes are small: oclgrind is
 * thousands of times slower than PoCL; they still end in a partial block
 * and take more than one work-group. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devmem.h"
#include "kbit.h"

#define N 1027 /* 17 blocks of 64 (the last partial, n odd): 3 work-groups */
#define BS 64

static float x[N];

static kbit_status quant4(kbit_device *d)
{
    float *dx = dev_upload(d, x, sizeof x);
    uint8_t *packed = dev_alloc(d, (N + 1) / 2);
    float *absmax = dev_alloc(d, (N + BS - 1) / BS * 4);
    float *out = dev_alloc(d, sizeof x);
    kbit_status st = kbit_quantize_4bit(d, KBIT_NF4, KBIT_F32, dx, N, BS, packed, absmax);
    if (st == KBIT_OK)
        st = kbit_dequantize_4bit(d, KBIT_NF4, packed, absmax, N, BS, KBIT_F32, out);
    dev_free(d, dx);
    dev_free(d, packed);
    dev_free(d, absmax);
    dev_free(d, out);
    return st;
}

static kbit_status quant8(kbit_device *d)
{
    const float *code = kbit_dynamic_map(KBIT_MAP_SIGNED);
    float *dx = dev_upload(d, x, sizeof x);
    uint8_t *q = dev_alloc(d, N);
    float *absmax = dev_alloc(d, (N + BS - 1) / BS * 4);
    float *out = dev_alloc(d, sizeof x);
    kbit_status st = kbit_quantize_8bit(d, KBIT_F32, dx, N, BS, code, q, absmax);
    if (st == KBIT_OK)
        st = kbit_dequantize_8bit(d, q, absmax, N, BS, code, KBIT_F32, out);
    dev_free(d, dx);
    dev_free(d, q);
    dev_free(d, absmax);
    dev_free(d, out);
    return st;
}

/* The nested absmax: block_sums and pairsum (the mean), the centred 8-bit
 * quantize, and the dequantize with the offset added. */
static kbit_status nested(kbit_device *d)
{
    const int64_t nblocks = 300; /* two leaves of 256: a pairsum tree */
    float *a = dev_upload(d, x, (size_t)nblocks * 4);
    uint8_t *q = dev_alloc(d, (size_t)nblocks);
    float *a2 = dev_alloc(d, 2 * 4);
    float *out = dev_alloc(d, (size_t)nblocks * 4);
    float offset = 0.0f;
    kbit_status st = kbit_nested_quantize(d, a, nblocks, q, a2, &offset);
    if (st == KBIT_OK)
        st = kbit_nested_dequantize(d, q, a2, NULL, offset, nblocks, out);
    dev_free(d, a);
    dev_free(d, q);
    dev_free(d, a2);
    dev_free(d, out);
    return st;
}

/* GEMM4: an NF4 weight of N x K = 3 x 77 (K not a multiple of 32, blocks of
 * 64 across rows), forward with a bias (M x N = 9 results: two groups of 8
 * dot32 slots) and backward (M x K = 77 results: ten groups). */
static kbit_status gemm4(kbit_device *d)
{
    enum { M = 3, GN = 3, GK = 77 };
    const int64_t shape[2] = {GN, GK};
    kbit_quant_state st;
    kbit_status s = kbit_quant_state_init(&st, KBIT_NF4, KBIT_F32, 2, shape, BS, 0);
    if (s != KBIT_OK || (s = kbit_quant_state_alloc(d, &st)) != KBIT_OK)
        return s;
    float *w = dev_upload(d, x, (size_t)GN * GK * 4);
    uint8_t *packed = dev_alloc(d, (GN * GK + 1) / 2);
    float *a = dev_upload(d, x + 100, (size_t)M * GK * 4);
    float *bias = dev_upload(d, x + 500, GN * 4);
    float *out = dev_alloc(d, M * GN * 4);
    float *dout = dev_upload(d, x + 700, M * GN * 4);
    float *da = dev_alloc(d, (size_t)M * GK * 4);
    s = kbit_quantize_4bit_state(d, w, packed, &st);
    if (s == KBIT_OK)
        s = kbit_gemm_4bit(d, a, KBIT_F32, M, packed, &st, bias, out);
    if (s == KBIT_OK)
        s = kbit_gemm_4bit_backward(d, dout, KBIT_F32, M, packed, &st, da);
    kbit_sync(d);
    kbit_quant_state_release(d, &st);
    dev_free(d, w);
    dev_free(d, packed);
    dev_free(d, a);
    dev_free(d, bias);
    dev_free(d, out);
    dev_free(d, dout);
    dev_free(d, da);
    return s;
}

/* LLM.int8(): the weight quantized (quant_rows), the forward with a
 * threshold (clear_mask, quant_rows, compact, zero_cols, matmul over two
 * 16 x 16 tiles and two k slices of 64, the second partial, gather,
 * mm_dequant with a bias, outlier_add), dequantize_weight and the
 * backward. X has outliers at columns 5 and 23 (above the threshold 6). */
static kbit_status int8(kbit_device *d)
{
    enum { M = 3, IK = 70, IN = 17 };
    static float X[M * IK], W[IN * IK];
    for (int i = 0; i < M * IK; i++)
        X[i] = x[i] * (i % IK == 5 || i % IK == 23 ? 10.0f : 0.5f);
    for (int i = 0; i < IN * IK; i++)
        W[i] = x[i % N] - 1.5f;
    float *dX = dev_upload(d, X, sizeof X);
    float *dW = dev_upload(d, W, sizeof W);
    int8_t *CB = dev_alloc(d, (size_t)IN * IK);
    float *SCB = dev_alloc(d, IN * 4);
    float *bias = dev_upload(d, x + 900, IN * 4);
    float *Y = dev_alloc(d, M * IN * 4);
    float *Wd = dev_alloc(d, (size_t)IN * IK * 4);
    float *dgrad = dev_alloc(d, (size_t)M * IK * 4);
    kbit_status s = kbit_int8_quantize_weight(d, KBIT_F32, dW, IN, IK, CB, SCB);
    if (s == KBIT_OK)
        s = kbit_int8_linear_forward(d, KBIT_F32, dX, M, IK, CB, SCB, IN, 6.0f, bias, Y);
    if (s == KBIT_OK)
        s = kbit_int8_dequantize_weight(d, CB, SCB, IN, IK, KBIT_F32, Wd);
    if (s == KBIT_OK)
        s = kbit_int8_linear_backward(d, KBIT_F32, Y, M, IN, CB, SCB, IK, dgrad);
    kbit_sync(d);
    dev_free(d, dX);
    dev_free(d, dW);
    dev_free(d, CB);
    dev_free(d, SCB);
    dev_free(d, bias);
    dev_free(d, Y);
    dev_free(d, Wd);
    dev_free(d, dgrad);
    return s;
}

/* One step of an optimizer on n = 600 elements (three groups, a partial
 * 256-element block). */
static kbit_status optim_run(kbit_device *d, kbit_optim_kind kind, int bits, float max_unorm,
                             int percentile)
{
    enum { ON = 600 };
    kbit_optim_config c;
    kbit_status s = kbit_optim_config_default(kind, &c);
    if (s != KBIT_OK)
        return s;
    c.state_bits = bits;
    c.min_8bit_size = 0;
    c.max_unorm = max_unorm;
    c.percentile_clipping = percentile;
    kbit_optim_state *state = NULL;
    if ((s = kbit_optim_state_create(d, &c, ON, KBIT_F32, &state)) != KBIT_OK)
        return s;
    float *p = dev_upload(d, x, ON * 4);
    float *g = dev_upload(d, x + 200, ON * 4);
    s = kbit_optim_step(d, &c, state, p, g, KBIT_F32, 1.0f);
    kbit_sync(d);
    kbit_optim_state_release(state);
    dev_free(d, p);
    dev_free(d, g);
    return s;
}

/* OPTIM: step32 of ADAM with max_unorm and percentile clipping (sums of
 * g^2, p^2, u^2; scales of both phases), step8 of ADAM (two states) and
 * of LION (one). */
static kbit_status optim(kbit_device *d)
{
    kbit_status s = optim_run(d, KBIT_OPTIM_ADAM, 32, 1.0f, 10);
    if (s == KBIT_OK)
        s = optim_run(d, KBIT_OPTIM_ADAM, 8, 0.0f, 100);
    if (s == KBIT_OK)
        s = optim_run(d, KBIT_OPTIM_LION, 8, 0.0f, 100);
    return s;
}

static const struct {
    const char *name;
    kbit_status (*run)(kbit_device *d);
} ops[] = {
    {"quant4 quantize + dequantize", quant4},
    {"quant8 quantize + dequantize", quant8},
    {"nested absmax: block_sums, pairsum, centred quantize_8bit, dequantize + offset", nested},
    {"gemm4 forward (bias) + backward", gemm4},
    {"int8 quantize_weight, linear_forward (outliers), dequantize_weight, linear_backward", int8},
    {"optim step32 (max_unorm, percentile clipping), step8 adam + lion", optim},
};

int main(void)
{
    for (int i = 0; i < N; i++) /* positive: also valid absmax values for nested */
        x[i] = (float)((i * 37) % 101 + 1) * 0.03125f;
    kbit_device *d = NULL;
    if (kbit_device_open("opencl:0", &d) != KBIT_OK) {
        fprintf(stderr, "oclgrind_ops: opencl:0: %s\n", kbit_last_error());
        return 77;
    }
    int failed = 0;
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        kbit_status st = ops[k].run(d);
        if (st == KBIT_OK)
            printf("ran: %s\n", ops[k].name);
        else {
            printf("FAILED: %s: %s\n", ops[k].name, kbit_last_error());
            failed = 1;
        }
    }
    if (kbit_sync(d) != KBIT_OK) {
        printf("FAILED: sync: %s\n", kbit_last_error());
        failed = 1;
    }
    kbit_device_close(d);
    return failed;
}
