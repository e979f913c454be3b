"""Compare two frozen bundles key by key, with where each side's value came from."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from primus.assets import hash_entries_from_lock
from primus.bundle.check import FrozenBundle, load_bundle
from primus.bundle.layout import LOCK


class _Missing:
    """The key is not set on that side."""

    def __repr__(self) -> str:
        return "(unset)"


#: Stands for "this side has no such key" in a ``KeyDiff``.
MISSING: Any = _Missing()


@dataclass(frozen=True)
class KeyDiff:
    """One key whose value differs. ``a_source``/``b_source``: ``file:line (layer)``, or what recorded it."""

    key: str
    a_value: Any
    b_value: Any
    a_source: str
    b_source: str


def diff_bundles(a: Path, b: Path, *, verify: bool = True) -> list[KeyDiff]:
    """Every differing key of bundles ``a`` and ``b``, sorted by key.

    Covers the config (``training.steps``), the envelope (``envelope.exp_name``), the module, framework and
    preset names, and what lock.json pins into the hash: ``env.<VAR>``, ``packages.<name>``,
    ``runtime.image_id``, and the tokenizer/data pins ``assets.<role>.revision`` and
    ``assets.<role>.files.<path>``. Both bundles are verified first unless ``verify`` is False.
    """
    left, right = load_bundle(a, verify=verify), load_bundle(b, verify=verify)
    left_keys, right_keys = _comparable(left), _comparable(right)
    diffs = []
    for key in sorted(left_keys.keys() | right_keys.keys()):
        a_value, b_value = left_keys.get(key, MISSING), right_keys.get(key, MISSING)
        if _same(a_value, b_value):
            continue
        diffs.append(
            KeyDiff(key, a_value, b_value, _source(left, key, a_value), _source(right, key, b_value))
        )
    return diffs


def format_diff(diffs: Sequence[KeyDiff], *, a_label: str = "a", b_label: str = "b") -> str:
    """A Markdown table: key, each side's value and where it came from. ``no differences`` when empty."""
    if not diffs:
        return "no differences"
    header = ["key", a_label, f"{a_label} from", b_label, f"{b_label} from"]
    rows = [[d.key, _show(d.a_value), d.a_source, _show(d.b_value), d.b_source] for d in diffs]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(cells, widths)) + " |"

    separator = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    return "\n".join([line(header), separator, *(line(row) for row in rows)])


def _comparable(bundle: FrozenBundle) -> dict[str, Any]:
    keys: dict[str, Any] = {}
    _flatten(bundle.config, "", keys)
    _flatten(bundle.envelope, "envelope.", keys)
    keys["module"] = bundle.module_name
    keys["framework"] = bundle.framework
    _flatten(bundle.presets, "presets.", keys)
    _flatten(bundle.lock.get("env", {}), "env.", keys)
    _flatten(bundle.lock.get("packages", {}), "packages.", keys)
    keys["runtime.image_id"] = (bundle.lock.get("runtime") or {}).get("image_id")
    assets = bundle.lock.get("assets")
    _flatten(hash_entries_from_lock(assets if isinstance(assets, dict) else None) or {}, "assets.", keys)
    return keys


def _flatten(node: Mapping[str, Any], prefix: str, out: dict[str, Any]) -> None:
    for key, value in node.items():
        if isinstance(value, Mapping) and value:
            _flatten(value, f"{prefix}{key}.", out)
        else:
            out[f"{prefix}{key}"] = value


def _same(a: Any, b: Any) -> bool:
    # type matters: 1 and 1.0 and True are different settings even though Python calls them equal
    return type(a) is type(b) and json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _source(bundle: FrozenBundle, key: str, value: Any) -> str:
    if value is MISSING:
        return "-"
    if key.startswith(("env.", "packages.", "runtime.", "assets.")):
        return LOCK
    if key.startswith(("envelope.", "presets.")) or key in ("module", "framework"):
        return "experiment"
    origin = bundle.origin_of(key)
    return f"{origin} ({origin.layer})" if origin else "default"


def _show(value: Any) -> str:
    if value is MISSING:
        return "(unset)"
    return json.dumps(value, ensure_ascii=False)
