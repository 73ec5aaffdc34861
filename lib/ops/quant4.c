/* lib/ops/quant4.c - 4-bit NF4/FP4 quantization, double quantization of absmax
 * and the quant state (numerics.md 1 and 3). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/check.h"
#include "runtime/error.h"
#include "kbit-formats.h"
#include "ops/maps.h"
#include "ops/pairsum.h"
#include "ops/state.h"

KBIT_API int64_t kbit_nblocks(int64_t n, int blocksize)
{
    if (n <= 0 || blocksize <= 0)
        return 0;
    return n / blocksize + (n % blocksize != 0);
}

KBIT_API int64_t kbit_packed_4bit_bytes(int64_t n)
{
    return n <= 0 ? 0 : n / 2 + n % 2;
}

/* Checks common to 4-bit quantize and dequantize. */
static kbit_status check_4bit(const kbit_device *dev, kbit_quant_type type, kbit_dtype dtype,
                              const char *dtype_arg, int64_t n, int blocksize, const char *fn)
{
    kbit_status st;
    if ((st = kbit_check_device(dev, fn)) != KBIT_OK ||
        (st = kbit_check_quant_type(type, fn)) != KBIT_OK ||
        (st = kbit_check_float_dtype(dtype, fn, dtype_arg)) != KBIT_OK ||
        (st = kbit_check_count(n, 4, fn, "n")) != KBIT_OK ||
        (st = kbit_check_blocksize(blocksize, KBIT_4BIT_MIN_BLOCK, KBIT_MAX_BLOCK, fn)) != KBIT_OK)
        return st;
    return KBIT_OK;
}

/* The driver calls, after the checks. */
static kbit_status run_quantize_4bit(kbit_device *dev, const kbit_op_quantize_4bit *op,
                                     const char *fn)
{
    kbit_status st = kbit_check_slot(dev, (const void *)dev->driver->quantize_4bit, fn);
    if (st != KBIT_OK || op->n == 0)
        return st;
    return kbit_driver_result(dev, dev->driver->quantize_4bit(dev->ctx, op), fn);
}

static kbit_status run_dequantize_4bit(kbit_device *dev, const kbit_op_dequantize_4bit *op,
                                       const char *fn)
{
    kbit_status st = kbit_check_slot(dev, (const void *)dev->driver->dequantize_4bit, fn);
    if (st != KBIT_OK || op->n == 0)
        return st;
    return kbit_driver_result(dev, dev->driver->dequantize_4bit(dev->ctx, op), fn);
}

KBIT_API kbit_status kbit_quantize_4bit(kbit_device *device, kbit_quant_type type,
                                        kbit_dtype dtype, const void *x, int64_t n,
                                        int blocksize, uint8_t *packed, float *absmax)
{
    static const char fn[] = "kbit_quantize_4bit";
    kbit_clear_error();
    kbit_status st = check_4bit(device, type, dtype, "dtype", n, blocksize, fn);
    if (st != KBIT_OK)
        return st;
    if ((st = kbit_check_data(x, n, kbit_dtype_size(dtype), fn, "x")) != KBIT_OK ||
        (st = kbit_check_data(packed, kbit_packed_4bit_bytes(n), 1, fn, "packed")) != KBIT_OK ||
        (st = kbit_check_data(absmax, kbit_nblocks(n, blocksize), 4, fn, "absmax")) != KBIT_OK ||
        (st = KBIT_CHECK_OVERLAP(fn, KBIT_IN(x, n * (int64_t)kbit_dtype_size(dtype), "x"),
                                 KBIT_OUT(packed, kbit_packed_4bit_bytes(n), "packed"),
                                 KBIT_OUT(absmax, kbit_nblocks(n, blocksize) * 4, "absmax"))) !=
            KBIT_OK)
        return st;
    kbit_op_quantize_4bit op = {
        .type = type, .dtype = dtype, .x = x, .n = n, .blocksize = blocksize,
        .packed = packed, .absmax = absmax,
    };
    return run_quantize_4bit(device, &op, fn);
}

KBIT_API kbit_status kbit_dequantize_4bit(kbit_device *device, kbit_quant_type type,
                                          const uint8_t *packed, const float *absmax,
                                          int64_t n, int blocksize, kbit_dtype out_dtype,
                                          void *out)
{
    static const char fn[] = "kbit_dequantize_4bit";
    kbit_clear_error();
    kbit_status st = check_4bit(device, type, out_dtype, "out_dtype", n, blocksize, fn);
    if (st != KBIT_OK)
        return st;
    if ((st = kbit_check_data(packed, kbit_packed_4bit_bytes(n), 1, fn, "packed")) != KBIT_OK ||
        (st = kbit_check_data(absmax, kbit_nblocks(n, blocksize), 4, fn, "absmax")) != KBIT_OK ||
        (st = kbit_check_data(out, n, kbit_dtype_size(out_dtype), fn, "out")) != KBIT_OK ||
        (st = KBIT_CHECK_OVERLAP(fn, KBIT_IN(packed, kbit_packed_4bit_bytes(n), "packed"),
                                 KBIT_IN(absmax, kbit_nblocks(n, blocksize) * 4, "absmax"),
                                 KBIT_OUT(out, n * (int64_t)kbit_dtype_size(out_dtype), "out"))) !=
            KBIT_OK)
        return st;
    kbit_op_dequantize_4bit op = {
        .type = type, .packed = packed, .absmax = absmax, .n = n, .blocksize = blocksize,
        .out_dtype = out_dtype, .out = out,
    };
    return run_dequantize_4bit(device, &op, fn);
}

/* ------------------------------------------------------------------ */
/* Double quantization                                                  */

/* offset = f32(pairsum(absmax) / nblocks), from the driver's fp64 leaves. */
static kbit_status nested_offset(kbit_device *dev, const float *absmax, int64_t nblocks,
                                 float *offset, const char *fn)
{
    int64_t leaves = kbit_nblocks(nblocks, KBIT_PAIRSUM_LEAF);
    double *sums = malloc((size_t)leaves * sizeof *sums);
    if (sums == NULL)
        return kbit_error(KBIT_ENOMEM, "%s: out of host memory for %lld partial sums", fn,
                          (long long)leaves);
    kbit_op_block_sums op = { .x = absmax, .n = nblocks, .sums = sums };
    kbit_status st = kbit_driver_result(dev, dev->driver->block_sums(dev->ctx, &op), fn);
    if (st == KBIT_OK)
        *offset = (float)(kbit_pairsum_tree(sums, leaves) / (double)nblocks);
    free(sums);
    return st;
}

/* The work of kbit_nested_quantize once its arguments are known to be good. */
static kbit_status run_nested_quantize(kbit_device *dev, const float *absmax, int64_t nblocks,
                                       uint8_t *qabsmax, float *absmax2, float *offset,
                                       const char *fn)
{
    kbit_status st;
    if ((st = kbit_check_slot(dev, (const void *)dev->driver->block_sums, fn)) != KBIT_OK ||
        (st = kbit_check_slot(dev, (const void *)dev->driver->quantize_8bit, fn)) != KBIT_OK)
        return st;
    if (nblocks == 0) {
        *offset = 0.0f;
        return KBIT_OK;
    }
    float center = 0.0f;
    if ((st = nested_offset(dev, absmax, nblocks, &center, fn)) != KBIT_OK)
        return st;
    const float *code = kbit_dynamic_map(KBIT_MAP_SIGNED);
    float mid[255];
    kbit_map_midpoints(code, mid);
    kbit_op_quantize_8bit op = {
        .dtype = KBIT_F32, .x = absmax, .n = nblocks, .blocksize = KBIT_NESTED_BLOCK,
        .code = code, .mid = mid, .center = 1, .offset = center, .q = qabsmax, .absmax = absmax2,
    };
    st = kbit_driver_result(dev, dev->driver->quantize_8bit(dev->ctx, &op), fn);
    if (st == KBIT_OK)
        *offset = center;
    return st;
}

static kbit_status run_nested_dequantize(kbit_device *dev, const uint8_t *qabsmax,
                                         const float *absmax2, const float *code2, float offset,
                                         int64_t nblocks, float *absmax_out, const char *fn)
{
    kbit_status st = kbit_check_slot(dev, (const void *)dev->driver->dequantize_8bit, fn);
    if (st != KBIT_OK || nblocks == 0)
        return st;
    kbit_op_dequantize_8bit op = {
        .q = qabsmax, .absmax = absmax2, .n = nblocks, .blocksize = KBIT_NESTED_BLOCK,
        .code = code2, .add_offset = 1, .offset = offset, .out_dtype = KBIT_F32, .out = absmax_out,
    };
    return kbit_driver_result(dev, dev->driver->dequantize_8bit(dev->ctx, &op), fn);
}

KBIT_API kbit_status kbit_nested_quantize(kbit_device *device, const float *absmax,
                                          int64_t nblocks, uint8_t *qabsmax, float *absmax2,
                                          float *offset)
{
    static const char fn[] = "kbit_nested_quantize";
    kbit_clear_error();
    kbit_status st;
    if ((st = kbit_check_device(device, fn)) != KBIT_OK ||
        (st = kbit_check_count(nblocks, 4, fn, "nblocks")) != KBIT_OK ||
        (st = kbit_check_data(absmax, nblocks, 4, fn, "absmax")) != KBIT_OK ||
        (st = kbit_check_data(qabsmax, nblocks, 1, fn, "qabsmax")) != KBIT_OK ||
        (st = kbit_check_data(absmax2, kbit_nblocks(nblocks, KBIT_NESTED_BLOCK), 4, fn,
                              "absmax2")) != KBIT_OK ||
        (st = KBIT_CHECK_OVERLAP(fn, KBIT_IN(absmax, nblocks * 4, "absmax"),
                                 KBIT_OUT(qabsmax, nblocks, "qabsmax"),
                                 KBIT_OUT(absmax2, kbit_nblocks(nblocks, KBIT_NESTED_BLOCK) * 4,
                                          "absmax2"))) != KBIT_OK)
        return st;
    if (offset == NULL)
        return kbit_error(KBIT_EINVAL, "%s: offset is NULL", fn);
    return run_nested_quantize(device, absmax, nblocks, qabsmax, absmax2, offset, fn);
}

KBIT_API kbit_status kbit_nested_dequantize(kbit_device *device, const uint8_t *qabsmax,
                                            const float *absmax2, const float *code2,
                                            float offset, int64_t nblocks, float *absmax_out)
{
    static const char fn[] = "kbit_nested_dequantize";
    kbit_clear_error();
    kbit_status st;
    if ((st = kbit_check_device(device, fn)) != KBIT_OK ||
        (st = kbit_check_count(nblocks, 4, fn, "nblocks")) != KBIT_OK ||
        (st = kbit_check_data(qabsmax, nblocks, 1, fn, "qabsmax")) != KBIT_OK ||
        (st = kbit_check_data(absmax2, kbit_nblocks(nblocks, KBIT_NESTED_BLOCK), 4, fn,
                              "absmax2")) != KBIT_OK ||
        (st = kbit_check_data(absmax_out, nblocks, 4, fn, "absmax_out")) != KBIT_OK ||
        (st = KBIT_CHECK_OVERLAP(fn, KBIT_IN(qabsmax, nblocks, "qabsmax"),
                                 KBIT_IN(absmax2, kbit_nblocks(nblocks, KBIT_NESTED_BLOCK) * 4,
                                         "absmax2"),
                                 KBIT_OUT(absmax_out, nblocks * 4, "absmax_out"))) != KBIT_OK)
        return st;
    if (code2 == NULL)
        code2 = kbit_dynamic_map(KBIT_MAP_SIGNED);
    return run_nested_dequantize(device, qabsmax, absmax2, code2, offset, nblocks, absmax_out, fn);
}

/* ------------------------------------------------------------------ */
/* Quant state                                                          */

KBIT_API kbit_status kbit_quant_state_init(kbit_quant_state *state, kbit_quant_type type,
                                           kbit_dtype dtype, int ndim, const int64_t *shape,
                                           int blocksize, int nested)
{
    static const char fn[] = "kbit_quant_state_init";
    kbit_clear_error();
    kbit_status st;
    if (state == NULL)
        return kbit_error(KBIT_EINVAL, "%s: state is NULL", fn);
    if ((st = kbit_check_quant_type(type, fn)) != KBIT_OK ||
        (st = kbit_check_float_dtype(dtype, fn, "dtype")) != KBIT_OK ||
        (st = kbit_check_blocksize(blocksize, KBIT_4BIT_MIN_BLOCK, KBIT_MAX_BLOCK, fn)) != KBIT_OK)
        return st;
    if (ndim < 0 || ndim > KBIT_MAX_DIMS)
        return kbit_error(KBIT_EINVAL, "%s: ndim = %d must be 0..%d", fn, ndim, KBIT_MAX_DIMS);
    if (ndim > 0 && shape == NULL)
        return kbit_error(KBIT_EINVAL, "%s: shape is NULL", fn);
    if (nested != 0 && nested != 1)
        return kbit_error(KBIT_EINVAL, "%s: nested = %d must be 0 or 1", fn, nested);
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return kbit_error(KBIT_EINVAL, "%s: shape[%d] = %lld is negative", fn, i,
                              (long long)shape[i]);
        if (shape[i] != 0 && numel > (INT64_MAX / 8) / shape[i])
            return kbit_error(KBIT_EOVERFLOW, "%s: the shape's element count overflows", fn);
        numel *= shape[i];
    }
    memset(state, 0, sizeof *state);
    state->quant_type = type;
    state->dtype = dtype;
    state->blocksize = blocksize;
    state->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        state->shape[i] = shape[i];
    state->numel = numel;
    state->nblocks = kbit_nblocks(numel, blocksize);
    memcpy(state->code, kbit_4bit_quant_map(type), sizeof state->code);
    state->nested = nested;
    state->blocksize2 = KBIT_NESTED_BLOCK;
    state->nblocks2 = nested ? kbit_nblocks(state->nblocks, KBIT_NESTED_BLOCK) : 0;
    memcpy(state->code2, kbit_dynamic_map(KBIT_MAP_SIGNED), sizeof state->code2);
    return KBIT_OK;
}

/* A state's description (everything but its buffers) must be consistent. */
static kbit_status check_state_description(const kbit_quant_state *s, const char *fn)
{
    kbit_status st;
    if (s == NULL)
        return kbit_error(KBIT_EINVAL, "%s: state is NULL", fn);
    if ((st = kbit_check_quant_type(s->quant_type, fn)) != KBIT_OK ||
        (st = kbit_check_float_dtype(s->dtype, fn, "state->dtype")) != KBIT_OK ||
        (st = kbit_check_blocksize(s->blocksize, KBIT_4BIT_MIN_BLOCK, KBIT_MAX_BLOCK, fn)) != KBIT_OK ||
        (st = kbit_check_count(s->numel, 4, fn, "state->numel")) != KBIT_OK)
        return st;
    if (s->ndim < 0 || s->ndim > KBIT_MAX_DIMS)
        return kbit_error(KBIT_EINVAL, "%s: state->ndim = %d must be 0..%d", fn, s->ndim,
                          KBIT_MAX_DIMS);
    int64_t numel = 1;
    for (int i = 0; i < s->ndim; i++) {
        if (s->shape[i] < 0 || (s->shape[i] != 0 && numel > (INT64_MAX / 8) / s->shape[i]))
            return kbit_error(KBIT_EINVAL, "%s: state->shape[%d] is invalid", fn, i);
        numel *= s->shape[i];
    }
    if (numel != s->numel || s->nblocks != kbit_nblocks(s->numel, s->blocksize))
        return kbit_error(KBIT_EINVAL, "%s: state->numel/nblocks do not match its shape "
                          "and blocksize", fn);
    if (s->nested != 0 && s->nested != 1)
        return kbit_error(KBIT_EINVAL, "%s: state->nested = %d must be 0 or 1", fn, s->nested);
    if (s->nested && (s->blocksize2 != KBIT_NESTED_BLOCK ||
                      s->nblocks2 != kbit_nblocks(s->nblocks, KBIT_NESTED_BLOCK)))
        return kbit_error(KBIT_EINVAL, "%s: a nested state needs blocksize2 = 256 and "
                          "nblocks2 = ceil(nblocks / 256)", fn);
    return KBIT_OK;
}

/* ... and its buffers must be there before it is used. */
static kbit_status check_state(const kbit_quant_state *s, const char *fn)
{
    kbit_status st = check_state_description(s, fn);
    if (st != KBIT_OK ||
        (st = kbit_check_data(s->absmax, s->nblocks, s->nested ? 1 : 4, fn,
                              "state->absmax")) != KBIT_OK)
        return st;
    if (s->nested)
        return kbit_check_data(s->absmax2, s->nblocks2, 4, fn, "state->absmax2");
    return KBIT_OK;
}

KBIT_API kbit_status kbit_quant_state_alloc(kbit_device *device, kbit_quant_state *state)
{
    static const char fn[] = "kbit_quant_state_alloc";
    kbit_clear_error();
    kbit_status st;
    if ((st = kbit_check_device(device, fn)) != KBIT_OK ||
        (st = check_state_description(state, fn)) != KBIT_OK)
        return st;
    if (state->absmax != NULL || state->absmax2 != NULL)
        return kbit_error(KBIT_EINVAL, "%s: state already has buffers (release them first)", fn);
    void *absmax = NULL, *absmax2 = NULL;
    size_t bytes = (size_t)state->nblocks * (state->nested ? 1 : 4);
    if ((st = kbit_scratch_alloc(device, bytes, &absmax)) != KBIT_OK)
        return st;
    if (state->nested &&
        (st = kbit_scratch_alloc(device, (size_t)state->nblocks2 * 4, &absmax2)) != KBIT_OK) {
        kbit_scratch_free(device, absmax);
        return st;
    }
    state->absmax = absmax;
    state->absmax2 = absmax2;
    state->owns_buffers = 1;
    return KBIT_OK;
}

KBIT_API void kbit_quant_state_release(kbit_device *device, kbit_quant_state *state)
{
    /* a clean-up call: it records nothing, so a failure's message survives it */
    if (state == NULL || !state->owns_buffers || device == NULL ||
        device->magic != KBIT_DEVICE_MAGIC)
        return;
    kbit_scratch_free(device, state->absmax);
    kbit_scratch_free(device, state->absmax2);
    state->absmax = NULL;
    state->absmax2 = NULL;
    state->owns_buffers = 0;
}

KBIT_API kbit_status kbit_quantize_4bit_state(kbit_device *device, const void *x,
                                              uint8_t *packed, kbit_quant_state *state)
{
    static const char fn[] = "kbit_quantize_4bit_state";
    kbit_clear_error();
    kbit_status st;
    if ((st = kbit_check_device(device, fn)) != KBIT_OK || (st = check_state(state, fn)) != KBIT_OK)
        return st;
    int64_t n = state->numel;
    if ((st = kbit_check_data(x, n, kbit_dtype_size(state->dtype), fn, "x")) != KBIT_OK ||
        (st = kbit_check_data(packed, kbit_packed_4bit_bytes(n), 1, fn, "packed")) != KBIT_OK ||
        (st = KBIT_CHECK_OVERLAP(fn, KBIT_IN(x, n * (int64_t)kbit_dtype_size(state->dtype), "x"),
                                 KBIT_OUT(packed, kbit_packed_4bit_bytes(n), "packed"),
                                 KBIT_OUT(state->absmax, state->nblocks * (state->nested ? 1 : 4),
                                          "state->absmax"),
                                 KBIT_OUT(state->nested ? state->absmax2 : NULL,
                                          state->nblocks2 * 4, "state->absmax2"))) != KBIT_OK)
        return st;
    kbit_op_quantize_4bit op = {
        .type = state->quant_type, .dtype = state->dtype, .x = x, .n = n,
        .blocksize = state->blocksize, .packed = packed, .absmax = state->absmax,
    };
    if (!state->nested)
        return run_quantize_4bit(device, &op, fn);

    /* Nested: plain fp32 absmax in scratch memory, then double-quantized. */
    if ((st = kbit_check_slot(device, (const void *)device->driver->quantize_4bit, fn)) != KBIT_OK)
        return st;
    void *plain = NULL;
    if ((st = kbit_scratch_alloc(device, (size_t)state->nblocks * 4, &plain)) != KBIT_OK)
        return st;
    op.absmax = plain;
    float offset = 0.0f;
    st = run_quantize_4bit(device, &op, fn);
    if (st == KBIT_OK)
        st = run_nested_quantize(device, plain, state->nblocks, state->absmax, state->absmax2,
                                 &offset, fn);
    kbit_scratch_free(device, plain);
    if (st == KBIT_OK) {
        state->offset = offset;
        memcpy(state->code2, kbit_dynamic_map(KBIT_MAP_SIGNED), sizeof state->code2);
    }
    return st;
}

KBIT_API kbit_status kbit_dequantize_4bit_state(kbit_device *device, const uint8_t *packed,
                                                const kbit_quant_state *state,
                                                kbit_dtype out_dtype, void *out)
{
    static const char fn[] = "kbit_dequantize_4bit_state";
    kbit_clear_error();
    kbit_status st;
    if ((st = kbit_check_device(device, fn)) != KBIT_OK || (st = check_state(state, fn)) != KBIT_OK ||
        (st = kbit_check_float_dtype(out_dtype, fn, "out_dtype")) != KBIT_OK)
        return st;
    int64_t n = state->numel;
    if ((st = kbit_check_data(packed, kbit_packed_4bit_bytes(n), 1, fn, "packed")) != KBIT_OK ||
        (st = kbit_check_data(out, n, kbit_dtype_size(out_dtype), fn, "out")) != KBIT_OK ||
        (st = KBIT_CHECK_OVERLAP(fn, KBIT_IN(packed, kbit_packed_4bit_bytes(n), "packed"),
                                 KBIT_IN(state->absmax, state->nblocks * (state->nested ? 1 : 4),
                                         "state->absmax"),
                                 KBIT_IN(state->nested ? state->absmax2 : NULL,
                                         state->nblocks2 * 4, "state->absmax2"),
                                 KBIT_OUT(out, n * (int64_t)kbit_dtype_size(out_dtype), "out"))) !=
            KBIT_OK)
        return st;
    kbit_op_dequantize_4bit op = {
        .type = state->quant_type, .packed = packed, .absmax = state->absmax, .n = n,
        .blocksize = state->blocksize, .out_dtype = out_dtype, .out = out,
    };
    if (!state->nested)
        return run_dequantize_4bit(device, &op, fn);

    /* Nested: reconstruct the fp32 absmax into scratch memory first. */
    if ((st = kbit_check_slot(device, (const void *)device->driver->dequantize_4bit, fn)) != KBIT_OK)
        return st;
    void *scratch = NULL;
    if ((st = kbit_state_absmax_f32(device, state, &op.absmax, &scratch, fn)) != KBIT_OK)
        return st;
    st = run_dequantize_4bit(device, &op, fn);
    kbit_scratch_free(device, scratch);
    return st;
}

/* ------------------------------------------------------------------ */
/* For the other ops that take a quant state (lib/ops/state.h)              */

kbit_status kbit_check_quant_state(const kbit_quant_state *state, const char *fn)
{
    return check_state(state, fn);
}

kbit_status kbit_state_absmax_f32(kbit_device *device, const kbit_quant_state *state,
                                  const float **absmax, void **scratch, const char *fn)
{
    *scratch = NULL;
    if (!state->nested || state->nblocks == 0) {
        *absmax = state->nested ? NULL : state->absmax;
        return KBIT_OK;
    }
    kbit_status st = kbit_check_slot(device, (const void *)device->driver->dequantize_8bit, fn);
    if (st != KBIT_OK ||
        (st = kbit_scratch_alloc(device, (size_t)state->nblocks * 4, scratch)) != KBIT_OK)
        return st;
    st = run_nested_dequantize(device, state->absmax, state->absmax2, state->code2, state->offset,
                               state->nblocks, *scratch, fn);
    if (st != KBIT_OK) {
        kbit_scratch_free(device, *scratch);
        *scratch = NULL;
        return st;
    }
    *absmax = *scratch;
    return KBIT_OK;
}
