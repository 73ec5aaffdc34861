#!/bin/sh
# tests/test-checkpoint-cli.sh - TAP test of `kbit quantize / dequantize /
# inspect` from the command line: exit statuses, --json / --quiet, the
# progress bar only on a terminal, OUT never touched on failure, --force,
# --8bit, --skip-modules. Run from the top build directory by `make check`.
kbit=./tools/kbit
gen=./tools/kbit-genmodel
. "$(dirname "$0")/lib.sh"
scratch ckcli

echo "1..36"

"$gen" "$w/m" --shards 2 >/dev/null 2>&1 || { echo "Bail out! kbit-genmodel failed"; exit 1; }

run 0 "quantize --json" "$kbit" quantize "$w/m" "$w/q" --double-quant --json --device cpu
check 'grep -q "\"quantized\": 14" "$w/out" && grep -q "\"peak_rss_bytes\": [1-9]" "$w/out" && grep -q "\"shards\": 2" "$w/out"' \
    "--json summary: 14 weights quantized, 2 shards, peak RSS"
check 'python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$w/out" 2>/dev/null || ! command -v python3 >/dev/null' \
    "--json output is valid JSON"
check '[ ! -s "$w/err" ]' "no progress bar when stderr is not a terminal"
check '[ -f "$w/q/model.safetensors.index.json" ] && [ -f "$w/q/tokenizer_config.json" ] && [ -f "$w/q/generation_config.json" ]' \
    "OUT has the index and the other files"
check '! ls -d "$w"/q.kbit-tmp-* >/dev/null 2>&1' "no temporary directory left"

run 0 "quantize --quiet prints nothing" "$kbit" quantize "$w/m" "$w/q2" --quiet --quant-type fp4
check '[ ! -s "$w/out" ] && [ ! -s "$w/err" ]' "--quiet: no output at all"

run 1 "an existing OUT is refused" "$kbit" quantize "$w/m" "$w/q" --quiet
check 'grep -q "exists" "$w/err" && grep -q "was not written" "$w/err"' "the message says OUT exists and was not written"
run 0 "--force replaces OUT" "$kbit" quantize "$w/m" "$w/q" --quiet --force --8bit
check 'grep -q "\"load_in_8bit\": true" "$w/q/config.json"' "the replaced OUT is the 8-bit one"

# a damaged input: OUT (existing) untouched even with --force
cp -r "$w/m" "$w/bad"
printf 'garbage' >"$w/bad/model-00002-of-00002.safetensors"
mkdir "$w/keep" && echo x >"$w/keep/marker"
run 1 "a damaged shard fails" "$kbit" quantize "$w/bad" "$w/keep" --force --quiet
check '[ -f "$w/keep/marker" ] && [ "$(ls "$w/keep")" = marker ] && ! ls -d "$w"/keep.kbit-* >/dev/null 2>&1' \
    "OUT is untouched and no temporary is left"
run 1 "a missing input fails" "$kbit" quantize "$w/nothing" "$w/q3" --quiet
check '[ ! -e "$w/q3" ]' "no OUT for a missing input"
run 2 "quantize without OUT is a usage error" "$kbit" quantize "$w/m"
run 2 "an unknown option is a usage error" "$kbit" quantize "$w/m" "$w/q4" --frobnicate

run 0 "--skip-modules replaces the default list" "$kbit" quantize "$w/m" "$w/q5" --quiet --skip-modules model.layers.0
check '"$kbit" inspect "$w/q5" >"$w/out" && grep -q "^lm_head.weight .*nf4" "$w/out" && grep -q "^model.layers.0.mlp.up_proj.weight .*F16" "$w/out" && grep -q "\"model.layers.0\"" "$w/q5/config.json"' \
    "lm_head quantized, layer 0 kept, llm_int8_skip_modules recorded"

run 0 "inspect --json --compare" "$kbit" inspect "$w/q2" --compare "$w/m" --json
check 'grep -q "\"compared\": 21" "$w/out" && grep -q "\"rel_error\"" "$w/out"' "every tensor compared, errors listed"

run 0 "dequantize --dtype bf16" "$kbit" dequantize "$w/q2" "$w/d" --dtype bf16 --quiet
check '"$kbit" inspect "$w/d" >"$w/out" && grep -q "^model.layers.1.mlp.down_proj.weight .*BF16" "$w/out" && ! grep -q quantization_config "$w/d/config.json"' \
    "dequantized weights are BF16 and the config has no quantization_config"

run 0 "--quant-storage bf16" "$kbit" quantize "$w/m" "$w/q6" --quiet --quant-storage bf16
check '"$kbit" quantize "$w/m" "$w/q7" --quiet && "$kbit" inspect "$w/q6" --compare "$w/q7" --json >"$w/out" && grep -q "\"quantized\": 14" "$w/out" && grep -q "\"max_rel_error\": 0}" "$w/out" && grep -q "\"bnb_4bit_quant_storage\": \"bfloat16\"" "$w/q6/config.json"' \
    "the packed bytes stored as BF16 read back as the same 4-bit weights; config records it"

run 0 "OUT given with a trailing slash" "$kbit" quantize "$w/m" "$w/q8/" --quiet
check '[ -f "$w/q8/config.json" ] && ! ls -d "$w"/q8/.kbit-tmp-* "$w"/q8.kbit-tmp-* >/dev/null 2>&1' \
    "the output is q8 itself, no temporary left"

# tensor names with terminal escape sequences (ESC [2J, the C1 CSI U+009B, the
# bidi override U+202E): every human-readable output escapes them
write_st() { # PATH HEADER: a safetensors file of HEADER (ASCII) and one data byte
    h=$2
    while [ $((${#h} % 8)) -ne 0 ]; do h="$h "; done
    l=${#h}
    printf "$(printf '\\%03o\\%03o' $((l & 255)) $(((l >> 8) & 255)))\\000\\000\\000\\000\\000\\000" >"$1"
    printf '%s' "$h" >>"$1"
    printf 'x' >>"$1"
}
raw_controls() { LC_ALL=C grep -q "$(printf '\033')\\|$(printf '\302\233')\\|$(printf '\342\200\256')" "$@"; }
write_st "$w/evil.safetensors" '{"evil\u001b[2J\u009b31m\u202ename.bias":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}'
run 0 "inspect a tensor named with escape sequences" "$kbit" inspect "$w/evil.safetensors"
check '! raw_controls "$w/out" && grep -qF "evil\\x1b[2J\\u009b31m\\u202ename.bias" "$w/out"' \
    "inspect prints the name escaped, no raw control character"
write_st "$w/evil2.safetensors" '{"evil\u001b[2Jname.bias":{"dtype":"X9","shape":[1],"data_offsets":[0,1]}}'
run 1 "an error naming such a tensor" "$kbit" inspect "$w/evil2.safetensors"
check '! raw_controls "$w/err" && grep -qF "evil\\x1b[2Jname" "$w/err"' \
    "the error message is escaped too (quantize: the same)"
"$kbit" quantize "$w/evil2.safetensors" "$w/evil-q" --quiet >"$w/out" 2>"$w/err"
"$kbit" inspect "$w/evil.safetensors" --json >>"$w/out" 2>>"$w/err"
check '! raw_controls "$w/out" "$w/err" && grep -qF "\\u001b" "$w/out"' \
    "quantize's message and --json escape them as well"

# a device that is not the CPU driver (the test plugin "testref", through
# KBIT_DRIVER_PATH): inputs are uploaded and results copied back, and the
# files must be the same bytes as the CPU driver's
same_files() { for f in "$1"/*.safetensors; do cmp -s "$f" "$2/$(basename "$f")" || return 1; done; }
if "$kbit" info 2>/dev/null | grep -q "^  testref:0"; then
    "$kbit" quantize "$w/m" "$w/t4" --double-quant --quiet --device testref:0 &&
        "$kbit" quantize "$w/m" "$w/c4" --double-quant --quiet --device cpu
    check 'same_files "$w/t4" "$w/c4"' "4-bit on the testref device: the same bytes as on the CPU"
    "$kbit" quantize "$w/m" "$w/t8" --8bit --quiet --device testref:0 &&
        "$kbit" quantize "$w/m" "$w/c8" --8bit --quiet --device cpu
    check 'same_files "$w/t8" "$w/c8"' "8-bit on the testref device: the same bytes as on the CPU"
    "$kbit" dequantize "$w/t4" "$w/td" --quiet --device testref:0 &&
        "$kbit" dequantize "$w/t4" "$w/cd" --quiet --device cpu
    check 'same_files "$w/td" "$w/cd"' "dequantize on the testref device: the same bytes as on the CPU"
else
    for what in "4-bit" "8-bit" "dequantize"; do
        ok "$what on the testref device # SKIP the test plugin is not in KBIT_DRIVER_PATH"
    done
fi
