"""bench/python/common.py - shared by the Python benchmarks: the machine, the
thread settings of kbit and torch, timing (min and median), and the memory
bandwidth measured in the same run (the physical limit of the memory-bound
figures). Figures only, never pass/fail."""
import os
import platform
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
if os.environ.get("KBIT_BENCH_INSTALLED") != "1":
    sys.path.insert(0, os.path.join(REPO, "python", "src"))

import kbit  # noqa: E402


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def header(title):
    info = kbit.device("cpu").info()
    import torch
    print("%s" % title)
    print("cpu: %s, %d cores; kbit %s (libkbit %s), variant %s; torch %s" % (
        cpu_model(), os.cpu_count(), kbit.__version__, kbit.version(), info["variant"],
        torch.__version__))
    try:
        import bitsandbytes
        print("peer: bitsandbytes %s (its CPU backend)" % bitsandbytes.__version__)
    except Exception as e:
        print("peer: bitsandbytes not importable (%s)" % e)


def set_threads(n):
    import torch
    torch.set_num_threads(n)
    kbit.set_threads(n)


def timeit(fn, reps=5, warmup=1, before=None):
    """(min, median) seconds of fn() over reps runs; before() runs untimed
    before each (e.g. to rotate buffers so caches are cold)."""
    for _ in range(warmup):
        if before:
            before()
        fn()
    ts = []
    for _ in range(reps):
        if before:
            before()
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return min(ts), statistics.median(ts)


def read_bandwidth(nbytes=1 << 30):
    """GB/s of a streaming read (torch sum over fp32 values, nbytes, well past
    the last-level cache), best of 3: the limit for weight streaming."""
    import torch
    x = torch.ones(nbytes // 4)
    best = min(timeit(lambda: x.sum(), reps=3, warmup=1))
    return nbytes / best / 1e9


def copy_bandwidth(nbytes=1 << 29):
    """GB/s of bytes read + written by a copy of nbytes (torch copy_)."""
    import torch
    a = torch.ones(nbytes // 4)
    b = torch.empty_like(a)
    best = min(timeit(lambda: b.copy_(a), reps=3, warmup=1))
    return 2 * nbytes / best / 1e9


def fmt(mm, unit="ms", scale=1e3):
    return "%8.2f / %8.2f %s" % (mm[0] * scale, mm[1] * scale, unit)
