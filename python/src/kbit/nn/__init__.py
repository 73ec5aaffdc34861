"""kbit.nn - bitsandbytes.nn's quantized layers over libkbit."""
from .modules import Int8Params, Linear4bit, Linear8bitLt, LinearFP4, LinearNF4, Params4bit

__all__ = ["Params4bit", "Linear4bit", "LinearFP4", "LinearNF4", "Int8Params", "Linear8bitLt"]
