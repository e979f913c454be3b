"""Deep merge with per-leaf provenance.

Merge rule (Primus's): mappings merge key by key, recursively; any other value (scalars, lists, null) replaces
what was there whole, so ``null`` may replace a mapping and a list never merges item by item.

:class:`LayeredConfig` applies one file (or the overrides) at a time, lowest precedence first, and records
every leaf it sets as a :class:`~primus.config.model.Setting`. A leaf is any non-mapping value, or an empty
mapping. When a mapping is replaced whole by a scalar or null, the leaves it held leave the provenance too, so
``provenance`` always describes exactly the leaves of ``config``.
"""

from __future__ import annotations

from typing import Any

from primus.config.model import Origin, Setting
from primus.config.yaml_io import LineDict, to_plain
from primus.errors import OverrideConflictError


class LayeredConfig:
    """The merged config being built, with ``provenance[dotted_key]`` = settings lowest first."""

    def __init__(self) -> None:
        self.config: dict[str, Any] = {}
        self.provenance: dict[str, list[Setting]] = {}

    def apply(self, tree: LineDict, layer: str) -> None:
        """Deep-merge ``tree`` over the config; each key's origin is ``tree.origin_of(key)`` in ``layer``."""
        self._apply(self.config, tree, "", layer)

    def _apply(self, target: dict[str, Any], tree: LineDict, prefix: str, layer: str) -> None:
        for key, value in tree.items():
            dotted = prefix + key
            file, line = tree.origin_of(key)
            existing = target.get(key)
            if isinstance(value, dict):
                if not isinstance(existing, dict):
                    if key in target:  # a scalar leaf becomes a mapping: the scalar is gone
                        self._forget(dotted)
                    existing = target[key] = {}
                    if not value:
                        self._record(dotted, {}, file, line, layer)
                        continue
                elif not existing and value:  # an empty-mapping leaf gains children: no longer a leaf
                    self.provenance.pop(dotted, None)
                if value:
                    self._apply(existing, value, dotted + ".", layer)
            else:
                if isinstance(existing, dict):  # a mapping replaced whole: its leaves are gone
                    self._forget(dotted)
                if isinstance(value, list):  # config and provenance each get their own copy
                    target[key] = to_plain(value)
                    value = to_plain(value)
                else:
                    target[key] = value
                self._record(dotted, value, file, line, layer)

    def _record(self, dotted: str, value: Any, file: str, line: int, layer: str) -> None:
        self.provenance.setdefault(dotted, []).append(Setting(value, Origin(file, line, layer)))

    def _forget(self, dotted: str) -> None:
        below = dotted + "."
        for key in [key for key in self.provenance if key == dotted or key.startswith(below)]:
            del self.provenance[key]


def merge_annotated(base: LineDict, top: LineDict) -> LineDict:
    """A new LineDict: ``top`` deep-merged over ``base``; each key keeps the origin of the file that won."""
    merged = LineDict(top.file, top.line)
    for key, value in base.items():
        merged[key] = value
        merged.origins[key] = base.origin_of(key)
    for key, value in top.items():
        existing = merged.get(key)
        if isinstance(value, LineDict) and isinstance(existing, LineDict):
            merged[key] = merge_annotated(existing, value)
        else:
            merged[key] = value
        merged.origins[key] = top.origin_of(key)
    return merged


def expand_dotted_keys(tree: LineDict, prefix: str = "") -> LineDict:
    """``{"training.steps": 20}`` -> ``{"training": {"steps": 20}}``, at every depth, keeping lines.

    Primus keeps a dotted key literally (and so it has no effect); here it means the nested key. Two entries
    that set the same leaf (``training.steps: 5`` and ``training: {steps: 6}``) are an OverrideConflictError
    naming both lines. ``prefix`` is the dotted path of ``tree`` (for messages).
    """
    result = LineDict(tree.file, tree.line)
    for key, value in tree.items():
        file, line = tree.origin_of(key)
        parts = key.split(".")
        if any(not part for part in parts):
            raise OverrideConflictError(
                f"'{key}' is not a valid dotted key (empty part)",
                file=file,
                line=line,
                key=prefix + key,
                hint="write section.key, e.g. training.steps",
            )
        if isinstance(value, LineDict):
            value = expand_dotted_keys(value, prefix + key + ".")
        node = result
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if part not in node:
                child = LineDict(file, line)
                node[part] = child
                node.origins[part] = (file, line)
            elif not isinstance(child, LineDict):
                raise _conflict(prefix + ".".join(parts[: depth + 1]), node.origin_of(part), (file, line))
            node = child
        _merge_strict(node, parts[-1], value, (file, line), prefix + ".".join(parts[:-1]))
    return result


def _merge_strict(node: LineDict, key: str, value: Any, origin: tuple[str, int], prefix: str) -> None:
    full = f"{prefix}.{key}" if prefix else key
    if key not in node:
        node[key] = value
        node.origins[key] = origin
        return
    existing = node[key]
    if isinstance(existing, LineDict) and isinstance(value, LineDict):
        for child_key, child in value.items():
            _merge_strict(existing, child_key, child, value.origin_of(child_key), full)
        return
    raise _conflict(full, node.origin_of(key), origin)


def _conflict(key: str, first: tuple[str, int], second: tuple[str, int]) -> OverrideConflictError:
    return OverrideConflictError(
        f"set twice in overrides (line {first[1]} and line {second[1]})",
        file=second[0],
        line=second[1],
        key=key,
        hint="keep one of them",
    )
