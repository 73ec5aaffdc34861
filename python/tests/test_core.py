"""The package's core: loading, `python -m kbit` against `kbit info`,
errors carrying kbit_last_error(), devices, the GIL released during calls,
and zero-copy views (torch, NumPy, DLPack, the array interface)."""
import ctypes
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import kbit
import kbit.functional as F
from kbit import _lib
from kbit._loader import load


def test_loads_the_library_under_test():
    path, how, _ = kbit.library_path()
    want = os.environ.get("KBIT_LIBRARY")
    if want:
        assert os.path.realpath(path) == os.path.realpath(want) and how == "KBIT_LIBRARY"
    assert kbit.version() == "%d.%d.0" % _lib.HEADER_VERSION
    assert not load().missing, "symbols of kbit.h missing from the library: %s" % load().missing


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.path.join(os.path.dirname(__file__), "..", "src")] +
                                        ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def test_python_m_kbit_prints_kbit_info(kbit_tool):
    """Every line of `kbit info` but the plugin-search line (the compiled-in
    plugin directory is not in kbit.h) is printed the same by python -m kbit."""
    env = _env()
    py = subprocess.run([sys.executable, "-m", "kbit"], capture_output=True, text=True, env=env)
    c = subprocess.run([kbit_tool, "info"], capture_output=True, text=True, env=env)
    assert py.returncode == 0 and c.returncode == 0, py.stderr + c.stderr
    pl = [l for l in py.stdout.splitlines() if not l.startswith("python:")]
    cl = c.stdout.splitlines()
    assert len(pl) == len(cl), (py.stdout, c.stdout)
    for a, b in zip(pl, cl):
        if a.startswith("plugin search:"):
            assert b.startswith(a.split(", then ")[0] + ", then "), (a, b)
        else:
            assert a == b, (a, b)


def test_error_carries_the_c_message():
    x = np.zeros(100, dtype=np.float32)
    with pytest.raises(kbit.KbitInvalidArgument) as e:
        F.quantize_blockwise(x, blocksize=48)
    err = e.value
    assert err.status == _lib.EINVAL and err.status_name == "KBIT_EINVAL"
    assert err.function == "kbit_quantize_8bit"
    assert "blocksize" in err.message and "48" in err.message, err.message
    assert err.message in str(err) and isinstance(err, ValueError)


def test_no_such_device_is_an_error_naming_it():
    with pytest.raises(kbit.KbitNoDevice) as e:
        kbit.device("nosuchdriver:0")
    assert "nosuchdriver" in str(e.value)
    with pytest.raises(kbit.KbitNoDevice) as e:
        kbit.device("cpu:7")
    assert "cpu" in str(e.value)


def test_device_info_and_threads():
    d = kbit.device("cpu")
    assert d is kbit.device("cpu:0")
    info = d.info()
    assert info["driver"] == "cpu" and info["threads"] >= 1 and info["memory_bytes"] > 0
    before = info["threads"]
    try:
        d.set_threads(1)
        assert d.info()["threads"] == 1
        with pytest.raises(kbit.KbitInvalidArgument):
            d.set_threads(0)
    finally:
        d.set_threads(before)


def test_results_do_not_depend_on_threads():
    torch = pytest.importorskip("torch")
    g = torch.Generator().manual_seed(3)
    w = torch.randn(512, 1024, generator=g)
    a = torch.randn(7, 1024, generator=g)
    d = kbit.device("cpu")
    before = d.info()["threads"]
    outs = []
    try:
        for t in (1, 2):
            d.set_threads(t)
            packed, st = F.quantize_4bit(w, quant_type="nf4", compress_statistics=True)
            outs.append((packed, F.dequantize_4bit(packed, st), F.gemm_4bit(a, packed, st)))
    finally:
        d.set_threads(before)
    for x, y in zip(*outs):
        assert torch.equal(x, y)


def test_gil_is_released_during_calls():
    """While one thread is inside a long libkbit call, another Python thread
    keeps running (ctypes releases the GIL around CDLL calls), and two
    threads may run kbit ops at once with the right results."""
    torch = pytest.importorskip("torch")
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1 << 23, generator=g)
    packed, st = F.quantize_4bit(x, quant_type="nf4")
    want = F.dequantize_4bit(packed, st)
    t0 = time.perf_counter()
    F.dequantize_4bit(packed, st)
    one = time.perf_counter() - t0
    reps = max(1, int(0.3 / max(one, 1e-4)))
    done = threading.Event()
    results = []

    def worker():
        for _ in range(reps):
            results.append(F.dequantize_4bit(packed, st))
        done.set()

    ticks = 0
    th = threading.Thread(target=worker)
    th.start()
    while not done.is_set():
        ticks += 1      # pure Python: runs only while the worker is outside the GIL
        time.sleep(0)
    th.join()
    assert ticks > reps, "main thread ran %d times during %d calls" % (ticks, reps)
    assert all(torch.equal(r, want) for r in results)
    # and two threads computing at once give the single-thread bits
    outs = [None, None]

    def run(i):
        outs[i] = F.dequantize_4bit(packed, st)
    ths = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    assert torch.equal(outs[0], want) and torch.equal(outs[1], want)


class _Iface:
    """Exports only __array_interface__ (like an old array library)."""

    def __init__(self, a):
        self.a = a
        self.__array_interface__ = a.__array_interface__


class _DLPackOnly:
    """Exports only __dlpack__ (like JAX or CuPy host arrays)."""

    def __init__(self, t):
        self.t = t

    def __dlpack__(self, stream=None):
        return self.t.__dlpack__()

    def __dlpack_device__(self):
        return self.t.__dlpack_device__()


def test_zero_copy_views():
    """The pointer libkbit gets is the array's own, for every way in, and
    results written in place (out=) land in the caller's memory."""
    torch = pytest.importorskip("torch")
    from kbit._arrays import view
    t = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    a = t.numpy()
    for obj, kind in ((t, "torch"), (a, "numpy"), (_Iface(a), "iface"), (_DLPackOnly(t), "dlpack")):
        v = view(obj, "x")
        assert v.ptr == t.data_ptr() and v.shape == (3, 4) and v.dtype == _lib.F32, kind
        assert v.spec == "cpu:0" and v.kind == kind
    # results through out= are written into the caller's buffer
    x = torch.randn(1000)
    q, st = F.quantize_blockwise(x, blocksize=256)
    out = torch.empty(1000)
    ptr = out.data_ptr()
    r = F.dequantize_blockwise(q, st, out=out)
    assert r is out and out.data_ptr() == ptr
    assert torch.equal(out, F.dequantize_blockwise(q, st))


def test_numpy_in_numpy_out():
    torch = pytest.importorskip("torch")
    g = np.random.default_rng(5)
    x = g.standard_normal((64, 96)).astype(np.float32)
    packed, st = F.quantize_4bit(x, quant_type="nf4", compress_statistics=True)
    assert isinstance(packed, np.ndarray) and isinstance(st.absmax, np.ndarray)
    back = F.dequantize_4bit(packed, st)
    assert isinstance(back, np.ndarray) and back.dtype == np.float32 and back.shape == x.shape
    tp, ts = F.quantize_4bit(torch.from_numpy(x), quant_type="nf4", compress_statistics=True)
    assert np.array_equal(packed, tp.numpy()) and np.array_equal(back, F.dequantize_4bit(tp, ts)
                                                                 .numpy())
    q, s8 = F.quantize_blockwise(x)
    assert isinstance(q, np.ndarray) and np.array_equal(
        F.dequantize_blockwise(q, s8), F.dequantize_blockwise(torch.from_numpy(q), F.QuantState(
            absmax=torch.from_numpy(s8.absmax), code=torch.from_numpy(s8.code),
            blocksize=s8.blocksize, dtype=torch.float32)).numpy())


def test_layout_check_catches_a_stale_declaration(monkeypatch):
    """If kbit.h's kbit_optim_config changed (as when issue 14 made its
    hyperparameters doubles), the import-time check names the struct: here
    the old fp32 declaration against the library's doubles."""
    class Floats(ctypes.Structure):
        _fields_ = [("kind", ctypes.c_int), ("lr", ctypes.c_float)] + [
            (n, ctypes.c_float) for n in ("beta1", "beta2", "beta3", "alpha")] + [
            ("t_alpha", ctypes.c_int64), ("t_beta3", ctypes.c_int64), ("eps", ctypes.c_float),
            ("weight_decay", ctypes.c_float), ("max_unorm", ctypes.c_float),
            ("percentile_clipping", ctypes.c_int), ("skip_zeros", ctypes.c_int),
            ("state_bits", ctypes.c_int), ("min_8bit_size", ctypes.c_int64),
            ("paged", ctypes.c_int),
            ("pad", ctypes.c_char * 64)]  # room for the library's larger struct
    lib = load()
    fn = lib.cdll.kbit_optim_config_default
    old = fn.argtypes
    try:
        fn.argtypes = [ctypes.c_int, ctypes.POINTER(Floats)]
        monkeypatch.setattr(_lib, "OptimConfig", Floats)
        with pytest.raises(RuntimeError) as e:
            _lib.check_layout(lib)
        assert "kbit_optim_config" in str(e.value)
    finally:
        fn.argtypes = old
