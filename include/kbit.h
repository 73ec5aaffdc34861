/*
 * kbit.h - the public API of kbit.
 *
 * kbit gives one backend-neutral C API for the quantized math of large models
 * (bitsandbytes' NF4/FP4 4-bit and 8-bit blockwise formats) and runs it on the
 * CPU, CUDA, ROCm/HIP or OpenCL through drivers chosen at run time, with
 * bit-identical results on every backend.
 *
 * Conventions used by every function below:
 *  - Every function returns a kbit_status. On failure nothing was written to any
 *    output, and kbit_last_error() returns a message that names the problem
 *    (thread-local; valid until the next kbit call on the same thread).
 *  - Data pointers passed to an op live in the memory of the device passed to
 *    that op (use kbit_malloc / kbit_copy to move data). Code tables (maps) and
 *    scalars are host values.
 *  - Element counts are 64-bit. Ops accept n == 0 (nothing is written).
 *  - Data pointers must be aligned to their element size. A data pointer may
 *    be NULL only when its element count is 0 (frameworks' empty tensors).
 *  - Nothing in the library prints, aborts or exits.
 */
#ifndef KBIT_H
#define KBIT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define KBIT_API __declspec(dllexport)
#elif defined(__GNUC__)
#define KBIT_API __attribute__((visibility("default")))
#else
#define KBIT_API
#endif

/* ------------------------------------------------------------------ */
/* Version                                                              */

#define KBIT_VERSION_MAJOR 0
#define KBIT_VERSION_MINOR 1
#define KBIT_VERSION_PATCH 0

/* The version string of the library actually loaded, e.g. "0.1.0". */
KBIT_API const char *kbit_version(void);

/* ------------------------------------------------------------------ */
/* Status codes and errors                                              */

typedef enum kbit_status {
    KBIT_OK = 0,
    KBIT_EINVAL = 1,   /* an argument is invalid (NULL, size, dtype, ...) */
    KBIT_ENOMEM = 2,   /* out of host or device memory */
    KBIT_ENOTSUP = 3,  /* the driver does not implement this op/combination */
    KBIT_ENODEV = 4,   /* no such device, or the driver found no device */
    KBIT_EFORMAT = 5,  /* malformed file or data format */
    KBIT_EIO = 6,      /* a read or write failed */
    KBIT_EDRIVER = 7,  /* the driver or the device reported a failure */
    KBIT_EOVERFLOW = 8 /* a size or byte count does not fit */
} kbit_status;

/* Short constant description of a status ("invalid argument", ...). */
KBIT_API const char *kbit_strerror(kbit_status status);

/* The message of the last failure on this thread, naming the argument or
 * condition at fault; "" when the last call succeeded. */
KBIT_API const char *kbit_last_error(void);

/* ------------------------------------------------------------------ */
/* Data types                                                           */

typedef enum kbit_dtype {
    KBIT_F32 = 0,
    KBIT_F16 = 1,  /* IEEE binary16 */
    KBIT_BF16 = 2, /* bfloat16 */
    KBIT_U8 = 3,
    KBIT_I8 = 4,
    KBIT_I32 = 5,
    KBIT_I64 = 6,
    KBIT_F64 = 7
} kbit_dtype;

/* Bytes per element (0 for an unknown dtype) and a name ("f32", "bf16", ...;
 * NULL for an unknown dtype). */
KBIT_API size_t kbit_dtype_size(kbit_dtype dtype);
KBIT_API const char *kbit_dtype_name(kbit_dtype dtype);

/* ------------------------------------------------------------------ */
/* Drivers and devices                                                  */

typedef struct kbit_device kbit_device;

/* What kbit found when it looked for drivers (for `kbit info`).
 * Drivers are the built-in CPU driver plus plugins kbit-*.so found in the
 * install's plugin directory and in the directories of KBIT_DRIVER_PATH
 * (colon-separated; a file name in the list is loaded as is). */
typedef struct kbit_driver_report {
    const char *name;      /* "cpu", "cuda", ...; the file name if not loaded */
    const char *path;      /* plugin file, or "(built in)" */
    int loaded;            /* 1 if the driver was accepted */
    int device_count;      /* devices found (0 if none or not loaded) */
    const char *reason;    /* why it was refused or found no device; "" if ok */
    const char *description;
} kbit_driver_report;

/* Number of drivers found (loaded or refused); scans on first use. */
KBIT_API kbit_status kbit_driver_count(int *count);
/* Report on driver i (0 <= i < count). Strings stay valid until exit. */
KBIT_API kbit_status kbit_driver_get(int index, kbit_driver_report *report);

/* Open a device by spec:
 *   "auto"       the best device found: cuda, hip, opencl, then cpu
 *   "cpu"        the built-in CPU driver (also "cpu:0")
 *   "NAME[:I]"   device I (default 0) of the driver called NAME, e.g. "cuda:1"
 * The CPU driver reads KBIT_CPU_ISA (scalar | avx2 | avx512) when a device is
 * opened, to force one instruction-set variant; by default it picks the best
 * one the CPU and OS support. Fails with KBIT_ENODEV if the driver is missing,
 * refused, or has no such device (the message says which and why). */
KBIT_API kbit_status kbit_device_open(const char *spec, kbit_device **device);
/* Close a device; NULL is ignored. Memory allocated on it must be freed first. */
KBIT_API void kbit_device_close(kbit_device *device);

typedef struct kbit_device_info {
    char driver[32];       /* "cpu", "cuda", ... */
    char name[128];        /* e.g. "Intel(R) Xeon(R) ...", "NVIDIA H100" */
    char variant[32];      /* CPU: "scalar", "avx2", "avx512"; GPU: arch, e.g. "sm_90" */
    int index;             /* device index within the driver */
    int threads;           /* CPU worker threads used by ops (1 on GPUs) */
    uint64_t memory_bytes; /* total device memory (host RAM for the CPU) */
} kbit_device_info;

KBIT_API kbit_status kbit_device_get_info(kbit_device *device, kbit_device_info *info);

/* CPU: number of worker threads used by ops on this device (>= 1). Results
 * never depend on it. GPU drivers accept only 1. */
KBIT_API kbit_status kbit_device_set_threads(kbit_device *device, int threads);

/* Hand the device a framework's native stream or queue (cudaStream_t,
 * hipStream_t, cl_command_queue); NULL returns to the device's own default.
 * Ops are then enqueued on it; kbit_sync waits for it. The CPU driver accepts
 * only NULL. */
KBIT_API kbit_status kbit_device_set_stream(kbit_device *device, void *stream);

/* Device memory. kbit_malloc of 0 bytes returns a unique pointer that may be freed. */
KBIT_API kbit_status kbit_malloc(kbit_device *device, size_t bytes, void **ptr);
KBIT_API kbit_status kbit_free(kbit_device *device, void *ptr);

typedef enum kbit_copy_kind {
    KBIT_HOST_TO_DEVICE = 0,
    KBIT_DEVICE_TO_HOST = 1,
    KBIT_DEVICE_TO_DEVICE = 2
} kbit_copy_kind;

/* Copy bytes; ordered with the ops on the device's stream. A copy to the
 * host is complete when the call returns. */
KBIT_API kbit_status kbit_copy(kbit_device *device, void *dst, const void *src,
                               size_t bytes, kbit_copy_kind kind);
/* Wait until every op enqueued on the device has finished. */
KBIT_API kbit_status kbit_sync(kbit_device *device);

/* ------------------------------------------------------------------ */
/* Code tables                                                          */

typedef enum kbit_quant_type {
    KBIT_FP4 = 1, /* bitsandbytes quant_type 1 */
    KBIT_NF4 = 2  /* bitsandbytes quant_type 2 */
} kbit_quant_type;

typedef enum kbit_map_kind {
    KBIT_MAP_SIGNED = 0,  /* bitsandbytes "dynamic" map (create_dynamic_map(True)) */
    KBIT_MAP_UNSIGNED = 1 /* "udynamic" (create_dynamic_map(False)) */
} kbit_map_kind;

/* The 256-entry dynamic map (host memory, ascending), built once by the
 * specification's recipe and checked against its normative table. NULL for
 * an unknown kind. */
KBIT_API const float *kbit_dynamic_map(kbit_map_kind kind);

/* The 16-entry 4-bit table as bitsandbytes stores it in `quant_map`
 * (get_4bit_type; FP4 entry 8 is +0.0). kbit decodes FP4 code 8 as -0.0, as
 * the bitsandbytes kernels do. NULL for an unknown type. */
KBIT_API const float *kbit_4bit_quant_map(kbit_quant_type type);

/* ------------------------------------------------------------------ */
/* 4-bit blockwise quantization (NF4, FP4)                              */
/*
 * Blocks are flat: block b covers elements [b*B, min((b+1)*B, n)) of the
 * row-major input, regardless of its shape. Packed byte j holds element 2j in
 * its high nibble and 2j+1 in its low nibble; ceil(n/2) bytes.
 * Blocksize B: a power of two from 32 to 4096. Input and output dtypes:
 * KBIT_F32, KBIT_F16, KBIT_BF16.
 */

/* Number of blocks, ceil(n / blocksize), and packed bytes, ceil(n / 2). */
KBIT_API int64_t kbit_nblocks(int64_t n, int blocksize);
KBIT_API int64_t kbit_packed_4bit_bytes(int64_t n);

/* x[n] (dtype) -> packed[ceil(n/2)] and absmax[nblocks] (fp32). */
KBIT_API kbit_status kbit_quantize_4bit(kbit_device *device, kbit_quant_type type,
                                        kbit_dtype dtype, const void *x, int64_t n,
                                        int blocksize, uint8_t *packed, float *absmax);

/* packed + absmax (fp32) -> out[n] in out_dtype: out[i] = T(DEC[q_i] * absmax[i/B]). */
KBIT_API kbit_status kbit_dequantize_4bit(kbit_device *device, kbit_quant_type type,
                                          const uint8_t *packed, const float *absmax,
                                          int64_t n, int blocksize,
                                          kbit_dtype out_dtype, void *out);

/* ------------------------------------------------------------------ */
/* Double ("nested") quantization of 4-bit absmax                       */
/*
 * offset = mean(absmax) (fp64 pairwise sum, one rounding); the centred values
 * absmax[i] - offset are quantized blockwise with blocksize 256 and the signed
 * dynamic map into qabsmax[nblocks] (u8) and absmax2[ceil(nblocks/256)] (fp32).
 * Reconstruction: absmax[i] = (code2[qabsmax[i]] * absmax2[i/256]) + offset,
 * two fp32 roundings.
 */
#define KBIT_NESTED_BLOCKSIZE 256

/* offset is a host float. */
KBIT_API kbit_status kbit_nested_quantize(kbit_device *device, const float *absmax,
                                          int64_t nblocks, uint8_t *qabsmax,
                                          float *absmax2, float *offset);
/* code2: host, 256 ascending entries (the map stored with the data); NULL =
 * the signed dynamic map. absmax_out[nblocks] (fp32, device). */
KBIT_API kbit_status kbit_nested_dequantize(kbit_device *device, const uint8_t *qabsmax,
                                            const float *absmax2, const float *code2,
                                            float offset, int64_t nblocks,
                                            float *absmax_out);

/* ------------------------------------------------------------------ */
/* Quant state: everything bitsandbytes' QuantState carries             */

#define KBIT_MAX_DIMS 8

typedef struct kbit_quant_state {
    kbit_quant_type quant_type;
    kbit_dtype dtype;          /* dtype of the original tensor */
    int32_t blocksize;
    int32_t ndim;
    int64_t shape[KBIT_MAX_DIMS];
    int64_t numel;             /* product of shape */
    int64_t nblocks;           /* ceil(numel / blocksize) */
    float code[16];            /* bitsandbytes quant_map (informative; see kbit_4bit_quant_map) */
    int32_t nested;            /* 1: absmax is double-quantized */
    /* device buffers */
    void *absmax;              /* nested ? uint8[nblocks] : float[nblocks] */
    float *absmax2;            /* nested: float[nblocks2] */
    /* nested statistics */
    float offset;
    int32_t blocksize2;        /* 256 */
    int64_t nblocks2;          /* ceil(nblocks / 256) */
    float code2[256];          /* nested map (host copy) */
    int32_t owns_buffers;      /* 1 if kbit_quant_state_alloc allocated them */
} kbit_quant_state;

/* Fill a state's description (no allocation; buffers NULL). */
KBIT_API kbit_status kbit_quant_state_init(kbit_quant_state *state, kbit_quant_type type,
                                           kbit_dtype dtype, int ndim, const int64_t *shape,
                                           int blocksize, int nested);
/* Allocate absmax (and absmax2) on the device. */
KBIT_API kbit_status kbit_quant_state_alloc(kbit_device *device, kbit_quant_state *state);
/* Free buffers allocated by kbit_quant_state_alloc; others are left alone. */
KBIT_API void kbit_quant_state_release(kbit_device *device, kbit_quant_state *state);

/* Quantize x (state->dtype, state->numel elements) into packed and the state's
 * buffers; for a nested state also computes offset, absmax2 and code2. The
 * state must have been allocated (or its buffers set by the caller). */
KBIT_API kbit_status kbit_quantize_4bit_state(kbit_device *device, const void *x,
                                              uint8_t *packed, kbit_quant_state *state);
/* Dequantize with a state (plain or nested) into out (out_dtype, numel elements). */
KBIT_API kbit_status kbit_dequantize_4bit_state(kbit_device *device, const uint8_t *packed,
                                                const kbit_quant_state *state,
                                                kbit_dtype out_dtype, void *out);

/* ------------------------------------------------------------------ */
/* 8-bit blockwise dynamic quantization                                 */
/*
 * Blocksize: a power of two from 64 to 4096. code: host, 256 entries in
 * ascending order (NULL = the signed dynamic map); encoding picks the nearest
 * entry, ties to the even index. Input/output dtypes F32, F16, BF16.
 */

/* x[n] -> q[n] (u8 codes) and absmax[nblocks] (fp32). */
KBIT_API kbit_status kbit_quantize_8bit(kbit_device *device, kbit_dtype dtype,
                                        const void *x, int64_t n, int blocksize,
                                        const float *code, uint8_t *q, float *absmax);
/* out[i] = T(code[q[i]] * absmax[i/B]). */
KBIT_API kbit_status kbit_dequantize_8bit(kbit_device *device, const uint8_t *q,
                                          const float *absmax, int64_t n, int blocksize,
                                          const float *code, kbit_dtype out_dtype, void *out);

/* ------------------------------------------------------------------ */
/* 4-bit inference matmul (GEMV / GEMM) and its backward                 */
/*
 * The weight W[N,K] is a bitsandbytes Linear4bit weight: packed bytes as
 * written by kbit_quantize_4bit_state (flat blocks over the row-major [N,K]
 * tensor, high nibble first) and its quant state, which must have ndim == 2
 * and shape {N, K} (plain or nested absmax, NF4 or FP4, any blocksize).
 *
 * Forward:  out[m,n] = A[m,:] . W[n,:] (+ bias[n])   A [M,K], bias [N], out [M,N]
 * Backward: dA[m,k]  = dOut[m,:] . W[:,k]            dOut [M,N], dA [M,K]
 *
 * A (dOut), bias and out (dA) share one dtype: KBIT_F32, KBIT_F16 or
 * KBIT_BF16 (the output is in the activation's dtype, as in bitsandbytes).
 * Every output is one dot32 (determinism.md 3): w = DEC[q] * absmax' in fp32
 * (absmax' is the stored or the reconstructed nested absmax), a = f32(A),
 * 32 lanes of 8-element chunks summed with fma in increasing index order,
 * folded 16, 8, 4, 2, 1, then + f32(bias), then rounded once to the dtype.
 * Elements past the end of the last (partial) chunk are +0.0 padding; a lane
 * with no chunk left does not step. The results are bit-identical on every
 * backend, variant and thread count. M == 0 writes nothing; forward with
 * K == 0 gives T(+0.0 + bias); backward with N == 0 gives T(+0.0).
 *
 * The weight is read once, in its 4-bit form. With a nested state the core
 * first reconstructs the fp32 absmax into device scratch memory (4 bytes per
 * block) on every call; a prepared weight does that once.
 *
 * Errors (outputs untouched): KBIT_EINVAL for a NULL or misaligned pointer
 * (A, bias and out aligned to their element size), dtype not F32/F16/BF16, a
 * state that is not 2-D or is inconsistent (numel, nblocks, nested fields),
 * M < 0; KBIT_ENOTSUP if the device's driver lacks the op; KBIT_ENOMEM if
 * scratch memory runs out; KBIT_EOVERFLOW for sizes that do not fit.
 */
KBIT_API kbit_status kbit_gemm_4bit(kbit_device *device, const void *A, kbit_dtype dtype,
                                    int64_t M, const uint8_t *packed,
                                    const kbit_quant_state *state, const void *bias, void *out);
KBIT_API kbit_status kbit_gemm_4bit_backward(kbit_device *device, const void *dout,
                                             kbit_dtype dtype, int64_t M, const uint8_t *packed,
                                             const kbit_quant_state *state, void *dA);

/* Prepared weight (optional): a self-contained device copy of the weight in a
 * form the device reads fastest, built once. Today it holds a copy of the
 * packed bytes and the fp32 absmax' (the nested absmax reconstructed once):
 * ceil(N*K/2) + 4*nblocks bytes, reported by kbit_gemm_4bit_weight_bytes.
 * Results with and without it are bit-identical. The original packed bytes
 * and state may be freed after kbit_gemm_4bit_prepare returns. */
typedef struct kbit_gemm4_weight kbit_gemm4_weight;

KBIT_API kbit_status kbit_gemm_4bit_prepare(kbit_device *device, const uint8_t *packed,
                                            const kbit_quant_state *state,
                                            kbit_gemm4_weight **weight);
/* Device memory held by a prepared weight (0 for NULL). */
KBIT_API size_t kbit_gemm_4bit_weight_bytes(const kbit_gemm4_weight *weight);
/* Free a prepared weight (NULL is ignored); before closing its device. */
KBIT_API void kbit_gemm_4bit_weight_destroy(kbit_gemm4_weight *weight);
/* kbit_gemm_4bit / _backward on a prepared weight (on the device it was made on). */
KBIT_API kbit_status kbit_gemm_4bit_prepared(kbit_device *device, const void *A,
                                             kbit_dtype dtype, int64_t M,
                                             const kbit_gemm4_weight *weight, const void *bias,
                                             void *out);
KBIT_API kbit_status kbit_gemm_4bit_backward_prepared(kbit_device *device, const void *dout,
                                                      kbit_dtype dtype, int64_t M,
                                                      const kbit_gemm4_weight *weight, void *dA);

#ifdef __cplusplus
}
#endif

#endif /* KBIT_H */
