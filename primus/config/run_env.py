"""The experiment's top-level ``env:`` mapping: environment variables for the training processes.

Newer Primus (PR #925) sets them for the run (``train_runtime._apply_config_env``). Here they are checked
when the experiment loads (names a shell and ``os.environ`` accept, string values), go into the envelope of
resolved.yaml (so they are part of the bundle hash) and into lock.json, and the launcher sets them for
torchrun and its workers. ``primus-cli direct --env KEY=VALUE`` adds to them (command line wins).
A secret-looking name (TOKEN, KEY, SECRET ...) is refused: the bundle would write its value down.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from primus.config.yaml_io import LineDict, kind_of
from primus.errors import ConfigTypeError, ConfigValueError, PrimusError

#: What a shell accepts as a variable name (and what Primus's launcher accepts with --env).
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SECRET = re.compile(r"TOKEN|KEY|SECRET|PASSWORD|CREDENTIAL", re.IGNORECASE)


def check_env(value: Any, file: str, line: int) -> tuple[dict[str, str], list[PrimusError]]:
    """The ``env:`` mapping as ``{name: value}``, and every problem found in it (each with file:line)."""
    if value is None:
        return {}, []
    if not isinstance(value, dict):
        return {}, [
            ConfigTypeError(
                f"env must be a mapping of variable names to string values, got a {kind_of(value)}",
                file=file,
                line=line,
                key="env",
                hint='env:\n  NCCL_DEBUG: "WARN"',
            )
        ]
    env: dict[str, str] = {}
    errors: list[PrimusError] = []
    for name, item in value.items():
        where = value.origin_of(name) if isinstance(value, LineDict) else (file, line)
        problem = _problem(str(name), item, where[0], where[1])
        if problem is None:
            env[str(name)] = item
        else:
            errors.append(problem)
    return env, errors


def _problem(name: str, item: Any, file: str, line: int) -> PrimusError | None:
    key = f"env.{name}"
    if not NAME.match(name):
        return ConfigValueError(
            f"'{name}' is not an environment variable name",
            file=file,
            line=line,
            key=key,
            value=name,
            hint="use letters, digits and '_', not starting with a digit (e.g. NCCL_DEBUG)",
        )
    if _SECRET.search(name):
        return ConfigValueError(
            f"'{name}' looks like a secret: its value would be written into the run bundle",
            file=file,
            line=line,
            key=key,
            hint=f"export {name} in the environment of the launch instead (it is passed on)",
        )
    if not isinstance(item, str):
        return ConfigTypeError(
            f"must be a string, got a {kind_of(item)} {item!r}",
            file=file,
            line=line,
            key=key,
            value=item,
            hint=f'quote it: {name}: "{str(item).lower() if isinstance(item, bool) else item}"',
        )
    return None


def parse_assignments(items: Iterable[str]) -> dict[str, str]:
    """``--env KEY=VALUE`` arguments as a mapping; ConfigErrors-style problems raise at once."""
    env: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise ConfigValueError(
                f"--env {item!r} is not KEY=VALUE",
                file="<command line>",
                key="env",
                value=item,
                hint="e.g. --env NCCL_DEBUG=WARN (repeat --env for each variable)",
            )
        problem = _problem(name, value, "<command line>", 0)
        if problem is not None:
            raise problem
        env[name] = value
    return env
