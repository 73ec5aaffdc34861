/* tests/test_aliasing.c - overlapping buffers (issue 14 point 10, kbit.h
 * "Aliasing"): every op refuses, with KBIT_EINVAL naming both buffers and
 * before writing anything, an output that shares memory with another buffer
 * of the call, whether at the same address (in place) or in part; buffers
 * that only touch are accepted. In-place quantization is refused too: on the
 * CPU it gives wrong codes as soon as two threads split the blocks (an
 * output block lands on input another thread has not read yet). The
 * optimizer step may take the parameter itself as the gradient (same
 * dtype), which gives the result of a separate copy. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "testutil.h"

#define ARENA (4 << 20)
#define N 4096 /* elements */

static kbit_device *dev;
static unsigned char *arena, *shadow;

/* A fresh arena: deterministic bytes everywhere (valid floats and codes). */
static void fill(void)
{
    for (size_t i = 0; i < ARENA; i += 4) {
        float v = (float)((int)(i / 4 % 97) - 48) * 0.03125f;
        memcpy(arena + i, &v, 4);
    }
    memcpy(shadow, arena, ARENA);
}

static void *at(size_t off)
{
    return arena + off;
}

/* A refused call: KBIT_EINVAL naming both buffers, the arena unchanged. */
static void refused(kbit_status st, const char *a, const char *b, const char *what)
{
    const char *m = kbit_last_error();
    int ok = st == KBIT_EINVAL && strstr(m, "overlap") && strstr(m, a) && strstr(m, b) &&
             memcmp(arena, shadow, ARENA) == 0;
    if (!tap_ok(ok, "%s: KBIT_EINVAL naming %s and %s, nothing written", what, a, b))
        tap_diag("got %s: \"%s\"; memory %s", kbit_strerror(st), m,
                 memcmp(arena, shadow, ARENA) == 0 ? "untouched" : "WRITTEN");
    fill();
}

static void accepted(kbit_status st, const char *what)
{
    if (!tap_ok(st == KBIT_OK, "%s: accepted", what))
        tap_diag("%s", kbit_last_error());
    fill();
}

static void quant(void)
{
    const size_t X = 0, P = 64 * 1024, A = 128 * 1024; /* x: N f32 = 16 KiB */
    refused(kbit_quantize_4bit(dev, KBIT_NF4, KBIT_F32, at(X), N, 64, at(X), at(A)), "x",
            "packed", "kbit_quantize_4bit in place (packed == x)");
    refused(kbit_quantize_4bit(dev, KBIT_NF4, KBIT_F32, at(X), N, 64, at(P), at(X + 8192)), "x",
            "absmax", "kbit_quantize_4bit, absmax inside x");
    refused(kbit_quantize_4bit(dev, KBIT_NF4, KBIT_F32, at(X), N, 64, at(P), at(P + 1024)),
            "packed", "absmax", "kbit_quantize_4bit, absmax inside packed");
    accepted(kbit_quantize_4bit(dev, KBIT_NF4, KBIT_F32, at(X), N, 64, at(N * 4), at(N * 4 + N / 2)),
             "kbit_quantize_4bit with packed right after x and absmax right after packed");
    refused(kbit_dequantize_4bit(dev, KBIT_NF4, at(P), at(A), N, 64, KBIT_F32, at(P)), "packed",
            "out", "kbit_dequantize_4bit in place (out == packed)");
    refused(kbit_dequantize_4bit(dev, KBIT_NF4, at(P), at(A), N, 64, KBIT_F16, at(A - 4096)),
            "absmax", "out", "kbit_dequantize_4bit, out over absmax in part");
    refused(kbit_quantize_8bit(dev, KBIT_F32, at(X), N, 256, NULL, at(X), at(A)), "x", "q",
            "kbit_quantize_8bit in place (q == x)");
    refused(kbit_dequantize_8bit(dev, at(P), at(A), N, 256, NULL, KBIT_F32, at(P - 4)), "q", "out",
            "kbit_dequantize_8bit, out over q");
    refused(kbit_nested_quantize(dev, at(A), 64, at(A + 128), at(P), (float[1]){ 0 }), "absmax",
            "qabsmax", "kbit_nested_quantize, qabsmax inside absmax");
    refused(kbit_nested_dequantize(dev, at(P), at(A), NULL, 0.0f, 64, at(A)), "absmax2",
            "absmax_out", "kbit_nested_dequantize, absmax_out == absmax2");

    kbit_quant_state s;
    const int64_t shape[2] = { 64, 64 };
    kbit_quant_state_init(&s, KBIT_NF4, KBIT_F32, 2, shape, 64, 1);
    s.absmax = at(A);
    s.absmax2 = at(A + 64);
    refused(kbit_quantize_4bit_state(dev, at(X), at(A + 32), &s), "packed", "state->absmax",
            "kbit_quantize_4bit_state, packed over the state's absmax");
    refused(kbit_dequantize_4bit_state(dev, at(P), &s, KBIT_F32, at(A - 4)), "state->absmax",
            "out", "kbit_dequantize_4bit_state, out over the state's absmax");
    /* the 4-bit matmul: A [8, 64] f32, out [8, 64] */
    refused(kbit_gemm_4bit(dev, at(X), KBIT_F32, 8, at(P), &s, NULL, at(X + 64)), "A", "out",
            "kbit_gemm_4bit, out over A");
    refused(kbit_gemm_4bit(dev, at(X), KBIT_F32, 8, at(P), &s, NULL, at(P)), "packed", "out",
            "kbit_gemm_4bit, out over the packed weight");
    refused(kbit_gemm_4bit_backward(dev, at(X), KBIT_F32, 8, at(P), &s, at(A + 32)),
            "state->absmax", "dA", "kbit_gemm_4bit_backward, dA over the state's absmax");
}

static void copy(void)
{
    refused(kbit_copy(dev, at(8), at(0), 64, KBIT_DEVICE_TO_DEVICE), "src", "dst",
            "kbit_copy, dst over src in part");
    accepted(kbit_copy(dev, at(64), at(0), 64, KBIT_DEVICE_TO_DEVICE),
             "kbit_copy into the bytes right after src");
}

static void int8(void)
{
    const size_t X = 0, CB = 256 * 1024, SCB = 512 * 1024, Y = 1024 * 1024;
    /* X [16, 256] f16, W [256, 256] */
    refused(kbit_int8_vectorwise_quant(dev, KBIT_F16, at(X), 16, 256, 0.0f, at(X), at(SCB), NULL,
                                       NULL),
            "A", "CA", "kbit_int8_vectorwise_quant in place (CA == A)");
    int64_t n_out = 0;
    refused(kbit_int8_vectorwise_quant(dev, KBIT_F16, at(X), 16, 256, 6.0f, at(CB), at(SCB),
                                       at(CB + 8), &n_out),
            "CA", "outlier_cols", "kbit_int8_vectorwise_quant, outlier_cols inside CA");
    refused(kbit_int8_quantize_weight(dev, KBIT_F32, at(X), 256, 256, at(CB), at(X + 64)), "W",
            "SCB", "kbit_int8_quantize_weight, SCB inside W");
    refused(kbit_int8_dequantize_weight(dev, at(CB), at(SCB), 256, 256, KBIT_F32, at(CB)), "CB",
            "out", "kbit_int8_dequantize_weight in place");
    refused(kbit_int8_matmul(dev, at(X), at(CB), 16, 256, 256, at(CB + 1024)), "B", "out",
            "kbit_int8_matmul, out inside B");
    refused(kbit_int8_mm_dequant(dev, at(Y), at(SCB), at(SCB + 1024), 16, 256, NULL, KBIT_F16,
                                 KBIT_F16, at(Y + 2)),
            "acc", "out", "kbit_int8_mm_dequant, out over acc");
    refused(kbit_int8_linear_forward(dev, KBIT_F16, at(X), 16, 256, at(CB), at(SCB), 256, 6.0f,
                                     NULL, at(X)),
            "X", "Y", "kbit_int8_linear_forward in place (Y == X)");
    refused(kbit_int8_linear_backward(dev, KBIT_F16, at(X), 16, 256, at(CB), at(SCB), 256,
                                      at(SCB + 256)),
            "SCB", "dX", "kbit_int8_linear_backward, dX over SCB");
    accepted(kbit_int8_linear_forward(dev, KBIT_F16, at(X), 16, 256, at(CB), at(SCB), 256, 6.0f,
                                      NULL, at(16 * 256 * 2)),
             "kbit_int8_linear_forward with Y right after X");
}

static void optim(void)
{
    kbit_optim_config c;
    kbit_optim_config_default(KBIT_OPTIM_ADAMW, &c);
    for (int bits = 32; bits >= 8; bits -= 24) {
        c.state_bits = bits;
        kbit_optim_state *s1 = NULL, *s2 = NULL;
        if (kbit_optim_state_create(dev, &c, N, KBIT_F32, &s1) != KBIT_OK ||
            kbit_optim_state_create(dev, &c, N, KBIT_F32, &s2) != KBIT_OK)
            tap_bail("optimizer state: %s", kbit_last_error());
        float *p = at(0), *q = at(N * 4), *g = at(2 * N * 4);
        memcpy(q, p, N * 4);
        int same = 1;
        kbit_status st = KBIT_OK;
        for (int step = 0; step < 3 && st == KBIT_OK; step++) {
            memcpy(g, q, N * 4); /* the gradient is the parameter, as a copy */
            st = kbit_optim_step(dev, &c, s1, q, g, KBIT_F32, 1.0f);
            if (st == KBIT_OK)
                st = kbit_optim_step(dev, &c, s2, p, p, KBIT_F32, 1.0f);
            same &= memcmp(p, q, N * 4) == 0;
        }
        tap_ok(st == KBIT_OK && same,
               "kbit_optim_step (%d-bit) with grad == param: the result of a separate copy",
               bits);
        fill();
        refused(kbit_optim_step(dev, &c, s1, at(0), at(8), KBIT_F32, 1.0f), "param", "grad",
                "kbit_optim_step, grad over param in part");
        kbit_optim_state *states[2] = { s1, s2 };
        void *params[2] = { at(0), at(N * 2) };
        const void *grads[2] = { at(4 * N * 4), at(5 * N * 4) };
        const kbit_dtype gd[2] = { KBIT_F32, KBIT_F32 };
        refused(kbit_optim_step_many(dev, &c, 2, states, params, grads, gd, 1.0f), "a parameter",
                "a parameter", "kbit_optim_step_many, two parameters overlapping");
        params[1] = at(8 * N * 4);
        grads[1] = at(N * 4 - 4);
        refused(kbit_optim_step_many(dev, &c, 2, states, params, grads, gd, 1.0f), "a parameter",
                "a gradient", "kbit_optim_step_many, one tensor's gradient over another's parameter");
        kbit_optim_state_release(s1);
        kbit_optim_state_release(s2);
    }
    /* a bf16 parameter is not its own f32 gradient */
    kbit_optim_state *s = NULL;
    if (kbit_optim_state_create(dev, &c, N, KBIT_BF16, &s) != KBIT_OK)
        tap_bail("optimizer state: %s", kbit_last_error());
    refused(kbit_optim_step(dev, &c, s, at(0), at(0), KBIT_F32, 1.0f), "param", "grad",
            "kbit_optim_step, a bf16 param as its own f32 grad");
    kbit_optim_state_release(s);
}

int main(void)
{
    if (kbit_device_open("cpu", &dev) != KBIT_OK)
        tap_bail("cpu: %s", kbit_last_error());
    kbit_device_set_threads(dev, 2);
    if (kbit_malloc(dev, ARENA, (void **)&arena) != KBIT_OK || (shadow = malloc(ARENA)) == NULL)
        tap_bail("out of memory");
    fill();
    quant();
    copy();
    int8();
    optim();
    kbit_free(dev, arena);
    free(shadow);
    kbit_device_close(dev);
    return tap_done();
}
