#!/usr/bin/env bash
# GPU check: the embedded experiment trains and verifies unchanged on a CUDA or ROCm host (no CPU patches
# apply there), then bench_train.py compares our launcher with stock `torchrun -m torchtitan.train` on the
# same job_config.toml. Needs primus and torchtitan 0.2.2 importable with the host's GPU torch.
#   bench/gpu_smoke.sh OUTDIR        (writes OUTDIR/runs, verdict.json, metrics.jsonl, loss.png, bench.md)
set -euo pipefail
out=${1:?usage: bench/gpu_smoke.sh OUTDIR}
py=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
cd "$(dirname "$0")/.."
"$py" -c "import torch, torchtitan; print('torch', torch.__version__, '| accelerator:', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none')"
config=examples/torchtitan/configs/CPU/llama3_debugmodel-pretrain.yaml
"$py" -m primus.cli direct -- train pretrain --config "$config" --runs-dir "$out/runs"
bundle=$(find "$out/runs" -mindepth 2 -maxdepth 2 -type d | head -n 1)
"$py" -m primus.cli verify "$bundle"
cp "$bundle/verify/verdict.json" "$bundle/train/metrics.jsonl" "$bundle/verify/loss.png" "$out/"
"$py" bench/bench_train.py "${@:2}" | tee "$out/bench.md"
