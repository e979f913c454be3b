"""Effective values of a coerced config for the cross-field checks: the config's own, else the default."""

from __future__ import annotations

from typing import Any

from primus.validate import schema
from primus.validate.report import Report

_BAD = object()


class Values:
    """Effective values of the coerced config: the config's own, else the schema default."""

    def __init__(self, config: dict[str, Any], report: Report) -> None:
        self.config = config
        self.report = report

    def __getitem__(self, dotted_key: str) -> Any:
        # a rejected key, or a rejected section above it (``training: 5``): its defaults would only mislead
        parts = dotted_key.split(".")
        if any(".".join(parts[:depth]) in self.report.bad_keys for depth in range(1, len(parts) + 1)):
            return _BAD
        node: Any = self.config
        for part in dotted_key.split("."):
            if not isinstance(node, dict) or part not in node:
                return schema.default_of(dotted_key)
            node = node[part]
        return node

    def all(self, *dotted_keys: str) -> list[Any] | None:
        """The values of all keys, or None when any of them was rejected earlier."""
        values = [self[key] for key in dotted_keys]
        return None if any(value is _BAD for value in values) else values

    def is_set(self, dotted_key: str) -> bool:
        return self.report.resolved.origin_of(dotted_key) is not None
