"""Helpers shared by several test files: the seed guide's files and flattening nested configs.

Test files import it as ``from support import ...`` (pytest puts tests/ on sys.path for its test files).
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SEED_GUIDE = REPO.parent / "shared" / "seeds" / "adding-a-torchtitan-model-config.md"

#: The seed guide's section 3 template, byte for byte (also the shipped qwen3_8B.yaml).
GUIDE_MODEL_PRESET = """\
job:
  dump_folder: "./outputs"
  description: "Qwen3 8B training (TorchTitan)"

model:
  name: "qwen3"
  flavor: "8B"
  hf_assets_path: "Qwen/Qwen3-8B"
  converters:
    - primus_turbo
"""

#: The seed guide's section 4 experiment, byte for byte.
GUIDE_EXPERIMENT = """\
work_group: ${PRIMUS_TEAM:amd}
user_name: ${PRIMUS_USER:root}
exp_name: ${PRIMUS_EXP_NAME:qwen3_8B-pretrain}
workspace: ./output

modules:
  pre_trainer:
    framework: torchtitan
    config: pre_trainer.yaml

    # model to run
    model: qwen3_8B.yaml
    overrides:
      sink_level: null
      file_sink_level: DEBUG
      stderr_sink_level: INFO

      metrics:
        log_freq: 1
        enable_wandb: false

      lr_scheduler:
        warmup_steps: 10

      training:
        local_batch_size: 4
        seq_len: 4096
        mock_data: true
        steps: 50
"""

_YAML_BLOCK = re.compile(r"```yaml\n(.*?)```", flags=re.S)


def guide_yaml_blocks() -> list[str]:
    """Every ```yaml block of the seed guide, dedented."""
    return [textwrap.dedent(block) for block in _YAML_BLOCK.findall(SEED_GUIDE.read_text(encoding="utf-8"))]


def guide_section_yaml(number: int) -> str:
    """The first ```yaml block of the guide's section ``number`` (e.g. "## 3. ...")."""
    sections = re.split(r"^## (\d+)\.", SEED_GUIDE.read_text(encoding="utf-8"), flags=re.M)
    body = sections[sections.index(str(number)) + 1]
    return textwrap.dedent(_YAML_BLOCK.search(body).group(1))


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted key -> leaf value; lists and empty mappings are leaves."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


#: Package versions recorded in test bundles (fixed, so hashes do not depend on this machine).
TEST_PACKAGES = {"torch": "2.13.0", "torchtitan": "0.2.2", "primus_turbo": None, "python": "3.11.7"}


def freeze_config(runs_dir: Path, config: dict[str, Any]) -> Path:
    """A real frozen bundle (``check_bundle`` passes) of a nested TorchTitan ``config``, not validated.

    ``train`` checks a bundle before it launches, so launcher and training tests need the real thing rather
    than a folder with a hand-written job_config.toml.
    """
    from hand_built import resolved

    from primus.bundle import freeze

    return freeze(resolved(base={}), config, runs_dir=runs_dir, packages=TEST_PACKAGES)
