/*
 * numerics/int8.h - the element rules of LLM.int8() (doc/numerics.md 4,
 * doc/determinism.md 3.1 and 4.1). The reference kernels
 * (backends/cpu/int8/ref.c) are built from them, and the SIMD variants use
 * them for tails. The outlier product and the backward are dot32s
 * (numerics/dot32.h) over the weights of kbit_int8_outlier_weight.
 */
#ifndef KBIT_NUMERICS_INT8_H
#define KBIT_NUMERICS_INT8_H

#include "kbit-formats.h"
#include "numerics/dtype.h"
#include "numerics/half.h"
#include "numerics/platform.h"

/* Whether an fp16-valued activation a is eligible for the row absmax: not
 * NaN and, with a threshold, strictly below it (numerics 4.1). */
KBIT_NUM_FN int kbit_int8_eligible(float a, int use_threshold, float threshold)
{
    float m = kbit_fabs(a);
    return use_threshold ? m < threshold : m == m;
}

/* Whether an fp16-valued activation marks its column as an outlier column:
 * |a| >= threshold (NaN never does). */
KBIT_NUM_FN int kbit_int8_is_outlier(float a, int use_threshold, float threshold)
{
    return use_threshold && kbit_fabs(a) >= threshold;
}

/* The row scale s = 127 / SCA (IEEE division: +inf for SCA = 0). */
KBIT_NUM_FN float kbit_int8_row_scale(float sca)
{
    return KBIT_FDIV(kbit_f32_from_bits(KBIT_INT8_SCALE_NUM_BITS), sca);
}

/* The code of v for the row scale s: roundHalfEven(v * s), and 0 when the
 * product is not finite (determinism 4.1). |v * s| <= 127.5 for an eligible
 * v, so the magic-number rounding (RNE, |p| < 2^22) is exact. */
KBIT_NUM_FN int8_t kbit_int8_code(float v, float s)
{
    float p = KBIT_FMUL(v, s);
    if (!(kbit_fabs(p) <= 3.40282347e38f))
        return 0;
    float r = KBIT_FSUB(KBIT_FADD(p, 12582912.0f), 12582912.0f); /* 1.5 * 2^23 */
    return (int8_t)(int32_t)r;
}

/* The CA element of the fp16-valued activation a in a row with absmax SCA
 * and scale s: 0 for a row without eligible element (SCA = 0) and for an
 * element that is not eligible under the threshold (an outlier or NaN),
 * else its code (numerics 4.1). */
KBIT_NUM_FN int8_t kbit_int8_quant_elem(float a, float sca, float s, int use_threshold,
                                        float threshold)
{
    int skip = sca == 0.0f || (use_threshold && !(kbit_fabs(a) < threshold));
    return skip ? (int8_t)0 : kbit_int8_code(a, s);
}

/* The dequantized weight element (numerics 4.2): (f32(cb) * scb) * 1/127. */
KBIT_NUM_FN float kbit_int8_weight_of(int8_t cb, float scb)
{
    return KBIT_FMUL(KBIT_FMUL((float)cb, scb), kbit_f32_from_bits(KBIT_INT8_INV127_BITS));
}

/* The weight of the outlier product and of the backward (determinism 3.1):
 * the dequantized weight rounded to the activation dtype, as bitsandbytes. */
KBIT_NUM_FN float kbit_int8_outlier_weight(int8_t cb, float scb, kbit_dtype dtype)
{
    return kbit_dtype_round(dtype, kbit_int8_weight_of(cb, scb));
}

/* int8_mm_dequant of one element up to the fp16 value o (numerics 4.4),
 * returned as f32(o). bias_kind: 0 none, 1 fp16 (fused), 2 other. */
KBIT_NUM_FN float kbit_int8_mm_dequant_elem(int32_t acc, float sca, float scb, int bias_kind,
                                            float bias)
{
    float t = KBIT_FMUL(KBIT_FMUL((float)acc, sca), scb);
    float c = kbit_f32_from_bits(KBIT_INT8_MM_DEQUANT_BITS);
    float y = KBIT_FMA(t, c, bias_kind == 1 ? bias : 0.0f);
    float o = kbit_through_f16(y);
    if (bias_kind == 2)
        o = kbit_through_f16(KBIT_FADD(o, bias));
    return o;
}

/* The forward's output element before its rounding: Y = T(f32(Y_int8) + r)
 * with r the outlier dot32 (determinism 3.1); the store to Y's dtype is T. */
KBIT_NUM_FN float kbit_int8_outlier_out(float y_int8, float r)
{
    return KBIT_FADD(y_int8, r);
}

#endif /* KBIT_NUMERICS_INT8_H */
