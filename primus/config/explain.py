"""Reading a ResolvedExperiment back: where a value came from, and the resolved config as text."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from primus.config.model import ResolvedExperiment, Setting

try:
    from yaml import CSafeDumper as _Dumper  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeDumper as _Dumper  # type: ignore[assignment]


@dataclass(frozen=True)
class Explanation:
    """Every layer's setting of one dotted key, lowest precedence first; the last one wins.

    ``settings`` is empty when no layer set the key (the CLI then shows the schema default).
    """

    key: str
    settings: tuple[Setting, ...]

    @property
    def winner(self) -> Setting | None:
        """The setting whose value is in the resolved config, or None when no layer set the key."""
        return self.settings[-1] if self.settings else None

    def summary(self) -> str:
        """One line: ``key = value   (file:line)`` of the winning setting (``key: not set`` when none)."""
        if self.winner is None:
            return f"{self.key}: not set by any layer"
        return f"{self.key} = {inline(self.winner.value)}   ({self.winner.origin})"

    def format(self) -> str:
        """Human-readable, highest precedence first, the winner marked with ``*``::

        training.steps = 20
          * 20     examples/x.yaml:31  (overrides)
            10000  primus/configs/modules/torchtitan/pre_trainer.yaml:50  (module preset)
        """
        if not self.settings:
            return f"{self.key}: not set by any layer"
        values = [inline(setting.value) for setting in reversed(self.settings)]
        width = max(len(value) for value in values)
        lines = [f"{self.key} = {values[0]}"]
        for index, (setting, value) in enumerate(zip(reversed(self.settings), values, strict=True)):
            mark = "*" if index == 0 else " "
            lines.append(f"  {mark} {value.ljust(width)}  {setting.origin}  ({setting.origin.layer})")
        return "\n".join(lines)


def inline(value: Any) -> str:
    """One value as compact JSON text (how explain shows values: ``5``, ``"c4"``, ``null``)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def explain(resolved: ResolvedExperiment, dotted_key: str) -> Explanation:
    """The settings of one leaf (``training.steps``), lowest precedence first."""
    return Explanation(dotted_key, tuple(resolved.provenance.get(dotted_key, ())))


def explain_section(resolved: ResolvedExperiment, prefix: str) -> list[Explanation]:
    """:func:`explain` for each leaf at or under ``prefix`` (``training`` -> ``training.*``), by key."""
    below = prefix + "."
    keys = sorted(key for key in resolved.provenance if key == prefix or key.startswith(below))
    return [explain(resolved, key) for key in keys]


#: Envelope keys that are raw input rather than resolved values (the module is recorded as module/presets).
_ENVELOPE_EXCLUDED = frozenset({"modules"})


def resolved_document(
    resolved: ResolvedExperiment, config: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The content of ``resolved.yaml``: envelope, module and framework names, preset names and the config.

    ``config`` is the validated config (``primus.validate.validate``'s result); without it, the merged
    config as loaded. The one definition: the bundle hashes and writes this document (normalized to JSON
    types), ``render`` prints it.
    """
    return {
        "envelope": {k: v for k, v in resolved.envelope.items() if k not in _ENVELOPE_EXCLUDED},
        "module": resolved.module_name,
        "framework": resolved.framework,
        "presets": {"module": resolved.module_preset, "model": resolved.model_preset},
        "config": resolved.config if config is None else config,
    }


def provenance_records(resolved: ResolvedExperiment) -> dict[str, list[dict[str, Any]]]:
    """``provenance.json`` content: ``{dotted_key: [{value, file, line, layer}, ...]}`` lowest first."""
    return {
        key: [
            {"value": s.value, "file": s.origin.file, "line": s.origin.line, "layer": s.origin.layer}
            for s in settings
        ]
        for key, settings in sorted(resolved.provenance.items())
    }


def render(data: Any, fmt: Literal["yaml", "json"] = "yaml") -> str:
    """``data`` (a ResolvedExperiment -> its :func:`resolved_document`, or plain data) as stable text.

    Keys sorted at every depth, block style YAML / 2-space JSON, UTF-8 kept as is, ending in a newline, so
    the same content always renders to the same bytes.
    """
    if isinstance(data, ResolvedExperiment):
        data = resolved_document(data)
    if fmt == "json":
        return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    if fmt == "yaml":
        return yaml.dump(
            data, Dumper=_Dumper, sort_keys=True, default_flow_style=False, allow_unicode=True, width=1000
        )
    raise ValueError(f"unknown format {fmt!r}: use 'yaml' or 'json'")
