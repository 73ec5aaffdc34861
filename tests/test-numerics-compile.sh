#!/bin/sh
# tests/test-numerics-compile.sh - TAP test: the headers of numerics/ compile,
# warning-free, for every kind of code that uses them:
#   - C11 (the core and the CPU driver): each header alone (it includes what
#     it needs) and tests/numerics_check.c, which includes all of them and
#     calls every function, with -std=c11 -pedantic -Wall -Wextra -Werror;
#   - CUDA: tests/numerics_check.cu, every function called from a kernel
#     (device pass) and from host code (host pass), nvcc -c with the CUDA
#     driver's numerics flags, every warning an error (skipped, saying so,
#     when configure found no nvcc);
#   - HIP: the same file with hipcc and -ffp-contract=off (skipped without
#     hipcc).
# OpenCL C is built and run by tests/test_numerics_opencl (on PoCL in CI).
#
# Environment (tests/local.mk): KBIT_TEST_CC, KBIT_TEST_NVCC,
# KBIT_TEST_CUDA_GENCODE, KBIT_TEST_HIPCC, KBIT_TEST_HIP_ARCH. POSIX sh.

top=${srcdir:-$(dirname "$0")/..}
cc=${KBIT_TEST_CC:-cc}
nvcc=${KBIT_TEST_NVCC:-}
hipcc=${KBIT_TEST_HIPCC:-}
w=$(mktemp -d "${TMPDIR:-/tmp}/kbit-test-numcompile.XXXXXX") || exit 1
trap 'rm -rf "$w"' EXIT

n=0
pass() { n=$((n + 1)); echo "ok $n - $1"; }
fail() { n=$((n + 1)); echo "not ok $n - $1"; sed 's/^/# /' "$w/log"; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }

inc="-I$top -I$top/include -I$top/tests"
cflags="-std=c11 -pedantic -Wall -Wextra -Werror"

for h in "$top"/numerics/*.h; do
    name=$(basename "$h")
    printf '#include "numerics/%s"\n' "$name" > "$w/one.c"
    # shellcheck disable=SC2086  # flag lists are meant to be split
    if $cc $cflags $inc -c "$w/one.c" -o "$w/one.o" > "$w/log" 2>&1; then
        pass "numerics/$name compiles alone as C11 ($cflags)"
    else
        fail "numerics/$name compiles alone as C11 ($cflags)"
    fi
done

# shellcheck disable=SC2086
if $cc $cflags $inc -c "$top/tests/numerics_check.c" -o "$w/check.o" > "$w/log" 2>&1; then
    pass "every numerics/ function called from C11 ($cflags)"
else
    fail "every numerics/ function called from C11 ($cflags)"
fi

if [ -z "$nvcc" ]; then
    skip "every numerics/ function in a CUDA kernel and in host code (nvcc -c)" \
        "configure found no working nvcc (the CUDA driver is not built either)"
else
    # One architecture is enough to check the device pass: the first one
    # the CUDA driver is built for.
    # shellcheck disable=SC2086
    set -- $KBIT_TEST_CUDA_GENCODE
    gencode=${1:--arch=sm_80}
    # shellcheck disable=SC2086
    if $nvcc -c -std=c++17 $gencode -fmad=false -prec-div=true -prec-sqrt=true -ftz=false \
        -Werror all-warnings --compiler-options=-Wall,-Wextra,-Werror,-ffp-contract=off \
        $inc -o "$w/check_cu.o" "$top/tests/numerics_check.cu" > "$w/log" 2>&1; then
        pass "every numerics/ function in a CUDA kernel and in host code (nvcc -c $gencode)"
    else
        fail "every numerics/ function in a CUDA kernel and in host code (nvcc -c $gencode)"
    fi
fi

if [ -z "$hipcc" ]; then
    skip "every numerics/ function in a HIP kernel and in host code (hipcc -c)" \
        "configure found no hipcc (apt-get install hipcc libamdhip64-dev)"
else
    arch=${KBIT_TEST_HIP_ARCH:-gfx90a}
    # shellcheck disable=SC2086
    if $hipcc -x hip -c --offload-arch="$arch" -ffp-contract=off -Wall -Werror $inc \
        -o "$w/check_hip.o" "$top/tests/numerics_check.cu" > "$w/log" 2>&1; then
        pass "every numerics/ function in a HIP kernel and in host code (hipcc --offload-arch=$arch)"
    else
        fail "every numerics/ function in a HIP kernel and in host code (hipcc --offload-arch=$arch)"
    fi
fi

echo "1..$n"
