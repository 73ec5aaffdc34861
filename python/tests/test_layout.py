"""Every ctypes mirror of a kbit.h struct (kbit/_lib.py) has the C struct's
size and field offsets, as tests/kbit-struct-layout (built by make check)
prints them: a field added in C and not in Python would let the library
write past the Python object (the QuantizeOptions heap corruption)."""
import ctypes
import os
import subprocess

import pytest

from kbit import _lib

MIRRORS = {
    "kbit_driver_report": _lib.DriverReport,
    "kbit_device_info": _lib.DeviceInfo,
    "kbit_quant_state": _lib.QuantState,
    "kbit_optim_config": _lib.OptimConfig,
    "kbit_optim_scalars": _lib.OptimScalars,
    "kbit_optim_state_info": _lib.OptimStateInfo,
    "kbit_optim_bnb_state": _lib.OptimBnbState,
    "kbit_tensor_info": _lib.TensorInfo,
    "kbit_quantize_options": _lib.QuantizeOptions,
    "kbit_convert_report": _lib.ConvertReport,
}


def c_layouts():
    tool = os.environ.get("KBIT_STRUCT_LAYOUT")
    if not tool or not os.access(tool, os.X_OK):
        pytest.skip("KBIT_STRUCT_LAYOUT names no tests/kbit-struct-layout (make check sets it)")
    out = subprocess.run([tool], check=True, capture_output=True, text=True).stdout
    layouts = {}
    for line in out.splitlines():
        name, size, *fields = line.split()
        layouts[name] = (int(size), {f: int(o) for f, o in (x.split("=") for x in fields)})
    return layouts


@pytest.mark.parametrize("name", sorted(MIRRORS))
def test_mirror_matches_the_c_struct(name):
    size, offsets = c_layouts()[name]
    mirror = MIRRORS[name]
    got = {f[0]: getattr(mirror, f[0]).offset for f in mirror._fields_}
    assert got == offsets, "%s: field offsets differ from kbit.h" % name
    assert ctypes.sizeof(mirror) == size, "%s: %d bytes in Python, %d in C" % (
        name, ctypes.sizeof(mirror), size)
