"""Model-architecture overrides (``model.n_layers: 2``), as the validator sees them: torch-free data.

Primus applies every ``model.<name>`` key that is not a model setting of the JobConfig to the ModelArgs of
the chosen flavor (its llama3.1_405B preset sets ``n_layers``; its CI trains every example with
``--model.n_layers 4``). The backend's model-arguments snapshot (``Backend.model_args()``) says which
arguments each family has, with their types, and every flavor's values, so such keys are checked by name
and type before anything launches. A nested dataclass (``moe_args``) is a nested mapping:
``model.moe_args.top_k``. The backend applies the overrides at train time.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from primus.validate import schema


def snapshot() -> dict[str, Any]:
    return schema.backend().model_args()


def family_fields(family: str) -> dict[str, Any] | None:
    """The ModelArgs fields of ``family`` (name -> ``{type, spec}`` or a nested ``{class, fields}``)."""
    entry = snapshot()["families"].get(family)
    return entry["fields"] if entry else None


def flavor_values(family: str, flavor: str) -> dict[str, Any] | None:
    """Every ModelArgs value of one flavor as the framework registers it, None when unknown."""
    entry = snapshot()["families"].get(family)
    if entry is None or flavor not in entry["flavors"]:
        return None
    return copy.deepcopy(entry["flavors"][flavor])


def size_floor(name: str) -> int | None:
    """1 for a size or count (``dim``, ``n_layers``), 0 where 0 means none (``n_dense_layers``), else None."""
    data = snapshot()
    if name in data["positive"]:
        return 1
    return 0 if name in data["non_negative"] else None


def overrides_of(model_section: Mapping[str, Any], job_model_fields: frozenset[str]) -> dict[str, Any]:
    """The keys of a config's ``model:`` section that are architecture overrides, with their values."""
    return {key: value for key, value in model_section.items() if key not in job_model_fields}


def merged(values: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with ``overrides`` applied; nested mappings merge key by key."""
    out = copy.deepcopy(dict(values))
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def describe(overrides: Mapping[str, Any], prefix: str = "") -> list[str]:
    """``["n_layers=2", "moe_args.top_k=2"]``: one ``name=value`` per overridden leaf, sorted."""
    items: list[str] = []
    for key, value in sorted(overrides.items()):
        if isinstance(value, Mapping):
            items.extend(describe(value, f"{prefix}{key}."))
        else:
            items.append(f"{prefix}{key}={value}")
    return items
