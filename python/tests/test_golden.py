"""The golden vectors (tests/vectors, kbit-golden-v1) through the Python API:
every case of every file, bit for bit (any NaN equals any NaN). The C tests
check libkbit against the same files; these check the Python layer's
plumbing (shapes, dtypes, quant states, optimizer state transfer) on top."""
import json
import os

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")
from safetensors import safe_open  # noqa: E402

import kbit.functional as F  # noqa: E402
import kbit.optim as O  # noqa: E402

DT = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}


def load(vectors_dir, name):
    path = os.path.join(vectors_dir, name + ".safetensors")
    if not os.path.exists(path):
        pytest.skip("%s is not in this vector set" % path)
    with safe_open(path, "pt") as f:
        cases = json.loads(f.metadata()["cases"])
        # clone: tensors of a mapped file can be misaligned for their dtype
        t = {k: f.get_tensor(k).clone() for k in f.keys()}
    return cases, t


def bits(x):
    return {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[x.element_size()]


def same(a, b):
    """Raw bits equal, any NaN equals any NaN."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.is_floating_point():
        na, nb = torch.isnan(a), torch.isnan(b)
        if not torch.equal(na, nb):
            return False
        return torch.equal(a[~na].view(bits(a)), b[~nb].view(bits(b)))
    return torch.equal(a, b)


def check_dq(packed_or_fn, t, n, shape):
    bad = []
    for key, dt in (("dq_f32", torch.float32), ("dq_f16", torch.float16),
                    ("dq_bf16", torch.bfloat16)):
        got = packed_or_fn(dt)
        if not same(got.reshape(shape), t[n + "." + key].reshape(shape)):
            bad.append(key)
    return bad


def test_quantize_4bit(vectors_dir):
    cases, t = load(vectors_dir, "q4")
    bad, count = [], 0
    for c in cases:
        n, p = c["name"], c["params"]
        if c["op"] == "quantize_4bit":
            count += 1
            packed, st = F.quantize_4bit(t[n + ".x"], blocksize=p["blocksize"],
                                         quant_type=p["quant_type"])
            if not (same(packed.view(-1), t[n + ".packed"]) and same(st.absmax, t[n + ".absmax"])):
                bad.append(n)
                continue

            def dq(dt):
                st.dtype = dt
                return F.dequantize_4bit(packed, st)
            if check_dq(dq, t, n, tuple(p["shape"])):
                bad.append(n + " (dequantize)")
        elif c["op"] == "dequantize_4bit":
            count += 1
            shape = tuple(p["shape"])

            def dq(dt):
                st = F.QuantState(absmax=t[n + ".absmax"], shape=torch.Size(shape), dtype=dt,
                                  blocksize=p["blocksize"], quant_type=p["quant_type"])
                return F.dequantize_4bit(t[n + ".packed"].reshape(-1, 1), st)
            if check_dq(dq, t, n, shape):
                bad.append(n)
    assert count > 20 and not bad, bad


def test_quantize_4bit_nested(vectors_dir):
    cases, t = load(vectors_dir, "nested")
    bad, count = [], 0
    for c in cases:
        n, p = c["name"], c["params"]
        if c["op"] == "quantize_4bit_nested":
            count += 1
            packed, st = F.quantize_4bit(t[n + ".x"], blocksize=p["blocksize"],
                                         quant_type=p["quant_type"], compress_statistics=True)
            ok = (same(packed.view(-1), t[n + ".packed"]) and same(st.absmax, t[n + ".qabsmax"])
                  and same(st.state2.absmax, t[n + ".absmax2"])
                  and same(st.offset.reshape(1), t[n + ".offset"])
                  and same(st.state2.code, t[n + ".code2"]))

            def dq(dt):
                st.dtype = dt
                return F.dequantize_4bit(packed, st)
            if not ok or check_dq(dq, t, n, tuple(p["shape"])):
                bad.append(n)
        elif c["op"] == "dequantize_4bit_nested":
            count += 1
            shape = tuple(p["shape"])
            s2 = F.QuantState(absmax=t[n + ".absmax2"], blocksize=256, code=t[n + ".code2"],
                              dtype=torch.float32)

            def dq(dt):
                st = F.QuantState(absmax=t[n + ".qabsmax"], shape=torch.Size(shape), dtype=dt,
                                  blocksize=p["blocksize"], quant_type=p["quant_type"],
                                  offset=t[n + ".offset"].reshape(()), state2=s2)
                return F.dequantize_4bit(t[n + ".packed"].reshape(-1, 1), st)
            if check_dq(dq, t, n, shape):
                bad.append(n)
    assert count > 3 and not bad, bad


def test_quantize_blockwise(vectors_dir):
    cases, t = load(vectors_dir, "q8")
    bad, count = [], 0
    for c in cases:
        n, p = c["name"], c["params"]
        if c["op"] == "quantize_blockwise":
            count += 1
            q, st = F.quantize_blockwise(t[n + ".x"], code=t[n + ".code"],
                                         blocksize=p["blocksize"])
            if not (same(q.reshape(-1), t[n + ".q"].reshape(-1)) and
                    same(st.absmax, t[n + ".absmax"])):
                bad.append(n)
                continue

            def dq(dt):
                st.dtype = dt
                return F.dequantize_blockwise(q, st)
            if check_dq(dq, t, n, tuple(p["shape"])):
                bad.append(n + " (dequantize)")
        elif c["op"] == "dequantize_blockwise":
            count += 1

            def dq(dt):
                st = F.QuantState(absmax=t[n + ".absmax"], code=t[n + ".code"],
                                  blocksize=p["blocksize"], dtype=dt)
                return F.dequantize_blockwise(t[n + ".q"], st)
            if check_dq(dq, t, n, tuple(p["shape"])):
                bad.append(n)
    assert count > 10 and not bad, bad


def test_signed_map_is_the_default(vectors_dir):
    """code=None gives the stored signed map's results, and create_dynamic_map
    is that map bit for bit."""
    cases, t = load(vectors_dir, "q8")
    c = next(c for c in cases if c["op"] == "quantize_blockwise" and c["params"]["map"] == "signed")
    n = c["name"]
    assert same(F.create_dynamic_map(), t[n + ".code"])
    q, st = F.quantize_blockwise(t[n + ".x"], blocksize=c["params"]["blocksize"])
    assert same(q.reshape(-1), t[n + ".q"].reshape(-1))
    u = next(c for c in cases if c["params"].get("map") == "unsigned" and ".code" in
             "".join(k for k in t if k.startswith(c["name"])))
    assert same(F.create_dynamic_map(signed=False), t[u["name"] + ".code"])


def test_int8(vectors_dir):
    cases, t = load(vectors_dir, "int8")
    bad, count = [], 0
    for c in cases:
        n, p = c["name"], c["params"]
        op = c["op"]
        count += 1
        if op == "int8_vectorwise_quant":
            CA, SCA, oc = F.int8_vectorwise_quant(t[n + ".A"], threshold=p["threshold"])
            ok = same(CA, t[n + ".CA"]) and same(SCA, t[n + ".SCA"])
            if p["threshold"] > 0:
                ok = ok and same(oc, t[n + ".outlier_cols"])
            else:
                ok = ok and oc is None
        elif op == "int8_linear_matmul":
            ok = same(F.int8_linear_matmul(t[n + ".A"], t[n + ".B"]), t[n + ".out"])
        elif op == "int8_mm_dequant":
            bias = t.get(n + ".bias") if p["bias_dtype"] else None
            out = F.int8_mm_dequant(t[n + ".acc"], t[n + ".SCA"], t[n + ".SCB"], bias=bias,
                                    dtype=DT[p["out_dtype"]])
            ok = same(out, t[n + ".out"])
        elif op == "int8_linear_forward":
            CB, SCB = F.int8_quantize_weight(t[n + ".W"])
            bias = t[n + ".bias"] if p["has_bias"] else None
            out = F.int8_linear_forward(t[n + ".X"], CB, SCB, threshold=p["threshold"], bias=bias)
            ok = same(CB, t[n + ".CB"]) and same(SCB, t[n + ".SCB"]) and same(out, t[n + ".out"])
        else:
            count -= 1
            continue
        if not ok:
            bad.append(n)
    assert count > 10 and not bad, bad


def test_gemm_4bit(vectors_dir):
    cases, t = load(vectors_dir, "gemv4")
    bad = []
    for c in cases:
        n, p = c["name"], c["params"]
        N, K = p["N"], p["K"]
        if p["nested"]:
            s2 = F.QuantState(absmax=t[n + ".absmax2"], blocksize=256, code=t[n + ".code2"],
                              dtype=torch.float32)
            st = F.QuantState(absmax=t[n + ".qabsmax"], shape=torch.Size([N, K]),
                              dtype=torch.float32, blocksize=p["blocksize"],
                              quant_type=p["quant_type"], offset=t[n + ".offset"].reshape(()),
                              state2=s2)
        else:
            st = F.QuantState(absmax=t[n + ".absmax"], shape=torch.Size([N, K]),
                              dtype=torch.float32, blocksize=p["blocksize"],
                              quant_type=p["quant_type"])
        bias = t[n + ".bias"] if p["has_bias"] else None
        A = t[n + ".A"].reshape(p["M"], K)
        packed = t[n + ".packed"].reshape(-1, 1)
        out = F.gemm_4bit(A, packed, st, bias=bias)
        ok = same(out, t[n + ".out"].reshape(out.shape))
        if p["M"] == 1 and bias is None:
            ok = ok and same(F.gemv_4bit(A, packed, state=st), t[n + ".out"].reshape(out.shape))
        with torch.no_grad():
            if bias is None or bias.dtype == A.dtype:
                ok = ok and same(F.gemm_4bit(A, packed, st, bias=bias),
                                 __import__("kbit").matmul_4bit(A, packed, st, bias=bias))
        if not ok:
            bad.append(n)
    assert len(cases) > 5 and not bad, bad


# --- optimizers: the functional calls (state tensors in bitsandbytes' layout)
# and the optimizer classes must both reproduce every step

def _hyper(p):
    return dict(lr=p["lr"], beta1=p["beta1"], beta2=p["beta2"], beta3=p["beta3"],
                alpha=p["alpha"], eps=p["eps"], weight_decay=p["weight_decay"])


def test_optimizer_functional(vectors_dir):
    cases, t = load(vectors_dir, "optim")
    bad = []
    for c in cases:
        n, p = c["name"], c["params"]
        name = p["optimizer"]
        P = t[n + ".p_init"].clone()
        s1 = t[n + ".state1_init"].clone()
        s2 = t[n + ".state2_init"].clone() if n + ".state2_init" in t else None
        eight = c["op"] == "optimizer_8bit_blockwise"
        a1 = t[n + ".absmax1_init"].clone() if eight else None
        a2 = t[n + ".absmax2_init"].clone() if eight and n + ".absmax2_init" in t else None
        ok = True
        for s in range(p["first_step"], p["first_step"] + p["nsteps"]):
            g = t["%s.g_step%d" % (n, s)]
            h = _hyper(p)
            if eight:
                F.optimizer_update_8bit_blockwise(
                    name, g, P, s1, s2, h["beta1"], h["beta2"], h["beta3"], h["alpha"], h["eps"],
                    s, h["lr"], t[n + ".qmap1"], t.get(n + ".qmap2"), a1, a2,
                    weight_decay=h["weight_decay"], gnorm_scale=p["gnorm_scale"],
                    skip_zeros=p["skip_zeros"])
            else:
                unorm = torch.zeros(1) if p["max_unorm"] > 0 else None
                F.optimizer_update_32bit(
                    name, g, P, s1, h["beta1"], h["eps"], s, h["lr"], s2, h["beta2"],
                    h["beta3"], h["alpha"], h["weight_decay"], p["gnorm_scale"], unorm,
                    max_unorm=p["max_unorm"], skip_zeros=p["skip_zeros"])
                if unorm is not None and ("%s.unorm_step%d" % (n, s)) in t:
                    ok = ok and same(unorm, t["%s.unorm_step%d" % (n, s)])
            ok = ok and same(P, t["%s.p_step%d" % (n, s)]) and same(
                s1, t["%s.state1_step%d" % (n, s)])
            if s2 is not None:
                ok = ok and same(s2, t["%s.state2_step%d" % (n, s)])
            if eight:
                ok = ok and same(a1, t["%s.absmax1_step%d" % (n, s)])
                if a2 is not None:
                    ok = ok and same(a2, t["%s.absmax2_step%d" % (n, s)])
        if not ok:
            bad.append(n)
    assert len(cases) > 20 and not bad, bad


def _optimizer_class(p, param, eight):
    name = p["optimizer"]
    bits = dict(optim_bits=8 if eight else 32, min_8bit_size=0)
    h = _hyper(p)
    if name == "adam":
        return O.Adam([param], lr=h["lr"], betas=(h["beta1"], h["beta2"]), eps=h["eps"],
                      weight_decay=h["weight_decay"], **bits)
    if name == "lamb":
        return O.LAMB([param], lr=h["lr"], betas=(h["beta1"], h["beta2"]), eps=h["eps"],
                      weight_decay=h["weight_decay"], max_unorm=p["max_unorm"], **bits)
    if name == "ademamix":
        return O.AdEMAMix([param], lr=h["lr"], betas=(h["beta1"], h["beta2"], h["beta3"]),
                          alpha=h["alpha"], t_alpha=p.get("t_alpha"), t_beta3=p.get("t_beta3"),
                          eps=h["eps"], weight_decay=h["weight_decay"], **bits)
    if name == "momentum":
        return O.SGD([param], lr=h["lr"], momentum=h["beta1"], weight_decay=h["weight_decay"],
                     **bits)
    if name == "lars":
        return O.LARS([param], lr=h["lr"], momentum=h["beta1"], weight_decay=h["weight_decay"],
                      max_unorm=p["max_unorm"], **bits)
    if name == "rmsprop":
        return O.RMSprop([param], lr=h["lr"], alpha=h["beta1"], eps=h["eps"],
                         weight_decay=h["weight_decay"], **bits)
    if name == "adagrad":
        return O.Adagrad([param], lr=h["lr"], eps=h["eps"], weight_decay=h["weight_decay"], **bits)
    if name == "lion":
        return O.Lion([param], lr=h["lr"], betas=(h["beta1"], h["beta2"]),
                      weight_decay=h["weight_decay"], **bits)
    raise AssertionError(name)


def test_optimizer_classes(vectors_dir):
    """The classes, from a fresh state (the vectors' initial states are zero)."""
    cases, t = load(vectors_dir, "optim")
    bad, count = [], 0
    kinds = set()
    for c in cases:
        n, p = c["name"], c["params"]
        if p["initial_state_random"] or p["first_step"] != 1:
            continue
        eight = c["op"] == "optimizer_8bit_blockwise"
        param = torch.nn.Parameter(t[n + ".p_init"].clone())
        opt = _optimizer_class(p, param, eight)
        ok = True
        for s in range(1, 1 + p["nsteps"]):
            param.grad = t["%s.g_step%d" % (n, s)].clone()
            opt.step()
            ok = ok and same(param.data, t["%s.p_step%d" % (n, s)])
        q = opt.state_dict()["state"][0]["__bnb_optimizer_quant_state__"]
        last = p["nsteps"]
        ok = ok and same(q["state1"].reshape(-1), t["%s.state1_step%d" % (n, last)].reshape(-1))
        if eight:
            ok = ok and same(q["absmax1"].reshape(-1), t["%s.absmax1_step%d" % (n, last)]
                             .reshape(-1))
        count += 1
        kinds.add((p["optimizer"], eight))
        if not ok:
            bad.append(n)
    assert count > 20 and not bad, bad
    assert len({k for k, _ in kinds}) == 8, kinds
