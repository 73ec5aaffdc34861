#!/bin/sh
# tests/test-gpu-emu.sh - TAP: the CUDA kernels of every family with CUDA
# wrappers, run on CPU threads through the test-only emulation
# (tests/gpu-emu/README.md), bit for bit against the scalar reference, as
# launched and with the grid capped to one group; under ThreadSanitizer
# when configure found it working: any report it prints is a failure.
# Checks the work split, the indexing and the barriers of backends/gpu, not
# nvcc's code generation. Run from the top build directory.
prog=tests/gpu-emu/emu-check
if [ ! -x "$prog" ]; then
    echo "1..0 # SKIP no CUDA-on-CPU emulation: ${KBIT_EMU_WHY:-not built (configure)}"
    exit 0
fi
w=$(mktemp -d "${TMPDIR:-/tmp}/kbit-test-gpuemu.XXXXXX") || exit 1
trap 'rm -rf "$w"' EXIT

# Every report, not the first only; a race is a failure, not a crash.
TSAN_OPTIONS="halt_on_error=0 exitcode=66 history_size=4 ${TSAN_OPTIONS:-}"
export TSAN_OPTIONS
"$prog" "$@" >"$w/out" 2>"$w/err"
rc=$?
grep -v '^1\.\.' "$w/out"
n=$(grep -c '^\(not \)\{0,1\}ok ' "$w/out")

n=$((n + 1))
if grep -q 'ThreadSanitizer' "$w/err"; then
    echo "not ok $n - ThreadSanitizer reports:"
    sed 's/^/# /' "$w/err" | head -n 60
elif [ -z "$(nm "$prog" 2>/dev/null | grep -m 1 __tsan_init)" ]; then
    echo "ok $n - ThreadSanitizer # SKIP ${KBIT_EMU_WHY:-not built with -fsanitize=thread}"
else
    echo "ok $n - no ThreadSanitizer report"
fi
n=$((n + 1))
if [ "$rc" -eq 0 ] || grep -q '^not ok' "$w/out"; then
    echo "ok $n - the program ran to its end (status $rc)"
else
    echo "not ok $n - the program ended with status $rc"
    sed 's/^/# /' "$w/err" | tail -n 20
fi
echo "1..$n"
