#!/bin/sh
# tests/test-porting-example.sh - the minimal driver of doc/porting.md is
# what that page says: its listing, cut out of the page, compiles as a plugin
# with the installed headers' include paths, kbit loads it with the families
# it declares, and `kbit conformance` passes it (quant8 bit for bit against
# the scalar reference, the other families skipped). Run from the top build
# directory (make check does); CC and the source tree come from make.
srcdir=${srcdir:-$(dirname "$0")/..}
cc=${KBIT_TEST_CC:-cc}
echo "1..4"
work=$(mktemp -d "${TMPDIR:-/tmp}/kbit-porting.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT

sed -n '/<!-- porting example: begin -->/,/<!-- porting example: end -->/p' \
    "$srcdir/doc/porting.md" | sed '1,2d;$d' | sed '$d' >"$work/mini.c"
if grep -q 'kbit_driver_entry' "$work/mini.c"; then
    echo "ok 1 - doc/porting.md holds the listing of a complete driver ($(wc -l <"$work/mini.c") lines)"
else
    echo "not ok 1 - no driver listing between the porting-example markers of doc/porting.md"
fi
if $cc -std=c11 -O2 -Wall -Wextra -Werror -fPIC -shared -fvisibility=hidden -ffp-contract=off \
    -I"$srcdir/include" -I"$srcdir" -o "$work/kbit-mini.so" "$work/mini.c" >"$work/cc.log" 2>&1; then
    echo "ok 2 - the listing compiles warning-free as a plugin"
else
    echo "not ok 2 - the listing does not compile"
    sed 's/^/# /' "$work/cc.log"
fi
KBIT_DRIVER_PATH=$work ./tools/kbit info >"$work/info.txt" 2>&1
if grep -q 'families: quant8$' "$work/info.txt" && grep -q '^  mini:0' "$work/info.txt"; then
    echo "ok 3 - kbit info lists mini with its device and the family quant8"
else
    echo "not ok 3 - kbit info does not list mini as described"
    sed 's/^/# /' "$work/info.txt"
fi
KBIT_DRIVER_PATH=$work ./tools/kbit conformance --device mini:0 --quick >"$work/conf.txt" 2>&1
rc=$?
passed=$(grep -c '^ok .*quant8: .* on mini:0.*bit-exact' "$work/conf.txt")
skipped=$(grep -c '^ok .*on mini:0.*# SKIP device mini:0 does not implement' "$work/conf.txt")
if [ "$rc" -eq 0 ] && [ "$passed" -ge 3 ] && [ "$skipped" -ge 4 ]; then
    echo "ok 4 - kbit conformance --device mini:0 passes: $passed quant8 checks bit-exact, $skipped checks of other families skipped"
else
    echo "not ok 4 - kbit conformance --device mini:0 exited $rc ($passed quant8 checks passed, $skipped skipped)"
    grep '^not ok\|^#' "$work/conf.txt" | head -n 20 | sed 's/^/# /'
fi
