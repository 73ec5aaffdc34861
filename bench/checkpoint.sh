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

# drop the page cache of the model's files (1 if done)
evict() {
    python3 -c '
import os, sys
for p in sys.argv[1:]:
    fd = os.open(p, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
print(1)' "$@" 2>/dev/null || echo 0
}

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
minimum() { sort -g | head -n 1; }

cold=$(evict "$model"/*.safetensors)
[ "$cold" = 1 ] && state="cold cache (posix_fadvise DONTNEED)" || state="WARM cache (could not drop it)"
echo "model: $(printf '%s' "$size" | awk '{printf "%.2f GB", $1/1e9}') fp16 in 3 shards; $state"
echo "host: $(nproc) CPUs; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
printf '%-8s %-22s %-22s %-22s %-16s %s\n' threads "wall s (min/med)" "input MB/s (best/med)" \
    "disk read MB/s (min/med)" "ratio (med)" "peak RSS MiB (max)"
for t in $threads; do
    : >"$work/wall" ; : >"$work/rate" ; : >"$work/disk" ; : >"$work/rss"
    r=0
    while [ "$r" -lt "$reps" ]; do
        r=$((r + 1))
        evict "$model"/*.safetensors >/dev/null
        d0=$(date +%s.%N)
        cat "$model"/*.safetensors >/dev/null
        d1=$(date +%s.%N)
        echo "$size $d0 $d1" | awk '{printf "%.1f\n", $1/($3-$2)/1e6}' >>"$work/disk"
        evict "$model"/*.safetensors >/dev/null
        rm -rf "$work/out"
        OMP_NUM_THREADS=$t "$kbit" quantize "$model" "$work/out" --quant-type nf4 \
            --double-quant --device cpu --json >"$work/json"
        sed 's/.*"seconds": \([0-9.]*\).*/\1/' "$work/json" >>"$work/wall"
        sed 's/.*"input_mb_per_s": \([0-9.]*\).*/\1/' "$work/json" >>"$work/rate"
        sed 's/.*"peak_rss_bytes": \([0-9]*\).*/\1/' "$work/json" |
            awk '{printf "%.0f\n", $1/1048576}' >>"$work/rss"
    done
    rate_med=$(median <"$work/rate")
    disk_med=$(median <"$work/disk")
    printf '%-8s %-22s %-22s %-22s %-16s %s\n' "$t" \
        "$(minimum <"$work/wall") / $(median <"$work/wall")" \
        "$(sort -g "$work/rate" | tail -n 1) / $rate_med" \
        "$(minimum <"$work/disk") / $disk_med" \
        "$(echo "$rate_med $disk_med" | awk '{printf "%.2f", $1/$2}')" \
        "$(sort -g "$work/rss" | tail -n 1)"
done
largest=$("$kbit" inspect "$model" --json | tr '{' '\n' | sed -n 's/.*"bytes": \([0-9]*\).*/\1/p' | sort -g | tail -n 1)
echo "largest tensor: $(echo "$largest" | awk '{printf "%.0f MiB", $1/1048576}'); output: $(cat "$work"/out/*.safetensors | wc -c | awk '{printf "%.2f GB", $1/1e9}')"
