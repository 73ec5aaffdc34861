"""kbit.functional against bitsandbytes (its CPU backend, installed in the
interop venv): bit for bit where numerics.md says the two agree, and where
it says they differ, the difference itself, exactly: each side is checked
against a NumPy model of its documented rule, so every differing output is
one the documentation explains (doc/python.md lists them per function)."""
import json
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from conftest import needs_bnb  # noqa: E402

pytestmark = needs_bnb
warnings.filterwarnings("ignore")

import kbit.functional as K  # noqa: E402


@pytest.fixture(scope="module")
def B():
    import bitsandbytes.functional as bnbF
    return bnbF


def f32(bits):
    return np.array(bits, dtype=np.uint32).view(np.float32)


# numerics.md 1.5 / 1.6: the thresholds kbit compares against (bnb-CUDA's literals)
TNF4 = f32([0xbf591cd9, 0xbf1c5270, 0xbeeb8480, 0xbeadea76, 0xbe703cec, 0xbe0d38bc, 0xbd3a7871,
            0x3d22faff, 0x3df64863, 0x3e5067e0, 0x3e9582d4, 0x3ec753f9, 0x3f006d03, 0x3f248daf,
            0x3f5c89d9])
TA, TB, TC, TD, TE, TF, TG = f32([0x3b2aaab9, 0x3db00000, 0x3e555555, 0x3e955555, 0x3ed55556,
                                  0x3f155550, 0x3f555555])


def kbit_enc(x, qt):
    """numerics 1.5 / 1.6 encoders on normalised fp32 values."""
    if qt == "nf4":
        return (x[:, None] > TNF4[None, :]).sum(1).astype(np.uint8)
    a = np.abs(x)
    k = np.where(a > TD, np.where(a > TF, np.where(a > TG, 3, 2), np.where(a > TE, 5, 4)),
                 np.where(a > TB, np.where(a > TC, 7, 6), np.where(a > TA, 1, 0)))
    return (k + np.where(x < 0, 8, 0)).astype(np.uint8)


def unpack(packed, n):
    b = packed.view(torch.uint8).reshape(-1).numpy()
    q = np.empty(2 * b.size, dtype=np.uint8)
    q[0::2], q[1::2] = b >> 4, b & 15
    return q[:n]


def kbit_model(v, bs, qt):
    """kbit's codes: x = v * (1 / absmax) in fp32 for every block (numerics 1.4)."""
    n = v.size
    nb = -(-n // bs)
    pad = np.zeros(nb * bs, np.float32)
    pad[:n] = v
    am = np.abs(pad.reshape(nb, bs)).max(1)
    with np.errstate(all="ignore"):
        r = np.float32(1) / am
        x = (pad.reshape(nb, bs) * r[:, None]).reshape(-1)
    q = kbit_enc(x, qt)
    return q[:n], am


def bnb_model(v, bs, qt, bounds, order):
    """bitsandbytes-default (its CPU quantize_4bit): full blocks times
    1/clamp(absmax, 1e-38), the tail divided, clamped to [-1, 1],
    torch.bucketize over its fp32 midpoints (FP4 through argsort)."""
    n = v.size
    full = n - n % bs
    with np.errstate(all="ignore"):
        am = np.abs(v[:full].reshape(-1, bs)).max(1) if full else np.zeros(0, np.float32)
        r = np.float32(1) / np.maximum(am, np.float32(1e-38))
        x = np.clip(v[:full].reshape(-1, bs) * r[:, None], -1, 1).reshape(-1)
        if n % bs:
            t = np.maximum(np.abs(v[full:]).max(), np.float32(1e-38))
            am = np.concatenate([am, [t]]).astype(np.float32)
            x = np.concatenate([x, np.clip(v[full:] / t, -1, 1)]).astype(np.float32)
    if x.size % 2:
        x = np.concatenate([x, np.zeros(1, np.float32)])
    q = (x[:, None] > bounds[None, :]).sum(1)
    if qt != "nf4":
        q = order[q]
    return q.astype(np.uint8)[:n], am


CASES = [((64, 128), 64, "nf4", torch.float32), ((64, 128), 64, "fp4", torch.float32),
         ((33, 130), 64, "nf4", torch.float16), ((33, 130), 128, "fp4", torch.bfloat16),
         ((5, 999), 256, "nf4", torch.float32), ((1, 4097), 4096, "fp4", torch.float16)]


@pytest.mark.parametrize("shape,bs,qt,dt", CASES)
def test_quantize_4bit_differs_only_as_documented(B, shape, bs, qt, dt):
    from bitsandbytes.backends.default.ops import _get_4bit_quantize_bounds
    g = torch.Generator().manual_seed(hash((shape, bs, qt)) % 1000)
    w = (torch.randn(shape, generator=g) * 0.05).to(dt)
    w.view(-1)[:bs] = 0                       # an all-zero block
    # block 1: absmax exactly 1, then kbit's thresholds and bitsandbytes'
    # midpoints, each exactly and 1 ulp either side (the slivers of numerics 9.3)
    bounds, order = _get_4bit_quantize_bounds(qt, torch.device("cpu"))
    t = TNF4 if qt == "nf4" else np.array([TA, TB, TC, TD, TE, TF, TG], np.float32)
    t = np.concatenate([t, -t]) if qt == "fp4" else t
    edges = np.concatenate([t, bounds.numpy()])
    planted = np.concatenate([[1.0], edges, np.nextafter(edges, 2), np.nextafter(edges, -2)])
    m = min(planted.size, bs, w.numel() - bs)
    w.view(-1)[bs:bs + m] = torch.from_numpy(planted[:m].astype(np.float32)).to(dt)
    kp, ks = K.quantize_4bit(w, blocksize=bs, quant_type=qt)
    bp, bs_state = B.quantize_4bit(w, blocksize=bs, quant_type=qt)
    v = w.float().reshape(-1).numpy()
    n = v.size
    kq, kam = kbit_model(v, bs, qt)
    bq, bam = bnb_model(v, bs, qt, bounds.numpy(), order.numpy())
    assert np.array_equal(unpack(kp, n), kq), "kbit is not numerics 1.4-1.6"
    assert np.array_equal(ks.absmax.numpy(), kam)
    assert np.array_equal(unpack(bp, n), bq), "bitsandbytes is not as numerics 9.3 describes"
    assert np.array_equal(bs_state.absmax.numpy(), bam)
    diff = unpack(kp, n) != unpack(bp, n)
    # they differ only there, and for NF4 at least in the zero block (0x00 vs 0x77)
    assert diff.sum() == (kq != bq).sum()
    assert qt != "nf4" or diff[:bs].all()
    print("%d of %d codes differ" % (diff.sum(), n))


def _bits(x):
    return x.view({1: torch.uint8, 2: torch.int16, 4: torch.int32}[x.element_size()])


@pytest.mark.parametrize("shape,bs,qt", [((64, 128), 64, "nf4"), ((64, 128), 64, "fp4"),
                                         ((64, 4096), 2048, "fp4"), ((7, 33), 64, "nf4"),
                                         ((128, 256), 128, "nf4")])
@pytest.mark.parametrize("dt", [torch.float32, torch.float16, torch.bfloat16])
def test_dequantize_4bit(B, shape, bs, qt, dt):
    """Bit for bit, except FP4 code 8: kbit -0.0 (the CUDA kernels'), bitsandbytes' CPU +0.0."""
    w = torch.randn(shape, generator=torch.Generator().manual_seed(7))
    kp, ks = K.quantize_4bit(w, blocksize=bs, quant_type=qt)
    ks.dtype = dt
    bst = B.QuantState(absmax=ks.absmax, shape=ks.shape, code=ks.code, blocksize=bs,
                       quant_type=qt, dtype=dt)
    a, b = K.dequantize_4bit(kp, ks), B.dequantize_4bit(kp, bst)
    d = (_bits(a) != _bits(b)).reshape(-1).numpy()
    codes = unpack(kp, w.numel())
    if qt == "nf4":
        assert not d.any()
    else:
        assert np.all(codes[d] == 8)
        assert torch.all(_bits(a).reshape(-1)[torch.from_numpy(d)] == _bits(torch.tensor(
            -0.0, dtype=dt)))


@pytest.mark.parametrize("shape", [(4, 48), (3, 96)])
def test_dequantize_4bit_rows_not_multiple_of_blocksize(B, shape):
    """numerics 9.6 item 22: bitsandbytes' AVX-512 kernel indexes the absmax per
    row; kbit's flat blocks give DEC[q] * absmax[i / 64] for every element."""
    w = torch.randn(shape, generator=torch.Generator().manual_seed(2))
    kp, ks = K.quantize_4bit(w, quant_type="nf4")
    got = K.dequantize_4bit(kp, ks).reshape(-1).numpy()
    code = K.get_4bit_type("nf4").numpy()
    q = unpack(kp, w.numel())
    want = code[q] * np.repeat(ks.absmax.numpy(), 64)[: w.numel()]
    assert np.array_equal(got, want)
    bst = B.QuantState(absmax=ks.absmax, shape=ks.shape, code=ks.code, blocksize=64,
                       quant_type="nf4", dtype=torch.float32)
    assert not np.array_equal(B.dequantize_4bit(kp, bst).reshape(-1).numpy(), want), \
        "bitsandbytes fixed numerics 9.6 item 22: update doc/python.md"


def test_quantize_blockwise_lut_resolution(B):
    """numerics 9.4 item 12: bitsandbytes' CPU quantize_blockwise looks codes up
    in a 65536-cell table instead of searching the map. kbit is the exact
    nearest code (ties to even); bitsandbytes' code is never nearer and at
    most one table cell (2/65535 of the absmax) farther."""
    g = torch.Generator().manual_seed(11)
    x = torch.randn(1 << 16, generator=g)
    x[:300] = 0
    x[300:600] *= 1e-4
    code = K.create_dynamic_map()
    kq, ks = K.quantize_blockwise(x, blocksize=4096)
    bq, bs_ = B.quantize_blockwise(x, code=code, blocksize=4096)
    assert torch.equal(ks.absmax, bs_.absmax)
    c = code.numpy().astype(np.float64)
    xn = (x.view(-1, 4096) * (1.0 / ks.absmax.view(-1, 1))).reshape(-1).numpy().astype(np.float64)
    ek = np.abs(c[kq.numpy().astype(int)] - xn)
    eb = np.abs(c[bq.numpy().astype(int)] - xn)
    nearest = np.abs(c[None, :] - xn[:4096, None]).min(1)
    assert np.allclose(ek[:4096], nearest, rtol=0, atol=0)
    assert np.all(eb >= ek - 1e-12)
    assert np.all(eb - ek <= 2.0 / 65535 + 1e-9), (eb - ek).max()
    assert (kq != bq).sum() > 0   # the difference is real (e.g. 0.0 -> 131 in bitsandbytes)
    assert int(bq[0]) == 131 and int(kq[0]) == 127


@pytest.mark.parametrize("dt", [torch.float32, torch.float16, torch.bfloat16])
def test_dequantize_blockwise(B, dt):
    x = torch.randn(10000, generator=torch.Generator().manual_seed(4))
    q, st = K.quantize_blockwise(x, blocksize=256)
    st.dtype = dt
    bst = B.QuantState(absmax=st.absmax, code=st.code, blocksize=256, dtype=dt)
    assert torch.equal(_bits(K.dequantize_blockwise(q, st)), _bits(B.dequantize_blockwise(q, bst)))


def test_quant_state_dict_is_bitsandbytes_format(B):
    """as_dict(packed=True): the keys, tensors and the packed JSON bytes that
    bitsandbytes' own QuantState writes for the same state, and from_dict
    reads each other's."""
    w = torch.randn(96, 128, dtype=torch.bfloat16, generator=torch.Generator().manual_seed(9))
    for nested in (False, True):
        for qt in ("nf4", "fp4"):
            kp, ks = K.quantize_4bit(w, quant_type=qt, compress_statistics=nested)
            s2 = None
            if nested:
                s2 = B.QuantState(absmax=ks.state2.absmax, blocksize=256, code=ks.state2.code,
                                  dtype=torch.float32)
            bst = B.QuantState(absmax=ks.absmax, shape=ks.shape, code=ks.code, blocksize=64,
                               quant_type=qt, dtype=ks.dtype, offset=ks.offset, state2=s2)
            kd, bd = ks.as_dict(packed=True), bst.as_dict(packed=True)
            assert list(kd) == list(bd)
            for k in kd:
                assert kd[k].dtype == bd[k].dtype and torch.equal(kd[k], bd[k]), k
            blob = "quant_state.bitsandbytes__" + qt
            meta = json.loads(bytes(kd[blob].tolist()))
            assert list(meta)[:4] == ["quant_type", "blocksize", "dtype", "shape"]
            # each reads the other's dict, and dequantizes to the same bits
            back_k = K.QuantState.from_dict(bd, device="cpu")
            back_b = B.QuantState.from_dict(kd, device=torch.device("cpu"))
            want = K.dequantize_4bit(kp, ks)
            assert torch.equal(_bits(K.dequantize_4bit(kp, back_k)), _bits(want))
            if qt == "nf4":
                assert torch.equal(_bits(B.dequantize_4bit(kp, back_b)), _bits(want))


def test_bnb_quantized_state_dequantizes_the_same(B):
    """A state bitsandbytes made (its own offset, its run-time maps) is read
    as stored: kbit's dequantization equals bitsandbytes' bit for bit (NF4)."""
    w = torch.randn(128, 256, dtype=torch.float16, generator=torch.Generator().manual_seed(3))
    bp, bst = B.quantize_4bit(w, quant_type="nf4", compress_statistics=True)
    kst = K.QuantState.from_dict(bst.as_dict(packed=True), device="cpu")
    assert torch.equal(_bits(K.dequantize_4bit(bp, kst)), _bits(B.dequantize_4bit(bp, bst)))


def test_nested_offset_is_the_fp64_mean(B):
    """numerics 3: kbit's offset is f32(fp64 mean) of the absmax, bitsandbytes'
    torch's fp32 mean; both are recorded with the state."""
    w = torch.randn(512, 512, generator=torch.Generator().manual_seed(5))
    _, ks = K.quantize_4bit(w, quant_type="nf4")
    _, kn = K.quantize_4bit(w, quant_type="nf4", compress_statistics=True)
    want = np.float32(np.sum(ks.absmax.numpy().astype(np.float64)) / ks.absmax.numel())
    assert kn.offset.item() == float(want)


# --- LLM.int8()

def _int8_input(rows, cols, outliers, seed):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(rows, cols, generator=g).to(torch.float16)
    for c in outliers:
        A[:, c] *= 8
    return A


def bnb_int8_model(A, threshold):
    """bitsandbytes-default's int8_vectorwise_quant as it runs: outliers zeroed
    first, row absmax, then A * (127.0 / row_stats), where torch evaluates a
    Python scalar divided by a tensor as 127 * (1 / row_stats) (two fp32
    roundings; numerics.md 4.1 assumes an IEEE division), rounded half to even."""
    a = A.float().numpy().copy()
    rows = a.shape[0]
    cols_out = None
    if threshold > 0:
        mask = np.abs(a) >= np.float32(threshold)
        cols_out = np.nonzero(mask.any(0))[0]
        a[mask] = 0
    sca = np.abs(a).max(1).astype(np.float32)
    with np.errstate(all="ignore"):
        s = np.float32(127) * (np.float32(1) / sca)
        ca = np.rint(a * s[:, None]).astype(np.int8)
    if rows > 1 and cols_out is not None:
        ca[:, cols_out] = 0
    return ca, sca, cols_out


def kbit_int8_model(A, threshold):
    """numerics 4.1: s = 127 / SCA, one IEEE division."""
    a = A.float().numpy().copy()
    cols_out = None
    if threshold > 0:
        mask = np.abs(a) >= np.float32(threshold)
        cols_out = np.nonzero(mask.any(0))[0]
        a[mask] = 0
    sca = np.abs(a).max(1).astype(np.float32)
    with np.errstate(all="ignore"):
        s = np.float32(127) / sca
        ca = np.rint(a * s[:, None]).astype(np.int8)
    if cols_out is not None:
        ca[:, cols_out] = 0
    return ca, sca, cols_out


@pytest.mark.parametrize("threshold", [0.0, 6.0])
@pytest.mark.parametrize("rows", [1, 17, 400])
def test_int8_vectorwise_quant(B, threshold, rows):
    """Equal to bitsandbytes except where its 127 * (1 / SCA) scale differs
    from kbit's 127 / SCA in the last bit and a product lands on the other
    side of a .5 (each side checked against its own rule)."""
    A = _int8_input(rows, 300, (5, 77, 299), 1)
    kc, ks, ko = K.int8_vectorwise_quant(A, threshold)
    bc, bs_, bo = B.int8_vectorwise_quant(A.clone(), threshold)
    mk, mks, mko = kbit_int8_model(A, threshold)
    mb, mbs, mbo = bnb_int8_model(A, threshold)
    assert np.array_equal(kc.numpy(), mk) and np.array_equal(ks.numpy(), mks)
    assert np.array_equal(bc.numpy(), mb) and np.array_equal(bs_.numpy(), mbs)
    assert torch.equal(ks, bs_)
    assert (ko is None and bo is None) or (torch.equal(ko, bo) and np.array_equal(ko.numpy(), mko))
    assert ((kc != bc).numpy() == (mk != mb)).all()


def test_int8_half_way_case(B):
    """The case that shows it: x / SCA = -0.5 exactly; kbit's product is
    -63.5 (to -64, half to even), bitsandbytes' -63.499996 (to -63)."""
    A = torch.tensor([[-0.036041259765625, 0.07208251953125]], dtype=torch.float16)
    assert K.int8_vectorwise_quant(A)[0].tolist() == [[-64, 127]]
    assert B.int8_vectorwise_quant(A)[0].tolist() == [[-63, 127]]


def test_int8_vectorwise_dequant_and_matmul(B):
    A = _int8_input(33, 257, (), 2)
    W = _int8_input(40, 257, (), 3)
    ca, sa, _ = K.int8_vectorwise_quant(A)
    cb, sb = K.int8_quantize_weight(W)
    bcb, bsb, _ = B.int8_vectorwise_quant(W)
    assert torch.equal(sb, bsb)
    assert np.array_equal(bcb.numpy(), bnb_int8_model(W, 0)[0])
    assert torch.equal(K.int8_vectorwise_dequant(cb, sb), B.int8_vectorwise_dequant(cb, sb))
    assert torch.equal(K.int8_linear_matmul(ca, cb), B.int8_linear_matmul(ca, cb))


def test_int8_mm_dequant_differs_as_documented(B):
    """numerics 4.4 / 9.5 item 15: kbit is bitsandbytes' CUDA formula
    fp16(fma(((acc*SCA)*SCB), 1/127^2, 0)); bitsandbytes' CPU takes
    acc*(SCA*SCB)*6.200124e-05 (a mistyped constant) with no fp16 step for
    the bias. Each equals its own formula exactly."""
    g = torch.Generator().manual_seed(8)
    acc = torch.randint(-200000, 200000, (16, 24), generator=g, dtype=torch.int32)
    sa = torch.rand(16, generator=g) * 3
    sb = torch.rand(24, generator=g) * 2
    bias = torch.randn(24, generator=g)
    for b in (None, bias):
        k = K.int8_mm_dequant(acc, sa, sb, bias=b)
        bn = B.int8_mm_dequant(acc, sa, sb, bias=b)
        t = (acc.double().float() * sa[:, None]) * sb[None, :]       # fp32, left to right
        y = (t.double() * float(np.float32(6.200012285262346e-05))).float()  # exact product, one rounding
        want_k = y.half() if b is None else (y.half().float() + b).half()
        want_b = acc * (sa[:, None] * sb[None, :]) * 6.200124e-05
        want_b = (want_b + b if b is not None else want_b).half()
        assert torch.equal(_bits(k), _bits(want_k))
        assert torch.equal(_bits(bn), _bits(want_b))
        assert (k != bn).any()


# --- 4-bit matmul: kbit is exact dot32; bitsandbytes' CPU kernel is not
# reproducible (bf16 on AVX512-BF16 CPUs). Both against an fp64 reference.

def test_matmul_4bit_error_against_fp64(B):
    """kbit's dot32 is within numerics 5.4's bound of the fp64 product over the
    same dequantized weight; bitsandbytes' matmul_4bit (dequantize + torch
    linear on the CPU) is close to it. (bitsandbytes' gemv_4bit itself, on an
    AVX512-BF16 CPU, expects the weight repacked by its Linear4bit first and
    gives unrelated numbers on the standard layout.)"""
    import bitsandbytes as bnb
    g = torch.Generator().manual_seed(6)
    W = torch.randn(256, 1024, generator=g) * 0.05
    for M in (1, 5):
        A = torch.randn(M, 1024, generator=g)
        kp, ks = K.quantize_4bit(W, quant_type="nf4", compress_statistics=True)
        Wd = K.dequantize_4bit(kp, ks).double()
        exact = A.double() @ Wd.t()
        scale = A.double().abs() @ Wd.abs().t()
        k = K.gemm_4bit(A, kp, ks).double()
        bound = 1024 * 2.0 ** -24 * scale + 2.0 ** -24 * exact.abs()
        assert torch.all((k - exact).abs() <= bound)
        bst = B.QuantState.from_dict(ks.as_dict(packed=True), device=torch.device("cpu"))
        bn = bnb.matmul_4bit(A, kp, bst).double()
        assert torch.all((bn - exact).abs() <= 4 * bound)
