"""kbit.functional - bitsandbytes.functional's names, arguments, defaults and
return types, computed by libkbit.

Switching is an import change:

    import kbit.functional as F          # instead of bitsandbytes.functional
    packed, state = F.quantize_4bit(w, quant_type="nf4", compress_statistics=True)
    w2 = F.dequantize_4bit(packed, state)

Arguments are torch tensors or NumPy arrays (or anything with __dlpack__ /
__array_interface__); results are of the same kind and on the same device.
Arrays are used in place: they must be C-contiguous (never silently copied),
and every argument of one call must live on one device. The numbers are
kbit's (doc/numerics.md); where they differ from bitsandbytes' the difference
is written, per function, in doc/python.md.
"""
import ctypes
import json
import math

import numpy as np

from . import _lib
from ._arrays import (FLOATS, DTYPE_NAMES, Arr, _tensor_class, empty, host_floats,
                      kbit_dtype_of_torch, need_dtype, same_device, torch_dtype, torch_module,
                      view)
from ._core import call, load

__all__ = [
    "QuantState", "create_dynamic_map", "get_4bit_type", "quantize_4bit", "dequantize_4bit",
    "quantize_fp4", "quantize_nf4", "dequantize_fp4", "dequantize_nf4", "quantize_blockwise",
    "dequantize_blockwise", "gemv_4bit", "int8_vectorwise_quant", "int8_vectorwise_dequant",
    "int8_linear_matmul", "int8_mm_dequant", "int8_double_quant", "optimizer_update_32bit",
    "optimizer_update_8bit_blockwise", "pack_dict_to_tensor", "unpack_tensor_to_dict",
]

_QUANT_TYPES = {"nf4": _lib.NF4, "fp4": _lib.FP4}
_4BIT_BLOCKSIZES = (32, 64, 128, 256, 512, 1024, 2048, 4096)


# ---------------------------------------------------------------------------
# small helpers

def _is_torch(x):
    T = _tensor_class()
    return T is not None and isinstance(x, T)


def _table(values, like):
    """A float32 table (list of floats) as an array of the kind of `like`."""
    if like is None or like.kind == "torch" or like.spec != "cpu:0":
        import torch
        dev = like.obj.device if like is not None and like.kind == "torch" else "cpu"
        return torch.tensor(values, dtype=torch.float32, device=dev)
    return np.array(values, dtype=np.float32)


def _map_values(kind):
    p = load().kbit_dynamic_map(kind)
    return [p[i] for i in range(256)]


def _dtype_code(dtype, what, fn):
    """kbit dtype of a torch dtype, NumPy dtype or name ("float16", ...)."""
    if dtype is None:
        raise ValueError("%s: %s is not set" % (fn, what))
    torch = torch_module()
    if torch is not None and isinstance(dtype, torch.dtype):
        k = kbit_dtype_of_torch(dtype)
    else:
        name = dtype if isinstance(dtype, str) else np.dtype(dtype).name
        k = {v: k for k, v in DTYPE_NAMES.items()}.get(str(name).replace("torch.", ""))
    if k is None:
        raise ValueError("%s: %s %s has no kbit dtype" % (fn, what, dtype))
    return k


def _dtype_name(dtype):
    """bitsandbytes' spelling: str(torch.float16).strip("torch.") == "float16"."""
    return str(dtype).replace("torch.", "")


def _like_dtype(kdt, like):
    """The dtype object of kbit dtype `kdt` in the array kind of `like`."""
    if like is None or like.kind == "torch" or like.spec != "cpu:0":
        return torch_dtype(kdt)
    return "bfloat16" if kdt == _lib.BF16 else np.dtype(DTYPE_NAMES[kdt])


def _reinterpret(arr, dtype, shape):
    """Same bytes, other dtype and shape (torch .view / NumPy .view)."""
    if arr.kind == "torch":
        return arr.obj.view(dtype).reshape(shape)
    return arr.obj.view(dtype).reshape(shape)


def _scalar_float(x):
    if _is_torch(x):
        return float(x.item())
    return float(np.asarray(x).reshape(-1)[0]) if np.ndim(x) else float(x)


def _use_torch_stream(a):
    """For a CUDA/HIP torch tensor: enqueue kbit's work on torch's current stream."""
    if a.kind == "torch" and a.spec != "cpu:0":
        import torch
        dev = a.device()
        dev.use_stream(torch.cuda.current_stream(a.obj.device).cuda_stream)
        return dev.handle
    return a.device().handle


# ---------------------------------------------------------------------------
# Code tables

def create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8):
    """bitsandbytes' dynamic map, as the constant kbit uses (numerics 2.3): the
    NORMATIVE table, identical on every machine (bitsandbytes regenerates it
    with torch.linspace, whose last bits vary by torch version and CPU)."""
    if (max_exponent_bits, total_bits) != (7, 8):
        raise NotImplementedError("kbit has the 8-bit dynamic maps only (max_exponent_bits=7, "
                                  "total_bits=8), got %d, %d" % (max_exponent_bits, total_bits))
    return _table(_map_values(_lib.MAP_SIGNED if signed else _lib.MAP_UNSIGNED), None)


def get_4bit_type(typename, device=None, blocksize=64):
    """The 16-entry quant_map bitsandbytes stores (FP4 entry 8 is +0.0; kbit's
    kernels decode code 8 as -0.0, as bitsandbytes' do). device defaults to
    the CPU (bitsandbytes: "cuda")."""
    if typename not in _QUANT_TYPES:
        raise NotImplementedError("Typename %s not supported (kbit has nf4 and fp4)" % typename)
    p = load().kbit_4bit_quant_map(_QUANT_TYPES[typename])
    import torch
    return torch.tensor([p[i] for i in range(16)], dtype=torch.float32,
                        device=device if device is not None else "cpu")


def _4bit_map(typename, like):
    p = load().kbit_4bit_quant_map(_QUANT_TYPES[typename])
    return _table([p[i] for i in range(16)], like)


# ---------------------------------------------------------------------------
# QuantState: the same fields, dict keys and packed JSON as bitsandbytes'

def pack_dict_to_tensor(source_dict, like=None):
    """bitsandbytes.utils.pack_dict_to_tensor: json.dumps with Python's
    defaults, UTF-8, as a 1-D uint8 tensor (NumPy array when like is NumPy)."""
    data = json.dumps(source_dict).encode("utf-8")
    if like is not None and like.kind != "torch":
        return np.frombuffer(data, dtype=np.uint8).copy()
    import torch
    return torch.tensor(list(data), dtype=torch.uint8)


def unpack_tensor_to_dict(tensor_data):
    if _is_torch(tensor_data):
        data = bytes(tensor_data.cpu().numpy())
    else:
        data = bytes(np.asarray(tensor_data, dtype=np.uint8))
    return json.loads(data.decode("utf-8"))


class QuantState:
    """bitsandbytes' QuantState: absmax, shape, code, dtype, blocksize,
    quant_type, offset, state2, nested; as_dict / from_dict read and write
    exactly bitsandbytes' keys and packed JSON."""

    valid_quant_types = ("fp4", "nf4")
    valid_qs_type_keys = ["bitsandbytes__%s" % x for x in valid_quant_types]
    valid_qs_keys = ["absmax", "quant_map", "nested_absmax", "nested_quant_map", "quant_state",
                     "quant_type", "blocksize", "dtype", "shape", "nested_blocksize",
                     "nested_dtype", "nested_offset"]

    def __init__(self, absmax, shape=None, code=None, blocksize=None, quant_type=None, dtype=None,
                 offset=None, state2=None):
        self.absmax = absmax
        self.shape = shape
        self.code = code
        self.dtype = dtype
        self.blocksize = blocksize
        self.quant_type = quant_type
        self.offset = offset
        self.state2 = state2
        self.nested = state2 is not None

    def __getattr__(self, name):
        if name.startswith("bitsandbytes__"):
            qs_dict = self.as_dict(packed=True)
            key = "quant_state." + name
            if key in qs_dict:
                return qs_dict[key]
        raise AttributeError("'%s' object has no attribute '%s'" % (type(self).__name__, name))

    def __getitem__(self, idx):
        """The list layout of old bitsandbytes releases."""
        if self.nested:
            rep = [self.absmax, self.shape, self.dtype, self.blocksize,
                   [self.offset, self.state2], self.quant_type]
        else:
            rep = [self.absmax, self.shape, self.dtype, self.blocksize, None, self.quant_type]
        return rep[idx]

    @classmethod
    def from_dict(cls, qs_dict, device=None):
        """Unpack state_dict items (prefixes stripped or not) into a QuantState."""
        qs_key = [k for k, v in qs_dict.items() if "quant_state" in k and _is_array(v)]
        if "quant_type" not in qs_dict:
            if not qs_key:
                raise ValueError("Expected packed or unpacked quant_state items, found neither")
            elif len(qs_key) != 1 or qs_key[0].split(".")[-1] not in cls.valid_qs_type_keys:
                raise ValueError("There should be exactly one `quant_state` item with ending from "
                                 "%s.\nDetected %s." % (cls.valid_qs_type_keys, qs_key))
        qs_dict = dict(qs_dict)
        if len(qs_key) == 1:
            qs_dict.update(unpack_tensor_to_dict(qs_dict.pop(qs_key[0])))
        qs_dict = {k.split(".")[-1]: v for k, v in qs_dict.items()}
        unknown = set(qs_dict) - set(cls.valid_qs_keys)
        if unknown:
            raise ValueError("QuantState.from_dict: unknown keys %s" % sorted(unknown))
        for k in ("quant_type", "absmax", "blocksize", "quant_map", "dtype", "shape"):
            if k not in qs_dict:
                raise ValueError("QuantState.from_dict: '%s' is missing" % k)
        if qs_dict["quant_type"] not in cls.valid_quant_types:
            raise ValueError("QuantState.from_dict: quant_type %r is not nf4 or fp4"
                             % (qs_dict["quant_type"],))

        def dev(t):
            return t.to(device) if device is not None and _is_torch(t) else t

        if "nested_absmax" in qs_dict:
            for k in ("nested_blocksize", "nested_quant_map", "nested_dtype", "nested_offset"):
                if k not in qs_dict:
                    raise ValueError("QuantState.from_dict: nested state without '%s'" % k)
            like = qs_dict["nested_absmax"]
            if _is_torch(like):
                import torch
                offset = torch.tensor(float(qs_dict["nested_offset"])).to(device or like.device)
            else:
                offset = np.float32(float(qs_dict["nested_offset"]))
            state2 = cls(absmax=dev(qs_dict["nested_absmax"]), blocksize=qs_dict["nested_blocksize"],
                         code=dev(qs_dict["nested_quant_map"]),
                         dtype=_dtype_from_name(qs_dict["nested_dtype"], like))
        else:
            offset, state2 = None, None
        shape = qs_dict["shape"]
        return cls(quant_type=qs_dict["quant_type"], absmax=dev(qs_dict["absmax"]),
                   blocksize=qs_dict["blocksize"], code=dev(qs_dict["quant_map"]),
                   dtype=_dtype_from_name(qs_dict["dtype"], qs_dict["absmax"]),
                   shape=_shape(shape, qs_dict["absmax"]) if shape is not None else None,
                   offset=offset, state2=state2)

    def as_dict(self, packed=False):
        """bitsandbytes' dict; packed=True: tensors only, the other items in the
        packed JSON under "quant_state.bitsandbytes__<quant_type>"."""
        qs_dict = {
            "quant_type": self.quant_type,
            "absmax": self.absmax,
            "blocksize": self.blocksize,
            "quant_map": self.code,
            "dtype": _dtype_name(self.dtype),
            "shape": tuple(self.shape) if self.shape is not None else None,
        }
        if self.nested:
            code2 = self.state2.code
            qs_dict.update({
                "nested_absmax": self.state2.absmax,
                "nested_blocksize": self.state2.blocksize,
                "nested_quant_map": code2.clone() if _is_torch(code2) else np.array(code2),
                "nested_dtype": _dtype_name(self.state2.dtype),
                "nested_offset": _scalar_float(self.offset),
            })
        if not packed or self.quant_type is None:
            return qs_dict
        out = {k: v for k, v in qs_dict.items() if _is_array(v)}
        rest = {k: v for k, v in qs_dict.items() if not _is_array(v)}
        like = None if _is_torch(self.absmax) else view(self.absmax, "absmax")
        out["quant_state.bitsandbytes__" + self.quant_type] = pack_dict_to_tensor(rest, like)
        return out

    def to(self, device):
        self.code = self.code.to(device)
        self.absmax = self.absmax.to(device)
        if self.nested:
            self.offset = self.offset.to(device)
            self.state2.absmax = self.state2.absmax.to(device)
            self.state2.code = self.state2.code.to(device)

    def __eq__(self, other):
        if not isinstance(other, QuantState):
            return False
        import torch
        return (torch.allclose(self.absmax, other.absmax, atol=1e-6)
                and self.shape == other.shape
                and torch.allclose(self.code, other.code, atol=1e-6)
                and self.dtype == other.dtype and self.blocksize == other.blocksize
                and self.quant_type == other.quant_type
                and (self.offset == other.offset if self.offset is not None and
                     other.offset is not None else self.offset is other.offset)
                and (self.state2 == other.state2 if self.state2 is not None and
                     other.state2 is not None else self.state2 is other.state2))

    __hash__ = None

    def __getstate__(self):
        # the cached C struct (ctypes, pointers) is rebuilt on first use
        return {k: v for k, v in self.__dict__.items() if k != "_kbit_cstate"}

    def __setstate__(self, state):
        self.__dict__.update(state)


def _is_array(v):
    return _is_torch(v) or isinstance(v, np.ndarray)


def _dtype_from_name(name, like):
    if _is_torch(like):
        import torch
        return getattr(torch, name)
    return np.dtype(name) if name != "bfloat16" else "bfloat16"


def _shape(shape, like):
    if _is_torch(like):
        import torch
        return torch.Size(shape)
    return tuple(shape)


def _shape_tuple(shape):
    return tuple(int(s) for s in shape)


# ---------------------------------------------------------------------------
# the C quant state of a Python QuantState (cached while its tensors are unchanged)

def _sig_of(t):
    """What makes a cached C state stale: another tensor, or an in-place change."""
    if _is_torch(t):
        return (id(t), t.data_ptr(), t._version)
    return None


def c_state(qs, fn, spec=None):
    """(kbit_quant_state, spec, keep) for QuantState `qs`; validates it. keep
    holds the Arr views the struct points into."""
    if qs.quant_type not in _QUANT_TYPES:
        raise ValueError("%s: quant_type must be 'nf4' or 'fp4', got %r" % (fn, qs.quant_type))
    if qs.blocksize not in _4BIT_BLOCKSIZES:
        raise ValueError("%s: invalid blocksize %s" % (fn, qs.blocksize))
    sig = None
    if _is_torch(qs.absmax):
        sig = (qs.quant_type, qs.dtype, tuple(qs.shape), qs.blocksize, _sig_of(qs.absmax),
               qs.nested and (_sig_of(qs.state2.absmax), _sig_of(qs.state2.code),
                              _sig_of(qs.offset), qs.state2.blocksize))
        cached = qs.__dict__.get("_kbit_cstate")
        if cached is not None and cached[0] == sig:
            return cached[1], cached[2], cached[3]
    kdt = _dtype_code(qs.dtype, "quant_state.dtype", fn)
    if kdt not in FLOATS:
        raise ValueError("%s: Blockwise 4bit dequantization only supports 16/32-bit floats, but "
                         "got %s" % (fn, qs.dtype))
    shape = _shape_tuple(qs.shape)
    cshape = shape if 1 <= len(shape) <= _lib.MAX_DIMS else (int(np.prod(shape, dtype=np.int64)),)
    st = _lib.QuantState()
    arr = (ctypes.c_int64 * len(cshape))(*cshape)
    call("kbit_quant_state_init", ctypes.byref(st), _QUANT_TYPES[qs.quant_type], kdt, len(cshape),
         arr, qs.blocksize, 1 if qs.nested else 0)
    a = view(qs.absmax, "quant_state.absmax", fn)
    need_dtype(a, "quant_state.absmax", (_lib.U8,) if qs.nested else (_lib.F32,), fn)
    if a.numel != st.nblocks:
        raise ValueError("%s: quant_state.absmax has %d values; %s with blocksize %d needs %d"
                         % (fn, a.numel, shape, qs.blocksize, st.nblocks))
    keep = [a]
    st.absmax = a.ptr
    if qs.nested:
        s2 = qs.state2
        if s2.blocksize != _lib.NESTED_BLOCKSIZE:
            raise NotImplementedError("%s: nested quantization with state2.blocksize != 256 is "
                                      "not supported" % fn)
        a2 = view(s2.absmax, "quant_state.state2.absmax", fn)
        need_dtype(a2, "quant_state.state2.absmax", (_lib.F32,), fn)
        if a2.numel != st.nblocks2:
            raise ValueError("%s: quant_state.state2.absmax has %d values; expected %d"
                             % (fn, a2.numel, st.nblocks2))
        same_device(fn, ("quant_state.absmax", a), ("quant_state.state2.absmax", a2))
        st.absmax2 = a2.ptr
        st.offset = _scalar_float(qs.offset)
        code2 = host_floats(s2.code, 256, "quant_state.state2.code", fn)
        ctypes.memmove(st.code2, code2, 256 * 4)
        keep.append(a2)
    if sig is not None:
        qs.__dict__["_kbit_cstate"] = (sig, st, a.spec, keep)
    return st, a.spec, keep


# ---------------------------------------------------------------------------
# 4-bit

def _storage_dtype(quant_storage, like):
    if quant_storage is None:
        return torch_dtype(_lib.U8) if like.kind == "torch" else np.uint8
    return quant_storage


def _itemsize_of(dtype):
    torch = torch_module()
    if torch is not None and isinstance(dtype, torch.dtype):
        return dtype.itemsize
    return np.dtype(dtype).itemsize


def quantize_4bit(A, absmax=None, out=None, blocksize=None, compress_statistics=False,
                  quant_type="fp4", quant_storage=None):
    """Blockwise NF4/FP4 quantization (numerics 1); compress_statistics=True
    double-quantizes the absmax (numerics 3). Returns (packed, QuantState);
    packed is [ceil(n/2) / itemsize, 1] of quant_storage (default uint8)."""
    fn = "quantize_4bit"
    if blocksize is None:
        blocksize = 64
    if blocksize not in _4BIT_BLOCKSIZES:
        raise ValueError("invalid blocksize %s" % blocksize)
    if quant_type not in _QUANT_TYPES:
        raise ValueError("quant_type must be 'nf4' or 'fp4', got %r" % (quant_type,))
    a = view(A, "A", fn)
    if a.dtype not in FLOATS:
        raise ValueError("Blockwise 4bit quantization only supports 16/32-bit floats, but got %s"
                         % a.dtname)
    n = a.numel
    nbytes = (n + 1) // 2
    storage = _storage_dtype(quant_storage, a)
    s = _itemsize_of(storage)
    if nbytes % s:
        raise ValueError("%s: %d elements pack into %d bytes, which is not a whole number of "
                         "%s elements (quant_storage itemsize %d); bitsandbytes would write past "
                         "its buffer here (numerics 9.8)" % (fn, n, nbytes, storage, s))
    if out is not None:
        o = view(out, "out", fn)
        if o.nbytes != nbytes:
            raise ValueError("%s: out holds %d bytes; %d elements need %d" % (fn, o.nbytes, n,
                                                                              nbytes))
        same_device(fn, ("A", a), ("out", o))
        packed = o
        packed_out = out
    else:
        packed = empty(a, (nbytes,), _lib.U8)
        packed_out = _reinterpret(packed, storage, (nbytes // s, 1))
    nested = bool(compress_statistics)
    nblocks = -(-n // blocksize)
    am = empty(a, (nblocks,), _lib.U8 if nested else _lib.F32)
    qt = _QUANT_TYPES[quant_type]
    shape = _shape_tuple(a.shape)
    cshape = shape if 1 <= len(shape) <= _lib.MAX_DIMS else (n,)
    st = _lib.QuantState()
    call("kbit_quant_state_init", ctypes.byref(st), qt, a.dtype, len(cshape),
         (ctypes.c_int64 * len(cshape))(*cshape), blocksize, 1 if nested else 0)
    st.absmax = am.ptr
    am2 = None
    if nested:
        am2 = empty(a, (st.nblocks2,), _lib.F32)
        st.absmax2 = am2.ptr
    dev = _use_torch_stream(a)
    call("kbit_quantize_4bit_state", dev, a.ptr, packed.ptr, ctypes.byref(st))
    code = _4bit_map(quant_type, a)
    qshape = _shape(shape, A)
    if nested:
        offset = _offset_array(st.offset, a)
        state2 = QuantState(absmax=am2.obj, blocksize=_lib.NESTED_BLOCKSIZE,
                            code=_table([st.code2[i] for i in range(256)], a),
                            dtype=_like_dtype(_lib.F32, a))
        state = QuantState(absmax=am.obj, shape=qshape, dtype=_like_dtype(a.dtype, a),
                           blocksize=blocksize, code=code, quant_type=quant_type, offset=offset,
                           state2=state2)
    else:
        state = QuantState(absmax=am.obj, shape=qshape, dtype=_like_dtype(a.dtype, a),
                           blocksize=blocksize, code=code, quant_type=quant_type)
    if absmax is not None:
        state.absmax = _copy_into(absmax, state.absmax)
    return packed_out, state


def _offset_array(value, like):
    if like.kind == "torch":
        import torch
        return torch.tensor(value, dtype=torch.float32, device=like.obj.device)
    return np.float32(value)


def _copy_into(dst, src):
    if _is_torch(dst):
        return dst.copy_(src)
    np.copyto(dst, src)
    return dst


def quantize_fp4(A, absmax=None, out=None, blocksize=None, compress_statistics=False,
                 quant_storage=None):
    return quantize_4bit(A, absmax, out, blocksize, compress_statistics, "fp4", quant_storage)


def quantize_nf4(A, absmax=None, out=None, blocksize=None, compress_statistics=False,
                 quant_storage=None):
    return quantize_4bit(A, absmax, out, blocksize, compress_statistics, "nf4", quant_storage)


def dequantize_4bit(A, quant_state=None, absmax=None, out=None, blocksize=None, quant_type="fp4"):
    """out[i] = T(DEC[q_i] * absmax'[i / blocksize]) (numerics 1.9, 3), in
    quant_state.dtype and shape. FP4 code 8 gives -0.0."""
    fn = "dequantize_4bit"
    if blocksize is None:
        blocksize = 64
    if quant_state is None:
        if absmax is None or out is None:
            raise ValueError("dequantize_4bit requires both absmax and out when quant_state is "
                             "not provided")
        o = view(out, "out", fn)
        quant_state = QuantState(absmax=absmax, shape=o.shape, dtype=out.dtype,
                                 blocksize=blocksize, quant_type=quant_type)
    st, spec, keep = c_state(quant_state, fn)
    p = view(A, "A", fn)
    if p.dtype is None:
        raise ValueError("%s: A has dtype %s" % (fn, p.dtname))
    need = (st.numel + 1) // 2
    if p.nbytes != need:
        raise ValueError("%s: A holds %d bytes; a quant state of shape %s needs %d"
                         % (fn, p.nbytes, tuple(quant_state.shape), need))
    kdt = st.dtype
    shape = _shape_tuple(quant_state.shape)
    same_device(fn, ("A", p), ("quant_state.absmax", keep[0]))
    if out is not None:
        o = view(out, "out", fn)
        if o.dtype != kdt or o.numel != st.numel:
            raise ValueError("%s: out must be %s with %d elements, got %s with %d"
                             % (fn, DTYPE_NAMES[kdt], st.numel, o.dtname, o.numel))
        same_device(fn, ("A", p), ("out", o))
    else:
        o = empty(p, shape, kdt)
    dev = _use_torch_stream(p)
    call("kbit_dequantize_4bit_state", dev, p.ptr, ctypes.byref(st), kdt, o.ptr)
    res = out if out is not None else o.obj
    if len(p.shape) >= 1 and p.shape[0] == 1 and len(p.shape) == 2:
        return res.t() if _is_torch(res) else res.T   # bitsandbytes' BC shim
    return res


def dequantize_fp4(A, quant_state=None, absmax=None, out=None, blocksize=None):
    return dequantize_4bit(A, quant_state, absmax, out, blocksize, "fp4")


def dequantize_nf4(A, quant_state=None, absmax=None, out=None, blocksize=None):
    return dequantize_4bit(A, quant_state, absmax, out, blocksize, "nf4")


# ---------------------------------------------------------------------------
# 8-bit blockwise

def quantize_blockwise(A, code=None, absmax=None, out=None, blocksize=4096, nested=False):
    """8-bit blockwise dynamic quantization (numerics 2.4): nearest entry of
    `code` (default: the signed dynamic map), ties to the even index. Returns
    (uint8 codes shaped like A, QuantState)."""
    fn = "quantize_blockwise"
    if blocksize <= 0:
        raise ValueError("blocksize must be positive, got %s" % blocksize)
    a = view(A, "A", fn)
    if a.dtype not in FLOATS:
        raise ValueError("Blockwise quantization only supports 16/32-bit floats, but got %s"
                         % a.dtname)
    n = a.numel
    if out is not None:
        q = view(out, "out", fn)
        need_dtype(q, "out", (_lib.U8,), fn)
        if q.numel != n:
            raise ValueError("%s: out has %d elements; A has %d" % (fn, q.numel, n))
        same_device(fn, ("A", a), ("out", q))
    else:
        q = empty(a, a.shape, _lib.U8)
    am = empty(a, (-(-n // blocksize),), _lib.F32)
    if code is None:
        cptr = None
        code_arr = _table(_map_values(_lib.MAP_SIGNED), a)
    else:
        cptr = host_floats(code, 256, "code", fn)
        code_arr = code.to(a.obj.device, copy=True) if _is_torch(code) else np.array(code)
    dev = _use_torch_stream(a)
    call("kbit_quantize_8bit", dev, a.dtype, a.ptr, n, int(blocksize),
         ctypes.cast(cptr, ctypes.c_void_p) if cptr is not None else None, q.ptr, am.ptr)
    if nested:
        offset = _mean_f32(am.obj)
        centred = am.obj - offset
        qabsmax, state2 = quantize_blockwise(centred, blocksize=blocksize, nested=False)
        state = QuantState(absmax=qabsmax, code=code_arr, blocksize=blocksize,
                           dtype=_like_dtype(a.dtype, a), offset=offset, state2=state2)
    else:
        state = QuantState(absmax=am.obj, code=code_arr, blocksize=blocksize,
                           dtype=_like_dtype(a.dtype, a))
    res = out if out is not None else q.obj
    if absmax is not None:
        state.absmax = _copy_into(absmax, state.absmax)
    return res, state


def _mean_f32(x):
    """f32 of the fp64 sum in ascending order divided by n (kbit's rule for
    means; bitsandbytes takes torch's fp32 mean here)."""
    if _is_torch(x):
        import torch
        if x.numel() == 0:
            return torch.zeros((), dtype=torch.float32, device=x.device)
        return (x.double().cumsum(0)[-1] / x.numel()).float()
    x = np.asarray(x, dtype=np.float64)
    return np.float32(np.cumsum(x)[-1] / x.size) if x.size else np.float32(0)


def dequantize_blockwise(A, quant_state=None, absmax=None, code=None, out=None, blocksize=4096,
                         nested=False):
    """out[i] = T(code[q_i] * absmax[i / blocksize]) (numerics 2.5) in
    quant_state.dtype (default float32)."""
    fn = "dequantize_blockwise"
    if quant_state is None and absmax is None:
        raise ValueError("dequantize_blockwise requires either quant_state or absmax")
    q = view(A, "A", fn)
    if q.dtype != _lib.U8:
        raise ValueError("A must be uint8, got %s" % q.dtname)
    if quant_state is None:
        if code is None:
            code = _table(_map_values(_lib.MAP_SIGNED), q)
        quant_state = QuantState(absmax=absmax, code=code, blocksize=blocksize,
                                 dtype=_like_dtype(_lib.F32, q))
    if quant_state.blocksize <= 0:
        raise ValueError("blocksize must be positive, got %s" % quant_state.blocksize)
    am = quant_state.absmax
    if quant_state.nested:
        am = dequantize_blockwise(quant_state.absmax, quant_state.state2)
        am = am + quant_state.offset
        if _is_torch(am) and am.dtype != torch_dtype(_lib.F32):
            am = am.float()
    a = view(am, "absmax", fn)
    need_dtype(a, "absmax", (_lib.F32,), fn)
    bs = int(quant_state.blocksize)
    if a.numel != -(-q.numel // bs):
        raise ValueError("%s: absmax has %d values; %d codes in blocks of %d need %d"
                         % (fn, a.numel, q.numel, bs, -(-q.numel // bs)))
    kdt = _dtype_code(quant_state.dtype, "quant_state.dtype", fn)
    if kdt not in FLOATS:
        raise ValueError("Blockwise dequantization only supports 16/32-bit floats, but got %s"
                         % quant_state.dtype)
    cptr = host_floats(quant_state.code, 256, "code", fn)
    same_device(fn, ("A", q), ("absmax", a))
    if out is not None:
        o = view(out, "out", fn)
        if o.dtype != kdt or o.numel != q.numel:
            raise ValueError("%s: out must be %s with %d elements" % (fn, DTYPE_NAMES[kdt],
                                                                      q.numel))
        same_device(fn, ("A", q), ("out", o))
    else:
        o = empty(q, q.shape, kdt)
    dev = _use_torch_stream(q)
    call("kbit_dequantize_8bit", dev, q.ptr, a.ptr, q.numel, bs,
         ctypes.cast(cptr, ctypes.c_void_p), kdt, o.ptr)
    return out if out is not None else o.obj


# ---------------------------------------------------------------------------
# 4-bit matmul

def _linear_dims(a, qs, fn):
    shape = _shape_tuple(qs.shape)
    if len(shape) != 2:
        raise ValueError("%s: quant_state.shape must be 2D [N, K], got %s" % (fn, list(shape)))
    N, K = shape
    if len(a.shape) == 0 or a.shape[-1] != K:
        raise ValueError("%s: A's inner dimension %s does not match the weight's K = %d "
                         "(quant_state.shape [N, K] = %s)" % (fn, a.shape[-1:] or "()", K,
                                                              list(shape)))
    return N, K, a.numel // K if K else int(np.prod(a.shape[:-1], dtype=np.int64))


def gemm_4bit(A, B, quant_state, bias=None, out=None, fn="gemm_4bit"):
    """out[..., N] = A[..., K] @ dequant(B)^T (+ bias), one dot32 per output
    (determinism 3): bit-identical on every backend, variant and thread count."""
    a = view(A, "A", fn)
    need_dtype(a, "A", FLOATS, fn)
    N, K, M = _linear_dims(a, quant_state, fn)
    st, spec, keep = c_state(quant_state, fn)
    p = view(B, "B", fn)
    if p.nbytes != (N * K + 1) // 2:
        raise ValueError("%s: B holds %d bytes; a [%d, %d] weight needs %d"
                         % (fn, p.nbytes, N, K, (N * K + 1) // 2))
    b = None
    if bias is not None:
        b = view(bias, "bias", fn)
        if b.dtype != a.dtype or b.numel != N:
            raise ValueError("%s: bias must be %s with %d elements (A's dtype), got %s with %d"
                             % (fn, a.dtname, N, b.dtname, b.numel))
    shape = tuple(a.shape[:-1]) + (N,)
    same_device(fn, ("A", a), ("B", p), ("quant_state.absmax", keep[0]), ("bias", b))
    if out is not None:
        o = view(out, "out", fn)
        if o.dtype != a.dtype or o.numel != M * N:
            raise ValueError("%s: out must be %s with %s elements" % (fn, a.dtname, shape))
        same_device(fn, ("A", a), ("out", o))
    else:
        o = empty(a, shape, a.dtype)
    dev = _use_torch_stream(a)
    call("kbit_gemm_4bit", dev, a.ptr, a.dtype, M, p.ptr, ctypes.byref(st),
         b.ptr if b is not None else None, o.ptr)
    return out if out is not None else o.obj


def gemm_4bit_backward(grad_out, B, quant_state, out=None, fn="gemm_4bit_backward"):
    """dA[..., K] = dOut[..., N] @ dequant(B), dot32 over N (determinism 3.1)."""
    g = view(grad_out, "grad_output", fn)
    need_dtype(g, "grad_output", FLOATS, fn)
    shape = _shape_tuple(quant_state.shape)
    if len(shape) != 2:
        raise ValueError("%s: quant_state.shape must be 2D [N, K]" % fn)
    N, K = shape
    if g.shape[-1] != N:
        raise ValueError("%s: grad_output's last dimension %d is not N = %d" % (fn, g.shape[-1], N))
    M = g.numel // N if N else int(np.prod(g.shape[:-1], dtype=np.int64))
    st, spec, keep = c_state(quant_state, fn)
    p = view(B, "B", fn)
    same_device(fn, ("grad_output", g), ("B", p), ("quant_state.absmax", keep[0]))
    o = empty(g, tuple(g.shape[:-1]) + (K,), g.dtype) if out is None else view(out, "out", fn)
    same_device(fn, ("grad_output", g), ("out", o))
    dev = _use_torch_stream(g)
    call("kbit_gemm_4bit_backward", dev, g.ptr, g.dtype, M, p.ptr, ctypes.byref(st), o.ptr)
    return out if out is not None else o.obj


def gemv_4bit(A, B, out=None, transposed_A=False, transposed_B=False, state=None):
    """bitsandbytes' gemv_4bit: A[..., K] @ dequant(B)^T, with kbit's exact
    dot32 (bitsandbytes' CPU kernel rounds to bf16, §9.6)."""
    if state is None:
        raise ValueError("state cannot be None. gemv_4bit() requires the state from "
                         "quantize_4bit()")
    return gemm_4bit(A, B, state, out=out, fn="gemv_4bit")


# ---------------------------------------------------------------------------
# LLM.int8()

def _rows_cols(a, fn, name="A"):
    if len(a.shape) < 1:
        raise ValueError("%s: %s must have at least one dimension" % (fn, name))
    cols = a.shape[-1]
    rows = a.numel // cols if cols else int(np.prod(a.shape[:-1], dtype=np.int64))
    return rows, cols


def int8_vectorwise_quant(A, threshold=0.0):
    """Row-wise int8 quantization of f16(A) (numerics 4.1). Returns (CA int8
    shaped like A, SCA float32 [rows], outlier_cols int64 or None)."""
    fn = "int8_vectorwise_quant"
    a = view(A, "A", fn)
    need_dtype(a, "A", FLOATS, fn)
    rows, cols = _rows_cols(a, fn)
    ca = empty(a, a.shape, _lib.I8)
    sca = empty(a, (rows,), _lib.F32)
    threshold = float(threshold)
    oc, n_out = None, ctypes.c_int64(0)
    if threshold > 0.0:
        oc = empty(a, (cols,), _lib.I64)
    dev = _use_torch_stream(a)
    call("kbit_int8_vectorwise_quant", dev, a.dtype, a.ptr, rows, cols, threshold, ca.ptr,
         sca.ptr, oc.ptr if oc is not None else None, ctypes.byref(n_out))
    outliers = None
    if oc is not None:
        outliers = oc.obj[: n_out.value]
        outliers = outliers.clone() if _is_torch(outliers) else outliers.copy()
    return ca.obj, sca.obj, outliers


def int8_vectorwise_dequant(A, stats):
    """(f32(A) * stats[row]) * f32(1/127), float32 (numerics 4.2)."""
    fn = "int8_vectorwise_dequant"
    a = view(A, "A", fn)
    need_dtype(a, "A", (_lib.I8,), fn)
    s = view(stats, "stats", fn)
    need_dtype(s, "stats", (_lib.F32,), fn)
    rows, cols = _rows_cols(a, fn)
    if s.numel != rows:
        raise ValueError("%s: stats has %d values for %d rows" % (fn, s.numel, rows))
    same_device(fn, ("A", a), ("stats", s))
    o = empty(a, a.shape, _lib.F32)
    dev = _use_torch_stream(a)
    call("kbit_int8_dequantize_weight", dev, a.ptr, s.ptr, rows, cols, _lib.F32, o.ptr)
    return o.obj


def int8_linear_matmul(A, B, out=None, dtype=None):
    """out[..., N] = A[..., K] @ B[N, K]^T in int32, exact (numerics 4.3)."""
    fn = "int8_linear_matmul"
    a = view(A, "A", fn)
    b = view(B, "B", fn)
    need_dtype(a, "A", (_lib.I8,), fn)
    need_dtype(b, "B", (_lib.I8,), fn)
    if len(b.shape) != 2 or a.shape[-1] != b.shape[1]:
        raise ValueError("%s: A %s and B %s do not make A @ B.T" % (fn, a.shape, b.shape))
    M, K = _rows_cols(a, fn)
    N = b.shape[0]
    shape = tuple(a.shape[:-1]) + (N,)
    same_device(fn, ("A", a), ("B", b))
    if out is not None:
        o = view(out, "out", fn)
        need_dtype(o, "out", (_lib.I32,), fn)
        if o.shape != shape:
            raise ValueError("Expected out.shape == %s, got %s" % (shape, o.shape))
        same_device(fn, ("A", a), ("out", o))
    else:
        o = empty(a, shape, _lib.I32)
    dev = _use_torch_stream(a)
    call("kbit_int8_matmul", dev, a.ptr, b.ptr, M, N, K, o.ptr)
    return out if out is not None else o.obj


def int8_mm_dequant(A, row_stats, col_stats, out=None, bias=None, dtype=None):
    """The int32 product back to floats through bitsandbytes' CUDA kernel's
    fp16 intermediate (numerics 4.4). Returns float16 (dtype= another float
    type: the fp16 result converted, as bitsandbytes does)."""
    fn = "int8_mm_dequant"
    a = view(A, "A", fn)
    need_dtype(a, "A", (_lib.I32,), fn)
    r = view(row_stats, "row_stats", fn)
    c = view(col_stats, "col_stats", fn)
    need_dtype(r, "row_stats", (_lib.F32,), fn)
    need_dtype(c, "col_stats", (_lib.F32,), fn)
    M, N = _rows_cols(a, fn)
    if r.numel != M or c.numel != N:
        raise ValueError("%s: row_stats has %d values and col_stats %d for a [%d, %d] product"
                         % (fn, r.numel, c.numel, M, N))
    b = None
    if bias is not None:
        b = view(bias, "bias", fn)
        need_dtype(b, "bias", FLOATS, fn)
        if b.numel != N:
            raise ValueError("%s: bias has %d values for %d columns" % (fn, b.numel, N))
    kdt = _lib.F16 if dtype is None else _dtype_code(dtype, "dtype", fn)
    same_device(fn, ("A", a), ("row_stats", r), ("col_stats", c), ("bias", b))
    o = empty(a, a.shape, kdt)
    dev = _use_torch_stream(a)
    call("kbit_int8_mm_dequant", dev, a.ptr, r.ptr, c.ptr, M, N, b.ptr if b else None,
         b.dtype if b else _lib.F32, kdt, o.ptr)
    if out is not None:
        return _copy_into(out, o.obj)
    return o.obj


def int8_double_quant(A, col_stats=None, row_stats=None, out_col=None, out_row=None,
                      threshold=0.0):
    """Row-wise (libkbit) and column-wise (bitsandbytes' PyTorch formula, no
    kbit kernel: round(fp16(A * 127) / col_stats)) int8 quantization. Returns
    (out_row, out_col, row_stats, col_stats, outlier_cols)."""
    for name, v in (("row_stats", row_stats), ("col_stats", col_stats), ("out_col", out_col),
                    ("out_row", out_row)):
        if v is not None:
            raise ValueError("%s must be None. int8_double_quant() does not support "
                             "pre-allocated %s." % (name, name))
    if not _is_torch(A):
        raise TypeError("int8_double_quant: A must be a torch tensor")
    import torch
    quant_row, rstats, outlier_cols = int8_vectorwise_quant(A, threshold=threshold)
    absA = A.abs().view(-1, A.shape[-1])
    mask = None
    if threshold > 0.0:
        mask = absA >= threshold
        absA = absA.masked_fill(mask, 0.0)
    cstats = absA.amax(dim=0).float()
    B = A.masked_fill(mask.view(A.shape), 0.0) if mask is not None else A
    quant_col = torch.round(B.mul(127.0) / cstats.unsqueeze(0)).to(torch.int8)
    return quant_row, quant_col, rstats, cstats.flatten().float(), outlier_cols


def int8_linear_forward(X, CB, SCB, threshold=0.0, bias=None):
    """The LLM.int8() linear forward (numerics 4.5, determinism 3.1):
    Y[..., N] = X[..., K] @ dequant(CB, SCB)^T (+ bias), outlier columns of
    |f16(X)| >= threshold in X's dtype by dot32."""
    fn = "int8_linear_forward"
    x = view(X, "X", fn)
    need_dtype(x, "X", FLOATS, fn)
    cb = view(CB, "CB", fn)
    need_dtype(cb, "CB", (_lib.I8,), fn)
    scb = view(SCB, "SCB", fn)
    need_dtype(scb, "SCB", (_lib.F32,), fn)
    if len(cb.shape) != 2:
        raise ValueError("%s: CB must be 2-D [N, K], got %s" % (fn, cb.shape))
    N, K = cb.shape
    if x.shape[-1] != K or scb.numel != N:
        raise ValueError("%s: X %s, CB %s and SCB %s do not fit" % (fn, x.shape, cb.shape,
                                                                   scb.shape))
    M = x.numel // K if K else int(np.prod(x.shape[:-1], dtype=np.int64))
    b = None
    if bias is not None:
        b = view(bias, "bias", fn)
        if b.dtype != x.dtype or b.numel != N:
            raise ValueError("%s: bias must be %s with %d elements" % (fn, x.dtname, N))
    same_device(fn, ("X", x), ("CB", cb), ("SCB", scb), ("bias", b))
    o = empty(x, tuple(x.shape[:-1]) + (N,), x.dtype)
    dev = _use_torch_stream(x)
    call("kbit_int8_linear_forward", dev, x.dtype, x.ptr, M, K, cb.ptr, scb.ptr, N,
         float(threshold), b.ptr if b else None, o.ptr)
    return o.obj


def int8_linear_backward(grad_out, CB, SCB):
    """dX[..., K] = dOut[..., N] @ dequant(CB, SCB), dot32 over N."""
    fn = "int8_linear_backward"
    g = view(grad_out, "grad_output", fn)
    need_dtype(g, "grad_output", FLOATS, fn)
    cb = view(CB, "CB", fn)
    need_dtype(cb, "CB", (_lib.I8,), fn)
    scb = view(SCB, "SCB", fn)
    need_dtype(scb, "SCB", (_lib.F32,), fn)
    N, K = cb.shape
    if g.shape[-1] != N:
        raise ValueError("%s: grad_output's last dimension %d is not N = %d" % (fn, g.shape[-1], N))
    M = g.numel // N if N else int(np.prod(g.shape[:-1], dtype=np.int64))
    same_device(fn, ("grad_output", g), ("CB", cb), ("SCB", scb))
    o = empty(g, tuple(g.shape[:-1]) + (K,), g.dtype)
    dev = _use_torch_stream(g)
    call("kbit_int8_linear_backward", dev, g.dtype, g.ptr, M, N, cb.ptr, scb.ptr, K, o.ptr)
    return o.obj


def int8_quantize_weight(W):
    """Int8Params' quantization (numerics 4.2): (CB int8 [N, K], SCB float32 [N])
    of f16(W) with threshold 0."""
    fn = "int8_quantize_weight"
    w = view(W, "W", fn)
    need_dtype(w, "W", FLOATS, fn)
    rows, cols = _rows_cols(w, fn, "W")
    cb = empty(w, w.shape, _lib.I8)
    scb = empty(w, (rows,), _lib.F32)
    dev = _use_torch_stream(w)
    call("kbit_int8_quantize_weight", dev, w.dtype, w.ptr, rows, cols, cb.ptr, scb.ptr)
    return cb.obj, scb.obj


# ---------------------------------------------------------------------------
# Optimizer updates on the caller's state tensors

from ._optim_core import (OPTIMIZER_KINDS, OptimState, config_for,  # noqa: E402
                          load_bnb_into, save_into_bnb)


def _optimizer_update(fn, name, g, p, state_bits, states, hyper, step, gnorm_scale, unorm_vec):
    if name not in OPTIMIZER_KINDS:
        raise ValueError("%s: Unsupported optimizer name %r (kbit has %s)"
                         % (fn, name, ", ".join(sorted(OPTIMIZER_KINDS))))
    pa = view(p, "p", fn)
    ga = view(g, "g", fn)
    need_dtype(pa, "p", FLOATS, fn)
    need_dtype(ga, "g", FLOATS, fn)
    if ga.numel != pa.numel:
        raise ValueError("g and p must have the same number of elements, got %d and %d"
                         % (ga.numel, pa.numel))
    if ga.dtype != pa.dtype and ga.dtype != _lib.F32:
        raise ValueError("Expected all tensors to have the same dtype, got g.dtype=%s, "
                         "p.dtype=%s" % (ga.dtname, pa.dtname))
    same_device(fn, ("p", pa), ("g", ga))
    if int(step) < 1:
        raise ValueError("%s: step must be >= 1 (the step this update makes), got %s"
                         % (fn, step))
    cfg = config_for(OPTIMIZER_KINDS[name], state_bits=state_bits, min_8bit_size=0, **hyper)
    st = OptimState(pa.device(), cfg, pa.numel, pa.dtype)
    # Lion reads unorm_vec (the sum its previous step left, numerics 6.4), as bitsandbytes does
    load_bnb_into(st, fn, step=int(step) - 1, unorm_vec=unorm_vec, **states)
    st.step(cfg, pa.ptr, ga.ptr, ga.dtype, float(gnorm_scale))
    save_into_bnb(st, fn, **states)
    if unorm_vec is not None:   # the update norm's sum, as the CUDA kernels leave it
        unorm = st.info().unorm
        if _is_torch(unorm_vec):
            unorm_vec.fill_(unorm)
        else:
            unorm_vec[...] = unorm
    st.release()


def optimizer_update_32bit(optimizer_name, g, p, state1, beta1, eps, step, lr, state2=None,
                           beta2=0.0, beta3=0.0, alpha=0.0, weight_decay=0.0, gnorm_scale=1.0,
                           unorm_vec=None, max_unorm=0.0, skip_zeros=False):
    """In-place update of p, state1 (and state2) with 32-bit states (numerics
    6.3); `step` is the step this update makes (1 for the first)."""
    hyper = dict(lr=lr, beta1=beta1, beta2=beta2, beta3=beta3, alpha=alpha, eps=eps,
                 weight_decay=weight_decay, max_unorm=max_unorm, skip_zeros=skip_zeros)
    _optimizer_update("optimizer_update_32bit", optimizer_name, g, p, 32,
                      dict(state1=state1, state2=state2), hyper, step, gnorm_scale, unorm_vec)


def optimizer_update_8bit_blockwise(optimizer_name, g, p, state1, state2, beta1, beta2, beta3,
                                    alpha, eps, step, lr, qmap1, qmap2, absmax1, absmax2,
                                    weight_decay=0.0, gnorm_scale=1.0, skip_zeros=False):
    """In-place update with 8-bit blockwise states (numerics 6.5)."""
    hyper = dict(lr=lr, beta1=beta1, beta2=beta2, beta3=beta3, alpha=alpha, eps=eps,
                 weight_decay=weight_decay, skip_zeros=skip_zeros)
    _optimizer_update("optimizer_update_8bit_blockwise", optimizer_name, g, p, 8,
                      dict(state1=state1, state2=state2, qmap1=qmap1, qmap2=qmap2,
                           absmax1=absmax1, absmax2=absmax2), hyper, step, gnorm_scale, None)
