"""The data the loader hands to every later stage (validate, freeze, explain, launch).

Kept free of torch and of any loader internals so every stage can import it cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Layer names, lowest precedence first. ``Origin.layer`` is always one of these.
LAYERS = (
    "module base",  # a file reached through a preset's ``extends:`` chain
    "module preset",  # the file named by ``modules.<name>.config``
    "model preset",  # the file named by ``modules.<name>.model``
    "overrides",  # ``modules.<name>.overrides`` in the experiment file
    "command line",  # ``--section.key value`` given to the CLI
)

#: Keys of the experiment file's top level ("the envelope").
ENVELOPE_REQUIRED = ("work_group", "user_name", "exp_name", "workspace")
ENVELOPE_OPTIONAL = ("platform", "env", "modules")


@dataclass(frozen=True)
class Origin:
    """Where one value was written.

    ``file`` is a portable display path: relative to the current directory when the file lies under it,
    ``primus/configs/...`` for the package's own presets, else absolute. ``line`` is 1-based (0 when
    unknown, e.g. a command-line override, where ``file`` is ``"<command line>"``).
    """

    file: str
    line: int
    layer: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass(frozen=True)
class Setting:
    """One layer's assignment of one dotted key."""

    value: Any
    origin: Origin


@dataclass
class ResolvedExperiment:
    """An experiment after every layer is merged, before validation.

    ``config`` is the merged module config as plain nested dicts/lists/scalars: TorchTitan sections
    (``job``, ``model``, ``training`` ...), the ``primus_turbo`` section and the module-level keys
    (``trainable``, ``sink_level`` ...). ``provenance`` maps every leaf's dotted key to the settings
    that assigned it, lowest precedence first; the last one is the value in ``config``.
    """

    path: Path  # the experiment file as given
    envelope: dict[str, Any]  # work_group, user_name, exp_name, workspace, platform (resolved)
    module_name: str  # e.g. "pre_trainer"
    framework: str  # e.g. "torchtitan"
    module_preset: str  # the ``config:`` value as written, e.g. "pre_trainer.yaml"
    model_preset: str  # the ``model:`` value as written, e.g. "qwen3_8B.yaml"
    config: dict[str, Any]
    provenance: dict[str, list[Setting]] = field(default_factory=dict)
    #: every file read, experiment first then presets in the order they were read (resolved Paths)
    inputs: list[Path] = field(default_factory=list)
    #: environment variables consumed by ``${VAR}``: name -> value used, None when unset (default taken)
    env_consumed: dict[str, str | None] = field(default_factory=dict)
    #: the raw command-line overrides as given
    cli_overrides: list[str] = field(default_factory=list)

    def origin_of(self, dotted_key: str) -> Origin | None:
        """Where the final value of ``dotted_key`` came from, or None when no layer set it."""
        settings = self.provenance.get(dotted_key)
        return settings[-1].origin if settings else None

    def get(self, dotted_key: str, default: Any = None) -> Any:
        """The final value of a dotted key (``training.steps``), or ``default``."""
        node: Any = self.config
        for part in dotted_key.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node
