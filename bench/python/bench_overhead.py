#!/usr/bin/env python3
"""bench/python/bench_overhead.py - what the Python layer costs per call on a
small tensor: the kbit.functional call (argument checks, zero-copy views,
output allocation) against the bare ctypes call of the same libkbit function
with the pointers prepared in advance, and bitsandbytes' functional call on
the same data. Per-call microseconds, min and median over BATCHES batches
of CALLS calls (hot caches: this measures overhead, not bandwidth).

usage: bench_overhead.py [--calls 20000] [--batches 7]
"""
import argparse
import ctypes
import statistics
import time

import torch

from common import header, set_threads

import kbit
import kbit.functional as F
from kbit._core import load


def per_call(fn, calls, batches):
    for _ in range(calls // 10):
        fn()
    ts = []
    for _ in range(batches):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        ts.append((time.perf_counter() - t0) / calls * 1e6)
    return min(ts), statistics.median(ts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--batches", type=int, default=7)
    a = ap.parse_args()
    header("Python-layer overhead per call (hot caches)")
    set_threads(1)
    try:
        import bitsandbytes.functional as B
    except Exception:
        B = None
    lib = load()
    dev = kbit.device("cpu").handle
    x = torch.randn(256)
    q, st = F.quantize_blockwise(x, blocksize=256)
    out = torch.empty(256)
    code = (ctypes.c_float * 256)(*st.code.tolist())
    qp, ap_, op = q.data_ptr(), st.absmax.data_ptr(), out.data_ptr()
    fn = lib.kbit_dequantize_8bit

    def raw8():
        fn(dev, qp, ap_, 256, 256, code, 0, op)
    rows = [("dequantize_blockwise, 256 elements",
             per_call(lambda: F.dequantize_blockwise(q, st), a.calls, a.batches),
             per_call(raw8, a.calls, a.batches),
             per_call(lambda: B.dequantize_blockwise(q, st.__class__ and
                      _bnb_state(B, st)), a.calls, a.batches) if B else None)]
    w = torch.randn(64, 64)
    packed, qs = F.quantize_4bit(w, quant_type="nf4", compress_statistics=True)
    A = torch.randn(1, 64)
    y = torch.empty(1, 64)
    cst, _, _ = F.c_state(qs, "bench")
    gem = lib.kbit_gemm_4bit
    pp, Ap, yp = packed.data_ptr(), A.data_ptr(), y.data_ptr()
    ref = ctypes.byref(cst)

    def raw4():
        gem(dev, Ap, 0, 1, pp, ref, None, yp)
    from kbit.nn import Linear4bit
    lin = Linear4bit(64, 64, bias=False, quant_type="nf4")
    lin.load_state_dict({"weight": w})
    lin = lin.to("cpu")
    lin.eval()
    with torch.no_grad():
        rows.append(("gemm_4bit M=1, 64x64 nested NF4",
                     per_call(lambda: F.gemm_4bit(A, packed, qs), a.calls, a.batches),
                     per_call(raw4, a.calls, a.batches), None))
        rows.append(("Linear4bit forward M=1, 64x64",
                     per_call(lambda: lin(A), a.calls, a.batches),
                     per_call(raw4, a.calls, a.batches), None))
    print("\n%-36s %18s %18s %14s %20s" % ("call (us per call, min / median)", "kbit.functional",
                                          "bare ctypes", "overhead", "bitsandbytes"))
    for name, f, r, b in rows:
        print("%-36s %8.2f / %7.2f %8.2f / %7.2f %6.2f / %5.2f %20s" % (
            name, f[0], f[1], r[0], r[1], f[0] - r[0], f[1] - r[1],
            "%8.2f / %7.2f" % b if b else "-"))


def _bnb_state(B, st):
    return B.QuantState(absmax=st.absmax, code=st.code, blocksize=st.blocksize,
                        dtype=torch.float32)


if __name__ == "__main__":
    main()
