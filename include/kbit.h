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
/* Optimizers: bitsandbytes' eight, 32-bit and 8-bit blockwise states   */
/*
 * Numerics: shared/spec/numerics.md 6 (bitsandbytes' CUDA kernels with IEEE
 * arithmetic and the NORMATIVE deviations of 6.5), norms by pairsum
 * (determinism.md 4). Results are bit-identical on every backend and thread
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
 *   RMSPROP            beta1 = alpha (smoothing, > 0); eps; coupled weight_decay
 *   ADAGRAD            eps (betas unused); coupled weight_decay
 *   LION               beta1, beta2; weight_decay is decoupled (before the step)
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
    float lr;                 /* >= 0, finite */
    float beta1, beta2, beta3; /* each beta the kind uses: in [0, 1) */
    float alpha;              /* AdEMAMix: >= 0, finite */
    int64_t t_alpha;          /* AdEMAMix alpha warm-up steps; 0 = none */
    int64_t t_beta3;          /* AdEMAMix beta3 warm-up steps; 0 = none */
    float eps;                /* >= 0, finite */
    float weight_decay;       /* >= 0, finite */
    /* Update-norm clipping (numerics 6.4): > 0 only for ADAM/ADAMW/LAMB and
     * SGD/LARS; applied with 32-bit states (8-bit kernels ignore it, as in
     * bitsandbytes). */
    float max_unorm;
    /* Percentile clipping (numerics 6.7): 100 = off; 0..99 clips the gradient
     * norm at that percentile (0-based, of 100) of the last 100 norms. */
    int percentile_clipping;
    /* Elements whose gradient is exactly 0 are not updated (numerics 6.5). */
    int skip_zeros;
    /* 32 or 8. Read when a state is created: tensors with fewer than
     * min_8bit_size elements keep 32-bit states (bitsandbytes: 4096). */
    int state_bits;
    int64_t min_8bit_size;
} kbit_optim_config;

/* Fill config with the defaults of kind (state_bits 32, min_8bit_size 4096,
 * percentile_clipping 100). KBIT_EINVAL for an unknown kind. */
KBIT_API kbit_status kbit_optim_config_default(kbit_optim_kind kind, kbit_optim_config *config);

/* The host scalars of step (>= 1) for config (numerics 6.2, 6.4): what the
 * kernels receive. alpha_t and beta3_t are the AdEMAMix schedules (alpha and
 * beta3 without one). */
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
    float param_norm, unorm, update_scale; /* max_unorm (numerics 6.4) */
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
 * grad_dtypes[i] as for kbit_optim_step. Every argument of every tensor is
 * checked before the first one is stepped. */
KBIT_API kbit_status kbit_optim_step_many(kbit_device *device, const kbit_optim_config *config,
                                          int64_t count, kbit_optim_state *const *states,
                                          void *const *params, const void *const *grads,
                                          const kbit_dtype *grad_dtypes, float gnorm_scale);

/* Save and restore a state byte for byte (layout: doc/formats.md, "Optimizer
 * state"). save_size gives the bytes save writes; restore needs a state
 * created for the same kind, n, param dtype and state bits (KBIT_EFORMAT
 * otherwise, naming the field). */
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
 * (history kept at 0). */
typedef struct kbit_optim_bnb_state {
    int64_t step;
    const void *state1, *state2;
    const float *absmax1, *absmax2;
    const float *qmap1, *qmap2;
    const float *gnorm_vec;
} kbit_optim_bnb_state;

KBIT_API kbit_status kbit_optim_state_load_bnb(kbit_optim_state *state,
                                               const kbit_optim_bnb_state *bnb);

#ifdef __cplusplus
}
#endif

#endif /* KBIT_H */
