#!/bin/sh
# tests/test-interop-diffusers.sh - run tests/test_interop_diffusers.py (kbit
# against diffusers + bitsandbytes: the same files as diffusers' own
# quantized save, diffusers loading kbit's output, the quantization rule
# class by class) when a Python with torch, bitsandbytes, safetensors,
# transformers, accelerate and diffusers is there: $KBIT_PYTHON, else the
# interop venv scripts/check makes in the build directory, else python3.
# Otherwise one skip that says why. Run from the top build directory.
srcdir=${srcdir:-$(dirname "$0")/..}
. "$(dirname "$0")/lib.sh"
what="interop with diffusers + bitsandbytes"
need_python "$what" torch bitsandbytes safetensors transformers accelerate diffusers
[ -x ./tests/kbit-dfs-rule ] || skip_all "$what" "tests/kbit-dfs-rule is not built"
work=$(mktemp -d "${TMPDIR:-/tmp}/kbit-interop-diffusers.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
run_python "$srcdir/tests/test_interop_diffusers.py" ./tools/kbit ./tests/kbit-dfs-rule "$work"
