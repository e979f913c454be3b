"""Apply ``model.<arg>`` overrides to TorchTitan ModelArgs at train time (Primus's semantics).

The validator has checked each override by name and type against ``model_args.json`` (see
``primus.validate.model_args``); this sets them on the real dataclass, nested ones (``moe_args``) included.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from typing import Any


def apply_overrides(args: Any, overrides: Mapping[str, Any]) -> Any:
    """A copy of ModelArgs dataclass ``args`` with ``overrides`` set (nested dataclasses copied too).

    Raises AttributeError for a name ``args`` does not have: validation has already refused it, so reaching
    this means the bundle was not validated against this snapshot.
    """
    changes: dict[str, Any] = {}
    for name, value in overrides.items():
        if not any(field.name == name for field in dataclasses.fields(args)):
            raise AttributeError(f"{type(args).__name__} has no field {name!r}")
        current = getattr(args, name)
        if isinstance(value, Mapping) and dataclasses.is_dataclass(current):
            changes[name] = apply_overrides(current, value)
        else:
            changes[name] = copy.deepcopy(value)
    return dataclasses.replace(args, **changes)
