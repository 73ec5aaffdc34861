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

. "$(dirname "$0")/lib.sh"

state=$(cache_state)
echo "model: FluxTransformer2DModel-shaped, $(printf '%s' "$size" | awk '{printf "%.2f GB", $1/1e9}') bf16 in 2 shards; $state"
host_line
echo "variant: kbit quantize --quant-type nf4 --double-quant --device cpu (KBIT_CPU_ISA=${KBIT_CPU_ISA:-auto})"
quantize_table
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
echo "largest tensor: $(largest_tensor); output: $(cat "$work"/out/*.safetensors | wc -c | awk '{printf "%.2f GB", $1/1e9}'), $("$kbit" inspect "$work/out" --json | sed 's/.*"quantized": \([0-9]*\).*/\1/') weights quantized"
