"""kbit._optim_core - one kbit_optim_state per parameter tensor, its config,
and its contents in bitsandbytes' state_dict layout both ways.

The byte layout of kbit_optim_state_save is doc/formats.md, "Optimizer
state"; bitsandbytes' per-parameter keys are numerics.md 6.8 (state1/state2
shaped like the parameter, AdEMAMix state1 [2, *shape], absmax1/absmax2
[ceil(n/256)], AdEMAMix absmax1 [2, ...], qmap1/qmap2 [256]).
"""
import ctypes

import numpy as np

from . import _lib
from ._core import call, check, load

# bitsandbytes' kernel names (optimizer_name) -> kbit_optim_kind
OPTIMIZER_KINDS = {
    "adam": _lib.OPTIM_ADAM, "adamw": _lib.OPTIM_ADAMW, "lamb": _lib.OPTIM_LAMB,
    "ademamix": _lib.OPTIM_ADEMAMIX, "momentum": _lib.OPTIM_SGD, "sgd": _lib.OPTIM_SGD,
    "lars": _lib.OPTIM_LARS, "rmsprop": _lib.OPTIM_RMSPROP, "adagrad": _lib.OPTIM_ADAGRAD,
    "lion": _lib.OPTIM_LION,
}
TWO_STATE = (_lib.OPTIM_ADAM, _lib.OPTIM_ADAMW, _lib.OPTIM_LAMB, _lib.OPTIM_ADEMAMIX)
_HEADER = 40
_GNORM = 100


def config_for(kind, state_bits=32, min_8bit_size=4096, lr=None, beta1=None, beta2=None,
               beta3=None, alpha=None, eps=None, weight_decay=None, max_unorm=0.0,
               skip_zeros=False, percentile_clipping=100, t_alpha=None, t_beta3=None,
               paged=False):
    """A kbit_optim_config: the kind's defaults (kbit_optim_config_default)
    with every value given here replacing its default."""
    cfg = _lib.OptimConfig()
    call("kbit_optim_config_default", kind, ctypes.byref(cfg))
    for name, v in (("lr", lr), ("beta1", beta1), ("beta2", beta2), ("beta3", beta3),
                    ("alpha", alpha), ("eps", eps), ("weight_decay", weight_decay)):
        if v is not None:
            setattr(cfg, name, float(v))
    cfg.max_unorm = float(max_unorm or 0.0)
    cfg.skip_zeros = 1 if skip_zeros else 0
    cfg.percentile_clipping = int(percentile_clipping)
    cfg.t_alpha = int(t_alpha or 0)
    cfg.t_beta3 = int(t_beta3 or 0)
    cfg.state_bits = int(state_bits)
    cfg.min_8bit_size = int(min_8bit_size)
    cfg.paged = 1 if paged else 0
    return cfg


class OptimState:
    """A kbit_optim_state (device memory owned by libkbit)."""

    def __init__(self, dev, cfg, n, param_dtype):
        self.dev = dev
        self.kind = cfg.kind
        self.n = int(n)
        self.param_dtype = param_dtype
        h = ctypes.c_void_p()
        check(load().kbit_optim_state_create(dev.handle, ctypes.byref(cfg), self.n, param_dtype,
                                             ctypes.byref(h)), "kbit_optim_state_create")
        self.handle = h
        self.bits = self.info().state_bits

    def info(self):
        info = _lib.OptimStateInfo()
        check(load().kbit_optim_state_get_info(self.handle, ctypes.byref(info)),
              "kbit_optim_state_get_info")
        return info

    def step(self, cfg, p_ptr, g_ptr, g_dtype, gnorm_scale=1.0):
        check(load().kbit_optim_step(self.dev.handle, ctypes.byref(cfg), self.handle, p_ptr,
                                     g_ptr, g_dtype, gnorm_scale), "kbit_optim_step")

    def save(self):
        size = ctypes.c_size_t()
        check(load().kbit_optim_state_save_size(self.handle, ctypes.byref(size)),
              "kbit_optim_state_save_size")
        buf = np.empty(size.value, dtype=np.uint8)
        check(load().kbit_optim_state_save(self.handle, buf.ctypes.data, size.value),
              "kbit_optim_state_save")
        return buf

    def restore(self, buf):
        buf = np.ascontiguousarray(np.frombuffer(buf, dtype=np.uint8) if isinstance(
            buf, (bytes, bytearray)) else buf, dtype=np.uint8)
        check(load().kbit_optim_state_restore(self.handle, buf.ctypes.data, buf.size),
              "kbit_optim_state_restore")

    def release(self):
        if self.handle is not None and self.handle.value:
            load().kbit_optim_state_release(self.handle)
        self.handle = None

    def __del__(self):
        try:
            self.release()
        except Exception:
            pass

    def parts(self):
        """The saved state as NumPy arrays (copies): step, gnorm_vec, and
        state1, state2, absmax1, absmax2, qmap1, qmap2 as bitsandbytes holds
        them (flat; None where the kind or the bits have none)."""
        return parse_saved(self.save())


def parse_saved(buf):
    """Split a kbit_optim_state_save byte string (doc/formats.md)."""
    b = np.asarray(buf, dtype=np.uint8)
    if bytes(b[:8]) != b"KBITOPT1":
        raise ValueError("not a kbit optimizer state (magic %r)" % bytes(b[:8]))
    version, kind, dtype, bits = (int(x) for x in b[8:24].view("<u4"))
    n, step = (int(x) for x in b[24:40].view("<i8"))
    c = 2 if kind == _lib.OPTIM_ADEMAMIX else 1
    nb = -(-n // _lib.OPTIM_BLOCKSIZE)
    off = _HEADER
    out = dict(kind=kind, dtype=dtype, bits=bits, n=n, step=step, qmap1=None, qmap2=None,
               state2=None, absmax1=None, absmax2=None)

    def take(count, dt):
        nonlocal off
        size = count * np.dtype(dt).itemsize
        arr = b[off:off + size].view(dt).copy()
        off += size
        return arr

    out["gnorm_vec"] = take(_GNORM, "<f4")
    if bits == 8:
        out["qmap1"] = take(256, "<f4")
        out["qmap2"] = take(256, "<f4")
    sdt = "<f4" if bits == 32 else np.uint8
    out["state1"] = take(c * n, sdt)
    if kind in TWO_STATE:
        out["state2"] = take(n, sdt)
    if bits == 8:
        out["absmax1"] = take(c * nb, "<f4")
        if kind in TWO_STATE:
            out["absmax2"] = take(nb, "<f4")
    out["unorm_pending"] = None
    if version >= 2 and kind == _lib.OPTIM_LION:   # the sum Lion's next step clips with
        out["unorm_pending"] = float(take(1, "<f8")[0])
    if off != b.size:
        raise ValueError("kbit optimizer state of %d bytes, parsed %d" % (b.size, off))
    return out


def _host(x, name, dtype, count, fn):
    """A contiguous host NumPy copy/view of x with `count` elements of `dtype`."""
    if x is None:
        return None
    import sys
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        arr = x.detach().to("cpu").contiguous().numpy()
    else:
        arr = np.asarray(x)
    if arr.dtype != np.dtype(dtype):
        raise ValueError("%s: %s has dtype %s; expected %s" % (fn, name, arr.dtype,
                                                               np.dtype(dtype).name))
    if arr.size != count:
        raise ValueError("%s: %s has %d elements; expected %d" % (fn, name, arr.size, count))
    return np.ascontiguousarray(arr.reshape(-1))


def load_bnb_into(st, fn, step, state1, state2=None, qmap1=None, qmap2=None, absmax1=None,
                  absmax2=None, gnorm_vec=None, unorm_vec=None):
    """Fill state `st` from bitsandbytes' per-parameter tensors (kbit_optim_state_load_bnb).
    unorm_vec is read for Lion only: the update norm its last step left for the next."""
    c = 2 if st.kind == _lib.OPTIM_ADEMAMIX else 1
    nb = -(-st.n // _lib.OPTIM_BLOCKSIZE)
    two = st.kind in TWO_STATE
    sdt = np.float32 if st.bits == 32 else np.uint8
    if state1 is None:
        raise ValueError("%s: state1 is missing" % fn)
    if two and state2 is None:
        raise ValueError("%s: state2 is missing (this optimizer has two states)" % fn)
    arrs = dict(state1=_host(state1, "state1", sdt, c * st.n, fn),
                state2=_host(state2, "state2", sdt, st.n, fn) if two else None,
                gnorm_vec=_host(gnorm_vec, "gnorm_vec", np.float32, _GNORM, fn),
                unorm_vec=_host(unorm_vec, "unorm_vec", np.float32, 1, fn))
    if st.bits == 8:
        for name, v, count in (("qmap1", qmap1, 256), ("absmax1", absmax1, c * nb)) + (
                (("qmap2", qmap2, 256), ("absmax2", absmax2, nb)) if two else ()):
            if v is None:
                raise ValueError("%s: %s is missing (8-bit state)" % (fn, name))
            arrs[name] = _host(v, name, np.float32, count, fn)
    bnb = _lib.OptimBnbState()
    bnb.step = int(step)
    for name, arr in arrs.items():
        if arr is not None:
            setattr(bnb, name, arr.ctypes.data)
    check(load().kbit_optim_state_load_bnb(st.handle, ctypes.byref(bnb)),
          "kbit_optim_state_load_bnb")


def save_into_bnb(st, fn, state1, state2=None, qmap1=None, qmap2=None, absmax1=None,
                  absmax2=None):
    """Write state `st` back into bitsandbytes-layout tensors, in place."""
    parts = st.parts()
    for name, dst in (("state1", state1), ("state2", state2), ("absmax1", absmax1),
                      ("absmax2", absmax2)):
        if dst is not None and parts[name] is not None:
            _assign(dst, parts[name])


def _assign(dst, src):
    import sys
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(dst, torch.Tensor):
        dst.copy_(torch.from_numpy(src).reshape(dst.shape))
    else:
        np.copyto(dst, src.reshape(dst.shape))


def bnb_tensors(st, shape, like_device):
    """bitsandbytes' state_dict tensors of `st` (torch), for a parameter of `shape`."""
    import torch
    parts = st.parts()
    c = 2 if st.kind == _lib.OPTIM_ADEMAMIX else 1
    pshape = tuple(shape)
    full = ((2,) + pshape) if c == 2 else pshape
    out = {}

    def t(arr, shp):
        return torch.from_numpy(arr).reshape(shp).to(like_device)

    out["state1"] = t(parts["state1"], full)
    if parts["state2"] is not None:
        out["state2"] = t(parts["state2"], pshape)
    if parts["bits"] == 8:
        nb = -(-st.n // _lib.OPTIM_BLOCKSIZE)
        out["qmap1"] = t(parts["qmap1"], (256,))
        out["absmax1"] = t(parts["absmax1"], (2, nb) if c == 2 else (nb,))
        if parts["state2"] is not None:
            out["qmap2"] = t(parts["qmap2"], (256,))
            out["absmax2"] = t(parts["absmax2"], (nb,))
    return out, parts
