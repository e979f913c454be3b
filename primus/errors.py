"""One exception hierarchy for the whole project.

Every error a user can cause carries where it happened (file, line, dotted key), the offending value and a
hint that says how to fix it. The CLI prints ``PrimusError.format()`` and exits with ``exit_code``; it never
shows a traceback for these. Each class also subclasses the matching builtin so callers and tests can catch
``KeyError``/``TypeError``/``ValueError`` and assert on attributes rather than on message substrings.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

#: Exit status for configuration and validation problems (nothing was written or launched).
EXIT_CONFIG = 2
#: Exit status for runtime failures (training failed, a verification check failed, a tool is missing).
EXIT_RUNTIME = 1

_UNSET: Any = object()


class PrimusError(Exception):
    """Base class: a problem the user can fix, reported without a traceback."""

    exit_code = EXIT_CONFIG

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        key: str | None = None,
        value: Any = _UNSET,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.key = key
        self.value = None if value is _UNSET else value
        self.has_value = value is not _UNSET
        self.hint = hint

    @property
    def location(self) -> str:
        """``file:line`` (or just ``file``), empty when unknown."""
        if not self.file:
            return ""
        return f"{self.file}:{self.line}" if self.line else self.file

    def format(self) -> str:
        """The text the CLI prints: ``file:line: key: message`` then an indented hint."""
        head = ": ".join(part for part in (self.location, self.key, self.message) if part)
        return f"{head}\n  hint: {self.hint}" if self.hint else head

    def __str__(self) -> str:
        return self.format()


class ConfigError(PrimusError):
    """A configuration file or override cannot be read or merged."""


class ConfigKeyError(ConfigError, KeyError):
    """A key that does not exist (unknown key, unknown preset, unknown model flavor ...)."""

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return self.format()


class ConfigTypeError(ConfigError, TypeError):
    """A value of the wrong type for its field."""


class ConfigValueError(ConfigError, ValueError):
    """A value of the right type but outside what is allowed."""


class ConfigErrors(ConfigError):
    """Several problems found in one pass; ``errors`` holds each one."""

    def __init__(self, errors: Iterable[PrimusError]) -> None:
        self.errors = list(errors)
        count = len(self.errors)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} found")

    def format(self) -> str:
        return "\n".join(error.format() for error in self.errors)


class BundleError(PrimusError):
    """A run bundle is missing, incomplete or has been tampered with."""


class LaunchError(PrimusError):
    """Training could not be started or failed (torchrun, a missing tool, no accelerator)."""

    exit_code = EXIT_RUNTIME


class VerificationFailed(PrimusError):
    """A verification check failed; the verdict names it."""

    exit_code = EXIT_RUNTIME


class ContainerError(PrimusError):
    """No container engine, or an image build or run failed."""

    exit_code = EXIT_RUNTIME
