"""Build ResolvedExperiment objects by hand, for validator tests and later stages (no YAML involved).

Test files import it as ``from hand_built import ...`` (pytest puts tests/ on sys.path).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from primus.config.model import Origin, ResolvedExperiment, Setting

MODULE_PRESET = "primus/configs/modules/torchtitan/pre_trainer.yaml"
MODEL_PRESET = "primus/configs/models/torchtitan/llama3_debug.yaml"
EXPERIMENT = "examples/torchtitan/configs/CPU/exp.yaml"
CLI = "<command line>"

#: A small valid config: every value set by the module preset at lines 10, 11, 12 ...
BASE = {
    "model.name": "llama3",
    "model.flavor": "debugmodel",
    "training.mock_data": True,
    "training.steps": 10,
    "training.seq_len": 256,
    "training.local_batch_size": 2,
    "lr_scheduler.warmup_steps": 2,
    "optimizer.lr": 8.0e-4,
}

LAYER_FILES = {
    "module preset": MODULE_PRESET,
    "model preset": MODEL_PRESET,
    "overrides": EXPERIMENT,
    "command line": CLI,
}


def _put(config: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = config
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def resolved(*layers: tuple[str, dict[str, Any]], base: dict[str, Any] | None = None) -> ResolvedExperiment:
    """``BASE`` (from the module preset) then each ``(layer, {dotted: value})`` on top, in order.

    Lines: the module preset's keys sit at lines 10, 11 ... in ``BASE`` order; the next layer's keys at
    20, 21 ..., the one after at 30, 31 ... (command-line values have line 0, as the loader records them).
    """
    config: dict[str, Any] = {}
    provenance: dict[str, list[Setting]] = {}
    all_layers = [("module preset", dict(BASE if base is None else base)), *layers]
    for index, (layer, settings) in enumerate(all_layers):
        file = LAYER_FILES[layer]
        for offset, (dotted, value) in enumerate(settings.items()):
            line = 0 if layer == "command line" else 10 * (index + 1) + offset
            _put(config, dotted, value)
            provenance.setdefault(dotted, []).append(Setting(value, Origin(file, line, layer)))
    return ResolvedExperiment(
        path=Path(EXPERIMENT),
        envelope={"work_group": "t", "user_name": "t", "exp_name": "t", "workspace": "./output"},
        module_name="pre_trainer",
        framework="torchtitan",
        module_preset="pre_trainer.yaml",
        model_preset="llama3_debug.yaml",
        config=config,
        provenance=provenance,
    )
