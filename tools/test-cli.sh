#!/bin/sh
# tools/test-cli.sh - TAP test of the `kbit` command line: exit statuses,
# usage on stderr, `kbit info`, a tiny `kbit bench quant`, the options of
# `kbit conformance` and the quickstart demo. Run from the top build
# directory by `make check`.
kbit=${KBIT_PROG:-./tools/kbit}
example=${KBIT_EXAMPLE:-./tools/kbit-example}
out=${TMPDIR:-/tmp}/kbit-test-cli.$$
trap 'rm -f "$out".*' EXIT
. "$(dirname "$0")/../tests/lib.sh"
tap_out=$out.out tap_err=$out.err

echo "1..20"
# contains FILE TEXT DESCRIPTION
contains() {
    if grep -q -e "$2" "$1"; then ok "$3"; else echo "# no '$2' in the output"; not_ok "$3"; fi
}

run 0 "kbit --version" "$kbit" --version
contains "$out.out" "^kbit [0-9]" "--version prints the version"
run 2 "kbit without a command exits 2" "$kbit"
run 2 "an unknown command exits 2" "$kbit" frobnicate
contains "$out.err" "usage: kbit" "an unknown command prints the usage on stderr"
run 0 "kbit info" "$kbit" info
contains "$out.out" "(built in)" "kbit info lists the built-in CPU driver"
contains "$out.out" "^cpu variant: " "kbit info names the CPU variant"

# The test drivers (KBIT_DRIVER_PATH from the test environment) include some
# that must be refused: kbit info shows why.
badabi=""
old_ifs=$IFS
IFS=:
for dir in ${KBIT_DRIVER_PATH:-}; do
    [ -f "$dir/kbit-badabi.so" ] && badabi="$dir/kbit-badabi.so"
done
IFS=$old_ifs
if [ -n "$badabi" ]; then
    "$kbit" info >"$out.out" 2>"$out.err"
    contains "$out.out" "reason: .*ABI" "kbit info explains a refused driver"
else
    n=$((n + 1)); echo "ok $n # SKIP no test driver kbit-badabi.so on KBIT_DRIVER_PATH"
fi

run 2 "kbit bench quant rejects an unknown option" "$kbit" bench quant --frobnicate
run 0 "kbit bench quant on a small tensor" \
    "$kbit" bench quant --device cpu --size 64x100 --reps 3 --threads 1 --cache-mib 1 --no-bnb
run 2 "kbit bench optim rejects an unknown option" "$kbit" bench optim --frobnicate x
run 0 "kbit bench optim on a small tensor" \
    "$kbit" bench optim --device cpu --sizes 1 --reps 1 --threads 1 --cache-mib 1
run 0 "the quickstart demo runs on the CPU" "$example" cpu

# kbit conformance: usage errors, --list, a device that is not there
run 2 "kbit conformance rejects an unknown option" "$kbit" conformance --frobnicate
run 2 "kbit conformance rejects an unknown family" "$kbit" conformance --family nope
contains "$out.err" "unknown family 'nope'" "kbit conformance names the unknown family"
run 0 "kbit conformance --list" "$kbit" conformance --list --device cpu --isa scalar,avx2 --threads 1,2
contains "$out.out" "cpu/avx2/t2" "kbit conformance --list shows the targets"
run 1 "kbit conformance fails on a device that cannot be opened" \
    "$kbit" conformance --device nosuch:0 --family quant8 --quick
