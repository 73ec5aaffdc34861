#!/bin/sh
# tests/test-conformance-fault.sh - `kbit conformance` can fail: on the
# driver testfault (tests/drivers/testref.c built with KBIT_TESTREF_FAULT:
# one flipped bit in the 8-bit quantize of every call with n >= 4096) it
# exits 1, reports the faulty op as not ok on the golden vectors and on the
# randomized cases, names the first differing element, and still passes the
# op that has no fault. Run from the top build directory by `make check`.
kbit=${KBIT_PROG:-./tools/kbit}
plugin=tests/drivers/fault/.libs/kbit-testfault.so
out=$(mktemp "${TMPDIR:-/tmp}/kbit-test-fault.XXXXXX") || exit 1
trap 'rm -f "$out"' EXIT

echo "1..5"
n=0
check() {
    n=$((n + 1))
    if eval "$1"; then echo "ok $n - $2"; else echo "not ok $n - $2"; sed 's/^/# /' "$out" | head -n 40; fi
}
if [ ! -f "$plugin" ]; then
    for i in 1 2 3 4 5; do echo "ok $i # SKIP $plugin was not built"; done
    exit 0
fi

KBIT_DRIVER_PATH=$plugin "$kbit" conformance --device testfault:0 --family quant8 --quick \
    >"$out" 2>&1
status=$?
check '[ "$status" -eq 1 ]' "kbit conformance exits 1 on a device with one wrong bit (exit $status)"
check 'grep -q "^not ok [0-9]* - quant8: q8.safetensors quantize_blockwise on testfault:0/ref/t1: .* compared ([1-9][0-9]* mismatches" "$out"' \
    "the golden vectors of 8-bit quantize are not ok, with the count of mismatches"
check 'grep -q "^not ok [0-9]* - quant8: quantize_8bit on testfault:0/ref/t1: " "$out"' \
    "the randomized cases of 8-bit quantize are not ok"
check 'grep -q "^# .*: q: 1 of [0-9]* elements differ; first at \[[0-9]*\]: got 0x[0-9a-f]*, want 0x[0-9a-f]*" "$out"' \
    "a diagnostic names the output, the first differing element and both bit patterns"
check 'grep -q "^ok [0-9]* - quant8: dequantize_8bit on testfault:0/ref/t1: .*0 mismatches" "$out"' \
    "the op without a fault still passes"
