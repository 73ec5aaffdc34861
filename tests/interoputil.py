"""tests/interoputil.py - what the interop programs (tests/test_interop.py,
tests/test_interop_diffusers.py) share: their TAP lines, running a program,
a checkpoint's tensors, bitsandbytes' own 4-bit dequantization, bit for bit
comparison, quantization_config as text. The programs import it from their
own folder (Python puts a script's folder first on sys.path); they silence
the libraries' warnings before importing it, as it imports torch.
"""
import os
import subprocess

import torch
import bitsandbytes.functional as F
from safetensors.torch import load_file

_count = 0


def ok(cond, what, diag=None):
    """One TAP line; on failure the last 20 lines of diag as # lines."""
    global _count
    _count += 1
    print(("ok %d - %s" if cond else "not ok %d - %s") % (_count, what), flush=True)
    if not cond and diag:
        for line in str(diag).splitlines()[-20:]:
            print("# " + line)
    return cond


def note(text):
    print("# " + text, flush=True)


def plan():
    """The TAP plan, last: as many tests as ok() printed."""
    print("1..%d" % _count)


def run(*args):
    """A program's exit status and its stdout + stderr."""
    p = subprocess.run(list(args), capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def tensors(d):
    """Every tensor of a checkpoint directory, by name."""
    out = {}
    for f in sorted(os.listdir(d)):
        if f.endswith(".safetensors"):
            out.update(load_file(os.path.join(d, f)))
    return out


def as_bytes(t):
    return t.contiguous().view(torch.uint8).reshape(-1)


def same_bits(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(as_bytes(a), as_bytes(b))


def weights_4bit(t):
    """The 4-bit weights of a state dict (those with a quant_map)."""
    return sorted(k[: -len(".quant_map")] for k in t if k.endswith(".weight.quant_map"))


def bnb_dequant(t, weight):
    """bitsandbytes' dequantization of 4-bit weight `weight` from a state dict."""
    qs = {k[len(weight) + 1:]: v for k, v in t.items() if k.startswith(weight + ".")}
    state = F.QuantState.from_dict(qs, device=torch.device("cpu"))
    return F.dequantize_4bit(t[weight], state)


def qconfig_text(d):
    """The "quantization_config" member of d/config.json, as written."""
    text = open(os.path.join(d, "config.json")).read()
    i = text.index('  "quantization_config": {')
    return text[i:text.index("\n  }", i) + 4]
