"""Collects validation problems, each located at the file:line that set the offending key."""

from __future__ import annotations

from typing import Any

from primus.config.model import ResolvedExperiment
from primus.errors import _UNSET, ConfigError


class Report:
    """Every problem found in one validation pass, in the order found."""

    def __init__(self, resolved: ResolvedExperiment) -> None:
        self.resolved = resolved
        self.errors: list[ConfigError] = []
        #: problems TorchTitan resolves at run time, or keys with no effect here: printed, exit status 0
        self.warnings: list[ConfigError] = []
        #: dotted keys whose value was rejected; cross-field checks skip anything that depends on them
        self.bad_keys: set[str] = set()

    def location(self, dotted_key: str) -> tuple[str | None, int | None]:
        """``(file, line)`` that set ``dotted_key``; for a section, the first leaf set under it."""
        origin = self.resolved.origin_of(dotted_key)
        if origin is None:
            prefix = dotted_key + "."
            for key in self.resolved.provenance:
                if key.startswith(prefix):
                    origin = self.resolved.origin_of(key)
                    break
        if origin is None:
            return None, None
        return origin.file, origin.line or None

    def add(
        self,
        error_cls: type[ConfigError],
        key: str,
        message: str,
        *,
        value: Any = _UNSET,
        hint: str | None = None,
        **details: Any,
    ) -> None:
        """An error at the file:line that set ``key``; checks that depend on ``key`` are skipped.
        ``details`` are extra attributes of ``error_cls``."""
        file, line = self.location(key)
        self.errors.append(
            error_cls(message, file=file, line=line, key=key, value=value, hint=hint, **details)
        )
        self.bad_keys.add(key)

    def warn(
        self,
        error_cls: type[ConfigError],
        key: str,
        message: str,
        *,
        value: Any = _UNSET,
        hint: str | None = None,
        **details: Any,
    ) -> None:
        """A warning at the file:line that set ``key``: the value stays usable by other checks."""
        file, line = self.location(key)
        self.warnings.append(
            error_cls(
                message, file=file, line=line, key=key, value=value, hint=hint, severity="warning", **details
            )
        )
