"""The workflow config (``config/config.yaml`` merged with ``--config`` / ``--configfile``), checked against
``workflow/schemas/config.schema.yaml`` before anything is planned, with the project's error messages.

Snakemake reads ``--config slurm='{nodes: 2}'`` with YAML's BaseLoader, so every nested value arrives as a
string (``'2'``); ``command_line_values`` turns such strings into the integer or boolean the schema asks for
(a top-level ``--config strict=true`` is already a bool). Then every problem is reported at once, one line
each (an unknown key with its did-you-mean, a wrong type, a value out of range), instead of a jsonschema
dump and a Snakemake traceback. Snakemake's own ``validate`` still runs afterwards and fills the defaults.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

from primus.errors import (
    ConfigErrors,
    ConfigKeyError,
    ConfigTypeError,
    ConfigValueError,
    PrimusError,
    suggest,
    unknown_key_message,
)

_INTEGER = re.compile(r"[+-]?\d+")
_BOOLEANS = {"true": True, "false": False}
_TYPE_WORDS = {"integer": "an integer", "boolean": "true or false", "string": "text", "array": "a list"}
_TYPE_WORDS |= {"object": "a mapping (key: value)", "number": "a number"}


def load_schema(path: Path | str) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))


def _types(node: Mapping[str, Any]) -> list[str]:
    declared = node.get("type", [])
    return [declared] if isinstance(declared, str) else list(declared)


def command_line_values(config: MutableMapping[str, Any], schema: Mapping[str, Any]) -> None:
    """In place: a string where the schema wants an integer or a boolean (and not text) becomes one, when
    it spells one (``'2'`` -> 2, ``'true'`` -> True); anything else is left for ``check`` to report."""
    for name, node in (schema.get("properties") or {}).items():
        if name not in config:
            continue
        value, types = config[name], _types(node)
        if isinstance(value, MutableMapping) and "object" in types:
            command_line_values(value, node)
        elif isinstance(value, str) and "string" not in types:
            if "integer" in types and _INTEGER.fullmatch(value.strip()):
                config[name] = int(value)
            elif "boolean" in types and value.strip().lower() in _BOOLEANS:
                config[name] = _BOOLEANS[value.strip().lower()]


def _problem(error: Any, schema: Mapping[str, Any]) -> list[PrimusError]:
    path = [str(part) for part in error.absolute_path]
    key = ".".join(path) or None
    where = f"'{key}'" if key else "the workflow config"
    node = schema
    for part in path:
        node = (node.get("properties") or {}).get(part, {})
    if error.validator == "additionalProperties":
        known = list(node.get("properties") or {})
        unknown = [name for name in error.instance if name not in known]
        problems: list[PrimusError] = []
        for name in unknown:
            matches = suggest(name, known)
            problems.append(
                ConfigKeyError(
                    unknown_key_message(name, where, matches[0] if matches else None),
                    key=".".join([*path, name]),
                    hint=f"the keys of {where}: {', '.join(known)}",
                )
            )
        return problems
    value = error.instance
    if error.validator == "type":
        wanted = " or ".join(_TYPE_WORDS.get(t, t) for t in _types(node))
        return [ConfigTypeError(f"must be {wanted}, got {value!r}", key=key, value=value, hint=_about(node))]
    if error.validator == "minimum":
        message = f"must be at least {error.validator_value}, got {value!r}"
    elif error.validator == "enum":
        choices = [str(c).lower() if isinstance(c, bool) else str(c) for c in error.validator_value]
        message = f"must be one of {', '.join(dict.fromkeys(choices))}; got {value!r}"
    else:
        message = error.message
    return [ConfigValueError(message, key=key, value=value, hint=_about(node))]


def _about(node: Mapping[str, Any]) -> str:
    """The first sentence of a key's schema description: what the key is."""
    description = " ".join(str(node.get("description") or "").split())
    if not description:
        return "see workflow/schemas/config.schema.yaml"
    head, dot, _ = description.partition(". ")
    return head + ("." if dot else "")


def check(config: MutableMapping[str, Any], schema: Mapping[str, Any]) -> None:
    """Turn command-line strings into the schema's numbers and booleans, then raise every problem left:
    one PrimusError, or ConfigErrors for several (each names its key)."""
    import jsonschema

    command_line_values(config, schema)
    validator = jsonschema.Draft202012Validator(schema)
    problems = [
        problem
        for error in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
        for problem in _problem(error, schema)
    ]
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise ConfigErrors(problems)
