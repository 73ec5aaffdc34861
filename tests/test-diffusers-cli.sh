#!/bin/sh
# tests/test-diffusers-cli.sh - TAP test of the diffusers side of `kbit
# quantize / inspect / dequantize` from the command line: a generated
# FLUX-shaped transformer (kbit-genmodel --flux) alone and in a pipeline
# folder with a transformers text encoder, --components, --other-dtype,
# inspect of a pipeline (text and --json), usage errors, and a bad pipeline
# leaving no OUT. Run from the top build directory by `make check`.
kbit=./tools/kbit
gen=./tools/kbit-genmodel
. "$(dirname "$0")/lib.sh"
scratch dfcli

echo "1..13"

mkdir -p "$w/p"
tiny="--hidden 64 --heads 2 --intermediate 256 --in-channels 64 --joint-dim 64 --pooled-dim 64 --layers 1 --single-layers 1"
# shellcheck disable=SC2086
"$gen" "$w/p/transformer" --flux $tiny --shards 2 >/dev/null 2>&1 &&
    "$gen" "$w/p/text_encoder" --dtype bf16 >/dev/null 2>&1 || { echo "Bail out! kbit-genmodel failed"; exit 1; }
mkdir -p "$w/p/scheduler"
echo '{"_class_name": "FlowMatchEulerDiscreteScheduler"}' >"$w/p/scheduler/scheduler_config.json"
cat >"$w/p/model_index.json" <<'JSON'
{
  "_class_name": "FluxPipeline",
  "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
  "text_encoder": ["transformers", "LlamaModel"],
  "transformer": ["diffusers", "FluxTransformer2DModel"]
}
JSON

run 0 "quantize a diffusers transformer folder --json" "$kbit" quantize "$w/p/transformer" "$w/t4" \
    --double-quant --json --device cpu
check 'grep -q "\"quantized\": 30" "$w/out" && [ -f "$w/t4/diffusion_pytorch_model.safetensors.index.json" ] && [ -f "$w/t4/diffusion_pytorch_model-00002-of-00002.safetensors" ] && ! ls "$w/t4" | grep -q "^model"' \
    "every nn.Linear weight quantized (30), diffusers' file and index names"
run 0 "quantize a pipeline (the denoiser by default)" "$kbit" quantize "$w/p" "$w/pq" --quiet --device cpu
check 'cmp -s "$w/p/text_encoder/model.safetensors" "$w/pq/text_encoder/model.safetensors" && cmp -s "$w/p/model_index.json" "$w/pq/model_index.json" && cmp -s "$w/p/scheduler/scheduler_config.json" "$w/pq/scheduler/scheduler_config.json" && grep -q quantization_config "$w/pq/transformer/config.json"' \
    "the transformer quantized; text encoder, scheduler and model_index.json copied byte for byte"
run 0 "--components transformer,text_encoder --other-dtype fp16" "$kbit" quantize "$w/p" "$w/pq2" \
    --components transformer,text_encoder --other-dtype fp16 --quiet --device cpu
check '"$kbit" inspect "$w/pq2" >"$w/out" && grep -q "^== component text_encoder" "$w/out" && grep -q "^== component transformer" "$w/out" && grep -q "^lm_head.weight .*BF16" "$w/out" && grep -q "^model.norm.weight .*BF16" "$w/out" && grep -q "^x_embedder.weight .*nf4 bs64 (f16)" "$w/out" && grep -Eq "^norm_out.linear.bias +\[128\] +F16 " "$w/out"' \
    "inspect lists both components: text encoder by transformers' rule (lm_head kept, dtypes as stored), transformer by diffusers' (x_embedder quantized from fp16)"
run 0 "inspect a pipeline --json" "$kbit" inspect "$w/pq2" --json
check 'python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d[\"pipeline\"] and [c[\"component\"] for c in d[\"components\"]] == [\"text_encoder\", \"transformer\"]" "$w/out" 2>/dev/null || ! command -v python3 >/dev/null' \
    "--json: one object per component"
run 0 "dequantize a pipeline" "$kbit" dequantize "$w/pq2" "$w/pd" --dtype bf16 --quiet --device cpu
check '"$kbit" inspect "$w/pd/transformer" >"$w/out" && grep -q "^x_embedder.weight .*BF16" "$w/out" && ! grep -q quantization_config "$w/pd/text_encoder/config.json"' \
    "both components back to plain tensors"
run 2 "--other-dtype int8 is a usage error" "$kbit" quantize "$w/p" "$w/x" --other-dtype int8
sed 's/"transformer": \[/"..\/transformer": [/' "$w/p/model_index.json" >"$w/mi" && cp "$w/mi" "$w/p/model_index.json"
run 1 "a pipeline naming an escaping subfolder fails" "$kbit" quantize "$w/p" "$w/x" --quiet
check 'grep -q "not a plain subfolder name" "$w/err" && grep -q "was not written" "$w/err" && [ ! -e "$w/x" ] && ! ls -d "$w"/x.kbit-* >/dev/null 2>&1' \
    "the message names the component; no OUT, no temporary"
