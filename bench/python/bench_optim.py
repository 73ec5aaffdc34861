#!/usr/bin/env python3
"""bench/python/bench_optim.py - one AdamW8bit step on a 16M-parameter fp32
tensor: kbit.optim.AdamW8bit (one kbit_optim_step_many) next to
bitsandbytes.optim.AdamW8bit (its CPU backend) and torch.optim.AdamW (32-bit
states, foreach), with 1 and 2 threads, cold caches (each step uses the next
of a rotation of parameter/gradient/state sets larger than twice the
last-level cache), min and median over REPS steps. The physical limit is
the bytes a step must read and write at the copy bandwidth measured in the
same run. Figures only.

usage: bench_optim.py [--n 16777216] [--reps 7] [--threads 1,2] [--sets 4]
"""
import argparse
import itertools

import torch

from common import copy_bandwidth, fmt, header, set_threads, timeit

import kbit.optim as KO


def run(make_opt, n, sets, reps):
    g = torch.Generator().manual_seed(0)
    items = []
    for _ in range(sets):
        p = torch.nn.Parameter(torch.randn(n, generator=g) * 0.02)
        p.grad = torch.randn(n, generator=g) * 1e-3
        opt = make_opt([p])
        opt.step()                 # states allocated outside the timing
        items.append(opt)
    cyc = itertools.cycle(items)
    cur = [None]

    def before():
        cur[0] = next(cyc)
    return timeit(lambda: cur[0].step(), reps=reps, warmup=1, before=before)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=16 << 20)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--sets", type=int, default=4)
    a = ap.parse_args()
    header("one AdamW8bit step, %d fp32 parameters (%d rotating sets, cold caches)"
           % (a.n, a.sets))
    try:
        import bitsandbytes as bnb
    except Exception:
        bnb = None
    # bytes an 8-bit AdamW step must move: p read+write, g read, two 1-byte states
    # read+write, absmax (2 floats per 256) read+write
    need = a.n * (4 + 4 + 4 + 2 + 2) + (a.n // 256) * 16
    for t in (int(x) for x in a.threads.split(",")):
        set_threads(t)
        bw = copy_bandwidth()
        limit = need / (bw * 1e9)
        print("\nthreads %d: copy bandwidth %.1f GB/s -> limit %.1f ms per 8-bit step" % (
            t, bw, limit * 1e3))
        k = run(lambda ps: KO.AdamW8bit(ps, lr=1e-3), a.n, a.sets, a.reps)
        print("  kbit AdamW8bit          %s   (%.2fx the limit)" % (fmt(k), k[0] / limit))
        if bnb is not None:
            b = run(lambda ps: bnb.optim.AdamW8bit(ps, lr=1e-3), a.n, a.sets, a.reps)
            print("  bitsandbytes AdamW8bit  %s   (kbit is %.1fx faster, medians)"
                  % (fmt(b), b[1] / k[1]))
        f = run(lambda ps: torch.optim.AdamW(ps, lr=1e-3, foreach=True), a.n, a.sets, a.reps)
        print("  torch AdamW (32-bit)    %s" % fmt(f))
    print("\n(figures: min / median)")


if __name__ == "__main__":
    main()
