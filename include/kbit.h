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
 *    output, and kbit_last_error() returns a message that names the problem:
 *    the first cause, kept through any clean-up (see kbit_last_error).
 *  - Data pointers passed to an op live in the memory of the device passed to
 *    that op (use kbit_malloc / kbit_copy to move data). Code tables (maps) and
 *    scalars are host values.
 *  - Element counts are 64-bit. Ops accept n == 0 (nothing is written).
 *  - Data pointers must be aligned to their element size. A data pointer may
 *    be NULL only when its element count is 0 (frameworks' empty tensors).
 *  - Nothing in the library prints, aborts or exits.
 *  - Aliasing: an output may not share a byte with any other buffer of the
 *    same call, input or output, neither at the same address (in place) nor
 *    in part; inputs may overlap each other. Every op checks the byte ranges
 *    it reads and writes before it runs and refuses an overlap with
 *    KBIT_EINVAL naming both buffers (nothing written). The one exception:
 *    the optimizer steps update `param` in place, and `grad` may be `param`
 *    itself (the same pointer, grad_dtype the param dtype). Buffers per op:
 *      op (reads -> writes)
 *      kbit_quantize_4bit          x -> packed, absmax
 *      kbit_dequantize_4bit        packed, absmax -> out
 *      kbit_nested_quantize        absmax -> qabsmax, absmax2
 *      kbit_nested_dequantize      qabsmax, absmax2 -> absmax_out
 *      kbit_quantize_4bit_state    x -> packed, state->absmax, state->absmax2
 *      kbit_dequantize_4bit_state  packed, state->absmax, state->absmax2 -> out
 *      kbit_quantize_8bit          x -> q, absmax
 *      kbit_dequantize_8bit        q, absmax -> out
 *      kbit_optim_step             param, grad -> param (and the state's own buffers)
 *      kbit_optim_step_many        as kbit_optim_step per tensor; no parameter may
 *                                  overlap another tensor's parameter or gradient
 *      kbit_int8_vectorwise_quant  A -> CA, SCA, outlier_cols
 *      kbit_int8_quantize_weight   W -> CB, SCB
 *      kbit_int8_dequantize_weight CB, SCB -> out
 *      kbit_int8_matmul            A, B -> out
 *      kbit_int8_mm_dequant        acc, SCA, SCB, bias -> out
 *      kbit_int8_linear_forward    X, CB, SCB, bias -> Y
 *      kbit_int8_linear_backward   dOut, CB, SCB -> dX
 *      kbit_gemm_4bit[_prepared]   A, packed, state->absmax(2), bias -> out
 *      kbit_gemm_4bit_backward[_prepared]  dout, packed, state->absmax(2) -> dA
 *      kbit_copy                   src -> dst
 *    In-place quantization (packed or q over x) is refused: it would give
 *    wrong codes as soon as threads split the blocks. The check compares
 *    addresses, so it sees every overlap within one address space (host
 *    memory, CUDA/HIP unified addressing).
 */
#ifndef KBIT_H
#define KBIT_H

#include <stddef.h>
#include <stdint.h>

#include "kbit-formats.h"

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

/* The message of the last failure on this thread, naming the function and the
 * argument or condition at fault; "" before the first failure. It behaves
 * like errno: every failing call records its message (a compound call, such
 * as a conversion, gives the message of the step that failed first), and a
 * call that succeeds leaves the message as it was. So read it when a call
 * has returned a status other than KBIT_OK; clean-up calls made after the
 * failure (kbit_free, kbit_quant_state_release, kbit_device_close, ...), by
 * the library itself or by the caller, never erase or replace it. The string
 * is per thread and is overwritten by the next failure on the same thread. */
KBIT_API const char *kbit_last_error(void);

/* ------------------------------------------------------------------ */
/* Data types                                                           */

/* kbit_dtype (KBIT_F32, KBIT_F16, KBIT_BF16, KBIT_U8, KBIT_I8, KBIT_I32,
 * KBIT_I64, KBIT_F64) is defined in kbit-formats.h, with the other enums that
 * device kernels need. */

/* Bytes per element (0 for an unknown dtype) and a name ("f32", "bf16", ...;
 * NULL for an unknown dtype). */
KBIT_API size_t kbit_dtype_size(kbit_dtype dtype);
KBIT_API const char *kbit_dtype_name(kbit_dtype dtype);

/* ------------------------------------------------------------------ */
/* Drivers, devices and op families                                     */

typedef struct kbit_device kbit_device;

/* The op families. A driver implements some of them completely (the CPU
 * driver implements all); "auto" and kbit_device_open_for pick a device by
 * the families a caller needs. Values are bits, so sets are ORed. */
typedef enum kbit_family {
    KBIT_FAMILY_QUANT4 = 1u << 0, /* 4-bit NF4/FP4 quantization, nested absmax, quant states */
    KBIT_FAMILY_QUANT8 = 1u << 1, /* 8-bit blockwise dynamic quantization */
    KBIT_FAMILY_GEMM4 = 1u << 2,  /* 4-bit matmul forward and backward */
    KBIT_FAMILY_INT8 = 1u << 3,   /* LLM.int8() */
    KBIT_FAMILY_OPTIM = 1u << 4   /* optimizers with 32-bit and 8-bit states */
} kbit_family;
#define KBIT_FAMILY_ALL 0x1fu

/* "quant4", "quant8", "gemm4", "int8", "optim" for one family bit; NULL otherwise. */
KBIT_API const char *kbit_family_name(kbit_family family);

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
    uint32_t families;     /* KBIT_FAMILY_* the driver implements (0 if not loaded) */
    const char *families_reason; /* why a family it claims was dropped; "" if none */
    uint32_t abi_major, abi_minor; /* the ABI the driver was built against */
    const char *limits;    /* the dtype / blocksize subsets it implements, e.g.
                              "quant8: dtypes f32, blocksizes 64-256"; "" if none */
} kbit_driver_report;

/* Number of drivers found (loaded or refused); scans on first use. */
KBIT_API kbit_status kbit_driver_count(int *count);
/* Report on driver i (0 <= i < count). Strings stay valid until exit. */
KBIT_API kbit_status kbit_driver_get(int index, kbit_driver_report *report);

/* Open a device by spec:
 *   "auto"       the best device that implements every op family: the
 *                highest-priority driver (cuda, hip, opencl, then cpu)
 *                with such a device
 *   "cpu"        the built-in CPU driver (also "cpu:0")
 *   "NAME[:I]"   device I (default 0) of the driver called NAME, e.g. "cuda:1"
 * The CPU driver reads KBIT_CPU_ISA (scalar | avx2 | avx512 | avx512vnni) when a device is
 * opened, to force one instruction-set variant; by default it picks the best
 * one the CPU and OS support. Fails with KBIT_ENODEV if the driver is missing,
 * refused, or has no such device (the message says which and why). */
KBIT_API kbit_status kbit_device_open(const char *spec, kbit_device **device);
/* The same for a caller that needs only the families in `families` (a set
 * of KBIT_FAMILY_* bits; 0 = none required): "auto" then picks the
 * highest-priority device implementing all of them, and a named device that
 * lacks one of them is refused with KBIT_ENOTSUP naming the family. */
KBIT_API kbit_status kbit_device_open_for(const char *spec, uint32_t families,
                                          kbit_device **device);
/* Close a device; NULL is ignored. Memory allocated on it must be freed first. */
KBIT_API void kbit_device_close(kbit_device *device);

/* KBIT_OK if the device implements every family of `families`; otherwise
 * KBIT_ENOTSUP with a message naming the first missing family (and why the
 * driver lacks it, when it said). */
KBIT_API kbit_status kbit_device_supports(kbit_device *device, uint32_t families);

/* KBIT_OK if the device implements `family` (one KBIT_FAMILY_* bit) for
 * data of `dtype` (KBIT_F32, KBIT_F16 or KBIT_BF16) and, when blocksize > 0,
 * that blocksize; otherwise KBIT_ENOTSUP saying what the driver lacks. A
 * driver may implement a family for a subset only (kbit info lists it). */
KBIT_API kbit_status kbit_device_supports_args(kbit_device *device, kbit_family family,
                                               kbit_dtype dtype, int blocksize);

typedef struct kbit_device_info {
    char driver[32];       /* "cpu", "cuda", ... */
    char name[128];        /* e.g. "Intel(R) Xeon(R) ...", "NVIDIA H100" */
    char variant[32];      /* CPU: "scalar", "avx2/generic", "avx512/zen4" (ISA/tuning);
                              GPU: arch, e.g. "sm_90" */
    int index;             /* device index within the driver */
    int threads;           /* CPU worker threads used by ops (1 on GPUs) */
    uint64_t memory_bytes; /* total device memory (host RAM for the CPU) */
    uint32_t families;     /* KBIT_FAMILY_* this device implements */
} kbit_device_info;

KBIT_API kbit_status kbit_device_get_info(kbit_device *device, kbit_device_info *info);

/* Most worker threads a device may be given. */
#define KBIT_MAX_THREADS 1024

/* CPU: number of worker threads used by ops on this device, 1 ..
 * KBIT_MAX_THREADS (else KBIT_EINVAL). Results never depend on it. GPU
 * drivers accept only 1. The threads are started once here, as a trial:
 * when the process cannot run that many (a limit such as ulimit -u,
 * RLIMIT_AS or a cgroup's pids.max), KBIT_ENOMEM says how many it could and
 * the device keeps its previous count, so an op never meets a thread team
 * that cannot start (OpenMP would end the process). kbit_device_open lowers
 * the default count (OpenMP's, usually the number of cores) the same way.
 * The trial cannot see a limit reached later (threads started after it, or
 * one OpenMP team per application thread that calls ops on the device). */
KBIT_API kbit_status kbit_device_set_threads(kbit_device *device, int threads);

/* Hand the device a framework's native stream or queue (cudaStream_t,
 * hipStream_t, cl_command_queue) for the calling thread: ops and copies this
 * thread makes on the device are then enqueued on it, and kbit_sync waits
 * for it. Each thread has its own binding (initially NULL, the device's own
 * stream), so two threads with their own streams on one device never see
 * each other's stream; each binding has its own device workspace. Changing a
 * thread's stream first waits for the work kbit enqueued on the old one.
 * The CPU driver accepts only NULL. */
KBIT_API kbit_status kbit_device_set_stream(kbit_device *device, void *stream);

/* Free the device workspaces of every thread that used the device (after
 * waiting for their streams); they grow again on the next op, like a
 * framework's cached allocations. No other thread may run an op on the
 * device meanwhile. */
KBIT_API kbit_status kbit_device_trim(kbit_device *device);

/* Floating matrix products (4-bit matmul, the outlier part and the backward
 * of LLM.int8()) in exact mode (the default: dot32 of doc/determinism.md 3,
 * bit-identical everywhere) or fast mode, where a driver may use faster
 * dot products whose results are within the bound of doc/numerics.md 5.4. A
 * driver without a fast path runs exact in both modes. Per device.
 * Fast results are not bit-exact across backends or CPUs (they are the
 * same for every thread count on one machine). Today's fast paths: the CPU
 * driver's 4-bit matmul forward with bf16 activations and K % 32 == 0, on
 * CPUs with AMX-BF16 for M > 1 (Intel Sapphire Rapids and later; the CPU
 * device's variant then ends in "+amx-bf16"), else on CPUs with
 * AVX512_BF16 for M >= 10 (AMD Zen 4 and 5; "+avx512-bf16");
 * KBIT_CPU_FAST=none turns them off; everything else runs exact in fast
 * mode too. */
typedef enum kbit_math_mode {
    KBIT_MATH_EXACT = 0,
    KBIT_MATH_FAST = 1
} kbit_math_mode;

KBIT_API kbit_status kbit_device_set_math_mode(kbit_device *device, kbit_math_mode mode);

/* Device memory. kbit_malloc of 0 bytes returns a unique pointer that may be freed. */
KBIT_API kbit_status kbit_malloc(kbit_device *device, size_t bytes, void **ptr);

/* Kinds of memory: device memory (what kbit_malloc gives), managed memory
 * that the device pages in and out (for optimizer states larger than the
 * device: kbit_prefetch moves it), and pinned host memory for fast copies.
 * On the CPU all three are host memory. KBIT_ENOTSUP when the device's
 * driver has no such kind. */
typedef enum kbit_mem_kind {
    KBIT_MEM_DEVICE = 0,
    KBIT_MEM_MANAGED = 1,
    KBIT_MEM_HOST_PINNED = 2
} kbit_mem_kind;
#define KBIT_MEM_KIND_BIT(kind) (1u << (kind))

KBIT_API kbit_status kbit_malloc_kind(kbit_device *device, size_t bytes, kbit_mem_kind kind,
                                      void **ptr);
/* Free memory of any kind from kbit_malloc or kbit_malloc_kind; NULL is ignored. */
KBIT_API kbit_status kbit_free(kbit_device *device, void *ptr);
/* Move managed memory towards the device (to_device = 1) or the host (0),
 * ordered on the calling thread's stream. A no-op where there is no paging
 * (the CPU, or a driver without it). */
KBIT_API kbit_status kbit_prefetch(kbit_device *device, const void *ptr, size_t bytes,
                                   int to_device);

typedef enum kbit_copy_kind {
    KBIT_HOST_TO_DEVICE = 0,
    KBIT_DEVICE_TO_HOST = 1,
    KBIT_DEVICE_TO_DEVICE = 2
} kbit_copy_kind;

/* Copy bytes; ordered with the ops of the calling thread's stream. The
 * source may be reused when the call returns, and a copy to the host is
 * complete when the call returns. */
KBIT_API kbit_status kbit_copy(kbit_device *device, void *dst, const void *src,
                               size_t bytes, kbit_copy_kind kind);
/* Wait until every op the calling thread enqueued on the device (on its
 * stream) has finished. */
KBIT_API kbit_status kbit_sync(kbit_device *device);

/* ------------------------------------------------------------------ */
/* Code tables                                                          */

/* kbit_quant_type (KBIT_FP4 = 1, KBIT_NF4 = 2, bitsandbytes' quant_type) is
 * defined in kbit-formats.h. */

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
/* Optimizers: bitsandbytes' eight, 32-bit and 8-bit blockwise states   */
/*
 * Numerics: doc/numerics.md 6 (bitsandbytes' CUDA kernels with IEEE
 * arithmetic and the NORMATIVE deviations of 6.5), norms by pairsum
 * (doc/determinism.md 4). Results are bit-identical on every backend and thread
 * count.
 *
 * One kbit_optim_state per parameter tensor holds the step counter, the
 * optimizer states on the device (fp32, or 8-bit codes with one fp32 absmax
 * per 256 elements and the two maps), and the gradient-norm history of
 * percentile clipping. Each kbit_optim_step increments the counter first, so
 * the first update uses step 1, as bitsandbytes does.
 *
 * Hyperparameters each kind reads (bitsandbytes' kernel arguments):
 *   ADAM, ADAMW, LAMB  beta1, beta2; eps; weight_decay is decoupled (applied
 *                      after the step) for all three; LAMB = ADAM + max_unorm
 *   ADEMAMIX           beta1, beta2, beta3, alpha, t_alpha, t_beta3; decoupled
 *                      weight_decay
 *   SGD, LARS          beta1 = momentum (> 0); weight_decay is coupled (L2);
 *                      LARS = SGD + max_unorm
 *   RMSPROP            beta1 = alpha (smoothing, > 0); eps; coupled weight_decay;
 *                      max_unorm (32-bit states)
 *   ADAGRAD            eps (betas unused); coupled weight_decay; max_unorm
 *                      (32-bit states: the norm is reported, the scale unused)
 *   LION               beta1, beta2; weight_decay is decoupled (before the step);
 *                      max_unorm (32-bit states) clips the next step
 * Defaults (kbit_optim_config_default) are numerics 6.1; SGD and LARS, whose
 * lr and momentum bitsandbytes leaves to the caller, default to lr 1e-3 and
 * momentum 0.9.
 */

typedef enum kbit_optim_kind {
    KBIT_OPTIM_ADAM = 0,
    KBIT_OPTIM_ADAMW = 1,
    KBIT_OPTIM_LAMB = 2,
    KBIT_OPTIM_ADEMAMIX = 3,
    KBIT_OPTIM_SGD = 4,
    KBIT_OPTIM_LARS = 5,
    KBIT_OPTIM_RMSPROP = 6,
    KBIT_OPTIM_ADAGRAD = 7,
    KBIT_OPTIM_LION = 8
} kbit_optim_kind;

typedef struct kbit_optim_config {
    kbit_optim_kind kind;
    /* Hyperparameters as the user gives them, in double (numerics 6.2): host
     * scalars derived from them (the AdEMAMix schedules) are computed from
     * these doubles; the kernels receive f32 of each value (and of each
     * derived scalar), and c1, c2, step_size use the f32 betas and lr. */
    double lr;                /* >= 0, finite */
    double beta1, beta2, beta3; /* each beta the kind uses: in [0, 1) */
    double alpha;             /* AdEMAMix: >= 0, finite */
    int64_t t_alpha;          /* AdEMAMix alpha warm-up steps; 0 = none */
    int64_t t_beta3;          /* AdEMAMix beta3 warm-up steps; 0 = none */
    double eps;               /* >= 0, finite */
    double weight_decay;      /* >= 0, finite */
    /* Update-norm clipping (numerics 6.4), > 0 to clip; only with 32-bit
     * states: ADAM/ADAMW/LAMB and SGD/LARS clip the update of this step,
     * RMSPROP too (its u = g / (sqrt(s') + eps)), ADAGRAD computes the norm
     * but ignores the scale (as bitsandbytes), LION clips the *next* step with
     * the sum of its new state taken after this one. KBIT_EINVAL for
     * ADEMAMIX, and at the step for an 8-bit state (no update scale there). */
    double max_unorm;
    /* Percentile clipping (numerics 6.7): 100 = off; 0..99 clips the gradient
     * norm at that percentile (0-based, of 100) of the last 100 norms. */
    int percentile_clipping;
    /* Elements whose gradient is exactly 0 are not updated (numerics 6.5). */
    int skip_zeros;
    /* 32 or 8. Read when a state is created: tensors with fewer than
     * min_8bit_size elements keep 32-bit states (bitsandbytes: 4096). */
    int state_bits;
    int64_t min_8bit_size;
    /* 1: states in managed memory (KBIT_MEM_MANAGED, bitsandbytes' paged
     * optimizers), prefetched to the device before each step; read when a
     * state is created. KBIT_ENOTSUP on a device without managed memory. */
    int paged;
} kbit_optim_config;

/* Fill config with the defaults of kind (state_bits 32, min_8bit_size 4096,
 * percentile_clipping 100). KBIT_EINVAL for an unknown kind. */
KBIT_API kbit_status kbit_optim_config_default(kbit_optim_kind kind, kbit_optim_config *config);

/* The host scalars of step (>= 1) for config (numerics 6.2, 6.4): what the
 * kernels receive. alpha_t and beta3_t are the AdEMAMix schedules (alpha and
 * beta3 without one), evaluated in double from config's doubles; c1, c2,
 * step_size, c1p and c2p from the fp32 betas and lr widened to double. */
typedef struct kbit_optim_scalars {
    float c1, c2, step_size;
    float alpha_t, beta3_t;
    float c1p, c2p; /* f32(1/(1-beta1^step)), f32(1/(1-beta2^step)) */
} kbit_optim_scalars;

KBIT_API kbit_status kbit_optim_host_scalars(const kbit_optim_config *config, int64_t step,
                                             kbit_optim_scalars *scalars);

typedef struct kbit_optim_state kbit_optim_state;

/* A zeroed state (step 0) on device for a tensor of n elements of param_dtype
 * (F32, F16, BF16), with 8-bit states when config->state_bits is 8 and
 * n >= config->min_8bit_size. The device must stay open until release. */
KBIT_API kbit_status kbit_optim_state_create(kbit_device *device, const kbit_optim_config *config,
                                             int64_t n, kbit_dtype param_dtype,
                                             kbit_optim_state **state);
/* Free the state's device memory and the state; NULL is ignored. */
KBIT_API void kbit_optim_state_release(kbit_optim_state *state);

typedef struct kbit_optim_state_info {
    kbit_optim_kind kind;
    kbit_dtype param_dtype;
    int state_bits;           /* 32 or 8, as decided at creation */
    int64_t n;
    int64_t step;             /* steps taken */
    size_t device_bytes;      /* optimizer state memory on the device */
    /* Values of the last step (1 when not used, 0 before the first step). */
    float gnorm_scale;        /* percentile clipping's scale of the gradient */
    /* max_unorm (numerics 6.4); for LION, unorm is the sum this step left
     * for the next one (bitsandbytes' unorm_vec), update_scale this step's */
    float param_norm, unorm, update_scale;
} kbit_optim_state_info;

KBIT_API kbit_status kbit_optim_state_get_info(const kbit_optim_state *state,
                                               kbit_optim_state_info *info);

/* One step: param[n] (the state's param_dtype, updated in place) with
 * grad[n] of grad_dtype (F32 or the param dtype). gnorm_scale (> 0, finite)
 * multiplies the gradient, on top of percentile clipping. config->kind must
 * be the state's kind; state_bits and min_8bit_size are not read here.
 * Non-finite gradients: with 8-bit ADAM/ADAMW/AdEMAMix states an element
 * whose scaled gradient is not finite has its states reset to 0 and its
 * parameter left as is; elsewhere NaN and inf propagate (numerics 6.3, 6.5).
 * On failure neither the parameter nor the state was changed, except when the
 * driver itself fails (KBIT_EDRIVER). */
KBIT_API kbit_status kbit_optim_step(kbit_device *device, const kbit_optim_config *config,
                                     kbit_optim_state *state, void *param, const void *grad,
                                     kbit_dtype grad_dtype, float gnorm_scale);

/* Step count tensors in one call: states[i], params[i], grads[i] and
 * grad_dtypes[i] as for kbit_optim_step, with the same bits. A driver may run
 * the tensors' steps in few launches (tensors without norms go in batches of
 * up to 64). Every argument of every tensor is checked before the first one
 * is stepped, so a bad argument changes nothing; if the driver fails
 * (KBIT_EDRIVER), the tensors before the failing one or its batch have been
 * stepped, those after it have not, and those of its batch may have been. */
KBIT_API kbit_status kbit_optim_step_many(kbit_device *device, const kbit_optim_config *config,
                                          int64_t count, kbit_optim_state *const *states,
                                          void *const *params, const void *const *grads,
                                          const kbit_dtype *grad_dtypes, float gnorm_scale);

/* Save and restore a state byte for byte (layout: doc/formats.md, "Optimizer
 * state"). save_size gives the bytes save writes; restore needs a state
 * created for the same kind, n, param dtype and state bits (KBIT_EFORMAT
 * otherwise, naming the field). A rejected buffer leaves the state as it was;
 * a device copy that fails midway (KBIT_EDRIVER) leaves it partly restored. */
KBIT_API kbit_status kbit_optim_state_save_size(const kbit_optim_state *state, size_t *bytes);
KBIT_API kbit_status kbit_optim_state_save(const kbit_optim_state *state, void *buffer,
                                           size_t bytes);
KBIT_API kbit_status kbit_optim_state_restore(kbit_optim_state *state, const void *buffer,
                                              size_t bytes);

/* bitsandbytes' per-parameter optimizer state_dict tensors (numerics 6.8), as
 * host arrays. Sizes follow from the state: 32-bit state1/state2 are fp32
 * [n] (AdEMAMix state1 [2, n]); 8-bit state1/state2 are uint8 [n] (AdEMAMix
 * [2, n]), absmax1/absmax2 fp32 [ceil(n/256)] (AdEMAMix absmax1 [2, ...]),
 * qmap1/qmap2 fp32 [256] ascending. state2/absmax2/qmap2 only for the
 * 2-state kinds (ADAM, ADAMW, LAMB, ADEMAMIX); gnorm_vec [100] or NULL
 * (history kept at 0); unorm_vec below. */
typedef struct kbit_optim_bnb_state {
    int64_t step;
    const void *state1, *state2;
    const float *absmax1, *absmax2;
    const float *qmap1, *qmap2;
    const float *gnorm_vec;
    /* [1] or NULL (0): bitsandbytes' unorm_vec, read for LION only, whose
     * max_unorm clips a step with the sum its previous step left (numerics
     * 6.4); the other kinds compute theirs within the step. */
    const float *unorm_vec;
} kbit_optim_bnb_state;

KBIT_API kbit_status kbit_optim_state_load_bnb(kbit_optim_state *state,
                                               const kbit_optim_bnb_state *bnb);
/* LLM.int8(): row-wise int8 quantization, int8 GEMM, mixed forward      */
/*
 * doc/numerics.md 4 as upgraded by doc/determinism.md 3.1 and 5. Matrices are
 * row-major and 2-D (flatten leading dims first). The int8 weight is
 * CB[N,K] (int8, [out_features, in_features]) with SCB[N] (fp32 row absmax),
 * exactly bitsandbytes' Linear8bitLt `weight` / `SCB`.
 *
 * fp32 and bf16 activations: the int8 path (outlier test, row absmax, codes)
 * runs on f16(x), the RNE conversion of each element to fp16 that bitsandbytes
 * makes (A.to(float16)); values beyond 65504 become +-inf there. The outlier
 * columns of the forward use X in its own dtype. The int8 part of the
 * forward's output always passes through fp16 (numerics 4.4), also for bf16
 * and fp32 models, as bitsandbytes' CUDA path does.
 *
 * Non-finite inputs (determinism 4.1): NaN elements never enter a row absmax
 * and are never outliers; an element whose scaled value is not finite (NaN,
 * or inf x 0 when the absmax is inf) gets code 0.
 */

/* Largest K for which an int8 x int8 dot product of codes in [-127, 127]
 * cannot overflow int32 (127 * 127 * 133143 < 2^31). */
#define KBIT_INT8_MAX_K 133143

/* Row-wise quantization with outlier columns (numerics 4.1).
 * A[rows, cols] (F32, F16, BF16; quantized through f16(A)).
 * threshold >= 0 (finite or +inf), compared as f16(threshold) with |f16(A)|:
 *   threshold == 0: no outliers; SCA[r] = max |A[r,:]|.
 *   threshold > 0: elements with |A| >= threshold are outliers: they do not
 *     enter SCA, and every column holding one is zeroed in CA (for all rows).
 * CA[rows, cols] int8; SCA[rows] fp32 (0 for a row without eligible element,
 * whose codes are then 0); CA = roundHalfEven(f32(A) * (127 / SCA)).
 * outlier_cols: device int64 buffer of capacity `cols` (may be NULL when
 * threshold == 0), receives the outlier columns in ascending order;
 * *n_outliers (host) receives their count (0 when threshold == 0).
 * n_outliers may be NULL when threshold == 0. */
KBIT_API kbit_status kbit_int8_vectorwise_quant(kbit_device *device, kbit_dtype dtype,
                                                const void *A, int64_t rows, int64_t cols,
                                                float threshold, int8_t *CA, float *SCA,
                                                int64_t *outlier_cols, int64_t *n_outliers);

/* Int8Params (numerics 4.2): CB[rows,cols] = row-wise int8 of f16(W) with
 * threshold 0, SCB[rows] = row absmax. W in F32, F16 or BF16 (converted to
 * fp16 first, RNE, as bitsandbytes does). */
KBIT_API kbit_status kbit_int8_quantize_weight(kbit_device *device, kbit_dtype dtype,
                                               const void *W, int64_t rows, int64_t cols,
                                               int8_t *CB, float *SCB);

/* W = (f32(CB) * SCB[row]) * 0x3c010204 (1/127), written as out_dtype (F32,
 * F16, BF16; one RNE rounding). */
KBIT_API kbit_status kbit_int8_dequantize_weight(kbit_device *device, const int8_t *CB,
                                                 const float *SCB, int64_t rows, int64_t cols,
                                                 kbit_dtype out_dtype, void *out);

/* out[M,N] (int32) = A[M,K] x B[N,K]^T, exact (numerics 4.3). K above
 * KBIT_INT8_MAX_K is refused with KBIT_EOVERFLOW. (With -128 in both
 * operands a sum can still exceed int32; it then wraps modulo 2^32, the same
 * on every backend.) */
KBIT_API kbit_status kbit_int8_matmul(kbit_device *device, const int8_t *A, const int8_t *B,
                                      int64_t M, int64_t N, int64_t K, int32_t *out);

/* out[M,N] = dequant of an int32 product (numerics 4.4, NORMATIVE):
 *   t = (f32(acc) * SCA[i]) * SCB[j];  y = fma(t, 1/127^2, b);  o = f16(y)
 * with b = bias[j] for an F16 bias (fused), else b = +0 and, for an F32 or
 * BF16 bias, o = f16(f32(o) + f32(bias[j])). Then out = out_dtype(f32(o)).
 * bias may be NULL (bias_dtype is then ignored). out_dtype: F32, F16, BF16. */
KBIT_API kbit_status kbit_int8_mm_dequant(kbit_device *device, const int32_t *acc,
                                          const float *SCA, const float *SCB, int64_t M,
                                          int64_t N, const void *bias, kbit_dtype bias_dtype,
                                          kbit_dtype out_dtype, void *out);

/* The LLM.int8() linear forward (numerics 4.5, determinism 3.1):
 * Y[M,N] = X[M,K] x W^T (+ bias) with W given as CB[N,K] + SCB[N].
 * X, bias (may be NULL) and Y share dtype (F32, F16, BF16).
 * threshold >= 0: 0 = no decomposition (transformers uses 6.0). With outlier
 * columns oc[0..n) (see kbit_int8_vectorwise_quant), the int8 product skips
 * them and Y[m,j] = T(f32(Yint8[m,j]) + dot32_i(f32(X[m,oc[i]]),
 * f32(T((CB[j,oc[i]] * SCB[j]) * 1/127)))) (dot32 of determinism 3).
 * Intermediates (codes, scales, the outlier list, the int32 product) live in
 * the calling thread's device workspace. K <= KBIT_INT8_MAX_K. */
KBIT_API kbit_status kbit_int8_linear_forward(kbit_device *device, kbit_dtype dtype,
                                              const void *X, int64_t M, int64_t K,
                                              const int8_t *CB, const float *SCB, int64_t N,
                                              float threshold, const void *bias, void *Y);

/* The input gradient of that layer (numerics 4.5 backward, determinism 3.1):
 * dX[M,K] = T(dot32_n(f32(dOut[m,n]), f32(T((CB[n,k] * SCB[n]) * 1/127)))),
 * reduced over n = 0..N-1 in dot32 order. dOut[M,N] and dX share dtype
 * (F32, F16, BF16). */
KBIT_API kbit_status kbit_int8_linear_backward(kbit_device *device, kbit_dtype dtype,
                                               const void *dOut, int64_t M, int64_t N,
                                               const int8_t *CB, const float *SCB, int64_t K,
                                               void *dX);

/* Prepared int8 weight (optional): a self-contained device copy of CB and
 * SCB in the layout the device reads fastest (a driver-private layout where
 * the driver has one, else plain copies), built once. Results with and
 * without it are bit-identical; CB and SCB may be freed afterwards. */
typedef struct kbit_int8_weight kbit_int8_weight;

KBIT_API kbit_status kbit_int8_prepare_weight(kbit_device *device, const int8_t *CB,
                                              const float *SCB, int64_t N, int64_t K,
                                              kbit_int8_weight **weight);
/* Device memory held by a prepared weight (0 for NULL). */
KBIT_API size_t kbit_int8_weight_bytes(const kbit_int8_weight *weight);
/* Free a prepared weight (NULL is ignored); before closing its device. */
KBIT_API void kbit_int8_weight_destroy(kbit_int8_weight *weight);
/* kbit_int8_linear_forward / _backward on a prepared weight. */
KBIT_API kbit_status kbit_int8_linear_forward_prepared(kbit_device *device, kbit_dtype dtype,
                                                       const void *X, int64_t M,
                                                       const kbit_int8_weight *weight,
                                                       float threshold, const void *bias,
                                                       void *Y);
KBIT_API kbit_status kbit_int8_linear_backward_prepared(kbit_device *device, kbit_dtype dtype,
                                                        const void *dOut, int64_t M,
                                                        const kbit_int8_weight *weight,
                                                        void *dX);

/* ------------------------------------------------------------------ */
/* Checkpoints in the bitsandbytes format (Hugging Face safetensors)    */
/*
 * A checkpoint is a model directory (config.json plus model.safetensors, or
 * shards listed by model.safetensors.index.json) or a single .safetensors
 * file. Tensors are named as in a plain checkpoint ("<module>.weight",
 * "<module>.bias", ...): a quantized weight appears under its plain name and
 * its auxiliary tensors (absmax, quant_map, quant state, SCB, ...) are hidden.
 * Every header, index and quant state is validated before use (a malformed
 * file gives KBIT_EFORMAT naming the file and the fault). The formats are
 * those of doc/numerics.md 8 (doc/formats.md).
 *
 * Limits. The reader refuses, and the writer and the conversions never
 * write, a file beyond these (so whatever kbit writes, it reads back):
 */
/* Tensors stored in one .safetensors file (auxiliary tensors included). */
#define KBIT_CHECKPOINT_MAX_TENSORS 1048576
/* Bytes of a tensor name (UTF-8, without the terminating NUL). */
#define KBIT_CHECKPOINT_MAX_NAME 1024
/* Each dimension of a shape (a stored tensor's or a quant state's), as in
 * bitsandbytes' readers; the element count times the element size must also
 * fit in int64_t. */
#define KBIT_CHECKPOINT_MAX_DIM ((int64_t)1 << 48)
/* Bytes of a safetensors JSON header (the reference implementation's limit). */
#define KBIT_CHECKPOINT_MAX_HEADER 100000000
typedef struct kbit_checkpoint kbit_checkpoint;

typedef enum kbit_weight_format {
    KBIT_WEIGHT_PLAIN = 0, /* stored as is (any dtype) */
    KBIT_WEIGHT_4BIT = 1,  /* bitsandbytes Linear4bit: packed NF4/FP4 + quant state */
    KBIT_WEIGHT_INT8 = 2   /* bitsandbytes Linear8bitLt: int8 CB [N, K] + fp32 SCB [N] */
} kbit_weight_format;

typedef struct kbit_tensor_info {
    kbit_weight_format format;
    kbit_dtype dtype;              /* plain: stored dtype; 4-bit: the original dtype
                                      (quant state); int8: KBIT_I8 */
    int32_t dtype_known;           /* plain: 0 if the stored dtype has no kbit_dtype */
    int32_t ndim;
    int64_t shape[KBIT_MAX_DIMS];  /* the logical shape (4-bit: the original one) */
    int64_t numel;
    kbit_quant_type quant_type;    /* 4-bit only */
    int32_t blocksize;             /* 4-bit only */
    int32_t nested;                /* 4-bit only: double-quantized absmax */
    uint64_t stored_bytes;         /* bytes in the files, auxiliary tensors included */
    char st_dtype[12];             /* plain: safetensors dtype ("F16", ...); else the
                                      stored weight's ("U8", "I8") */
} kbit_tensor_info;

/* Open a checkpoint (directory or .safetensors file). KBIT_EIO when a file
 * cannot be read or is not a regular file (a FIFO is never opened),
 * KBIT_EFORMAT when a file, the index or a quant state is malformed,
 * inconsistent or beyond the limits above, KBIT_ENOMEM. The files stay open
 * until kbit_checkpoint_close; tensors are read from them when loaded, and
 * a file that has shrunk meanwhile gives KBIT_EIO. */
KBIT_API kbit_status kbit_checkpoint_open(const char *path, kbit_checkpoint **ckpt);
/* NULL is ignored. */
KBIT_API void kbit_checkpoint_close(kbit_checkpoint *ckpt);

/* Logical tensors, sorted by name: count, and the name of tensor i (NULL out
 * of range; valid until close). */
KBIT_API int64_t kbit_checkpoint_count(const kbit_checkpoint *ckpt);
KBIT_API const char *kbit_checkpoint_name(const kbit_checkpoint *ckpt, int64_t index);
/* The config.json text of a directory checkpoint (NULL if none). */
KBIT_API const char *kbit_checkpoint_config(const kbit_checkpoint *ckpt);

/* Describe tensor `name` (e.g. "model.layers.0.mlp.up_proj.weight").
 * KBIT_EINVAL if there is no such tensor. */
KBIT_API kbit_status kbit_checkpoint_info(const kbit_checkpoint *ckpt, const char *name,
                                          kbit_tensor_info *info);

/* Load a 4-bit weight onto a device as kbit_gemm_4bit / kbit_dequantize_4bit_state
 * take it: *packed = kbit_malloc'd ceil(numel/2) bytes (free with kbit_free),
 * *state = described (ndim 2, shape {N, K} for a linear weight) with its
 * buffers allocated on the device (release with kbit_quant_state_release):
 * fp32 absmax, or for a nested state the u8 codes, absmax2, offset and the
 * stored nested map. KBIT_EINVAL if the tensor is not a 4-bit weight. */
KBIT_API kbit_status kbit_checkpoint_load_4bit(const kbit_checkpoint *ckpt, const char *name,
                                               kbit_device *device, uint8_t **packed,
                                               kbit_quant_state *state);
/* Load an 8-bit (LLM.int8) weight: *CB = int8 [rows x cols], *SCB = fp32
 * [rows], both kbit_malloc'd on the device. KBIT_EINVAL if not an 8-bit weight. */
KBIT_API kbit_status kbit_checkpoint_load_int8(const kbit_checkpoint *ckpt, const char *name,
                                               kbit_device *device, int8_t **CB, float **SCB,
                                               int64_t *rows, int64_t *cols);
/* Load any tensor as plain values in out_dtype (F32, F16 or BF16) into a
 * kbit_malloc'd buffer of info.numel elements: a plain float tensor is
 * converted (RNE), a 4-bit weight dequantized (numerics 1.9, 3), an 8-bit
 * weight dequantized with kbit_int8_dequantize_weight (numerics 4.2).
 * KBIT_EINVAL for a tensor that is not a float or quantized tensor. */
KBIT_API kbit_status kbit_checkpoint_load_tensor(const kbit_checkpoint *ckpt, const char *name,
                                                 kbit_device *device, kbit_dtype out_dtype,
                                                 void **out);

/* Writing a .safetensors file in the bitsandbytes format. The writer keeps a
 * host copy of what it is given until finish, which writes the file under a
 * temporary name next to `path` and renames it into place only when it is
 * complete (on failure, `path` is untouched). */
typedef struct kbit_checkpoint_writer kbit_checkpoint_writer;

/* KBIT_EINVAL if path exists already and is not a regular file. The add
 * functions refuse (KBIT_EINVAL) what the reader would refuse: a name that
 * is empty, "__metadata__", repeated or longer than KBIT_CHECKPOINT_MAX_NAME
 * (auxiliary names included, checked at finish), a dimension above
 * KBIT_CHECKPOINT_MAX_DIM, more than KBIT_CHECKPOINT_MAX_TENSORS tensors. */
KBIT_API kbit_status kbit_checkpoint_writer_create(const char *path, kbit_checkpoint_writer **writer);
/* A plain tensor (host data, ndim 0..KBIT_MAX_DIMS). */
KBIT_API kbit_status kbit_checkpoint_writer_add(kbit_checkpoint_writer *writer, const char *name,
                                                kbit_dtype dtype, int ndim, const int64_t *shape,
                                                const void *data);
/* A 4-bit weight "<module>.weight": packed and the state's buffers live on
 * `device`; writes weight, weight.absmax, weight.quant_map, (nested)
 * weight.nested_absmax, weight.nested_quant_map and the packed quant state. */
KBIT_API kbit_status kbit_checkpoint_writer_add_4bit(kbit_checkpoint_writer *writer,
                                                     const char *name, kbit_device *device,
                                                     const uint8_t *packed,
                                                     const kbit_quant_state *state);
/* An 8-bit weight "<module>.weight": CB [rows x cols] and SCB [rows] on
 * `device`; writes weight (I8), <module>.SCB and <module>.weight_format. */
KBIT_API kbit_status kbit_checkpoint_writer_add_int8(kbit_checkpoint_writer *writer,
                                                     const char *name, kbit_device *device,
                                                     const int8_t *CB, const float *SCB,
                                                     int64_t rows, int64_t cols);
/* Write, flush and rename into place; frees the writer in every case. */
KBIT_API kbit_status kbit_checkpoint_writer_finish(kbit_checkpoint_writer *writer);
/* Drop everything (nothing is written); NULL is ignored. */
KBIT_API void kbit_checkpoint_writer_discard(kbit_checkpoint_writer *writer);

/* Whole-checkpoint conversion, streaming: tensors are processed one at a
 * time, read from the input files (pread: an input truncated meanwhile gives
 * KBIT_EIO, never SIGBUS), so memory stays bounded by the largest tensor.
 * Inputs are opened only when they are regular files or symlinks to one
 * (a FIFO, socket or device is refused with KBIT_EIO, never opened); so are
 * the files copied along. config.json is read as Python's json.loads reads
 * it (doc/formats.md) and written back as transformers writes it.
 * The output is built under a temporary name next to `out` and renamed only
 * when complete; on failure `out` is untouched. Directory input gives a
 * directory output with the same sharding (and index), config.json with
 * quantization_config (quantize) or without it (dequantize), and every other
 * file copied. A .safetensors input with an `out` ending in .safetensors
 * gives a single file; otherwise a directory with model.safetensors. */

/* Progress: called after each tensor (name, tensors and input bytes done). */
typedef void (*kbit_progress_fn)(void *ctx, const char *name, int64_t done, int64_t total,
                                 uint64_t bytes_done, uint64_t bytes_total);

typedef struct kbit_quantize_options {
    int bits;                     /* 4 (default) or 8 */
    kbit_quant_type quant_type;   /* 4-bit: KBIT_NF4 (default) or KBIT_FP4 */
    int double_quant;             /* 4-bit: nested absmax (default 0) */
    int blocksize;                /* 4-bit: 64 (transformers' only value) */
    kbit_dtype compute_dtype;     /* recorded in config.json (default F32) */
    kbit_dtype quant_storage;     /* dtype the packed bytes are declared as (default U8;
                                     also F16, BF16, F32, F64, I8) */
    double int8_threshold;        /* 8-bit: recorded llm_int8_threshold (default 6.0) */
    int int8_has_fp16_weight;     /* must be 0: the int8 weight is stored */
    const char *const *skip_modules; /* NULL: the default (lm_head, embed_out); else
                                     replaces it, as transformers' llm_int8_skip_modules */
    int skip_count;
    int replace;                  /* 1: an existing `out` is replaced (after success) */
    kbit_progress_fn progress;
    void *progress_ctx;
    /* diffusers models and pipelines (doc/formats.md, "diffusers models") */
    int cast_other;               /* 1: as diffusers' torch_dtype: the unquantized float
                                     tensors of a diffusers model are stored as other_dtype
                                     (its _keep_in_fp32_modules as F32) and its weights are
                                     quantized from their other_dtype values; 0 (default):
                                     every tensor keeps its stored dtype */
    kbit_dtype other_dtype;       /* F32, F16 or BF16 (with cast_other) */
    const char *const *components; /* pipelines: the components (subfolders named in
                                     model_index.json) to quantize, as diffusers'
                                     components_to_quantize; NULL: the denoiser
                                     (transformer or unet) */
    int component_count;
} kbit_quantize_options;

/* Fill the defaults above. */
KBIT_API void kbit_quantize_options_init(kbit_quantize_options *options);

typedef struct kbit_convert_report {
    int64_t tensors;       /* tensors read */
    int64_t converted;     /* tensors quantized (or dequantized) */
    uint64_t bytes_in;     /* safetensors bytes read */
    uint64_t bytes_out;    /* safetensors bytes written */
    int64_t files_copied;  /* other files of the directory */
    int64_t shards;
} kbit_convert_report;

/* Quantize a plain checkpoint (fp32/fp16/bf16 tensors) on `device`. The
 * tensors quantized follow kbit_checkpoint_should_quantize. report may be NULL. */
KBIT_API kbit_status kbit_checkpoint_quantize(kbit_device *device, const char *in, const char *out,
                                              const kbit_quantize_options *options,
                                              kbit_convert_report *report);
/* Dequantize every quantized weight of a checkpoint to `dtype` (F32, F16,
 * BF16); plain tensors are copied unchanged. */
KBIT_API kbit_status kbit_checkpoint_dequantize(kbit_device *device, const char *in,
                                                const char *out, kbit_dtype dtype, int replace,
                                                kbit_progress_fn progress, void *progress_ctx,
                                                kbit_convert_report *report);

/* Remove what conversions and writers into `out` left when their process
 * died (SIGKILL, a crash, power loss): the temporaries "<out>.kbit-tmp-PID-..."
 * of processes that no longer run (and that no live process holds locked),
 * and an "<out>.kbit-old-PID-..." that --force / replace had set aside: put
 * back as `out` when `out` is missing, else removed. Every conversion and
 * kbit_checkpoint_writer_finish does this for its own `out` before it
 * starts; `kbit quantize` and `kbit dequantize` also after a signal.
 * *removed (may be NULL) receives the number of entries handled. */
KBIT_API kbit_status kbit_checkpoint_remove_stale(const char *out, int *removed);

/* Diffusers pipelines: a folder with model_index.json and one subfolder per
 * component (transformer or unet, vae, text_encoder, tokenizer, scheduler,
 * ...). kbit_checkpoint_quantize / _dequantize take a pipeline folder as IN:
 * the components chosen are converted (each in its library's format: a
 * diffusers model with diffusers' rules, a transformers model with
 * transformers'), everything else, model_index.json included, is copied.
 * kbit_checkpoint_open opens one component folder, not the pipeline. */
typedef struct kbit_pipeline kbit_pipeline;

typedef struct kbit_pipeline_component {
    const char *name;        /* the subfolder (model_index.json's key) */
    const char *library;     /* "diffusers", "transformers", ... (model_index.json) */
    const char *class_name;  /* e.g. "FluxTransformer2DModel" */
    int has_weights;         /* holds diffusion_pytorch_model.safetensors* or model.safetensors* */
    int diffusers;           /* its weights are diffusers' (diffusion_pytorch_model*) */
    int quantized;           /* its config.json has a quantization_config */
} kbit_pipeline_component;

/* Open a pipeline folder: model_index.json is read and every component it
 * names (entries [library, class]; [null, null] is an absent component) is
 * checked: a plain subfolder name inside the folder (no '/', "..", hidden
 * names, or links leading outside), present, and with one weight layout.
 * KBIT_EFORMAT naming the component otherwise; KBIT_EIO, KBIT_ENOMEM. */
KBIT_API kbit_status kbit_pipeline_open(const char *path, kbit_pipeline **pipeline);
/* NULL is ignored. */
KBIT_API void kbit_pipeline_close(kbit_pipeline *pipeline);
/* Components present, in model_index.json's order; component i (strings valid
 * until close). KBIT_EINVAL out of range. */
KBIT_API int64_t kbit_pipeline_count(const kbit_pipeline *pipeline);
KBIT_API kbit_status kbit_pipeline_component_info(const kbit_pipeline *pipeline, int64_t index,
                                                  kbit_pipeline_component *info);

/* Whether kbit_checkpoint_quantize quantizes a tensor (doc/formats.md, "which
 * weights are quantized"): name ends in ".weight", 2-D, F32/F16/BF16, not an
 * embedding, and its module not skipped. skip NULL: the default list. */
KBIT_API int kbit_checkpoint_should_quantize(const char *name, int ndim, kbit_dtype dtype,
                                             const char *const *skip, int skip_count);
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
 * Every output is one dot32 (doc/determinism.md 3): w = DEC[q] * absmax' in fp32
 * (absmax' is the stored or the reconstructed nested absmax), a = f32(A),
 * 32 lanes of 8-element chunks summed with fma in increasing index order,
 * folded 16, 8, 4, 2, 1, then + f32(bias), then rounded once to the dtype.
 * Elements past the end of the last (partial) chunk are +0.0 padding; a lane
 * with no chunk left does not step. The results are bit-identical on every
 * backend, variant and thread count. M == 0 writes nothing; forward with
 * K == 0 gives T(+0.0 + bias); backward with N == 0 gives T(+0.0).
 *
 * The weight is read once, in its 4-bit form. With a nested state the core
 * first reconstructs the fp32 absmax into the calling thread's device
 * workspace (4 bytes per block) on every call; a prepared weight does that
 * once.
 *
 * Errors (outputs untouched): KBIT_EINVAL for a NULL or misaligned pointer
 * (A, bias and out aligned to their element size), dtype not F32/F16/BF16, a
 * state that is not 2-D or is inconsistent (numel, nblocks, nested fields),
 * M < 0; KBIT_ENOTSUP if the device's driver lacks the op; KBIT_ENOMEM if
 * the workspace cannot grow; KBIT_EOVERFLOW for sizes that do not fit.
 */
KBIT_API kbit_status kbit_gemm_4bit(kbit_device *device, const void *A, kbit_dtype dtype,
                                    int64_t M, const uint8_t *packed,
                                    const kbit_quant_state *state, const void *bias, void *out);
KBIT_API kbit_status kbit_gemm_4bit_backward(kbit_device *device, const void *dout,
                                             kbit_dtype dtype, int64_t M, const uint8_t *packed,
                                             const kbit_quant_state *state, void *dA);

/* Prepared weight (optional): a self-contained device copy of the weight in a
 * form the device reads fastest, built once: the driver's private layout
 * where it has one, else a copy of the packed bytes and the fp32 absmax'
 * (the nested absmax reconstructed once), ceil(N*K/2) + 4*nblocks bytes.
 * kbit_gemm_4bit_weight_bytes reports what it holds.
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
