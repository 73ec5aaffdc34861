"""QLoRA smoke test: LoRA adapters on a tiny generated Llama whose linear
layers are kbit Linear4bit (NF4, double-quantized), trained 50 steps with
kbit.optim.AdamW8bit on the CPU: the loss falls. The adapters' gradients
through kbit's 4-bit backward are compared with bitsandbytes' on the same
packed weights."""
import math
import warnings

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
from conftest import needs_bnb  # noqa: E402

warnings.filterwarnings("ignore")
import kbit.functional as F  # noqa: E402
import kbit.integrations as KI  # noqa: E402
import kbit.optim as O  # noqa: E402
from kbit.nn import Linear4bit  # noqa: E402


class LoRA(torch.nn.Module):
    """y = base(x) + (x A^T) B^T * alpha / r, A random, B zero (the usual init)."""

    def __init__(self, base, r=8, alpha=16, seed=0):
        super().__init__()
        self.base = base
        g = torch.Generator().manual_seed(seed)
        self.A = torch.nn.Parameter(torch.randn(r, base.in_features, generator=g) /
                                    math.sqrt(base.in_features))
        self.B = torch.nn.Parameter(torch.zeros(base.out_features, r))
        self.scale = alpha / r

    def forward(self, x):
        return self.base(x) + (x @ self.A.t()) @ self.B.t() * self.scale


def tiny_llama(seed=0):
    torch.manual_seed(seed)
    cfg = transformers.LlamaConfig(vocab_size=128, hidden_size=64, intermediate_size=128,
                                   num_hidden_layers=2, num_attention_heads=4,
                                   num_key_value_heads=2, max_position_embeddings=64)
    return transformers.LlamaForCausalLM(cfg).eval()


def add_lora(model):
    params = []
    for i, layer in enumerate(model.model.layers):
        for name in ("q_proj", "v_proj"):
            base = getattr(layer.self_attn, name)
            lora = LoRA(base, seed=10 * i + len(name))
            setattr(layer.self_attn, name, lora)
            params += [lora.A, lora.B]
    for p in model.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    return params


def batch():
    g = torch.Generator().manual_seed(5)
    ids = torch.randint(0, 128, (4, 24), generator=g)
    return ids


def test_qlora_trains_50_steps(tap_note):
    model = tiny_llama()
    n = KI.quantize_model(model, bits=4, quant_type="nf4", compress_statistics=True,
                          compute_dtype=torch.float32)
    assert n == 2 * 7
    params = add_lora(model)
    model.train()
    opt = O.AdamW8bit(params, lr=3e-2, min_8bit_size=256)
    ids = batch()
    losses = []
    for step in range(50):
        out = model(input_ids=ids, labels=ids)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(float(out.loss))
    assert all(math.isfinite(x) for x in losses)
    # the initial loss is ln(128) = 4.85 (a random model); the adapters (q and v
    # of 2 layers, rank 8) bring it down steadily
    assert losses[-1] < losses[0] - 0.5, losses
    assert sum(losses[-10:]) < sum(losses[:10]) - 3.0, losses
    assert all(isinstance(l.base, Linear4bit) for l in model.modules() if isinstance(l, LoRA))
    bits = {opt.kbit_state_info(p)["state_bits"] for p in params}
    assert bits == {8}, bits                        # the adapters' states are 8-bit
    tap_note("QLoRA loss %.4f -> %.4f in 50 steps (AdamW8bit, 8-bit states)"
             % (losses[0], losses[-1]))


@needs_bnb
def test_lora_gradients_match_bitsandbytes(tap_note):
    """The same packed NF4 weights and quant states in bitsandbytes'
    Linear4bit: the adapter gradients agree to fp32 rounding (kbit's
    backward is one dot32 per element, bitsandbytes' dequantize + torch
    matmul: the same sums in another order)."""
    import bitsandbytes as bnb
    model_k = tiny_llama()
    KI.quantize_model(model_k, bits=4, quant_type="nf4", compress_statistics=True,
                      compute_dtype=torch.float32)
    model_b = tiny_llama()
    for name, m in list(model_k.named_modules()):
        if isinstance(m, Linear4bit):
            qs = m.weight.quant_state
            s2 = bnb.functional.QuantState(absmax=qs.state2.absmax, blocksize=256,
                                           code=qs.state2.code, dtype=torch.float32)
            bqs = bnb.functional.QuantState(absmax=qs.absmax, shape=qs.shape, code=qs.code,
                                            blocksize=qs.blocksize, quant_type="nf4",
                                            dtype=qs.dtype, offset=qs.offset, state2=s2)
            b = bnb.nn.Linear4bit(m.in_features, m.out_features, bias=m.bias is not None,
                                  compute_dtype=torch.float32, quant_type="nf4")
            b.weight = bnb.nn.Params4bit(m.weight.data, requires_grad=False, quant_state=bqs,
                                         quant_type="nf4", bnb_quantized=True, module=b)
            b.quant_state = bqs
            parent, _, child = name.rpartition(".")
            setattr(model_b.get_submodule(parent), child, b)
    pk, pb = add_lora(model_k), add_lora(model_b)
    model_k.train()
    model_b.train()
    ids = batch()
    for model in (model_k, model_b):
        model(input_ids=ids, labels=ids).loss.backward()
    worst = 0.0
    for a, b in zip(pk, pb):
        if a.grad.abs().max() == 0:
            assert b.grad.abs().max() == 0
            continue
        rel = float((a.grad - b.grad).abs().max() / a.grad.abs().max())
        worst = max(worst, rel)
    assert worst < 1e-4, worst
    tap_note("LoRA gradients, kbit vs bitsandbytes: largest relative difference %.2e" % worst)


def test_kbit_backward_is_the_4bit_matmul_transpose():
    """The input gradient of a Linear4bit is kbit_gemm_4bit_backward exactly."""
    w = torch.randn(96, 64)
    packed, qs = F.quantize_4bit(w, quant_type="nf4", compress_statistics=True)
    x = torch.randn(3, 64, requires_grad=True)
    import kbit
    y = kbit.matmul_4bit(x, packed, qs)
    g = torch.randn_like(y)
    y.backward(g)
    assert torch.equal(x.grad, F.gemm_4bit_backward(g, packed, qs))
