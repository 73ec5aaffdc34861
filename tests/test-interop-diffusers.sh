#!/bin/sh
# tests/test-interop-diffusers.sh - run tests/test_interop_diffusers.py (kbit
# against diffusers + bitsandbytes: the same files as diffusers' own
# quantized save, diffusers loading kbit's output, the quantization rule
# class by class) when a Python with torch, bitsandbytes, safetensors,
# transformers, accelerate and diffusers is there: $KBIT_PYTHON, else the
# interop venv scripts/check makes in the build directory, else python3.
# Otherwise one skip that says why. Run from the top build directory.
srcdir=${srcdir:-$(dirname "$0")/..}
py=${KBIT_PYTHON:-}
if [ -z "$py" ] && [ -x ./interop-venv/bin/python ]; then
    py=./interop-venv/bin/python
fi
py=${py:-python3}
skip() {
    echo "1..1"
    echo "ok 1 - interop with diffusers + bitsandbytes # SKIP $1"
    exit 0
}
command -v "$py" >/dev/null 2>&1 || skip "no Python ($py)"
missing=$("$py" -c '
import importlib
gone = []
for m in ("torch", "bitsandbytes", "safetensors", "transformers", "accelerate", "diffusers"):
    try:
        importlib.import_module(m)
    except Exception:
        gone.append(m)
print(" ".join(gone))' 2>/dev/null) || skip "$py cannot run"
[ -z "$missing" ] || skip "$py lacks: $missing (scripts/check installs them when PyPI is reachable)"
[ -x ./tests/kbit-dfs-rule ] || skip "tests/kbit-dfs-rule is not built"
work=$(mktemp -d "${TMPDIR:-/tmp}/kbit-interop-diffusers.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
"$py" "$srcdir/tests/test_interop_diffusers.py" ./tools/kbit ./tests/kbit-dfs-rule "$work" \
    2>"$work.err"
status=$?
if [ "$status" -ne 0 ]; then
    sed 's/^/# /' "$work.err" | tail -n 40
fi
rm -f "$work.err"
exit "$status"
