#!/usr/bin/env python3
"""bench/python/optim_peer.py - the peer of `kbit bench optim`: one step of
bitsandbytes' CPU optimizers (AdamW / AdamW8bit, Lion / Lion8bit, with
bnb's default hyperparameters, as kbit's) on n parameters of one dtype,
gradients of the same dtype, with torch and bitsandbytes from the interop
venv. bench/optim.c runs it once per size and thread count and prints its
figures beside kbit's; it imports neither kbit nor anything of the tests.

Cold caches as in bench/optim.c: each timed step uses the next of `sets`
parameter/gradient/state sets. Output, one line per mode:

    adam 8 f32 <min seconds> <median seconds>
    lion 32 bf16 skip <reason>

usage: optim_peer.py --n N --threads T --reps R --sets S [--modes adam:8:f32,...]
"""
import argparse
import statistics
import sys
import time


def step_times(make, n, dtype, sets, reps):
    import torch
    g = torch.Generator().manual_seed(0)
    opts = []
    for _ in range(sets):
        p = torch.nn.Parameter((torch.rand(n, generator=g) * 0.2 - 0.1).to(dtype))
        p.grad = (torch.rand(n, generator=g) * 0.02 - 0.01).to(dtype)
        opt = make([p])
        opt.step()  # states allocated and first touched outside the timing
        opts.append(opt)
    ts = []
    for r in range(reps):
        opt = opts[(r + 1) % sets]
        t0 = time.perf_counter()
        opt.step()
        ts.append(time.perf_counter() - t0)
    return min(ts), statistics.median(ts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--sets", type=int, default=1)
    ap.add_argument("--modes", default="adam:32:f32,adam:32:bf16,adam:8:f32,adam:8:bf16,"
                    "lion:32:f32,lion:32:bf16,lion:8:f32,lion:8:bf16")
    a = ap.parse_args()
    try:
        import torch
        import bitsandbytes as bnb
    except Exception as e:  # the venv is optional: say why, once per mode
        for m in a.modes.split(","):
            print("%s skip cannot import torch and bitsandbytes (%s)"
                  % (m.replace(":", " "), str(e).replace("\n", " ")))
        return 0
    torch.set_num_threads(a.threads)
    print("# bitsandbytes %s, torch %s" % (bnb.__version__, torch.__version__))
    classes = {("adam", 32): lambda ps: bnb.optim.AdamW(ps, optim_bits=32),
               ("adam", 8): lambda ps: bnb.optim.AdamW8bit(ps),
               ("lion", 32): lambda ps: bnb.optim.Lion(ps, optim_bits=32),
               ("lion", 8): lambda ps: bnb.optim.Lion8bit(ps)}
    dtypes = {"f32": torch.float32, "bf16": torch.bfloat16}
    for m in a.modes.split(","):
        kind, bits, dt = m.split(":")
        label = "%s %s %s" % (kind, bits, dt)
        try:
            tmin, tmed = step_times(classes[(kind, int(bits))], a.n, dtypes[dt], a.sets, a.reps)
            print("%s %.6f %.6f" % (label, tmin, tmed))
        except Exception as e:
            print("%s skip %s: %s" % (label, type(e).__name__, str(e).replace("\n", " ")[:160]))
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
