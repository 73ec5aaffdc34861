/*
 * numerics/tables.h - the 4-bit format tables of include/kbit-formats.h
 * (doc/numerics.md 1.1, 1.2, 1.5, 1.6) where every target can read them.
 *
 * The host (C, and the host pass of CUDA/HIP) keeps each table as a union
 * of its bit patterns and their float values: the SIMD kernels load the
 * float view into vector registers. Devices keep the bit patterns in
 * constant memory (kbit_*_dev, numerics/platform.h). Rules read an entry
 * through the accessors below, which pick the copy of the pass they are
 * compiled in, so a rule is the same statement on every target.
 *
 * The threshold tables have a 16th (or 8th) entry that is a quiet NaN, so
 * that a vector search may read one past the last threshold safely (a
 * comparison with NaN is false).
 */
#ifndef KBIT_NUMERICS_TABLES_H
#define KBIT_NUMERICS_TABLES_H

#include "kbit-formats.h"
#include "numerics/platform.h"

#define KBIT_NUM_QNAN_BITS 0x7fc00000u

#if !defined(KBIT_NUM_OPENCL)
typedef union kbit_f32_table16 {
    uint32_t bits[16];
    float f[16];
} kbit_f32_table16;

static const kbit_f32_table16 kbit_nf4_code = { { KBIT_NF4_BITS_INIT } };
static const kbit_f32_table16 kbit_nf4_threshold = {
    { KBIT_NF4_THRESHOLD_BITS_INIT, KBIT_NUM_QNAN_BITS }
};
static const kbit_f32_table16 kbit_fp4_magnitude = { { KBIT_FP4_MAGNITUDE_BITS_INIT } };
/* t_a..t_g in ascending order, then a quiet NaN. */
static const kbit_f32_table16 kbit_fp4_threshold = {
    { KBIT_FP4_THRESHOLD_BITS_INIT, KBIT_NUM_QNAN_BITS }
};
#endif

KBIT_NUM_DEVICE_TABLE(kbit_nf4_code, 16, KBIT_NF4_BITS_INIT)
KBIT_NUM_DEVICE_TABLE(kbit_nf4_threshold, 16, KBIT_NF4_THRESHOLD_BITS_INIT, KBIT_NUM_QNAN_BITS)
KBIT_NUM_DEVICE_TABLE(kbit_fp4_magnitude, 8, KBIT_FP4_MAGNITUDE_BITS_INIT)
KBIT_NUM_DEVICE_TABLE(kbit_fp4_threshold, 8, KBIT_FP4_THRESHOLD_BITS_INIT, KBIT_NUM_QNAN_BITS)

#if defined(KBIT_NUM_ON_DEVICE)
#define KBIT_NUM_TABLE_F32(name, i) kbit_f32_from_bits(name##_dev[i])
#else
#define KBIT_NUM_TABLE_F32(name, i) ((name).f[i])
#endif

/* NF4[q] (numerics 1.1), q < 16. */
KBIT_NUM_FN float kbit_nf4_value(unsigned q)
{
    return KBIT_NUM_TABLE_F32(kbit_nf4_code, q);
}

/* NF4 encoder threshold T[i] (numerics 1.5), i < 15. */
KBIT_NUM_FN float kbit_nf4_threshold_at(int i)
{
    return KBIT_NUM_TABLE_F32(kbit_nf4_threshold, i);
}

/* FP4M[m] (numerics 1.2), m < 8. */
KBIT_NUM_FN float kbit_fp4_magnitude_at(unsigned m)
{
    return KBIT_NUM_TABLE_F32(kbit_fp4_magnitude, m);
}

/* FP4 threshold t_a..t_g as i = 0..6 (numerics 1.6). */
KBIT_NUM_FN float kbit_fp4_threshold_at(int i)
{
    return KBIT_NUM_TABLE_F32(kbit_fp4_threshold, i);
}

#endif /* KBIT_NUMERICS_TABLES_H */
