/* lib/ops/gemm4.c - 4-bit inference matmul and its backward (doc/numerics.md 5,
 * doc/determinism.md 3): checks, the nested absmax, prepared weights, dispatch. */
#include "config.h"

#include <stdlib.h>

#include "runtime/check.h"
#include "runtime/error.h"
#include "ops/state.h"

/* What the ops need to know about a weight, from a state or a prepared weight. */
typedef struct weight_view {
    kbit_quant_type type;
    int32_t blocksize;
    int64_t N, K;
    const uint8_t *packed;
    const kbit_quant_state *state; /* NULL for a prepared weight */
    const float *absmax;           /* prepared weight: its fp32 absmax' */
    const void *prepared;          /* the driver's own layout, or NULL */
} weight_view;

struct kbit_gemm4_weight {
    kbit_device *device;
    weight_view view;
    uint8_t *packed;   /* owned copies (no driver layout) */
    float *absmax;
    void *driver_weight; /* or the driver's own layout (gemm4_prepare) */
    size_t bytes;
};

/* The state must describe a 2-D weight whose bytes are given. */
static kbit_status view_of_state(const uint8_t *packed, const kbit_quant_state *state,
                                 weight_view *v, const char *fn)
{
    kbit_status st = kbit_check_quant_state(state, fn);
    if (st != KBIT_OK)
        return st;
    if (state->ndim != 2)
        return kbit_error(KBIT_EINVAL, "%s: state->ndim = %d; the weight must be 2-D [N, K]", fn,
                          state->ndim);
    if ((st = kbit_check_data(packed, kbit_packed_4bit_bytes(state->numel), 1, fn, "packed")) !=
        KBIT_OK)
        return st;
    *v = (weight_view){ .type = state->quant_type, .blocksize = state->blocksize,
                        .N = state->shape[0], .K = state->shape[1], .packed = packed,
                        .state = state };
    return KBIT_OK;
}

static kbit_status view_of_weight(const kbit_device *device, const kbit_gemm4_weight *w,
                                  weight_view *v, const char *fn)
{
    if (w == NULL)
        return kbit_error(KBIT_EINVAL, "%s: weight is NULL", fn);
    if (w->device != device)
        return kbit_error(KBIT_EINVAL, "%s: weight was prepared on another device", fn);
    *v = w->view;
    return KBIT_OK;
}

/* Activations [M, in] and output [M, out] in dtype; bias [N] (forward). */
static kbit_status check_operands(kbit_dtype dtype, int64_t M, int64_t in, int64_t out_cols,
                                  const void *a, const char *a_name, const void *bias,
                                  int64_t nbias, const void *out, const char *out_name,
                                  const char *fn)
{
    kbit_status st;
    if ((st = kbit_check_float_dtype(dtype, fn, "dtype")) != KBIT_OK ||
        (st = kbit_check_count(M, 4, fn, "M")) != KBIT_OK)
        return st;
    size_t es = kbit_dtype_size(dtype);
    if ((in != 0 && M > (INT64_MAX / 8) / in) || (out_cols != 0 && M > (INT64_MAX / 8) / out_cols))
        return kbit_error(KBIT_EOVERFLOW, "%s: M = %lld rows overflow the element count", fn,
                          (long long)M);
    if ((st = kbit_check_data(a, M * in, es, fn, a_name)) != KBIT_OK ||
        (st = kbit_check_data(out, M * out_cols, es, fn, out_name)) != KBIT_OK)
        return st;
    if (bias != NULL)
        return kbit_check_data(bias, nbias, es, fn, "bias");
    return KBIT_OK;
}

/* Run the driver op with a plain fp32 absmax (reconstructing a nested one
 * into the workspace first). */
static kbit_status run_gemm(kbit_device *dev, const weight_view *v, int backward,
                            kbit_dtype dtype, int64_t M, const void *a, const void *bias,
                            void *out, const char *fn)
{
    kbit_status st;
    if ((st = kbit_check_family(dev, KBIT_FAMILY_GEMM4, fn)) != KBIT_OK ||
        (st = kbit_check_limits(dev, KBIT_FAMILY_GEMM4, dtype, v->blocksize, fn)) != KBIT_OK)
        return st;
    /* Nothing to write: no rows, or no outputs per row. */
    if (M == 0 || (backward ? v->K : v->N) == 0)
        return KBIT_OK;
    kbit_op_gemm_4bit op = {
        .struct_size = sizeof op, .type = v->type, .dtype = dtype, .M = M, .N = v->N,
        .K = v->K, .packed = v->packed, .absmax = v->absmax, .blocksize = v->blocksize,
        .a = a, .bias = bias, .out = out, .mode = dev->mode, .prepared = v->prepared,
    };
    kbit_op_id id = backward ? KBIT_OP_GEMM_4BIT_BACKWARD : KBIT_OP_GEMM_4BIT;
    size_t d = kbit_driver_workspace(dev, id, &op), d8 = 0, core = 0;
    if (v->state != NULL) {
        core = kbit_state_absmax_bytes(v->state);
        d8 = kbit_state_absmax_driver_bytes(dev, v->state);
    }
    kbit_call c;
    if ((st = kbit_call_begin(&c, dev, core, d > d8 ? d : d8, fn)) != KBIT_OK)
        return st;
    if (v->state != NULL && (st = kbit_state_absmax_f32(&c, v->state, &op.absmax)) != KBIT_OK)
        return st;
    return backward ? KBIT_RUN(&c, gemm_4bit_backward, &op) : KBIT_RUN(&c, gemm_4bit, &op);
}

/* Aliasing: the output overlaps none of the inputs (the weight's buffers
 * included; a prepared weight's are its own). */
static kbit_status check_aliasing(const weight_view *v, int backward, const void *a,
                                  int64_t a_elems, const void *bias, int64_t bias_elems,
                                  const void *out, int64_t out_elems, kbit_dtype dtype,
                                  const char *fn)
{
    const kbit_quant_state *s = v->state;
    int64_t es = (int64_t)kbit_dtype_size(dtype);
    return KBIT_CHECK_OVERLAP(fn, KBIT_IN(a, a_elems * es, backward ? "dout" : "A"),
                              KBIT_IN(bias, bias ? bias_elems * es : 0, "bias"),
                              KBIT_IN(s ? v->packed : NULL, kbit_packed_4bit_bytes(v->N * v->K),
                                      "packed"),
                              KBIT_IN(s ? s->absmax : NULL, s ? s->nblocks * (s->nested ? 1 : 4) : 0,
                                      "state->absmax"),
                              KBIT_IN(s && s->nested ? s->absmax2 : NULL, s ? s->nblocks2 * 4 : 0,
                                      "state->absmax2"),
                              KBIT_OUT(out, out_elems * es, backward ? "dA" : "out"));
}

static kbit_status forward(kbit_device *device, const weight_view *v, const void *A,
                           kbit_dtype dtype, int64_t M, const void *bias, void *out,
                           const char *fn)
{
    kbit_status st = check_operands(dtype, M, v->K, v->N, A, "A", bias, v->N, out, "out", fn);
    if (st != KBIT_OK ||
        (st = check_aliasing(v, 0, A, M * v->K, bias, v->N, out, M * v->N, dtype, fn)) != KBIT_OK)
        return st;
    return run_gemm(device, v, 0, dtype, M, A, bias, out, fn);
}

static kbit_status backward(kbit_device *device, const weight_view *v, const void *dout,
                            kbit_dtype dtype, int64_t M, void *dA, const char *fn)
{
    kbit_status st = check_operands(dtype, M, v->N, v->K, dout, "dout", NULL, 0, dA, "dA", fn);
    if (st != KBIT_OK ||
        (st = check_aliasing(v, 1, dout, M * v->N, NULL, 0, dA, M * v->K, dtype, fn)) != KBIT_OK)
        return st;
    return run_gemm(device, v, 1, dtype, M, dout, NULL, dA, fn);
}

/* The start of a call on a quant state: the device, then the weight. */
static kbit_status begin_state(const kbit_device *device, const uint8_t *packed,
                               const kbit_quant_state *state, weight_view *v, const char *fn)
{
    kbit_clear_error();
    kbit_status st = kbit_check_device(device, fn);
    return st != KBIT_OK ? st : view_of_state(packed, state, v, fn);
}

/* ... and of a call on a prepared weight. */
static kbit_status begin_prepared(const kbit_device *device, const kbit_gemm4_weight *weight,
                                  weight_view *v, const char *fn)
{
    kbit_clear_error();
    kbit_status st = kbit_check_device(device, fn);
    return st != KBIT_OK ? st : view_of_weight(device, weight, v, fn);
}

KBIT_API kbit_status kbit_gemm_4bit(kbit_device *device, const void *A, kbit_dtype dtype,
                                    int64_t M, const uint8_t *packed,
                                    const kbit_quant_state *state, const void *bias, void *out)
{
    static const char fn[] = "kbit_gemm_4bit";
    weight_view v;
    kbit_status st = begin_state(device, packed, state, &v, fn);
    return st != KBIT_OK ? st : forward(device, &v, A, dtype, M, bias, out, fn);
}

KBIT_API kbit_status kbit_gemm_4bit_backward(kbit_device *device, const void *dout,
                                             kbit_dtype dtype, int64_t M, const uint8_t *packed,
                                             const kbit_quant_state *state, void *dA)
{
    static const char fn[] = "kbit_gemm_4bit_backward";
    weight_view v;
    kbit_status st = begin_state(device, packed, state, &v, fn);
    return st != KBIT_OK ? st : backward(device, &v, dout, dtype, M, dA, fn);
}

KBIT_API kbit_status kbit_gemm_4bit_prepared(kbit_device *device, const void *A,
                                             kbit_dtype dtype, int64_t M,
                                             const kbit_gemm4_weight *weight, const void *bias,
                                             void *out)
{
    static const char fn[] = "kbit_gemm_4bit_prepared";
    weight_view v;
    kbit_status st = begin_prepared(device, weight, &v, fn);
    return st != KBIT_OK ? st : forward(device, &v, A, dtype, M, bias, out, fn);
}

KBIT_API kbit_status kbit_gemm_4bit_backward_prepared(kbit_device *device, const void *dout,
                                                      kbit_dtype dtype, int64_t M,
                                                      const kbit_gemm4_weight *weight, void *dA)
{
    static const char fn[] = "kbit_gemm_4bit_backward_prepared";
    weight_view v;
    kbit_status st = begin_prepared(device, weight, &v, fn);
    return st != KBIT_OK ? st : backward(device, &v, dout, dtype, M, dA, fn);
}

/* ------------------------------------------------------------------ */
/* Prepared weights                                                     */

static void weight_free(kbit_gemm4_weight *w)
{
    kbit_device *dev = w->device;
    if (w->driver_weight != NULL)
        dev->driver->gemm4_release(dev->ctx, w->driver_weight);
    kbit_device_free(dev, w->packed);
    kbit_device_free(dev, w->absmax);
    free(w);
}

/* Build w from the weight of v: the driver's own layout when it has one,
 * else copies of the packed bytes and of the fp32 absmax'. Waits for the
 * copies, so the caller may free the originals when this returns. */
static kbit_status weight_fill(kbit_gemm4_weight *w, const weight_view *v, const char *fn)
{
    kbit_device *dev = w->device;
    const kbit_quant_state *s = v->state;
    size_t packed_bytes = (size_t)kbit_packed_4bit_bytes(s->numel);
    size_t absmax_bytes = (size_t)s->nblocks * 4;
    int driver_layout = dev->driver->gemm4_prepare != NULL && dev->driver->gemm4_release != NULL &&
                        s->numel > 0;
    kbit_op_gemm4_prepare prep = {
        .struct_size = sizeof prep, .type = s->quant_type, .N = v->N, .K = v->K,
        .blocksize = s->blocksize, .packed = v->packed,
    };
    kbit_call c;
    kbit_status st = kbit_call_begin(&c, dev, kbit_state_absmax_bytes(s),
                                     kbit_state_absmax_driver_bytes(dev, s), fn);
    if (st != KBIT_OK || (st = kbit_state_absmax_f32(&c, s, &prep.absmax)) != KBIT_OK)
        return st;
    if (driver_layout) {
        size_t bytes = 0;
        st = kbit_call_result(&c, dev->driver->gemm4_prepare(dev->ctx, &c.ex, &prep,
                                                             &w->driver_weight, &bytes));
        w->bytes = bytes;
    } else {
        if ((st = kbit_device_alloc(dev, packed_bytes, KBIT_MEM_DEVICE, (void **)&w->packed,
                                    fn)) != KBIT_OK ||
            (st = kbit_device_alloc(dev, absmax_bytes, KBIT_MEM_DEVICE, (void **)&w->absmax,
                                    fn)) != KBIT_OK)
            return st;
        if (packed_bytes > 0)
            st = kbit_call_result(&c, dev->driver->mem_copy(dev->ctx, c.ex.stream, w->packed,
                                                            v->packed, packed_bytes,
                                                            KBIT_DEVICE_TO_DEVICE));
        if (st == KBIT_OK && absmax_bytes > 0)
            st = kbit_call_result(&c, dev->driver->mem_copy(dev->ctx, c.ex.stream, w->absmax,
                                                            prep.absmax, absmax_bytes,
                                                            KBIT_DEVICE_TO_DEVICE));
        w->bytes = packed_bytes + absmax_bytes;
    }
    if (st == KBIT_OK)
        st = kbit_call_result(&c, dev->driver->sync(dev->ctx, c.ex.stream));
    return st;
}

KBIT_API kbit_status kbit_gemm_4bit_prepare(kbit_device *device, const uint8_t *packed,
                                            const kbit_quant_state *state,
                                            kbit_gemm4_weight **weight)
{
    static const char fn[] = "kbit_gemm_4bit_prepare";
    weight_view v;
    kbit_status st = begin_state(device, packed, state, &v, fn);
    if (st != KBIT_OK || (st = kbit_check_family(device, KBIT_FAMILY_GEMM4, fn)) != KBIT_OK)
        return st;
    if (weight == NULL)
        return kbit_error(KBIT_EINVAL, "%s: weight is NULL", fn);
    kbit_gemm4_weight *w = calloc(1, sizeof *w);
    if (w == NULL)
        return kbit_error(KBIT_ENOMEM, "%s: out of host memory", fn);
    w->device = device;
    if ((st = weight_fill(w, &v, fn)) != KBIT_OK) {
        weight_free(w);
        return st;
    }
    w->view = v;
    w->view.packed = w->packed;
    w->view.absmax = w->absmax;
    w->view.state = NULL;
    w->view.prepared = w->driver_weight;
    *weight = w;
    return KBIT_OK;
}

KBIT_API size_t kbit_gemm_4bit_weight_bytes(const kbit_gemm4_weight *weight)
{
    return weight == NULL ? 0 : weight->bytes;
}

KBIT_API void kbit_gemm_4bit_weight_destroy(kbit_gemm4_weight *weight)
{
    if (weight != NULL)
        weight_free(weight);
}
