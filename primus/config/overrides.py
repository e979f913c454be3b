"""Command-line overrides: ``key=value``, ``--key=value``, ``--key value`` and bare ``--flag`` (true).

Keys are dotted paths (``training.steps``); values are read as YAML scalars (``--training.steps 5`` gives the
int 5, ``--optimizer.lr 1e-4`` the float, ``--model.converters '[a, b]'`` a list); an empty value is the empty
string. Each override becomes its own layer, so a key given twice ends with the later value and both appear
in the provenance.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from primus.config.yaml_io import LineDict, parse_scalar
from primus.errors import ConfigErrors, OverrideSyntaxError, PrimusError

#: ``Origin.file`` of a command-line setting.
COMMAND_LINE = "<command line>"
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*")
_FORMS = "key=value, --key=value, --key value or --flag"


@dataclass(frozen=True)
class CliOverride:
    """One parsed override: dotted ``key``, typed ``value``, and the argument text it came from."""

    key: str
    value: Any
    text: str

    def as_tree(self) -> LineDict:
        """The override as a nested LineDict (origin ``<command line>``, line 0), ready to merge."""
        root = LineDict(COMMAND_LINE, 0)
        node = root
        parts = self.key.split(".")
        for part in parts[:-1]:
            child = LineDict(COMMAND_LINE, 0)
            node[part] = child
            node = child
        node[parts[-1]] = _as_line_dicts(self.value)
        return root


def _as_line_dicts(value: Any) -> Any:
    """A mapping value (``--optimizer '{name: SGD}'``) as LineDicts, so it deep-merges like a YAML layer."""
    if not isinstance(value, dict):
        return value
    tree = LineDict(COMMAND_LINE, 0)
    for key, item in value.items():
        tree[str(key)] = _as_line_dicts(item)
    return tree


def parse_cli_overrides(args: Sequence[str]) -> list[CliOverride]:
    """Parse the override arguments in order; every malformed one is reported (ConfigErrors when several)."""
    parsed: list[CliOverride] = []
    errors: list[PrimusError] = []
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if arg.startswith("--"):
            body = arg[2:]
            if "=" in body:
                key, raw = body.split("=", 1)
                value = parse_scalar(raw)
            elif index < len(args) and not args[index].startswith("--"):
                key, raw = body, args[index]
                index += 1
                arg = f"{arg} {raw}"
                value = parse_scalar(raw)
            else:
                key, value = body, True
        elif "=" in arg:
            key, raw = arg.split("=", 1)
            value = parse_scalar(raw)
        else:
            errors.append(_malformed(arg, "not a key=value pair"))
            continue
        if not _KEY.fullmatch(key):
            errors.append(_malformed(arg, f"'{key}' is not a dotted key like training.steps"))
            continue
        parsed.append(CliOverride(key, value, arg))
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ConfigErrors(errors)
    return parsed


def _malformed(arg: str, why: str) -> OverrideSyntaxError:
    return OverrideSyntaxError(
        f"malformed override '{arg}': {why}",
        file=COMMAND_LINE,
        value=arg,
        hint=f"write {_FORMS}, e.g. --training.steps 20",
    )
