"""Canonical, byte-stable encodings of a run's data (JSON, YAML, digests, portable paths).

Everything a bundle holds goes through these helpers so that the same semantic content always gives the
same bytes: keys sorted, no timestamps, no absolute paths of this machine, no Python-specific types.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from primus.errors import BundleError

#: Written at the top of resolved.yaml. No timestamp and no path, so identical runs give identical bytes.
RESOLVED_HEADER = "# Frozen by primus: canonical resolved experiment. Do not edit; re-freeze instead.\n"


def normalize(value: Any, key: str = "") -> Any:
    """Return ``value`` as plain JSON/YAML data: dicts with str keys, lists, str, int, float, bool, None.

    Tuples become lists. Anything else (a datetime that YAML guessed, a Path, an object) is a
    ``BundleError`` naming the dotted ``key``, because its text form would not be stable or reloadable.
    """
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for sub_key, sub_value in value.items():
            if not isinstance(sub_key, str):
                raise BundleError(
                    f"key {sub_key!r} is a {type(sub_key).__name__}, only string keys can be frozen",
                    key=key or None,
                    hint="quote the key in the YAML file",
                )
            out[sub_key] = normalize(sub_value, f"{key}.{sub_key}" if key else sub_key)
        return out
    if isinstance(value, list | tuple):
        return [normalize(item, f"{key}[{index}]") for index, item in enumerate(value)]
    raise BundleError(
        f"value {value!r} of type {type(value).__name__} cannot be frozen",
        key=key or None,
        value=value,
        hint="write it as a quoted string or a number in the YAML file",
    )


def canonical_json(data: Any) -> str:
    """Indented JSON with sorted keys and a final newline: the on-disk form of every .json bundle file."""
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def compact_json(data: Any) -> str:
    """Single-line sorted JSON: the byte string a hash is taken over."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_yaml(data: Any) -> str:
    """Block-style YAML with sorted keys, wide lines (no wrapping) and the frozen-file header."""
    body = yaml.safe_dump(
        data, sort_keys=True, default_flow_style=False, allow_unicode=True, width=1 << 16, indent=2
    )
    return RESOLVED_HEADER + body


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_text(text: str) -> str:
    """Hex sha256 of ``text`` encoded as UTF-8."""
    return sha256_bytes(text.encode("utf-8"))


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def json_safe(value: Any) -> Any:
    """Like :func:`normalize` but never fails: used for provenance, where raw YAML values are recorded.

    Non-finite floats stay floats (JSON writes NaN/Infinity), unknown types become their ``str()``.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return str(value)


def package_configs_dir() -> Path:
    """The package's own preset folder (``primus/configs``)."""
    return Path(__file__).resolve().parent.parent / "configs"


def portable_path(path: str | os.PathLike[str], *, base: Path | None = None) -> str:
    """A path string that does not reveal where this checkout lives.

    ``primus/configs/...`` for the package's presets; relative to ``base`` (default: the current
    directory) otherwise, with ``..`` steps when the file lies outside it. POSIX separators always.
    Non-path markers such as ``<command line>`` are returned unchanged.
    """
    text = os.fspath(path)
    if text.startswith("<"):
        return text
    candidate = Path(text)
    if not candidate.is_absolute():
        return candidate.as_posix()
    resolved = candidate.resolve()
    configs = package_configs_dir()
    if resolved.is_relative_to(configs):
        return (Path("primus/configs") / resolved.relative_to(configs)).as_posix()
    base_dir = (base or Path.cwd()).resolve()
    return Path(os.path.relpath(resolved, base_dir)).as_posix()
