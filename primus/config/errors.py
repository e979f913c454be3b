"""Errors the loader raises, one class per kind of bad input.

Each is a subclass of the project-wide classes in :mod:`primus.errors` (so the CLI prints it and exits 2), and
carries ``file`` (portable display path), ``line`` (1-based, 0 when unknown) and, where it helps, ``key``
and a ``hint``. Tests and callers match on the class and the attributes, not on message substrings.
"""

from __future__ import annotations

from typing import Any

from primus.errors import ConfigError, ConfigKeyError, ConfigTypeError, ConfigValueError


class ConfigFileNotFound(ConfigError, FileNotFoundError):
    """A file named by the user (experiment, ``extends:`` entry, platform) does not exist."""


class YamlSyntaxError(ConfigError):
    """The YAML parser rejected the text; ``column`` is 1-based (0 when unknown)."""

    def __init__(self, message: str, *, file: str, line: int, column: int = 0, hint: str | None = None):
        super().__init__(message, file=file, line=line, hint=hint)
        self.column = column

    @property
    def location(self) -> str:
        base = super().location
        return f"{base}:{self.column}" if base and self.line and self.column else base


class FileTooLargeError(ConfigValueError):
    """The file is larger than the loader accepts (``size`` and ``limit`` in bytes)."""

    def __init__(self, message: str, *, file: str, size: int, limit: int, hint: str | None = None):
        super().__init__(message, file=file, hint=hint)
        self.size = size
        self.limit = limit


class FileEncodingError(ConfigValueError):
    """NUL bytes or invalid UTF-8; ``offset`` is the 0-based byte offset of the first bad byte."""

    def __init__(self, message: str, *, file: str, line: int, offset: int, hint: str | None = None):
        super().__init__(message, file=file, line=line, hint=hint)
        self.offset = offset


class EmptyFileError(ConfigValueError):
    """The file holds no YAML document (empty, or only comments)."""


class NotAMappingError(ConfigTypeError):
    """A mapping was expected (the top level of a file, ``overrides:``, a module) but something else found."""


class DuplicateKeyError(ConfigKeyError):
    """The same key appears twice in one mapping; ``first_line`` is the earlier occurrence."""

    def __init__(
        self, message: str, *, file: str, line: int, key: str, first_line: int, hint: str | None = None
    ):
        super().__init__(message, file=file, line=line, key=key, hint=hint)
        self.first_line = first_line


class UnsafeTagError(ConfigValueError):
    """A YAML tag outside the core schema (``!!python/object``, ``!custom``); ``tag`` is the full tag."""

    def __init__(self, message: str, *, file: str, line: int, tag: str, hint: str | None = None):
        super().__init__(message, file=file, line=line, hint=hint)
        self.tag = tag


class AliasBombError(ConfigValueError):
    """Aliases would expand the document far beyond its written size (a "billion laughs" document)."""


class NestingTooDeepError(ConfigValueError):
    """Mappings/lists nested deeper than the loader accepts."""


class MissingEnvVarError(ConfigKeyError):
    """``${VAR}`` without a default while ``VAR`` is not set; ``variable`` is its name."""

    def __init__(
        self, message: str, *, file: str, line: int, variable: str, key: str | None = None, hint: str
    ):
        super().__init__(message, file=file, line=line, key=key, hint=hint)
        self.variable = variable


class BadPlaceholderError(ConfigValueError):
    """``${...}`` whose variable name is not a valid environment variable name."""


class ExtendsCycleError(ConfigError):
    """``extends:`` leads back to a file already being loaded; ``cycle`` lists the display paths, closed."""

    def __init__(self, message: str, *, file: str, line: int, cycle: list[str], hint: str | None = None):
        super().__init__(message, file=file, line=line, key="extends", hint=hint)
        self.cycle = cycle


class UnknownKeyError(ConfigKeyError):
    """A key that is not valid where it is written; ``suggestion`` is the closest valid key (or None)."""

    def __init__(
        self,
        message: str,
        *,
        file: str,
        line: int,
        key: str,
        suggestion: str | None,
        valid: list[str],
        hint: str | None = None,
    ):
        super().__init__(message, file=file, line=line, key=key, hint=hint)
        self.suggestion = suggestion
        self.valid = valid


class MissingKeyError(ConfigKeyError):
    """A required key is absent."""


class UnknownPresetError(ConfigKeyError):
    """``config:``/``model:``/``platform:`` names a preset that is not in its folder.

    ``searched`` is the display path of the folder, ``suggestions`` the close matches (possibly empty).
    """

    def __init__(
        self,
        message: str,
        *,
        file: str,
        line: int,
        key: str,
        value: Any,
        searched: str,
        suggestions: list[str],
        hint: str | None = None,
    ):
        super().__init__(message, file=file, line=line, key=key, value=value, hint=hint)
        self.searched = searched
        self.suggestions = suggestions


class PresetPathError(ConfigValueError):
    """A preset name that would leave its folder (``../x.yaml``, an absolute path)."""


class OverrideSyntaxError(ConfigValueError):
    """A command-line override that is not ``key=value``, ``--key=value``, ``--key value`` or ``--flag``."""


class OverrideConflictError(ConfigKeyError):
    """Two override entries set the same leaf, or one sets a leaf where another sets a mapping."""
