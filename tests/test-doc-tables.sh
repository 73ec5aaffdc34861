#!/bin/sh
# tests/test-doc-tables.sh - TAP test: every table of doc/numerics.md that
# include/kbit-formats.h also holds is compared with it value by value, so the
# specification and the code cannot drift apart. One test per table:
#   numerics 1.1  NF4 codes           KBIT_NF4_BITS_INIT
#   numerics 1.2  FP4 magnitudes      KBIT_FP4_MAGNITUDE_BITS_INIT
#   numerics 1.5  NF4 thresholds      KBIT_NF4_THRESHOLD_BITS_INIT
#   numerics 1.6  FP4 thresholds      KBIT_FP4_THRESHOLD_BITS_INIT
#   numerics 2.3  signed map          KBIT_DYNAMIC_SIGNED_BITS_INIT
#   numerics 2.3  unsigned map        KBIT_DYNAMIC_UNSIGNED_BITS_INIT
#   numerics 10   int8 constants      KBIT_INT8_INV127_BITS, _MM_DEQUANT_BITS, _SCALE_NUM_BITS
#   numerics 10   nested blocksize    KBIT_NESTED_BLOCK
# The rows of each doc table must also be numbered 0, 1, 2, ... (t_a..t_g for
# the FP4 thresholds), so a lost or doubled row fails too. A last test plants
# a one-digit change in a copy of the page and checks that it is caught.
#
# Usage: test-doc-tables.sh [NUMERICS_MD [KBIT_FORMATS_H]]; by default the
# files of the source tree ($srcdir when make check runs it). POSIX sh + awk.

top=${srcdir:-$(dirname "$0")/..}
doc=${1:-$top/doc/numerics.md}
hdr=${2:-$top/include/kbit-formats.h}
for f in "$doc" "$hdr"; do
    [ -r "$f" ] || { echo "Bail out! cannot read $f"; exit 1; }
done
w=$(mktemp -d "${TMPDIR:-/tmp}/kbit-test-doctables.XXXXXX") || exit 1
trap 'rm -rf "$w"' EXIT

# The values of one or more #define macros of the header, one per line, as
# lower-case numbers without the u suffix (a macro may continue over lines
# ending in a backslash).
header_values() {
    awk -v names=" $* " '
        function emit(line,   t) {
            sub(/\/\*.*/, "", line)
            while (match(line, /0[xX][0-9a-fA-F]+|[0-9]+/)) {
                t = tolower(substr(line, RSTART, RLENGTH))
                print t
                line = substr(line, RSTART + RLENGTH)
            }
        }
        cont { c = $0; cont = sub(/\\$/, "", c); emit(c); next }
        $1 == "#define" && index(names, " " $2 " ") {
            c = $0
            sub(/^#define[ \t]+[A-Za-z0-9_]+/, "", c)
            cont = sub(/\\$/, "", c)
            emit(c)
        }' "$hdr"
}

# Rows "| index | ... |" of section SEC of the doc whose column COL holds a
# 32-bit hex pattern: print that pattern. The indices must run 0, 1, 2, ...
# or, with NAMES, through that list; otherwise print a line "bad-row ...".
doc_rows() {
    awk -v sec="$1" -v col="$2" -v names="$3" '
        function trim(s) { gsub(/^[ \t`]+|[ \t`]+$/, "", s); return s }
        /^#+ / { s = $2; sub(/\.$/, "", s); insec = (s == sec); next }
        insec && /^\|/ {
            n = split($0, f, "|")
            v = tolower(trim(f[col + 1]))
            if (v !~ /^0x[0-9a-f]+$/)
                next
            want = names == "" ? rows + 0 : ""
            if (names != "") { split(names, nm, " "); want = nm[rows + 1] }
            if (trim(f[2]) != want "")
                print "bad-row " trim(f[2]) " where " want " was expected"
            print v
            rows++
        }' "$doc"
}

# The 256 entries of the BLOCK-th fenced code block of section SEC, written
# as lines "IDX: v v v ..."; IDX must be the number of entries before it.
doc_map() {
    awk -v sec="$1" -v block="$2" '
        /^#+ / { s = $2; sub(/\.$/, "", s); insec = (s == sec); next }
        insec && /^```/ { fence++; next }
        insec && fence == 2 * block - 1 && /^ *[0-9]+:/ {
            idx = $1; sub(/:$/, "", idx)
            if (idx + 0 != count)
                print "bad-row " idx " where " count " was expected"
            for (i = 2; i <= NF; i++) { print tolower($i); count++ }
        }' "$doc"
}

# A value in the row of the section-10 table whose first column is NAME:
# the first hex pattern of column 2 (or its number, with "dec").
doc_constant() {
    awk -v name="$1" -v kind="$2" '
        function trim(s) { gsub(/^[ \t`]+|[ \t`]+$/, "", s); return s }
        /^#+ / { s = $2; sub(/\.$/, "", s); insec = (s == "10"); next }
        insec && /^\|/ {
            split($0, f, "|")
            if (trim(f[2]) != name)
                next
            re = kind == "dec" ? "^[0-9]+" : "0x[0-9a-fA-F]+"
            v = trim(f[3])
            if (match(v, re))
                print tolower(substr(v, RSTART, RLENGTH))
        }' "$doc"
}

n=0
failed=0
# compare DESCRIPTION COUNT: $w/doc against $w/hdr, both COUNT values long.
compare() {
    n=$((n + 1))
    why=$(awk -v count="$2" '
        FNR == NR { h[++nh] = $0; next }
        /^bad-row / { if (!bad) bad = substr($0, 9); next }
        { d[++nd] = $0 }
        END {
            if (bad != "") { print "doc row " bad; exit }
            if (nd != count || nh != count) {
                print "doc has " nd " values, header " nh ", expected " count; exit
            }
            for (i = 1; i <= count; i++)
                if (d[i] != h[i]) {
                    print "entry " i - 1 ": doc " d[i] ", header " h[i]; exit
                }
        }' "$w/hdr" "$w/doc")
    if [ -z "$why" ]; then
        echo "ok $n - $1"
    else
        echo "not ok $n - $1"
        echo "# $why"
        failed=1
    fi
}

# The self-test below runs this script again on a planted copy, without
# its own self-test (third argument).
if [ "${3:-}" = "--no-self-test" ]; then echo "1..8"; else echo "1..9"; fi

header_values KBIT_NF4_BITS_INIT >"$w/hdr"
doc_rows 1.1 3 >"$w/doc"
compare "NF4 code table (numerics 1.1) = KBIT_NF4_BITS_INIT" 16

header_values KBIT_FP4_MAGNITUDE_BITS_INIT >"$w/hdr"
doc_rows 1.2 3 >"$w/doc"
compare "FP4 magnitude table (numerics 1.2) = KBIT_FP4_MAGNITUDE_BITS_INIT" 8

header_values KBIT_NF4_THRESHOLD_BITS_INIT >"$w/hdr"
doc_rows 1.5 3 >"$w/doc"
compare "NF4 thresholds (numerics 1.5) = KBIT_NF4_THRESHOLD_BITS_INIT" 15

header_values KBIT_FP4_THRESHOLD_BITS_INIT >"$w/hdr"
doc_rows 1.6 3 "t_a t_b t_c t_d t_e t_f t_g" >"$w/doc"
compare "FP4 thresholds t_a..t_g (numerics 1.6) = KBIT_FP4_THRESHOLD_BITS_INIT" 7

header_values KBIT_DYNAMIC_SIGNED_BITS_INIT >"$w/hdr"
doc_map 2.3 1 >"$w/doc"
compare "signed dynamic map (numerics 2.3) = KBIT_DYNAMIC_SIGNED_BITS_INIT" 256

header_values KBIT_DYNAMIC_UNSIGNED_BITS_INIT >"$w/hdr"
doc_map 2.3 2 >"$w/doc"
compare "unsigned dynamic map (numerics 2.3) = KBIT_DYNAMIC_UNSIGNED_BITS_INIT" 256

header_values KBIT_INT8_INV127_BITS KBIT_INT8_MM_DEQUANT_BITS KBIT_INT8_SCALE_NUM_BITS >"$w/hdr"
{ doc_constant "1/127"; doc_constant "1/127²"; doc_constant "127.0"; } >"$w/doc"
compare "int8 constants 1/127, 1/127², 127.0 (numerics 10) = KBIT_INT8_*_BITS" 3

header_values KBIT_NESTED_BLOCK >"$w/hdr"
doc_constant "nested blocksize" dec >"$w/doc"
compare "nested blocksize (numerics 10) = KBIT_NESTED_BLOCK" 1

[ "${3:-}" = "--no-self-test" ] && exit $failed

# The checker must see a fault: change one digit of entry 200 of the signed
# map in a copy of the page and expect test 5 to fail on exactly that entry.
n=$((n + 1))
sed '/^200: 0x3e6f3333 /s/0x3e6f3333/0x3e6f3334/' "$doc" >"$w/planted.md"
got=$(srcdir=$top sh "$0" "$w/planted.md" "$hdr" --no-self-test 2>&1)
case $got in
*"not ok 5 - "*"entry 200: doc 0x3e6f3334, header 0x3e6f3333"*) echo "ok $n - a planted one-digit fault in a copy is caught" ;;
*) echo "not ok $n - a planted one-digit fault in a copy is caught"; echo "$got" | sed 's/^/# /'; failed=1 ;;
esac

exit $failed
