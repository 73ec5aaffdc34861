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
 * be bit-identical to the scalar reference (backends/cpu/ref). Table constants
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
    kbit_status (*gemm_4bit)(void *ctx, const kbit_op_gemm_4bit *op);
    kbit_status (*gemm_4bit_backward)(void *ctx, const kbit_op_gemm_4bit *op);
} kbit_driver;

typedef const kbit_driver *(*kbit_driver_entry_fn)(const kbit_host *host);

#ifdef __cplusplus
}
#endif

#endif /* KBIT_DRIVER_H */
