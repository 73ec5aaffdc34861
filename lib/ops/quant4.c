/* lib/ops/quant4.c - 4-bit NF4/FP4 quantization, double quantization of absmax
 * and the quant state (doc/numerics.md 1 and 3). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/check.h"
#include "runtime/error.h"
#include "kbit-formats.h"
#include "ops/maps.h"
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
        (st = kbit_check_blocksize(blocksize, KBIT_4BIT_MIN_BLOCK, KBIT_MAX_BLOCK, fn)) != KBIT_OK ||
        (st = kbit_check_family(dev, KBIT_FAMILY_QUANT4, fn)) != KBIT_OK)
        return st;
    return kbit_check_limits(dev, KBIT_FAMILY_QUANT4, dtype, blocksize, fn);
}

/* One driver op on its own call. */
static kbit_status run_quantize_4bit(kbit_device *dev, const kbit_op_quantize_4bit *op,
                                     const char *fn)
{
    kbit_call c;
    kbit_status st = kbit_call_begin(&c, dev, 0,
                                     kbit_driver_workspace(dev, KBIT_OP_QUANTIZE_4BIT, op), fn);
    return st != KBIT_OK ? st : KBIT_RUN(&c, quantize_4bit, op);
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
    if (n == 0)
        return KBIT_OK;
    kbit_op_quantize_4bit op = {
        .struct_size = sizeof op, .type = type, .dtype = dtype, .x = x, .n = n,
        .blocksize = blocksize, .packed = packed, .absmax = absmax,
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
    if (n == 0)
        return KBIT_OK;
    kbit_op_dequantize_4bit op = {
        .struct_size = sizeof op, .type = type, .packed = packed, .absmax = absmax, .n = n,
        .blocksize = blocksize, .out_dtype = out_dtype, .out = out,
    };
    kbit_call c;
    st = kbit_call_begin(&c, device, 0,
                         kbit_driver_workspace(device, KBIT_OP_DEQUANTIZE_4BIT, &op), fn);
    return st != KBIT_OK ? st : KBIT_RUN(&c, dequantize_4bit, &op);
}

/* ------------------------------------------------------------------ */
/* Double quantization                                                  */
/*
 * offset = f32(pairsum(absmax) / nblocks): the driver's block sums and
 * pairsum tree leave it in device memory, where the centred 8-bit quantize
 * reads it; nothing returns to the host in between.
 */

typedef struct nested_plan {
    kbit_op_block_sums sums;
    kbit_op_pairsum tree;
    kbit_op_quantize_8bit q8;
    size_t core_bytes;   /* leaves, the fp64 sum, the fp32 offset */
    size_t driver_bytes;
} nested_plan;

static void nested_plan_init(const kbit_device *dev, const float *absmax, int64_t nblocks,
                             uint8_t *qabsmax, float *absmax2, nested_plan *p)
{
    int64_t leaves = kbit_nblocks(nblocks, KBIT_PAIRSUM_LEAF);
    p->sums = (kbit_op_block_sums){ .struct_size = sizeof p->sums, .x = absmax, .n = nblocks };
    p->tree = (kbit_op_pairsum){ .struct_size = sizeof p->tree, .count = leaves,
                                 .divisor = (double)nblocks };
    p->q8 = (kbit_op_quantize_8bit){
        .struct_size = sizeof p->q8, .dtype = KBIT_F32, .x = absmax, .n = nblocks,
        .blocksize = KBIT_NESTED_BLOCK, .map_id = KBIT_MAP_ID_SIGNED, .center = 1,
        .q = qabsmax, .absmax = absmax2,
    };
    p->core_bytes = kbit_call_size((size_t)leaves * 8) + kbit_call_size(8) + kbit_call_size(4);
    size_t d[3] = { kbit_driver_workspace(dev, KBIT_OP_BLOCK_SUMS, &p->sums),
                    kbit_driver_workspace(dev, KBIT_OP_PAIRSUM, &p->tree),
                    kbit_driver_workspace(dev, KBIT_OP_QUANTIZE_8BIT, &p->q8) };
    p->driver_bytes = d[0] > d[1] ? d[0] : d[1];
    p->driver_bytes = p->driver_bytes > d[2] ? p->driver_bytes : d[2];
}

/* Enqueue the nested quantization; the fp32 offset stays in *offset_dev. */
static kbit_status run_nested(kbit_call *c, nested_plan *p, float **offset_dev)
{
    kbit_status st;
    const float *table = NULL;
    if ((st = kbit_call_take(c, (size_t)p->tree.count * 8, &p->sums.leaves)) != KBIT_OK ||
        (st = kbit_call_take(c, 8, &p->tree.sum)) != KBIT_OK ||
        (st = kbit_call_take(c, 4, &p->tree.sum_f32)) != KBIT_OK ||
        (st = kbit_device_map_table(c, KBIT_MAP_SIGNED, &table)) != KBIT_OK)
        return st;
    p->tree.leaves = p->sums.leaves;
    p->q8.offset = p->tree.sum_f32;
    p->q8.code = table;
    p->q8.mid = table + 256;
    if ((st = KBIT_RUN(c, block_sums, &p->sums)) != KBIT_OK ||
        (st = KBIT_RUN(c, pairsum, &p->tree)) != KBIT_OK ||
        (st = KBIT_RUN(c, quantize_8bit, &p->q8)) != KBIT_OK)
        return st;
    *offset_dev = p->tree.sum_f32;
    return KBIT_OK;
}

static kbit_status nested_dequantize_op(kbit_call *c, const uint8_t *qabsmax,
                                        const float *absmax2, const float *code2, float offset,
                                        int64_t nblocks, float *absmax_out)
{
    const float *table = NULL;
    kbit_map_id id;
    kbit_status st = kbit_call_map_table(c, code2, &table, &id);
    if (st != KBIT_OK)
        return st;
    kbit_op_dequantize_8bit op = {
        .struct_size = sizeof op, .q = qabsmax, .absmax = absmax2, .n = nblocks,
        .blocksize = KBIT_NESTED_BLOCK, .code = table, .add_offset = 1, .offset = offset,
        .out_dtype = KBIT_F32, .out = absmax_out,
    };
    return KBIT_RUN(c, dequantize_8bit, &op);
}

/* Workspace of nested_dequantize_op beyond the output: a custom map's table. */
static size_t nested_dequantize_core_bytes(const float *code2)
{
    return kbit_map_identify(code2) == KBIT_MAP_ID_CUSTOM ? kbit_call_size(KBIT_MAP_TABLE_BYTES)
                                                          : 0;
}

static size_t nested_dequantize_driver_bytes(const kbit_device *dev, int64_t nblocks)
{
    kbit_op_dequantize_8bit op = { .struct_size = sizeof op, .n = nblocks,
                                   .blocksize = KBIT_NESTED_BLOCK, .add_offset = 1,
                                   .out_dtype = KBIT_F32 };
    return kbit_driver_workspace(dev, KBIT_OP_DEQUANTIZE_8BIT, &op);
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
        (st = kbit_check_family(device, KBIT_FAMILY_QUANT4, fn)) != KBIT_OK ||
        (st = KBIT_CHECK_OVERLAP(fn, KBIT_IN(absmax, nblocks * 4, "absmax"),
                                 KBIT_OUT(qabsmax, nblocks, "qabsmax"),
                                 KBIT_OUT(absmax2, kbit_nblocks(nblocks, KBIT_NESTED_BLOCK) * 4,
                                          "absmax2"))) != KBIT_OK)
        return st;
    if (offset == NULL)
        return kbit_error(KBIT_EINVAL, "%s: offset is NULL", fn);
    if (nblocks == 0) {
        *offset = 0.0f;
        return KBIT_OK;
    }
    nested_plan p;
    nested_plan_init(device, absmax, nblocks, qabsmax, absmax2, &p);
    kbit_call c;
    float *offset_dev = NULL, center = 0.0f;
    if ((st = kbit_call_begin(&c, device, p.core_bytes, p.driver_bytes, fn)) != KBIT_OK ||
        (st = run_nested(&c, &p, &offset_dev)) != KBIT_OK ||
        (st = kbit_call_download(&c, &center, offset_dev, sizeof center)) != KBIT_OK)
        return st;
    *offset = center; /* the one value this call hands to the host */
    return KBIT_OK;
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
        (st = kbit_check_family(device, KBIT_FAMILY_QUANT4, fn)) != KBIT_OK ||
        (st = KBIT_CHECK_OVERLAP(fn, KBIT_IN(qabsmax, nblocks, "qabsmax"),
                                 KBIT_IN(absmax2, kbit_nblocks(nblocks, KBIT_NESTED_BLOCK) * 4,
                                         "absmax2"),
                                 KBIT_OUT(absmax_out, nblocks * 4, "absmax_out"))) != KBIT_OK)
        return st;
    if (code2 == NULL)
        code2 = kbit_dynamic_map(KBIT_MAP_SIGNED);
    if (nblocks == 0)
        return KBIT_OK;
    kbit_call c;
    if ((st = kbit_call_begin(&c, device, nested_dequantize_core_bytes(code2),
                              nested_dequantize_driver_bytes(device, nblocks), fn)) != KBIT_OK)
        return st;
    return nested_dequantize_op(&c, qabsmax, absmax2, code2, offset, nblocks, absmax_out);
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
    if ((st = kbit_device_alloc(device, bytes, KBIT_MEM_DEVICE, &absmax, fn)) != KBIT_OK)
        return st;
    if (state->nested && (st = kbit_device_alloc(device, (size_t)state->nblocks2 * 4,
                                                 KBIT_MEM_DEVICE, &absmax2, fn)) != KBIT_OK) {
        kbit_device_free(device, absmax);
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
    kbit_device_free(device, state->absmax);
    kbit_device_free(device, state->absmax2);
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
    if ((st = kbit_check_device(device, fn)) != KBIT_OK || (st = check_state(state, fn)) != KBIT_OK ||
        (st = check_4bit(device, state->quant_type, state->dtype, "state->dtype", state->numel,
                         state->blocksize, fn)) != KBIT_OK)
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
    if (n == 0) {
        if (state->nested) {
            state->offset = 0.0f;
            memcpy(state->code2, kbit_dynamic_map(KBIT_MAP_SIGNED), sizeof state->code2);
        }
        return KBIT_OK;
    }
    kbit_op_quantize_4bit op = {
        .struct_size = sizeof op, .type = state->quant_type, .dtype = state->dtype, .x = x,
        .n = n, .blocksize = state->blocksize, .packed = packed, .absmax = state->absmax,
    };
    if (!state->nested)
        return run_quantize_4bit(device, &op, fn);

    /* Nested: the plain fp32 absmax goes to the workspace, then is
     * double-quantized into the state; its offset comes back to the host
     * (state->offset), the one wait of this call. */
    nested_plan p;
    nested_plan_init(device, NULL, state->nblocks, state->absmax, state->absmax2, &p);
    size_t plain_bytes = (size_t)state->nblocks * 4;
    size_t d4 = kbit_driver_workspace(device, KBIT_OP_QUANTIZE_4BIT, &op);
    kbit_call c;
    float *plain = NULL, *offset_dev = NULL, offset = 0.0f;
    if ((st = kbit_call_begin(&c, device, kbit_call_size(plain_bytes) + p.core_bytes,
                              d4 > p.driver_bytes ? d4 : p.driver_bytes, fn)) != KBIT_OK ||
        (st = kbit_call_take(&c, plain_bytes, &plain)) != KBIT_OK)
        return st;
    op.absmax = plain;
    p.sums.x = plain;
    p.q8.x = plain;
    if ((st = KBIT_RUN(&c, quantize_4bit, &op)) != KBIT_OK ||
        (st = run_nested(&c, &p, &offset_dev)) != KBIT_OK ||
        (st = kbit_call_download(&c, &offset, offset_dev, sizeof offset)) != KBIT_OK)
        return st;
    state->offset = offset;
    memcpy(state->code2, kbit_dynamic_map(KBIT_MAP_SIGNED), sizeof state->code2);
    return KBIT_OK;
}

KBIT_API kbit_status kbit_dequantize_4bit_state(kbit_device *device, const uint8_t *packed,
                                                const kbit_quant_state *state,
                                                kbit_dtype out_dtype, void *out)
{
    static const char fn[] = "kbit_dequantize_4bit_state";
    kbit_clear_error();
    kbit_status st;
    if ((st = kbit_check_device(device, fn)) != KBIT_OK || (st = check_state(state, fn)) != KBIT_OK ||
        (st = check_4bit(device, state->quant_type, out_dtype, "out_dtype", state->numel,
                         state->blocksize, fn)) != KBIT_OK)
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
    if (n == 0)
        return KBIT_OK;
    kbit_op_dequantize_4bit op = {
        .struct_size = sizeof op, .type = state->quant_type, .packed = packed,
        .absmax = state->absmax, .n = n, .blocksize = state->blocksize,
        .out_dtype = out_dtype, .out = out,
    };
    size_t d4 = kbit_driver_workspace(device, KBIT_OP_DEQUANTIZE_4BIT, &op);
    size_t d8 = kbit_state_absmax_driver_bytes(device, state);
    kbit_call c;
    if ((st = kbit_call_begin(&c, device, kbit_state_absmax_bytes(state), d4 > d8 ? d4 : d8,
                              fn)) != KBIT_OK ||
        (st = kbit_state_absmax_f32(&c, state, &op.absmax)) != KBIT_OK)
        return st;
    return KBIT_RUN(&c, dequantize_4bit, &op);
}

/* ------------------------------------------------------------------ */
/* For the other ops that take a quant state (lib/ops/state.h)              */

kbit_status kbit_check_quant_state(const kbit_quant_state *state, const char *fn)
{
    return check_state(state, fn);
}

size_t kbit_state_absmax_bytes(const kbit_quant_state *state)
{
    if (!state->nested || state->nblocks == 0)
        return 0;
    return kbit_call_size((size_t)state->nblocks * 4) + nested_dequantize_core_bytes(state->code2);
}

size_t kbit_state_absmax_driver_bytes(const kbit_device *dev, const kbit_quant_state *state)
{
    if (!state->nested || state->nblocks == 0)
        return 0;
    return nested_dequantize_driver_bytes(dev, state->nblocks);
}

kbit_status kbit_state_absmax_f32(kbit_call *c, const kbit_quant_state *state,
                                  const float **absmax)
{
    if (!state->nested || state->nblocks == 0) {
        *absmax = state->nested ? NULL : state->absmax;
        return KBIT_OK;
    }
    float *out = NULL;
    kbit_status st = kbit_call_take(c, (size_t)state->nblocks * 4, &out);
    if (st == KBIT_OK)
        st = nested_dequantize_op(c, state->absmax, state->absmax2, state->code2,
                                  state->offset, state->nblocks, out);
    *absmax = out;
    return st;
}
