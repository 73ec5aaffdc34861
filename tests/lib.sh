# tests/lib.sh - sourced (`. "$(dirname "$0")/lib.sh"`) by the shell TAP
# tests that run from the top build directory: the TAP counter and verdicts
# of the command-line tests (tests/test-checkpoint-cli.sh,
# tests/test-diffusers-cli.sh, tools/test-cli.sh) and the Python of the
# tests that run a Python program (tests/test-interop.sh,
# tests/test-interop-diffusers.sh, tests/test-python.sh). Plain POSIX sh.

# --- TAP lines -----------------------------------------------------------
# A test sets tap_out and tap_err: the files `run` writes, shown (as #
# lines) when a check fails; or calls scratch.
n=0
# scratch TAG: a new temporary directory $w, removed at exit, whose files
# out and err are tap_out and tap_err
scratch() {
    w=$(mktemp -d "${TMPDIR:-/tmp}/kbit-test-$1.XXXXXX") || exit 1
    trap 'rm -rf "$w"' EXIT
    tap_out=$w/out tap_err=$w/err
}
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
    n=$((n + 1))
    echo "not ok $n - $1"
    sed 's/^/# /' "$tap_err" "$tap_out" 2>/dev/null | head -n 40
}
# check CONDITION DESCRIPTION: CONDITION is shell text, evaluated
check() { if eval "$1"; then ok "$2"; else not_ok "$2"; fi; }
# run STATUS DESCRIPTION COMMAND...: the exit status must be STATUS
run() {
    want=$1 what=$2
    shift 2
    "$@" >"$tap_out" 2>"$tap_err"
    got=$?
    if [ "$got" -eq "$want" ]; then ok "$what"; else echo "# exit $got, wanted $want"; not_ok "$what"; fi
}

# --- The Python ----------------------------------------------------------
# $KBIT_PYTHON, else the interop venv scripts/check makes in the build
# directory, else python3.
py=${KBIT_PYTHON:-}
if [ -z "$py" ] && [ -x ./interop-venv/bin/python ]; then
    py=./interop-venv/bin/python
fi
py=${py:-python3}

# skip_all DESCRIPTION REASON: the whole test is one skip
skip_all() {
    echo "1..1"
    echo "ok 1 - $1 # SKIP $2"
    exit 0
}

# need_python DESCRIPTION MODULE...: the whole test is one skip that says why
# unless $py runs and imports every MODULE
need_python() {
    _what=$1
    shift
    command -v "$py" >/dev/null 2>&1 || skip_all "$_what" "no Python ($py)"
    missing=$("$py" -c '
import importlib, sys
gone = []
for m in sys.argv[1:]:
    try:
        importlib.import_module(m)
    except Exception:
        gone.append(m)
print(" ".join(gone))' "$@" 2>/dev/null) || skip_all "$_what" "$py cannot run"
    [ -z "$missing" ] || skip_all "$_what" \
        "$py lacks: $missing (scripts/check installs them in the interop venv when PyPI is reachable)"
}

# run_python SCRIPT ARG...: exit with the status of `$py SCRIPT ARG...`,
# whose TAP is on stdout; its stderr (the libraries' own chatter) goes to the
# log only when it failed. $work is the test's scratch directory.
run_python() {
    PYTHONDONTWRITEBYTECODE=1 "$py" "$@" 2>"$work.err"
    status=$?
    if [ "$status" -ne 0 ]; then
        sed 's/^/# /' "$work.err" | tail -n 40
    fi
    rm -f "$work.err"
    exit "$status"
}
