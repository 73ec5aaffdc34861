"""`pip install ./python` from a copy of this checkout into a fresh venv:
the build hook builds libkbit with the project's Autotools build, bundles it
and its plugins, and the installed package imports and runs with no
environment variable set (and without torch: NumPy only). About a minute
on 2 cores; KBIT_TEST_PIP_INSTALL=0 skips it. Needs PyPI (setuptools,
wheel, numpy from pip's cache or the network); without it the test skips."""
import os
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLEAN = ("KBIT_LIBRARY", "KBIT_DRIVER_PATH", "KBIT_TOOL", "KBIT_GENMODEL", "PYTHONPATH",
         "KBIT_TAP_FILE", "KBIT_CPU_ISA", "KBIT_CPU_TUNING", "KBIT_CONFIGURE_FLAGS",
         "KBIT_BUILD_DIR")
NETWORK = ("Could not find a version", "No matching distribution", "NewConnectionError",
           "Temporary failure in name resolution", "Network is unreachable")


def _tree_files():
    try:
        out = subprocess.run(["git", "-C", REPO, "ls-files", "-co", "--exclude-standard", "-z"],
                             capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return [f for f in out.stdout.decode().split("\0") if f]


@pytest.mark.skipif(os.environ.get("KBIT_TEST_PIP_INSTALL") == "0",
                    reason="KBIT_TEST_PIP_INSTALL=0")
def test_pip_install_builds_and_bundles_libkbit(tmp_path, tap_note):
    files = _tree_files()
    if not files:
        pytest.skip("not a git checkout (the copy is made from git's file list)")
    tree = tmp_path / "kbit"
    for f in files:
        src = os.path.join(REPO, f)
        if os.path.isfile(src) and not f.startswith((".cache/", "build/")):
            dst = tree / f
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    for generated in ("configure", "Makefile.in", "aclocal.m4", "config.h.in"):
        (tree / generated).unlink(missing_ok=True)       # as in a fresh clone
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k not in CLEAN}
    env["KBIT_JOBS"] = "2"
    p = subprocess.run([py, "-m", "pip", "install", "-q", "./python"], cwd=tree, env=env,
                       capture_output=True, text=True, timeout=900)
    log = p.stdout + p.stderr
    if p.returncode != 0 and any(s in log for s in NETWORK):
        pytest.skip("pip could not reach PyPI for setuptools / numpy")
    assert p.returncode == 0, log[-4000:]
    info = subprocess.run([py, "-m", "kbit"], cwd=tmp_path, env=env, capture_output=True,
                          text=True)
    assert info.returncode == 0, info.stderr
    assert "cpu:0" in info.stdout and "(bundled with the package)" in info.stdout, info.stdout
    site = subprocess.run([py, "-c", "import kbit, os; print(os.path.dirname(kbit.__file__))"],
                          cwd=tmp_path, env=env, capture_output=True, text=True).stdout.strip()
    plugins = sorted(os.listdir(os.path.join(site, "_native", "plugins")))
    for pl in plugins:
        assert os.path.join("_native", "plugins", pl) in info.stdout, info.stdout
    # the wheel: one for every Python 3 (no extension module), platform-specific
    wheel = [os.path.join(d, "WHEEL") for d in
             (os.path.join(os.path.dirname(site), x) for x in os.listdir(os.path.dirname(site))
              if x.startswith("kbit-") and x.endswith(".dist-info"))]
    tag = [l for l in open(wheel[0]).read().splitlines() if l.startswith("Tag:")]
    assert tag and tag[0].startswith("Tag: py3-none-"), tag
    # NumPy only (no torch in this venv), no environment
    code = ("import numpy as np, kbit.functional as F\n"
            "x = np.random.default_rng(0).standard_normal(4096).astype(np.float32)\n"
            "p, s = F.quantize_4bit(x, quant_type='nf4', compress_statistics=True)\n"
            "y = F.dequantize_4bit(p, s)\n"
            "assert y.shape == x.shape and abs(y - x).max() < 0.5 * abs(x).max()\n"
            "print('ok')\n")
    r = subprocess.run([py, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
    tap_note("pip install ./python: %s, plugins bundled: %s" % (tag[0], ", ".join(plugins) or
                                                                "none (configure built none)"))
