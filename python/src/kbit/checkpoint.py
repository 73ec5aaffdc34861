"""kbit.checkpoint - whole-checkpoint conversion from Python: what `kbit
quantize` and `kbit dequantize` do (kbit_checkpoint_quantize /
kbit_checkpoint_dequantize: streaming, OUT appears only when complete).

    kbit.checkpoint.quantize("minilm", "minilm-nf4", quant_type="nf4", double_quant=True)
    kbit.checkpoint.dequantize("minilm-nf4", "minilm-fp16", dtype="float16")
"""
import ctypes
import os

from . import _lib
from ._core import check, device, load

_DTYPES = {"float32": _lib.F32, "fp32": _lib.F32, "float16": _lib.F16, "fp16": _lib.F16,
           "bfloat16": _lib.BF16, "bf16": _lib.BF16, "uint8": _lib.U8, "int8": _lib.I8,
           "float64": _lib.F64}


def _dtype(d, what):
    name = str(d).replace("torch.", "")
    if name not in _DTYPES:
        raise ValueError("%s: %r is not one of %s" % (what, d, sorted(_DTYPES)))
    return _DTYPES[name]


def _report(r):
    return dict(tensors=r.tensors, converted=r.converted, bytes_in=r.bytes_in,
                bytes_out=r.bytes_out, files_copied=r.files_copied, shards=r.shards)


def _progress(fn):
    if fn is None:
        return _lib.PROGRESS_FN()

    def cb(ctx, name, done, total, bytes_done, bytes_total):
        try:
            fn(name.decode("utf-8", "replace") if name else "", done, total, bytes_done,
               bytes_total)
        except Exception:   # an exception cannot cross the C frames
            pass
    return _lib.PROGRESS_FN(cb)


def quantize(src, out, bits=4, quant_type="nf4", double_quant=False, blocksize=64,
             compute_dtype="float32", quant_storage="uint8", threshold=6.0, skip_modules=None,
             replace=False, device_spec="cpu", progress=None):
    """A plain checkpoint (directory or .safetensors) to the bitsandbytes
    format (kbit_quantize_options; skip_modules None = lm_head, embed_out).
    progress(name, done, total, bytes_done, bytes_total) is called per tensor.
    Returns kbit_convert_report as a dict."""
    lib = load()
    o = _lib.QuantizeOptions()
    lib.kbit_quantize_options_init(ctypes.byref(o))
    o.bits = int(bits)
    o.quant_type = {"nf4": _lib.NF4, "fp4": _lib.FP4}[quant_type]
    o.double_quant = 1 if double_quant else 0
    o.blocksize = int(blocksize)
    o.compute_dtype = _dtype(compute_dtype, "compute_dtype")
    o.quant_storage = _dtype(quant_storage, "quant_storage")
    o.int8_threshold = float(threshold)
    keep = None
    if skip_modules is not None:
        names = [s.encode() for s in skip_modules]
        keep = (ctypes.c_char_p * max(1, len(names)))(*names)
        o.skip_modules = ctypes.cast(keep, ctypes.POINTER(ctypes.c_char_p))
        o.skip_count = len(names)
    o.replace = 1 if replace else 0
    cb = _progress(progress)
    o.progress = cb
    r = _lib.ConvertReport()
    check(lib.kbit_checkpoint_quantize(device(device_spec).handle, os.fsencode(src),
                                       os.fsencode(out), ctypes.byref(o), ctypes.byref(r)),
          "kbit_checkpoint_quantize")
    del keep, cb
    return _report(r)


def dequantize(src, out, dtype="float16", replace=False, device_spec="cpu", progress=None):
    """Every quantized weight of a checkpoint back to dtype (float32, float16,
    bfloat16); plain tensors copied. Returns kbit_convert_report as a dict."""
    lib = load()
    cb = _progress(progress)
    r = _lib.ConvertReport()
    check(lib.kbit_checkpoint_dequantize(device(device_spec).handle, os.fsencode(src),
                                         os.fsencode(out), _dtype(dtype, "dtype"),
                                         1 if replace else 0, cb, None, ctypes.byref(r)),
          "kbit_checkpoint_dequantize")
    return _report(r)
