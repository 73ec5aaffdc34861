"""kbit.optim.optimizer - the base of kbit's bitsandbytes-compatible optimizers.

Each parameter tensor has one kbit_optim_state (32-bit, or 8-bit blockwise
for tensors of at least min_8bit_size elements when optim_bits=8) held by
libkbit; one step() runs every parameter of a group that has a gradient
through a single kbit_optim_step_many call per device. The numbers are
numerics.md 6 (bitsandbytes' CUDA kernels with IEEE arithmetic), the same
bits on every backend and thread count.

state_dict() gives bitsandbytes' layout: per parameter `step` at the top
level and state1/state2 (qmap1/qmap2/absmax1/absmax2 for 8-bit, unorm_vec
with max_unorm) under "__bnb_optimizer_quant_state__"; load_state_dict()
takes that layout from bitsandbytes or from kbit, so a run saved by one
resumes in the other.
"""
import ctypes
from copy import deepcopy

import torch

from .. import _lib
from .._arrays import kbit_dtype_of_torch, view
from .._core import check, load
from .._optim_core import OPTIMIZER_KINDS, OptimState, bnb_tensors, config_for, load_bnb_into

QUANT_KEY = "__bnb_optimizer_quant_state__"
_QUANT_KEYS = ("qmap1", "qmap2", "max1", "max2", "new_max1", "new_max2", "state1", "state2",
               "gnorm_vec", "absmax1", "absmax2", "unorm_vec")


class MockArgs:
    def __init__(self, initial_data):
        for key in initial_data:
            setattr(self, key, initial_data[key])


class Optimizer8bit(torch.optim.Optimizer):
    """Common base: hyperparameters in param_groups as bitsandbytes keeps
    them (lr, betas, eps, weight_decay; AdEMAMix also alpha, t_alpha, t_beta3),
    optimizer-wide options in self.args."""

    _FSDP_WRAPPED_QUANT_STATE_KEY = QUANT_KEY

    def __init__(self, optimizer_name, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=0.0, optim_bits=32, args=None, min_8bit_size=4096, max_unorm=0.0,
                 skip_zeros=False, is_paged=False, alpha=0.0, t_alpha=None, t_beta3=None,
                 percentile_clipping=100, block_wise=True):
        if not 0.0 <= lr:
            raise ValueError("Invalid learning rate: %s" % lr)
        if not 0.0 <= eps:
            raise ValueError("Invalid epsilon value: %s" % eps)
        if isinstance(betas, str):
            betas = [float(b) for b in betas.replace("(", "").replace(")", "").strip().split(",")]
        for i, b in enumerate(betas):
            if not 0.0 <= b < 1.0:
                raise ValueError("Invalid beta parameter at index %d: %s" % (i, b))
        if not 0.0 <= weight_decay:
            raise ValueError("Invalid weight_decay value: %s" % weight_decay)
        if optim_bits not in (8, 32):
            raise NotImplementedError("Amount of optimizer bits not supported: %s" % optim_bits)
        if not block_wise:
            raise NotImplementedError("block_wise=False (tensor-wide 8-bit states) is not in kbit; "
                                      "bitsandbytes 0.50 removed it too")
        if not (0 <= int(percentile_clipping) <= 100):
            raise ValueError("percentile_clipping must be in 0..100, got %s" % percentile_clipping)
        if optimizer_name not in OPTIMIZER_KINDS:
            raise ValueError("Unsupported optimizer name %r" % optimizer_name)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)
        if optimizer_name == "ademamix":
            defaults.update(alpha=alpha, t_alpha=t_alpha, t_beta3=t_beta3)
        super().__init__(params, defaults)
        if args is None:
            args = MockArgs(dict(optim_bits=optim_bits, min_8bit_size=min_8bit_size,
                                 max_unorm=max_unorm, skip_zeros=skip_zeros,
                                 percentile_clipping=int(percentile_clipping)))
        for k, v in (("percentile_clipping", 100), ("max_unorm", 0.0), ("skip_zeros", False)):
            if not hasattr(args, k):
                setattr(args, k, v)
        self.args = args
        self.optimizer_name = optimizer_name
        self.kind = OPTIMIZER_KINDS[optimizer_name]
        self.is_paged = is_paged
        self._kbit = {}   # parameter -> OptimState

    # -- configuration -----------------------------------------------------
    def _config(self, group, state_bits=None, min_8bit_size=None):
        betas = tuple(group["betas"])
        a = self.args
        return config_for(self.kind,
                          state_bits=a.optim_bits if state_bits is None else state_bits,
                          min_8bit_size=a.min_8bit_size if min_8bit_size is None else min_8bit_size,
                          lr=group["lr"], beta1=betas[0] if len(betas) > 0 else 0.0,
                          beta2=betas[1] if len(betas) > 1 else 0.0,
                          beta3=betas[2] if len(betas) > 2 else None,
                          alpha=group.get("alpha"), eps=group["eps"],
                          weight_decay=group["weight_decay"], max_unorm=a.max_unorm,
                          skip_zeros=a.skip_zeros, percentile_clipping=a.percentile_clipping,
                          t_alpha=group.get("t_alpha"), t_beta3=group.get("t_beta3"),
                          paged=self.is_paged)

    def _new_state(self, p, cfg):
        dtype = kbit_dtype_of_torch(p.dtype)
        if dtype not in (_lib.F32, _lib.F16, _lib.BF16):
            raise ValueError("%s: parameter dtype %s (kbit optimizers take float32, float16 and "
                             "bfloat16 parameters)" % (type(self).__name__, p.dtype))
        return OptimState(view(p, "param").device(), cfg, p.numel(), dtype)

    # -- stepping ------------------------------------------------------------
    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        lib = load()
        for group in self.param_groups:
            cfg = None
            batches = {}   # device spec -> lists
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("%s does not support sparse gradients"
                                       % type(self).__name__)
                if cfg is None:
                    cfg = self._config(group)
                if not p.data.is_contiguous():
                    p.data = p.data.contiguous()
                grad = p.grad if p.grad.is_contiguous() else p.grad.contiguous()
                if grad.dtype != p.dtype and grad.dtype != torch.float32:
                    raise ValueError("%s: gradient dtype %s for a %s parameter (float32 or the "
                                     "parameter's dtype)" % (type(self).__name__, grad.dtype,
                                                             p.dtype))
                st = self._kbit.get(p)
                if st is None:
                    st = self._new_state(p, cfg)
                    self._kbit[p] = st
                    self.state[p]["step"] = 0
                pa = view(p.data, "param")
                b = batches.setdefault(pa.spec, ([], [], [], [], [], []))
                b[0].append(st.handle.value)
                b[1].append(pa.ptr)
                b[2].append(grad.data_ptr())
                b[3].append(kbit_dtype_of_torch(grad.dtype))
                b[4].append(p)
                b[5].append(grad)   # keeps contiguous copies alive during the call
            for spec, (handles, params, grads, dtypes, plist, _keep) in batches.items():
                n = len(handles)
                dev = view(plist[0].data, "param").device()
                check(lib.kbit_optim_step_many(
                    dev.handle, ctypes.byref(cfg), n, (ctypes.c_void_p * n)(*handles),
                    (ctypes.c_void_p * n)(*params), (ctypes.c_void_p * n)(*grads),
                    (ctypes.c_int * n)(*dtypes), 1.0), "kbit_optim_step_many")
                for p in plist:
                    self.state[p]["step"] += 1
        return loss

    # -- state_dict in bitsandbytes' layout -----------------------------------
    def _index(self):
        """Parameter order of torch's state_dict (first appearance in param_groups)."""
        order, seen = [], set()
        for g in self.param_groups:
            for p in g["params"]:
                if id(p) not in seen:
                    seen.add(id(p))
                    order.append(p)
        return order

    def state_dict(self):
        sd = super().state_dict()
        sd["state"] = {k: dict(v) if isinstance(v, dict) else v for k, v in sd["state"].items()}
        for idx, p in enumerate(self._index()):
            st = self._kbit.get(p)
            if st is None:
                continue
            tensors, parts = bnb_tensors(st, p.shape, p.device)
            if self.args.max_unorm > 0.0:
                tensors["unorm_vec"] = torch.tensor([st.info().unorm], dtype=torch.float32,
                                                    device=p.device)
            if self.args.percentile_clipping < 100:
                tensors["gnorm_vec"] = torch.from_numpy(parts["gnorm_vec"]).to(p.device)
            entry = sd["state"].setdefault(idx, {})
            entry["step"] = int(parts["step"])
            entry[QUANT_KEY] = tensors
        return sd

    def load_state_dict(self, state_dict, move_to_device=True):
        state_dict = deepcopy(state_dict)
        quant = {}
        for idx, ps in state_dict["state"].items():
            if not isinstance(ps, dict):
                continue
            if QUANT_KEY in ps:
                ps.update(ps.pop(QUANT_KEY))
            q = {k: ps.pop(k) for k in list(ps) if k in _QUANT_KEYS}
            if q:
                quant[idx] = q
        super().load_state_dict(state_dict)
        order = self._index()
        group_of = {id(p): g for g in self.param_groups for p in g["params"]}
        for st in self._kbit.values():
            st.release()
        self._kbit = {}
        for idx, q in quant.items():
            if not isinstance(idx, int) or idx >= len(order):
                continue
            p = order[idx]
            if "max1" in q and q.get("max1") is not None:
                raise NotImplementedError("this state_dict holds tensor-wide 8-bit states "
                                          "(block_wise=False), which kbit does not have")
            ps = self.state[p]
            step = ps.get("step", 0)
            step = int(step.item() if isinstance(step, torch.Tensor) else step)
            s1 = q.get("state1")
            if s1 is None:
                continue
            bits = 8 if s1.dtype == torch.uint8 else 32
            cfg = self._config(group_of[id(p)], state_bits=bits,
                               min_8bit_size=0 if bits == 8 else 1 << 62)
            st = self._new_state(p, cfg)
            load_bnb_into(st, "load_state_dict", step=step, state1=s1, state2=q.get("state2"),
                          qmap1=q.get("qmap1"), qmap2=q.get("qmap2"), absmax1=q.get("absmax1"),
                          absmax2=q.get("absmax2"), gnorm_vec=q.get("gnorm_vec"),
                          unorm_vec=q.get("unorm_vec"))
            self._kbit[p] = st
            ps["step"] = step

    def kbit_state_info(self, p):
        """kbit_optim_state_info of parameter p's state as a dict (None before its first step)."""
        st = self._kbit.get(p)
        if st is None:
            return None
        i = st.info()
        return dict(state_bits=i.state_bits, n=i.n, step=i.step, device_bytes=i.device_bytes,
                    gnorm_scale=i.gnorm_scale, param_norm=i.param_norm, unorm=i.unorm,
                    update_scale=i.update_scale)


class Optimizer2State(Optimizer8bit):
    pass


class Optimizer1State(Optimizer8bit):
    def __init__(self, optimizer_name, params, lr=1e-3, betas=(0.9, 0.0), eps=1e-8,
                 weight_decay=0.0, optim_bits=32, args=None, min_8bit_size=4096, max_unorm=0.0,
                 skip_zeros=False, is_paged=False, percentile_clipping=100, block_wise=True):
        super().__init__(optimizer_name, params, lr, betas, eps, weight_decay, optim_bits, args,
                         min_8bit_size, max_unorm, skip_zeros, is_paged,
                         percentile_clipping=percentile_clipping, block_wise=block_wise)
