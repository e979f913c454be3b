"""The few settings of a frozen run that verification needs, from the bundle's resolved config.

``resolved.yaml`` (read by ``primus.bundle.read_resolved``) holds only what the experiment set, so a key it
lacks takes the backend's default (the same value the trainer used), asked of the bundle framework's backend.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from primus.backend import backend_for
from primus.bundle.check import read_resolved
from primus.bundle.layout import DONE_PATH, LOCK, RESOLVED
from primus.errors import BundleError


@dataclass(frozen=True)
class RunSettings:
    """What verification needs to know about one run.

    ``steps``: number of optimizer steps configured (``training.steps``). ``log_freq``: TorchTitan logs step 1
    and every multiple of this. ``checkpoint_folder``: relative to ``<bundle>/train``. ``device``: the device
    type the train stage recorded (``"cpu"``, ``"cuda"``; see ``_recorded_device``), ``None`` when unknown.
    """

    steps: int
    log_freq: int
    checkpoint_enable: bool
    checkpoint_folder: str
    deterministic: bool
    device: str | None = None
    #: CPU threads per worker and package versions the train stage recorded in train/DONE (None: unknown)
    threads: int | None = None
    versions: dict[str, str] | None = None

    def expected_steps(self) -> list[int]:
        """The steps TorchTitan writes a metrics record for: 1 and every multiple of ``log_freq``."""
        return [step for step in range(1, self.steps + 1) if step == 1 or step % self.log_freq == 0]


class RunConfig:
    """Dotted lookups in a bundle's resolved config, falling back to its backend's defaults (None when the
    backend has no such key): the one effective-value reader of the verify stage."""

    def __init__(self, config: Mapping[str, Any], framework: str | None) -> None:
        self.config = config
        self.backend = backend_for(framework)

    def get(self, dotted: str) -> Any:
        node: Any = self.config
        for part in dotted.split("."):
            if not isinstance(node, Mapping) or part not in node:
                try:
                    return self.backend.default_of(dotted)
                except KeyError:
                    return None
            node = node[part]
        return node


def read_settings(bundle: Path) -> RunSettings:
    """The settings of the bundle's resolved config and the recorded device; BundleError when unusable."""
    document = read_resolved(bundle)
    config = document["config"]
    shown = str(bundle / RESOLVED)
    values = RunConfig(config, document.get("framework"))

    def setting(name: str, kind: type, minimum: int | None = None) -> Any:
        return _setting(values, values.backend.run_keys[name], kind, shown, minimum=minimum)

    done = _read_json(bundle / DONE_PATH)  # the train stage's record: device, threads, versions
    return RunSettings(
        steps=setting("steps", int, minimum=1),
        log_freq=setting("log_freq", int, minimum=1),
        checkpoint_enable=setting("checkpoint_enable", bool),
        checkpoint_folder=setting("checkpoint_folder", str),
        deterministic=setting("deterministic", bool),
        device=_recorded_device(bundle, done),
        threads=_done_field(done, "threads", int),
        versions=_done_field(done, "versions", dict),
    )


def _setting(values: RunConfig, dotted: str, kind: type, shown: str, *, minimum: int | None = None) -> Any:
    value = values.get(dotted)
    wrong_type = not isinstance(value, kind) or (kind is int and isinstance(value, bool))
    if wrong_type or (minimum is not None and value < minimum):
        expected = kind.__name__ if minimum is None else f"{kind.__name__} >= {minimum}"
        raise BundleError(
            f"expected {expected}, found {value!r}",
            file=shown,
            key=f"config.{dotted}",
            value=value,
            hint="resolved.yaml is written by freeze after validation; re-freeze the experiment",
        )
    return value


def _read_json(path: Path) -> Any:
    """A JSON file's content, None when it is missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _done_field(done: Any, name: str, kind: type) -> Any:
    """One field of train/DONE's run record, None when absent or of another type."""
    value = done.get(name) if isinstance(done, dict) else None
    return value if isinstance(value, kind) and not isinstance(value, bool) else None


def _recorded_device(bundle: Path, done: Any) -> str | None:
    """The device type the run trained on, as recorded by the train stage, else ``None``.

    Looked up in ``train/DONE`` (``done``: ``{"step", "steps", "device"}``), then ``lock.json``
    ``runtime.device``. Verification treats this as optional information: without it, comparisons use the
    tolerant default.
    """
    for value, keys in ((done, ("device",)), (_read_json(bundle / LOCK), ("runtime", "device"))):
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, str):
            return value
    return None
