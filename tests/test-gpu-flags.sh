#!/bin/sh
# tests/test-gpu-flags.sh - TAP lint: the option lists that build GPU code
# keep IEEE numerics (doc/determinism.md 2). Checked in the source tree:
#   - no build file (Makefile.am, configure.ac, */local.mk, m4/*.m4,
#     backends/opencl/program.h) names a fast-math option anywhere outside a
#     comment: -ffast-math -Ofast --use_fast_math -funsafe-math-optimizations
#     -ffinite-math-only -cl-fast-relaxed-math -cl-mad-enable
#     -cl-unsafe-math-optimizations -cl-finite-math-only -cl-denorms-are-zero
#     -cl-no-signed-zeros, nor a contraction, FTZ or approximation switched
#     on (-fmad=true -ffp-contract=fast/on -ftz=true -prec-div=false
#     -prec-sqrt=false -fgpu-flush-denormals-to-zero);
#   - the nvcc options (kbit_cuda_nvccflags) have -fmad=false -prec-div=true
#     -prec-sqrt=true -ftz=false and -ffp-contract=off for the host compiler;
#   - the hipcc options (kbit_hip_flags) have -ffp-contract=off and the
#     explicit --offload-arch= values configure makes (KBIT_HIP_OFFLOAD);
#   - the OpenCL build options (KBIT_CL_BUILD_OPTIONS) are -cl-std=CL1.2
#     -cl-fp32-correctly-rounded-divide-sqrt and the program's first line is
#     `#pragma OPENCL FP_CONTRACT OFF` (backends/opencl/embed.sh);
#   - the C options (AM_CFLAGS) have -ffp-contract=off.
# A last test plants --use_fast_math and a missing -fmad=false in copies and
# checks that both are caught.
top=${srcdir:-$(dirname "$0")/..}
w=$(mktemp -d "${TMPDIR:-/tmp}/kbit-test-gpuflags.XXXXXX") || exit 1
trap 'rm -rf "$w"' EXIT
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); echo "not ok $n - $*"; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }

forbidden='(^|[[:space:]=,"])(-ffast-math|-Ofast|-?-use_fast_math|-funsafe-math-optimizations|-ffinite-math-only|-cl-fast-relaxed-math|-cl-mad-enable|-cl-unsafe-math-optimizations|-cl-finite-math-only|-cl-denorms-are-zero|-cl-no-signed-zeros|-fmad=true|-ffp-contract=(fast|on)|-ftz=true|-prec-div=false|-prec-sqrt=false|-fgpu-flush-denormals-to-zero)([[:space:],"]|$)'

# Lines of build file $1 that are not comments ('#' lines; C comments in .h).
code_lines() {
    case "$1" in
    *.h) awk '{ sub(/\/\*.*\*\//, "") } /\/\*/ { c = 1 } !c { print } /\*\// { c = 0 }' "$1" ;;
    *) grep -v '^[[:space:]]*#' "$1" | grep -v '^[[:space:]]*dnl' ;;
    esac
}

# The value of make variable $2 in file $1 (continuation lines joined).
mkvar() {
    awk -v name="$2" '
        !go && $0 ~ "^" name "[ \t]*[+:]?=" { go = 1; sub(/^[^=]*=/, "") }
        go { line = $0; more = sub(/\\$/, "", line); gsub(/\t/, " ", line); printf "%s ", line
             if (!more) exit }
    ' "$1"
}

# Files to lint: $1 = tree root.
build_files() {
    for f in "$1/Makefile.am" "$1/configure.ac" "$1"/*/local.mk "$1"/*/*/local.mk \
             "$1"/m4/*.m4 "$1/backends/opencl/program.h"; do
        [ -f "$f" ] && echo "$f"
    done
}

# 0 when no build file of tree $1 names a forbidden option; lists them.
scan_forbidden() {
    bad=0
    for f in $(build_files "$1"); do
        if code_lines "$f" | grep -En -- "$forbidden" > "$w/hits"; then
            sed "s|^|# $f: |" "$w/hits"
            bad=1
        fi
    done
    return $bad
}

# 0 when the nvcc options of tree $1 keep the IEEE controls.
check_nvcc() {
    v=$(mkvar "$1/backends/cuda/local.mk" kbit_cuda_nvccflags)
    for opt in -fmad=false -prec-div=true -prec-sqrt=true -ftz=false -ffp-contract=off; do
        case " $v " in *"$opt"*) ;; *) echo "# nvcc options lack $opt: $v"; return 1 ;; esac
    done
}

if scan_forbidden "$top"; then
    ok "no build file names a fast-math, FTZ or contraction-on option"
else
    notok "no build file names a fast-math, FTZ or contraction-on option"
fi

if check_nvcc "$top"; then
    ok "nvcc: -fmad=false -prec-div=true -prec-sqrt=true -ftz=false, host -ffp-contract=off"
else
    notok "nvcc: -fmad=false -prec-div=true -prec-sqrt=true -ftz=false, host -ffp-contract=off"
fi

if [ -f "$top/backends/hip/local.mk" ]; then
    v=$(mkvar "$top/backends/hip/local.mk" kbit_hip_flags)
    case " $v " in
    *" -ffp-contract=off "*) hip_fpc=1 ;;
    *) hip_fpc=0 ;;
    esac
    # the --offload-arch= values come from configure (KBIT_HIP_OFFLOAD)
    case " $v " in
    *'$(KBIT_HIP_OFFLOAD)'*) grep -q -- '--offload-arch=\$a' "$top/m4/kbit_hip.m4" && hip_arch=1 || hip_arch=0 ;;
    *) hip_arch=0 ;;
    esac
    if [ "$hip_fpc$hip_arch" = 11 ]; then
        ok "hipcc: -ffp-contract=off and explicit --offload-arch= values (KBIT_HIP_OFFLOAD)"
    else
        notok "hipcc: -ffp-contract=off and explicit --offload-arch= values (got: $v)"
    fi
else
    skip "hipcc options" "backends/hip/local.mk is not in this tree"
fi

cl=$(sed -n 's/^#define KBIT_CL_BUILD_OPTIONS "\(.*\)"$/\1/p' "$top/backends/opencl/program.h")
if [ "$cl" = "-cl-std=CL1.2 -cl-fp32-correctly-rounded-divide-sqrt" ]; then
    ok "OpenCL build options: $cl"
else
    notok "OpenCL build options are exactly -cl-std=CL1.2 -cl-fp32-correctly-rounded-divide-sqrt (got '$cl')"
fi
# The program's first line, as embed.sh writes it (run on a one-line kernel).
printf '__kernel void k(void) {}\n' > "$w/k.cl"
if sh "$top/backends/opencl/embed.sh" "$w" "$w/k.cl" "$w/p.c" 2>"$w/err" &&
   sed -n 's/^    "\(.*\)\\n"$/\1/p' "$w/p.c" | head -n 1 | grep -qx '#pragma OPENCL FP_CONTRACT OFF'; then
    ok "the OpenCL program starts with #pragma OPENCL FP_CONTRACT OFF"
else
    notok "the OpenCL program starts with #pragma OPENCL FP_CONTRACT OFF"
    sed 's/^/# /' "$w/err"
fi

case " $(mkvar "$top/Makefile.am" AM_CFLAGS) " in
*" -ffp-contract=off "*) ok "C: AM_CFLAGS has -ffp-contract=off" ;;
*) notok "C: AM_CFLAGS has -ffp-contract=off" ;;
esac

# Planted faults in a copy: the lint must catch both.
mkdir -p "$w/tree/backends/cuda" "$w/tree/backends/opencl" "$w/tree/m4"
cp "$top/backends/opencl/program.h" "$w/tree/backends/opencl/program.h"
sed 's/-fmad=false/--use_fast_math/' "$top/backends/cuda/local.mk" > "$w/tree/backends/cuda/local.mk"
if ! scan_forbidden "$w/tree" > /dev/null && ! check_nvcc "$w/tree" > /dev/null; then
    ok "a planted --use_fast_math replacing -fmad=false is caught twice"
else
    notok "a planted --use_fast_math replacing -fmad=false is caught twice"
fi
echo "1..$n"
