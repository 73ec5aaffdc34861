/* lib/ops/quant8.c - 8-bit blockwise dynamic quantization (doc/numerics.md 2). */
#include "config.h"

#include "runtime/check.h"
#include "runtime/error.h"
#include "ops/maps.h"
#include "ops/state.h"

static kbit_status check_family(const kbit_device *dev, kbit_dtype dtype, int blocksize,
                                 const char *fn)
{
    kbit_status st = kbit_check_family(dev, KBIT_FAMILY_QUANT8, fn);
    return st != KBIT_OK ? st : kbit_check_limits(dev, KBIT_FAMILY_QUANT8, dtype, blocksize, fn);
}

/* Workspace for the call's copy of a custom map (none for a normative one). */
static size_t table_bytes(const float *code)
{
    return kbit_map_identify(code) == KBIT_MAP_ID_CUSTOM ? kbit_call_size(KBIT_MAP_TABLE_BYTES)
                                                         : 0;
}

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
    if ((st = check_family(device, dtype, blocksize, fn)) != KBIT_OK || n == 0)
        return st;
    kbit_op_quantize_8bit op = {
        .struct_size = sizeof op, .dtype = dtype, .x = x, .n = n, .blocksize = blocksize,
        .center = 0, .q = q, .absmax = absmax,
    };
    kbit_call c;
    const float *table = NULL;
    if ((st = kbit_call_begin(&c, device, table_bytes(code),
                              kbit_driver_workspace(device, KBIT_OP_QUANTIZE_8BIT, &op), fn)) !=
            KBIT_OK ||
        (st = kbit_call_map_table(&c, code, &table, &op.map_id)) != KBIT_OK)
        return st;
    op.code = table;
    op.mid = table + 256;
    return KBIT_RUN(&c, quantize_8bit, &op);
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
    if ((st = check_family(device, out_dtype, blocksize, fn)) != KBIT_OK || n == 0)
        return st;
    kbit_op_dequantize_8bit op = {
        .struct_size = sizeof op, .q = q, .absmax = absmax, .n = n, .blocksize = blocksize,
        .add_offset = 0, .offset = 0.0f, .out_dtype = out_dtype, .out = out,
    };
    kbit_call c;
    const float *table = NULL;
    kbit_map_id id;
    if ((st = kbit_call_begin(&c, device, table_bytes(code),
                              kbit_driver_workspace(device, KBIT_OP_DEQUANTIZE_8BIT, &op), fn)) !=
            KBIT_OK ||
        (st = kbit_call_map_table(&c, code, &table, &id)) != KBIT_OK)
        return st;
    op.code = table;
    return KBIT_RUN(&c, dequantize_8bit, &op);
}
