#!/bin/sh
# bench/diffusers.sh - `kbit quantize` of a generated FLUX-shaped diffusers
# transformer (FluxTransformer2DModel names and FLUX.1's widths: hidden 3072,
# 24 heads, MLP 12288; 2 double-stream + 4 single-stream blocks: 1.25 B
# parameters, 2.5 GB bf16 in 2 shards) to NF4 with double quantization. For
# each thread count it prints, over REPS runs (min and median): wall time,
# MB/s of input, peak RSS (ru_maxrss of kbit), and the disk read rate
# measured in the same run (a cold read of the same files) with the ratio to
# it. Caches are dropped per file with posix_fadvise(DONTNEED) before each
# timed read (no root needed); when that is impossible the figures are
# warm-cache and say so. Figures only, never pass/fail.
#
# usage: bench/diffusers.sh BUILD_DIR [WORK_DIR]   (env: REPS=3 THREADS="1 2"
#        DOUBLE=2 SINGLE=4: the block counts)
set -eu
build=${1:?usage: bench/diffusers.sh BUILD_DIR [WORK_DIR]}
work=${2:-${TMPDIR:-/tmp}/kbit-bench-diffusers}
reps=${REPS:-3}
threads=${THREADS:-"1 2"}
double=${DOUBLE:-2}
single=${SINGLE:-4}
kbit=$build/tools/kbit
model=$work/flux-$double-$single
mkdir -p "$work"
if [ ! -f "$model/diffusion_pytorch_model.safetensors.index.json" ]; then
    echo "generating $model (FLUX-shaped, $double double + $single single blocks, bf16)..."
    "$build/tools/kbit-genmodel" "$model" --flux --layers "$double" --single-layers "$single" \
        --shards 2
fi
size=$(cat "$model"/*.safetensors | wc -c)

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
echo "model: FluxTransformer2DModel-shaped, $(printf '%s' "$size" | awk '{printf "%.2f GB", $1/1e9}') bf16 in 2 shards; $state"
echo "host: $(nproc) CPUs; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "variant: kbit quantize --quant-type nf4 --double-quant --device cpu (KBIT_CPU_ISA=${KBIT_CPU_ISA:-auto})"
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
# the peer: diffusers + bitsandbytes on the CPU (PY: a Python with diffusers,
# default the build's interop venv), once per thread count, cold cache
py=${PY:-$build/interop-venv/bin/python}
if [ -x "$py" ] && "$py" -c 'import diffusers, bitsandbytes' 2>/dev/null; then
    printf '%-8s %-22s %-22s %s\n' threads "peer wall s" "kbit/peer speed" "peer peak RSS MiB"
    for t in $threads; do
        evict "$model"/*.safetensors >/dev/null
        "$py" "$(dirname "$0")/diffusers_peer.py" "$model" "$work/peer" "$t" 2>/dev/null |
            tail -n 1 >"$work/peer.json" || true
        ps=$(sed 's/.*"seconds": \([0-9.]*\).*/\1/' "$work/peer.json")
        prss=$(sed 's/.*"peak_rss_bytes": \([0-9]*\).*/\1/' "$work/peer.json" | awk '{printf "%.0f", $1/1048576}')
        OMP_NUM_THREADS=$t "$kbit" quantize "$model" "$work/out" --quant-type nf4 --double-quant \
            --device cpu --json --force >"$work/json"
        ks=$(sed 's/.*"seconds": \([0-9.]*\).*/\1/' "$work/json")
        printf '%-8s %-22s %-22s %s\n' "$t" "$ps" "$(echo "$ps $ks" | awk '{printf "%.1fx", $1/$2}')" "$prss"
    done
else
    echo "peer: skipped (no Python with diffusers and bitsandbytes at $py; set PY)"
fi
largest=$("$kbit" inspect "$model" --json | tr '{' '\n' | sed -n 's/.*"bytes": \([0-9]*\).*/\1/p' | sort -g | tail -n 1)
echo "largest tensor: $(echo "$largest" | awk '{printf "%.0f MiB", $1/1048576}'); output: $(cat "$work"/out/*.safetensors | wc -c | awk '{printf "%.2f GB", $1/1e9}'), $("$kbit" inspect "$work/out" --json | sed 's/.*"quantized": \([0-9]*\).*/\1/') weights quantized"
