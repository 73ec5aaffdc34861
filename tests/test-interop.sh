#!/bin/sh
# tests/test-interop.sh - run tests/test_interop.py (kbit checkpoints against
# torch + bitsandbytes + safetensors + transformers + accelerate) when a
# Python with those modules is there: $KBIT_PYTHON, else the interop venv
# scripts/check may have made in the build directory, else python3.
# Otherwise one skip that says why. Run from the top build directory.
srcdir=${srcdir:-$(dirname "$0")/..}
kbit=./tools/kbit
genmodel=./tools/kbit-genmodel
. "$(dirname "$0")/lib.sh"
need_python "interop with torch, bitsandbytes, safetensors, transformers" \
    torch bitsandbytes safetensors transformers accelerate
work=$(mktemp -d "${TMPDIR:-/tmp}/kbit-interop.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
run_python "$srcdir/tests/test_interop.py" "$kbit" "$genmodel" "$work"
