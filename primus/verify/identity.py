"""Which run a report is about, read from the bundle alone: experiment, hash, model, batch, schedule, layout,
device, versions, git commit and image (the rows about the config come from the backend's ``describe_run``).

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
from primus.verify.settings import RunConfig


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
        *config.backend.describe_run(config.get),
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


def _versions(framework: str | None, packages: Mapping[str, Any]) -> str | None:
    """The pinned versions lock.json records: the framework's first, then the rest, Python last."""
    order = sorted(packages, key=lambda name: (name != framework, name == "python", name))
    versions = [f"{name} {packages[name]}" for name in order if packages.get(name)]
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
