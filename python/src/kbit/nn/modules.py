"""kbit.nn.modules - bitsandbytes' Linear4bit / Params4bit and Linear8bitLt /
Int8Params: the same constructor arguments, attributes and state_dict keys,
with forward and input-gradient backward computed by libkbit.

Differences from bitsandbytes (doc/python.md has the full list): a weight is
quantized by the first .to(device)/.cpu()/.cuda() as in bitsandbytes, or by
the first forward if that never happened; the CPU forward is kbit's exact
dot32 kernel (bitsandbytes repacks the weight for a bf16 kernel at the first
CPU inference call); Linear8bitLt always runs the int8 path (bitsandbytes'
CPU training mode dequantizes instead); Linear4bit and Linear8bitLt also load
their quantized state_dict keys through load_state_dict.
"""
import copy

import torch
from torch import nn

from .. import functional as F
from ..autograd import MatmulLtState, matmul, matmul_4bit

_QS_SUFFIXES = ("absmax", "quant_map", "nested_absmax", "nested_quant_map",
                "quant_state.bitsandbytes__nf4", "quant_state.bitsandbytes__fp4")


class Params4bit(nn.Parameter):
    def __new__(cls, data=None, requires_grad=False, quant_state=None, blocksize=None,
                compress_statistics=True, quant_type="fp4", quant_storage=torch.uint8,
                module=None, bnb_quantized=False, **kwargs):
        if data is None:
            data = torch.empty(0)
        if blocksize is None:
            blocksize = 64
        self = torch.Tensor._make_subclass(cls, data, requires_grad)
        self.blocksize = blocksize
        self.compress_statistics = compress_statistics
        self.quant_type = quant_type
        self.quant_state = quant_state
        self.quant_storage = quant_storage
        self.bnb_quantized = bnb_quantized
        self.data = data
        self.module = module
        return self

    def __getstate__(self):
        state = self.__dict__.copy()
        state["data"] = self.data
        state["requires_grad"] = self.requires_grad
        return state

    def __setstate__(self, state):
        self.requires_grad = state["requires_grad"]
        self.blocksize = state["blocksize"]
        self.compress_statistics = state["compress_statistics"]
        self.quant_type = state["quant_type"]
        self.quant_state = state["quant_state"]
        self.data = state["data"]
        self.quant_storage = state["quant_storage"]
        self.bnb_quantized = state["bnb_quantized"]
        self.module = state["module"]

    def __reduce_ex__(self, protocol):
        # torch pickles a Parameter as a plain Parameter; keep the subclass
        return (_rebuild_params4bit, (self.__getstate__(),))

    def _qs(self, what):
        qs = self.__dict__.get("quant_state")
        if qs is None:
            raise AttributeError("'%s' object has no attribute '%s'" % (type(self).__name__, what))
        return qs

    absmax = property(lambda self: self._qs("absmax").absmax)
    code = property(lambda self: self._qs("code").code)
    quant_map = property(lambda self: self._qs("quant_map").code)
    offset = property(lambda self: self._qs("offset").offset)
    state2 = property(lambda self: self._qs("state2").state2)
    nested_offset = property(lambda self: self._qs("nested_offset").offset)

    def _nested(self, what):
        qs = self._qs(what)
        if qs.state2 is None:
            raise AttributeError("'%s' object has no attribute '%s'" % (type(self).__name__, what))
        return qs.state2

    nested_absmax = property(lambda self: self._nested("nested_absmax").absmax)
    nested_blocksize = property(lambda self: self._nested("nested_blocksize").blocksize)
    nested_quant_map = property(lambda self: self._nested("nested_quant_map").code)
    nested_dtype = property(lambda self: self._nested("nested_dtype").dtype)

    def __deepcopy__(self, memo):
        new = type(self).__new__(type(self))
        state = self.__getstate__()
        new.__setstate__(state)
        new.quant_state = copy.deepcopy(state["quant_state"])
        new.data = copy.deepcopy(state["data"])
        return new

    def __copy__(self):
        new = type(self).__new__(type(self))
        new.__setstate__(self.__getstate__())
        return new

    @classmethod
    def from_prequantized(cls, data, quantized_stats, requires_grad=False, device="cpu",
                          module=None, **kwargs):
        """A quantized weight from its packed bytes and bitsandbytes' state_dict
        items (device defaults to the CPU; bitsandbytes: "cuda")."""
        self = torch.Tensor._make_subclass(cls, data.to(device))
        self.requires_grad = requires_grad
        self.quant_state = F.QuantState.from_dict(qs_dict=quantized_stats, device=device)
        self.blocksize = self.quant_state.blocksize
        self.compress_statistics = self.quant_state.nested
        self.quant_type = self.quant_state.quant_type
        self.bnb_quantized = True
        self.quant_storage = data.dtype
        self.module = module
        if self.module is not None:
            self.module.quant_state = self.quant_state
        return self

    def _quantize(self, device):
        w = self.data.contiguous().to(device)
        w_4bit, quant_state = F.quantize_4bit(w, blocksize=self.blocksize,
                                              compress_statistics=self.compress_statistics,
                                              quant_type=self.quant_type,
                                              quant_storage=self.quant_storage)
        self.data = w_4bit
        self.quant_state = quant_state
        if self.module is not None:
            self.module.quant_state = quant_state
        self.bnb_quantized = True
        return self

    def cpu(self):
        return self.to(device="cpu")

    def cuda(self, device=None, non_blocking=False):
        return self.to(device="cuda" if device is None else device, non_blocking=non_blocking)

    def to(self, *args, **kwargs):
        device, dtype, non_blocking, _ = torch._C._nn._parse_to(*args, **kwargs)
        if device is not None and device.type != "meta" and not self.bnb_quantized:
            return self._quantize(device)
        if self.quant_state is not None and device is not None:
            self.quant_state.to(device)
        return Params4bit(super().to(device=device, dtype=dtype, non_blocking=non_blocking),
                          requires_grad=self.requires_grad, quant_state=self.quant_state,
                          blocksize=self.blocksize, compress_statistics=self.compress_statistics,
                          quant_type=self.quant_type, quant_storage=self.quant_storage,
                          bnb_quantized=self.bnb_quantized, module=self.module)

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if kwargs is None:
            kwargs = {}
        if func in (torch.chunk, torch.split):
            tensor = args[0]
            result = super().__torch_function__(func, types, args, kwargs)

            def wrap(chunk):
                return cls(data=chunk, requires_grad=tensor.requires_grad,
                           quant_state=tensor.quant_state, blocksize=tensor.blocksize,
                           compress_statistics=tensor.compress_statistics,
                           quant_type=tensor.quant_type, quant_storage=tensor.quant_storage,
                           module=tensor.module, bnb_quantized=tensor.bnb_quantized)
            return tuple(wrap(c) for c in result) if isinstance(result, tuple) else wrap(result)
        return super().__torch_function__(func, types, args, kwargs)


def _rebuild_params4bit(state):
    p = Params4bit(state["data"], requires_grad=state["requires_grad"])
    p.__setstate__(state)
    return p


class Linear4bit(nn.Linear):
    """QLoRA's 4-bit linear layer (bitsandbytes.nn.Linear4bit)."""

    def __init__(self, input_features, output_features, bias=True, compute_dtype=None,
                 compress_statistics=True, quant_type="fp4", quant_storage=torch.uint8,
                 device=None):
        super().__init__(input_features, output_features, bias, device)
        self.weight = Params4bit(self.weight.data, requires_grad=False,
                                 compress_statistics=compress_statistics, quant_type=quant_type,
                                 quant_storage=quant_storage, module=self)
        self.compute_dtype = compute_dtype
        self.compute_type_is_set = compute_dtype is not None
        self.quant_state = None
        self.quant_storage = quant_storage
        self._quant_args = dict(compress_statistics=compress_statistics, quant_type=quant_type,
                                quant_storage=quant_storage)

    def set_compute_type(self, x):
        if x.dtype in (torch.float32, torch.bfloat16):
            self.compute_dtype = x.dtype

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        super()._save_to_state_dict(destination, prefix, keep_vars)
        qs = getattr(self.weight, "quant_state", None)
        if qs is not None:
            for k, v in qs.as_dict(packed=True).items():
                destination[prefix + "weight." + k] = v if keep_vars else v.detach()

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        """Also loads a quantized weight: the packed bytes under `weight` and
        bitsandbytes' quant-state items under `weight.*`."""
        stats = {k[len(prefix) + len("weight."):]: v for k, v in state_dict.items()
                 if k.startswith(prefix + "weight.")
                 and k[len(prefix) + len("weight."):] in _QS_SUFFIXES}
        wkey = prefix + "weight"
        if stats and wkey in state_dict:
            data = state_dict[wkey]
            dev = self.weight.device if self.weight.device.type != "meta" else data.device
            self.weight = Params4bit.from_prequantized(data.detach(), stats, device=dev,
                                                       module=self)
            rest = {k: v for k, v in state_dict.items() if k != wkey
                    and not (k.startswith(prefix + "weight.")
                             and k[len(prefix) + len("weight."):] in _QS_SUFFIXES)}
            bias_key = prefix + "bias"
            if self.bias is not None and bias_key in rest:
                with torch.no_grad():
                    b = rest[bias_key]
                    if self.bias.device.type == "meta" or self.bias.shape != b.shape:
                        self.bias = nn.Parameter(b.detach().clone(), requires_grad=self.bias
                                                 .requires_grad)
                    else:
                        self.bias.copy_(b)
            elif self.bias is not None and strict:
                missing_keys.append(bias_key)
            for k in rest:
                if k.startswith(prefix) and k != bias_key and "." not in k[len(prefix):]:
                    unexpected_keys.append(k)
            return
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def forward(self, x):
        if not isinstance(self.weight, Params4bit):
            # a plain Parameter assigned to .weight (bitsandbytes wraps it too)
            w = self.weight
            self.weight = Params4bit(w.data, module=self,
                                     quant_state=getattr(w, "quant_state", None),
                                     bnb_quantized=getattr(w, "bnb_quantized", False),
                                     **self._quant_args)
        if not self.weight.bnb_quantized:
            # bitsandbytes quantizes on .to(device); a layer used without that
            # is quantized where it lives
            self.weight = self.weight._quantize(self.weight.device)
        quant_state = self.weight.quant_state
        if quant_state is None:
            quant_state = self.quant_state
        if not self.compute_type_is_set:
            self.set_compute_type(x)
            self.compute_type_is_set = True
        inp_dtype = x.dtype
        if self.compute_dtype is not None:
            x = x.to(self.compute_dtype)
        bias = self.bias
        if bias is not None:
            if bias.dtype != x.dtype:
                bias.data = bias.data.to(x.dtype)
            bias = bias.to(x.dtype)
        return matmul_4bit(x.contiguous(), self.weight, bias=bias,
                           quant_state=quant_state).to(inp_dtype)


class LinearFP4(Linear4bit):
    def __init__(self, input_features, output_features, bias=True, compute_dtype=None,
                 compress_statistics=True, quant_storage=torch.uint8, device=None):
        super().__init__(input_features, output_features, bias, compute_dtype,
                         compress_statistics, "fp4", quant_storage, device)


class LinearNF4(Linear4bit):
    def __init__(self, input_features, output_features, bias=True, compute_dtype=None,
                 compress_statistics=True, quant_storage=torch.uint8, device=None):
        super().__init__(input_features, output_features, bias, compute_dtype,
                         compress_statistics, "nf4", quant_storage, device)


class Int8Params(nn.Parameter):
    def __new__(cls, data=None, requires_grad=True, has_fp16_weights=False, CB=None, SCB=None,
                **kwargs):
        if data is None:
            data = torch.empty(0)
        obj = torch.Tensor._make_subclass(cls, data, requires_grad)
        obj.CB = CB
        obj.SCB = SCB
        obj.has_fp16_weights = has_fp16_weights
        return obj

    def _quantize(self, device):
        if self.has_fp16_weights:
            return super().to(device)
        B = self.data.contiguous().to(device=device)
        CB, SCB = F.int8_quantize_weight(B)
        self.data = CB
        self.CB = CB
        self.SCB = SCB
        return self

    def cpu(self):
        return self.to(device="cpu")

    def cuda(self, device=None, non_blocking=False):
        return self.to(device="cuda" if device is None else device, non_blocking=non_blocking)

    def __deepcopy__(self, memo):
        return type(self).__new__(type(self), data=copy.deepcopy(self.data, memo),
                                  requires_grad=self.requires_grad,
                                  has_fp16_weights=self.has_fp16_weights,
                                  CB=copy.deepcopy(self.CB, memo), SCB=copy.deepcopy(self.SCB,
                                                                                     memo))

    def to(self, *args, **kwargs):
        device, dtype, non_blocking, _ = torch._C._nn._parse_to(*args, **kwargs)
        is_quantized = self.data.dtype == torch.int8
        if (not is_quantized and device is not None and device.type != "meta"
                and self.data.device.type == "cpu"):
            return self._quantize(device)
        new = Int8Params(super().to(device=device, dtype=dtype, non_blocking=non_blocking),
                         requires_grad=self.requires_grad, has_fp16_weights=self.has_fp16_weights)
        if is_quantized:
            new.CB = new.data
            if device is not None and self.SCB is not None and self.SCB.device.type != "meta":
                new.SCB = self.SCB.to(device)
            else:
                new.SCB = self.SCB
        return new


def _check_weight_format(state_dict, prefix, local_metadata, strict, missing_keys,
                         unexpected_keys, error_msgs):
    """bitsandbytes' maybe_rearrange_weight: only the row-major format (0) loads."""
    if state_dict.get(prefix + "weight") is None:
        return
    fmt = state_dict.pop(prefix + "weight_format", "row")
    if isinstance(fmt, torch.Tensor):
        fmt = fmt.item()
    names = {0: "row", 1: "col32", 2: "col_turing", 3: "col_ampere"}
    if isinstance(fmt, int):
        if fmt not in names:
            raise ValueError("Expected supported weight format - got %s" % fmt)
        fmt = names[fmt]
    if fmt != "row":
        raise ValueError("Only 'row' weight format is supported, got %s" % fmt)


class Linear8bitLt(nn.Linear):
    """LLM.int8()'s linear layer (bitsandbytes.nn.Linear8bitLt)."""

    def __init__(self, input_features, output_features, bias=True, has_fp16_weights=True,
                 threshold=0.0, index=None, device=None):
        super().__init__(input_features, output_features, bias, device)
        self.state = MatmulLtState()
        self.index = index
        self.state.threshold = threshold
        self.state.has_fp16_weights = has_fp16_weights
        if threshold > 0.0 and not has_fp16_weights:
            self.state.use_pool = True
        self.weight = Int8Params(self.weight.data, has_fp16_weights=has_fp16_weights,
                                 requires_grad=has_fp16_weights)
        self._register_load_state_dict_pre_hook(_check_weight_format)

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        if not self.state.has_fp16_weights and self.state.CB is not None \
                and self.weight.dtype != torch.int8:
            self.weight.data = self.state.CB
        super()._save_to_state_dict(destination, prefix, keep_vars)
        scb = getattr(self.weight, "SCB", None)
        if scb is None:
            scb = self.state.SCB
        if not self.state.has_fp16_weights and scb is not None:
            destination[prefix + "SCB"] = scb if keep_vars else scb.detach()
            destination[prefix + "weight_format"] = torch.tensor(0, dtype=torch.uint8)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        """Loads bitsandbytes' int8 keys (weight CB, SCB) into a layer that was
        not quantized yet too (bitsandbytes requires .cuda() first)."""
        wkey, skey = prefix + "weight", prefix + "SCB"
        if skey in state_dict and wkey in state_dict and state_dict[wkey].dtype == torch.int8:
            CB = state_dict[wkey].detach()
            SCB = state_dict[skey].detach().to(torch.float32)
            dev = self.weight.device if self.weight.device.type != "meta" else CB.device
            CB, SCB = CB.to(dev).contiguous(), SCB.to(dev).contiguous()
            self.weight = Int8Params(CB, requires_grad=False, has_fp16_weights=False, CB=CB,
                                     SCB=SCB)
            self.state.has_fp16_weights = False
            self.state.CB, self.state.SCB = None, None
            bkey = prefix + "bias"
            if self.bias is not None and bkey in state_dict:
                b = state_dict[bkey].detach()
                if self.bias.device.type == "meta" or self.bias.shape != b.shape:
                    self.bias = nn.Parameter(b.clone(), requires_grad=self.bias.requires_grad)
                else:
                    with torch.no_grad():
                        self.bias.copy_(b)
            elif self.bias is not None and strict:
                missing_keys.append(bkey)
            return
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)
        if skey in unexpected_keys:
            scb = getattr(self.weight, "SCB", None)
            if scb is None:
                raise RuntimeError("Loading a quantized checkpoint into non-quantized "
                                   "Linear8bitLt needs its int8 weight in the same state_dict")
            scb.copy_(state_dict[skey])
            unexpected_keys.remove(skey)

    def init_8bit_state(self):
        self.state.CB = self.weight.CB
        self.state.SCB = self.weight.SCB
        self.weight.CB = None
        self.weight.SCB = None

    def to(self, *args, **kwargs):
        result = super().to(*args, **kwargs)
        device, _, _, _ = torch._C._nn._parse_to(*args, **kwargs)
        if device is not None:
            if result.state.CB is not None:
                result.state.CB = result.state.CB.to(device)
            if result.state.SCB is not None:
                result.state.SCB = result.state.SCB.to(device)
        return result

    def forward(self, x):
        self.state.is_training = self.training
        if not self.state.has_fp16_weights and self.weight.dtype != torch.int8 \
                and self.state.CB is None:
            self.weight = self.weight._quantize(self.weight.device)
        if self.weight.CB is not None:
            self.init_8bit_state()
        if self.bias is not None and self.bias.dtype != x.dtype:
            self.bias.data = self.bias.data.to(x.dtype)
        out = matmul(x, self.weight, bias=self.bias, state=self.state)
        if not self.state.has_fp16_weights and self.state.CB is not None:
            self.weight.data = self.state.CB
        return out
