"""kbit._arrays - zero-copy views of the caller's arrays for libkbit.

An argument is a torch tensor, a NumPy array, or any object exporting
`__dlpack__`, `__cuda_array_interface__` or `__array_interface__`. Its data
pointer goes to libkbit as it is: nothing is copied, so an array must be
C-contiguous (a strided view is refused, never silently copied). The array's
device decides the kbit device: host memory runs on "cpu", a CUDA tensor on
"cuda:<index>" (ROCm builds of torch: "hip:<index>"); a device kbit has no
driver for is an error naming it.

Results are allocated like the first array argument: torch tensors on the
same device for torch input, NumPy arrays for host input of any other kind.
"""
import ctypes
import sys

import numpy as np

from . import _lib
from ._core import device as open_device

# kbit dtype <-> names
DTYPE_NAMES = {_lib.F32: "float32", _lib.F16: "float16", _lib.BF16: "bfloat16", _lib.U8: "uint8",
               _lib.I8: "int8", _lib.I32: "int32", _lib.I64: "int64", _lib.F64: "float64"}
_NP_TO_KBIT = {np.dtype(np.float32): _lib.F32, np.dtype(np.float16): _lib.F16,
               np.dtype(np.uint8): _lib.U8, np.dtype(np.int8): _lib.I8,
               np.dtype(np.int32): _lib.I32, np.dtype(np.int64): _lib.I64,
               np.dtype(np.float64): _lib.F64}
_KBIT_TO_NP = {v: k for k, v in _NP_TO_KBIT.items()}
FLOATS = (_lib.F32, _lib.F16, _lib.BF16)

_torch_maps = None


def torch_module():
    """torch if it has been imported (the package never imports it for NumPy users)."""
    return sys.modules.get("torch")


def _torch_dtypes():
    global _torch_maps
    if _torch_maps is None:
        import torch
        t2k = {torch.float32: _lib.F32, torch.float16: _lib.F16, torch.bfloat16: _lib.BF16,
               torch.uint8: _lib.U8, torch.int8: _lib.I8, torch.int32: _lib.I32,
               torch.int64: _lib.I64, torch.float64: _lib.F64}
        _torch_maps = (t2k, {v: k for k, v in t2k.items()})
    return _torch_maps


_tensor_cls = None


def _tensor_class():
    global _tensor_cls
    if _tensor_cls is None:
        torch = torch_module()
        if torch is None:
            return None
        _tensor_cls = torch.Tensor
    return _tensor_cls


def torch_dtype(kdt):
    return _torch_dtypes()[1][kdt]


def kbit_dtype_of_torch(tdt):
    return _torch_dtypes()[0].get(tdt)


# ---------------------------------------------------------------------------
# DLPack (the legacy "dltensor" capsule; read only, the capsule keeps the
# producer's memory alive and frees it when collected)

class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int), ("device_id", ctypes.c_int)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", _DLDevice), ("ndim", ctypes.c_int),
                ("dtype", _DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


_capsule_get = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_get.restype = ctypes.c_void_p
_capsule_get.argtypes = [ctypes.py_object, ctypes.c_char_p]
_DL_CPU, _DL_CUDA, _DL_CUDA_HOST, _DL_ROCM = 1, 2, 3, 10
_DL_DTYPES = {(2, 32): _lib.F32, (2, 16): _lib.F16, (4, 16): _lib.BF16, (1, 8): _lib.U8,
              (0, 8): _lib.I8, (0, 32): _lib.I32, (0, 64): _lib.I64, (2, 64): _lib.F64}


class Arr:
    """One argument as libkbit sees it: data pointer, shape, kbit dtype (None if
    kbit has none for it), kbit device spec, and the object (kept alive)."""
    __slots__ = ("obj", "ptr", "shape", "dtype", "spec", "kind", "keep", "_dtname")

    def __init__(self, obj, ptr, shape, dtype, spec, kind, dtname=None, keep=None):
        self.obj, self.ptr, self.shape, self.dtype = obj, ptr, shape, dtype
        self.spec, self.kind, self._dtname, self.keep = spec, kind, dtname, keep

    @property
    def dtname(self):
        """The dtype's name, for messages."""
        if self._dtname is None:
            self._dtname = str(self.obj.dtype).replace("torch.", "")
        return self._dtname

    @property
    def numel(self):
        n = 1
        for s in self.shape:
            n *= s
        return n

    @property
    def itemsize(self):
        return _itemsize(self.dtype)

    @property
    def nbytes(self):
        return self.numel * self.itemsize

    def device(self):
        return open_device(self.spec)


def _itemsize(kdt):
    return {_lib.F32: 4, _lib.F16: 2, _lib.BF16: 2, _lib.U8: 1, _lib.I8: 1, _lib.I32: 4,
            _lib.I64: 8, _lib.F64: 8}[kdt]


def _contiguous(shape, strides, itemsize):
    """C-contiguous check on strides in bytes (dims of size 1 are free)."""
    expect = itemsize
    for s, st in zip(reversed(shape), reversed(strides)):
        if s != 1 and st != expect:
            return False
        expect *= s
    return True


def _torch_spec(t, name):
    dev = t.device
    if dev.type == "cpu":
        return "cpu:0"
    if dev.type == "cuda":
        import torch
        idx = dev.index if dev.index is not None else torch.cuda.current_device()
        return ("hip:%d" if getattr(torch.version, "hip", None) else "cuda:%d") % idx
    raise ValueError("%s is on torch device '%s', for which kbit has no driver "
                     "(kbit runs on cpu, cuda, hip and opencl devices)" % (name, dev))


def view(x, name, fn=None):
    """The Arr of argument `x` (named `name` in messages). Raises TypeError for
    something that is not an array, ValueError for a strided view or a device
    kbit has no driver for."""
    T = _tensor_class()
    if T is not None and isinstance(x, T):
        dev = x.device
        if dev.type == "cpu":
            spec = "cpu:0"
        elif dev.type == "meta":
            raise ValueError("%s%s is a meta tensor (it holds no data)"
                             % ("%s: " % fn if fn else "", name))
        else:
            spec = _torch_spec(x, ("%s: " % fn if fn else "") + name)
        if not x.is_contiguous():
            raise ValueError("%s%s is not contiguous (shape %s, strides %s): kbit works on the "
                             "caller's memory in place and never copies silently; pass "
                             "%s.contiguous()" % ("%s: " % fn if fn else "", name,
                                                  tuple(x.shape), tuple(x.stride()), name))
        return Arr(x, x.data_ptr(), x.shape, _torch_dtypes()[0].get(x.dtype), spec, "torch")
    where = "%s: " % fn if fn else ""
    if isinstance(x, np.ndarray):
        if not x.flags.c_contiguous:
            raise ValueError("%s%s is not C-contiguous (shape %s, strides %s): pass "
                             "np.ascontiguousarray(%s)" % (where, name, x.shape, x.strides, name))
        kdt = _NP_TO_KBIT.get(x.dtype)
        if kdt is None and x.dtype.name == "bfloat16":  # ml_dtypes
            kdt = _lib.BF16
        return Arr(x, x.ctypes.data if x.size else 0, x.shape, kdt, "cpu:0", "numpy", x.dtype.name)
    if hasattr(x, "__dlpack__"):
        return _view_dlpack(x, where + name)
    if hasattr(x, "__cuda_array_interface__"):
        raise TypeError("%s%s: __cuda_array_interface__ arrays are not taken directly; pass a "
                        "torch tensor or an object with __dlpack__" % (where, name))
    iface = getattr(x, "__array_interface__", None)
    if iface is not None:
        a = np.empty(0, dtype=np.dtype(iface["typestr"]))
        shape = tuple(iface["shape"])
        if iface.get("strides") is not None and not _contiguous(shape, iface["strides"],
                                                                 a.itemsize):
            raise ValueError("%s%s is not C-contiguous (strides %s)"
                             % (where, name, iface["strides"]))
        return Arr(x, iface["data"][0], shape, _NP_TO_KBIT.get(a.dtype), "cpu:0", "iface",
                   a.dtype.name)
    raise TypeError("%s%s must be an array (a torch tensor, a NumPy array, or an object with "
                    "__dlpack__ or __array_interface__), not %s" % (where, name, type(x).__name__))


def _view_dlpack(x, name):
    try:
        cap = x.__dlpack__()
    except Exception as e:  # the producer refused (e.g. a read-only or device array)
        raise TypeError("%s: __dlpack__() failed: %s" % (name, e))
    p = _capsule_get(cap, b"dltensor")
    t = _DLTensor.from_address(p)
    shape = tuple(t.shape[i] for i in range(t.ndim))
    kdt = _DL_DTYPES.get((t.dtype.code, t.dtype.bits)) if t.dtype.lanes == 1 else None
    if t.strides:
        strides = [t.strides[i] * (t.dtype.bits // 8) for i in range(t.ndim)]
        if not _contiguous(shape, strides, t.dtype.bits // 8):
            raise ValueError("%s is not C-contiguous (DLPack strides %s)"
                             % (name, [t.strides[i] for i in range(t.ndim)]))
    dt = t.device.device_type
    if dt in (_DL_CPU, _DL_CUDA_HOST):
        spec = "cpu:0"
    elif dt == _DL_CUDA:
        spec = "cuda:%d" % t.device.device_id
    elif dt == _DL_ROCM:
        spec = "hip:%d" % t.device.device_id
    else:
        raise ValueError("%s is on DLPack device type %d, for which kbit has no driver"
                         % (name, dt))
    ptr = (t.data or 0) + t.byte_offset
    return Arr(x, ptr, shape, kdt, spec, "dlpack", "dlpack(%d,%d)" % (t.dtype.code, t.dtype.bits),
               keep=cap)


# ---------------------------------------------------------------------------
# Checks shared by the functional API

def need_dtype(a, name, allowed, fn):
    if a.dtype not in allowed:
        raise ValueError("%s: %s has dtype %s; expected %s" % (
            fn, name, a.dtname, " or ".join(DTYPE_NAMES[d] for d in allowed)))


def same_device(fn, *pairs):
    """All (name, Arr) on one device; returns the spec."""
    specs = [(n, a.spec) for n, a in pairs if a is not None]
    first = specs[0][1]
    for n, s in specs[1:]:
        if s != first:
            raise ValueError("%s: %s is on %s but %s is on %s (one call runs on one device; "
                             "move the tensors first)" % (fn, n, s, specs[0][0], first))
    return first


def empty(like, shape, kdt):
    """A new uninitialised array of `shape` and kbit dtype like `like` (an Arr)."""
    shape = tuple(int(s) for s in shape)
    like.device()   # a device kbit has no driver for fails here, with the library's reason
    if like.kind == "torch":
        t = torch_module().empty(shape, dtype=_torch_dtypes()[1][kdt], device=like.obj.device)
        return Arr(t, t.data_ptr(), t.shape, kdt, like.spec, "torch")
    if like.spec != "cpu:0":
        torch = torch_module()
        if torch is None:
            raise ValueError("results for arrays on %s need torch (import torch first)"
                             % like.spec)
        dev = "cuda:%s" % like.spec.split(":")[1]
        return view(torch.empty(shape, dtype=torch_dtype(kdt), device=dev), "out")
    if kdt == _lib.BF16:
        try:
            import ml_dtypes
            return view(np.empty(shape, dtype=ml_dtypes.bfloat16), "out")
        except ImportError:
            raise ValueError("bfloat16 results for NumPy need the ml_dtypes package "
                             "(or pass torch tensors)")
    return view(np.empty(shape, dtype=_KBIT_TO_NP[kdt]), "out")


def host_floats(x, n, name, fn):
    """A host float32 copy (ctypes array) of a small table such as a code map."""
    torch = torch_module()
    if torch is not None and isinstance(x, torch.Tensor):
        vals = x.detach().to("cpu", torch.float32).reshape(-1)
        arr = np.ascontiguousarray(vals.numpy())
    else:
        arr = np.ascontiguousarray(np.asarray(x, dtype=np.float32).reshape(-1))
    if arr.size != n:
        raise ValueError("%s: %s has %d entries; expected %d" % (fn, name, arr.size, n))
    return (ctypes.c_float * n).from_buffer_copy(arr.tobytes())
