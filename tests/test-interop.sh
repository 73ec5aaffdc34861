#!/bin/sh
# tests/test-interop.sh - run tests/test_interop.py (kbit checkpoints against
# torch + bitsandbytes + safetensors + transformers + accelerate) when a
# Python with those modules is there: $KBIT_PYTHON, else the interop venv
# scripts/check may have made in the build directory, else python3.
# Otherwise one skip that says why. Run from the top build directory.
srcdir=${srcdir:-$(dirname "$0")/..}
kbit=./tools/kbit
genmodel=./tools/kbit-genmodel
py=${KBIT_PYTHON:-}
if [ -z "$py" ] && [ -x ./interop-venv/bin/python ]; then
    py=./interop-venv/bin/python
fi
py=${py:-python3}
skip() {
    echo "1..1"
    echo "ok 1 - interop with torch, bitsandbytes, safetensors, transformers # SKIP $1"
    exit 0
}
command -v "$py" >/dev/null 2>&1 || skip "no Python ($py)"
missing=$("$py" -c '
import importlib, sys
gone = []
for m in ("torch", "bitsandbytes", "safetensors", "transformers", "accelerate"):
    try:
        importlib.import_module(m)
    except Exception:
        gone.append(m)
print(" ".join(gone))' 2>/dev/null) || skip "$py cannot run"
[ -z "$missing" ] || skip "$py lacks: $missing (scripts/check installs them when PyPI is reachable)"
work=$(mktemp -d "${TMPDIR:-/tmp}/kbit-interop.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
"$py" "$srcdir/tests/test_interop.py" "$kbit" "$genmodel" "$work" 2>"$work.err"
status=$?
# the libraries' own chatter goes to the log only when something failed
if [ "$status" -ne 0 ]; then
    sed 's/^/# /' "$work.err" | tail -n 40
fi
rm -f "$work.err"
exit "$status"
