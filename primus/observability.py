"""TensorBoard and Weights & Biases: how a run is watched, never what it computes (torch-free).

Turning observability on must not give a new bundle (and so a full retrain of an otherwise identical run).
So these keys are deliberately left out of the frozen bundle and of its hash: ``freeze`` and
``compute_hash`` see the config without them, and ``resolved.yaml``, ``job_config.toml`` and
``provenance.json`` do not carry them. They are launch settings instead: the train stage passes them to
TorchTitan on its command line (``--metrics.enable_tensorboard`` ...) and records what it used in
``train/observability.json``.

Where the files go (TorchTitan 0.2.2 writes them under ``job.dump_folder``, which is the bundle's
``train/``): TensorBoard event files in ``train/<metrics.save_tb_folder>/<timestamp>/`` (default
``train/tb/``), and W&B's run folder in ``wandb/`` inside that same folder. ``WANDB_MODE=offline`` keeps
W&B on this machine (sync later with ``wandb sync train/tb/*/wandb/offline-run-*``); ``enable_wandb``
without the ``wandb`` package is refused at preflight, before launch.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from primus.config.overrides import parse_cli_overrides
from primus.errors import ConfigErrors, ConfigKeyError, ConfigTypeError

#: The dotted keys that only say how a run is observed (TorchTitan's ``[metrics]`` switches).
KEYS = (
    "metrics.enable_tensorboard",
    "metrics.save_tb_folder",
    "metrics.enable_wandb",
    "metrics.save_for_all_ranks",
)
_BOOLEAN = {"metrics.enable_tensorboard", "metrics.enable_wandb", "metrics.save_for_all_ranks"}
#: Recorded by the train stage in ``train/``: the observability settings the last launch used.
RECORD = "observability.json"


def settings_of(config: Mapping[str, Any]) -> dict[str, Any]:
    """The observability values a (validated) config sets, by dotted key."""
    found = {}
    for key in KEYS:
        section, name = key.split(".")
        values = config.get(section)
        if isinstance(values, Mapping) and name in values:
            found[key] = values[name]
    return found


def without(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` minus the observability keys (a copy; a section left empty is dropped)."""
    stripped = copy.deepcopy(dict(config))
    for key in KEYS:
        section, name = key.split(".")
        values = stripped.get(section)
        if isinstance(values, dict):
            values.pop(name, None)
            if not values:
                del stripped[section]
    return stripped


def enabled(settings: Mapping[str, Any]) -> bool:
    """True when TensorBoard or W&B is switched on."""
    return bool(settings.get("metrics.enable_tensorboard") or settings.get("metrics.enable_wandb"))


def is_observability_key(dotted: str) -> bool:
    return dotted in KEYS


def launch_arguments(settings: Mapping[str, Any]) -> list[str]:
    """TorchTitan options for ``settings``: ``--metrics.enable_tensorboard``, ``--metrics.no-enable_wandb``
    (0.2.2's command line takes booleans as flags)."""
    arguments: list[str] = []
    for key in KEYS:
        if key not in settings:
            continue
        value = settings[key]
        if key in _BOOLEAN:
            section, name = key.split(".")
            arguments.append(f"--{key}" if value else f"--{section}.no-{name}")
        else:
            arguments += [f"--{key}", str(value)]
    return arguments


def cli_arguments(settings: Mapping[str, Any]) -> list[str]:
    """``primus-cli train --bundle`` options for ``settings`` (``--metrics.enable_tensorboard=true``)."""
    return [f"--{key}={_text(settings[key])}" for key in KEYS if key in settings]


def from_overrides(arguments: Sequence[str]) -> dict[str, Any]:
    """Observability settings from ``train --bundle`` overrides; other keys are refused (frozen bundle)."""
    settings: dict[str, Any] = {}
    problems = []
    for override in parse_cli_overrides(list(arguments)):
        if override.key not in KEYS:
            problems.append(
                ConfigKeyError(
                    f"{override.key} cannot change at train time: the bundle is frozen",
                    key=override.key,
                    hint="only TensorBoard/W&B settings can be given to `train --bundle` "
                    f"({', '.join(KEYS)}); freeze a new bundle for anything else",
                )
            )
        elif override.key in _BOOLEAN and not isinstance(override.value, bool):
            problems.append(
                ConfigTypeError(
                    f"expected true or false, got {override.value!r}", key=override.key, value=override.value
                )
            )
        elif override.key == "metrics.save_tb_folder" and (
            not isinstance(override.value, str)
            or override.value.startswith("/")
            or ".." in override.value.split("/")
        ):
            problems.append(
                ConfigTypeError(
                    f"must be a folder inside the bundle's train/, got {override.value!r}",
                    key=override.key,
                    value=override.value,
                    hint="a relative name such as tb (nothing a run writes leaves its bundle)",
                )
            )
        else:
            settings[override.key] = override.value
    if problems:
        raise ConfigErrors(problems)
    return settings


def _text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)
