#!/bin/sh
# tests/test-gpu-check.sh - TAP: scripts/gpu-check (the check for a machine
# with an NVIDIA GPU) refuses cleanly where it cannot run, and its preflight
# reads a GPU right: every case here stops before the build (the build
# directory must not appear), so it takes well under a second per case.
#   1. no nvidia-smi: exit 2, "no NVIDIA GPU", no build directory
#   2. nvidia-smi that cannot reach the driver: exit 2 with its message
#   3. nvidia-smi that lists no GPU: exit 2
#   4. a GPU but NVCC not executable: exit 2 naming nvcc
#   5. a (fake) H200 with the real nvcc, --preflight: exit 0, sm_90, the
#      GPU's name and versions, no build (skips without nvcc here)
#   6. this machine as it is, --preflight: exit 2 with a reason when it
#      has no NVIDIA GPU (a skip where it has one)
top=${srcdir:-$(dirname "$0")/..}
script=$top/scripts/gpu-check
w=$(mktemp -d "${TMPDIR:-/tmp}/kbit-test-gpucheck.XXXXXX") || exit 1
trap 'rm -rf "$w"' EXIT
echo "1..6"
KBIT_GPU_BUILD_DIR=$w/build
export KBIT_GPU_BUILD_DIR

# fake SCRIPT-BODY: an nvidia-smi in $w/NAME
fake() {
    printf '#!/bin/sh\n%s\n' "$2" >"$w/$1"
    chmod +x "$w/$1"
}
fake smi-nodriver 'echo "NVIDIA-SMI has failed because it couldn'"'"'t communicate with the NVIDIA driver."; exit 9'
fake smi-nogpu 'case "$*" in *--query-gpu*) echo "No devices were found"; exit 6 ;; esac'
fake smi-empty 'exit 0'
fake smi-h200 'case "$*" in
*--query-gpu=*) echo "NVIDIA H200, 580.159.03, 9.0" ;;
*) echo "| NVIDIA-SMI 580.159.03   Driver Version: 580.159.03   CUDA Version: 13.0 |" ;;
esac'

# run N WHAT WANT-STATUS PATTERN [args]: the script's status and output
run() {
    n=$1 what=$2 want=$3 pat=$4
    shift 4
    "$script" "$@" >"$w/out" 2>&1
    st=$?
    if [ "$st" -eq "$want" ] && grep -q "$pat" "$w/out" && [ ! -e "$w/build" ]; then
        echo "ok $n - $what (status $st: $(sed -n '$p' "$w/out"))"
    else
        echo "not ok $n - $what: status $st (want $want), output:"
        sed 's/^/# /' "$w/out" | head -n 10
        [ ! -e "$w/build" ] || echo "# and it created the build directory"
    fi
}

KBIT_GPU_CHECK_NVIDIA_SMI=$w/no-such-nvidia-smi run 1 "no nvidia-smi: refused" 2 'no NVIDIA GPU: .*not found'
KBIT_GPU_CHECK_NVIDIA_SMI=$w/smi-nodriver run 2 "no driver: refused with nvidia-smi's message" 2 "couldn't communicate with the NVIDIA driver"
KBIT_GPU_CHECK_NVIDIA_SMI=$w/smi-nogpu run 3a "no GPU listed: refused" 2 'No devices were found' >"$w/tap3a"
KBIT_GPU_CHECK_NVIDIA_SMI=$w/smi-empty run 3b "empty list: refused" 2 'lists none' >"$w/tap3b"
if grep -q '^ok' "$w/tap3a" && grep -q '^ok' "$w/tap3b"; then
    echo "ok 3 - no GPU listed (a failing and an empty nvidia-smi): refused"
else
    sed 's/^\(not \)\{0,1\}ok 3[ab]/# &/' "$w/tap3a" "$w/tap3b"
    echo "not ok 3 - no GPU listed: not refused as it should be"
fi
NVCC=$w/no-such-nvcc KBIT_GPU_CHECK_NVIDIA_SMI=$w/smi-h200 run 4 "no nvcc: refused" 2 'nvcc: NVCC=.* is not an executable'

nvcc=${KBIT_TEST_NVCC:-}
[ -n "$nvcc" ] || nvcc=$(command -v nvcc 2>/dev/null)
[ -n "$nvcc" ] || { [ -x /usr/local/cuda/bin/nvcc ] && nvcc=/usr/local/cuda/bin/nvcc; }
if [ -n "$nvcc" ]; then
    NVCC=$nvcc KBIT_CUDA_ARCHS= KBIT_GPU_CHECK_NVIDIA_SMI=$w/smi-h200 run 5 \
        "an H200 passes the preflight" 0 'preflight passed' --preflight >"$w/tap5"
    if grep -q '^ok' "$w/tap5" &&
        grep -q 'NVIDIA H200 (compute capability 9.0; 1 GPU(s)), driver 580.159.03, CUDA 13.0' "$w/out" &&
        grep -q 'build for sm_90 ' "$w/out"; then
        echo "ok 5 - an H200 passes the preflight: NVIDIA H200, driver 580.159.03, CUDA 13.0, sm_90"
    else
        echo "not ok 5 - an H200's preflight: not passed, or the GPU line or sm_90 missing:"
        sed 's/^/# /' "$w/tap5" "$w/out" | head -n 12
    fi
else
    echo "ok 5 - an H200 passes the preflight # SKIP no nvcc on this machine"
fi

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
    echo "ok 6 - this machine refuses # SKIP it has an NVIDIA GPU: run scripts/gpu-check itself"
else
    KBIT_GPU_CHECK_NVIDIA_SMI= run 6 "this machine (no NVIDIA GPU): refused, saying why" 2 \
        'cannot run here: no NVIDIA GPU' --preflight
fi
