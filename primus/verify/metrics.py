"""Reading ``train/metrics.jsonl``: one JSON object per logged step (format in docs/CONTRACTS.md).

Non-finite losses arrive as the strings ``"nan"``, ``"inf"`` and ``"-inf"`` because JSON has no literal for
them; they are turned back into floats here so every check works on numbers.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from primus.errors import BundleError

_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


@dataclass(frozen=True)
class StepMetrics:
    """One logged training step.

    ``loss`` may be NaN or infinite (a diverging run). ``tokens_per_second`` (tokens/s, this rank),
    ``step_time_s`` (seconds) and ``memory_gib`` (GiB, peak) are ``None`` when the record lacks them.
    ``device`` is the accelerator type when the train stage records it (``"cpu"``, ``"cuda"``), else ``None``.
    """

    step: int
    loss: float
    tokens_per_second: float | None = None
    step_time_s: float | None = None
    memory_gib: float | None = None
    lr: float | None = None
    grad_norm: float | None = None
    device: str | None = None


@dataclass(frozen=True)
class MetricsLog:
    """The steps of one run, sorted by step, one record per step.

    When a resumed run logged a step again, the later record wins: it is the one the checkpoint lineage
    continued from. ``truncated_line`` is the 1-based number of an unparsable last line without a newline
    (a writer killed mid-line), which is ignored; 0 when there was none.
    """

    path: Path
    steps: tuple[StepMetrics, ...]
    truncated_line: int = 0

    def losses(self) -> list[float]:
        return [record.loss for record in self.steps]


def _bundle_of(shown: str) -> str:
    """The bundle folder a ``<bundle>/train/metrics.jsonl`` path lies in, as shown; else ``BUNDLE``."""
    shown_path = Path(shown)
    return str(shown_path.parents[1]) if shown_path.parent.name == "train" else "BUNDLE"


def read_metrics(path: Path, *, display: str | None = None) -> MetricsLog:
    """Parse a metrics file; raise ``BundleError`` naming ``file:line`` for a missing file or a bad record.

    ``display`` is the path shown in messages (default: ``path`` as given).
    """
    shown = display or str(path)
    if not path.is_file():
        raise BundleError(
            "no metrics file: training has not run in this bundle, or wrote nothing",
            file=shown,
            hint=f"run the train stage first (`primus-cli train --bundle {_bundle_of(shown)}`), then verify",
        )
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.splitlines()
    by_step: dict[int, StepMetrics] = {}
    truncated = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        is_unterminated_last = number == len(lines) and not text.endswith("\n")
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as error:
            if is_unterminated_last:
                truncated = number
                continue
            raise BundleError(
                f"not valid JSON: {error.msg} (column {error.colno})",
                file=shown,
                line=number,
                hint="each line must be one JSON object as documented in docs/CONTRACTS.md",
            ) from None
        record = _parse_record(raw, shown, number)
        by_step[record.step] = record
    return MetricsLog(
        path=path, steps=tuple(by_step[step] for step in sorted(by_step)), truncated_line=truncated
    )


def _parse_record(raw: Any, shown: str, number: int) -> StepMetrics:
    if not isinstance(raw, dict):
        raise BundleError(
            f"expected a JSON object, found {type(raw).__name__}",
            file=shown,
            line=number,
            hint="each line must be one JSON object as documented in docs/CONTRACTS.md",
        )
    step = raw.get("step")
    if isinstance(step, bool) or not isinstance(step, int) or step < 1:
        raise BundleError(
            "field 'step' must be a positive integer",
            file=shown,
            line=number,
            key="step",
            value=step,
            hint="steps are counted from 1, as TorchTitan logs them",
        )
    if "loss" not in raw:
        raise BundleError(
            f"step {step} has no 'loss'",
            file=shown,
            line=number,
            key="loss",
            hint="every record needs a loss",
        )
    return StepMetrics(
        step=step,
        loss=_number(raw["loss"], "loss", shown, number),
        tokens_per_second=_optional_number(raw, "tokens_per_second", shown, number),
        step_time_s=_optional_number(raw, "step_time_s", shown, number),
        memory_gib=_optional_number(raw, "memory_gib", shown, number),
        lr=_optional_number(raw, "lr", shown, number),
        grad_norm=_optional_number(raw, "grad_norm", shown, number),
        device=raw["device"] if isinstance(raw.get("device"), str) else None,
    )


def _optional_number(raw: dict[str, Any], key: str, shown: str, number: int) -> float | None:
    value = raw.get(key)
    return None if value is None else _number(value, key, shown, number)


def _number(value: Any, key: str, shown: str, number: int) -> float:
    if isinstance(value, str) and value.lower() in _NON_FINITE:
        return _NON_FINITE[value.lower()]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BundleError(
            f'field \'{key}\' must be a number or one of "nan", "inf", "-inf"',
            file=shown,
            line=number,
            key=key,
            value=value,
            hint="write non-finite values as strings, numbers as JSON numbers",
        )
    return float(value)
