/* tools/example.c - the quickstart demo: quantize a 4096x4096 weight matrix to
 * NF4 with double-quantized absmax (what QLoRA stores), dequantize it, and
 * print the error and the memory footprint. Usage: kbit-example [DEVICE]
 * (default "auto", the best device found). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "kbit.h"

#define MIB (1024.0 * 1024.0)

/* Print kbit's message and fail. */
static int fail(const char *what)
{
    fprintf(stderr, "kbit-example: %s: %s\n", what, kbit_last_error());
    return 1;
}

/* Gaussian weights of standard deviation 0.02, like a freshly trained layer. */
static void fill_weights(float *w, int64_t n)
{
    uint64_t s = 42;
    for (int64_t i = 0; i < n; i++) {
        double u[2];
        for (int k = 0; k < 2; k++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            u[k] = ((double)(s >> 11) + 0.5) * 0x1.0p-53;
        }
        w[i] = (float)(0.02 * sqrt(-2.0 * log(u[0])) * cos(6.283185307179586 * u[1]));
    }
}

int main(int argc, char **argv)
{
    const char *spec = argc > 1 ? argv[1] : "auto";
    const int64_t shape[2] = { 4096, 4096 };
    const int64_t n = shape[0] * shape[1];
    const size_t bytes = (size_t)n * sizeof(float);

    kbit_device *dev = NULL;
    kbit_device_info info;
    if (kbit_device_open(spec, &dev) != KBIT_OK)
        return fail("opening the device");
    if (kbit_device_get_info(dev, &info) != KBIT_OK)
        return fail("kbit_device_get_info");
    printf("device %s:%d: %s (%s)\n", info.driver, info.index, info.name, info.variant);

    float *w = malloc(bytes), *back = malloc(bytes);
    void *d_w = NULL, *d_back = NULL, *d_packed = NULL;
    if (w == NULL || back == NULL) {
        fprintf(stderr, "kbit-example: out of host memory\n");
        return 1;
    }
    fill_weights(w, n);

    /* NF4, blocksize 64, nested absmax: bitsandbytes' Params4bit defaults with
     * quant_type="nf4". */
    kbit_quant_state qs;
    if (kbit_quant_state_init(&qs, KBIT_NF4, KBIT_F32, 2, shape, 64, 1) != KBIT_OK ||
        kbit_quant_state_alloc(dev, &qs) != KBIT_OK)
        return fail("quant state");
    if (kbit_malloc(dev, bytes, &d_w) != KBIT_OK || kbit_malloc(dev, bytes, &d_back) != KBIT_OK ||
        kbit_malloc(dev, (size_t)kbit_packed_4bit_bytes(n), &d_packed) != KBIT_OK)
        return fail("kbit_malloc");
    if (kbit_copy(dev, d_w, w, bytes, KBIT_HOST_TO_DEVICE) != KBIT_OK ||
        kbit_quantize_4bit_state(dev, d_w, d_packed, &qs) != KBIT_OK ||
        kbit_dequantize_4bit_state(dev, d_packed, &qs, KBIT_F32, d_back) != KBIT_OK ||
        kbit_copy(dev, back, d_back, bytes, KBIT_DEVICE_TO_HOST) != KBIT_OK)
        return fail("quantize / dequantize");

    double max_err = 0, sum_err2 = 0, sum_w2 = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = (double)back[i] - (double)w[i];
        max_err = fabs(e) > max_err ? fabs(e) : max_err;
        sum_err2 += e * e;
        sum_w2 += (double)w[i] * w[i];
    }
    printf("NF4 4096x4096, blocksize 64, double-quantized absmax (offset %.6g)\n", qs.offset);
    printf("  error: max |w - w'| %.3g, RMS %.3g (%.2f%% of the weights' RMS %.3g)\n", max_err,
           sqrt(sum_err2 / (double)n), 100.0 * sqrt(sum_err2 / sum_w2), sqrt(sum_w2 / (double)n));

    /* packed codes + 8-bit absmax + fp32 second-level absmax + the offset */
    double packed = (double)kbit_packed_4bit_bytes(n);
    double stats = (double)qs.nblocks + 4.0 * (double)qs.nblocks2 + 4.0;
    printf("  footprint: %.2f MiB (codes %.2f MiB + absmax %.3f MiB) = %.3f bits/weight;\n"
           "             fp32 %.0f MiB (%.1fx larger), bf16 %.0f MiB (%.1fx larger)\n",
           (packed + stats) / MIB, packed / MIB, stats / MIB, 8.0 * (packed + stats) / (double)n,
           bytes / MIB, (double)bytes / (packed + stats), bytes / 2 / MIB,
           (double)bytes / 2 / (packed + stats));

    kbit_free(dev, d_w);
    kbit_free(dev, d_back);
    kbit_free(dev, d_packed);
    kbit_quant_state_release(dev, &qs);
    kbit_device_close(dev);
    free(w);
    free(back);
    return 0;
}
