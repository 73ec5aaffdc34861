#!/bin/sh
# bench/checkpoint.sh - `kbit quantize` of a generated TinyLlama-shaped fp16
# checkpoint (22 layers, hidden 2048, intermediate 5632, vocab 32000: 1.1 B
# parameters, 2.2 GB in 3 shards) to NF4 with double quantization. For each
# thread count it prints, over REPS runs (min and median): wall time, MB/s of
# input, peak RSS (the process' ru_maxrss), and the disk read rate measured
# in the same run (a cold read of the same files) with the ratio to it.
# Caches are dropped per file with posix_fadvise(DONTNEED) before each timed
# read (no root needed); when that is impossible the figures are warm-cache
# and say so. Figures only, never pass/fail.
#
# usage: bench/checkpoint.sh BUILD_DIR [WORK_DIR]   (env: REPS=3 THREADS="1 2")
set -eu
build=${1:?usage: bench/checkpoint.sh BUILD_DIR [WORK_DIR]}
work=${2:-${TMPDIR:-/tmp}/kbit-bench-checkpoint}
reps=${REPS:-3}
threads=${THREADS:-"1 2"}
kbit=$build/tools/kbit
model=$work/model
mkdir -p "$work"
if [ ! -f "$model/model.safetensors.index.json" ]; then
    echo "generating $model (2.2 GB)..."
    "$build/tools/kbit-genmodel" "$model" --layers 22 --hidden 2048 --intermediate 5632 \
        --vocab 32000 --heads 32 --kv-heads 4 --dtype fp16 --shards 3
fi
size=$(cat "$model"/*.safetensors | wc -c)

. "$(dirname "$0")/lib.sh"

state=$(cache_state)
echo "model: $(printf '%s' "$size" | awk '{printf "%.2f GB", $1/1e9}') fp16 in 3 shards; $state"
host_line
quantize_table
echo "largest tensor: $(largest_tensor); output: $(cat "$work"/out/*.safetensors | wc -c | awk '{printf "%.2f GB", $1/1e9}')"
