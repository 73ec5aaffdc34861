#!/usr/bin/env python3
"""bench/python/bench_decode.py - decode tokens/s (M = 1, greedy, KV cache) of a
generated Llama-shaped model (default TinyLlama's shape: 22 layers, hidden
2048, intermediate 5632, vocab 32000; 1.1 B parameters) with 1 and 2
threads: NF4 (double-quantized, bf16 compute, `kbit quantize`) in kbit
layers, the same checkpoint in bitsandbytes' CPU layers, and the bf16 model
in torch. The physical limit is the bytes of weights each token reads at
the read bandwidth measured in the same run. Min and median over REPS runs
of STEPS decode steps after a 16-token prefill. Figures only.

usage: bench_decode.py [--work DIR] [--layers 22] [--steps 16] [--reps 3] [--threads 1,2]
"""
import argparse
import os
import subprocess
import warnings

import torch

from common import REPO, header, read_bandwidth, set_threads, timeit

warnings.filterwarnings("ignore")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
import transformers  # noqa: E402

import kbit.integrations as KI  # noqa: E402
from kbit.nn import Linear4bit  # noqa: E402


def weight_bytes(model):
    """Bytes of weights one decode step reads (all but the embedding table,
    of which it reads one row; quant states included)."""
    total = 0
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Embedding):
            continue
        for pname, p in mod.named_parameters(recurse=False):
            total += p.numel() * p.element_size()
        qs = getattr(getattr(mod, "weight", None), "quant_state", None)
        if qs is not None:
            total += qs.absmax.numel() * qs.absmax.element_size()
            if qs.nested:
                total += qs.state2.absmax.numel() * 4
    return total


def decode(model, steps):
    ids = torch.arange(1, 17).unsqueeze(0)

    def run():
        with torch.no_grad():
            out = model(ids, use_cache=True)
            past, tok = out.past_key_values, out.logits[:, -1:].argmax(-1)
            t = [0.0]
            import time
            t0 = time.perf_counter()
            for _ in range(steps):
                out = model(tok, past_key_values=past, use_cache=True)
                past, tok = out.past_key_values, out.logits[:, -1:].argmax(-1)
            t[0] = time.perf_counter() - t0
        return t[0]
    return run


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default=os.path.join(REPO, ".cache", "bench-decode"))
    ap.add_argument("--kbit", default=os.path.join(REPO, "build", "tools"))
    ap.add_argument("--layers", type=int, default=22)
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    a = ap.parse_args()
    src = os.path.join(a.work, "model-%d" % a.layers)
    q = src + "-nf4"
    os.makedirs(a.work, exist_ok=True)
    if not os.path.exists(os.path.join(src, "config.json")):
        subprocess.run([os.path.join(a.kbit, "kbit-genmodel"), src, "--layers", str(a.layers),
                        "--hidden", "2048", "--intermediate", "5632", "--vocab", "32000",
                        "--heads", "32", "--kv-heads", "4", "--dtype", "bf16", "--shards", "3"],
                       check=True)
    if not os.path.exists(os.path.join(q, "config.json")):
        subprocess.run([os.path.join(a.kbit, "kbit"), "quantize", src, q, "--quant-type", "nf4",
                        "--double-quant", "--compute-dtype", "bf16", "--quiet"], check=True)
    header("decode tokens/s, Llama shape %d layers x hidden 2048 (M = 1, %d steps after a "
           "16-token prefill; best / median of %d)" % (a.layers, a.steps, a.reps))

    def load(which):
        if which == "kbit NF4":
            return KI.from_pretrained(q, transformers.AutoModelForCausalLM,
                                      torch_dtype=torch.bfloat16)
        if which == "bitsandbytes NF4":
            return transformers.AutoModelForCausalLM.from_pretrained(
                q, device_map="cpu", dtype=torch.bfloat16).eval()
        return transformers.AutoModelForCausalLM.from_pretrained(src,
                                                                 dtype=torch.bfloat16).eval()
    names = ["kbit NF4", "bitsandbytes NF4", "bf16 torch"]
    try:
        import bitsandbytes  # noqa: F401
    except Exception:
        names.remove("bitsandbytes NF4")
    for t in (int(x) for x in a.threads.split(",")):
        set_threads(t)
        bw = read_bandwidth()
        print("\nthreads %d: read bandwidth %.1f GB/s" % (t, bw))
        res = {}
        for name in names:
            m = load(name)
            if name == "kbit NF4":
                assert any(isinstance(x, Linear4bit) for x in m.modules())
            nbytes = weight_bytes(m)
            run = decode(m, a.steps)
            run()                                  # warm-up (bitsandbytes repacks here)
            ts = sorted(run() for _ in range(a.reps))
            best, med = a.steps / ts[0], a.steps / ts[len(ts) // 2]
            limit = bw * 1e9 / nbytes
            res[name] = med
            print("  %-17s %7.2f / %7.2f tok/s   weights %6.0f MB/token, limit %6.2f tok/s "
                  "(%.2f of it)" % (name, best, med, nbytes / 1e6, limit, best / limit))
            del m
        for peer in names[1:]:
            print("  kbit / %-17s %.2fx (medians)" % (peer, res["kbit NF4"] / res[peer]))


if __name__ == "__main__":
    main()
