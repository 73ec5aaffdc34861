# shellcheck shell=sh
# scripts/check-extra.sh - the parts of scripts/check beyond `make check`
# (sourced; each step is bounded in time and never fails the run for a
# missing tool: it says what it skipped).
#
#   kbit_interop_env   a venv with torch, bitsandbytes, safetensors,
#                      transformers, accelerate, pytest, diffusers in
#                      $KBIT_BUILD_DIR/interop-venv
#                      (pip, bounded by KBIT_INTEROP_TIMEOUT, default 600 s;
#                      KBIT_INTEROP=0 skips), so tests/test-interop.sh,
#                      tests/test-interop-diffusers.sh and tests/test-python.sh run
#   kbit_sanitize      a second build with ASan + UBSan (clang with libFuzzer
#                      when there, else gcc) in $KBIT_BUILD_DIR-sanitize; runs
#                      the malformed-input tests (test_checkpoint,
#                      test_diffusers, test_safetensors, test_ckhostile,
#                      test_aliasing, the test_*bad_input programs) and
#                      `kbit conformance --quick` on every CPU variant under
#                      it, then bounded fuzz runs of tests/fuzz_checkpoint
#                      (the reader) and tests/fuzz_convert (whole
#                      conversions), KBIT_FUZZ_SECONDS each (default 60),
#                      when clang built them.
#                      KBIT_SANITIZE=0 skips.

kbit_interop_env() {
    venv="$KBIT_BUILD_DIR/interop-venv"
    if [ "${KBIT_INTEROP:-1}" = 0 ]; then
        kbit_say "interop venv: skipped (KBIT_INTEROP=0)"
        return 0
    fi
    if [ -x "$venv/bin/python" ] &&
        "$venv/bin/python" -c 'import torch, bitsandbytes, safetensors, transformers, accelerate' 2>/dev/null; then
        # pytest for tests/test-python.sh, diffusers for tests/test-interop-diffusers.sh
        # (venvs made before they were needed lack them)
        "$venv/bin/python" -c 'import pytest' 2>/dev/null ||
            timeout "${KBIT_INTEROP_TIMEOUT:-600}" "$venv/bin/pip" install -q pytest \
                >>"$KBIT_BUILD_DIR/interop-venv.log" 2>&1 ||
            echo "  pip install pytest did not finish: tests/test-python.sh will skip"
        "$venv/bin/python" -c 'import diffusers' 2>/dev/null ||
            timeout "${KBIT_INTEROP_TIMEOUT:-600}" "$venv/bin/pip" install -q diffusers \
                >>"$KBIT_BUILD_DIR/interop-venv.log" 2>&1 ||
            echo "  pip install diffusers did not finish: tests/test-interop-diffusers.sh will skip"
        return 0
    fi
    kbit_say "interop venv: pip install torch bitsandbytes safetensors transformers accelerate pytest diffusers (at most ${KBIT_INTEROP_TIMEOUT:-600} s)"
    if ! command -v python3 >/dev/null 2>&1 || ! python3 -m venv "$venv" >/dev/null 2>&1; then
        echo "  no python3 with venv: the interop tests will skip"
        return 0
    fi
    # torch's CPU wheels first (small; given up at once when that index cannot
    # be reached, so the time goes to PyPI's default torch)
    timeout "${KBIT_INTEROP_TIMEOUT:-600}" sh -c '
        "$1/bin/pip" install -q --retries 0 --timeout 15 \
            --index-url https://download.pytorch.org/whl/cpu torch ||
            "$1/bin/pip" install -q torch
        "$1/bin/pip" install -q bitsandbytes safetensors transformers accelerate pytest diffusers' sh "$venv" \
        >"$KBIT_BUILD_DIR/interop-venv.log" 2>&1 ||
        echo "  pip did not finish (see $KBIT_BUILD_DIR/interop-venv.log): the interop tests will skip"
}

# kbit_run_sanitized DIR PROG: PROG (a test program) in the sanitizer build
# DIR, its output in DIR/PROG.sanitize.log; returns its exit status.
kbit_run_sanitized() {
    (cd "$1" && KBIT_VECTORS_DIR="$KBIT_ROOT/tests/vectors" \
        ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
        UBSAN_OPTIONS=print_stacktrace=1 "./$2" >"$2.sanitize.log" 2>&1)
}

kbit_sanitize() {
    if [ "${KBIT_SANITIZE:-1}" = 0 ]; then
        kbit_say "sanitizer build: skipped (KBIT_SANITIZE=0)"
        return 0
    fi
    dir="$KBIT_BUILD_DIR-sanitize"
    mkdir -p "$dir" || return 1
    if command -v clang >/dev/null 2>&1 &&
        echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }' |
        clang -x c -fsanitize=fuzzer,address,undefined -o "$dir/probe" - >/dev/null 2>&1; then
        how="clang, ASan + UBSan, libFuzzer"
        set -- CC=clang --enable-fuzz
    else
        how="gcc, ASan + UBSan (no clang with libFuzzer: no fuzz run)"
        set -- "CFLAGS=-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer" \
            "LDFLAGS=-fsanitize=address,undefined"
    fi
    rm -f "$dir/probe"
    kbit_say "sanitizer build in $dir ($how)"
    if [ ! -f "$dir/Makefile" ]; then
        (cd "$dir" && "$KBIT_ROOT/configure" -q --without-cuda --without-hip --without-opencl "$@") ||
            { echo "  configure failed (see $dir/config.log)"; return 1; }
    fi
    progs="tests/test_checkpoint tests/test_diffusers tests/test_safetensors tests/test_bad_input
        tests/test_gemm4_bad tests/test_gemm4_fast tests/test_int8_bad_input tests/test_optim_bad_input
        tests/test_ckhostile tests/test_aliasing"
    case "$how" in clang*) fuzz="tests/fuzz_checkpoint tests/fuzz_convert" ;; *) fuzz= ;; esac
    # shellcheck disable=SC2086  # lists
    (cd "$dir" && make -j"$KBIT_JOBS" $progs tools/kbit $fuzz >/dev/null) || { echo "  build failed"; return 1; }
    san_status=0 # not "status": scripts/check keeps make check's in that one
    # every kernel of every CPU variant and tuning, 1 and 2 threads, on the quick set
    (cd "$dir" && KBIT_VECTORS_DIR="$KBIT_ROOT/tests/vectors" ASAN_OPTIONS=detect_leaks=1 \
        UBSAN_OPTIONS=print_stacktrace=1 ./tools/kbit conformance --quick --device cpu --isa all \
        --tuning all --threads 1,2 >conformance.sanitize.log 2>&1)
    rc=$?
    if [ "$rc" -ne 0 ] || grep -q 'runtime error\|ERROR: AddressSanitizer' "$dir/conformance.sanitize.log"; then
        echo "  kbit conformance --quick under sanitizers: FAILED (exit $rc; $dir/conformance.sanitize.log)"
        tail -n 30 "$dir/conformance.sanitize.log"
        san_status=1
    else
        echo "  kbit conformance --quick under sanitizers: $(grep -c '^ok' "$dir/conformance.sanitize.log") ok, no sanitizer report"
    fi
    for p in $progs; do
        kbit_run_sanitized "$dir" "$p"
        rc=$?
        fails=$(grep -c '^not ok' "$dir/$p.sanitize.log")
        # LeakSanitizer's own tracer can die at exit on a loaded machine
        # ("Tracer caught signal 11 ... LeakSanitizer has encountered a
        # fatal error": seen once for test_ckhostile, every test ok, and
        # not again in three reruns). That is no finding about kbit: run
        # the program once more, and count only what that run reports.
        if [ "$rc" -ne 0 ] && [ "$fails" -eq 0 ] &&
            grep -q 'LeakSanitizer has encountered a fatal error' "$dir/$p.sanitize.log"; then
            echo "  $p under sanitizers: LeakSanitizer's tracer failed (not a report); running it again"
            kbit_run_sanitized "$dir" "$p"
            rc=$?
            fails=$(grep -c '^not ok' "$dir/$p.sanitize.log")
        fi
        if [ "$rc" -ne 0 ] || [ "$fails" -ne 0 ]; then
            echo "  $p under sanitizers: FAILED (exit $rc, $fails not ok; $dir/$p.sanitize.log)"
            tail -n 30 "$dir/$p.sanitize.log"
            san_status=1
        else
            echo "  $p under sanitizers: $(grep -c '^ok' "$dir/$p.sanitize.log") ok, no sanitizer report"
        fi
    done
    if [ -n "$fuzz" ]; then
        corpus="$dir/fuzz-corpus"
        conv="$dir/fuzz-corpus-convert"
        mkdir -p "$corpus" "$conv"
        # seeds: the golden vectors and a small model, plain and quantized;
        # fuzz_convert's inputs start with the call and the layout (its header)
        cp "$KBIT_ROOT"/tests/vectors/*.safetensors "$corpus/" 2>/dev/null
        rm -rf "$dir/fuzz-seed" "$dir/fuzz-seed-q"
        if "$KBIT_BUILD_DIR/tools/kbit-genmodel" "$dir/fuzz-seed" --layers 1 --hidden 32 \
            --intermediate 64 --vocab 64 >/dev/null 2>&1 &&
            "$KBIT_BUILD_DIR/tools/kbit" quantize "$dir/fuzz-seed" "$dir/fuzz-seed-q" --double-quant --quiet --device cpu; then
            cp "$dir/fuzz-seed-q/model.safetensors" "$corpus/q4.safetensors"
            { printf '4s'; cat "$dir/fuzz-seed/model.safetensors"; } >"$conv/plain4"
            { printf '8s'; cat "$dir/fuzz-seed/model.safetensors"; } >"$conv/plain8"
            { printf 'Ds'; cat "$dir/fuzz-seed-q/model.safetensors"; } >"$conv/dequant"
            { printf 'Nd'; cat "$dir/fuzz-seed/config.json"; printf '\000'; cat "$dir/fuzz-seed/model.safetensors"; } >"$conv/dir"
        fi
        secs=${KBIT_FUZZ_SECONDS:-60}
        for f in $fuzz; do
            name=$(basename "$f")
            c=$corpus
            [ "$name" = fuzz_convert ] && c=$conv
            kbit_say "fuzz: $f for $secs s"
            (cd "$dir" && ./"$f" -max_total_time="$secs" -rss_limit_mb=2048 \
                -max_len=65536 "$c" >"$name.log" 2>&1)
            rc=$?
            tail -n 3 "$dir/$name.log" | sed 's/^/  /'
            if [ "$rc" -ne 0 ]; then
                echo "  fuzz: a crash or sanitizer report (see $dir/$name.log)"
                san_status=1
            else
                echo "  fuzz $name: $(grep -o 'Done [0-9]* runs' "$dir/$name.log" | tail -n 1), no crash"
            fi
        done
    fi
    return "$san_status"
}
