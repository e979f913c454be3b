"""``${VAR}`` and ``${VAR:default}`` in string values, with Primus's coercion rules.

Applied to one file at a time, to string values only (never keys), before ``extends:`` is merged, so an
``extends:`` entry may use it too.

- ``${VAR}`` with VAR unset is an error naming the variable; all such variables of a file are reported.
- ``${VAR:default}`` uses ``default`` when VAR is unset; a variable set to the empty string wins over the
  default; ``${X:}`` gives the empty string. The default runs to the first ``}`` (no nesting).
- When the whole value is exactly one placeholder, the substituted text is coerced: true/false (any case) to
  bool, integer text to int, float text to float; anything else (``null`` included) stays a string. A partial
  substitution (``prefix_${N}``) stays a string.
- ``$VAR`` without braces is left alone.
- At most :data:`MAX_PLACEHOLDERS` placeholders per file (real configs hold a handful): the cost of a file is
  bounded by its size limit, not by how many ``${`` it packs into one value.
- A malformed placeholder is an error, never literal text: ``${`` without its ``}``, and a placeholder
  inside a default (``${A:${B}}``), which Primus does not nest.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from primus.config.yaml_io import LineDict, LineList
from primus.errors import BadPlaceholderError, ConfigErrors, MissingEnvVarError, PrimusError

#: Most ``${...}`` one file may hold.
MAX_PLACEHOLDERS = 1000

_PLACEHOLDER = re.compile(r"\$\{([^}:]*)(?::([^}]*))?\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INT = re.compile(r"[-+]?[0-9]+")
_FLOAT = re.compile(r"[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][-+]?[0-9]+)?")


def coerce_substitution(text: str) -> bool | int | float | str:
    """The typed value of a whole-value substitution: ``"TRUE"`` -> True, ``"8"`` -> 8, ``"1e-4"`` -> 1e-4."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if _INT.fullmatch(text):
        try:
            return int(text)
        except ValueError:  # over Python's 4300-digit limit: validation refuses it by type
            return text
    if _FLOAT.fullmatch(text):
        return float(text)
    return text


class _Substituter:
    """Walks one document, collecting every problem before raising."""

    def __init__(self, env: Mapping[str, str], consumed: dict[str, str | None]) -> None:
        self.env = env
        self.consumed = consumed
        self.errors: list[PrimusError] = []
        self.placeholders = 0

    def value(self, value: Any, file: str, line: int, key: str) -> Any:
        if isinstance(value, str):
            return self.string(value, file, line, key) if "${" in value else value
        if isinstance(value, LineDict):
            copy = LineDict(value.file, value.line)
            copy.origins = value.origins  # origins are never mutated, so sharing them is safe
            for child_key, child in value.items():
                child_file, child_line = value.origin_of(child_key)
                copy[child_key] = self.value(child, child_file, child_line, _join(key, child_key))
            return copy
        if isinstance(value, LineList):
            copy_list = LineList(value.file, value.line)
            copy_list.item_lines = value.item_lines
            for index, item in enumerate(value):
                item_line = value.item_lines[index] if index < len(value.item_lines) else value.line
                copy_list.append(self.value(item, value.file, item_line, f"{key}[{index}]"))
            return copy_list
        return value

    def string(self, text: str, file: str, line: int, key: str) -> Any:
        if self.placeholders > MAX_PLACEHOLDERS:
            return text  # already reported once for this file
        self.placeholders += text.count("${")
        if self.placeholders > MAX_PLACEHOLDERS:
            self.errors.append(
                BadPlaceholderError(
                    f"more than {MAX_PLACEHOLDERS} ${{...}} placeholders in one file",
                    file=file,
                    line=line,
                    key=key or None,
                    hint="a config needs a few placeholders; generate the values instead of the file",
                )
            )
            return text
        matches = list(_PLACEHOLDER.finditer(text))
        if self._malformed(text, matches, file, line, key):
            return text
        if not matches:
            return text
        pieces: list[str] = []
        position = 0
        failed = False
        for match in matches:
            name, default = match.group(1), match.group(2)
            pieces.append(text[position : match.start()])
            position = match.end()
            if not _NAME.fullmatch(name):
                self.errors.append(
                    BadPlaceholderError(
                        f"'{match.group(0)}' does not name an environment variable",
                        file=file,
                        line=line,
                        key=key or None,
                        value=text,
                        hint="write ${NAME} or ${NAME:default} with NAME made of letters, digits and _",
                    )
                )
                failed = True
                continue
            if name in self.env:
                replacement = self.env[name]
                self.consumed[name] = replacement
            elif default is not None:
                replacement = default
                self.consumed.setdefault(name, None)
            else:
                self.errors.append(
                    MissingEnvVarError(
                        f"environment variable {name} is not set",
                        file=file,
                        line=line,
                        key=key or None,
                        variable=name,
                        hint=f"export {name}=... or give a default: ${{{name}:default}}",
                    )
                )
                failed = True
                continue
            pieces.append(replacement)
        if failed:
            return text
        pieces.append(text[position:])
        result = "".join(pieces)
        whole = len(matches) == 1 and matches[0].span() == (0, len(text))
        return coerce_substitution(result) if whole else result

    def _malformed(self, text: str, matches: list[re.Match[str]], file: str, line: int, key: str) -> bool:
        """Record an error for ``${`` left unclosed or nested in a default; True when there was one."""
        problem = None
        for match in matches:
            if "${" in (match.group(2) or ""):
                problem = (
                    f"nested placeholder in '{text[match.start() : match.end() + 1]}': a default cannot "
                    "hold another ${...}",
                    "give a plain default, e.g. ${A:fallback}, or set A in the environment",
                )
                break
        else:
            outside = _PLACEHOLDER.sub("", text)
            if "${" in outside:
                start = outside.index("${")
                problem = (
                    f"unterminated placeholder '{outside[start : start + 40]}': '${{' without its '}}'",
                    "close it (${NAME} or ${NAME:default}); a literal '${' cannot appear in a value",
                )
        if problem is None:
            return False
        message, hint = problem
        self.errors.append(
            BadPlaceholderError(message, file=file, line=line, key=key or None, value=text, hint=hint)
        )
        return True


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def interpolate(document: LineDict, env: Mapping[str, str], consumed: dict[str, str | None]) -> LineDict:
    """A copy of ``document`` with every ``${...}`` in string values replaced.

    ``consumed`` is updated with each variable read: its value, or None when it was unset and a default was
    used. Raises MissingEnvVarError / BadPlaceholderError, or ConfigErrors when the file has several.
    """
    substituter = _Substituter(env, consumed)
    result = substituter.value(document, document.file, document.line, "")
    if len(substituter.errors) == 1:
        raise substituter.errors[0]
    if substituter.errors:
        raise ConfigErrors(substituter.errors)
    return result
