/*
 * backends/cpu/gemm4/gemm4.h - the 4-bit matmul on the CPU (doc/numerics.md 5,
 * doc/determinism.md 3). Forward kernels compute the outputs of weight rows
 * [n_begin, n_end), backward kernels those of weight columns [k_begin,
 * k_end); each output is one whole dot32.
 */
#ifndef KBIT_CPU_GEMM4_H
#define KBIT_CPU_GEMM4_H

#include "../kernels.h"

/* The transposed activation of the SIMD kernels: row m of A (fp32) padded
 * with +0.0 to a multiple of 128 elements; in every group of 16 chunks of 8
 * elements, element e of chunk i is stored at 16 * e + i. So one 16-float
 * vector holds element e of 16 consecutive chunks: the dot32 lanes of a
 * 512-bit register of 16 packed 32-bit words (two 256-bit halves for AVX2).
 * ops.c builds it once per call in the driver's workspace. */
#define KBIT_GEMM4_GROUP 128
static inline int64_t kbit_cpu_gemm4_row_floats(int64_t K)
{
    return (K + KBIT_GEMM4_GROUP - 1) / KBIT_GEMM4_GROUP * KBIT_GEMM4_GROUP;
}
static inline int64_t kbit_cpu_gemm4_at_index(int64_t K, int64_t m, int64_t k)
{
    int64_t g = k / KBIT_GEMM4_GROUP, r = k % KBIT_GEMM4_GROUP;
    return m * kbit_cpu_gemm4_row_floats(K) + g * KBIT_GEMM4_GROUP + (r % 8) * 16 + r / 8;
}

/* Every kernel gets a32, the op's activation (A, or dOut for the backward)
 * as fp32 rows, converted once per call by ops.c (a reference kernel called
 * with NULL converts it itself). */
typedef struct kbit_cpu_gemm4 {
    /* 1: forward gets `at`, the transposed activation (else NULL) */
    int transposed;
    /* KBIT_ENOMEM if the kernel's work memory is short */
    kbit_status (*forward)(const kbit_op_gemm_4bit *op, const float *a32, const float *at,
                           int64_t n_begin, int64_t n_end);
    kbit_status (*backward)(const kbit_op_gemm_4bit *op, const float *a32, int64_t k_begin,
                            int64_t k_end);
} kbit_cpu_gemm4;

/* Fast mode (doc/determinism.md 1, doc/numerics.md 5.4): opt-in, not
 * dot32. A fast kernel gets the activation packed by ops.c for it and the
 * fp32 rows, with which it may run any rows through the reference. */
typedef struct kbit_cpu_gemm4_fast_args {
    const uint32_t *avnni;        /* the layout of kbit_cpu_gemm4_avnni_words */
    const float *a32;             /* for the reference */
    void *panels;                 /* per thread, panel_bytes each (64-aligned) */
    size_t panel_bytes;
} kbit_cpu_gemm4_fast_args;

typedef struct kbit_cpu_gemm4_fast {
    const char *name; /* "amx-bf16" */
    /* the op's dtype, the K it takes (K % k_multiple == 0) and the least M
     * it is faster than the exact kernel from (measured) */
    kbit_dtype dtype;
    int64_t k_multiple, min_m;
    /* work memory per thread for this K (bytes, a multiple of 64) */
    size_t (*panel_bytes)(int64_t K);
    kbit_status (*forward)(const kbit_op_gemm_4bit *op, const kbit_cpu_gemm4_fast_args *f,
                           int thread, int64_t n_begin, int64_t n_end);
} kbit_cpu_gemm4_fast;

/* The magnitude rule of the fast kernels: an activation element and an
 * absmax are used only when they are 0 or 2^-40 <= |x| < 2^40. Then no
 * input is a denormal, every nonzero product lies in [2^-88, 2^80] and a
 * partial sum flushed to zero loses under 2^-126, far below the 5.4 bound
 * of any output with a nonzero product (>= 2^-96), while nothing overflows;
 * data outside it (denormals, huge values, Inf, NaN) runs exact. */
#define KBIT_CPU_GEMM4_FAST_MIN 0x1p-40f
#define KBIT_CPU_GEMM4_FAST_MAX 0x1p40f
static inline int kbit_cpu_gemm4_fast_magnitude_ok(float x)
{
    float a = x < 0.0f ? -x : x;
    return a == 0.0f || (a >= KBIT_CPU_GEMM4_FAST_MIN && a < KBIT_CPU_GEMM4_FAST_MAX);
}

/* The fast kernels' activation (bf16 pairs, AMX's "VNNI" B operand): per
 * tile of 16 activation rows (zero past M) and step of 32 k, 16 rows of 16
 * words; word [p][i] holds A[m, 32 s + 2p] (low half) and A[m, 32 s + 2p +
 * 1] of m = 16 t + i. Tiles of one t are consecutive in s. */
static inline int64_t kbit_cpu_gemm4_avnni_words(int64_t M, int64_t K)
{
    return (M + 15) / 16 * 16 * K / 2;
}

extern const kbit_cpu_gemm4 kbit_cpu_gemm4_scalar;
extern const kbit_cpu_gemm4 kbit_cpu_gemm4_avx2;   /* KBIT_HAVE_AVX2 */
extern const kbit_cpu_gemm4 kbit_cpu_gemm4_avx512; /* KBIT_HAVE_AVX512 */

/* The reference (ref.c), literally dot32 (numerics/dot32.h). */
kbit_status kbit_ref_gemm_4bit(const kbit_op_gemm_4bit *op, const float *a32, int64_t n_begin,
                               int64_t n_end);
kbit_status kbit_ref_gemm_4bit_backward(const kbit_op_gemm_4bit *op, const float *a32,
                                        int64_t k_begin, int64_t k_end);

/* AVX2 (avx2.c) and AVX-512 (avx512.c). */
kbit_status kbit_avx2_gemm_4bit(const kbit_op_gemm_4bit *op, const float *a32, const float *at,
                                int64_t n_begin, int64_t n_end);
kbit_status kbit_avx2_gemm_4bit_backward(const kbit_op_gemm_4bit *op, const float *a32,
                                         int64_t k_begin, int64_t k_end);
kbit_status kbit_avx512_gemm_4bit(const kbit_op_gemm_4bit *op, const float *a32,
                                  const float *at, int64_t n_begin, int64_t n_end);
kbit_status kbit_avx512_gemm_4bit_backward(const kbit_op_gemm_4bit *op, const float *a32,
                                           int64_t k_begin, int64_t k_end);

/* AMX-BF16 (amx.c): bf16 activations, K % 32 == 0. */
kbit_status kbit_amx_gemm_4bit(const kbit_op_gemm_4bit *op, const kbit_cpu_gemm4_fast_args *f,
                               int thread, int64_t n_begin, int64_t n_end);
/* the panel of both fast kernels (bf16_panel.h): 16 weight rows x K as bf16 */
static inline size_t kbit_bf16_gemm_4bit_panel_bytes(int64_t K)
{
    return (size_t)K * 32;
}
extern const kbit_cpu_gemm4_fast kbit_cpu_gemm4_fast_amx; /* KBIT_HAVE_AMX */

/* AVX512_BF16 (avx512bf16.c): the same op on vdpbf16ps, the same panel. */
kbit_status kbit_avx512bf16_gemm_4bit(const kbit_op_gemm_4bit *op,
                                      const kbit_cpu_gemm4_fast_args *f, int thread,
                                      int64_t n_begin, int64_t n_end);
extern const kbit_cpu_gemm4_fast kbit_cpu_gemm4_fast_avx512bf16; /* KBIT_HAVE_AVX512BF16 */

#endif /* KBIT_CPU_GEMM4_H */
