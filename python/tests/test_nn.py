"""kbit.nn: Linear4bit / Params4bit and Linear8bitLt / Int8Params — the
forward and input-gradient backward are libkbit's (equal to the functional
calls bit for bit), the state_dict keys are bitsandbytes', and state dicts
move between kbit's and bitsandbytes' layers both ways."""
import copy
import json
import pickle
import warnings

import pytest

torch = pytest.importorskip("torch")
from conftest import needs_bnb  # noqa: E402

warnings.filterwarnings("ignore")
import kbit  # noqa: E402
import kbit.functional as F  # noqa: E402
from kbit.nn import Int8Params, Linear4bit, Linear8bitLt, Params4bit  # noqa: E402


def plain(n_in=192, n_out=96, bias=True, seed=0, dtype=torch.float32):
    torch.manual_seed(seed)
    return torch.nn.Linear(n_in, n_out, bias=bias).to(dtype)


def _bits(x):
    return x.view({1: torch.uint8, 2: torch.int16, 4: torch.int32}[x.element_size()])


def kbit_4bit(lin, quant_type="nf4", compress_statistics=True, compute_dtype=None):
    m = Linear4bit(lin.in_features, lin.out_features, bias=lin.bias is not None,
                   compute_dtype=compute_dtype, compress_statistics=compress_statistics,
                   quant_type=quant_type)
    m.load_state_dict(lin.state_dict())
    return m.to("cpu")


@pytest.mark.parametrize("quant_type", ["nf4", "fp4"])
@pytest.mark.parametrize("nested", [False, True])
def test_linear4bit_forward_is_the_kbit_matmul(quant_type, nested):
    lin = plain()
    m = kbit_4bit(lin, quant_type, nested)
    assert m.weight.bnb_quantized and m.weight.dtype == torch.uint8
    assert m.weight.shape == ((192 * 96 + 1) // 2, 1)
    x = torch.randn(5, 7, 192)
    with torch.no_grad():
        y = m(x)
    want = F.gemm_4bit(x, m.weight, m.weight.quant_state, bias=m.bias)
    assert torch.equal(y, want) and y.shape == (5, 7, 96)
    w = F.dequantize_4bit(m.weight, m.weight.quant_state)
    ref = x.double() @ w.double().t() + m.bias.double()
    assert torch.allclose(y.double(), ref, rtol=1e-5, atol=1e-5)


def test_linear4bit_compute_dtype_and_quant_storage():
    lin = plain(dtype=torch.float16)
    m = Linear4bit(192, 96, compute_dtype=torch.float32, quant_type="nf4",
                   quant_storage=torch.bfloat16)
    m.load_state_dict(lin.state_dict())
    m = m.to("cpu")
    assert m.weight.dtype == torch.bfloat16 and m.weight.shape == (192 * 96 // 4, 1)
    x = torch.randn(3, 192).half()
    with torch.no_grad():
        y = m(x)
    assert y.dtype == torch.float16
    want = F.gemm_4bit(x.float(), m.weight, m.weight.quant_state, bias=m.bias.float()).half()
    assert torch.equal(y, want)


def test_linear4bit_backward_gives_the_input_gradient():
    lin = plain()
    m = kbit_4bit(lin)
    m.bias.requires_grad_(True)
    x = torch.randn(6, 192, requires_grad=True)
    y = m(x)
    g = torch.randn_like(y)
    y.backward(g)
    want = F.gemm_4bit_backward(g, m.weight, m.weight.quant_state)
    assert torch.equal(x.grad, want)
    assert torch.allclose(m.bias.grad, g.sum(0))
    assert m.weight.grad is None and not m.weight.requires_grad
    w = F.dequantize_4bit(m.weight, m.weight.quant_state).double()
    assert torch.allclose(x.grad.double(), g.double() @ w, rtol=1e-5, atol=1e-6)


def test_linear4bit_quantizes_on_first_forward_and_copies():
    lin = plain()
    m = Linear4bit(192, 96, quant_type="nf4")
    m.load_state_dict(lin.state_dict())
    assert not m.weight.bnb_quantized
    with torch.no_grad():
        y = m(torch.randn(2, 192))
    assert m.weight.bnb_quantized and y.shape == (2, 96)
    m2 = copy.deepcopy(m)
    assert torch.equal(m2.weight, m.weight) and m2.weight.quant_state is not m.weight.quant_state
    m3 = pickle.loads(pickle.dumps(m))
    x = torch.randn(4, 192)
    with torch.no_grad():
        assert torch.equal(m3(x), m(x)) and torch.equal(m2(x), m(x))


def test_linear4bit_state_dict_round_trip():
    m = kbit_4bit(plain())
    sd = m.state_dict()
    assert sorted(sd) == sorted(["weight", "bias", "weight.absmax", "weight.quant_map",
                                 "weight.nested_absmax", "weight.nested_quant_map",
                                 "weight.quant_state.bitsandbytes__nf4"])
    fresh = Linear4bit(192, 96, quant_type="fp4", device="meta")
    fresh.load_state_dict(sd)
    x = torch.randn(3, 192)
    with torch.no_grad():
        assert torch.equal(fresh(x), m(x))
    assert fresh.weight.quant_state.quant_type == "nf4"


@needs_bnb
@pytest.mark.parametrize("nested", [False, True])
def test_linear4bit_state_dict_matches_bitsandbytes(nested):
    import bitsandbytes as bnb
    lin = plain()
    k = kbit_4bit(lin, "nf4", nested)
    b = bnb.nn.Linear4bit(192, 96, compress_statistics=nested, quant_type="nf4")
    b.load_state_dict(lin.state_dict())
    b = b.to("cpu")
    ks, bs = k.state_dict(), b.state_dict()
    assert list(ks) == list(bs)
    for key in ks:
        assert ks[key].dtype == bs[key].dtype and ks[key].shape == bs[key].shape, key
    blob = "weight.quant_state.bitsandbytes__nf4"
    jk, jb = json.loads(bytes(ks[blob].tolist())), json.loads(bytes(bs[blob].tolist()))
    assert list(jk) == list(jb)
    if not nested:
        assert bytes(ks[blob].tolist()) == bytes(bs[blob].tolist())
    # bitsandbytes' state dict loads into kbit's layer and dequantizes to bitsandbytes' bits
    fresh = Linear4bit(192, 96, quant_type="nf4")
    fresh.load_state_dict(bs)
    bst = b.weight.quant_state
    assert torch.equal(F.dequantize_4bit(fresh.weight, fresh.weight.quant_state),
                       bnb.functional.dequantize_4bit(b.weight, bst))
    # and kbit's loads into bitsandbytes' the way transformers does it
    stats = {k2[len("weight."):]: v for k2, v in ks.items() if k2.startswith("weight.")}
    p = bnb.nn.Params4bit.from_prequantized(ks["weight"], stats, device="cpu")
    assert torch.equal(bnb.functional.dequantize_4bit(p, p.quant_state),
                       F.dequantize_4bit(k.weight, k.weight.quant_state))


def kbit_8bit(lin, threshold=6.0):
    m = Linear8bitLt(lin.in_features, lin.out_features, bias=lin.bias is not None,
                     has_fp16_weights=False, threshold=threshold)
    m.load_state_dict(lin.state_dict())
    return m.to("cpu")


@pytest.mark.parametrize("threshold", [0.0, 6.0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_linear8bitlt_forward_backward(threshold, dtype):
    lin = plain()
    m = kbit_8bit(lin, threshold)
    assert m.weight.dtype == torch.int8
    CB, SCB = F.int8_quantize_weight(lin.weight.data)
    assert torch.equal(m.weight.CB, CB) and torch.equal(m.weight.SCB, SCB)
    x = torch.randn(9, 192).to(dtype)
    x[:, 3] *= 20                                  # an outlier column
    x.requires_grad_(True)
    y = m(x)
    want = F.int8_linear_forward(x.detach(), CB, SCB, threshold=threshold,
                                 bias=m.bias.detach().to(dtype))
    assert y.dtype == dtype and torch.equal(y, want)
    g = torch.randn_like(y)
    y.backward(g)
    assert torch.equal(x.grad, F.int8_linear_backward(g, CB, SCB))


@needs_bnb
def test_linear8bitlt_matches_bitsandbytes_state_dict():
    import bitsandbytes as bnb
    lin = plain()
    k = kbit_8bit(lin)
    b = bnb.nn.Linear8bitLt(192, 96, has_fp16_weights=False, threshold=6.0)
    b.load_state_dict(lin.state_dict())
    b = b.to("cpu")
    ks, bs = k.state_dict(), b.state_dict()
    assert list(ks) == list(bs) == ["weight", "bias", "SCB", "weight_format"]
    for key in ks:
        assert ks[key].dtype == bs[key].dtype and ks[key].shape == bs[key].shape, key
        if key != "weight":   # CB: bitsandbytes' scale 127 * (1/SCB), see test_vs_bnb
            assert torch.equal(ks[key], bs[key]), key
    assert (ks["weight"] != bs["weight"]).sum() <= 3
    fresh = Linear8bitLt(192, 96, has_fp16_weights=False, threshold=6.0)
    fresh.load_state_dict(bs)
    assert torch.equal(fresh.weight, bs["weight"]) and torch.equal(fresh.weight.SCB, bs["SCB"])
    x = torch.randn(4, 192)
    with torch.no_grad():
        assert torch.equal(fresh(x), F.int8_linear_forward(x, bs["weight"], bs["SCB"], 6.0,
                                                           fresh.bias))


def test_int8params_and_params4bit_are_parameters():
    p = Params4bit(torch.randn(64, 64), quant_type="nf4")
    assert isinstance(p, torch.nn.Parameter) and not p.requires_grad
    q = p.to("cpu")
    assert q.bnb_quantized and q.quant_state.shape == (64, 64)
    assert torch.equal(q.absmax, q.quant_state.absmax) and q.nested_blocksize == 256
    i = Int8Params(torch.randn(32, 64), requires_grad=False).to("cpu")
    assert i.dtype == torch.int8 and i.SCB.shape == (32,)


def test_matmul_4bit_empty_and_transposed():
    w = torch.randn(32, 64)
    packed, st = F.quantize_4bit(w, quant_type="nf4")
    assert kbit.matmul_4bit(torch.empty(0, 64), packed, st).shape == (0, 32)
    with pytest.raises(ValueError):
        F.gemm_4bit(torch.randn(2, 63), packed, st)
