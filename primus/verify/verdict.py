"""What verification produces: one ``Check`` per property, gathered in a ``Verdict``.

Both are plain data so they serialise to ``verify/verdict.json`` without a custom encoder and can be read
back by tools that know nothing of this package.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

#: A check either holds, does not hold, or does not apply to this run (e.g. too short to judge).
Status = Literal["pass", "fail", "skip"]
STATUSES: tuple[Status, ...] = ("pass", "fail", "skip")


@dataclass(frozen=True)
class Check:
    """The outcome of one verification check.

    ``name`` is a stable identifier (``loss_finite`` ...), ``message`` one sentence for a human that gives
    the numbers involved, ``details`` machine-readable facts behind the message (steps, means, paths).
    """

    name: str
    status: Status
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:  # a programming error, not a user error
            raise ValueError(f"check {self.name!r}: status {self.status!r} is not one of {STATUSES}")

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "message": self.message, **json_safe(self.details)}


@dataclass(frozen=True)
class Verdict:
    """All checks of one bundle. ``passed`` is true when no check failed (skipped checks do not count)."""

    checks: tuple[Check, ...]
    summary: dict[str, Any]

    @property
    def passed(self) -> bool:
        return not self.failed

    @property
    def failed(self) -> tuple[Check, ...]:
        """The checks whose status is ``fail``, in the order they ran."""
        return tuple(check for check in self.checks if check.status == "fail")

    def check(self, name: str) -> Check:
        """The check called ``name``; ``KeyError`` when it did not run."""
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "checks": [check.to_json() for check in self.checks],
            "summary": json_safe(self.summary),
        }


def json_safe(value: Any) -> Any:
    """``value`` with every NaN/infinite float written as ``"nan"``/``"inf"``/``"-inf"`` (JSON has no
    literal for them; metrics.jsonl uses the same strings)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value
