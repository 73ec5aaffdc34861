/* tests/test_bad_input.c - every public function of kbit.h with bad
 * arguments: the right status, a non-empty kbit_last_error() that names the
 * argument or condition, and outputs left untouched (every output buffer is
 * filled with a sentinel before the call and checked after it; inputs are
 * checked too). Runs on the CPU device, whose memory is host memory. */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "testutil.h"

#define SENTINEL 0xc3
#define N 256

static kbit_device *dev;

/* host buffers, 64-byte aligned; +8 bytes so that misaligned views stay inside */
static unsigned char *x_in, *packed, *absmax, *absmax2, *q, *out;
static unsigned char x_copy[N * 4 + 8];
static float code_ok[256], code_nan[256], code_desc[256];

static unsigned char *buffer(void)
{
    unsigned char *p = aligned_alloc(64, N * 4 + 64);
    if (p == NULL)
        tap_bail("out of memory");
    return p;
}

static void arm(void)
{
    error_plant();
    memset(packed, SENTINEL, N * 4 + 64);
    memset(absmax, SENTINEL, N * 4 + 64);
    memset(absmax2, SENTINEL, N * 4 + 64);
    memset(q, SENTINEL, N * 4 + 64);
    memset(out, SENTINEL, N * 4 + 64);
}

static int untouched_buf(const unsigned char *p)
{
    for (size_t i = 0; i < N * 4 + 64; i++)
        if (p[i] != SENTINEL)
            return 0;
    return 1;
}

static int untouched(void)
{
    return untouched_buf(packed) && untouched_buf(absmax) && untouched_buf(absmax2) &&
           untouched_buf(q) && untouched_buf(out) && memcmp(x_in, x_copy, sizeof x_copy) == 0;
}

/* The verdict for one bad call: status, message naming `needle`, no output. */
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

#define F(p) ((float *)(void *)(p))

static void bad_quantize_4bit(void)
{
    expect_ok(kbit_quantize_4bit(dev, KBIT_NF4, KBIT_F32, x_in, 100, 64, packed, F(absmax)),
              "kbit_quantize_4bit baseline");
    expect_ok(kbit_quantize_4bit(dev, KBIT_NF4, KBIT_F32, NULL, 0, 64, NULL, NULL),
              "kbit_quantize_4bit n = 0 with NULL pointers");
    expect(kbit_quantize_4bit(NULL, KBIT_NF4, KBIT_F32, x_in, 100, 64, packed, F(absmax)),
           KBIT_EINVAL, "device", "kbit_quantize_4bit(device NULL)");
    expect(kbit_quantize_4bit(dev, (kbit_quant_type)0, KBIT_F32, x_in, 100, 64, packed, F(absmax)),
           KBIT_EINVAL, "type", "kbit_quantize_4bit(type 0)");
    expect(kbit_quantize_4bit(dev, (kbit_quant_type)3, KBIT_F32, x_in, 100, 64, packed, F(absmax)),
           KBIT_EINVAL, "type", "kbit_quantize_4bit(type 3)");
    expect(kbit_quantize_4bit(dev, KBIT_NF4, KBIT_U8, x_in, 100, 64, packed, F(absmax)),
           KBIT_EINVAL, "dtype", "kbit_quantize_4bit(dtype U8)");
    expect(kbit_quantize_4bit(dev, KBIT_NF4, (kbit_dtype)99, x_in, 100, 64, packed, F(absmax)),
           KBIT_EINVAL, "dtype", "kbit_quantize_4bit(dtype 99)");
    expect(kbit_quantize_4bit(dev, KBIT_NF4, KBIT_F32, NULL, 100, 64, packed, F(absmax)),
           KBIT_EINVAL, "x", "kbit_quantize_4bit(x NULL)");
    expect(kbit_quantize_4bit(dev, KBIT_NF4, KBIT_F32, x_in, 100, 64, NULL, F(absmax)),
           KBIT_EINVAL, "packed", "kbit_quantize_4bit(packed NULL)");
    expect(kbit_quantize_4bit(dev, KBIT_NF4, KBIT_F32, x_in, 100, 64, packed, NULL),
           KBIT_EINVAL, "absmax", "kbit_quantize_4bit(absmax NULL)");
    expect(kbit_quantize_4bit(dev, KBIT_NF4, KBIT_F32, x_in, -1, 64, packed, F(absmax)),
           KBIT_EINVAL, "n", "kbit_quantize_4bit(n = -1)");
    expect(kbit_quantize_4bit(dev, KBIT_NF4, KBIT_F32, x_in, INT64_MIN, 64, packed, F(absmax)),
           KBIT_EINVAL, "n", "kbit_quantize_4bit(n = INT64_MIN)");
    expect(kbit_quantize_4bit(dev, KBIT_NF4, KBIT_F32, x_in, INT64_MAX, 64, packed, F(absmax)),
           KBIT_EOVERFLOW, "n", "kbit_quantize_4bit(n = INT64_MAX)");
    expect(kbit_quantize_4bit(dev, KBIT_NF4, KBIT_F32, x_in, (int64_t)1 << 62, 64, packed,
                              F(absmax)),
           KBIT_EOVERFLOW, "n", "kbit_quantize_4bit(n = 2^62, 2^64 bytes)");
    static const int bad_bs[] = { 0, 48, 16, 8192, -64, 31, 1, 96 };
    for (size_t i = 0; i < sizeof bad_bs / sizeof bad_bs[0]; i++) {
        char call[96];
        snprintf(call, sizeof call, "kbit_quantize_4bit(blocksize %d)", bad_bs[i]);
        expect(kbit_quantize_4bit(dev, KBIT_NF4, KBIT_F32, x_in, 100, bad_bs[i], packed, F(absmax)),
               KBIT_EINVAL, "blocksize", call);
    }
    expect(kbit_quantize_4bit(dev, KBIT_NF4, KBIT_F32, x_in + 1, 100, 64, packed, F(absmax)),
           KBIT_EINVAL, "x", "kbit_quantize_4bit(x misaligned by 1)");
    expect(kbit_quantize_4bit(dev, KBIT_NF4, KBIT_F32, x_in + 2, 100, 64, packed, F(absmax)),
           KBIT_EINVAL, "x", "kbit_quantize_4bit(f32 x misaligned by 2)");
    expect(kbit_quantize_4bit(dev, KBIT_FP4, KBIT_F16, x_in + 1, 100, 64, packed, F(absmax)),
           KBIT_EINVAL, "x", "kbit_quantize_4bit(f16 x misaligned by 1)");
    expect(kbit_quantize_4bit(dev, KBIT_NF4, KBIT_F32, x_in, 100, 64, packed, F(absmax + 2)),
           KBIT_EINVAL, "absmax", "kbit_quantize_4bit(absmax misaligned)");
}

static void bad_dequantize_4bit(void)
{
    expect_ok(kbit_dequantize_4bit(dev, KBIT_FP4, x_in, F(x_in), 100, 64, KBIT_BF16, out),
              "kbit_dequantize_4bit baseline");
    expect(kbit_dequantize_4bit(NULL, KBIT_FP4, x_in, F(x_in), 100, 64, KBIT_F32, out),
           KBIT_EINVAL, "device", "kbit_dequantize_4bit(device NULL)");
    expect(kbit_dequantize_4bit(dev, (kbit_quant_type)7, x_in, F(x_in), 100, 64, KBIT_F32, out),
           KBIT_EINVAL, "type", "kbit_dequantize_4bit(type 7)");
    expect(kbit_dequantize_4bit(dev, KBIT_FP4, x_in, F(x_in), 100, 64, KBIT_I32, out),
           KBIT_EINVAL, "out_dtype", "kbit_dequantize_4bit(out_dtype I32)");
    expect(kbit_dequantize_4bit(dev, KBIT_FP4, x_in, F(x_in), 100, 64, (kbit_dtype)-1, out),
           KBIT_EINVAL, "out_dtype", "kbit_dequantize_4bit(out_dtype -1)");
    expect(kbit_dequantize_4bit(dev, KBIT_FP4, NULL, F(x_in), 100, 64, KBIT_F32, out),
           KBIT_EINVAL, "packed", "kbit_dequantize_4bit(packed NULL)");
    expect(kbit_dequantize_4bit(dev, KBIT_FP4, x_in, NULL, 100, 64, KBIT_F32, out),
           KBIT_EINVAL, "absmax", "kbit_dequantize_4bit(absmax NULL)");
    expect(kbit_dequantize_4bit(dev, KBIT_FP4, x_in, F(x_in), 100, 64, KBIT_F32, NULL),
           KBIT_EINVAL, "out", "kbit_dequantize_4bit(out NULL)");
    expect(kbit_dequantize_4bit(dev, KBIT_FP4, x_in, F(x_in), -5, 64, KBIT_F32, out),
           KBIT_EINVAL, "n", "kbit_dequantize_4bit(n = -5)");
    expect(kbit_dequantize_4bit(dev, KBIT_FP4, x_in, F(x_in), INT64_MAX / 2, 64, KBIT_F32, out),
           KBIT_EOVERFLOW, "n", "kbit_dequantize_4bit(n = INT64_MAX/2)");
    expect(kbit_dequantize_4bit(dev, KBIT_FP4, x_in, F(x_in), 100, 8192, KBIT_F32, out),
           KBIT_EINVAL, "blocksize", "kbit_dequantize_4bit(blocksize 8192)");
    expect(kbit_dequantize_4bit(dev, KBIT_FP4, x_in, F(x_in + 1), 100, 64, KBIT_F32, out),
           KBIT_EINVAL, "absmax", "kbit_dequantize_4bit(absmax misaligned)");
    expect(kbit_dequantize_4bit(dev, KBIT_FP4, x_in, F(x_in), 100, 64, KBIT_F16, out + 1),
           KBIT_EINVAL, "out", "kbit_dequantize_4bit(f16 out misaligned)");
}

static void bad_8bit(void)
{
    expect_ok(kbit_quantize_8bit(dev, KBIT_F32, x_in, 100, 64, NULL, q, F(absmax)),
              "kbit_quantize_8bit baseline");
    expect_ok(kbit_quantize_8bit(dev, KBIT_F32, NULL, 0, 64, code_ok, NULL, NULL),
              "kbit_quantize_8bit n = 0 with NULL pointers");
    expect(kbit_quantize_8bit(NULL, KBIT_F32, x_in, 100, 64, NULL, q, F(absmax)), KBIT_EINVAL,
           "device", "kbit_quantize_8bit(device NULL)");
    expect(kbit_quantize_8bit(dev, KBIT_F64, x_in, 100, 64, NULL, q, F(absmax)), KBIT_EINVAL,
           "dtype", "kbit_quantize_8bit(dtype F64)");
    expect(kbit_quantize_8bit(dev, KBIT_F32, NULL, 100, 64, NULL, q, F(absmax)), KBIT_EINVAL,
           "x", "kbit_quantize_8bit(x NULL)");
    expect(kbit_quantize_8bit(dev, KBIT_F32, x_in, 100, 64, NULL, NULL, F(absmax)), KBIT_EINVAL,
           "q", "kbit_quantize_8bit(q NULL)");
    expect(kbit_quantize_8bit(dev, KBIT_F32, x_in, 100, 64, NULL, q, NULL), KBIT_EINVAL,
           "absmax", "kbit_quantize_8bit(absmax NULL)");
    expect(kbit_quantize_8bit(dev, KBIT_F32, x_in, -100, 64, NULL, q, F(absmax)), KBIT_EINVAL,
           "n", "kbit_quantize_8bit(n = -100)");
    expect(kbit_quantize_8bit(dev, KBIT_F32, x_in, INT64_MAX, 64, NULL, q, F(absmax)),
           KBIT_EOVERFLOW, "n", "kbit_quantize_8bit(n = INT64_MAX)");
    static const int bad_bs[] = { 0, 32, 48, 16, 8192, -256 };
    for (size_t i = 0; i < sizeof bad_bs / sizeof bad_bs[0]; i++) {
        char call[96];
        snprintf(call, sizeof call, "kbit_quantize_8bit(blocksize %d)", bad_bs[i]);
        expect(kbit_quantize_8bit(dev, KBIT_F32, x_in, 100, bad_bs[i], NULL, q, F(absmax)),
               KBIT_EINVAL, "blocksize", call);
    }
    expect(kbit_quantize_8bit(dev, KBIT_F32, x_in, 100, 64, code_nan, q, F(absmax)), KBIT_EINVAL,
           "code", "kbit_quantize_8bit(code with a NaN)");
    expect(kbit_quantize_8bit(dev, KBIT_F32, x_in, 100, 64, code_desc, q, F(absmax)), KBIT_EINVAL,
           "code", "kbit_quantize_8bit(code not ascending)");
    expect(kbit_quantize_8bit(dev, KBIT_BF16, x_in + 1, 100, 64, NULL, q, F(absmax)), KBIT_EINVAL,
           "x", "kbit_quantize_8bit(bf16 x misaligned)");
    expect(kbit_quantize_8bit(dev, KBIT_F32, x_in, 100, 64, NULL, q, F(absmax + 1)), KBIT_EINVAL,
           "absmax", "kbit_quantize_8bit(absmax misaligned)");

    expect_ok(kbit_dequantize_8bit(dev, x_in, F(x_in), 100, 64, NULL, KBIT_F16, out),
              "kbit_dequantize_8bit baseline");
    expect(kbit_dequantize_8bit(NULL, x_in, F(x_in), 100, 64, NULL, KBIT_F32, out), KBIT_EINVAL,
           "device", "kbit_dequantize_8bit(device NULL)");
    expect(kbit_dequantize_8bit(dev, NULL, F(x_in), 100, 64, NULL, KBIT_F32, out), KBIT_EINVAL,
           "q", "kbit_dequantize_8bit(q NULL)");
    expect(kbit_dequantize_8bit(dev, x_in, NULL, 100, 64, NULL, KBIT_F32, out), KBIT_EINVAL,
           "absmax", "kbit_dequantize_8bit(absmax NULL)");
    expect(kbit_dequantize_8bit(dev, x_in, F(x_in), 100, 64, NULL, KBIT_F32, NULL), KBIT_EINVAL,
           "out", "kbit_dequantize_8bit(out NULL)");
    expect(kbit_dequantize_8bit(dev, x_in, F(x_in), -1, 64, NULL, KBIT_F32, out), KBIT_EINVAL,
           "n", "kbit_dequantize_8bit(n = -1)");
    expect(kbit_dequantize_8bit(dev, x_in, F(x_in), (int64_t)1 << 62, 64, NULL, KBIT_F32, out),
           KBIT_EOVERFLOW, "n", "kbit_dequantize_8bit(n = 2^62)");
    expect(kbit_dequantize_8bit(dev, x_in, F(x_in), 100, 48, NULL, KBIT_F32, out), KBIT_EINVAL,
           "blocksize", "kbit_dequantize_8bit(blocksize 48)");
    expect(kbit_dequantize_8bit(dev, x_in, F(x_in), 100, 64, NULL, KBIT_U8, out), KBIT_EINVAL,
           "out_dtype", "kbit_dequantize_8bit(out_dtype U8)");
    expect(kbit_dequantize_8bit(dev, x_in, F(x_in), 100, 64, NULL, KBIT_F32, out + 2),
           KBIT_EINVAL, "out", "kbit_dequantize_8bit(f32 out misaligned)");
}

static void bad_nested(void)
{
    float offset = -7.0f;
    expect_ok(kbit_nested_quantize(dev, F(x_in), 100, q, F(absmax2), &offset),
              "kbit_nested_quantize baseline");
    offset = -7.0f;
#define OFFSET_KEPT (offset == -7.0f)
    expect(kbit_nested_quantize(NULL, F(x_in), 100, q, F(absmax2), &offset), KBIT_EINVAL,
           "device", "kbit_nested_quantize(device NULL)");
    expect(kbit_nested_quantize(dev, NULL, 100, q, F(absmax2), &offset), KBIT_EINVAL, "absmax",
           "kbit_nested_quantize(absmax NULL)");
    expect(kbit_nested_quantize(dev, F(x_in), 100, NULL, F(absmax2), &offset), KBIT_EINVAL,
           "qabsmax", "kbit_nested_quantize(qabsmax NULL)");
    expect(kbit_nested_quantize(dev, F(x_in), 100, q, NULL, &offset), KBIT_EINVAL, "absmax2",
           "kbit_nested_quantize(absmax2 NULL)");
    expect(kbit_nested_quantize(dev, F(x_in), 100, q, F(absmax2), NULL), KBIT_EINVAL, "offset",
           "kbit_nested_quantize(offset NULL)");
    expect(kbit_nested_quantize(dev, F(x_in), -3, q, F(absmax2), &offset), KBIT_EINVAL,
           "nblocks", "kbit_nested_quantize(nblocks = -3)");
    expect(kbit_nested_quantize(dev, F(x_in), INT64_MAX, q, F(absmax2), &offset), KBIT_EOVERFLOW,
           "nblocks", "kbit_nested_quantize(nblocks = INT64_MAX)");
    expect(kbit_nested_quantize(dev, F(x_in + 1), 100, q, F(absmax2), &offset), KBIT_EINVAL,
           "absmax", "kbit_nested_quantize(absmax misaligned)");
    expect(kbit_nested_quantize(dev, F(x_in), 100, q, F(absmax2 + 3), &offset), KBIT_EINVAL,
           "absmax2", "kbit_nested_quantize(absmax2 misaligned)");
    tap_ok(OFFSET_KEPT, "kbit_nested_quantize leaves *offset alone on failure");

    expect_ok(kbit_nested_dequantize(dev, x_in, F(x_in), NULL, 0.5f, 100, F(out)),
              "kbit_nested_dequantize baseline");
    expect(kbit_nested_dequantize(NULL, x_in, F(x_in), NULL, 0.5f, 100, F(out)), KBIT_EINVAL,
           "device", "kbit_nested_dequantize(device NULL)");
    expect(kbit_nested_dequantize(dev, NULL, F(x_in), NULL, 0.5f, 100, F(out)), KBIT_EINVAL,
           "qabsmax", "kbit_nested_dequantize(qabsmax NULL)");
    expect(kbit_nested_dequantize(dev, x_in, NULL, NULL, 0.5f, 100, F(out)), KBIT_EINVAL,
           "absmax2", "kbit_nested_dequantize(absmax2 NULL)");
    expect(kbit_nested_dequantize(dev, x_in, F(x_in), NULL, 0.5f, 100, NULL), KBIT_EINVAL,
           "absmax_out", "kbit_nested_dequantize(absmax_out NULL)");
    expect(kbit_nested_dequantize(dev, x_in, F(x_in), NULL, 0.5f, -1, F(out)), KBIT_EINVAL,
           "nblocks", "kbit_nested_dequantize(nblocks = -1)");
    expect(kbit_nested_dequantize(dev, x_in, F(x_in), NULL, 0.5f, INT64_MAX / 3, F(out)),
           KBIT_EOVERFLOW, "nblocks", "kbit_nested_dequantize(nblocks = INT64_MAX/3)");
    expect(kbit_nested_dequantize(dev, x_in, F(x_in + 2), NULL, 0.5f, 100, F(out)), KBIT_EINVAL,
           "absmax2", "kbit_nested_dequantize(absmax2 misaligned)");
    expect(kbit_nested_dequantize(dev, x_in, F(x_in), NULL, 0.5f, 100, F(out + 1)), KBIT_EINVAL,
           "absmax_out", "kbit_nested_dequantize(absmax_out misaligned)");
}

static void bad_state(void)
{
    kbit_quant_state s, copy;
    int64_t shape[2] = { 10, 10 };
#define STATE_CALL(call, want, needle, desc)                                           \
    do {                                                                               \
        memset(&s, SENTINEL, sizeof s);                                                \
        memcpy(&copy, &s, sizeof s);                                                   \
        kbit_status st_ = (call);                                                      \
        int kept_ = memcmp(&s, &copy, sizeof s) == 0;                                  \
        expect(st_, want, needle, desc);                                               \
        tap_ok(kept_, "%s leaves the state untouched", desc);                          \
    } while (0)
    STATE_CALL(kbit_quant_state_init(&s, (kbit_quant_type)0, KBIT_F32, 2, shape, 64, 0),
               KBIT_EINVAL, "type", "kbit_quant_state_init(type 0)");
    STATE_CALL(kbit_quant_state_init(&s, KBIT_NF4, KBIT_I8, 2, shape, 64, 0), KBIT_EINVAL,
               "dtype", "kbit_quant_state_init(dtype I8)");
    STATE_CALL(kbit_quant_state_init(&s, KBIT_NF4, KBIT_F32, 2, shape, 100, 0), KBIT_EINVAL,
               "blocksize", "kbit_quant_state_init(blocksize 100)");
    STATE_CALL(kbit_quant_state_init(&s, KBIT_NF4, KBIT_F32, -1, shape, 64, 0), KBIT_EINVAL,
               "ndim", "kbit_quant_state_init(ndim -1)");
    STATE_CALL(kbit_quant_state_init(&s, KBIT_NF4, KBIT_F32, KBIT_MAX_DIMS + 1, shape, 64, 0),
               KBIT_EINVAL, "ndim", "kbit_quant_state_init(ndim 9)");
    STATE_CALL(kbit_quant_state_init(&s, KBIT_NF4, KBIT_F32, 2, NULL, 64, 0), KBIT_EINVAL,
               "shape", "kbit_quant_state_init(shape NULL)");
    int64_t neg[2] = { 10, -1 };
    STATE_CALL(kbit_quant_state_init(&s, KBIT_NF4, KBIT_F32, 2, neg, 64, 0), KBIT_EINVAL,
               "shape", "kbit_quant_state_init(shape[1] = -1)");
    int64_t huge[3] = { (int64_t)1 << 31, (int64_t)1 << 31, (int64_t)1 << 31 };
    STATE_CALL(kbit_quant_state_init(&s, KBIT_NF4, KBIT_F32, 3, huge, 64, 0), KBIT_EOVERFLOW,
               "overflow", "kbit_quant_state_init(shape product 2^93)");
    STATE_CALL(kbit_quant_state_init(&s, KBIT_NF4, KBIT_F32, 2, shape, 64, 2), KBIT_EINVAL,
               "nested", "kbit_quant_state_init(nested 2)");
    expect(kbit_quant_state_init(NULL, KBIT_NF4, KBIT_F32, 2, shape, 64, 0), KBIT_EINVAL, "state",
           "kbit_quant_state_init(state NULL)");

    /* a good nested state, then broken copies of it */
    kbit_quant_state good;
    expect_ok(kbit_quant_state_init(&good, KBIT_FP4, KBIT_BF16, 2, shape, 32, 1),
              "kbit_quant_state_init(nested fp4 bf16 [10,10] B=32)");
    tap_ok(good.numel == 100 && good.nblocks == 4 && good.nblocks2 == 1 &&
               good.blocksize2 == 256 && good.absmax == NULL && good.absmax2 == NULL &&
               good.owns_buffers == 0,
           "the initialised state describes numel 100, 4 blocks, 1 nested block, no buffers");
    expect(kbit_quant_state_alloc(NULL, &good), KBIT_EINVAL, "device",
           "kbit_quant_state_alloc(device NULL)");
    expect(kbit_quant_state_alloc(dev, NULL), KBIT_EINVAL, "state",
           "kbit_quant_state_alloc(state NULL)");
    s = good;
    s.absmax = q;
    expect(kbit_quant_state_alloc(dev, &s), KBIT_EINVAL, "already",
           "kbit_quant_state_alloc(state with buffers)");
    s = good;
    s.numel = 99;
    expect(kbit_quant_state_alloc(dev, &s), KBIT_EINVAL, "numel",
           "kbit_quant_state_alloc(numel does not match shape)");

    /* quantize/dequantize with the state's buffers missing or wrong */
    s = good;
    expect(kbit_quantize_4bit_state(dev, x_in, packed, &s), KBIT_EINVAL, "absmax",
           "kbit_quantize_4bit_state(no buffers)");
    s.absmax = q;
    expect(kbit_quantize_4bit_state(dev, x_in, packed, &s), KBIT_EINVAL, "absmax2",
           "kbit_quantize_4bit_state(nested, absmax2 NULL)");
    s.absmax2 = F(absmax2);
    expect(kbit_quantize_4bit_state(NULL, x_in, packed, &s), KBIT_EINVAL, "device",
           "kbit_quantize_4bit_state(device NULL)");
    expect(kbit_quantize_4bit_state(dev, x_in, packed, NULL), KBIT_EINVAL, "state",
           "kbit_quantize_4bit_state(state NULL)");
    expect(kbit_quantize_4bit_state(dev, NULL, packed, &s), KBIT_EINVAL, "x",
           "kbit_quantize_4bit_state(x NULL)");
    expect(kbit_quantize_4bit_state(dev, x_in, NULL, &s), KBIT_EINVAL, "packed",
           "kbit_quantize_4bit_state(packed NULL)");
    expect(kbit_quantize_4bit_state(dev, x_in + 1, packed, &s), KBIT_EINVAL, "x",
           "kbit_quantize_4bit_state(bf16 x misaligned)");
    s.nblocks = 5;
    expect(kbit_quantize_4bit_state(dev, x_in, packed, &s), KBIT_EINVAL, "nblocks",
           "kbit_quantize_4bit_state(nblocks inconsistent)");
    s.nblocks = good.nblocks;
    s.blocksize2 = 128;
    expect(kbit_quantize_4bit_state(dev, x_in, packed, &s), KBIT_EINVAL, "blocksize2",
           "kbit_quantize_4bit_state(blocksize2 128)");
    s.blocksize2 = 256;
    s.quant_type = (kbit_quant_type)9;
    expect(kbit_quantize_4bit_state(dev, x_in, packed, &s), KBIT_EINVAL, "type",
           "kbit_quantize_4bit_state(quant_type 9)");
    s.quant_type = KBIT_FP4;
    expect(kbit_dequantize_4bit_state(dev, x_in, &s, KBIT_I64, out), KBIT_EINVAL, "out_dtype",
           "kbit_dequantize_4bit_state(out_dtype I64)");
    expect(kbit_dequantize_4bit_state(dev, x_in, &s, KBIT_F32, NULL), KBIT_EINVAL, "out",
           "kbit_dequantize_4bit_state(out NULL)");
    expect(kbit_dequantize_4bit_state(dev, NULL, &s, KBIT_F32, out), KBIT_EINVAL, "packed",
           "kbit_dequantize_4bit_state(packed NULL)");
    expect(kbit_dequantize_4bit_state(dev, x_in, NULL, KBIT_F32, out), KBIT_EINVAL, "state",
           "kbit_dequantize_4bit_state(state NULL)");
    expect(kbit_dequantize_4bit_state(NULL, x_in, &s, KBIT_F32, out), KBIT_EINVAL, "device",
           "kbit_dequantize_4bit_state(device NULL)");

    /* release: harmless on NULL, on a device of NULL, and on a state it does not own */
    kbit_quant_state_release(dev, NULL);
    kbit_quant_state_release(NULL, &s);
    kbit_quant_state_release(dev, &s);
    tap_ok(s.absmax == q && s.absmax2 == F(absmax2),
           "kbit_quant_state_release leaves buffers it does not own alone");
    s = good;
    if (tap_ok(kbit_quant_state_alloc(dev, &s) == KBIT_OK && s.owns_buffers && s.absmax &&
                   s.absmax2,
               "kbit_quant_state_alloc allocates absmax and absmax2")) {
        kbit_quant_state_release(dev, &s);
        tap_ok(s.absmax == NULL && s.absmax2 == NULL && s.owns_buffers == 0,
               "kbit_quant_state_release frees and clears them");
    }
    arm();
}

static void bad_devices(void)
{
    static const struct { const char *spec; kbit_status st; const char *needle; } specs[] = {
        { "", KBIT_EINVAL, "spec" },       { "nope", KBIT_ENODEV, "nope" },
        { "cpu:7", KBIT_ENODEV, "7" },     { "cuda:x", KBIT_EINVAL, "cuda:x" },
        { "CPU", KBIT_EINVAL, "CPU" },     { "cpu:", KBIT_EINVAL, "cpu:" },
        { "cpu:-1", KBIT_EINVAL, "cpu:-1" }, { "cpu:99999999999", KBIT_EINVAL, "99999999999" },
        { ":0", KBIT_EINVAL, ":0" },
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        kbit_device *d = (kbit_device *)(uintptr_t)0x1234;
        char call[96];
        snprintf(call, sizeof call, "kbit_device_open(\"%s\")", specs[i].spec);
        expect(kbit_device_open(specs[i].spec, &d), specs[i].st, specs[i].needle, call);
        tap_ok(d == (kbit_device *)(uintptr_t)0x1234, "%s leaves *device alone", call);
    }
    kbit_device *d = (kbit_device *)(uintptr_t)0x1234;
    expect(kbit_device_open(NULL, &d), KBIT_EINVAL, "spec", "kbit_device_open(NULL spec)");
    expect(kbit_device_open("cpu", NULL), KBIT_EINVAL, "device", "kbit_device_open(device NULL)");
    kbit_device_close(NULL);
    tap_ok(1, "kbit_device_close(NULL) is harmless");

    /* a handle that is not an open device */
    static unsigned char fake[4096];
    kbit_device *bogus = (kbit_device *)(void *)fake;
    expect(kbit_sync(bogus), KBIT_EINVAL, "device", "kbit_sync(garbage handle)");
    expect(kbit_quantize_4bit(bogus, KBIT_NF4, KBIT_F32, x_in, 100, 64, packed, F(absmax)),
           KBIT_EINVAL, "device", "kbit_quantize_4bit(garbage handle)");

    kbit_device_info info;
    memset(&info, SENTINEL, sizeof info);
    expect(kbit_device_get_info(NULL, &info), KBIT_EINVAL, "device",
           "kbit_device_get_info(device NULL)");
    expect(kbit_device_get_info(dev, NULL), KBIT_EINVAL, "info", "kbit_device_get_info(info NULL)");
    expect(kbit_device_set_threads(dev, 0), KBIT_EINVAL, "threads", "kbit_device_set_threads(0)");
    expect(kbit_device_set_threads(dev, -4), KBIT_EINVAL, "threads",
           "kbit_device_set_threads(-4)");
    expect(kbit_device_set_threads(NULL, 1), KBIT_EINVAL, "device",
           "kbit_device_set_threads(device NULL)");
    expect(kbit_device_set_stream(dev, (void *)(uintptr_t)0x10), KBIT_ENOTSUP, "cpu",
           "kbit_device_set_stream(cpu, a stream)");
    expect(kbit_device_set_stream(NULL, NULL), KBIT_EINVAL, "device",
           "kbit_device_set_stream(device NULL)");
    expect_ok(kbit_device_set_stream(dev, NULL), "kbit_device_set_stream(cpu, NULL)");

    void *p = (void *)(uintptr_t)0x1234;
    expect(kbit_malloc(NULL, 16, &p), KBIT_EINVAL, "device", "kbit_malloc(device NULL)");
    expect(kbit_malloc(dev, 16, NULL), KBIT_EINVAL, "ptr", "kbit_malloc(ptr NULL)");
    expect(kbit_malloc(dev, SIZE_MAX, &p), KBIT_EOVERFLOW, "bytes", "kbit_malloc(SIZE_MAX)");
    tap_ok(p == (void *)(uintptr_t)0x1234, "failed kbit_malloc leaves *ptr alone");
    kbit_status st = kbit_malloc(dev, (size_t)1 << 62, &p);
    if (st == KBIT_OK)
        kbit_free(dev, p);
    tap_ok(st == KBIT_ENOMEM && kbit_last_error()[0] && p == (void *)(uintptr_t)0x1234,
           "kbit_malloc(2^62 bytes) -> KBIT_ENOMEM with a message (got %s: \"%s\")",
           kbit_strerror(st), kbit_last_error());
    arm();
    void *z1 = NULL, *z2 = NULL;
    tap_ok(kbit_malloc(dev, 0, &z1) == KBIT_OK && kbit_malloc(dev, 0, &z2) == KBIT_OK && z1 &&
               z2 && z1 != z2 && kbit_free(dev, z1) == KBIT_OK && kbit_free(dev, z2) == KBIT_OK,
           "kbit_malloc of 0 bytes gives unique pointers that can be freed");
    expect(kbit_free(NULL, z1), KBIT_EINVAL, "device", "kbit_free(device NULL)");
    expect_ok(kbit_free(dev, NULL), "kbit_free(dev, NULL)");

    expect(kbit_copy(NULL, out, x_in, 16, KBIT_HOST_TO_DEVICE), KBIT_EINVAL, "device",
           "kbit_copy(device NULL)");
    expect(kbit_copy(dev, NULL, x_in, 16, KBIT_HOST_TO_DEVICE), KBIT_EINVAL, "dst",
           "kbit_copy(dst NULL)");
    expect(kbit_copy(dev, out, NULL, 16, KBIT_HOST_TO_DEVICE), KBIT_EINVAL, "src",
           "kbit_copy(src NULL)");
    expect(kbit_copy(dev, out, x_in, 16, (kbit_copy_kind)3), KBIT_EINVAL, "kind",
           "kbit_copy(kind 3)");
    expect(kbit_copy(dev, out, x_in, SIZE_MAX, KBIT_DEVICE_TO_DEVICE), KBIT_EOVERFLOW, "bytes",
           "kbit_copy(SIZE_MAX bytes)");
    expect_ok(kbit_copy(dev, NULL, NULL, 0, KBIT_DEVICE_TO_HOST), "kbit_copy(0 bytes, NULL)");
    expect(kbit_sync(NULL), KBIT_EINVAL, "device", "kbit_sync(device NULL)");
}

static void bad_registry_and_misc(void)
{
    int count = -1;
    expect(kbit_driver_count(NULL), KBIT_EINVAL, "count", "kbit_driver_count(NULL)");
    expect_ok(kbit_driver_count(&count), "kbit_driver_count");
    kbit_driver_report r;
    memset(&r, SENTINEL, sizeof r);
    kbit_driver_report copy = r;
    expect(kbit_driver_get(-1, &r), KBIT_EINVAL, "index", "kbit_driver_get(-1)");
    expect(kbit_driver_get(count, &r), KBIT_EINVAL, "index", "kbit_driver_get(count)");
    tap_ok(memcmp(&r, &copy, sizeof r) == 0, "failed kbit_driver_get leaves the report alone");
    expect(kbit_driver_get(0, NULL), KBIT_EINVAL, "report", "kbit_driver_get(0, NULL)");

    static const size_t sizes[] = { 4, 2, 2, 1, 1, 4, 8, 8 };
    static const char *names[] = { "f32", "f16", "bf16", "u8", "i8", "i32", "i64", "f64" };
    int ok = 1;
    for (int d = 0; d < 8; d++)
        ok &= kbit_dtype_size((kbit_dtype)d) == sizes[d] && kbit_dtype_name((kbit_dtype)d) &&
              strcmp(kbit_dtype_name((kbit_dtype)d), names[d]) == 0;
    tap_ok(ok, "kbit_dtype_size/name of every dtype");
    tap_ok(kbit_dtype_size((kbit_dtype)8) == 0 && kbit_dtype_size((kbit_dtype)-1) == 0 &&
               kbit_dtype_name((kbit_dtype)8) == NULL && kbit_dtype_name((kbit_dtype)-1) == NULL,
           "kbit_dtype_size/name of unknown dtypes: 0 / NULL");

    tap_ok(kbit_nblocks(0, 64) == 0 && kbit_nblocks(1, 64) == 1 && kbit_nblocks(64, 64) == 1 &&
               kbit_nblocks(65, 64) == 2 && kbit_nblocks(-1, 64) == 0 &&
               kbit_nblocks(10, 0) == 0 && kbit_nblocks(10, -64) == 0 &&
               kbit_nblocks(INT64_MAX, 32) == INT64_MAX / 32 + 1,
           "kbit_nblocks, including n < 0 and blocksize <= 0");
    tap_ok(kbit_packed_4bit_bytes(0) == 0 && kbit_packed_4bit_bytes(1) == 1 &&
               kbit_packed_4bit_bytes(2) == 1 && kbit_packed_4bit_bytes(3) == 2 &&
               kbit_packed_4bit_bytes(-5) == 0 &&
               kbit_packed_4bit_bytes(INT64_MAX) == INT64_MAX / 2 + 1,
           "kbit_packed_4bit_bytes, including n < 0 and INT64_MAX");

    int distinct = 1;
    for (int a = 0; a <= 8; a++) {
        const char *sa = kbit_strerror((kbit_status)a);
        distinct &= sa != NULL && sa[0] != '\0';
        for (int b = 0; b < a && distinct; b++)
            distinct &= strcmp(sa, kbit_strerror((kbit_status)b)) != 0;
    }
    tap_ok(distinct && kbit_strerror((kbit_status)99) != NULL,
           "kbit_strerror: nine distinct messages, and one for an unknown status");
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", KBIT_VERSION_MAJOR, KBIT_VERSION_MINOR,
             KBIT_VERSION_PATCH);
    tap_ok(kbit_version() && strcmp(kbit_version(), want) == 0, "kbit_version() is \"%s\"", want);

    expect(kbit_sync(NULL), KBIT_EINVAL, "device", "kbit_sync(NULL) sets a message");
    expect_ok(kbit_sync(dev), "a successful call leaves kbit_last_error() alone");

    /* errno-like: the message of a failure survives successful calls,
     * clean-up calls included */
    kbit_quantize_4bit(dev, KBIT_NF4, KBIT_F32, x_in, N, 48, packed, F(absmax));
    char cause[512];
    snprintf(cause, sizeof cause, "%s", kbit_last_error());
    void *p = NULL;
    kbit_quant_state qs;
    const int64_t shape[1] = { 64 };
    kbit_status st = kbit_malloc(dev, 64, &p);
    st = st != KBIT_OK ? st : kbit_free(dev, p);
    st = st != KBIT_OK ? st : kbit_quant_state_init(&qs, KBIT_NF4, KBIT_F32, 1, shape, 64, 0);
    st = st != KBIT_OK ? st : kbit_quant_state_alloc(dev, &qs);
    kbit_quant_state_release(dev, &qs);
    kbit_quant_state_release(NULL, &qs); /* a bad clean-up call records nothing either */
    kbit_device_close(NULL);
    tap_ok(st == KBIT_OK && strstr(cause, "blocksize") && strcmp(kbit_last_error(), cause) == 0,
           "a failure's message survives later successful and clean-up calls");
    arm();
}

/* The message is per thread: a failure elsewhere does not show here. */
static void *fail_in_thread(void *arg)
{
    (void)arg;
    kbit_malloc(NULL, 1, NULL);
    return (void *)(uintptr_t)(strstr(kbit_last_error(), "kbit_malloc") != NULL);
}

static void thread_local_errors(void)
{
    kbit_sync(NULL);
    char before[512];
    snprintf(before, sizeof before, "%s", kbit_last_error());
    pthread_t th;
    void *set_there = NULL;
    int started = pthread_create(&th, NULL, fail_in_thread, NULL) == 0;
    if (started)
        pthread_join(th, &set_there);
    tap_ok(started && set_there && strstr(before, "kbit_sync") &&
               strcmp(kbit_last_error(), before) == 0,
           "kbit_last_error() is per thread");
}

int main(void)
{
    if (kbit_device_open("cpu", &dev) != KBIT_OK)
        tap_bail("kbit_device_open(cpu): %s", kbit_last_error());
    x_in = buffer();
    packed = buffer();
    absmax = buffer();
    absmax2 = buffer();
    q = buffer();
    out = buffer();
    /* inputs: small finite floats (also valid as f16/bf16 pairs and codes) */
    for (int i = 0; i < N; i++) {
        float v = (float)(i % 17) * 0.125f - 1.0f;
        memcpy(x_in + 4 * i, &v, 4);
    }
    memset(x_in + 4 * N, 0, 64);
    memcpy(x_copy, x_in, sizeof x_copy);
    for (int i = 0; i < 256; i++)
        code_ok[i] = code_nan[i] = (float)i / 128.0f - 1.0f;
    code_nan[77] = f32_from_bits(0x7fc00000u);
    for (int i = 0; i < 256; i++)
        code_desc[i] = code_ok[i];
    code_desc[200] = code_desc[10];
    arm();

    bad_quantize_4bit();
    bad_dequantize_4bit();
    bad_8bit();
    bad_nested();
    bad_state();
    bad_devices();
    bad_registry_and_misc();
    thread_local_errors();

    kbit_device_close(dev);
    free(x_in);
    free(packed);
    free(absmax);
    free(absmax2);
    free(q);
    free(out);
    return tap_done();
}
