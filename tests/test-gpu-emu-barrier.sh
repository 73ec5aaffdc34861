#!/bin/sh
# tests/test-gpu-emu-barrier.sh - TAP: the emulation test catches a missing
# barrier. tests/gpu-emu/emu-check-nobarrier is the emulation test built
# from a copy of backends/gpu whose first KBIT_BARRIER() in
# KBIT_EMU_DROP_BARRIER (tests/gpu-emu/local.mk; backends/gpu/blockwise.h)
# is removed; it must fail: a ThreadSanitizer race report, or a result that
# differs from the reference. Without ThreadSanitizer the removed barrier
# shows only when the threads happen to interleave badly, so a pass then is
# a skip, not a failure. Run from the top build directory.
prog=tests/gpu-emu/emu-check-nobarrier
if [ ! -x "$prog" ]; then
    echo "1..0 # SKIP no CUDA-on-CPU emulation: ${KBIT_EMU_WHY:-not built (configure)}"
    exit 0
fi
w=$(mktemp -d "${TMPDIR:-/tmp}/kbit-test-gpuemu.XXXXXX") || exit 1
trap 'rm -rf "$w"' EXIT
echo "1..1"
TSAN_OPTIONS="halt_on_error=1 exitcode=66 ${TSAN_OPTIONS:-}"
export TSAN_OPTIONS
"$prog" --quick >"$w/out" 2>"$w/err"
rc=$?
what="a KBIT_BARRIER() removed from a copy of backends/gpu/blockwise.h is caught"
if grep -q 'ThreadSanitizer: data race' "$w/err"; then
    echo "ok 1 - $what (ThreadSanitizer: data race)"
    grep -m 1 -A 3 'data race' "$w/err" | sed 's/^/# /'
elif grep -q '^not ok' "$w/out"; then
    echo "ok 1 - $what (results differ from the reference)"
    grep -m 1 '^not ok' "$w/out" | sed 's/^/# /'
elif [ -z "$(nm "$prog" 2>/dev/null | grep -m 1 __tsan_init)" ]; then
    echo "ok 1 - $what # SKIP no ThreadSanitizer (${KBIT_EMU_WHY:-}): the copy happened to give the reference's bits"
else
    echo "not ok 1 - $what: no race reported and every result matched (status $rc)"
fi
