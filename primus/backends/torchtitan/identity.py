"""TorchTitan 0.2.2's part of a verify report's run identity: model, batch, schedule and parallelism rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from primus.numbers import human_count
from primus.validate.parallelism import DEGREES

#: A dotted-key lookup of the run's config (the verify stage's ``RunConfig.get``: value, else the default).
Getter = Callable[[str], Any]


def describe_run(get: Getter, registry: dict[str, Any]) -> list[tuple[str, Any]]:
    """``(label, value)`` rows of the run's config, in reading order (the caller drops None values)."""
    return [
        ("model", _model(get, registry)),
        ("batch", _batch(get)),
        ("steps", get("training.steps")),
        ("learning rate", _schedule(get)),
        ("parallelism", _layout(get)),
    ]


def _model(get: Getter, registry: dict[str, Any]) -> str | None:
    name, flavor = get("model.name"), get("model.flavor")
    if not name:
        return None
    try:
        params = registry["families"][name]["flavors"][flavor].get("params")
    except (KeyError, TypeError):
        params = None
    counted = f" ({human_count(params)} parameters)" if params else ""
    return f"{name} / {flavor}{counted}"


def _batch(get: Getter) -> str | None:
    local, seq_len = get("training.local_batch_size"), get("training.seq_len")
    if local is None or seq_len is None:
        return None
    global_batch = get("training.global_batch_size")
    if isinstance(global_batch, int) and global_batch > 0:
        return f"global batch {global_batch} × seq_len {seq_len} (local batch {local})"
    return f"local batch {local} × seq_len {seq_len} per data-parallel rank"


def _schedule(get: Getter) -> str | None:
    lr = get("optimizer.lr")
    if lr is None:
        return None
    parts = [f"{get('optimizer.name') or 'optimizer'} lr {lr:g}" if isinstance(lr, float) else f"lr {lr}"]
    warmup = get("lr_scheduler.warmup_steps")
    if warmup is not None:
        parts.append(f"warmup {warmup} steps")
    decay = get("lr_scheduler.decay_type")
    if decay:
        ratio = get("lr_scheduler.decay_ratio")
        parts.append(f"{decay} decay" + (f" over the last {ratio:.0%}" if isinstance(ratio, float) else ""))
    floor = get("lr_scheduler.min_lr_factor")
    if isinstance(floor, float):
        parts.append(f"down to {floor:g} × lr" if floor else "down to 0")
    return ", ".join(parts)


def _layout(get: Getter) -> str:
    # the validator's table of degrees (mesh order); the expert-tensor degree only matters with experts
    degrees = {short: get(key) for key, short in DEGREES if short != "etp"}
    shown = [f"{short} {value}" for short, value in degrees.items() if value not in (None, 1)]
    if not shown:
        return "one process (no parallelism)"
    return " · ".join(shown) + ("  (-1: the remaining ranks)" if -1 in degrees.values() else "")
