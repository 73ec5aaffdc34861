# shellcheck shell=sh
# scripts/lib.sh - shared by scripts/quickstart and scripts/check (sourced).
# Environment:
#   KBIT_BUILD_DIR        build directory (default: <repo>/build)
#   KBIT_CONFIGURE_FLAGS  extra ./configure arguments, e.g. "--without-cuda"
#   KBIT_JOBS             parallel make jobs (default 2)
#   KBIT_SKIP_DEPS=1      do not run scripts/deps (packages already there)

KBIT_ROOT=$(cd "$(dirname "$0")/.." && pwd)
KBIT_BUILD_DIR=${KBIT_BUILD_DIR:-$KBIT_ROOT/build}
KBIT_JOBS=${KBIT_JOBS:-2}

kbit_say() {
    printf '\n==> %s\n' "$*"
}

kbit_die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# Install what the build needs (Debian: apt-get; see scripts/deps).
kbit_deps() {
    if [ "${KBIT_SKIP_DEPS:-0}" = 1 ]; then
        kbit_say "skipping package check (KBIT_SKIP_DEPS=1)"
        return 0
    fi
    "$KBIT_ROOT/scripts/deps"
}

# bootstrap (only when ./configure is missing: the Makefiles regenerate
# themselves when configure.ac or a local.mk changes), configure out of tree
# (when the build directory is new, or configure arguments were given), build.
kbit_build() {
    cd "$KBIT_ROOT" || exit 1
    if [ ! -x configure ] || [ ! -f Makefile.in ]; then
        kbit_say "bootstrap"
        ./bootstrap || kbit_die "bootstrap failed (are autoconf, automake, libtool and autoconf-archive installed? run scripts/deps)"
    fi
    mkdir -p "$KBIT_BUILD_DIR" || exit 1
    cd "$KBIT_BUILD_DIR" || exit 1
    if [ ! -f Makefile ] || [ ! -f config.status ] || [ $# -gt 0 ] ||
        [ -n "${KBIT_CONFIGURE_FLAGS:-}" ]; then
        kbit_say "configure in $KBIT_BUILD_DIR ${KBIT_CONFIGURE_FLAGS:-} $*"
        # shellcheck disable=SC2086  # the flags are meant to be split
        "$KBIT_ROOT/configure" ${KBIT_CONFIGURE_FLAGS:-} "$@" || kbit_die "configure failed (see $KBIT_BUILD_DIR/config.log)"
    fi
    kbit_say "build (make -j$KBIT_JOBS)"
    make -j"$KBIT_JOBS" || kbit_die "the build failed"
}

# Run programs of the build tree: driver plugins built there (kbit-cuda.so,
# ...) land in .libs, which kbit searches through KBIT_DRIVER_PATH.
kbit_use_build_tree() {
    KBIT_DRIVER_PATH="$KBIT_BUILD_DIR/.libs${KBIT_DRIVER_PATH:+:$KBIT_DRIVER_PATH}"
    export KBIT_DRIVER_PATH
}
