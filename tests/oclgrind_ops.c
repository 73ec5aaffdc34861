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

static const struct {
    const char *name;
    kbit_status (*run)(kbit_device *d);
} ops[] = {
    {"quant4 quantize + dequantize", quant4},
    {"quant8 quantize + dequantize", quant8},
    {"nested absmax: block_sums, pairsum, centred quantize_8bit, dequantize + offset", nested},
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
