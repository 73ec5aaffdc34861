#!/bin/sh
# tests/test-oclgrind.sh - TAP: a small case of every OpenCL kernel
# (tests/oclgrind_ops) under oclgrind --data-races, built with
# -cl-opt-disable (oclgrind's numbers are wrong at its default
# optimisation; they are never checked here: kbit conformance on PoCL is
# the numbers check). Asserts, from oclgrind's reports: no data race, no
# out-of-bounds access, no divergent barrier, no other oclgrind error, and
# that every kernel of backends/opencl/ops.c's kernel_names[] ran (from
# --inst-counts), so a new kernel without a case here fails.
#
# oclgrind lacks correctly rounded fp32 divide/sqrt, so kbit gives its
# device no families; KBIT_OPENCL_OCLGRIND=races waives that on the
# platform named "Oclgrind" only (backends/opencl/devices.c), for this run.
# Skips, saying why, without oclgrind or the OpenCL driver. Run from the top
# build directory.
top=${srcdir:-$(dirname "$0")/..}
prog=tests/oclgrind_ops
if ! command -v oclgrind >/dev/null 2>&1; then
    echo "1..0 # SKIP oclgrind is not installed (apt-get install oclgrind)"
    exit 0
fi
if [ ! -x "$prog" ]; then
    echo "1..0 # SKIP the OpenCL driver is not built (configure: OpenCL headers and ICD loader)"
    exit 0
fi
w=$(mktemp -d "${TMPDIR:-/tmp}/kbit-test-oclgrind.XXXXXX") || exit 1
trap 'rm -rf "$w"' EXIT
limit=
command -v timeout >/dev/null 2>&1 && limit="timeout 300"

KBIT_OPENCL_OCLGRIND=races OCLGRIND_BUILD_OPTIONS=-cl-opt-disable \
    $limit oclgrind --data-races --inst-counts --log "$w/log" "$prog" >"$w/out" 2>"$w/err"
rc=$?
if [ "$rc" -eq 77 ]; then
    echo "1..0 # SKIP $(cat "$w/err")"
    exit 0
fi
echo "1..6"
if [ "$rc" -eq 0 ] && ! grep -q '^FAILED' "$w/out"; then
    echo "ok 1 - every op ran on oclgrind's device ($(grep -c '^ran:' "$w/out") cases)"
else
    echo "not ok 1 - the ops did not all run (status $rc)"
    grep -h '^FAILED\|^oclgrind' "$w/out" "$w/err" | sed 's/^/# /' | head -n 20
fi

# Each report starts on an unindented line; what follows is indented.
reports() { grep -c "$1" "$w/log"; }
check() { # $1 = test number, $2 = what, $3 = pattern
    c=$(reports "$3")
    if [ "$c" -eq 0 ]; then
        echo "ok $1 - no $2"
    else
        echo "not ok $1 - $c oclgrind report(s) of $2:"
        grep -A 12 -m 1 "$3" "$w/log" | sed 's/^/# /'
    fi
}
check 2 "data race" 'data race'
check 3 "out-of-bounds access" '^Invalid \(read\|write\)\|out-of-bounds\|out of bounds'
check 4 "divergent barrier" '[Dd]ivergence'
other=$(grep -v '^[[:space:]]' "$w/log" | grep -v '^$' |
    grep -v 'data race\|^Invalid \(read\|write\)\|out-of-bounds\|out of bounds\|[Dd]ivergence')
if [ -z "$other" ] && ! grep -q '^Oclgrind' "$w/err"; then
    echo "ok 5 - no other oclgrind report"
else
    echo "not ok 5 - other oclgrind reports:"
    { echo "$other"; grep '^Oclgrind' "$w/err"; } | sed 's/^/# /' | head -n 20
fi

# kernel_names[] of ops.c against the kernels oclgrind counted.
names=$(sed -n '/kernel_names\[KCL_K_COUNT\] = {/,/};/p' "$top/backends/opencl/ops.c" |
    grep -o '"kbit_cl_[a-z0-9_]*"' | tr -d '"')
missing=
for k in $names; do
    grep -q "^Instructions executed for kernel '$k'" "$w/out" || missing="$missing $k"
done
if [ -z "$names" ]; then
    echo "not ok 6 - no kernel names found in backends/opencl/ops.c (kernel_names[])"
elif [ -z "$missing" ]; then
    echo "ok 6 - every kernel ran:" $names
else
    echo "not ok 6 - kernels with no case in tests/oclgrind_ops.c:$missing"
fi
