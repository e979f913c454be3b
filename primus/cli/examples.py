"""The examples each ``primus-cli`` --help ends with."""

from __future__ import annotations

#: The examples each --help ends with (commands a user can paste from the repository root).
EXAMPLES = {
    "primus-cli": """examples:
  primus-cli validate qwen3_8B                 # an experiment name, looked up as snakemake does
  primus-cli resolve --freeze examples/torchtitan/configs/CPU/llama3_debugmodel-pretrain.yaml
  primus-cli train --bundle runs/EXP/HASH
  primus-cli verify runs/EXP/HASH
  primus-cli direct -- train pretrain --config qwen3_8B --dry-run
  eval "$(primus-cli completion bash)"         # tab completion in this shell""",
    "validate": """examples:
  primus-cli validate qwen3_8B
  primus-cli validate examples/torchtitan/configs/MI300X/*.yaml -q
  primus-cli validate llama3_debugmodel --platform CPU --preflight --training.steps 5
  primus-cli validate qwen3_8B --format json | jq '.files[].problems[]'""",
    "resolve": """examples:
  primus-cli resolve qwen3_8B --format json
  primus-cli resolve --freeze llama3_debugmodel --platform CPU --training.steps 20""",
    "explain": """examples:
  primus-cli explain qwen3_8B training.steps
  primus-cli explain qwen3_8B training        # every key of a section and who set it""",
    "models": """examples:
  primus-cli models
  primus-cli models --family qwen3 --format json""",
    "assets": """examples:
  primus-cli assets fetch llama3_debugmodel --platform CPU --training.mock_data false
  primus-cli assets fetch EXPERIMENT.yaml --update     # move branches to their current commit
  primus-cli assets fetch EXPERIMENT.yaml | jq '.assets.tokenizer.revision'""",
    "check-bundle": """examples:
  primus-cli check-bundle runs/EXP/HASH""",
    "diff": """examples:
  primus-cli diff runs/EXP/HASH_A runs/EXP/HASH_B          # exit 0 the same, 1 different
  primus-cli diff runs/EXP/HASH_A runs/EXP/HASH_B --format json""",
    "train": """examples:
  primus-cli train --bundle runs/EXP/HASH               # resumes from the latest checkpoint
  primus-cli train --bundle runs/EXP/HASH --dry-run     # the torchrun command only
  primus-cli train llama3_debugmodel --platform CPU     # freeze, then train""",
    "verify": """examples:
  primus-cli verify runs/EXP/HASH
  primus-cli verify runs/EXP/HASH --against runs/EXP/OTHER_HASH --tolerance 0.01
  primus-cli verify runs/EXP/HASH --format json""",
    "sweep": """examples:
  primus-cli sweep plan examples/sweeps/llama3_debugmodel-lr.yaml      # points, bundles, status
  primus-cli sweep plan examples/sweeps/llama3_debugmodel-lr.yaml --format json
  primus-cli sweep report examples/sweeps/llama3_debugmodel-lr.yaml    # table, loss curves, best point""",
    "container": """examples:
  primus-cli container build --variant cpu
  primus-cli container build --gpu-arch gfx950 --dry-run""",
    "direct": """examples:
  primus-cli direct -- train pretrain --config examples/torchtitan/configs/MI300X/qwen3_8B-BF16-pretrain.yaml
  primus-cli direct -- train pretrain --config qwen3_8B --dry-run
  primus-cli direct -- train pretrain --config llama3_debugmodel --platform CPU --training.steps 5""",
    "completion": """examples:
  primus-cli completion bash > ~/.local/share/bash-completion/completions/primus-cli
  eval "$(primus-cli completion bash)"          # this shell only""",
}
