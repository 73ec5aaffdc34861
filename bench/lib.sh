# bench/lib.sh - sourced by bench/checkpoint.sh and bench/diffusers.sh: the
# cache dropping and the timed `kbit quantize` table they share. The caller
# sets kbit (the program), work (a scratch directory), model (the input
# folder), size (its .safetensors bytes), reps and threads.

# drop the page cache of the given files (prints 1 if done, 0 if not)
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

# the words for the cache state of the figures (evicting the model once)
cache_state() {
    if [ "$(evict "$model"/*.safetensors)" = 1 ]; then
        echo "cold cache (posix_fadvise DONTNEED)"
    else
        echo "WARM cache (could not drop it)"
    fi
}

host_line() {
    echo "host: $(nproc) CPUs; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
}

# the table: per thread count, reps runs of a cold disk read of the model
# and a cold `kbit quantize --quant-type nf4 --double-quant` of it into
# $work/out (left there); min/median wall time, input MB/s, disk MB/s, the
# ratio of the medians and the largest peak RSS
quantize_table() {
    printf '%-8s %-22s %-22s %-22s %-16s %s\n' threads "wall s (min/med)" \
        "input MB/s (best/med)" "disk read MB/s (min/med)" "ratio (med)" "peak RSS MiB (max)"
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
}

# the largest input tensor in MiB
largest_tensor() {
    "$kbit" inspect "$model" --json | tr '{' '\n' | sed -n 's/.*"bytes": \([0-9]*\).*/\1/p' |
        sort -g | tail -n 1 | awk '{printf "%.0f MiB", $1/1048576}'
}
