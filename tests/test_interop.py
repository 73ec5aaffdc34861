"""tests/test_interop.py - kbit checkpoints against the real Hugging Face stack
(torch, bitsandbytes, safetensors, transformers), as a TAP producer:

 (a) bitsandbytes dequantizes kbit's 4-bit output (NF4 and FP4, nested or
     not, fp16 and bf16): bit for bit what `kbit dequantize` writes;
 (b) transformers loads kbit's output directory with no quantization config
     argument (4-bit and 8-bit) and runs a forward pass of a tiny Llama; the
     logits are finite and close to those of the dequantized model;
 (c) kbit reads checkpoints saved by transformers + bitsandbytes (4-bit
     nested and plain, 8-bit): `kbit inspect` lists them and `kbit dequantize`
     gives bitsandbytes' own dequantization bit for bit.

Run by tests/test-interop.sh, which skips when the modules do not import.
Arguments: the kbit program, kbit-genmodel, a scratch directory.
"""
import json
import os
import sys
import warnings

warnings.filterwarnings("ignore")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch  # noqa: E402
import transformers  # noqa: E402
from interoputil import (bnb_dequant, ok, plan, qconfig_text, run, same_bits,  # noqa: E402
                         tensors, weights_4bit)

KBIT, GENMODEL, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
def same_bits_fp4(a, b):
    """Bit for bit, except that FP4 code 8 may decode as +0.0 (bitsandbytes' CPU
    path reads quant_map, whose entry 8 is +0.0) where kbit and the CUDA kernels
    give -0.0 (numerics 9.2, item 5)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    ia = a.view(torch.int16 if a.element_size() == 2 else torch.int32)
    ib = b.view(torch.int16 if b.element_size() == 2 else torch.int32)
    d = ia != ib
    return bool(((a[d] == 0) & (b[d] == 0)).all())


def gen(name, dtype, extra=()):
    d = os.path.join(WORK, name)
    rc, out = run(GENMODEL, d, "--layers", "2", "--hidden", "128", "--intermediate", "256",
                  "--vocab", "512", "--heads", "4", "--kv-heads", "2", "--dtype", dtype,
                  "--shards", "2", *extra)
    if rc != 0:
        raise SystemExit("Bail out! kbit-genmodel failed: " + out)
    return d


# (a) bitsandbytes dequantizes kbit's output bit for bit ------------------------
for dtype, qtype, dq in (("fp16", "nf4", True), ("bf16", "fp4", False),
                         ("bf16", "nf4", True), ("fp16", "fp4", True)):
    src = gen("a-%s" % dtype, dtype)
    q = os.path.join(WORK, "a-%s-%s-%d" % (dtype, qtype, dq))
    back = q + "-dq"
    rc, out = run(KBIT, "quantize", src, q, "--quant-type", qtype, "--quiet",
                  *(["--double-quant"] if dq else []))
    rc2, out2 = run(KBIT, "dequantize", q, back, "--dtype", dtype, "--quiet")
    if not ok(rc == 0 and rc2 == 0, "(a) kbit quantize + dequantize %s %s%s" %
              (dtype, qtype, " nested" if dq else ""), out + out2):
        continue
    t, plain = tensors(q), tensors(back)
    names = weights_4bit(t)
    cmp = same_bits_fp4 if qtype == "fp4" else same_bits
    bad = [w for w in names if not cmp(bnb_dequant(t, w), plain[w])]
    ok(names and not bad, "(a) bitsandbytes dequantizes %d kbit %s %s%s weights to the same "
       "bits as kbit%s" % (len(names), dtype, qtype, " nested" if dq else "",
                           " (FP4 code 8: +0.0 vs -0.0)" if qtype == "fp4" else ""),
       "differ: %s" % bad[:3])


# (b) transformers loads kbit's output without a quantization config ----------
def logits(path, **kw):
    m = transformers.AutoModelForCausalLM.from_pretrained(path, device_map="cpu", **kw)
    m.eval()
    ids = torch.tensor([[1, 17, 42, 99, 7, 300, 5]])
    with torch.no_grad():
        return m, m(ids).logits.float()


src = gen("b-src", "fp32")
for bits in ("4", "8"):
    q = os.path.join(WORK, "b-q%s" % bits)
    back = q + "-dq"
    args = ["--4bit", "--quant-type", "nf4", "--double-quant"] if bits == "4" else ["--8bit"]
    rc, out = run(KBIT, "quantize", src, q, "--quiet", *args)
    rc2, out2 = run(KBIT, "dequantize", q, back, "--dtype", "fp32", "--quiet")
    if not ok(rc == 0 and rc2 == 0, "(b) kbit quantize --%sbit a tiny Llama" % bits, out + out2):
        continue
    try:
        m, got = logits(q)
        layer = m.model.layers[0].mlp.up_proj
        kind = type(layer).__name__
        _, want = logits(back, torch_dtype=torch.float32)
        err = float((got - want).abs().max() / want.abs().max())
        ok(kind == ("Linear4bit" if bits == "4" else "Linear8bitLt"),
           "(b) transformers loads the %s-bit directory with no config argument (%s layers)"
           % (bits, kind))
        ok(torch.isfinite(got).all() and err < 0.05,
           "(b) forward pass: logits finite, max error %.2g of the dequantized model's" % err)
        rc, out = run(KBIT, "inspect", q, "--json")
        fp = json.loads(out).get("memory_footprint_bytes") if rc == 0 else None
        want_fp = m.get_memory_footprint(return_buffers=False)
        ok(fp == want_fp, "(b) kbit inspect's footprint %s = get_memory_footprint(return_buffers="
           "False) %d (%s-bit)" % (fp, want_fp, bits))
    except Exception as e:  # the failure is the test's result
        ok(False, "(b) transformers loads kbit's %s-bit output and runs it" % bits, repr(e))


# (c) kbit reads checkpoints saved by transformers + bitsandbytes --------------
src = gen("c-src", "fp16")
for label, cfg in (
        ("4-bit nf4 nested", dict(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                  bnb_4bit_use_double_quant=True,
                                  bnb_4bit_compute_dtype=torch.float16)),
        ("4-bit fp4 plain", dict(load_in_4bit=True, bnb_4bit_quant_type="fp4")),
        ("8-bit", dict(load_in_8bit=True))):
    saved = os.path.join(WORK, "c-" + label.replace(" ", "-"))
    try:
        m = transformers.AutoModelForCausalLM.from_pretrained(
            src, device_map="cpu", dtype=torch.float16,
            quantization_config=transformers.BitsAndBytesConfig(**cfg))
        m.save_pretrained(saved, max_shard_size="100KB")  # sharded, with an index
    except Exception as e:
        ok(False, "(c) transformers + bitsandbytes save a %s checkpoint" % label, repr(e))
        continue
    rc, out = run(KBIT, "inspect", saved, "--json")
    info = json.loads(out) if rc == 0 else {}
    quantized = info.get("quantized", 0)
    ok(rc == 0 and quantized > 0, "(c) kbit inspect reads transformers' %s checkpoint "
       "(%d quantized weights)" % (label, quantized), out)
    back = saved + "-dq"
    rc, out = run(KBIT, "dequantize", saved, back, "--dtype", "fp16", "--quiet")
    if not ok(rc == 0, "(c) kbit dequantize of transformers' %s checkpoint" % label, out):
        continue
    t, plain = tensors(saved), tensors(back)
    if "8-bit" in label:
        names = sorted(k for k in t if k.endswith(".SCB"))
        bad = []
        for s in names:
            w = s[: -len("SCB")] + "weight"
            ref = (t[w].float() * t[s].view(-1, 1) * 7.874015718698502e-3).to(torch.float16)
            if not same_bits(ref, plain[w]):
                bad.append(w)
        what = "CB * SCB / 127 (bitsandbytes' int8 weight dequantization)"
    else:
        names = weights_4bit(t)
        cmp = same_bits_fp4 if "fp4" in label else same_bits
        bad = [w for w in names if not cmp(bnb_dequant(t, w), plain[w])]
        what = "bitsandbytes' dequantize_4bit"
    ok(names and not bad, "(c) %s: kbit's dequantization of %d weights equals %s bit for bit"
       % (label, len(names), what), "differ: %s" % bad[:3])

    # the same weights quantized by kbit: same keys; how many bytes differ
    mine = saved + "-kbit"
    args = (["--8bit"] if "8-bit" in label else
            ["--quant-type", cfg["bnb_4bit_quant_type"]] +
            (["--double-quant"] if cfg.get("bnb_4bit_use_double_quant") else []) +
            (["--compute-dtype", "fp16"] if "bnb_4bit_compute_dtype" in cfg else []))
    rc, out = run(KBIT, "quantize", src, mine, "--quiet", *args)
    k = tensors(mine) if rc == 0 else {}
    if rc == 0:
        qc_bnb = json.load(open(os.path.join(saved, "config.json")))["quantization_config"]
        qc_kbit = json.load(open(os.path.join(mine, "config.json")))["quantization_config"]
        ok(qc_kbit == qc_bnb, "(c) %s: kbit's quantization_config equals the one transformers "
           "writes for the same options" % label, "kbit %s\nbnb  %s" % (qc_kbit, qc_bnb))
        ok(qconfig_text(mine) == qconfig_text(saved), "(c) %s: ... and its text in config.json is "
           "byte-identical" % label, qconfig_text(mine) + "\n" + qconfig_text(saved))
    same_keys = set(k) == set(t)
    ok(rc == 0 and same_keys, "(c) %s: kbit quantize writes the same keys as transformers + "
       "bitsandbytes" % label, out + " only kbit: %s, only bnb: %s" %
       (sorted(set(k) - set(t))[:3], sorted(set(t) - set(k))[:3]))
    if same_keys:
        for suffix in (".SCB", ".weight", ".absmax", ".nested_absmax"):
            keys = [x for x in t if x.endswith(suffix) and (suffix != ".weight" or
                                                           (x[:-6] + "SCB" in t) or
                                                           (x + ".quant_map" in t))]
            if not keys:
                continue
            diff = sum(int((k[x].view(torch.uint8) != t[x].view(torch.uint8)).sum()) for x in keys)
            total = sum(t[x].numel() * t[x].element_size() for x in keys)
            print("# %s, *%s: %d of %d bytes differ between kbit and bitsandbytes-CPU "
                  "quantization (numerics 9.3-9.5)" % (label, suffix, diff, total))
        blobs = [x for x in t if ".quant_state.bitsandbytes__" in x]
        if blobs:
            same = [x for x in blobs if bytes(k[x].tolist()) == bytes(t[x].tolist())]
            if "nested" in label:  # nested_offset: fp64 mean in kbit, fp32 torch.mean in bnb
                print("# %s: %d of %d quant-state JSON blobs byte-identical to bitsandbytes'"
                      % (label, len(same), len(blobs)))
            else:
                ok(len(same) == len(blobs), "(c) %s: all %d quant-state JSON blobs are "
                   "byte-identical to the ones bitsandbytes writes" % (label, len(blobs)))
        if "8-bit" in label:
            scb = [x for x in t if x.endswith(".SCB")]
            ok(all(torch.equal(k[x], t[x]) for x in scb),
               "(c) 8-bit: kbit's SCB (row absmax) equals bitsandbytes' bit for bit")

plan()
sys.exit(0)
