/*
 * kbit-driver.h - the driver ABI, version 2: what a backend implements.
 *
 * A driver is a shared object (plugin) that exports one symbol,
 *
 *     const kbit_driver *kbit_driver_entry(const kbit_host *host);
 *
 * returning a constant table. The CPU driver is built into libkbit and uses
 * the same table. doc/porting.md walks through a complete minimal driver.
 *
 * Versions. The ABI has a major and a minor number. kbit accepts a table of
 * its own major version and of any minor version: it reads the first
 * struct_size bytes of the table, so every slot a table built against an
 * older minor version does not have is "not supported" (KBIT_ENOTSUP), and
 * the slots of a newer minor version that this library does not know are
 * ignored. Slots and op fields are only ever appended, within a major
 * version. Every argument struct starts with its struct_size (the size the
 * core was built with), so a driver built against a newer minor version can
 * tell which trailing fields an older core filled in: KBIT_OP_HAS().
 *
 *   2.0  devices, memory kinds, streams per thread, workspace, families;
 *        every op of the five families
 *   2.1  driver-private weight layouts (gemm4_prepare, int8_prepare),
 *        prefetch of managed memory, optimizer_step_many
 *
 * Families. A driver declares the op families it implements completely
 * (KBIT_FAMILY_* of kbit.h), for all its devices (`families`) or per device
 * (`device_families`), and optionally a subset of dtypes or blocksizes per
 * family (`limits`). The core checks a claimed family against the slots it
 * needs (kbit_family_slots in doc/porting.md) and drops it, with the reason
 * shown by `kbit info`, when a slot is missing. "auto" picks the
 * highest-priority device that implements what the caller asks for.
 *
 * The core validates every argument before calling a driver: drivers receive
 * only valid, typed arguments (counts > 0, supported dtypes and blocksizes,
 * non-NULL and aligned pointers into the device's memory) and never re-check
 * them. Scalars derived on the host (bias corrections, thresholds) are
 * computed once by the core; tables (code maps, midpoints) are in device
 * memory, uploaded by the core.
 *
 * Execution. Every op receives a kbit_exec: the stream of the calling
 * thread (NULL = the device's own stream) and a workspace of device memory
 * private to that thread and stream. Ops are enqueued on the stream and may
 * return before they finish; no op waits for the device except where this
 * header says so. Values an op produces for a later op (reduction leaves,
 * outlier counts, optimizer scales) stay in device memory: the core reads
 * them back only where the public API hands a value to the host.
 *
 * Numerics: doc/numerics.md as upgraded by doc/determinism.md. Results must
 * be bit-identical to the scalar reference (backends/cpu/<family>/ref.c);
 * the shared element rules are the headers of numerics/, the table
 * constants are in kbit-formats.h. `kbit conformance --device NAME` checks
 * a driver against the reference.
 */
#ifndef KBIT_DRIVER_H
#define KBIT_DRIVER_H

#include <stddef.h>

#include "kbit.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KBIT_DRIVER_ABI_MAJOR 2
#define KBIT_DRIVER_ABI_MINOR 1
#define KBIT_DRIVER_ENTRY_SYMBOL "kbit_driver_entry"

/* Whether an argument struct filled by the core carries a field (a driver
 * built against a newer minor version asks this of older cores). */
#define KBIT_OP_HAS(op, field) \
    (offsetof(__typeof__(*(op)), field) + sizeof((op)->field) <= (op)->struct_size)

/* Services the core offers a driver. */
typedef struct kbit_host {
    uint32_t abi_major, abi_minor;
    uint32_t struct_size;
    /* Record the failure message for the current call (printf-style); the
     * driver then returns the matching status. */
    void (*set_error)(const char *fmt, ...)
#if defined(__GNUC__)
        __attribute__((format(printf, 1, 2)))
#endif
        ;
} kbit_host;

/* How an op runs: given to every op slot. */
typedef struct kbit_exec {
    uint32_t struct_size;
    /* The stream of the calling thread (kbit_device_set_stream), NULL for
     * the device's own stream. Enqueue the op's work there. */
    void *stream;
    /* Device memory for the driver's own temporaries: workspace_bytes(op)
     * bytes (64-byte aligned), private to this call's thread and stream,
     * reused by the next op on the same stream. NULL when 0 bytes. */
    void *workspace;
    size_t workspace_bytes;
} kbit_exec;

/* Identifies an op to workspace_bytes. */
typedef enum kbit_op_id {
    KBIT_OP_QUANTIZE_4BIT = 0,
    KBIT_OP_DEQUANTIZE_4BIT,
    KBIT_OP_QUANTIZE_8BIT,
    KBIT_OP_DEQUANTIZE_8BIT,
    KBIT_OP_BLOCK_SUMS,
    KBIT_OP_PAIRSUM,
    KBIT_OP_OPTIMIZER_STEP,
    KBIT_OP_OPTIMIZER_SUMS,
    KBIT_OP_OPTIMIZER_SCALES,
    KBIT_OP_INT8_QUANT,
    KBIT_OP_INT8_MATMUL,
    KBIT_OP_INT8_MM_DEQUANT,
    KBIT_OP_INT8_OUTLIER_ADD,
    KBIT_OP_INT8_DEQUANT_WEIGHT,
    KBIT_OP_INT8_BACKWARD,
    KBIT_OP_INT8_MATMUL_GATHER,
    KBIT_OP_GEMM_4BIT,
    KBIT_OP_GEMM_4BIT_BACKWARD,
    KBIT_OP_COUNT
} kbit_op_id;

/* kbit_map_id (which code map a table is: KBIT_MAP_ID_CUSTOM, _SIGNED,
 * _UNSIGNED) is defined in kbit-formats.h. */

/* --- op argument blocks (all pointers are device pointers unless noted) --- */

typedef struct kbit_op_quantize_4bit {
    uint32_t struct_size;
    kbit_quant_type type;
    kbit_dtype dtype;    /* F32, F16, BF16 */
    const void *x;
    int64_t n;           /* > 0 */
    int32_t blocksize;   /* power of two, 32..4096 */
    uint8_t *packed;     /* ceil(n/2) bytes */
    float *absmax;       /* nblocks */
} kbit_op_quantize_4bit;

typedef struct kbit_op_dequantize_4bit {
    uint32_t struct_size;
    kbit_quant_type type;
    const uint8_t *packed;
    const float *absmax;
    int64_t n;
    int32_t blocksize;
    kbit_dtype out_dtype;
    void *out;
} kbit_op_dequantize_4bit;

typedef struct kbit_op_quantize_8bit {
    uint32_t struct_size;
    kbit_dtype dtype;
    const void *x;
    int64_t n;
    int32_t blocksize;    /* power of two, 64..4096 */
    const float *code;    /* 256 ascending entries */
    const float *mid;     /* 255 entries: mid[i] = (code[i] + code[i+1]) * 0.5f */
    kbit_map_id map_id;   /* which map code is */
    int32_t center;       /* 1: quantize x[i] - *offset (nested absmax), else x[i] */
    const float *offset;  /* center: one value, written by an earlier op (pairsum) */
    uint8_t *q;           /* n */
    float *absmax;        /* nblocks */
} kbit_op_quantize_8bit;

typedef struct kbit_op_dequantize_8bit {
    uint32_t struct_size;
    const uint8_t *q;
    const float *absmax;
    int64_t n;
    int32_t blocksize;
    const float *code;    /* 256 entries */
    int32_t add_offset;   /* 1: out = f32(code*absmax) + offset (nested), out_dtype F32 */
    float offset;         /* host value */
    kbit_dtype out_dtype;
    void *out;
} kbit_op_dequantize_8bit;

/* Leaves of the canonical sum (determinism §4): sequential fp64 sums of
 * 256-element blocks, leaves[b] = sum of x[256b ..] in increasing order. */
typedef struct kbit_op_block_sums {
    uint32_t struct_size;
    const float *x;
    int64_t n;            /* > 0 */
    double *leaves;       /* ceil(n/256) */
} kbit_op_block_sums;

/* The pairsum tree over leaves (determinism §4): level by level, element i
 * of the next level is p[2i] + p[2i+1], an odd last element carried; then
 * *sum = result / divisor (fp64) and, when sum_f32 is not NULL, *sum_f32 =
 * f32(*sum). The leaves may be overwritten. */
typedef struct kbit_op_pairsum {
    uint32_t struct_size;
    double *leaves;
    int64_t count;        /* >= 1 */
    double divisor;       /* 1.0, or the term count for a mean */
    double *sum;          /* one value */
    float *sum_f32;       /* one value, or NULL */
} kbit_op_pairsum;

/* The optimizer kernels (kbit_optim_kernel: KBIT_OPTK_ADAM, _ADEMAMIX,
 * _MOMENTUM, _RMSPROP, _ADAGRAD, _LION; numerics §6.3, §6.5; LAMB runs ADAM
 * and LARS runs MOMENTUM, with the update scale of max_unorm, §6.4), the
 * block size KBIT_OPTIM_BLOCK of every optimizer op and the indices
 * KBIT_OPTSCALE_* of the device-side scalars of a step
 * (kbit_op_optimizer.scales, written by optimizer_scales) are defined in
 * kbit-formats.h. */

/* One optimizer step on one tensor. 2-state kernels: ADAM, ADEMAMIX. */
typedef struct kbit_op_optimizer {
    uint32_t struct_size;
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
    const float *qmap1;     /* 8-bit: the signed map of state1 (256 ascending) */
    const float *mid1;      /* its 255 midpoints (code[i] + code[i+1]) * 0.5f */
    const float *qmap2;     /* 8-bit 2-state: the unsigned map of state2 */
    const float *mid2;
    kbit_map_id map1_id, map2_id;
    int64_t step;           /* >= 1, already incremented */
    float lr, beta1, beta2;
    float beta3, alpha;     /* ADEMAMIX: the scheduled beta3_t and alpha_t */
    float eps, weight_decay;
    /* The gradient multiplier and the update scale (32-bit states with
     * max_unorm, ADAGRAD ignores it): these host values, or, when scales is not NULL,
     * scales[KBIT_OPTSCALE_GNORM] and scales[KBIT_OPTSCALE_UPDATE]. */
    float gnorm_scale, update_scale;
    const float *scales;
    float c1, c2, step_size; /* host scalars of numerics §6.2 */
    float c1p, c2p;         /* f32(1/(1-beta1^t)), f32(1/(1-beta2^t)): update norm only */
    int32_t skip_zeros;
} kbit_op_optimizer;

/* Per-256-element fp64 leaves of the sums the optimizer's norms need
 * (determinism §4); the core reduces them with pairsum. */
typedef enum kbit_optim_sum {
    KBIT_OPTSUM_PARAM_SQ = 0,  /* (double)p * (double)p */
    KBIT_OPTSUM_GRAD_SQ = 1,   /* (double)g * (double)g, raw gradient */
    /* numerics/optim.h kbit_optim_update_leaf_term: (double)u * (double)u,
     * u of numerics §6.4; LION: (double)u unsquared, and the core asks for
     * it after the step (so state1 is the updated state) */
    KBIT_OPTSUM_UPDATE_SQ = 2
} kbit_optim_sum;

typedef struct kbit_op_optimizer_sums {
    uint32_t struct_size;
    const kbit_op_optimizer *step; /* the step to be taken; nothing of it is written */
    kbit_optim_sum which;
    double *leaves;                /* ceil(n/256) */
} kbit_op_optimizer_sums;

/* The device-side scalars of a step from pairsum results: the rules of
 * numerics/optim_scales.h (kbit_optim_scales_clip / _unorm), which every
 * driver runs as they are (a GPU in one work item). */
typedef enum kbit_optim_scale_phase {
    KBIT_OPTSCALE_PHASE_CLIP = 0,  /* percentile clipping: sums[0] = pairsum g^2 */
    KBIT_OPTSCALE_PHASE_UNORM = 1  /* max_unorm: sums[0] = pairsum p^2, sums[1] = pairsum u^2
                                    * (LION: of s', left by the step before) */
} kbit_optim_scale_phase;

typedef struct kbit_op_optimizer_scales {
    uint32_t struct_size;
    kbit_optim_scale_phase phase;
    const double *sums;
    float *history;         /* CLIP: the state's 100 gradient norms, updated */
    float *scales;          /* KBIT_OPTSCALE_COUNT values, written */
    int64_t step;           /* CLIP: >= 1 */
    int32_t percentile;     /* CLIP: 0..99 */
    int32_t clipped;        /* UNORM: 1 if a CLIP phase ran before in this step */
    float gnorm_scale;      /* the caller's multiplier */
    float max_unorm;        /* UNORM */
    float eps;              /* UNORM: added to the limit when add_eps (1-state kernels) */
    int32_t add_eps;
} kbit_op_optimizer_scales;

/* --- LLM.int8() (numerics §4, determinism §3.1) --- */

/* Row-wise quantization through f16(A). The core passes threshold_f16 =
 * f32(f16(threshold)) (the comparison value) and use_threshold = threshold > 0. */
typedef struct kbit_op_int8_quant {
    uint32_t struct_size;
    kbit_dtype dtype;         /* of A: F32, F16, BF16 */
    const void *A;
    int64_t rows, cols;       /* > 0 */
    int32_t use_threshold;    /* 1: outlier detection, masking, column zeroing */
    float threshold_f16;      /* |f16(A)| >= threshold_f16 marks an outlier */
    int8_t *CA;               /* rows * cols */
    float *SCA;               /* rows */
    int64_t *outlier_cols;    /* capacity cols; NULL iff !use_threshold */
    int64_t *n_outliers;      /* one value; NULL iff !use_threshold */
} kbit_op_int8_quant;

/* out[M,N] = A[M,K] x B[N,K]^T in int32 (wrapping modulo 2^32). */
typedef struct kbit_op_int8_matmul {
    uint32_t struct_size;
    const int8_t *A;
    const int8_t *B;          /* NULL when prepared_B is given */
    int64_t M, N, K;          /* M, N > 0; 0 <= K <= KBIT_INT8_MAX_K */
    int32_t *out;
    const void *prepared_B;   /* 2.1: the driver's int8_prepare handle of B, or NULL */
} kbit_op_int8_matmul;

typedef struct kbit_op_int8_mm_dequant {
    uint32_t struct_size;
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
 * i < *n_outliers of f32(X[m,oc[i]]) and f32(T((CB[j,oc[i]] * SCB[j]) * 1/127))).
 * Nothing is written when *n_outliers is 0. */
typedef struct kbit_op_int8_outlier_add {
    uint32_t struct_size;
    kbit_dtype dtype;         /* of X and out */
    const void *X;            /* M * K */
    int64_t M, K;
    const int64_t *outlier_cols; /* *n_outliers ascending columns < K */
    const int64_t *n_outliers;   /* one value, 0..K */
    const int8_t *CB;         /* N * K (NULL when prepared_B is given) */
    const float *SCB;         /* N */
    int64_t N;
    void *out;                /* M * N, read and written */
    /* NULL, or CB's outlier columns gathered by int8_matmul_gather with this
     * capacity: used only when *n_outliers <= CB_cols_capacity (the gather
     * then wrote CB_cols[j * *n_outliers + i] = CB[j, outlier_cols[i]]). */
    const int8_t *CB_cols;
    int64_t CB_cols_capacity;
    kbit_math_mode mode;      /* exact (dot32) unless the driver has a fast path */
    const void *prepared_B;   /* 2.1 */
} kbit_op_int8_outlier_add;

/* The weight columns an outlier op may read (when the gather ran), else NULL. */
static inline const int8_t *kbit_outlier_cb_cols(const kbit_op_int8_outlier_add *op)
{
    return op->CB_cols != NULL && *op->n_outliers <= op->CB_cols_capacity ? op->CB_cols : NULL;
}

/* int8_matmul, and while each row of B is at hand, its bytes at the columns
 * cols[0..*n_cols): gathered[n * *n_cols + i] = B[n, cols[i]], done only when
 * *n_cols <= capacity. Optional: the forward uses it so that the outlier
 * part does not read one cache line of the weight per element. */
typedef struct kbit_op_int8_matmul_gather {
    uint32_t struct_size;
    kbit_op_int8_matmul mm;
    const int64_t *cols;      /* *n_cols ascending columns < K */
    const int64_t *n_cols;    /* one value */
    int64_t capacity;         /* > 0 */
    int8_t *gathered;         /* N * capacity */
} kbit_op_int8_matmul_gather;

/* Weight dequantization: out[r,c] = T((f32(CB[r,c]) * SCB[r]) * 1/127). */
typedef struct kbit_op_int8_dequant_weight {
    uint32_t struct_size;
    const int8_t *CB;
    const float *SCB;
    int64_t rows, cols;       /* > 0 */
    kbit_dtype out_dtype;
    void *out;
} kbit_op_int8_dequant_weight;

/* dX[m,k] = T(dot32 over n of f32(dOut[m,n]) and f32(T((CB[n,k] * SCB[n]) * 1/127))). */
typedef struct kbit_op_int8_backward {
    uint32_t struct_size;
    kbit_dtype dtype;         /* of dOut and dX */
    const void *dOut;         /* M * N */
    int64_t M, N, K;          /* M, K > 0; N >= 0 */
    const int8_t *CB;         /* N * K (NULL when prepared_B is given) */
    const float *SCB;         /* N */
    void *dX;                 /* M * K */
    kbit_math_mode mode;
    const void *prepared_B;   /* 2.1 */
} kbit_op_int8_backward;

/* 4-bit matrix products (numerics §5, determinism §3: every output is one dot32).
 * Forward:  out[m,n] = T(dot32_k(f32(a[m,k]), W[n,k]) + f32(bias[n])), a = A[M,K], out[M,N].
 * Backward: out[m,k] = T(dot32_n(f32(a[m,n]), W[n,k])),                  a = dOut[M,N], out = dA[M,K].
 * W[n,k] = DEC[q(n*K+k)] * absmax[(n*K+k)/blocksize] (one fp32 multiply);
 * the core hands a plain fp32 absmax (a nested one is reconstructed first). */
typedef struct kbit_op_gemm_4bit {
    uint32_t struct_size;
    kbit_quant_type type;
    kbit_dtype dtype;       /* of a, bias and out: F32, F16, BF16 */
    int64_t M;              /* >= 1 */
    int64_t N;              /* forward >= 1; backward >= 0 (dA = T(+0.0) when 0) */
    int64_t K;              /* forward >= 0 (out = T(+0.0 + bias) when 0); backward >= 1 */
    const uint8_t *packed;  /* ceil(N*K/2) bytes (NULL when N*K == 0 or prepared) */
    const float *absmax;    /* ceil(N*K/blocksize) fp32 values (NULL when prepared) */
    int32_t blocksize;      /* power of two, 32..4096 */
    const void *a;
    const void *bias;       /* forward: N values or NULL; backward: NULL */
    void *out;
    kbit_math_mode mode;    /* exact (dot32) unless the driver has a fast path */
    const void *prepared;   /* 2.1: the driver's gemm4_prepare handle, or NULL */
} kbit_op_gemm_4bit;

/* 2.1: a weight to put into a driver-private layout (gemm4_prepare). */
typedef struct kbit_op_gemm4_prepare {
    uint32_t struct_size;
    kbit_quant_type type;
    int64_t N, K;           /* N * K > 0 */
    int32_t blocksize;
    const uint8_t *packed;  /* ceil(N*K/2) bytes */
    const float *absmax;    /* fp32 absmax' (a nested one reconstructed by the core) */
} kbit_op_gemm4_prepare;

/* 2.1: an int8 weight CB[N,K] + SCB[N] to put into a driver-private layout. */
typedef struct kbit_op_int8_prepare {
    uint32_t struct_size;
    const int8_t *CB;
    const float *SCB;
    int64_t N, K;           /* > 0 */
} kbit_op_int8_prepare;

/* Per-family subsets a driver implements (kbit_driver.limits). */
typedef struct kbit_family_limits {
    kbit_family family;     /* one KBIT_FAMILY_* bit; 0 ends the list */
    uint32_t dtypes;        /* bit (1 << KBIT_F32 ...) for each float dtype; 0 = all */
    uint32_t blocksizes;    /* bit log2(blocksize) for each blocksize; 0 = all */
} kbit_family_limits;

/* kbit_driver.flags */
#define KBIT_DRIVER_STREAMS 1u  /* accepts framework streams (kbit_device_set_stream) */

/* --- the table --- */

typedef kbit_status (*kbit_op_fn)(void *ctx, const kbit_exec *ex, const void *op);

typedef struct kbit_driver {
    uint32_t abi_major;    /* KBIT_DRIVER_ABI_MAJOR */
    uint32_t abi_minor;    /* the KBIT_DRIVER_ABI_MINOR the driver was built with */
    uint32_t struct_size;  /* sizeof(kbit_driver) as the driver was built */
    uint32_t flags;        /* KBIT_DRIVER_* */
    const char *name;      /* "cpu", "cuda", ...: the device-spec prefix */
    const char *description;
    int32_t priority;      /* "auto" prefers higher priorities */
    uint32_t families;     /* KBIT_FAMILY_* implemented on every device */
    uint32_t fast_families; /* families with a fast mode (exact otherwise) */
    uint32_t mem_kinds;    /* KBIT_MEM_* bits beyond KBIT_MEM_DEVICE */
    const kbit_family_limits *limits; /* NULL, or subsets ending with family 0 */

    /* Probe the driver: number of devices, or a negative value with *reason
     * set (static or driver-owned string) when the driver cannot work here,
     * e.g. "no CUDA device (cudaGetDeviceCount: error 100)". */
    int (*device_count)(const char **reason);
    /* Optional: the families device `index` implements (a subset of
     * `families`), with *reason set for those it lacks, e.g. "no fp64". */
    uint32_t (*device_families)(int index, const char **reason);

    kbit_status (*device_open)(int index, void **ctx);
    void (*device_close)(void *ctx);
    kbit_status (*device_info)(void *ctx, kbit_device_info *info);
    kbit_status (*set_threads)(void *ctx, int threads);  /* optional */

    /* Memory. mem_free gets any pointer mem_alloc returned, whatever its
     * kind. mem_copy is ordered on the stream; it returns once the source
     * may be reused, and a copy to the host is complete when it returns. */
    kbit_status (*mem_alloc)(void *ctx, size_t bytes, kbit_mem_kind kind, void **ptr);
    kbit_status (*mem_free)(void *ctx, void *ptr);
    kbit_status (*mem_copy)(void *ctx, void *stream, void *dst, const void *src, size_t bytes,
                            kbit_copy_kind kind);
    /* Wait until everything enqueued on the stream (NULL: the device's own) is done. */
    kbit_status (*sync)(void *ctx, void *stream);
    /* Optional: workspace bytes the driver needs for an op (0 if NULL). */
    size_t (*workspace_bytes)(void *ctx, kbit_op_id id, const void *op);

    /* QUANT4, QUANT8 (and the nested absmax: block_sums, pairsum) */
    kbit_status (*quantize_4bit)(void *ctx, const kbit_exec *ex, const kbit_op_quantize_4bit *op);
    kbit_status (*dequantize_4bit)(void *ctx, const kbit_exec *ex, const kbit_op_dequantize_4bit *op);
    kbit_status (*quantize_8bit)(void *ctx, const kbit_exec *ex, const kbit_op_quantize_8bit *op);
    kbit_status (*dequantize_8bit)(void *ctx, const kbit_exec *ex, const kbit_op_dequantize_8bit *op);
    kbit_status (*block_sums)(void *ctx, const kbit_exec *ex, const kbit_op_block_sums *op);
    kbit_status (*pairsum)(void *ctx, const kbit_exec *ex, const kbit_op_pairsum *op);
    /* OPTIM */
    kbit_status (*optimizer_step)(void *ctx, const kbit_exec *ex, const kbit_op_optimizer *op);
    kbit_status (*optimizer_sums)(void *ctx, const kbit_exec *ex, const kbit_op_optimizer_sums *op);
    kbit_status (*optimizer_scales)(void *ctx, const kbit_exec *ex,
                                    const kbit_op_optimizer_scales *op);
    /* INT8 */
    kbit_status (*int8_quant)(void *ctx, const kbit_exec *ex, const kbit_op_int8_quant *op);
    kbit_status (*int8_matmul)(void *ctx, const kbit_exec *ex, const kbit_op_int8_matmul *op);
    kbit_status (*int8_mm_dequant)(void *ctx, const kbit_exec *ex, const kbit_op_int8_mm_dequant *op);
    kbit_status (*int8_outlier_add)(void *ctx, const kbit_exec *ex,
                                    const kbit_op_int8_outlier_add *op);
    kbit_status (*int8_dequant_weight)(void *ctx, const kbit_exec *ex,
                                       const kbit_op_int8_dequant_weight *op);
    kbit_status (*int8_backward)(void *ctx, const kbit_exec *ex, const kbit_op_int8_backward *op);
    kbit_status (*int8_matmul_gather)(void *ctx, const kbit_exec *ex,
                                      const kbit_op_int8_matmul_gather *op); /* optional */
    /* GEMM4 */
    kbit_status (*gemm_4bit)(void *ctx, const kbit_exec *ex, const kbit_op_gemm_4bit *op);
    kbit_status (*gemm_4bit_backward)(void *ctx, const kbit_exec *ex, const kbit_op_gemm_4bit *op);

    /* ---- 2.1 (all optional) ---- */

    /* Move managed memory (KBIT_MEM_MANAGED) towards the device or the host,
     * ordered on the stream. */
    kbit_status (*mem_prefetch)(void *ctx, void *stream, const void *ptr, size_t bytes,
                                int to_device);
    /* A weight in the driver's own layout: *weight is handed back in the ops'
     * `prepared` fields (packed and absmax, or CB, are then NULL; SCB is
     * passed as always), *bytes is the device memory it holds; released with
     * the matching release slot. */
    kbit_status (*gemm4_prepare)(void *ctx, const kbit_exec *ex, const kbit_op_gemm4_prepare *op,
                                 void **weight, size_t *bytes);
    void (*gemm4_release)(void *ctx, void *weight);
    kbit_status (*int8_prepare)(void *ctx, const kbit_exec *ex, const kbit_op_int8_prepare *op,
                                void **weight, size_t *bytes);
    void (*int8_release)(void *ctx, void *weight);
    /* Several independent steps (different tensors) in as few launches as
     * the driver likes; the same bits as one optimizer_step each. */
    kbit_status (*optimizer_step_many)(void *ctx, const kbit_exec *ex,
                                       const kbit_op_optimizer *const *ops, int64_t count);
} kbit_driver;

/* The table size of ABI 2.0 (everything before the 2.1 slots): the smallest
 * table kbit accepts. */
#define KBIT_DRIVER_SIZE_2_0 offsetof(kbit_driver, mem_prefetch)

typedef const kbit_driver *(*kbit_driver_entry_fn)(const kbit_host *host);

#ifdef __cplusplus
}
#endif

#endif /* KBIT_DRIVER_H */
