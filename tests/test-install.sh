#!/bin/sh
# tests/test-install.sh - the installed layout works: `make install
# DESTDIR=STAGE` into a temporary directory, then the staged kbit runs
# `kbit conformance --quick` with KBIT_DRIVER_PATH and KBIT_VECTORS_DIR
# unset, so it finds the golden vectors where the install put them
# (STAGE$(pkgdatadir)/vectors, found from the program's own place) and uses
# the staged libkbit. Run from the top build directory by `make check`, which
# gives the install's paths (KBIT_MAKE, KBIT_INSTALL_BINDIR,
# KBIT_INSTALL_LIBDIR, KBIT_VECTORS_INSTALL_DIR: tests/local.mk).
stage=$(mktemp -d "${TMPDIR:-/tmp}/kbit-test-install.XXXXXX") || exit 1
trap 'rm -rf "$stage"' EXIT

echo "1..7"
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; [ -f "$2" ] && sed 's/^/# /' "$2" | tail -n 40; }
skip_rest() {
    while [ "$n" -lt 7 ]; do n=$((n + 1)); echo "ok $n # SKIP $1"; done
    exit 0
}

if [ -z "${KBIT_MAKE:-}" ] || [ -z "${KBIT_INSTALL_BINDIR:-}" ]; then
    skip_rest "run by make check (it gives KBIT_MAKE and the install's paths)"
fi

# a make of its own: not the jobserver of the make check that runs this
if env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL $KBIT_MAKE install DESTDIR="$stage" \
    >"$stage/install.log" 2>&1; then
    ok "make install DESTDIR=STAGE"
else
    not_ok "make install DESTDIR=STAGE" "$stage/install.log"
    skip_rest "make install failed"
fi

kbit=$stage$KBIT_INSTALL_BINDIR/kbit
vectors=$stage$KBIT_VECTORS_INSTALL_DIR
if [ -x "$kbit" ]; then ok "kbit is installed in \$(bindir)"; else not_ok "kbit is installed in \$(bindir)"; fi
missing=
for f in q4 q8 nested gemv4 int8 optim; do
    [ -f "$vectors/$f.safetensors" ] || missing="$missing $f"
done
if [ -z "$missing" ] && [ -f "$vectors/README.md" ]; then
    ok "the golden vectors are installed in \$(pkgdatadir)/vectors"
else
    not_ok "the golden vectors are installed in \$(pkgdatadir)/vectors (missing:$missing)"
fi

# the staged program with the staged library, nothing from the build tree
run() {
    env -u KBIT_DRIVER_PATH -u KBIT_VECTORS_DIR -u KBIT_TEST_SEED -u KBIT_CPU_ISA \
        -u KBIT_CPU_TUNING \
        LD_LIBRARY_PATH="$stage$KBIT_INSTALL_LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
        "$kbit" "$@"
}
run conformance --list >"$stage/list.out" 2>&1
if grep -q "^golden vectors: $vectors, 6 files" "$stage/list.out"; then
    ok "kbit conformance --list finds the installed vectors"
else
    not_ok "kbit conformance --list finds the installed vectors" "$stage/list.out"
fi

run conformance --quick >"$stage/quick.out" 2>&1
status=$?
if [ "$status" -eq 0 ]; then
    ok "kbit conformance --quick exits 0"
else
    not_ok "kbit conformance --quick exits 0 (exit $status)" "$stage/quick.out"
fi
fails=$(grep -c '^not ok' "$stage/quick.out")
passes=$(grep -c '^ok' "$stage/quick.out")
if [ "$fails" -eq 0 ] && [ "$passes" -gt 20 ] && grep -q '^1\.\.[0-9]' "$stage/quick.out"; then
    ok "kbit conformance --quick: $passes checks passed, none failed"
else
    not_ok "kbit conformance --quick: $passes passed, $fails failed" "$stage/quick.out"
fi
families=
for f in quant4 quant8 gemm4 int8 optim; do
    grep -q "^ok [0-9]* - $f: .*bit-exact" "$stage/quick.out" || families="$families $f"
done
if [ -z "$families" ] && grep -q "^ok [0-9]* - golden: vector files in $vectors: 6" "$stage/quick.out"; then
    ok "every family ran, on the installed vectors"
else
    not_ok "every family ran, on the installed vectors (missing:$families)" "$stage/quick.out"
fi
