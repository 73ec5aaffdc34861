"""kbit._loader - find libkbit and load it (once per process).

Where the library comes from, first match wins:
  1. KBIT_LIBRARY: a path to libkbit.so* (or a directory holding one);
  2. the copy bundled in this package (kbit/_native/, put there by
     `pip install`, which builds it with the project's Autotools build);
  3. the path recorded at build time when `pip install` found an installed
     libkbit (KBIT_LIBRARY or pkg-config at build time);
  4. pkg-config's `kbit` (libdir), then the dynamic linker's search path.

Driver plugins: before the library is loaded, the package's bundled plugin
directory (kbit/_native/plugins) is put first in KBIT_DRIVER_PATH for this
process, so the plugins built with the bundled library are the ones it loads.
When the library itself lies in a directory that also holds kbit-*.so plugins
(a build tree's .libs), that directory is added the same way.
"""
import ctypes
import ctypes.util
import glob
import os
import subprocess
import threading

from . import _lib

_here = os.path.dirname(os.path.abspath(__file__))
NATIVE_DIR = os.path.join(_here, "_native")
BUNDLED_PLUGIN_DIR = os.path.join(NATIVE_DIR, "plugins")

_lock = threading.Lock()
_loaded = None      # the _lib.Library once loaded
_how = None         # a few words on where it came from
_plugin_dir = None  # the plugin directory compiled into the library, when known


def _build_info():
    try:
        from . import _build_info as bi  # written by setup.py at build time
        return bi
    except ImportError:
        return None


def _lib_in_dir(d):
    for name in ("libkbit.so.1", "libkbit.so", "libkbit.dylib"):
        p = os.path.join(d, name)
        if os.path.isfile(p):
            return p
    found = sorted(glob.glob(os.path.join(d, "libkbit.so.*")))
    return found[0] if found else None


def _pkg_config(var):
    try:
        out = subprocess.run(["pkg-config", "--variable=" + var, "kbit"], capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    v = out.stdout.strip()
    return v if out.returncode == 0 and v else None


def _candidates():
    env = os.environ.get("KBIT_LIBRARY")
    if env:
        p = _lib_in_dir(env) if os.path.isdir(env) else env
        if not p or not os.path.exists(p):
            raise OSError("kbit: KBIT_LIBRARY=%s is not libkbit (no such file, or a directory "
                          "without libkbit.so*)" % env)
        yield p, "KBIT_LIBRARY", None
        return
    bi = _build_info()
    p = _lib_in_dir(NATIVE_DIR)
    if p:
        yield p, "bundled with the package", getattr(bi, "PLUGIN_DIR", None)
    recorded = getattr(bi, "LIBRARY", None)
    if recorded and os.path.exists(recorded):
        yield recorded, "recorded at build time", getattr(bi, "PLUGIN_DIR", None)
    libdir = _pkg_config("libdir")
    if libdir:
        p = _lib_in_dir(libdir)
        if p:
            yield p, "pkg-config", _pkg_config("plugindir")
    name = ctypes.util.find_library("kbit")
    if name:
        yield name, "the dynamic linker's search path", None


def _prepend_driver_path(d):
    if not d or not os.path.isdir(d) or not glob.glob(os.path.join(d, "kbit-*.so")):
        return
    cur = os.environ.get("KBIT_DRIVER_PATH", "")
    parts = [x for x in cur.split(":") if x]
    if d not in parts:
        # os.environ writes through to the C environment (putenv), where
        # libkbit reads it when it first scans for drivers.
        os.environ["KBIT_DRIVER_PATH"] = ":".join([d] + parts)


def load():
    """The loaded library (a kbit._lib.Library), loading it on first use."""
    global _loaded, _how, _plugin_dir
    if _loaded is not None:
        return _loaded
    with _lock:
        if _loaded is not None:
            return _loaded
        tried = []
        for path, how, plugin_dir in _candidates():
            if how == "bundled with the package":
                _prepend_driver_path(BUNDLED_PLUGIN_DIR)
            elif os.path.sep in path:
                _prepend_driver_path(os.path.dirname(os.path.abspath(path)))
            try:
                cdll = ctypes.CDLL(path)
            except OSError as e:
                tried.append("%s (%s): %s" % (path, how, e))
                continue
            lib = _lib.Library(cdll, path)
            _check_version(lib)
            _lib.check_layout(lib)
            _loaded, _how, _plugin_dir = lib, how, plugin_dir
            return lib
        raise OSError("kbit: libkbit not found. Install the package with `pip install ./python` "
                      "from a kbit checkout (it builds the library), install libkbit (pkg-config "
                      "kbit), or set KBIT_LIBRARY to its path." +
                      ("".join("\n  tried " + t for t in tried)))


def _check_version(lib):
    v = lib.kbit_version().decode()
    try:
        major, minor = (int(x) for x in v.split(".")[:2])
    except ValueError:
        raise OSError("kbit: %s reports version %r" % (lib.path, v))
    if (major, minor) != _lib.HEADER_VERSION:
        raise OSError("kbit: %s is libkbit %s, but this package mirrors kbit.h %d.%d"
                      % (lib.path, v, _lib.HEADER_VERSION[0], _lib.HEADER_VERSION[1]))


def where():
    """(path, how it was found, the plugin directory compiled into it or None)."""
    load()
    return _loaded.path, _how, _plugin_dir
