/*
 * numerics/dtype.h - elements of the data dtypes (F32, F16, BF16) as fp32
 * values (doc/numerics.md 0.3): a load is exact, a store is one RNE
 * rounding (numerics/half.h), and T(v) - "v rounded to the dtype and back" -
 * is what the formulas write as a rounding to the parameter or activation
 * dtype. Arrays are tensors in device memory (KBIT_GLOBAL); the block forms
 * fill or read a work item's own buffer (KBIT_PRIVATE).
 */
#ifndef KBIT_NUMERICS_DTYPE_H
#define KBIT_NUMERICS_DTYPE_H

#include "kbit-formats.h"
#include "numerics/half.h"
#include "numerics/platform.h"

/* Element i of a F32/F16/BF16 array, exactly as fp32. */
KBIT_NUM_FN float kbit_dtype_load(kbit_dtype dtype, KBIT_GLOBAL const void *x, int64_t i)
{
    if (dtype == KBIT_F32)
        return ((KBIT_GLOBAL const float *)x)[i];
    uint16_t h = ((KBIT_GLOBAL const uint16_t *)x)[i];
    return dtype == KBIT_F16 ? kbit_f16_to_f32(h) : kbit_bf16_to_f32(h);
}

/* Element i of a F32/F16/BF16 array := dtype(v), RNE. */
KBIT_NUM_FN void kbit_dtype_store(kbit_dtype dtype, KBIT_GLOBAL void *out, int64_t i, float v)
{
    if (dtype == KBIT_F32)
        ((KBIT_GLOBAL float *)out)[i] = v;
    else if (dtype == KBIT_F16)
        ((KBIT_GLOBAL uint16_t *)out)[i] = kbit_f32_to_f16(v);
    else
        ((KBIT_GLOBAL uint16_t *)out)[i] = kbit_f32_to_bf16(v);
}

/* T(v): v rounded to dtype and back to fp32 (the identity for F32). */
KBIT_NUM_FN float kbit_dtype_round(kbit_dtype dtype, float v)
{
    if (dtype == KBIT_F16)
        return kbit_through_f16(v);
    if (dtype == KBIT_BF16)
        return kbit_through_bf16(v);
    return v;
}

/* x[start .. start+count) of dtype -> v[0 .. count), exactly. */
KBIT_NUM_FN void kbit_load_f32(KBIT_GLOBAL const void *x, kbit_dtype dtype, int64_t start,
                               int64_t count, KBIT_PRIVATE float *v)
{
    if (dtype == KBIT_F32) {
        KBIT_GLOBAL const float *p = (KBIT_GLOBAL const float *)x + start;
        for (int64_t i = 0; i < count; i++)
            v[i] = p[i];
    } else if (dtype == KBIT_F16) {
        KBIT_GLOBAL const uint16_t *p = (KBIT_GLOBAL const uint16_t *)x + start;
        for (int64_t i = 0; i < count; i++)
            v[i] = kbit_f16_to_f32(p[i]);
    } else {
        KBIT_GLOBAL const uint16_t *p = (KBIT_GLOBAL const uint16_t *)x + start;
        for (int64_t i = 0; i < count; i++)
            v[i] = kbit_bf16_to_f32(p[i]);
    }
}

/* v[0 .. count) -> out[start .. start+count) of dtype, RNE. */
KBIT_NUM_FN void kbit_store_f32(KBIT_GLOBAL void *out, kbit_dtype dtype, int64_t start,
                                int64_t count, KBIT_PRIVATE const float *v)
{
    if (dtype == KBIT_F32) {
        KBIT_GLOBAL float *p = (KBIT_GLOBAL float *)out + start;
        for (int64_t i = 0; i < count; i++)
            p[i] = v[i];
    } else if (dtype == KBIT_F16) {
        KBIT_GLOBAL uint16_t *p = (KBIT_GLOBAL uint16_t *)out + start;
        for (int64_t i = 0; i < count; i++)
            p[i] = kbit_f32_to_f16(v[i]);
    } else {
        KBIT_GLOBAL uint16_t *p = (KBIT_GLOBAL uint16_t *)out + start;
        for (int64_t i = 0; i < count; i++)
            p[i] = kbit_f32_to_bf16(v[i]);
    }
}

#endif /* KBIT_NUMERICS_DTYPE_H */
