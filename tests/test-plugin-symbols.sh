#!/bin/sh
# tests/test-plugin-symbols.sh - TAP test: each GPU driver plugin built here
# (kbit-cuda.so, kbit-hip.so, kbit-opencl.so in the build tree's .libs)
# exports exactly one dynamic symbol, kbit_driver_entry (doc/porting.md):
# nothing of a statically linked runtime or of the kernels leaks. A plugin
# this build does not make is a skip with the reason.
libs=${KBIT_PLUGIN_LIBS:-.libs}
n=0
for name in cuda hip opencl; do
    n=$((n + 1))
    so="$libs/kbit-$name.so"
    if [ ! -f "$so" ]; then
        echo "ok $n - kbit-$name.so exports only kbit_driver_entry # SKIP not built here (configure: $name driver off or its compiler missing)"
        continue
    fi
    syms=$(nm -D --defined-only "$so" | awk '{ print $NF }' | sort | tr '\n' ' ')
    if [ "$syms" = "kbit_driver_entry " ]; then
        echo "ok $n - kbit-$name.so exports only kbit_driver_entry"
    else
        echo "not ok $n - kbit-$name.so exports only kbit_driver_entry (it exports: $syms)"
    fi
done
echo "1..$n"
