#!/bin/sh
# tools/test-cli.sh - TAP test of the `kbit` command line: exit statuses,
# usage on stderr, `kbit info`, a tiny `kbit bench quant`, the options of
# `kbit conformance` and the quickstart demo. Run from the top build
# directory by `make check`.
kbit=${KBIT_PROG:-./tools/kbit}
example=${KBIT_EXAMPLE:-./tools/kbit-example}
out=${TMPDIR:-/tmp}/kbit-test-cli.$$
trap 'rm -f "$out".*' EXIT

echo "1..20"
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; sed 's/^/# /' "$out.err" "$out.out" 2>/dev/null | head -n 40; }
# expect STATUS DESCRIPTION COMMAND...: run it, check the exit status
expect() {
    want=$1 what=$2
    shift 2
    "$@" >"$out.out" 2>"$out.err"
    got=$?
    if [ "$got" -eq "$want" ]; then ok "$what"; else echo "# exit status $got, wanted $want"; not_ok "$what"; fi
}
# contains FILE TEXT DESCRIPTION
contains() {
    if grep -q -e "$2" "$1"; then ok "$3"; else echo "# no '$2' in the output"; not_ok "$3"; fi
}

expect 0 "kbit --version" "$kbit" --version
contains "$out.out" "^kbit [0-9]" "--version prints the version"
expect 2 "kbit without a command exits 2" "$kbit"
expect 2 "an unknown command exits 2" "$kbit" frobnicate
contains "$out.err" "usage: kbit" "an unknown command prints the usage on stderr"
expect 0 "kbit info" "$kbit" info
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

expect 2 "kbit bench quant rejects an unknown option" "$kbit" bench quant --frobnicate
expect 0 "kbit bench quant on a small tensor" \
    "$kbit" bench quant --device cpu --size 64x100 --reps 3 --threads 1 --cache-mib 1 --no-bnb
expect 2 "kbit bench optim rejects an unknown option" "$kbit" bench optim --frobnicate x
expect 0 "kbit bench optim on a small tensor" \
    "$kbit" bench optim --device cpu --sizes 1 --reps 1 --threads 1 --cache-mib 1
expect 0 "the quickstart demo runs on the CPU" "$example" cpu

# kbit conformance: usage errors, --list, a device that is not there
expect 2 "kbit conformance rejects an unknown option" "$kbit" conformance --frobnicate
expect 2 "kbit conformance rejects an unknown family" "$kbit" conformance --family nope
contains "$out.err" "unknown family 'nope'" "kbit conformance names the unknown family"
expect 0 "kbit conformance --list" "$kbit" conformance --list --device cpu --isa scalar,avx2 --threads 1,2
contains "$out.out" "cpu/avx2/t2" "kbit conformance --list shows the targets"
expect 1 "kbit conformance fails on a device that cannot be opened" \
    "$kbit" conformance --device nosuch:0 --family quant8 --quick
