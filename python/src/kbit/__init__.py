"""kbit - bitsandbytes-compatible quantized math (NF4/FP4, 8-bit blockwise,
LLM.int8(), 8-bit optimizers) over libkbit, bit-identical on every backend.

    import kbit
    import kbit.functional as F      # bitsandbytes.functional's names
    import kbit.nn                   # Linear4bit, Linear8bitLt, Params4bit, Int8Params
    import kbit.optim                # Adam8bit, AdamW8bit, Lion8bit, ...

libkbit is loaded on first use (see kbit._loader for where it is found).
`python -m kbit` prints what `kbit info` prints.
"""
from ._core import (Device, KbitDriverError, KbitError, KbitFormatError, KbitInvalidArgument,
                    KbitIOError, KbitNoDevice, KbitNotSupported, KbitOutOfMemory, KbitOverflow,
                    device, last_error, set_threads, version)

__version__ = "0.1.0"

__all__ = ["Device", "KbitError", "KbitInvalidArgument", "KbitOutOfMemory", "KbitNotSupported",
           "KbitNoDevice", "KbitFormatError", "KbitIOError", "KbitDriverError", "KbitOverflow",
           "device", "set_threads", "version", "last_error", "library_path", "matmul_4bit",
           "matmul", "MatmulLtState", "__version__"]


def library_path():
    """(path of the libkbit in use, how it was found, its compiled-in plugin dir or None)."""
    from ._loader import where
    return where()


def __getattr__(name):
    # torch-dependent names are imported on first use, so `import kbit` needs no torch
    if name in ("matmul_4bit", "matmul", "MatmulLtState"):
        from . import autograd
        return getattr(autograd, name)
    if name in ("functional", "nn", "optim", "integrations", "checkpoint", "info", "autograd"):
        import importlib
        return importlib.import_module("." + name, __name__)
    raise AttributeError("module 'kbit' has no attribute %r" % name)
