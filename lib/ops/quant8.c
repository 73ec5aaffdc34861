/* lib/ops/quant8.c - 8-bit blockwise dynamic quantization (numerics.md 2). */
#include "config.h"

#include "runtime/check.h"
#include "runtime/error.h"
#include "ops/maps.h"

KBIT_API kbit_status kbit_quantize_8bit(kbit_device *device, kbit_dtype dtype, const void *x,
                                        int64_t n, int blocksize, const float *code,
                                        uint8_t *q, float *absmax)
{
    static const char fn[] = "kbit_quantize_8bit";
    kbit_clear_error();
    kbit_status st;
    if ((st = kbit_check_device(device, fn)) != KBIT_OK ||
        (st = kbit_check_float_dtype(dtype, fn, "dtype")) != KBIT_OK ||
        (st = kbit_check_count(n, 4, fn, "n")) != KBIT_OK ||
        (st = kbit_check_blocksize(blocksize, KBIT_8BIT_MIN_BLOCK, KBIT_MAX_BLOCK, fn)) != KBIT_OK)
        return st;
    int64_t nblocks = kbit_nblocks(n, blocksize);
    if ((st = kbit_check_data(x, n, kbit_dtype_size(dtype), fn, "x")) != KBIT_OK ||
        (st = kbit_check_data(q, n, 1, fn, "q")) != KBIT_OK ||
        (st = kbit_check_data(absmax, nblocks, sizeof(float), fn, "absmax")) != KBIT_OK ||
        (st = KBIT_CHECK_OVERLAP(fn, KBIT_IN(x, n * (int64_t)kbit_dtype_size(dtype), "x"),
                                 KBIT_OUT(q, n, "q"), KBIT_OUT(absmax, nblocks * 4, "absmax"))) !=
            KBIT_OK)
        return st;
    if (code == NULL)
        code = kbit_dynamic_map(KBIT_MAP_SIGNED);
    else if ((st = kbit_check_map(code, fn, "code")) != KBIT_OK)
        return st;
    if ((st = kbit_check_slot(device, (const void *)device->driver->quantize_8bit, fn)) != KBIT_OK)
        return st;
    if (n == 0)
        return KBIT_OK;

    float mid[255];
    kbit_map_midpoints(code, mid);
    kbit_op_quantize_8bit op = {
        .dtype = dtype, .x = x, .n = n, .blocksize = blocksize, .code = code, .mid = mid,
        .center = 0, .offset = 0.0f, .q = q, .absmax = absmax,
    };
    return kbit_driver_result(device, device->driver->quantize_8bit(device->ctx, &op), fn);
}

KBIT_API kbit_status kbit_dequantize_8bit(kbit_device *device, const uint8_t *q,
                                          const float *absmax, int64_t n, int blocksize,
                                          const float *code, kbit_dtype out_dtype, void *out)
{
    static const char fn[] = "kbit_dequantize_8bit";
    kbit_clear_error();
    kbit_status st;
    if ((st = kbit_check_device(device, fn)) != KBIT_OK ||
        (st = kbit_check_float_dtype(out_dtype, fn, "out_dtype")) != KBIT_OK ||
        (st = kbit_check_count(n, 4, fn, "n")) != KBIT_OK ||
        (st = kbit_check_blocksize(blocksize, KBIT_8BIT_MIN_BLOCK, KBIT_MAX_BLOCK, fn)) != KBIT_OK)
        return st;
    int64_t nblocks = kbit_nblocks(n, blocksize);
    if ((st = kbit_check_data(q, n, 1, fn, "q")) != KBIT_OK ||
        (st = kbit_check_data(absmax, nblocks, sizeof(float), fn, "absmax")) != KBIT_OK ||
        (st = kbit_check_data(out, n, kbit_dtype_size(out_dtype), fn, "out")) != KBIT_OK ||
        (st = KBIT_CHECK_OVERLAP(fn, KBIT_IN(q, n, "q"), KBIT_IN(absmax, nblocks * 4, "absmax"),
                                 KBIT_OUT(out, n * (int64_t)kbit_dtype_size(out_dtype), "out"))) !=
            KBIT_OK)
        return st;
    if (code == NULL)
        code = kbit_dynamic_map(KBIT_MAP_SIGNED);
    if ((st = kbit_check_slot(device, (const void *)device->driver->dequantize_8bit, fn)) != KBIT_OK)
        return st;
    if (n == 0)
        return KBIT_OK;

    kbit_op_dequantize_8bit op = {
        .q = q, .absmax = absmax, .n = n, .blocksize = blocksize, .code = code,
        .add_offset = 0, .offset = 0.0f, .out_dtype = out_dtype, .out = out,
    };
    return kbit_driver_result(device, device->driver->dequantize_8bit(device->ctx, &op), fn);
}
