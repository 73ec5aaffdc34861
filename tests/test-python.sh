#!/bin/sh
# tests/test-python.sh - the Python package's pytest suite (python/tests) on
# the libkbit of this build, as TAP: one line per pytest test (written by
# python/tests/conftest.py), skips with their reasons. Python: $KBIT_PYTHON,
# else the interop venv scripts/check may have made in the build directory,
# else python3. Without numpy, torch or pytest: one skip that says why.
# Run from the top build directory (make check does).
srcdir=${srcdir:-$(dirname "$0")/..}
. "$(dirname "$0")/lib.sh"
bail() {
    echo "1..1"
    echo "not ok 1 - python package tests: $1"
    [ -n "${2:-}" ] && [ -f "$2" ] && tail -n 40 "$2" | sed 's/^/# /'
    exit 1
}
need_python "python package tests" numpy torch pytest
[ -f ./.libs/libkbit.so ] || bail "no ./.libs/libkbit.so (run from the top build directory after make)"
work=$(mktemp -d "${TMPDIR:-/tmp}/kbit-python.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
abs=$(pwd)
KBIT_LIBRARY="$abs/.libs/libkbit.so" KBIT_TOOL="$abs/tools/kbit" \
    KBIT_GENMODEL="$abs/tools/kbit-genmodel" KBIT_TAP_FILE="$work/tap" \
    KBIT_STRUCT_LAYOUT="$abs/tests/kbit-struct-layout" \
    PYTHONDONTWRITEBYTECODE=1 \
    timeout "${KBIT_PYTHON_TIMEOUT:-900}" "$py" -m pytest -q -p no:cacheprovider \
    --basetemp "$work/tmp" "$srcdir/python/tests" >"$work/log" 2>&1
status=$?
[ -s "$work/tap" ] || bail "pytest wrote no results (exit $status)" "$work/log"
grep -q '^1\.\.[0-9]' "$work/tap" || {
    cat "$work/tap"
    echo "not ok - pytest stopped before the end (exit $status)"
    tail -n 40 "$work/log" | sed 's/^/# /'
    n=$(grep -c '^\(not \)\?ok ' "$work/tap")
    echo "1..$n"
    exit 1
}
# pytest exits 0 (all passed) or 1 (a failure, already a "not ok" line);
# anything else after a complete plan is a crash after the last test (a
# segfault at interpreter exit, say), which must fail too.
case $status in
0 | 1)
    cat "$work/tap"
    ;;
*)
    n=$(grep -c '^\(not \)\?ok ' "$work/tap")
    grep -v '^1\.\.[0-9]' "$work/tap"
    echo "not ok $((n + 1)) - pytest exited with status $status after its last test"
    tail -n 40 "$work/log" | sed 's/^/# /'
    echo "1..$((n + 1))"
    ;;
esac
# pytest's own summary for the log
tail -n 1 "$work/log" | sed 's/^/# pytest: /'
[ "$status" -eq 0 ] || [ "$status" -eq 1 ] || exit 1
exit 0
