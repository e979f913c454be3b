"""The module logging keys of a Primus experiment, applied to the train stage's output.

Primus routes its log through two sinks: a file (``file_sink_level``, default DEBUG) and stderr
(``stderr_sink_level``, default INFO); ``sink_level`` sets both at once. Here the same keys set the lowest
level of TorchTitan's log lines written to ``train/train.log`` and echoed to stderr (the progress view on
stdout is not a log line and always shows). A line without a level (a traceback, a plain print) is always
written to the file, so a failure keeps its full story, and never echoed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from primus.bundle.layout import RESOLVED

#: Loguru's levels (Primus's), which include Python logging's; lowest first.
LEVELS = {"TRACE": 5, "DEBUG": 10, "INFO": 20, "SUCCESS": 25, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
#: ``[rank0]:[titan] 2026-12-01 21:00:00,123 - root - INFO - message`` (TorchTitan's logging format).
_LEVEL_FIELD = re.compile(r" - (TRACE|DEBUG|INFO|SUCCESS|WARNING|ERROR|CRITICAL) - ")


@dataclass(frozen=True)
class SinkLevels:
    file: str = "DEBUG"
    stderr: str = "INFO"

    def to_file(self, line: str) -> bool:
        level = line_level(line)
        return level is None or LEVELS[level] >= LEVELS[self.file]

    def to_stderr(self, line: str) -> bool:
        level = line_level(line)
        return level is not None and LEVELS[level] >= LEVELS[self.stderr]


def line_level(line: str) -> str | None:
    """The log level of one output line, None when it has none."""
    match = _LEVEL_FIELD.search(line)
    return match.group(1) if match else None


def sink_levels(config: Mapping[str, Any]) -> SinkLevels:
    """The levels a validated config asks for: ``sink_level`` when set, else each sink's own key."""
    both = config.get("sink_level")
    if both:
        return SinkLevels(file=both, stderr=both)
    return SinkLevels(
        file=config.get("file_sink_level") or SinkLevels.file,
        stderr=config.get("stderr_sink_level") or SinkLevels.stderr,
    )


def bundle_sink_levels(bundle: Path) -> SinkLevels:
    """:func:`sink_levels` of the bundle's resolved.yaml (defaults when it records none)."""
    path = Path(bundle) / RESOLVED
    document = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
    config = (document or {}).get("config") or {}
    return sink_levels(config if isinstance(config, dict) else {})
