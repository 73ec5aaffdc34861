"""kbit.info - the report `kbit info` prints, built from the same C calls
(kbit_driver_count / kbit_driver_get / kbit_device_open / _get_info)."""
import ctypes
import os

from . import __version__, _lib
from ._core import last_error
from ._loader import load, where


def _driver_line(r, width):
    if not r.loaded:
        state = "refused"
    elif r.device_count == 0:
        state = "no device"
    else:
        state = "%d device%s" % (r.device_count, "" if r.device_count == 1 else "s")
    lines = ["  %-*s  %-10s %s" % (width, _s(r.name), state, _s(r.path))]
    if r.description:
        lines.append("  %-*s  %-10s %s" % (width, "", "", _s(r.description)))
    if r.loaded:
        lines.append("  %-*s  %-10s ABI %d.%d; families: %s" % (
            width, "", "", r.abi_major, r.abi_minor, _families(r.families)))
        if r.families_reason:
            lines.append("  %-*s  %-10s dropped: %s" % (width, "", "", _s(r.families_reason)))
        if r.limits:
            lines.append("  %-*s  %-10s only: %s" % (width, "", "", _s(r.limits)))
    if r.reason:
        lines.append("  %-*s  %-10s reason: %s" % (width, "", "", _s(r.reason)))
    return lines


def _families(bits):
    lib = load()
    names = [_s(lib.kbit_family_name(1 << i)) for i in range(5) if bits & (1 << i)]
    return " ".join(names) if names else "none"


def _s(b):
    return b.decode("utf-8", "replace") if b else ""


def _gib(n):
    return "memory unknown" if n == 0 else "%.1f GiB" % (n / (1024.0 ** 3))


def _auto_line(lib, label, families):
    h = ctypes.c_void_p()
    if lib.kbit_device_open_for(b"auto", families, ctypes.byref(h)) != _lib.OK:
        return "%-15s none (%s)" % (label, last_error())
    info = _lib.DeviceInfo()
    line = "%-15s ?" % label
    if lib.kbit_device_get_info(h, ctypes.byref(info)) == _lib.OK:
        line = "%-15s %s:%d (%s)" % (label, _s(info.driver), info.index, _s(info.name))
    lib.kbit_device_close(h)
    return line


def report():
    """The text of `kbit info`, as a string (one report line per line)."""
    lib = load()
    path, how, plugin_dir = where()
    out = ["kbit %s (library %s)" % (__version__, lib.kbit_version().decode())]
    env = os.environ.get("KBIT_DRIVER_PATH")
    out.append("plugin search: KBIT_DRIVER_PATH=%s, then %s" % (
        env if env else "(unset)", plugin_dir or "the plugin directory compiled into %s" % path))
    count = ctypes.c_int()
    if lib.kbit_driver_count(ctypes.byref(count)) != _lib.OK:
        raise RuntimeError("kbit info: %s" % last_error())
    reports = []
    for i in range(count.value):
        r = _lib.DriverReport()
        if lib.kbit_driver_get(i, ctypes.byref(r)) == _lib.OK:
            reports.append(r)
    width = max([10] + [len(_s(r.name)) for r in reports])
    out += ["", "drivers:"]
    for r in reports:
        out += _driver_line(r, width)
    out += ["", "devices:"]
    variant = ""
    devices = 0
    for r in reports:
        if not r.loaded:
            continue
        for d in range(r.device_count):
            devices += 1
            spec = "%s:%d" % (_s(r.name), d)
            h = ctypes.c_void_p()
            if lib.kbit_device_open(spec.encode(), ctypes.byref(h)) != _lib.OK:
                out.append("  %-12s cannot open: %s" % (spec, last_error()))
                continue
            info = _lib.DeviceInfo()
            if lib.kbit_device_get_info(h, ctypes.byref(info)) != _lib.OK:
                out.append("  %-12s no information: %s" % (spec, last_error()))
            else:
                out.append("  %-12s %s" % (spec, _s(info.name)))
                out.append("  %-12s variant %s, %d thread%s, %s" % (
                    "", _s(info.variant), info.threads, "" if info.threads == 1 else "s",
                    _gib(info.memory_bytes)))
                out.append("  %-12s families: %s" % ("", _families(info.families)))
                if lib.kbit_device_supports(h, _lib.FAMILY_ALL) != _lib.OK:
                    out.append("  %-12s (%s)" % ("", last_error()))
                if _s(info.driver) == "cpu" and not variant:
                    variant = _s(info.variant)
            lib.kbit_device_close(h)
    if devices == 0:
        out.append("  (none)")
    out.append("")
    out.append(_auto_line(lib, "auto:", _lib.FAMILY_ALL))
    for i in range(5):
        out.append(_auto_line(lib, "auto %s:" % _s(lib.kbit_family_name(1 << i)), 1 << i))
    isa = os.environ.get("KBIT_CPU_ISA")
    tuning = os.environ.get("KBIT_CPU_TUNING")
    # the driver's variant reads "avx512/zen4+amx-bf16": ISA, tuning, fast
    # kernel (tools/info.c)
    variant, plus, fast_kernel = variant.partition("+")
    variant, slash, chosen = variant.partition("/")
    if not variant:
        out.append("cpu variant:   unavailable (the CPU driver has no device)")
    elif isa:
        out.append("cpu variant:   %s (KBIT_CPU_ISA=%s)" % (variant, isa))
    else:
        out.append("cpu variant:   %s (the best this CPU supports; KBIT_CPU_ISA forces one)"
                   % variant)
    if variant and not slash:
        out.append("cpu tuning:    none (the scalar variant has one kernel per op)")
    elif slash and tuning and tuning != "auto":
        out.append("cpu tuning:    %s (KBIT_CPU_TUNING=%s)" % (chosen, tuning))
    elif slash:
        out.append("cpu tuning:    %s (by CPU vendor and family; KBIT_CPU_TUNING forces one)"
                   % chosen)
    fast = os.environ.get("KBIT_CPU_FAST")
    if variant and plus:
        # the least M of each kernel: backends/cpu/gemm4/ops.c
        out.append("cpu fast mode: %s (4-bit matmul, bf16, M >= %d, when a device is set to "
                   "KBIT_MATH_FAST%s)" % (fast_kernel, 10 if fast_kernel == "avx512-bf16" else 2,
                                         "; KBIT_CPU_FAST=" + fast if fast else ""))
    elif variant:
        out.append("cpu fast mode: none (%s; KBIT_MATH_FAST runs exact)"
                   % ("KBIT_CPU_FAST=none" if fast == "none"
                      else "no AMX-BF16 or AVX512_BF16 kernel for this CPU, OS or variant"))
    out.append("python:        kbit %s, libkbit %s (%s)" % (__version__, path, how))
    return "\n".join(out) + "\n"
