"""kbit.optim: every kind, 32-bit and 8-bit; a class step (one
kbit_optim_step_many for the group) equals the per-tensor functional update
bit for bit; state_dict() is bitsandbytes' layout and round-trips through
bitsandbytes' own optimizers both ways."""
import warnings

import pytest

torch = pytest.importorskip("torch")
from conftest import needs_bnb  # noqa: E402

warnings.filterwarnings("ignore")
import kbit.functional as F  # noqa: E402
import kbit.optim as O  # noqa: E402

QKEY = "__bnb_optimizer_quant_state__"

# (class name, kernel name, constructor arguments, functional hyperparameters)
KINDS = [
    ("Adam", "adam", dict(lr=1e-2, weight_decay=0.01), dict(beta1=0.9, beta2=0.999, eps=1e-8)),
    ("AdamW", "adam", dict(lr=1e-2), dict(beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2)),
    ("LAMB", "lamb", dict(lr=1e-2), dict(beta1=0.9, beta2=0.999, eps=1e-8, max_unorm=1.0)),
    ("AdEMAMix", "ademamix", dict(lr=1e-2),
     dict(beta1=0.9, beta2=0.999, beta3=0.9999, alpha=5.0, eps=1e-8, weight_decay=1e-2)),
    ("SGD", "momentum", dict(lr=1e-2, momentum=0.9), dict(beta1=0.9, eps=0.0)),
    ("LARS", "lars", dict(lr=1e-2, momentum=0.9), dict(beta1=0.9, eps=0.0, max_unorm=0.02)),
    ("RMSprop", "rmsprop", dict(lr=1e-3), dict(beta1=0.99, eps=1e-8)),
    ("Adagrad", "adagrad", dict(lr=1e-2), dict(beta1=0.0, eps=1e-10)),
    ("Lion", "lion", dict(lr=1e-4, weight_decay=0.1), dict(beta1=0.9, beta2=0.99, eps=0.0,
                                                            weight_decay=0.1)),
]


def make(cls, bits, args, params, **extra):
    name = cls + ("8bit" if bits == 8 else "32bit")
    return getattr(O, name)(params, min_8bit_size=1024, **args, **extra)


def params(seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter((torch.randn(48, 64, generator=g) * 0.1).to(dtype)),
            torch.nn.Parameter((torch.randn(300, generator=g) * 0.1).to(dtype)),
            torch.nn.Parameter((torch.randn(3000, generator=g) * 0.1).to(dtype))]


def grads(ps, step):
    g = torch.Generator().manual_seed(1000 + step)
    return [(torch.randn(p.shape, generator=g) * 0.01).to(p.dtype) for p in ps]


@pytest.mark.parametrize("bits", [32, 8])
@pytest.mark.parametrize("cls,kernel,args,hyper", KINDS, ids=[k[0] for k in KINDS])
def test_class_step_equals_functional_update(cls, kernel, args, hyper, bits):
    """Three steps of the class (a group of 3 tensors, one 8-bit and two 32-bit
    with min_8bit_size 1024 when bits=8) against the per-tensor functional
    update on bitsandbytes-layout states, bit for bit."""
    ps = params()
    ref = [p.detach().clone() for p in ps]
    opt = make(cls, bits, args, ps)
    states = []
    two = kernel in ("adam", "lamb", "ademamix")
    for p in ref:
        eight = bits == 8 and p.numel() >= 1024
        nb = -(-p.numel() // 256)
        dt = torch.uint8 if eight else torch.float32
        c = 2 if kernel == "ademamix" else 1
        st = dict(state1=torch.zeros(c * p.numel(), dtype=dt),
                  state2=torch.zeros(p.numel(), dtype=dt) if two else None)
        if eight:
            st.update(qmap1=F.create_dynamic_map(True), qmap2=F.create_dynamic_map(False),
                      absmax1=torch.zeros(c * nb), absmax2=torch.zeros(nb) if two else None)
        states.append((eight, st))
    for step in range(1, 4):
        gs = grads(ps, step)
        for p, g in zip(ps, gs):
            p.grad = g.clone()
        opt.step()
        for p, g, (eight, st) in zip(ref, gs, states):
            h = dict(beta1=0.0, beta2=0.0, beta3=0.0, alpha=0.0, eps=0.0, weight_decay=0.0)
            h.update({k: v for k, v in hyper.items() if k != "max_unorm"})
            h["weight_decay"] = args.get("weight_decay", h["weight_decay"])
            if eight:
                F.optimizer_update_8bit_blockwise(
                    kernel, g, p, st["state1"], st["state2"], h["beta1"], h["beta2"],
                    h["beta3"], h["alpha"], h["eps"], step, args["lr"], st["qmap1"],
                    st["qmap2"], st["absmax1"], st["absmax2"], weight_decay=h["weight_decay"])
            else:
                F.optimizer_update_32bit(
                    kernel, g, p, st["state1"], h["beta1"], h["eps"], step, args["lr"],
                    st["state2"], h["beta2"], h["beta3"], h["alpha"], h["weight_decay"],
                    max_unorm=hyper.get("max_unorm", 0.0))
        for p, r in zip(ps, ref):
            assert torch.equal(p.data, r), (cls, bits, step)
    sd = opt.state_dict()
    for i, (eight, st) in enumerate(states):
        q = sd["state"][i][QKEY]
        assert sd["state"][i]["step"] == 3
        assert torch.equal(q["state1"].reshape(-1), st["state1"])
        if eight:
            assert torch.equal(q["absmax1"].reshape(-1), st["absmax1"])
            assert q["state1"].dtype == torch.uint8 and q["qmap1"].shape == (256,)


def _ademamix_schedule(t_alpha, t_beta3):
    """AdEMAMix with t_alpha / t_beta3 (the schedules kbit computes on the
    host) against the functional call given the scheduled values, computed
    as bitsandbytes' Python does (doubles from the decimal hyperparameters)."""
    import math
    ps = params()[:1]
    ref = [p.detach().clone() for p in ps]
    opt = O.AdEMAMix32bit(ps, lr=1e-2, t_alpha=t_alpha, t_beta3=t_beta3)
    s1 = torch.zeros(2, ps[0].numel())
    s2 = torch.zeros(ps[0].numel())
    b1, b2, b3, alpha = 0.9, 0.999, 0.9999, 5.0
    for step in range(1, 7):
        g = grads(ps, step)[0]
        ps[0].grad = g.clone()
        opt.step()
        a_t = min(step * alpha / t_alpha, alpha) if t_alpha else alpha
        b3_t = b3
        if t_beta3:
            s = step / t_beta3
            b3_t = min(math.exp(math.log(b1) * math.log(b3) / ((1 - s) * math.log(b3) +
                                                                 s * math.log(b1))), b3)
        F.optimizer_update_32bit("ademamix", g, ref[0], s1, b1, 1e-8, step, 1e-2, s2, b2, b3_t,
                                 a_t, 1e-2)
        assert torch.equal(ps[0].data, ref[0]), step


def test_ademamix_alpha_schedule():
    _ademamix_schedule(4, None)


def test_ademamix_beta3_schedule():
    _ademamix_schedule(None, 4)


@pytest.mark.parametrize("cls,kernel,args", [
    ("RMSprop", "rmsprop", dict(lr=1e-3, alpha=0.99, eps=1e-8, weight_decay=0.01)),
    ("Adagrad", "adagrad", dict(lr=1e-2, eps=1e-10)),
    ("Lion", "lion", dict(lr=1e-4, betas=(0.9, 0.99), weight_decay=0.1)),
], ids=["RMSprop", "Adagrad", "Lion"])
def test_max_unorm_one_state(cls, kernel, args):
    """max_unorm for RMSprop, Adagrad and Lion with 32-bit states (numerics
    6.4): the class equals the functional update bit for bit, Lion's unorm_vec
    carrying the sum of s' that one step leaves for the next, as bitsandbytes'."""
    ps = params()[:2]
    ref = [p.detach().clone() for p in ps]
    # bitsandbytes' classes take max_unorm for these kinds only through `args`
    import types
    opt = getattr(O, cls + "32bit")(ps, args=types.SimpleNamespace(
        optim_bits=32, min_8bit_size=4096, max_unorm=0.02), **args)
    st = [torch.zeros(p.numel()) for p in ref]
    uv = [torch.zeros(1) for _ in ref]
    b1 = args.get("alpha", args.get("betas", (0.0,))[0])
    b2 = args.get("betas", (0.0, 0.0))[1]
    scales = []
    for step in range(1, 5):
        gs = grads(ps, step)
        for p, g in zip(ps, gs):
            p.grad = (g + 0.01 if kernel == "lion" else g).clone()
        opt.step()
        for p, g, s1, u in zip(ref, gs, st, uv):
            F.optimizer_update_32bit(kernel, g + 0.01 if kernel == "lion" else g, p, s1, b1,
                                     args.get("eps", 0.0), step, args["lr"], beta2=b2,
                                     weight_decay=args.get("weight_decay", 0.0), unorm_vec=u,
                                     max_unorm=0.02)
        for p, r in zip(ps, ref):
            assert torch.equal(p.data, r), (cls, step)
        scales.append(opt.kbit_state_info(ps[0])["update_scale"])
    assert min(scales) < 1.0, scales     # the norm did clip
    q = opt.state_dict()["state"][0][QKEY]
    assert q["unorm_vec"].item() == uv[0].item()


def test_max_unorm_refused_where_undefined():
    p = [torch.nn.Parameter(torch.randn(5000) * 0.1)]
    p[0].grad = torch.randn(5000) * 0.01
    import types
    with pytest.raises(Exception, match="ADEMAMIX"):   # its class has no max_unorm at all
        F.optimizer_update_32bit("ademamix", p[0].grad, p[0].data, torch.zeros(10000), 0.9, 1e-8,
                                 1, 1e-3, torch.zeros(5000), 0.999, 0.9999, 5.0,
                                 max_unorm=1.0)
    with pytest.raises(Exception, match="only 32-bit states have an update scale"):
        O.RMSprop8bit(p, args=types.SimpleNamespace(optim_bits=8, min_8bit_size=1024,
                                                    max_unorm=1.0)).step()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_16bit_parameters(dtype):
    ps = params(dtype=dtype)
    opt = O.AdamW8bit(ps, lr=1e-2, min_8bit_size=1024)
    for step in range(1, 4):
        for p, g in zip(ps, grads(ps, step)):
            p.grad = g
        opt.step()
    assert all(p.dtype == dtype and torch.isfinite(p).all() for p in ps)
    assert opt.kbit_state_info(ps[0])["state_bits"] == 8
    assert opt.kbit_state_info(ps[1])["state_bits"] == 32


def test_state_dict_round_trip_in_kbit():
    ps = params()
    opt = O.AdamW8bit(ps, lr=1e-2, min_8bit_size=1024)
    for step in range(1, 3):
        for p, g in zip(ps, grads(ps, step)):
            p.grad = g
        opt.step()
    sd = opt.state_dict()
    ps2 = [torch.nn.Parameter(p.detach().clone()) for p in ps]
    opt2 = O.AdamW8bit(ps2, lr=1e-2, min_8bit_size=1024)
    opt2.load_state_dict(sd)
    for step in range(3, 5):
        gs = grads(ps, step)
        for a, b, g in zip(ps, ps2, gs):
            a.grad, b.grad = g.clone(), g.clone()
        opt.step()
        opt2.step()
    for a, b in zip(ps, ps2):
        assert torch.equal(a, b)


def test_percentile_clipping_and_update_norm():
    ps = params()[:1]
    opt = O.LAMB32bit(ps, lr=1e-2, percentile_clipping=5)
    for step in range(1, 4):
        ps[0].grad = grads(ps, step)[0] * (10 if step == 3 else 1)
        opt.step()
    info = opt.kbit_state_info(ps[0])
    assert info["gnorm_scale"] < 1.0 and info["param_norm"] > 0 and info["unorm"] > 0
    q = opt.state_dict()["state"][0][QKEY]
    assert q["gnorm_vec"].shape == (100,) and q["unorm_vec"].shape == (1,)


def test_arguments_as_bitsandbytes():
    p = [torch.nn.Parameter(torch.zeros(10))]
    with pytest.raises(NotImplementedError):
        O.SGD(p, lr=0.1)                       # momentum 0
    with pytest.raises(NotImplementedError):
        O.RMSprop(p, centered=True)
    with pytest.raises(ValueError):
        O.Adagrad(p, lr_decay=0.1)
    with pytest.raises(ValueError):
        O.Adam(p, betas=(1.0, 0.9))
    with pytest.raises(NotImplementedError):
        O.Adam8bit(p, block_wise=False)
    with pytest.raises(TypeError):
        O.Adam(p, no_such_argument=1)
    o = O.Lion(p)
    assert o.param_groups[0]["lr"] == 1e-4 and o.param_groups[0]["betas"] == (0.9, 0.99)
    o = O.AdamW(p)
    assert o.param_groups[0]["weight_decay"] == 1e-2 and o.args.optim_bits == 32
    assert O.PagedAdamW8bit(p).args.optim_bits == 8


def _train(opt, ps, steps, first=1):
    for step in range(first, first + steps):
        for p, g in zip(ps, grads(ps, step)):
            p.grad = g.clone()
        opt.step()


@needs_bnb
@pytest.mark.parametrize("name", ["AdamW8bit", "Adam32bit", "Lion8bit", "SGD8bit",
                                  "AdEMAMix8bit", "RMSprop32bit"])
def test_state_dict_through_bitsandbytes(name):
    """A run saved by bitsandbytes resumes in kbit, and the reverse: the same
    keys, dtypes and shapes, tensors carried over exactly."""
    import bitsandbytes as bnb
    extra = dict(momentum=0.9, lr=1e-2) if name.startswith("SGD") else dict(lr=1e-3)
    ps_b = params()
    ob = getattr(bnb.optim, name)(ps_b, min_8bit_size=1024, **extra)
    _train(ob, ps_b, 2)
    sd_b = ob.state_dict()
    # bitsandbytes -> kbit
    ps_k = [torch.nn.Parameter(p.detach().clone()) for p in ps_b]
    ok_ = getattr(O, name)(ps_k, min_8bit_size=1024, **extra)
    ok_.load_state_dict(sd_b)
    sd_k = ok_.state_dict()
    assert sd_k["param_groups"] == sd_b["param_groups"]
    for i in sd_b["state"]:
        sb, sk = sd_b["state"][i], sd_k["state"][i]
        assert sk["step"] == sb["step"] == 2
        assert sorted(sk[QKEY]) == sorted(sb[QKEY]), (sorted(sk[QKEY]), sorted(sb[QKEY]))
        for k in sb[QKEY]:
            assert sk[QKEY][k].dtype == sb[QKEY][k].dtype and torch.equal(sk[QKEY][k],
                                                                          sb[QKEY][k]), k
    _train(ok_, ps_k, 2, first=3)
    # kbit -> bitsandbytes: bitsandbytes loads kbit's dict and steps on
    ps_b2 = [torch.nn.Parameter(p.detach().clone()) for p in ps_k]
    ob2 = getattr(bnb.optim, name)(ps_b2, min_8bit_size=1024, **extra)
    ob2.load_state_dict(ok_.state_dict())
    _train(ob2, ps_b2, 1, first=5)
    assert all(torch.isfinite(p).all() for p in ps_b2)
    assert ob2.state[ps_b2[0]]["step"] == 5
    # and the two libraries' trajectories stay close (they differ as numerics 6.6 says)
    _train(ok_, ps_k, 1, first=5)
    for a, b in zip(ps_k, ps_b2):
        assert torch.allclose(a, b, rtol=0, atol=5e-3), float((a - b).abs().max())
