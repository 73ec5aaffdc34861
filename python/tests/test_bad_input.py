"""Bad input: wrong dtypes, non-contiguous tensors, mismatched devices,
freed tensors, bad sizes and arguments. Each is an exception (a KbitError
with the C library's message where libkbit finds the fault, a ValueError /
TypeError naming the argument where the Python layer refuses it before any
call), never a crash, and nothing is written: outputs keep their sentinel."""
import ctypes

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import kbit  # noqa: E402
import kbit.functional as F  # noqa: E402
import kbit.optim as O  # noqa: E402
from kbit import _lib  # noqa: E402

SENTINEL = -12345.0


def sentinel(shape, dtype=torch.float32):
    return torch.full(shape, SENTINEL, dtype=dtype)


def untouched(t):
    return bool((t == SENTINEL).all())


class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int), ("device_id", ctypes.c_int)]


class _DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", _DLDevice), ("ndim", ctypes.c_int),
                ("dtype", ctypes.c_uint8 * 4), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.c_void_p), ("byte_offset", ctypes.c_uint64)]


class _DLManaged(ctypes.Structure):
    _fields_ = [("dl_tensor", _DLTensor), ("manager_ctx", ctypes.c_void_p),
                ("deleter", ctypes.c_void_p)]


_capsule_new = ctypes.pythonapi.PyCapsule_New
_capsule_new.restype = ctypes.py_object
_capsule_new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]


class FakeCudaArray:
    """A DLPack exporter whose tensor claims device (kDLCUDA, 0) (its data is
    host memory that must never be touched): lets the tests mismatch devices
    on a machine without a GPU."""

    def __init__(self, t):
        self.t = t
        self.shape = (ctypes.c_int64 * t.dim())(*t.shape)
        code = {torch.float32: (2, 32), torch.uint8: (1, 8), torch.int8: (0, 8)}[t.dtype]
        self.m = _DLManaged()
        self.m.dl_tensor = _DLTensor(t.data_ptr(), _DLDevice(2, 0), t.dim(),
                                     (ctypes.c_uint8 * 4)(code[0], code[1], 1, 0),
                                     self.shape, None, 0)

    def __dlpack__(self, stream=None):
        return _capsule_new(ctypes.addressof(self.m), b"dltensor", None)

    def __dlpack_device__(self):
        return (2, 0)


def test_wrong_dtypes():
    with pytest.raises(ValueError, match="16/32-bit floats"):
        F.quantize_4bit(torch.zeros(64, dtype=torch.int32))
    with pytest.raises(ValueError, match="A must be uint8"):
        F.dequantize_blockwise(torch.zeros(64), absmax=torch.zeros(1))
    with pytest.raises(ValueError, match="int8_linear_matmul: A has dtype float32"):
        F.int8_linear_matmul(torch.zeros(2, 4), torch.zeros(3, 4, dtype=torch.int8))
    packed, st = F.quantize_4bit(torch.randn(64, 64), quant_type="nf4")
    with pytest.raises(ValueError, match="quant_state.absmax has dtype float16"):
        F.dequantize_4bit(packed, F.QuantState(absmax=st.absmax.half(), shape=st.shape,
                                               dtype=torch.float32, blocksize=64,
                                               quant_type="nf4"))
    with pytest.raises(ValueError, match="bias must be float32"):
        F.gemm_4bit(torch.randn(2, 64), packed, st, bias=torch.zeros(64, dtype=torch.float16))
    with pytest.raises(TypeError, match="must be an array"):
        F.quantize_4bit([1.0, 2.0])


def test_non_contiguous_is_refused_not_copied():
    x = torch.randn(64, 128).t()
    with pytest.raises(ValueError, match="not contiguous"):
        F.quantize_4bit(x)
    with pytest.raises(ValueError, match="not C-contiguous"):
        F.quantize_blockwise(np.zeros((64, 128), np.float32)[:, ::2])
    out = sentinel((256, 2)).t()
    q, s = F.quantize_blockwise(torch.randn(512), blocksize=256)
    with pytest.raises(ValueError, match="out is not contiguous"):
        F.dequantize_blockwise(q.reshape(2, 256), s, out=out)
    assert untouched(out)


def test_mismatched_devices():
    q, s = F.quantize_blockwise(torch.randn(512), blocksize=256)
    fake = FakeCudaArray(torch.zeros(512, dtype=torch.uint8))
    with pytest.raises(ValueError, match="absmax is on cpu:0 but A is on cuda:0"):
        F.dequantize_blockwise(fake, s)
    with pytest.raises(ValueError, match="meta tensor"):
        F.quantize_4bit(torch.empty(64, device="meta"))
    with pytest.raises(ValueError, match="B is on cuda:0 but A is on cpu:0"):
        F.int8_linear_matmul(torch.zeros(2, 4, dtype=torch.int8),
                             FakeCudaArray(torch.zeros(3, 4, dtype=torch.int8)))


def test_device_without_driver_names_it():
    """A CUDA array on a kbit without a CUDA device: the error says why."""
    fake = FakeCudaArray(torch.zeros(512))
    with pytest.raises(kbit.KbitNoDevice) as e:
        F.quantize_blockwise(fake, blocksize=256)
    assert "cuda" in str(e.value)


def test_freed_tensor():
    """A tensor whose storage was freed (resize_(0)) has a NULL data pointer;
    libkbit refuses it with a message naming the argument."""
    x = torch.randn(1000)
    x.untyped_storage().resize_(0)
    with pytest.raises(kbit.KbitInvalidArgument) as e:
        F.quantize_blockwise(x, blocksize=256)
    assert "NULL" in e.value.message or "null" in e.value.message.lower(), e.value.message
    out = sentinel((1000,))
    q, s = F.quantize_blockwise(torch.randn(1000), blocksize=256)
    q.untyped_storage().resize_(0)
    with pytest.raises(kbit.KbitInvalidArgument):
        F.dequantize_blockwise(q, s, out=out)
    assert untouched(out)


def test_library_refusals_carry_the_c_message_and_write_nothing():
    x = torch.randn(1000)
    out = sentinel((1000,))
    q, s = F.quantize_blockwise(x, blocksize=256)
    s.blocksize = 96                     # not a power of two
    s.absmax = torch.zeros(11)
    with pytest.raises(kbit.KbitInvalidArgument) as e:
        F.dequantize_blockwise(q, s, out=out)
    assert e.value.function == "kbit_dequantize_8bit" and "96" in e.value.message
    assert untouched(out)
    code = torch.linspace(1, -1, 256)    # descending: refused
    with pytest.raises(kbit.KbitInvalidArgument) as e:
        F.quantize_blockwise(x, code=code, blocksize=256)
    assert "ascending" in e.value.message, e.value.message
    # misaligned data: a float view one byte into a buffer
    raw = torch.zeros(4 * 1000 + 4, dtype=torch.uint8)
    mis = raw[1:4001].view(torch.uint8)
    from kbit._arrays import view
    a = view(mis, "x")
    with pytest.raises(kbit.KbitInvalidArgument) as e:
        kbit._core.call("kbit_quantize_8bit", kbit.device("cpu").handle, _lib.F32, a.ptr, 1000,
                        256, None, q.data_ptr(), s.absmax.data_ptr())
    assert "aligned" in e.value.message


def test_inconsistent_quant_state():
    packed, st = F.quantize_4bit(torch.randn(64, 64), quant_type="nf4", compress_statistics=True)
    with pytest.raises(ValueError, match="needs"):
        F.dequantize_4bit(packed[:100], st)
    st.shape = torch.Size([64, 65])
    with pytest.raises(ValueError, match="absmax has 64 values"):
        F.dequantize_4bit(packed, st)
    st.shape = torch.Size([64, 64])
    st.state2.blocksize = 128
    with pytest.raises(NotImplementedError, match="256"):
        F.dequantize_4bit(packed, st)
    st.state2.blocksize = 256
    st.quant_type = "int4"
    with pytest.raises(ValueError, match="nf4"):
        F.dequantize_4bit(packed, st)
    with pytest.raises(ValueError):
        F.quantize_4bit(torch.randn(64), blocksize=48)
    with pytest.raises(ValueError, match="quant_storage"):
        F.quantize_4bit(torch.randn(6), quant_storage=torch.float32)


def test_optimizer_bad_input_changes_nothing():
    p = torch.nn.Parameter(torch.randn(1000))
    before = p.detach().clone()
    opt = O.Adam8bit([p], min_8bit_size=100)
    p.grad = torch.sparse_coo_tensor(torch.tensor([[1, 5]]), torch.tensor([1.0, 2.0]), (1000,))
    with pytest.raises(RuntimeError, match="sparse"):
        opt.step()
    assert torch.equal(p.data, before)
    s1 = torch.zeros(999)
    with pytest.raises(ValueError, match="state1 has 999 elements"):
        F.optimizer_update_32bit("adam", torch.randn(1000), p.data, s1, 0.9, 1e-8, 1, 1e-3,
                                 torch.zeros(1000), 0.999)
    assert torch.equal(p.data, before)
    with pytest.raises(ValueError, match="Unsupported optimizer"):
        F.optimizer_update_32bit("adamax", torch.randn(1000), p.data, torch.zeros(1000), 0.9,
                                 1e-8, 1, 1e-3)
    with pytest.raises(kbit.KbitInvalidArgument) as e:   # beta out of range: libkbit refuses
        F.optimizer_update_32bit("adam", torch.randn(1000), p.data, torch.zeros(1000), 1.5,
                                 1e-8, 1, 1e-3, torch.zeros(1000), 0.999)
    assert "beta1" in e.value.message
    assert torch.equal(p.data, before)
    sd = opt.state_dict()
    sd["state"] = {0: {"step": 3, "__bnb_optimizer_quant_state__": {
        "state1": torch.zeros(10, dtype=torch.uint8), "state2": torch.zeros(1000, dtype=torch.uint8),
        "qmap1": torch.zeros(256), "qmap2": torch.zeros(256), "absmax1": torch.zeros(4),
        "absmax2": torch.zeros(4)}}}
    with pytest.raises(ValueError, match="state1 has 10 elements"):
        opt.load_state_dict(sd)


def test_empty_tensors():
    packed, st = F.quantize_4bit(torch.empty(0, 64), quant_type="nf4")
    assert packed.numel() == 0 and st.absmax.numel() == 0
    assert F.dequantize_4bit(packed, st).shape == (0, 64)
    q, s = F.quantize_blockwise(torch.empty(0))
    assert q.numel() == 0 and F.dequantize_blockwise(q, s).numel() == 0
