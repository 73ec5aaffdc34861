/*
 * kbit-driver.h - the driver ABI: what a backend implements.
 *
 * A driver is a shared object (plugin) that exports one symbol,
 *
 *     const kbit_driver *kbit_driver_entry(const kbit_host *host);
 *
 * returning a constant table. kbit refuses a table whose abi_version differs
 * from KBIT_DRIVER_ABI_VERSION or whose struct_size is smaller than the one it
 * knows. An op slot left NULL means "not supported" and the core answers
 * KBIT_ENOTSUP. (The CPU driver is built into libkbit and uses the same table.)
 *
 * The core validates every argument before calling a driver: drivers receive
 * only valid, typed arguments (n > 0, supported dtypes and blocksizes, non-NULL
 * and aligned pointers in the device's memory) and never re-check them.
 * Scalars and tables derived on the host (midpoints, offsets) are computed by
 * the core once and passed down, so every driver sees the same bits.
 *
 * Numerics: shared/spec/numerics.md as upgraded by determinism.md. Results must
 * be bit-identical to the scalar reference (backends/cpu/<family>/ref.c). Table constants
 * are in kbit-formats.h.
 *
 * See doc/porting.md for a walk-through.
 */
#ifndef KBIT_DRIVER_H
#define KBIT_DRIVER_H

#include "kbit.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KBIT_DRIVER_ABI_VERSION 1
#define KBIT_DRIVER_ENTRY_SYMBOL "kbit_driver_entry"

/* Services the core offers a driver. */
typedef struct kbit_host {
    uint32_t abi_version;
    /* Record the failure message for the current call (printf-style); the
     * driver then returns the matching status. */
    void (*set_error)(const char *fmt, ...)
#if defined(__GNUC__)
        __attribute__((format(printf, 1, 2)))
#endif
        ;
} kbit_host;

/* --- op argument blocks (all pointers are device pointers unless noted) --- */

typedef struct kbit_op_quantize_4bit {
    kbit_quant_type type;
    kbit_dtype dtype;    /* F32, F16, BF16 */
    const void *x;
    int64_t n;           /* > 0 */
    int32_t blocksize;   /* power of two, 32..4096 */
    uint8_t *packed;     /* ceil(n/2) bytes */
    float *absmax;       /* nblocks */
} kbit_op_quantize_4bit;

typedef struct kbit_op_dequantize_4bit {
    kbit_quant_type type;
    const uint8_t *packed;
    const float *absmax;
    int64_t n;
    int32_t blocksize;
    kbit_dtype out_dtype;
    void *out;
} kbit_op_dequantize_4bit;

typedef struct kbit_op_quantize_8bit {
    kbit_dtype dtype;
    const void *x;
    int64_t n;
    int32_t blocksize;    /* power of two, 64..4096 */
    const float *code;    /* HOST, 256 ascending entries */
    const float *mid;     /* HOST, 255 entries: mid[i] = (code[i] + code[i+1]) * 0.5f */
    int32_t center;       /* 1: quantize x[i] - offset (nested absmax), else x[i] */
    float offset;
    uint8_t *q;           /* n */
    float *absmax;        /* nblocks */
} kbit_op_quantize_8bit;

typedef struct kbit_op_dequantize_8bit {
    const uint8_t *q;
    const float *absmax;
    int64_t n;
    int32_t blocksize;
    const float *code;    /* HOST, 256 entries */
    int32_t add_offset;   /* 1: out = f32(code*absmax) + offset (nested), out_dtype F32 */
    float offset;
    kbit_dtype out_dtype;
    void *out;
} kbit_op_dequantize_8bit;

/* Sequential fp64 sums of 256-element blocks (pairsum leaves, determinism §4). */
typedef struct kbit_op_block_sums {
    const float *x;
    int64_t n;
    double *sums;         /* HOST, ceil(n/256) entries: sums[b] = sum of x[256b..] in order */
} kbit_op_block_sums;

/* Optimizer kernels (numerics 6.3, 6.5). LAMB runs ADAM and LARS runs
 * MOMENTUM, with update_scale from max_unorm (6.4). */
typedef enum kbit_optim_kernel {
    KBIT_OPTK_ADAM = 0,
    KBIT_OPTK_ADEMAMIX = 1,
    KBIT_OPTK_MOMENTUM = 2,
    KBIT_OPTK_RMSPROP = 3,
    KBIT_OPTK_ADAGRAD = 4,
    KBIT_OPTK_LION = 5
} kbit_optim_kernel;

/* 8-bit optimizer states are quantized in blocks of this many elements, and
 * every optimizer op is split into blocks of this size. */
#define KBIT_OPTIM_BLOCK 256

/* One optimizer step on one tensor. 2-state kernels: ADAM, ADEMAMIX. */
typedef struct kbit_op_optimizer {
    kbit_optim_kernel kernel;
    int32_t state_bits;     /* 32: fp32 states; 8: u8 codes + fp32 absmax per 256 */
    kbit_dtype param_dtype; /* F32, F16, BF16 */
    kbit_dtype grad_dtype;  /* F32 or param_dtype */
    void *p;                /* n elements, updated in place */
    const void *g;          /* n elements */
    int64_t n;              /* > 0 */
    void *state1;           /* float[n] or uint8[n]; ADEMAMIX [2n]: m1 then m2 */
    void *state2;           /* 2-state: float[n] or uint8[n]; NULL otherwise */
    float *absmax1;         /* 8-bit: [nblocks]; ADEMAMIX [2*nblocks], m2 at nblocks + b */
    float *absmax2;         /* 8-bit 2-state: [nblocks] */
    const float *qmap1;     /* HOST, 8-bit: the signed map of state1 (256 ascending) */
    const float *mid1;      /* HOST, its 255 midpoints (code[i] + code[i+1]) * 0.5f */
    const float *qmap2;     /* HOST, 8-bit 2-state: the unsigned map of state2 */
    const float *mid2;
    int64_t step;           /* >= 1, already incremented */
    float lr, beta1, beta2;
    float beta3, alpha;     /* ADEMAMIX: the scheduled beta3_t and alpha_t */
    float eps, weight_decay;
    float gnorm_scale;      /* multiplies the gradient (percentile clipping) */
    float update_scale;     /* 32-bit ADAM/MOMENTUM: from max_unorm, else 1 */
    float c1, c2, step_size; /* host scalars of numerics 6.2 */
    float c1p, c2p;         /* f32(1/(1-beta1^t)), f32(1/(1-beta2^t)): update norm only */
    int32_t skip_zeros;
} kbit_op_optimizer;

/* Per-256-element fp64 leaves of the sums the optimizer's norms need
 * (determinism 4); the core reduces them with the pairsum tree. */
typedef enum kbit_optim_sum {
    KBIT_OPTSUM_PARAM_SQ = 0,  /* (double)p * (double)p */
    KBIT_OPTSUM_GRAD_SQ = 1,   /* (double)g * (double)g, raw gradient */
    KBIT_OPTSUM_UPDATE_SQ = 2  /* (double)u * (double)u, u of numerics 6.4 (32-bit ADAM, MOMENTUM) */
} kbit_optim_sum;

typedef struct kbit_op_optimizer_sums {
    const kbit_op_optimizer *step; /* the step to be taken; nothing of it is written */
    kbit_optim_sum which;
    double *sums;                  /* HOST, ceil(n/256) leaves */
} kbit_op_optimizer_sums;
/* --- LLM.int8() (numerics 4, determinism 3.1) --- */

/* Row-wise quantization through f16(A). The core passes threshold_f16 =
 * f32(f16(threshold)) (the comparison value) and use_threshold = threshold > 0. */
typedef struct kbit_op_int8_quant {
    kbit_dtype dtype;         /* of A: F32, F16, BF16 */
    const void *A;
    int64_t rows, cols;       /* > 0 */
    int32_t use_threshold;    /* 1: outlier detection, masking, column zeroing */
    float threshold_f16;      /* |f16(A)| >= threshold_f16 marks an outlier */
    int8_t *CA;               /* rows * cols */
    float *SCA;               /* rows */
    int64_t *outlier_cols;    /* capacity cols; NULL iff !use_threshold */
    int64_t *n_outliers;      /* HOST; NULL iff !use_threshold */
} kbit_op_int8_quant;

/* out[M,N] = A[M,K] x B[N,K]^T in int32 (wrapping modulo 2^32). */
typedef struct kbit_op_int8_matmul {
    const int8_t *A;
    const int8_t *B;
    int64_t M, N, K;          /* M, N > 0; 0 <= K <= KBIT_INT8_MAX_K */
    int32_t *out;
} kbit_op_int8_matmul;

typedef struct kbit_op_int8_mm_dequant {
    const int32_t *acc;       /* M * N */
    const float *SCA;         /* M */
    const float *SCB;         /* N */
    int64_t M, N;             /* > 0 */
    const void *bias;         /* N or NULL */
    kbit_dtype bias_dtype;    /* F32, F16, BF16 (when bias) */
    kbit_dtype out_dtype;     /* F32, F16, BF16 */
    void *out;                /* M * N */
} kbit_op_int8_mm_dequant;

/* The outlier part of the forward: out[m,j] = T(f32(out[m,j]) + dot32 over
 * i < n_outliers of f32(X[m,oc[i]]) and f32(T((CB[j,oc[i]] * SCB[j]) * 1/127))). */
typedef struct kbit_op_int8_outlier_add {
    kbit_dtype dtype;         /* of X and out */
    const void *X;            /* M * K */
    int64_t M, K;
    const int64_t *outlier_cols; /* n_outliers ascending columns < K */
    int64_t n_outliers;       /* > 0 */
    const int8_t *CB;         /* N * K */
    const float *SCB;         /* N */
    int64_t N;
    void *out;                /* M * N, read and written */
    /* NULL, or CB's outlier columns gathered by int8_matmul_gather:
     * CB_cols[j * n_outliers + i] = CB[j, outlier_cols[i]] (same bits, read
     * without touching a cache line of CB per element) */
    const int8_t *CB_cols;
} kbit_op_int8_outlier_add;

/* int8_matmul, and while each row of B is at hand, its bytes at the columns
 * cols[0..n_cols): gathered[n * n_cols + i] = B[n, cols[i]]. Optional: the
 * forward uses it so that the outlier part does not read one cache line of
 * the weight per element (without it the outlier part reads CB directly). */
typedef struct kbit_op_int8_matmul_gather {
    kbit_op_int8_matmul mm;
    const int64_t *cols;      /* n_cols ascending columns < K */
    int64_t n_cols;           /* > 0 */
    int8_t *gathered;         /* N * n_cols */
} kbit_op_int8_matmul_gather;

/* Weight dequantization: out[r,c] = T((f32(CB[r,c]) * SCB[r]) * 1/127). */
typedef struct kbit_op_int8_dequant_weight {
    const int8_t *CB;
    const float *SCB;
    int64_t rows, cols;       /* > 0 */
    kbit_dtype out_dtype;
    void *out;
} kbit_op_int8_dequant_weight;

/* dX[m,k] = T(dot32 over n of f32(dOut[m,n]) and f32(T((CB[n,k] * SCB[n]) * 1/127))). */
typedef struct kbit_op_int8_backward {
    kbit_dtype dtype;         /* of dOut and dX */
    const void *dOut;         /* M * N */
    int64_t M, N, K;          /* M, K > 0; N >= 0 */
    const int8_t *CB;         /* N * K */
    const float *SCB;         /* N */
    void *dX;                 /* M * K */
} kbit_op_int8_backward;
/* 4-bit matrix products (numerics 5, determinism 3: every output is one dot32).
 * Forward:  out[m,n] = T(dot32_k(f32(a[m,k]), W[n,k]) + f32(bias[n])), a = A[M,K], out[M,N].
 * Backward: out[m,k] = T(dot32_n(f32(a[m,n]), W[n,k])),                  a = dOut[M,N], out = dA[M,K].
 * W[n,k] = DEC[q(n*K+k)] * absmax[(n*K+k)/blocksize] (one fp32 multiply);
 * the core hands a plain fp32 absmax (a nested one is reconstructed first). */
typedef struct kbit_op_gemm_4bit {
    kbit_quant_type type;
    kbit_dtype dtype;       /* of a, bias and out: F32, F16, BF16 */
    int64_t M;              /* >= 1 */
    int64_t N;              /* forward >= 1; backward >= 0 (dA = T(+0.0) when 0) */
    int64_t K;              /* forward >= 0 (out = T(+0.0 + bias) when 0); backward >= 1 */
    const uint8_t *packed;  /* ceil(N*K/2) bytes (NULL when N*K == 0) */
    const float *absmax;    /* ceil(N*K/blocksize) fp32 values */
    int32_t blocksize;      /* power of two, 32..4096 */
    const void *a;
    const void *bias;       /* forward: N values or NULL; backward: NULL */
    void *out;
} kbit_op_gemm_4bit;

/* --- the table --- */

typedef struct kbit_driver {
    uint32_t abi_version;  /* KBIT_DRIVER_ABI_VERSION */
    uint32_t struct_size;  /* sizeof(kbit_driver) */
    const char *name;      /* "cpu", "cuda", ...: the device-spec prefix */
    const char *description;
    int priority;          /* "auto" picks the highest priority driver with a device */

    /* Probe the driver: number of devices, or a negative value with *reason
     * set (static or driver-owned string) when the driver cannot work here,
     * e.g. "no CUDA device (cudaGetDeviceCount: error 100)". */
    int (*device_count)(const char **reason);

    kbit_status (*device_open)(int index, void **ctx);
    void (*device_close)(void *ctx);
    kbit_status (*device_info)(void *ctx, kbit_device_info *info);
    kbit_status (*set_threads)(void *ctx, int threads);  /* optional */
    kbit_status (*set_stream)(void *ctx, void *stream);  /* optional */

    kbit_status (*mem_alloc)(void *ctx, size_t bytes, void **ptr);
    kbit_status (*mem_free)(void *ctx, void *ptr);
    kbit_status (*mem_copy)(void *ctx, void *dst, const void *src, size_t bytes,
                            kbit_copy_kind kind);
    kbit_status (*sync)(void *ctx);

    /* ops (NULL = not supported) */
    kbit_status (*quantize_4bit)(void *ctx, const kbit_op_quantize_4bit *op);
    kbit_status (*dequantize_4bit)(void *ctx, const kbit_op_dequantize_4bit *op);
    kbit_status (*quantize_8bit)(void *ctx, const kbit_op_quantize_8bit *op);
    kbit_status (*dequantize_8bit)(void *ctx, const kbit_op_dequantize_8bit *op);
    kbit_status (*block_sums)(void *ctx, const kbit_op_block_sums *op);
    kbit_status (*optimizer_step)(void *ctx, const kbit_op_optimizer *op);
    kbit_status (*optimizer_sums)(void *ctx, const kbit_op_optimizer_sums *op);
    /* LLM.int8() */
    kbit_status (*int8_quant)(void *ctx, const kbit_op_int8_quant *op);
    kbit_status (*int8_matmul)(void *ctx, const kbit_op_int8_matmul *op);
    kbit_status (*int8_mm_dequant)(void *ctx, const kbit_op_int8_mm_dequant *op);
    kbit_status (*int8_outlier_add)(void *ctx, const kbit_op_int8_outlier_add *op);
    kbit_status (*int8_dequant_weight)(void *ctx, const kbit_op_int8_dequant_weight *op);
    kbit_status (*int8_backward)(void *ctx, const kbit_op_int8_backward *op);
    kbit_status (*int8_matmul_gather)(void *ctx, const kbit_op_int8_matmul_gather *op);
    kbit_status (*gemm_4bit)(void *ctx, const kbit_op_gemm_4bit *op);
    kbit_status (*gemm_4bit_backward)(void *ctx, const kbit_op_gemm_4bit *op);
} kbit_driver;

typedef const kbit_driver *(*kbit_driver_entry_fn)(const kbit_host *host);

#ifdef __cplusplus
}
#endif

#endif /* KBIT_DRIVER_H */
