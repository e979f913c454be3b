"""Which run a report is about, read from the bundle alone: experiment, hash, model, batch, schedule, layout,
device, versions, git commit and image.

Everything comes from what freeze and train wrote (``resolved.yaml``, ``lock.json``, the device the train
stage recorded); a value a bundle does not record is left out rather than guessed. Keys the experiment did
not set take the backend's default, as the trainer did.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from primus.bundle.check import read_resolved
from primus.bundle.layout import DONE_PATH, LOCK
from primus.validate.parallelism import DEGREES
from primus.verify.settings import RunConfig


def human_count(count: int | float | None) -> str:
    """``6.16 M`` for 6163712; ``?`` when unknown."""
    if not count:
        return "?"
    for unit, size in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if count >= size:
            return f"{count / size:.3g} {unit}"
    return str(int(count))


def run_identity(bundle: Path, *, device: str | None = None) -> list[tuple[str, str]]:
    """``(label, value)`` rows that identify the run, in reading order."""
    bundle = Path(bundle)
    document = read_resolved(bundle)
    envelope = document.get("envelope") or {}
    config = RunConfig(document.get("config") or {}, document.get("framework"))
    lock = _read_json(bundle / LOCK)
    rows: list[tuple[str, Any]] = [
        ("experiment", envelope.get("exp_name")),
        ("bundle", f"{bundle.resolve().parent.name}/{bundle.resolve().name}"),
        ("experiment file", lock.get("experiment")),
        ("model", _model(config)),
        ("batch", _batch(config)),
        ("steps", config.get("training.steps")),
        ("learning rate", _schedule(config)),
        ("parallelism", _layout(config)),
        ("world size", _world_size(bundle)),
        ("device", device),
        ("framework", _versions(document.get("framework"), lock.get("packages") or {})),
        ("git commit", _git(lock.get("git") or {})),
        ("container image", (lock.get("runtime") or {}).get("image_id") or "none (host runtime)"),
    ]
    if not lock:
        rows = [(label, value) for label, value in rows if label not in ("container image",)]
    return [(label, str(value)) for label, value in rows if value not in (None, "")]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _model(config: RunConfig) -> str | None:
    name, flavor = config.get("model.name"), config.get("model.flavor")
    if not name:
        return None
    try:
        params = config.backend.registry()["families"][name]["flavors"][flavor].get("params")
    except (KeyError, TypeError):
        params = None
    counted = f" ({human_count(params)} parameters)" if params else ""
    return f"{name} / {flavor}{counted}"


def _batch(config: RunConfig) -> str | None:
    local, seq_len = config.get("training.local_batch_size"), config.get("training.seq_len")
    if local is None or seq_len is None:
        return None
    global_batch = config.get("training.global_batch_size")
    if isinstance(global_batch, int) and global_batch > 0:
        return f"global batch {global_batch} × seq_len {seq_len} (local batch {local})"
    return f"local batch {local} × seq_len {seq_len} per data-parallel rank"


def _schedule(config: RunConfig) -> str | None:
    lr = config.get("optimizer.lr")
    if lr is None:
        return None
    parts = [
        f"{config.get('optimizer.name') or 'optimizer'} lr {lr:g}" if isinstance(lr, float) else f"lr {lr}"
    ]
    warmup = config.get("lr_scheduler.warmup_steps")
    if warmup is not None:
        parts.append(f"warmup {warmup} steps")
    decay = config.get("lr_scheduler.decay_type")
    if decay:
        ratio = config.get("lr_scheduler.decay_ratio")
        parts.append(f"{decay} decay" + (f" over the last {ratio:.0%}" if isinstance(ratio, float) else ""))
    floor = config.get("lr_scheduler.min_lr_factor")
    if isinstance(floor, float):
        parts.append(f"down to {floor:g} × lr" if floor else "down to 0")
    return ", ".join(parts)


def _layout(config: RunConfig) -> str:
    # the validator's table of degrees (mesh order); the expert-tensor degree only matters with experts
    degrees = {short: config.get(key) for key, short in DEGREES if short != "etp"}
    shown = [f"{short} {value}" for short, value in degrees.items() if value not in (None, 1)]
    if not shown:
        return "one process (no parallelism)"
    return " · ".join(shown) + ("  (-1: the remaining ranks)" if -1 in degrees.values() else "")


def _versions(framework: str | None, packages: Mapping[str, Any]) -> str | None:
    versions = [
        f"{name} {packages[name]}" for name in ("torchtitan", "torch", "python") if packages.get(name)
    ]
    if packages.get("primus_turbo"):
        versions.append(f"primus_turbo {packages['primus_turbo']}")
    return ", ".join(versions) or framework


def _git(git: Mapping[str, Any]) -> str | None:
    commit = git.get("commit")
    if not commit:
        return None
    return f"{commit[:12]}{' (uncommitted changes)' if git.get('dirty') else ''}"


def _world_size(bundle: Path) -> str | None:
    """Processes the run trained with, as the trainer recorded them in ``train/DONE``."""
    world = _read_json(bundle / DONE_PATH).get("world_size")
    if not isinstance(world, int):
        return None
    return f"{world} process{'es' if world != 1 else ''}"
