"""setup.py - build hook of the kbit Python package.

`pip install ./python` from a kbit checkout builds libkbit and its driver
plugins with the project's own Autotools build (bootstrap, configure, make,
make install into a staging directory) and puts them in the package
(kbit/_native/libkbit.so.1 and kbit/_native/plugins/kbit-*.so); the wheel is
then tagged py3-none-<platform>: one wheel for every Python 3.9+, no
compiled extension of its own (ctypes).

Instead of building: KBIT_LIBRARY=/path/to/libkbit.so uses an installed
library (recorded in kbit/_build_info.py; the wheel is pure), and outside a
checkout an installed libkbit is found through pkg-config.
Environment: KBIT_CONFIGURE_FLAGS (extra configure arguments, e.g.
--without-cuda), KBIT_JOBS (make -j, default 2), KBIT_BUILD_DIR (where the
library is built; default a directory under setuptools' build_temp).
"""
import glob
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:
    try:
        from wheel.bdist_wheel import bdist_wheel
    except ImportError:
        bdist_wheel = None

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PREFIX = "/usr/local"


def say(msg):
    print("kbit setup: " + msg, file=sys.stderr, flush=True)


def run(cmd, cwd):
    say("%s (in %s)" % (" ".join(cmd), cwd))
    subprocess.run(cmd, cwd=str(cwd), check=True)


def pkg_config(var):
    try:
        out = subprocess.run(["pkg-config", "--variable=" + var, "kbit"], capture_output=True,
                             text=True)
    except OSError:
        return None
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None


def find_lib(d):
    for name in ("libkbit.so.1", "libkbit.so", "libkbit.dylib"):
        p = Path(d) / name
        if p.exists():
            return p
    return None


def build_libkbit(build_temp):
    """Autotools build of the checkout at ROOT; returns (libkbit path, plugin
    files, compiled-in plugin dir)."""
    bdir = Path(os.environ.get("KBIT_BUILD_DIR") or (Path(build_temp).resolve() / "libkbit"))
    bdir.mkdir(parents=True, exist_ok=True)
    if not (ROOT / "configure").exists():
        run(["sh", "./bootstrap"], ROOT)
    flags = shlex.split(os.environ.get("KBIT_CONFIGURE_FLAGS", ""))
    stamp = bdir / ".kbit-configure-flags"
    if not (bdir / "Makefile").exists() or not stamp.exists() or stamp.read_text() != repr(flags):
        run([str(ROOT / "configure"), "--prefix=" + PREFIX] + flags, bdir)
        stamp.write_text(repr(flags))
    jobs = os.environ.get("KBIT_JOBS", "2")
    run(["make", "-j" + jobs], bdir)
    stage = bdir / "stage"
    shutil.rmtree(stage, ignore_errors=True)
    run(["make", "install", "DESTDIR=" + str(stage)], bdir)
    libdir = stage / PREFIX.lstrip("/") / "lib"
    lib = find_lib(libdir)
    if lib is None:
        raise RuntimeError("kbit setup: make install left no libkbit in %s" % libdir)
    plugins = sorted(glob.glob(str(libdir / "kbit" / "kbit-*.so")))
    return lib.resolve(), plugins, PREFIX + "/lib/kbit"


class BuildPy(build_py):
    """build_py, then libkbit: bundled (built here) or recorded (installed)."""

    def run(self):
        super().run()
        pkg = Path(self.build_lib) / "kbit"
        native = pkg / "_native"
        shutil.rmtree(native, ignore_errors=True)
        env_lib = os.environ.get("KBIT_LIBRARY")
        info = {"LIBRARY": None, "PLUGIN_DIR": None, "BUNDLED": False}
        if env_lib:
            p = Path(env_lib)
            p = find_lib(p) if p.is_dir() else p
            if p is None or not p.exists():
                raise RuntimeError("kbit setup: KBIT_LIBRARY=%s is not libkbit" % env_lib)
            info["LIBRARY"] = str(p.resolve())
            info["PLUGIN_DIR"] = pkg_config("plugindir")
            say("using the installed %s (KBIT_LIBRARY)" % info["LIBRARY"])
        elif (ROOT / "configure.ac").exists():
            build_temp = self.get_finalized_command("build").build_temp
            lib, plugins, plugin_dir = build_libkbit(build_temp)
            (native / "plugins").mkdir(parents=True)
            shutil.copy2(lib, native / "libkbit.so.1")
            for p in plugins:
                shutil.copy2(p, native / "plugins" / os.path.basename(p))
            info.update(PLUGIN_DIR=plugin_dir, BUNDLED=True)
            say("bundled libkbit and %d plugin(s): %s" % (
                len(plugins), ", ".join(os.path.basename(p) for p in plugins) or "none"))
        else:
            libdir = pkg_config("libdir")
            lib = find_lib(libdir) if libdir else None
            if lib is None:
                raise RuntimeError("kbit setup: not in a kbit checkout and no installed libkbit "
                                   "(pkg-config kbit); set KBIT_LIBRARY")
            info.update(LIBRARY=str(lib), PLUGIN_DIR=pkg_config("plugindir"))
            say("using the installed %s (pkg-config)" % lib)
        with open(pkg / "_build_info.py", "w") as f:
            f.write('"""Written by setup.py: where this installation\'s libkbit is."""\n')
            for k, v in info.items():
                f.write("%s = %r\n" % (k, v))
        self.distribution.kbit_bundled = info["BUNDLED"]


cmdclass = {"build_py": BuildPy}

if bdist_wheel is not None:
    class BdistWheel(bdist_wheel):
        """A bundled libkbit makes the wheel platform-specific, but not
        Python-specific (no extension module): py3-none-<platform>."""

        def finalize_options(self):
            super().finalize_options()
            self.root_is_pure = not self._bundles()

        def _bundles(self):
            return not os.environ.get("KBIT_LIBRARY") and (ROOT / "configure.ac").exists()

        def get_tag(self):
            py, abi, plat = super().get_tag()
            return ("py3", "none", plat) if self._bundles() else (py, abi, plat)

    cmdclass["bdist_wheel"] = BdistWheel

setup(cmdclass=cmdclass)
