/*
 * numerics/platform.h - what lets the headers of numerics/ compile, unchanged,
 * as C11 (the core and the CPU driver), as CUDA or HIP code (host and device
 * passes of nvcc / hipcc) and as OpenCL C 1.2 (PoCL), so that every backend
 * runs the same statements for every element rule (doc/determinism.md 1, 2).
 *
 * Only four kinds of things differ between the targets, and they are all
 * here, behind macros; the rule headers use nothing else:
 *   - integer types and libc: OpenCL C has no <stdint.h>, <string.h> or
 *     <math.h>, so the fixed-width names are typedefs of its own types;
 *   - address spaces: OpenCL C 1.2 has no generic address space (and PoCL
 *     3.1 none as an extension), so every pointer parameter names one:
 *       KBIT_GLOBAL    tensors in device memory (__global)
 *       KBIT_CONSTANT  program-scope tables (__constant: the only
 *                      program-scope variables OpenCL C 1.2 allows)
 *       KBIT_LOCAL     work-group memory (__local)
 *       KBIT_PRIVATE   a work item's own variables and arrays (__private)
 *       KBIT_TABLE     code tables and midpoints handed to a rule (default
 *                      __constant; a program that stages them in local memory
 *                      defines KBIT_TABLE as __local before including these)
 *     and all of them are empty in C and CUDA, where pointers are generic;
 *   - spellings: bit casts (as_uint / __float_as_uint / memcpy) and the
 *     fp32/fp64 operations. In CUDA/HIP device code every +, -, *, /, sqrt
 *     and fma of a rule is the explicit round-to-nearest intrinsic
 *     (__fadd_rn, ...), which the compiler never contracts into an fma
 *     whatever its flags (the build also passes -fmad=false; HIP needs
 *     -ffp-contract=off, its __fmul_rn being a plain multiply). C relies on
 *     -ffp-contract=off (Makefile.am) and OpenCL on
 *     `#pragma OPENCL FP_CONTRACT OFF`, which this header also states (an
 *     OpenCL compiler contracts a*b+c by default, PoCL's included). OpenCL
 *     programs must be built with -cl-fp32-correctly-rounded-divide-sqrt
 *     (IEEE fp32 / and sqrt, doc/determinism.md 2);
 *   - program-scope tables: a device reads them from its constant memory
 *     (KBIT_NUM_DEVICE_TABLE below; numerics/tables.h).
 *
 * KBIT_NUM_FN declares a rule: static inline in C and OpenCL (the SIMD
 * kernels call the rules for their tails and must keep them inlined),
 * __host__ __device__ __forceinline__ in CUDA/HIP (the host pass keeps them
 * callable from host code, which checks them against the C build).
 */
#ifndef KBIT_NUMERICS_PLATFORM_H
#define KBIT_NUMERICS_PLATFORM_H

/* ------------------------------------------------------------------ */
/* Targets                                                              */

#if defined(__OPENCL_VERSION__) || defined(__OPENCL_C_VERSION__)
#define KBIT_NUM_OPENCL 1
#elif defined(__CUDACC__) || defined(__HIPCC__)
#define KBIT_NUM_CUDA 1 /* CUDA or HIP: one source (backends/cuda/gpu-compat.h) */
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
#define KBIT_NUM_DEVICE_PASS 1 /* the device half of a CUDA/HIP compilation */
#endif
#endif

/* ------------------------------------------------------------------ */
/* Types, libc, address spaces                                          */

#if defined(KBIT_NUM_OPENCL)

/* Contraction off for the whole program (the pragma holds from here to the
 * end of the translation unit); fp64 for pairsum and the optimizer norms. */
#pragma OPENCL FP_CONTRACT OFF
#pragma OPENCL EXTENSION cl_khr_fp64 : enable

typedef char int8_t;
typedef uchar uint8_t;
typedef short int16_t;
typedef ushort uint16_t;
typedef int int32_t;
typedef uint uint32_t;
typedef long int64_t;
typedef ulong uint64_t;

#define KBIT_GLOBAL __global
#define KBIT_CONSTANT __constant
#define KBIT_LOCAL __local
#define KBIT_PRIVATE __private
#ifndef KBIT_TABLE
#define KBIT_TABLE __constant
#endif

#define KBIT_NUM_FN static inline

#else /* C, CUDA, HIP */

#include <math.h>
#include <stdint.h>
#include <string.h>
#if defined(__HIPCC__)
/* __host__, __device__, __forceinline__ and the __f*_rn operations (nvcc
 * declares its own in every .cu file; hipcc does not). */
#include <hip/hip_runtime.h>
#endif

#define KBIT_GLOBAL
#define KBIT_CONSTANT
#define KBIT_LOCAL
#define KBIT_PRIVATE
#ifndef KBIT_TABLE
#define KBIT_TABLE
#endif

#if defined(KBIT_NUM_CUDA)
#define KBIT_NUM_FN static __host__ __device__ __forceinline__
#else
#define KBIT_NUM_FN static inline
#endif

#endif

/* Full unrolling of a fixed-count loop: only in CUDA/HIP device code (it
 * keeps small per-thread arrays in registers). Empty for OpenCL, where
 * `#pragma unroll` can crash or hang PoCL 3.1's compiler, and for C. */
#if defined(KBIT_NUM_DEVICE_PASS)
#define KBIT_NUM_UNROLL _Pragma("unroll")
#else
#define KBIT_NUM_UNROLL
#endif

/* ------------------------------------------------------------------ */
/* fp32 and fp64 operations: each macro is one IEEE operation rounded to
 * nearest even (doc/determinism.md 2), never fused with its neighbours.   */

#if defined(KBIT_NUM_DEVICE_PASS)
#define KBIT_FADD(a, b) __fadd_rn((a), (b))
#define KBIT_FSUB(a, b) __fsub_rn((a), (b))
#define KBIT_FMUL(a, b) __fmul_rn((a), (b))
#define KBIT_FDIV(a, b) __fdiv_rn((a), (b))
#define KBIT_FSQRT(a) __fsqrt_rn(a)
#define KBIT_FMA(a, b, c) __fmaf_rn((a), (b), (c))
#define KBIT_DADD(a, b) __dadd_rn((a), (b))
#define KBIT_DMUL(a, b) __dmul_rn((a), (b))
#define KBIT_DDIV(a, b) __ddiv_rn((a), (b))
#define KBIT_DSQRT(a) __dsqrt_rn(a)
#else
#define KBIT_FADD(a, b) ((a) + (b))
#define KBIT_FSUB(a, b) ((a) - (b))
#define KBIT_FMUL(a, b) ((a) * (b))
#define KBIT_FDIV(a, b) ((a) / (b))
#define KBIT_DADD(a, b) ((a) + (b))
#define KBIT_DMUL(a, b) ((a) * (b))
#define KBIT_DDIV(a, b) ((a) / (b))
#if defined(KBIT_NUM_OPENCL)
#define KBIT_FSQRT(a) sqrt((float)(a))
#define KBIT_FMA(a, b, c) fma((float)(a), (float)(b), (float)(c))
#define KBIT_DSQRT(a) sqrt((double)(a))
#else
#define KBIT_FSQRT(a) sqrtf(a)
#define KBIT_FMA(a, b, c) fmaf((a), (b), (c))
#define KBIT_DSQRT(a) sqrt(a)
#endif
#endif

/* ------------------------------------------------------------------ */
/* Bit patterns                                                         */

KBIT_NUM_FN uint32_t kbit_f32_to_bits(float f)
{
#if defined(KBIT_NUM_OPENCL)
    return as_uint(f);
#elif defined(KBIT_NUM_DEVICE_PASS)
    return __float_as_uint(f);
#else
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
#endif
}

KBIT_NUM_FN float kbit_f32_from_bits(uint32_t u)
{
#if defined(KBIT_NUM_OPENCL)
    return as_float(u);
#elif defined(KBIT_NUM_DEVICE_PASS)
    return __uint_as_float(u);
#else
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
#endif
}

KBIT_NUM_FN uint64_t kbit_f64_to_bits(double d)
{
#if defined(KBIT_NUM_OPENCL)
    return as_ulong(d);
#elif defined(KBIT_NUM_DEVICE_PASS)
    return (uint64_t)__double_as_longlong(d);
#else
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
#endif
}

/* |v|: the sign bit cleared (|-0| = +0, |NaN| is NaN). */
KBIT_NUM_FN float kbit_fabs(float v)
{
#if defined(KBIT_NUM_OPENCL)
    return fabs(v);
#else
    return fabsf(v);
#endif
}

/* The sign bit (1 for -0.0 and for a NaN with its sign bit set). */
KBIT_NUM_FN int kbit_signbit(float v)
{
    return (int)(kbit_f32_to_bits(v) >> 31);
}

/* Finite: neither infinite nor NaN. */
KBIT_NUM_FN int kbit_isfinite(float v)
{
    return (kbit_f32_to_bits(v) & 0x7f800000u) != 0x7f800000u;
}

/* ------------------------------------------------------------------ */
/* Program-scope tables                                                 */

/* KBIT_NUM_DEVICE_TABLE(name, count, values...) defines name##_dev, a
 * uint32_t table of fp32 bit patterns in the device's constant memory:
 * __constant__ in CUDA/HIP (declared in both passes, as nvcc requires),
 * __constant in OpenCL, nothing in C. KBIT_NUM_ON_DEVICE is set where a rule
 * must read such a table instead of its host copy (numerics/tables.h). */
#if defined(KBIT_NUM_OPENCL)
#define KBIT_NUM_DEVICE_TABLE(name, count, ...) \
    __constant uint32_t name##_dev[count] = { __VA_ARGS__ };
#elif defined(KBIT_NUM_CUDA)
#define KBIT_NUM_DEVICE_TABLE(name, count, ...) \
    static __constant__ uint32_t name##_dev[count] = { __VA_ARGS__ };
#else
#define KBIT_NUM_DEVICE_TABLE(name, count, ...)
#endif
#if defined(KBIT_NUM_OPENCL) || defined(KBIT_NUM_DEVICE_PASS)
#define KBIT_NUM_ON_DEVICE 1
#endif

#endif /* KBIT_NUMERICS_PLATFORM_H */
