"""bench/diffusers_peer.py - the peer of bench/diffusers.sh: diffusers +
bitsandbytes quantizing the same folder on the CPU (NF4, double quant,
torch_dtype bf16) and saving it, as a user with a GPU would do it. diffusers
refuses without a GPU (validate_environment); its one GPU check is answered
in-process, nothing else changes. Prints one JSON line: seconds (load +
quantize + save), peak RSS.

usage: python bench/diffusers_peer.py MODEL_DIR OUT_DIR THREADS"""
import json
import resource
import shutil
import sys
import time
import warnings

warnings.filterwarnings("ignore")
import torch  # noqa: E402
import diffusers  # noqa: E402
from diffusers.quantizers.bitsandbytes import bnb_quantizer  # noqa: E402

src, out, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
torch.set_num_threads(threads)
orig = bnb_quantizer.BnB4BitDiffusersQuantizer.validate_environment


def validate(self, *a, **k):
    real = torch.cuda.is_available
    torch.cuda.is_available = lambda: True
    try:
        return orig(self, *a, **k)
    finally:
        torch.cuda.is_available = real


bnb_quantizer.BnB4BitDiffusersQuantizer.validate_environment = validate
shutil.rmtree(out, ignore_errors=True)
t0 = time.monotonic()
m = diffusers.FluxTransformer2DModel.from_pretrained(
    src, device_map="cpu", torch_dtype=torch.bfloat16,
    quantization_config=diffusers.BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                     bnb_4bit_use_double_quant=True))
m.save_pretrained(out)
seconds = time.monotonic() - t0
print(json.dumps({"seconds": round(seconds, 3),
                  "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
