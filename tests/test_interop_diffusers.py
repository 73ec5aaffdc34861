"""tests/test_interop_diffusers.py - kbit and diffusers (+ bitsandbytes), as a
TAP producer, on the CPU:

 (a) tiny FluxTransformer2DModel (bf16, one file) and SD3Transformer2DModel
     (fp16, sharded) made and saved by diffusers; diffusers + bitsandbytes
     quantize and save them (4-bit NF4 nested, 4-bit FP4, 8-bit); kbit
     quantizes the same folders with the same options: same keys, dtypes,
     shapes, file and index names, quantization_config (object and text),
     the same bytes for every unquantized tensor, quant_map and non-nested
     quant-state JSON, SCB; the bytes of the packed weights and absmax that
     differ (kbit vs bitsandbytes-CPU quantization, numerics 9.3) are counted;
 (b) diffusers loads kbit's output with no quantization argument (Linear4bit /
     Linear8bitLt layers), get_memory_footprint() equals `kbit inspect`'s, and
     every Linear4bit layer's output is within the numerics 5.4 bound of the
     same input times kbit's dequantized weight; the whole model's output is
     close to the dequantized model's;
 (c) a DiT pipeline (transformer + vae + scheduler, model_index.json) saved by
     diffusers: `kbit quantize --components transformer,vae` gives the keys and
     configs of diffusers' PipelineQuantizationConfig save, copies the rest,
     and DiffusionPipeline.from_pretrained loads it and generates an image
     close to the dequantized pipeline's;
 (d) kbit reads diffusers' own quantized saves: `kbit dequantize` gives
     bitsandbytes' dequantization bit for bit;
 (e) kbit's rule for which tensors are quantized equals what diffusers'
     quantizer converts (its _process_model_before_weight_loading on the
     model) for every diffusers model class that builds with its default
     config, with and without llm_int8_skip_modules.

diffusers refuses to quantize or load bitsandbytes models without a GPU
(validate_environment: "No GPU found"); this file makes that one check pass
in-process (torch.cuda.is_available answers True during validate_environment
only) and runs diffusers' own quantize, save and load code unchanged on the
CPU. bitsandbytes' AVX512-BF16 CPU matmul (which rounds inputs to bf16) is
switched off per layer so that (b) compares exact dequantize + fp32 matmul.

Run by tests/test-interop-diffusers.sh. Arguments: kbit, kbit-dfs-rule, a
scratch directory.
"""
import contextlib
import inspect as pyinspect
import io
import json
import os
import subprocess
import sys
import warnings

warnings.filterwarnings("ignore")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch  # noqa: E402
import bitsandbytes as bnb  # noqa: E402
import diffusers  # noqa: E402
from diffusers import BitsAndBytesConfig  # noqa: E402
from diffusers.quantizers.bitsandbytes import bnb_quantizer  # noqa: E402
from interoputil import (as_bytes, bnb_dequant, note, ok, plan, qconfig_text, run,  # noqa: E402
                         same_bits, tensors, weights_4bit)

KBIT, RULE, WORK = sys.argv[1], sys.argv[2], sys.argv[3]


# diffusers' GPU check, answered "yes" while it runs (nothing else changes)
def _cpu_ok(cls):
    orig = cls.validate_environment

    def validate(self, *a, **k):
        real = torch.cuda.is_available
        torch.cuda.is_available = lambda: True
        try:
            return orig(self, *a, **k)
        finally:
            torch.cuda.is_available = real
    cls.validate_environment = validate


_cpu_ok(bnb_quantizer.BnB4BitDiffusersQuantizer)
_cpu_ok(bnb_quantizer.BnB8BitDiffusersQuantizer)


def quiet(fn, *a, **k):
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        return fn(*a, **k)


def aux(k):
    return any(s in k for s in (".absmax", ".quant_map", ".quant_state.", ".nested_", ".SCB",
                                ".weight_format"))


# ---------------------------------------------------------------------------
# tiny models, saved by diffusers
torch.manual_seed(0)
flux_src = os.path.join(WORK, "flux")
# every nn.Linear input size a multiple of 64: bitsandbytes' AVX-512 CPU
# dequantization is wrong otherwise (numerics 9.6, item 22)
flux_kw = dict(patch_size=1, in_channels=64, num_layers=1, num_single_layers=1,
               attention_head_dim=32, num_attention_heads=2, joint_attention_dim=64,
               pooled_projection_dim=64, axes_dims_rope=[8, 12, 12], guidance_embeds=True)
diffusers.FluxTransformer2DModel(**flux_kw).to(torch.bfloat16).save_pretrained(flux_src)
sd3_src = os.path.join(WORK, "sd3")
sd3_kw = dict(sample_size=8, patch_size=2, in_channels=4, num_layers=2, attention_head_dim=32,
              num_attention_heads=2, caption_projection_dim=64, joint_attention_dim=64,
              pooled_projection_dim=64, out_channels=4, pos_embed_max_size=8)
diffusers.SD3Transformer2DModel(**sd3_kw).to(torch.float16).save_pretrained(
    sd3_src, max_shard_size="20KB")
ok(os.path.exists(os.path.join(sd3_src, "diffusion_pytorch_model.safetensors.index.json")) and
   os.path.exists(os.path.join(flux_src, "diffusion_pytorch_model.safetensors")),
   "diffusers saved a Flux transformer (one file) and a sharded SD3 transformer")


def flux_inputs(dtype):
    g = torch.Generator().manual_seed(1)
    S, T = 16, 8
    return dict(hidden_states=torch.randn(1, S, 64, generator=g, dtype=dtype),
                encoder_hidden_states=torch.randn(1, T, 64, generator=g, dtype=dtype),
                pooled_projections=torch.randn(1, 64, generator=g, dtype=dtype),
                timestep=torch.tensor([0.5], dtype=dtype), guidance=torch.tensor([3.5], dtype=dtype),
                img_ids=torch.zeros(S, 3), txt_ids=torch.zeros(T, 3))


def sd3_inputs(dtype):
    g = torch.Generator().manual_seed(1)
    return dict(hidden_states=torch.randn(1, 4, 8, 8, generator=g, dtype=dtype),
                encoder_hidden_states=torch.randn(1, 6, 64, generator=g, dtype=dtype),
                pooled_projections=torch.randn(1, 64, generator=g, dtype=dtype),
                timestep=torch.tensor([500.0], dtype=dtype))


# (label, class, source, BitsAndBytesConfig kwargs, from_pretrained torch_dtype,
#  kbit options, inputs)
CASES = [
    ("Flux nf4 nested", diffusers.FluxTransformer2DModel, flux_src,
     dict(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True),
     None, ["--quant-type", "nf4", "--double-quant", "--other-dtype", "fp16"], flux_inputs),
    ("SD3 fp4 bf16 skip", diffusers.SD3Transformer2DModel, sd3_src,
     dict(load_in_4bit=True, bnb_4bit_quant_type="fp4", bnb_4bit_compute_dtype=torch.bfloat16,
          llm_int8_skip_modules=["proj_out", "context_embedder"]),
     torch.bfloat16, ["--quant-type", "fp4", "--compute-dtype", "bf16", "--other-dtype", "bf16",
                      "--skip-modules", "proj_out,context_embedder"], sd3_inputs),
    ("SD3 8-bit", diffusers.SD3Transformer2DModel, sd3_src, dict(load_in_8bit=True),
     torch.float16, ["--8bit", "--other-dtype", "fp16"], sd3_inputs),
]

for label, cls, src, cfg, tdtype, kargs, make_inputs in CASES:
    tag = label.replace(" ", "-")
    ref = os.path.join(WORK, "ref-" + tag)
    mine = os.path.join(WORK, "kbit-" + tag)
    try:
        kw = dict(quantization_config=BitsAndBytesConfig(**cfg), device_map="cpu")
        if tdtype is not None:
            kw["torch_dtype"] = tdtype
        m = quiet(cls.from_pretrained, src, **kw)
        m.save_pretrained(ref, max_shard_size="20KB" if "SD3" in label else "10GB")
    except Exception as e:
        ok(False, "(a) %s: diffusers + bitsandbytes quantize and save on the CPU" % label, repr(e))
        continue
    rc, out = run(KBIT, "quantize", src, mine, "--quiet", "--device", "cpu", *kargs)
    if not ok(rc == 0, "(a) %s: kbit quantize" % label, out):
        continue
    t, k = tensors(ref), tensors(mine)
    ok(set(t) == set(k), "(a) %s: the same %d keys as diffusers' save" % (label, len(t)),
       "only kbit: %s\nonly diffusers: %s" % (sorted(set(k) - set(t))[:5],
                                              sorted(set(t) - set(k))[:5]))
    common = sorted(set(t) & set(k))
    bad = [x for x in common if t[x].dtype != k[x].dtype or t[x].shape != k[x].shape]
    ok(not bad, "(a) %s: every tensor has diffusers' dtype and shape" % label,
       ["%s %s%s vs %s%s" % (x, k[x].dtype, tuple(k[x].shape), t[x].dtype, tuple(t[x].shape))
        for x in bad[:5]])
    qweights = {x for x in common if x + ".quant_map" in t or x[:-6] + "SCB" in t}
    plain = [x for x in common if x not in qweights and not aux(x)]
    bad = [x for x in plain if not same_bits(t[x], k[x])]
    ok(plain and not bad, "(a) %s: the %d unquantized tensors are byte-identical" %
       (label, len(plain)), bad[:5])
    qc_d = json.load(open(os.path.join(ref, "config.json")))["quantization_config"]
    qc_k = json.load(open(os.path.join(mine, "config.json")))["quantization_config"]
    ok(qc_d == qc_k and qconfig_text(ref) == qconfig_text(mine),
       "(a) %s: quantization_config equals diffusers', object and text" % label,
       "kbit %s\ndiffusers %s" % (qc_k, qc_d))
    if "SD3" in label:
        idx = "diffusion_pytorch_model.safetensors.index.json"
        di, ki = (json.load(open(os.path.join(d, idx))) for d in (ref, mine))
        ok(set(di["weight_map"]) == set(ki["weight_map"]) and
           di["metadata"]["total_size"] == ki["metadata"]["total_size"] and
           all(f.startswith("diffusion_pytorch_model-") for f in ki["weight_map"].values()),
           "(a) %s: the index has diffusers' name, keys and total_size (%d), shards named "
           "diffusion_pytorch_model-*" % (label, ki["metadata"]["total_size"]))
    maps = [x for x in common if x.endswith(".quant_map")]
    if maps:
        ok(all(same_bits(t[x], k[x]) for x in maps), "(a) %s: quant_map identical (%d)" %
           (label, len(maps)))
    blobs = [x for x in common if ".quant_state." in x]
    same = [x for x in blobs if bytes(t[x].tolist()) == bytes(k[x].tolist())]
    if blobs and "nested" not in label:
        ok(len(same) == len(blobs), "(a) %s: all %d quant-state JSON blobs byte-identical" %
           (label, len(blobs)))
    elif blobs:
        note("%s: %d of %d quant-state JSON blobs byte-identical (nested_offset: fp64 mean in "
             "kbit, fp32 in bitsandbytes)" % (label, len(same), len(blobs)))
    for suffix in (".weight", ".absmax", ".nested_absmax", ".nested_quant_map"):
        keys = [x for x in common if x.endswith(suffix) and (suffix != ".weight" or x in qweights)]
        if keys:
            diff = sum(int((as_bytes(k[x]) != as_bytes(t[x])).sum()) for x in keys)
            total = sum(as_bytes(t[x]).numel() for x in keys)
            note("%s, *%s: %d of %d bytes differ between kbit and bitsandbytes-CPU "
                 "(numerics 9.2-9.5)" % (label, suffix, diff, total))
    scb = [x for x in common if x.endswith(".SCB")]
    if scb:
        ok(all(same_bits(t[x], k[x]) for x in scb), "(a) %s: SCB identical to bitsandbytes'" %
           label)

    # (d) kbit reads diffusers' save
    back = ref + "-dq"
    rc, out = run(KBIT, "dequantize", ref, back, "--dtype",
                  "bf16" if tdtype == torch.bfloat16 else "fp16", "--quiet", "--device", "cpu")
    if ok(rc == 0, "(d) %s: kbit dequantize reads diffusers' own save" % label, out) and \
            "8-bit" not in label:
        plain_back = tensors(back)
        names = weights_4bit(t)
        wrong = [w for w in names if not (same_bits(bnb_dequant(t, w), plain_back[w]) or
                                          ("fp4" in label and torch.equal(
                                              bnb_dequant(t, w).float(), plain_back[w].float())))]
        ok(names and not wrong, "(d) %s: kbit's dequantization of %d weights equals "
           "bitsandbytes' (FP4 code 8: -0.0 vs +0.0 allowed)" % (label, len(names)), wrong[:3])

    # (b) diffusers loads kbit's output without a quantization argument
    try:
        q = quiet(cls.from_pretrained, mine, device_map="cpu", torch_dtype=torch.float32)
    except Exception as e:
        ok(False, "(b) %s: diffusers loads kbit's output" % label, repr(e))
        continue
    kinds = {type(mod).__name__ for mod in q.modules()}
    want = "Linear8bitLt" if "8-bit" in label else "Linear4bit"
    ok(want in kinds, "(b) %s: diffusers loads kbit's output with no quantization argument "
       "(%s layers)" % (label, want))
    sdt = {"bf16": torch.bfloat16, "fp16": torch.float16}[kargs[kargs.index("--other-dtype") + 1]]
    rc, out = run(KBIT, "inspect", mine, "--json")
    fp = json.loads(out).get("memory_footprint_bytes") if rc == 0 else None
    as_saved = quiet(cls.from_pretrained, mine, device_map="cpu", torch_dtype=sdt)
    ok(fp == as_saved.get_memory_footprint(),
       "(b) %s: kbit inspect's footprint %s = diffusers' get_memory_footprint() %d" %
       (label, fp, as_saved.get_memory_footprint()))
    # per layer: Linear4bit output vs input x kbit's dequantized weight (numerics 5.4)
    plain_dir = mine + "-dq"
    # the reference of numerics 5.4: W_dq = fp32(code * absmax), no rounding to a 16-bit type
    rc, out = run(KBIT, "dequantize", mine, plain_dir, "--dtype", "fp32", "--quiet",
                  "--device", "cpu")
    if not ok(rc == 0, "(b) %s: kbit dequantize of its own output" % label, out):
        continue
    wdq = tensors(plain_dir)
    worst, checked, over = 0.0, 0, []

    def hook(name):
        # Linear4bit computes in its compute dtype T: out = T(T(x) . W_dq + T(bias)),
        # W_dq possibly rounded to T once; numerics 5.4: |err| <= (2^-p_T + K 2^-24)
        # sum|x w| + ulp_T(out), against the fp32 W_dq (p_T = 0 term off for fp32)
        def f(mod, args, output):
            global worst, checked
            T = mod.compute_dtype or args[0].dtype
            x = args[0].to(T).float()
            w = wdq[name + ".weight"].float()
            ref_out = x @ w.t()
            if mod.bias is not None:
                ref_out = ref_out + mod.bias.to(T).float()
            K = w.shape[1]
            p = {torch.float32: None, torch.float16: 11, torch.bfloat16: 8}[T]
            rel = (2.0 ** -p if p else 0.0) + K * 2.0 ** -24
            bound = rel * (x.abs() @ w.abs().t()) + torch.finfo(T).eps * ref_out.abs() + 1e-30
            err = (output.float() - ref_out).abs()
            worst = max(worst, float((err / bound).max()))
            checked += 1
            if not bool((err <= bound).all()):
                over.append(name)
        return f
    if want == "Linear4bit":
        for name, mod in q.named_modules():
            if isinstance(mod, bnb.nn.Linear4bit):
                mod.support_avx512bf16_for_cpu = False
                mod.register_forward_hook(hook(name))
    with torch.no_grad():
        got = q(**make_inputs(torch.float32)).sample
    if want == "Linear4bit":
        ok(checked > 0 and not over, "(b) %s: %d Linear4bit outputs within the numerics 5.4 "
           "bound of x * W_dq (largest err/bound %.3g)" % (label, checked, worst), over[:3])
    pm = quiet(cls.from_pretrained, plain_dir, device_map="cpu", torch_dtype=torch.float32)
    with torch.no_grad():
        want_out = pm(**make_inputs(torch.float32)).sample
    rel = float((got - want_out).abs().max() / want_out.abs().max())
    limit = 1e-4 if cfg.get("bnb_4bit_compute_dtype", torch.float32) == torch.float32 and \
        "8-bit" not in label else 1e-2
    ok(torch.isfinite(got).all() and rel < limit, "(b) %s: model output within %.0e (max rel "
       "%.2g) of the dequantized model's" % (label, limit, rel))


# ---------------------------------------------------------------------------
# (c) a pipeline folder saved by diffusers
pipe_src = os.path.join(WORK, "dit")
try:
    torch.manual_seed(0)
    tr = diffusers.DiTTransformer2DModel(num_attention_heads=2, attention_head_dim=32,
                                         in_channels=4, out_channels=8, num_layers=2,
                                         sample_size=8, patch_size=2, num_embeds_ada_norm=10)
    vae = diffusers.AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4,
                                  block_out_channels=(32, 64),
                                  down_block_types=("DownEncoderBlock2D",) * 2,
                                  up_block_types=("UpDecoderBlock2D",) * 2, norm_num_groups=32,
                                  sample_size=16)
    pipe = diffusers.DiTPipeline(transformer=tr, vae=vae, scheduler=diffusers.DDIMScheduler())
    pipe.save_pretrained(pipe_src)
    made = True
except Exception as e:
    made = ok(False, "(c) diffusers saves a DiT pipeline", repr(e))
if made:
    mine = os.path.join(WORK, "dit-kbit")
    ref = os.path.join(WORK, "dit-ref")
    rc, out = run(KBIT, "quantize", pipe_src, mine, "--components", "transformer,vae",
                  "--quant-type", "nf4", "--other-dtype", "fp16", "--quiet", "--device", "cpu")
    ok(rc == 0, "(c) kbit quantize a pipeline --components transformer,vae", out)
    files = sorted(os.path.relpath(os.path.join(r, f), pipe_src)
                   for r, _, fs in os.walk(pipe_src) for f in fs)
    got = sorted(os.path.relpath(os.path.join(r, f), mine) for r, _, fs in os.walk(mine) for f in fs)
    ok(files == got and open(os.path.join(pipe_src, "model_index.json")).read() ==
       open(os.path.join(mine, "model_index.json")).read() and
       open(os.path.join(pipe_src, "scheduler", "scheduler_config.json")).read() ==
       open(os.path.join(mine, "scheduler", "scheduler_config.json")).read(),
       "(c) the same %d files; model_index.json and the scheduler copied unchanged" % len(files),
       "%s\n%s" % (files, got))
    try:
        pq = diffusers.PipelineQuantizationConfig(
            quant_backend="bitsandbytes_4bit",
            quant_kwargs={"load_in_4bit": True, "bnb_4bit_quant_type": "nf4"},
            components_to_quantize=["transformer", "vae"])
        rp = quiet(diffusers.DiTPipeline.from_pretrained, pipe_src, quantization_config=pq,
                   device_map="cpu")
        rp.save_pretrained(ref)
        for comp in ("transformer", "vae"):
            t, k = tensors(os.path.join(ref, comp)), tensors(os.path.join(mine, comp))
            ok(set(t) == set(k) and all(t[x].dtype == k[x].dtype and t[x].shape == k[x].shape
                                        for x in t) and
               qconfig_text(os.path.join(ref, comp)) == qconfig_text(os.path.join(mine, comp)),
               "(c) %s: the keys, dtypes, shapes and quantization_config of diffusers' "
               "PipelineQuantizationConfig save (%d keys)" % (comp, len(t)),
               "only kbit %s only diffusers %s" % (sorted(set(k) - set(t))[:4],
                                                   sorted(set(t) - set(k))[:4]))
    except Exception as e:
        ok(False, "(c) diffusers quantizes and saves the pipeline", repr(e))
    try:
        qp = quiet(diffusers.DiffusionPipeline.from_pretrained, mine, device_map="cpu",
                   torch_dtype=torch.float32)
        for mod in list(qp.transformer.modules()) + list(qp.vae.modules()):
            if isinstance(mod, bnb.nn.Linear4bit):
                mod.support_avx512bf16_for_cpu = False
        kinds = {type(mod).__name__ for mod in qp.transformer.modules()}
        ok("Linear4bit" in kinds, "(c) DiffusionPipeline.from_pretrained loads kbit's pipeline "
           "(%s, Linear4bit layers)" % type(qp).__name__)
        img = quiet(qp, class_labels=[3], num_inference_steps=2, guidance_scale=1.0,
                    generator=torch.Generator().manual_seed(0), output_type="np").images
        back = mine + "-dq"
        rc, out = run(KBIT, "dequantize", mine, back, "--dtype", "fp32", "--quiet")
        dp = quiet(diffusers.DiffusionPipeline.from_pretrained, back, torch_dtype=torch.float32)
        want = quiet(dp, class_labels=[3], num_inference_steps=2, guidance_scale=1.0,
                     generator=torch.Generator().manual_seed(0), output_type="np").images
        d = float(abs(img - want).max())
        ok(rc == 0 and d < 1e-3, "(c) the quantized pipeline's image is within 1e-3 (max %.2g) "
           "of the dequantized pipeline's" % d, out)
    except Exception as e:
        ok(False, "(c) diffusers loads and runs kbit's quantized pipeline", repr(e))


# ---------------------------------------------------------------------------
# (e) the quantization rule against diffusers' quantizer, class by class
def diffusers_choice(cls, skip):
    with torch.device("meta"):
        model = cls()
    names = [(k, v.dim()) for k, v in model.state_dict().items()
             if k.endswith(".weight") and v.is_floating_point()]
    keep = cls._keep_in_fp32_modules or []
    keep = keep if isinstance(keep, list) else [keep]
    quantizer = bnb_quantizer.BnB4BitDiffusersQuantizer(
        BitsAndBytesConfig(load_in_4bit=True, llm_int8_skip_modules=list(skip) if skip else None))
    quiet(quantizer.preprocess_model, model=model, device_map=None, keep_in_fp32_modules=keep)
    chosen = {m + ".weight" for m, mod in model.named_modules()
              if isinstance(mod, bnb.nn.Linear4bit)}
    cfg = {"_class_name": cls.__name__,
           "class_embed_type": dict(model.config).get("class_embed_type")}
    return names, chosen, json.dumps(cfg)


classes = sorted({c for c in (getattr(diffusers, x, None) for x in dir(diffusers)
                              if x[:1].isupper())
                  if pyinspect.isclass(c) and issubclass(c, diffusers.ModelMixin)
                  and c is not diffusers.ModelMixin}, key=lambda c: c.__name__)
for skip in (None, ("proj_out", "0", "norm")):
    built, weights, wrong = 0, 0, []
    for cls in classes:
        try:
            names, chosen, cfg = quiet(diffusers_choice, cls, skip)
        except Exception:
            continue  # needs constructor arguments
        built += 1
        p = subprocess.run([RULE, cfg, ",".join(skip) if skip else "-"], capture_output=True,
                           text=True, input="".join("%s %d\n" % nd for nd in names))
        mine = {nm for (nm, _), bit in zip(names, p.stdout.split()) if bit == "1"}
        weights += len(names)
        if mine != chosen:
            wrong.append("%s: kbit only %s, diffusers only %s" %
                         (cls.__name__, sorted(mine - chosen)[:2], sorted(chosen - mine)[:2]))
    ok(built > 100 and not wrong, "(e) skip %s: kbit's rule = diffusers' quantizer on %d weights "
       "of %d model classes (of %d)" % (list(skip) if skip else None, weights, built,
                                         len(classes)), "\n".join(wrong[:8]))

plan()
