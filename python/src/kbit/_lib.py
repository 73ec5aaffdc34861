"""kbit._lib - every C declaration of include/kbit.h that the package uses,
mirrored for ctypes, in one place.

When kbit.h changes (a struct field, a prototype, an enum value), this is the
only file to edit. Nothing else in the package names a ctypes type of a kbit
struct or sets argtypes. The structs below are laid out exactly as the C
compiler lays out the header's definitions on the platforms kbit supports
(LP64: enums are 4-byte ints, int64_t fields 8-byte aligned), and
`check_layout` verifies the two structs whose layout is known to be about to
change (kbit_optim_config, kbit_quant_state) against the loaded library's own
defaults, so a mismatch is an error at import rather than garbage numbers.

ctypes releases the GIL around every call into a CDLL, so kbit calls from two
Python threads run at the same time.
"""
import ctypes
from ctypes import (POINTER, Structure, c_char, c_char_p, c_double, c_float, c_int, c_int32,
                    c_int64, c_size_t, c_uint8, c_uint32, c_uint64, c_void_p)

# ---------------------------------------------------------------------------
# The version of kbit.h these declarations mirror (KBIT_VERSION_MAJOR/MINOR).
HEADER_VERSION = (0, 1)

# kbit_status
OK, EINVAL, ENOMEM, ENOTSUP, ENODEV, EFORMAT, EIO, EDRIVER, EOVERFLOW = range(9)
STATUS_NAMES = {OK: "KBIT_OK", EINVAL: "KBIT_EINVAL", ENOMEM: "KBIT_ENOMEM",
                ENOTSUP: "KBIT_ENOTSUP", ENODEV: "KBIT_ENODEV", EFORMAT: "KBIT_EFORMAT",
                EIO: "KBIT_EIO", EDRIVER: "KBIT_EDRIVER", EOVERFLOW: "KBIT_EOVERFLOW"}

# kbit_dtype
F32, F16, BF16, U8, I8, I32, I64, F64 = range(8)

# kbit_copy_kind
HOST_TO_DEVICE, DEVICE_TO_HOST, DEVICE_TO_DEVICE = range(3)

# kbit_quant_type
FP4, NF4 = 1, 2

# kbit_map_kind
MAP_SIGNED, MAP_UNSIGNED = 0, 1

# kbit_optim_kind
OPTIM_ADAM, OPTIM_ADAMW, OPTIM_LAMB, OPTIM_ADEMAMIX, OPTIM_SGD, OPTIM_LARS, OPTIM_RMSPROP, \
    OPTIM_ADAGRAD, OPTIM_LION = range(9)

# kbit_weight_format
WEIGHT_PLAIN, WEIGHT_4BIT, WEIGHT_INT8 = range(3)

MAX_DIMS = 8             # KBIT_MAX_DIMS

# kbit_family (bits), kbit_mem_kind, kbit_math_mode
FAMILY_QUANT4, FAMILY_QUANT8, FAMILY_GEMM4, FAMILY_INT8, FAMILY_OPTIM = 1, 2, 4, 8, 16
FAMILY_ALL = 0x1f
MEM_DEVICE, MEM_MANAGED, MEM_HOST_PINNED = range(3)
MATH_EXACT, MATH_FAST = range(2)
NESTED_BLOCKSIZE = 256   # KBIT_NESTED_BLOCKSIZE
INT8_MAX_K = 133143      # KBIT_INT8_MAX_K
OPTIM_BLOCKSIZE = 256    # 8-bit optimizer state blocks (doc/formats.md "Optimizer state")

c_status = c_int   # kbit_status
c_enum = c_int     # every other enum of kbit.h


# ---------------------------------------------------------------------------
# Structs (field for field as in kbit.h)

class DriverReport(Structure):      # kbit_driver_report
    _fields_ = [("name", c_char_p), ("path", c_char_p), ("loaded", c_int),
                ("device_count", c_int), ("reason", c_char_p), ("description", c_char_p),
                ("families", c_uint32), ("families_reason", c_char_p),
                ("abi_major", c_uint32), ("abi_minor", c_uint32), ("limits", c_char_p)]


class DeviceInfo(Structure):        # kbit_device_info
    _fields_ = [("driver", c_char * 32), ("name", c_char * 128), ("variant", c_char * 32),
                ("index", c_int), ("threads", c_int), ("memory_bytes", c_uint64),
                ("families", c_uint32)]


class QuantState(Structure):        # kbit_quant_state
    _fields_ = [("quant_type", c_enum), ("dtype", c_enum), ("blocksize", c_int32),
                ("ndim", c_int32), ("shape", c_int64 * MAX_DIMS), ("numel", c_int64),
                ("nblocks", c_int64), ("code", c_float * 16), ("nested", c_int32),
                ("absmax", c_void_p), ("absmax2", c_void_p), ("offset", c_float),
                ("blocksize2", c_int32), ("nblocks2", c_int64), ("code2", c_float * 256),
                ("owns_buffers", c_int32)]


class OptimConfig(Structure):       # kbit_optim_config: hyperparameters in double (numerics 6.2)
    _fields_ = [("kind", c_enum), ("lr", c_double), ("beta1", c_double), ("beta2", c_double),
                ("beta3", c_double), ("alpha", c_double), ("t_alpha", c_int64),
                ("t_beta3", c_int64), ("eps", c_double), ("weight_decay", c_double),
                ("max_unorm", c_double), ("percentile_clipping", c_int), ("skip_zeros", c_int),
                ("state_bits", c_int), ("min_8bit_size", c_int64), ("paged", c_int)]


class OptimScalars(Structure):      # kbit_optim_scalars
    _fields_ = [("c1", c_float), ("c2", c_float), ("step_size", c_float), ("alpha_t", c_float),
                ("beta3_t", c_float), ("c1p", c_float), ("c2p", c_float)]


class OptimStateInfo(Structure):    # kbit_optim_state_info
    _fields_ = [("kind", c_enum), ("param_dtype", c_enum), ("state_bits", c_int), ("n", c_int64),
                ("step", c_int64), ("device_bytes", c_size_t), ("gnorm_scale", c_float),
                ("param_norm", c_float), ("unorm", c_float), ("update_scale", c_float)]


class OptimBnbState(Structure):     # kbit_optim_bnb_state
    _fields_ = [("step", c_int64), ("state1", c_void_p), ("state2", c_void_p),
                ("absmax1", c_void_p), ("absmax2", c_void_p), ("qmap1", c_void_p),
                ("qmap2", c_void_p), ("gnorm_vec", c_void_p), ("unorm_vec", c_void_p)]


class TensorInfo(Structure):        # kbit_tensor_info
    _fields_ = [("format", c_enum), ("dtype", c_enum), ("dtype_known", c_int32), ("ndim", c_int32),
                ("shape", c_int64 * MAX_DIMS), ("numel", c_int64), ("quant_type", c_enum),
                ("blocksize", c_int32), ("nested", c_int32), ("stored_bytes", c_uint64),
                ("st_dtype", c_char * 12)]


# typedef void (*kbit_progress_fn)(void *ctx, const char *name, int64_t done, int64_t total,
#                                  uint64_t bytes_done, uint64_t bytes_total);
PROGRESS_FN = ctypes.CFUNCTYPE(None, c_void_p, c_char_p, c_int64, c_int64, c_uint64, c_uint64)


class QuantizeOptions(Structure):   # kbit_quantize_options
    _fields_ = [("bits", c_int), ("quant_type", c_enum), ("double_quant", c_int),
                ("blocksize", c_int), ("compute_dtype", c_enum), ("quant_storage", c_enum),
                ("int8_threshold", c_double), ("int8_has_fp16_weight", c_int),
                ("skip_modules", POINTER(c_char_p)), ("skip_count", c_int), ("replace", c_int),
                ("progress", PROGRESS_FN), ("progress_ctx", c_void_p),
                ("cast_other", c_int), ("other_dtype", c_enum),
                ("components", POINTER(c_char_p)), ("component_count", c_int)]


class ConvertReport(Structure):     # kbit_convert_report
    _fields_ = [("tensors", c_int64), ("converted", c_int64), ("bytes_in", c_uint64),
                ("bytes_out", c_uint64), ("files_copied", c_int64), ("shards", c_int64)]


# ---------------------------------------------------------------------------
# Prototypes: name -> (restype, argtypes). Data pointers are c_void_p (Python
# ints); host scalars and structs are typed.
vp = c_void_p
P = POINTER

PROTOTYPES = {
    # version, errors, dtypes
    "kbit_version": (c_char_p, []),
    "kbit_strerror": (c_char_p, [c_status]),
    "kbit_last_error": (c_char_p, []),
    "kbit_dtype_size": (c_size_t, [c_enum]),
    "kbit_dtype_name": (c_char_p, [c_enum]),
    # drivers and devices
    "kbit_driver_count": (c_status, [P(c_int)]),
    "kbit_driver_get": (c_status, [c_int, P(DriverReport)]),
    "kbit_device_open": (c_status, [c_char_p, P(vp)]),
    "kbit_device_open_for": (c_status, [c_char_p, c_uint32, P(vp)]),
    "kbit_device_supports": (c_status, [vp, c_uint32]),
    "kbit_device_supports_args": (c_status, [vp, c_enum, c_enum, c_int]),
    "kbit_family_name": (c_char_p, [c_enum]),
    "kbit_device_set_math_mode": (c_status, [vp, c_enum]),
    "kbit_device_trim": (c_status, [vp]),
    "kbit_malloc_kind": (c_status, [vp, c_size_t, c_enum, P(vp)]),
    "kbit_prefetch": (c_status, [vp, vp, c_size_t, c_int]),
    "kbit_device_close": (None, [vp]),
    "kbit_device_get_info": (c_status, [vp, P(DeviceInfo)]),
    "kbit_device_set_threads": (c_status, [vp, c_int]),
    "kbit_device_set_stream": (c_status, [vp, vp]),
    "kbit_malloc": (c_status, [vp, c_size_t, P(vp)]),
    "kbit_free": (c_status, [vp, vp]),
    "kbit_copy": (c_status, [vp, vp, vp, c_size_t, c_enum]),
    "kbit_sync": (c_status, [vp]),
    # code tables
    "kbit_dynamic_map": (P(c_float), [c_enum]),
    "kbit_4bit_quant_map": (P(c_float), [c_enum]),
    # 4-bit
    "kbit_nblocks": (c_int64, [c_int64, c_int]),
    "kbit_packed_4bit_bytes": (c_int64, [c_int64]),
    "kbit_quantize_4bit": (c_status, [vp, c_enum, c_enum, vp, c_int64, c_int, vp, vp]),
    "kbit_dequantize_4bit": (c_status, [vp, c_enum, vp, vp, c_int64, c_int, c_enum, vp]),
    "kbit_nested_quantize": (c_status, [vp, vp, c_int64, vp, vp, P(c_float)]),
    "kbit_nested_dequantize": (c_status, [vp, vp, vp, vp, c_float, c_int64, vp]),
    "kbit_quant_state_init": (c_status, [P(QuantState), c_enum, c_enum, c_int, P(c_int64), c_int,
                                         c_int]),
    "kbit_quant_state_alloc": (c_status, [vp, P(QuantState)]),
    "kbit_quant_state_release": (None, [vp, P(QuantState)]),
    "kbit_quantize_4bit_state": (c_status, [vp, vp, vp, P(QuantState)]),
    "kbit_dequantize_4bit_state": (c_status, [vp, vp, P(QuantState), c_enum, vp]),
    # 8-bit blockwise
    "kbit_quantize_8bit": (c_status, [vp, c_enum, vp, c_int64, c_int, vp, vp, vp]),
    "kbit_dequantize_8bit": (c_status, [vp, vp, vp, c_int64, c_int, vp, c_enum, vp]),
    # optimizers
    "kbit_optim_config_default": (c_status, [c_enum, P(OptimConfig)]),
    "kbit_optim_host_scalars": (c_status, [P(OptimConfig), c_int64, P(OptimScalars)]),
    "kbit_optim_state_create": (c_status, [vp, P(OptimConfig), c_int64, c_enum, P(vp)]),
    "kbit_optim_state_release": (None, [vp]),
    "kbit_optim_state_get_info": (c_status, [vp, P(OptimStateInfo)]),
    "kbit_optim_step": (c_status, [vp, P(OptimConfig), vp, vp, vp, c_enum, c_float]),
    "kbit_optim_step_many": (c_status, [vp, P(OptimConfig), c_int64, P(vp), P(vp), P(vp),
                                        P(c_enum), c_float]),
    "kbit_optim_state_save_size": (c_status, [vp, P(c_size_t)]),
    "kbit_optim_state_save": (c_status, [vp, vp, c_size_t]),
    "kbit_optim_state_restore": (c_status, [vp, vp, c_size_t]),
    "kbit_optim_state_load_bnb": (c_status, [vp, P(OptimBnbState)]),
    # LLM.int8()
    "kbit_int8_vectorwise_quant": (c_status, [vp, c_enum, vp, c_int64, c_int64, c_float, vp, vp,
                                              vp, P(c_int64)]),
    "kbit_int8_quantize_weight": (c_status, [vp, c_enum, vp, c_int64, c_int64, vp, vp]),
    "kbit_int8_dequantize_weight": (c_status, [vp, vp, vp, c_int64, c_int64, c_enum, vp]),
    "kbit_int8_matmul": (c_status, [vp, vp, vp, c_int64, c_int64, c_int64, vp]),
    "kbit_int8_mm_dequant": (c_status, [vp, vp, vp, vp, c_int64, c_int64, vp, c_enum, c_enum,
                                        vp]),
    "kbit_int8_linear_forward": (c_status, [vp, c_enum, vp, c_int64, c_int64, vp, vp, c_int64,
                                            c_float, vp, vp]),
    "kbit_int8_linear_backward": (c_status, [vp, c_enum, vp, c_int64, c_int64, vp, vp, c_int64,
                                             vp]),
    # checkpoints
    "kbit_checkpoint_open": (c_status, [c_char_p, P(vp)]),
    "kbit_checkpoint_close": (None, [vp]),
    "kbit_checkpoint_count": (c_int64, [vp]),
    "kbit_checkpoint_name": (c_char_p, [vp, c_int64]),
    "kbit_checkpoint_config": (c_char_p, [vp]),
    "kbit_checkpoint_info": (c_status, [vp, c_char_p, P(TensorInfo)]),
    "kbit_checkpoint_load_4bit": (c_status, [vp, c_char_p, vp, P(vp), P(QuantState)]),
    "kbit_checkpoint_load_int8": (c_status, [vp, c_char_p, vp, P(vp), P(vp), P(c_int64),
                                             P(c_int64)]),
    "kbit_checkpoint_load_tensor": (c_status, [vp, c_char_p, vp, c_enum, P(vp)]),
    "kbit_checkpoint_writer_create": (c_status, [c_char_p, P(vp)]),
    "kbit_checkpoint_writer_add": (c_status, [vp, c_char_p, c_enum, c_int, P(c_int64), vp]),
    "kbit_checkpoint_writer_add_4bit": (c_status, [vp, c_char_p, vp, vp, P(QuantState)]),
    "kbit_checkpoint_writer_add_int8": (c_status, [vp, c_char_p, vp, vp, vp, c_int64, c_int64]),
    "kbit_checkpoint_writer_finish": (c_status, [vp]),
    "kbit_checkpoint_writer_discard": (None, [vp]),
    "kbit_quantize_options_init": (None, [P(QuantizeOptions)]),
    "kbit_checkpoint_quantize": (c_status, [vp, c_char_p, c_char_p, P(QuantizeOptions),
                                            P(ConvertReport)]),
    "kbit_checkpoint_dequantize": (c_status, [vp, c_char_p, c_char_p, c_enum, c_int, PROGRESS_FN,
                                              vp, P(ConvertReport)]),
    "kbit_checkpoint_should_quantize": (c_int, [c_char_p, c_int, c_enum, P(c_char_p), c_int]),
    # 4-bit matmul
    "kbit_gemm_4bit": (c_status, [vp, vp, c_enum, c_int64, vp, P(QuantState), vp, vp]),
    "kbit_gemm_4bit_backward": (c_status, [vp, vp, c_enum, c_int64, vp, P(QuantState), vp]),
    "kbit_gemm_4bit_prepare": (c_status, [vp, vp, P(QuantState), P(vp)]),
    "kbit_gemm_4bit_weight_bytes": (c_size_t, [vp]),
    "kbit_gemm_4bit_weight_destroy": (None, [vp]),
    "kbit_gemm_4bit_prepared": (c_status, [vp, vp, c_enum, c_int64, vp, vp, vp]),
    "kbit_gemm_4bit_backward_prepared": (c_status, [vp, vp, c_enum, c_int64, vp, vp]),
}


class Library:
    """The loaded libkbit with the prototypes above applied. A symbol the
    library lacks is recorded in `missing` and raises when it is called."""

    def __init__(self, cdll, path):
        self.cdll = cdll
        self.path = path
        self.missing = []
        for name, (restype, argtypes) in PROTOTYPES.items():
            try:
                fn = getattr(cdll, name)
            except AttributeError:
                self.missing.append(name)
                setattr(self, name, _Missing(name, path))
                continue
            fn.restype = restype
            fn.argtypes = argtypes
            setattr(self, name, fn)


class _Missing:
    def __init__(self, name, path):
        self.name, self.path = name, path

    def __call__(self, *args):
        raise RuntimeError("kbit: %s is not in %s (a libkbit older or newer than this package)"
                           % (self.name, self.path))


def check_layout(lib):
    """Compare the structs most likely to change with what the library writes
    into them; raise RuntimeError when this package's declarations are stale."""
    cfg = OptimConfig()
    if lib.kbit_optim_config_default(OPTIM_ADAMW, ctypes.byref(cfg)) != OK:
        raise RuntimeError("kbit: kbit_optim_config_default(ADAMW) failed")
    want = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2)
    got = {k: getattr(cfg, k) for k in want}
    bad = [k for k, v in want.items() if abs(got[k] - v) > 1e-6 * max(1.0, abs(v))]
    if bad or cfg.kind != OPTIM_ADAMW or cfg.state_bits != 32 or cfg.min_8bit_size != 4096 \
            or cfg.percentile_clipping != 100:
        raise RuntimeError("kbit: the kbit_optim_config of %s does not match this package's "
                           "declaration in kbit/_lib.py (defaults read back as %s, state_bits %d, "
                           "min_8bit_size %d): update OptimConfig"
                           % (lib.path, got, cfg.state_bits, cfg.min_8bit_size))
    qs = QuantState()
    shape = (c_int64 * 2)(3, 100)
    if lib.kbit_quant_state_init(ctypes.byref(qs), NF4, BF16, 2, shape, 64, 1) != OK:
        raise RuntimeError("kbit: kbit_quant_state_init failed: %s" % lib.kbit_last_error())
    if (qs.numel, qs.nblocks, qs.blocksize, qs.ndim, qs.nested, qs.blocksize2, qs.nblocks2,
            qs.code[15], qs.code2[255]) != (300, 5, 64, 2, 1, 256, 1, 1.0, 1.0):
        raise RuntimeError("kbit: the kbit_quant_state of %s does not match this package's "
                           "declaration in kbit/_lib.py: update QuantState" % lib.path)
