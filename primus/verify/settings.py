"""The few settings of a frozen run that verification needs, read from ``<bundle>/resolved.yaml``.

``resolved.yaml`` holds only what the experiment set, so a key it lacks takes TorchTitan 0.2.2's default
(the same value the trainer used). Defaults are spelled out in ``DEFAULTS`` for that reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from primus.errors import BundleError

#: TorchTitan 0.2.2 ``JobConfig`` defaults for the keys verification reads (torchtitan/config/job_config.py).
DEFAULTS: dict[str, Any] = {
    "training.steps": 10000,
    "metrics.log_freq": 10,
    "checkpoint.enable": False,
    "checkpoint.folder": "checkpoint",
    "debug.deterministic": False,
}


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

    def expected_steps(self) -> list[int]:
        """The steps TorchTitan writes a metrics record for: 1 and every multiple of ``log_freq``."""
        return [step for step in range(1, self.steps + 1) if step == 1 or step % self.log_freq == 0]


#: What to pass instead of a folder that is not a bundle.
BUNDLE_HINT = (
    "pass the bundle folder runs/<exp_name>/<hash> that `primus-cli resolve --freeze CONFIG` printed"
)


def read_settings(bundle: Path) -> RunSettings:
    """Read ``resolved.yaml`` (and the recorded device); ``BundleError`` when the bundle is unusable."""
    if not bundle.is_dir():
        raise BundleError(
            "no run bundle here",
            file=str(bundle),
            hint=BUNDLE_HINT,
        )
    path = bundle / "resolved.yaml"
    shown = str(path)
    if not path.is_file():
        raise BundleError(
            "no resolved.yaml: this folder is not a frozen run bundle",
            file=shown,
            hint=BUNDLE_HINT,
        )
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise BundleError(
            f"cannot read YAML: {getattr(error, 'problem', None) or error}",
            file=shown,
            line=mark.line + 1 if mark else None,
            hint="resolved.yaml is written by freeze; re-freeze the experiment rather than editing it",
        ) from None
    config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(config, dict):
        raise BundleError(
            "resolved.yaml has no 'config:' mapping",
            file=shown,
            key="config",
            hint="resolved.yaml is written by freeze; re-freeze the experiment rather than editing it",
        )
    return RunSettings(
        steps=_setting(config, "training.steps", int, shown, minimum=1),
        log_freq=_setting(config, "metrics.log_freq", int, shown, minimum=1),
        checkpoint_enable=_setting(config, "checkpoint.enable", bool, shown),
        checkpoint_folder=_setting(config, "checkpoint.folder", str, shown),
        deterministic=_setting(config, "debug.deterministic", bool, shown),
        device=_recorded_device(bundle),
    )


def _setting(
    config: dict[str, Any], dotted: str, kind: type, shown: str, *, minimum: int | None = None
) -> Any:
    section, key = dotted.split(".")
    value = (config.get(section) or {}).get(key, DEFAULTS[dotted])
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


def _recorded_device(bundle: Path) -> str | None:
    """The device type the run trained on, as recorded by the train stage, else ``None``.

    Looked up in ``train/DONE`` (``{"step", "steps", "device"}``), then ``lock.json`` ``runtime.device``.
    Verification treats this as optional information: without it, comparisons use the tolerant default.
    """
    for path, keys in (
        (bundle / "train" / "DONE", ("device",)),
        (bundle / "lock.json", ("runtime", "device")),
    ):
        try:
            value: Any = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, str):
            return value
    return None
