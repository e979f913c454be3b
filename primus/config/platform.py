"""The ``platform:`` preset: a name, ``platform_<name>.yaml``, or ``{config: ..., overrides: ...}``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from primus.config.extends import LoadSession
from primus.config.merge import merge_annotated
from primus.config.paths import (
    resolve_preset,
)
from primus.config.problems import raise_all, unknown_key
from primus.config.yaml_io import LineDict, kind_of, to_plain
from primus.errors import (
    MissingKeyError,
    NotAMappingError,
)

#: Keys a ``platform:`` mapping may have.
PLATFORM_KEYS = ("config", "overrides")


def load_platform(session: LoadSession, root: Path, value: Any, document: LineDict) -> dict[str, Any]:
    """Platform preset: ``platform: azure``, ``platform_azure.yaml`` or ``{config: ..., overrides: ...}``."""
    file, line = document.origin_of("platform")
    overrides: LineDict | None = None
    name = value
    if isinstance(value, LineDict):
        raise_all(
            [
                unknown_key(
                    key,
                    PLATFORM_KEYS,
                    where="'platform'",
                    file=value.origin_of(key)[0],
                    line=value.line_of(key),
                    dotted=f"platform.{key}",
                )
                for key in value
                if key not in PLATFORM_KEYS
            ]
        )
        if "config" not in value:
            raise MissingKeyError(
                "platform has no 'config'",
                file=file,
                line=line,
                key="platform.config",
                hint="platform:\n  config: platform_local.yaml",
            )
        name = value["config"]
        file, line = value.origin_of("config")
        raw_overrides = value.get("overrides")
        if raw_overrides is not None and not isinstance(raw_overrides, LineDict):
            raise NotAMappingError(
                f"platform overrides must be a mapping, got a {kind_of(raw_overrides)}",
                file=value.origin_of("overrides")[0],
                line=value.line_of("overrides"),
                key="platform.overrides",
            )
        overrides = raw_overrides
    extra = [f"platform_{name}"] if isinstance(name, str) else []
    path = resolve_preset(
        root / "platforms", name, what="platform", file=file, line=line, key="platform", candidates=extra
    )
    merged = session.merged(path)
    if overrides:
        merged = merge_annotated(merged, overrides)
    return to_plain(merged)
