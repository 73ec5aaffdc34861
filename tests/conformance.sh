#!/bin/sh
# tests/conformance.sh FAMILY - `kbit conformance --family FAMILY` on every
# target, as `make check` runs it (tests/test-conformance-*.sh): the CPU
# driver forced to each variant (scalar, avx2, avx512, avx512vnni; those
# this CPU cannot run are skips with the reason) x tuning (generic, zen4:
# KBIT_CPU_TUNING; every tuning runs wherever its variant does; scalar has
# none) x 1 and 2 threads, every
# plugin driver on KBIT_DRIVER_PATH (testref; not the loader's fixtures, the
# refused kbit-badabi.so, kbit-short.so and kbit-nosym.so and the partial
# kbit-partial.so: test_plugins checks those) x 1 and 2 threads, and cuda:0 / opencl:0, skips with the reason
# when absent. The TAP is the program's. Run from the top build directory
# (KBIT_PROG: another kbit program; KBIT_TEST_SEED: other random cases).
family=${1:?usage: tests/conformance.sh FAMILY}
kbit=${KBIT_PROG:-./tools/kbit}

# KBIT_DRIVER_PATH with each plugin file named, the fixtures left out
plugins=
old_ifs=$IFS
IFS=:
for entry in ${KBIT_DRIVER_PATH:-}; do
    IFS=$old_ifs
    if [ -d "$entry" ]; then
        set -- "$entry"/kbit-*.so
    else
        set -- "$entry"
    fi
    for file in "$@"; do
        [ -f "$file" ] || continue
        case ${file##*/} in
        kbit-badabi.so | kbit-nosym.so | kbit-short.so | kbit-partial.so) ;;
        *) plugins=${plugins:+$plugins:}$file ;;
        esac
    done
done
IFS=$old_ifs
KBIT_DRIVER_PATH=$plugins
export KBIT_DRIVER_PATH

exec "$kbit" conformance --family "$family" --device all,cuda:0,opencl:0 --isa all --tuning all \
    --threads 1,2 --allow-missing
