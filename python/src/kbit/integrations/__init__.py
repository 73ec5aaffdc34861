"""kbit.integrations - kbit layers in Hugging Face transformers models.

    replace_bnb_layers(model)     route a model loaded by transformers +
                                  bitsandbytes through kbit: every
                                  bitsandbytes Linear4bit / Linear8bitLt is
                                  replaced by kbit's, sharing its tensors
    from_pretrained(path, ...)    load a bitsandbytes-format checkpoint (saved
                                  by transformers + bitsandbytes or written by
                                  `kbit quantize`) into a model with kbit
                                  layers; bitsandbytes need not be installed
    quantize_model(model, ...)    quantize a model's nn.Linear layers in memory
                                  (bitsandbytes' replace_with_bnb_linear + the
                                  quantization .to(device) does)
"""
import json
import os

import torch
from torch import nn

from .. import functional as F
from ..nn import Int8Params, Linear4bit, Linear8bitLt, Params4bit

__all__ = ["replace_bnb_layers", "from_pretrained", "quantize_model", "kbit_layers"]


def _bnb_kind(m):
    cls = type(m)
    for c in cls.__mro__:
        if c.__module__.startswith("bitsandbytes"):
            if c.__name__ in ("Linear4bit", "LinearNF4", "LinearFP4"):
                return "4bit"
            if c.__name__ == "Linear8bitLt":
                return "8bit"
    return None


def _set_module(model, name, new):
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)


def _carry_over(old, new):
    new.train(old.training)
    for attr in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks"):
        getattr(new, attr).update(getattr(old, attr))


def _from_bnb_4bit(m):
    w = m.weight
    qs = w.quant_state if getattr(w, "quant_state", None) is not None else m.quant_state
    if qs is None:
        raise ValueError("bitsandbytes Linear4bit without a quant state (not quantized yet: "
                         "call .to(device) on it or quantize the model with kbit)")
    if getattr(qs, "packing_format_for_cpu", False):
        raise RuntimeError("this bitsandbytes Linear4bit already ran bitsandbytes' CPU inference "
                           "path, which rewrote its weight into a transposed bf16 layout that "
                           "cannot be restored exactly (numerics 9.6 item 24); call "
                           "kbit.integrations.replace_bnb_layers(model) before the first forward")
    state2 = None
    if qs.nested:
        state2 = F.QuantState(absmax=qs.state2.absmax, blocksize=qs.state2.blocksize,
                              code=qs.state2.code, dtype=qs.state2.dtype)
    kqs = F.QuantState(absmax=qs.absmax, shape=qs.shape, code=qs.code, blocksize=qs.blocksize,
                       quant_type=qs.quant_type, dtype=qs.dtype, offset=qs.offset, state2=state2)
    new = Linear4bit(m.in_features, m.out_features, bias=m.bias is not None,
                     compute_dtype=m.compute_dtype, compress_statistics=qs.nested,
                     quant_type=qs.quant_type, quant_storage=w.dtype, device="meta")
    new.weight = Params4bit(w.data, requires_grad=False, quant_state=kqs,
                            blocksize=qs.blocksize, compress_statistics=qs.nested,
                            quant_type=qs.quant_type, quant_storage=w.dtype, module=new,
                            bnb_quantized=True)
    new.quant_state = kqs
    new.bias = m.bias
    new.compute_type_is_set = m.compute_type_is_set
    return new


def _from_bnb_8bit(m):
    st = m.state
    has_fp16 = st.has_fp16_weights
    new = Linear8bitLt(m.in_features, m.out_features, bias=m.bias is not None,
                       has_fp16_weights=has_fp16, threshold=st.threshold, device="meta")
    if has_fp16:
        new.weight = Int8Params(m.weight.data, requires_grad=m.weight.requires_grad,
                                has_fp16_weights=True)
    else:
        CB = getattr(m.weight, "CB", None)
        CB = CB if CB is not None else st.CB
        SCB = getattr(m.weight, "SCB", None)
        SCB = SCB if SCB is not None else st.SCB
        if CB is None and m.weight.dtype == torch.int8:
            CB = m.weight.data
        if CB is None or SCB is None:
            raise ValueError("bitsandbytes Linear8bitLt without int8 weight (CB/SCB): not "
                             "quantized yet")
        new.weight = Int8Params(CB, requires_grad=False, has_fp16_weights=False, CB=CB, SCB=SCB)
    new.bias = m.bias
    return new


def replace_bnb_layers(model):
    """Replace every bitsandbytes Linear4bit / Linear8bitLt of `model` (in
    place) by kbit's, sharing the packed weight, quant state, int8 weight and
    bias tensors (nothing is copied). Returns the number replaced. Call it
    before the model's first CPU forward under bitsandbytes (that forward
    repacks 4-bit weights irreversibly; such a layer is refused)."""
    todo = [(name, m, _bnb_kind(m)) for name, m in model.named_modules()]
    count = 0
    for name, m, kind in todo:
        if kind is None:
            continue
        new = _from_bnb_4bit(m) if kind == "4bit" else _from_bnb_8bit(m)
        _carry_over(m, new)
        _set_module(model, name, new)
        count += 1
    return count


def kbit_layers(model):
    """The names of the kbit quantized layers of a model."""
    return [n for n, m in model.named_modules() if isinstance(m, (Linear4bit, Linear8bitLt))]


def _dtype(name):
    if name is None or isinstance(name, torch.dtype):
        return name
    return getattr(torch, str(name).replace("torch.", ""))


def quantize_model(model, bits=4, quant_type="nf4", compress_statistics=True, compute_dtype=None,
                   quant_storage=torch.uint8, threshold=6.0, skip_modules=("lm_head",),
                   device=None):
    """Replace the nn.Linear layers of `model` (not those whose name or last
    name part is in skip_modules) by kbit Linear4bit (bits=4) or Linear8bitLt
    (bits=8, has_fp16_weights=False) and quantize them where they are (or on
    `device`). Returns the number of layers replaced."""
    if bits not in (4, 8):
        raise ValueError("bits must be 4 or 8, got %s" % bits)
    skip = set(skip_modules or ())
    count = 0
    for name, m in list(model.named_modules()):
        if type(m) is not nn.Linear or name in skip or name.rpartition(".")[2] in skip:
            continue
        dev = device or m.weight.device
        if bits == 4:
            new = Linear4bit(m.in_features, m.out_features, bias=m.bias is not None,
                             compute_dtype=_dtype(compute_dtype),
                             compress_statistics=compress_statistics, quant_type=quant_type,
                             quant_storage=quant_storage, device="meta")
            new.weight = Params4bit(m.weight.data, requires_grad=False,
                                    compress_statistics=compress_statistics,
                                    quant_type=quant_type, quant_storage=quant_storage,
                                    module=new)._quantize(dev)
        else:
            new = Linear8bitLt(m.in_features, m.out_features, bias=m.bias is not None,
                               has_fp16_weights=False, threshold=threshold, device="meta")
            new.weight = Int8Params(m.weight.data, requires_grad=False,
                                    has_fp16_weights=False)._quantize(dev)
        if m.bias is not None:
            new.bias = nn.Parameter(m.bias.data.to(dev), requires_grad=m.bias.requires_grad)
        _carry_over(m, new)
        _set_module(model, name, new)
        count += 1
    return count


# ---------------------------------------------------------------------------
# Loading a bitsandbytes-format checkpoint without bitsandbytes

def _checkpoint_files(path):
    if os.path.isfile(path):
        return [path]
    index = os.path.join(path, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
        return [os.path.join(path, s) for s in shards]
    single = os.path.join(path, "model.safetensors")
    if os.path.exists(single):
        return [single]
    raise FileNotFoundError("%s: no model.safetensors or model.safetensors.index.json" % path)


def _read_tensors(files):
    from safetensors import safe_open
    sd = {}
    for fn in files:
        with safe_open(fn, framework="pt") as f:
            for k in f.keys():
                t = f.get_tensor(k)
                # safetensors may hand out views of the mapped file at offsets
                # that are not aligned to the element size; kbit refuses those
                if t.numel() and t.data_ptr() % t.element_size():
                    t = t.clone()
                sd[k] = t
    return sd


def from_pretrained(path, model_class=None, torch_dtype=None, device="cpu", strict=True):
    """A transformers model from a bitsandbytes-format checkpoint directory,
    its 4-bit / 8-bit weights in kbit Linear4bit / Linear8bitLt layers.
    bitsandbytes need not be installed. model_class: a transformers auto class
    or model class (default AutoModel). torch_dtype casts the plain float
    parameters (default: as stored). Returns the model in eval mode."""
    import transformers
    config = transformers.AutoConfig.from_pretrained(path)
    qc = getattr(config, "quantization_config", None)
    if qc is not None and not isinstance(qc, dict):
        qc = qc.to_dict()
    qc = dict(qc or {})
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model_class = model_class or transformers.AutoModel
    try:
        from accelerate import init_empty_weights
    except ImportError:
        init_empty_weights = None
    if init_empty_weights is not None:
        with init_empty_weights():
            model = model_class.from_config(config)
    else:
        model = model_class.from_config(config)
    sd = _read_tensors(_checkpoint_files(path))
    compute_dtype = _dtype(qc.get("bnb_4bit_compute_dtype"))
    threshold = float(qc.get("llm_int8_threshold", 6.0))
    prefixes = _module_prefixes(model, sd)
    for key in list(sd):
        module = None
        for suffix, kind in ((".weight.quant_state.bitsandbytes__nf4", "4bit"),
                             (".weight.quant_state.bitsandbytes__fp4", "4bit"),
                             (".SCB", "8bit")):
            if key.endswith(suffix):
                module = key[: -len(suffix)]
                break
        if module is None:
            continue
        name = _module_name(model, module, prefixes)
        old = model.get_submodule(name)
        if not isinstance(old, nn.Linear) or isinstance(old, (Linear4bit, Linear8bitLt)):
            if isinstance(old, (Linear4bit, Linear8bitLt)):
                continue
            raise ValueError("%s: quantized weight %s for a %s (kbit quantizes nn.Linear)"
                             % (path, key, type(old).__name__))
        if kind == "4bit":
            qt = key.rsplit("__", 1)[1]
            new = Linear4bit(old.in_features, old.out_features, bias=old.bias is not None,
                             compute_dtype=compute_dtype, quant_type=qt, device="meta")
        else:
            new = Linear8bitLt(old.in_features, old.out_features, bias=old.bias is not None,
                               has_fp16_weights=False, threshold=threshold, device="meta")
        _set_module(model, name, new)
    sd = {_rename(k, prefixes): v for k, v in sd.items()}
    missing, unexpected = model.load_state_dict(sd, strict=False, assign=True)
    if hasattr(model, "tie_weights"):
        model.tie_weights()
    left = [n for n, p in list(model.named_parameters()) + list(model.named_buffers())
            if p.device.type == "meta"]
    if left:
        raise ValueError("%s: the checkpoint has no values for %s" % (path, left[:8]))
    unexpected = [k for k in unexpected if not k.endswith("position_ids")]
    if strict and unexpected:
        raise ValueError("%s: tensors the model has no place for: %s" % (path, unexpected[:8]))
    if torch_dtype is not None:
        for mod in model.modules():
            for pname, p in list(mod.named_parameters(recurse=False)):
                if isinstance(p, (Params4bit, Int8Params)) or not p.is_floating_point():
                    continue
                setattr(mod, pname, nn.Parameter(p.data.to(torch_dtype),
                                                 requires_grad=p.requires_grad))
    if qc:
        model.config.quantization_config = qc
    if device not in (None, "cpu"):
        model.to(device)
    model.eval()
    return model


def _module_prefixes(model, sd):
    """The base-model prefix transformers strips or adds ("bert.", "model.")
    when a checkpoint saved from one head class loads into another."""
    base = getattr(model, "base_model_prefix", "") or ""
    names = set(n for n, _ in model.named_modules())
    has_base = base and base in names
    keys_have_base = base and any(k.startswith(base + ".") for k in sd)
    if has_base and not keys_have_base:
        return ("add", base + ".")
    if not has_base and keys_have_base:
        return ("strip", base + ".")
    return (None, "")


def _rename(key, prefixes):
    how, p = prefixes
    if how == "add":
        return p + key
    if how == "strip" and key.startswith(p):
        return key[len(p):]
    return key


def _module_name(model, module, prefixes):
    return _rename(module, prefixes)
