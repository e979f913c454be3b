"""``train/metrics.jsonl``: one JSON object per logged step (format in docs/CONTRACTS.md). Torch-free.

Rows are appended and flushed one line at a time, so a killed run leaves at most one torn last line;
readers skip it. On resume the rows after the checkpoint's step are dropped before training continues,
so the file holds each step once and equals the file of an uninterrupted run.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: Start of the train.log line with the mean data-loading share of step time (bench_train.py reads it).
DATA_LOADING_SUMMARY = "primus: data loading share of step time"

#: The fields of one row, in file order.
FIELDS = ("step", "loss", "tokens_per_second", "step_time_s", "memory_gib", "lr", "grad_norm")

# TorchTitan MetricsProcessor key -> our field.
_TORCHTITAN_KEYS = {
    "loss": "loss_metrics/global_avg_loss",
    "tokens_per_second": "throughput(tps)",
    "step_time_s": "time_metrics/end_to_end(s)",
    "memory_gib": "memory/max_reserved(GiB)",
    "lr": "lr",
    "grad_norm": "grad_norm",
}
_OPTIONAL = {"lr", "grad_norm"}


def json_number(value: Any) -> float | str | None:
    """A float for JSON: NaN and infinities become the strings "nan", "inf", "-inf"; None stays None."""
    if value is None:
        return None
    number = float(value)
    if math.isnan(number):
        return "nan"
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    return number


def row_from_torchtitan(metrics: Mapping[str, Any], step: int) -> dict[str, Any]:
    """Map one TorchTitan metrics dict (as its loggers receive it) to a metrics.jsonl row."""
    row: dict[str, Any] = {"step": int(step)}
    for field, key in _TORCHTITAN_KEYS.items():
        value = metrics.get(key)
        if value is None and field not in _OPTIONAL:
            value = float("nan")
        row[field] = json_number(value)
    return row


def append_row(path: Path, row: Mapping[str, Any]) -> None:
    """Append one row as a single line and flush it to the OS (survives a kill -9 of this process)."""
    line = json.dumps({field: row.get(field) for field in FIELDS}, allow_nan=False) + "\n"
    with Path(path).open("a", encoding="utf-8") as handle:
        handle.write(line)
        handle.flush()


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Every complete row of ``path`` in file order; a torn or foreign line is skipped. [] if absent."""
    rows: list[dict[str, Any]] = []
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return rows
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and isinstance(row.get("step"), int):
            rows.append(row)
    return rows


def keep_rows_up_to(path: Path, step: int) -> int:
    """Rewrite ``path`` keeping rows with ``row["step"] <= step`` (atomically); returns rows dropped.

    Called when training (re)starts at ``step + 1``: rows logged after the checkpoint that is being
    resumed belong to steps that will be trained again.
    """
    path = Path(path)
    if not path.exists():
        return 0
    rows = read_rows(path)
    kept = [row for row in rows if row["step"] <= step]
    dropped_lines = len(path.read_text(encoding="utf-8").splitlines()) - len(kept)
    if dropped_lines == 0:
        return 0
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        for row in kept:
            handle.write(json.dumps(row, allow_nan=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    return dropped_lines
