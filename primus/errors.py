"""One exception hierarchy for the whole project.

Every error a user can cause carries where it happened (file, line, dotted key), the offending value and a
hint that says how to fix it. The CLI prints ``PrimusError.format()`` and exits with ``exit_code``; it never
shows a traceback for these. Each class also subclasses the matching builtin so callers and tests can catch
``KeyError``/``TypeError``/``ValueError`` and assert on attributes rather than on message substrings.
"""

from __future__ import annotations

import difflib
import functools
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

#: Exit status for configuration and validation problems (nothing was written or launched).
EXIT_CONFIG = 2
#: Exit status for runtime failures (training failed, a verification check failed, a tool is missing).
EXIT_RUNTIME = 1
#: Training stopped by a signal after saving a checkpoint (``EX_TEMPFAIL`` of sysexits.h): requeue it.
EXIT_PREEMPTED = 75

#: The two severities of a validation problem.
SEVERITIES = ("error", "warning")

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
        severity: str = "error",
    ) -> None:
        super().__init__(message)
        if severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {severity!r}")
        self.message = message
        #: "error" stops before anything is written; "warning" (something TorchTitan adjusts at run time, a
        #: key with no effect on this host) is printed the same way and leaves the exit status 0
        self.severity = severity
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

    @property
    def is_warning(self) -> bool:
        return self.severity == "warning"

    def format(self) -> str:
        """The text the CLI prints: ``file:line: key: message`` then an indented hint; a warning's message
        starts with ``warning:``."""
        message = f"warning: {self.message}" if self.is_warning else self.message
        head = ": ".join(part for part in (self.location, self.key, message) if part)
        return f"{head}\n  hint: {self.hint}" if self.hint else head

    def as_error(self, reason: str) -> PrimusError:
        """A copy of this problem with severity "error" (``--strict``); ``reason`` ends the hint."""
        error = type(self).__new__(type(self), *self.args)  # subclasses' __init__ take other arguments
        error.__dict__.update(self.__dict__)
        error.args = self.args
        error.severity = "error"
        error.hint = f"{self.hint}; {reason}" if self.hint else reason
        return error

    def __str__(self) -> str:
        return self.format()

    def to_json(self) -> dict[str, Any]:
        """The problem as data for ``--format json``: file, line, key, severity, message, hint."""
        return {
            "file": self.file,
            "line": self.line,
            "key": self.key,
            "severity": getattr(self, "severity", "error"),
            "message": self.message,
            "hint": self.hint,
        }


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


# ------------------------------------------------------------------------------------ config files (load)
class ConfigFileNotFoundError(ConfigError, FileNotFoundError):
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


class TooManyNodesError(ConfigValueError):
    """More YAML nodes (keys, values, list items) than any config needs: the size limit is in bytes, the
    cost of reading is per node, so the node count is bounded too."""


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
    """A key that is not valid where it is written (loader and validator alike).

    ``suggestion`` is the closest valid key (or None), ``valid`` the keys allowed there (empty when too many
    to list). The message has one shape everywhere: see :func:`unknown_key_message`.
    """

    def __init__(
        self,
        message: str,
        *,
        suggestion: str | None = None,
        valid: Sequence[str] = (),
        **location: Any,
    ):
        super().__init__(message, **location)
        self.suggestion = suggestion
        self.valid = list(valid)


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


class ExperimentNotFoundError(ConfigKeyError):
    """``exp`` names no experiment, or more than one; ``candidates`` holds the names it could mean."""

    def __init__(self, message: str, *, candidates: Sequence[str] = (), hint: str | None = None) -> None:
        super().__init__(message, key="exp", hint=hint)
        self.candidates = list(candidates)


class PreflightError(ConfigValueError):
    """The config is valid but cannot run on this machine as it stands."""


class MismatchError(Exception):
    """Internal to validation: a value does not fit its type spec (turned into a ConfigError with location).

    ``reason`` is the user-facing explanation, ``hint`` how to fix it; ``wrong_value`` is True when the type
    is right but the value is not allowed (a Literal choice, a non-finite float).
    """

    def __init__(self, reason: str, hint: str | None = None, *, wrong_value: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.hint = hint
        self.wrong_value = wrong_value


# ---------------------------------------------------------------------------------------------- bundles
class BundleError(PrimusError):
    """A run bundle is missing, incomplete or has been tampered with."""


class BundleIntegrityError(BundleError):
    """A bundle failed verification; ``problems`` lists every tampered, missing or extra file.

    A runtime failure (exit 1), not a configuration problem: the bundle on disk no longer matches itself.
    Each problem is a ``primus.bundle.check.BundleProblem`` (``file: problem`` as text).
    """

    exit_code = EXIT_RUNTIME

    def __init__(self, bundle: Any, problems: Sequence[Any]) -> None:
        self.bundle = bundle
        self.problems = list(problems)
        count = len(self.problems)
        lines = "\n".join(f"  {problem}" for problem in self.problems)
        super().__init__(
            f"bundle failed verification ({count} problem{'s' if count != 1 else ''}):\n{lines}",
            file=str(bundle),
            hint="a frozen bundle must never be edited: delete it and freeze the experiment again",
        )


class BundleWriteError(BundleError):
    """The bundle could not be written (permissions, full disk): a runtime failure, nothing left behind."""

    exit_code = EXIT_RUNTIME


# ---------------------------------------------------------------------------------------------- runtime


class LaunchError(PrimusError):
    """Training could not be started or failed (torchrun, a missing tool, no accelerator)."""

    exit_code = EXIT_RUNTIME


class TrainingInterruptedError(LaunchError):
    """Training was stopped by a signal (Ctrl-C, SIGTERM); the exit status is 128 + the signal number."""

    def __init__(self, message: str, *, signal_number: int, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.signal_number = signal_number
        self.exit_code = 128 + signal_number


class TrainingPreemptedError(LaunchError):
    """Training stopped on SIGUSR1 (SLURM's warning before the time limit) after saving a checkpoint of the
    current step; run it again (or let the job requeue) to resume.

    Its exit status is ``EX_TEMPFAIL`` (75), so schedulers and workflows can tell "requeue me" from a failure.
    """

    exit_code = EXIT_PREEMPTED


class VerificationFailedError(PrimusError):
    """A verification check failed; the verdict names it."""

    exit_code = EXIT_RUNTIME


class ContainerError(PrimusError):
    """No container engine, or an image build or run failed."""

    exit_code = EXIT_RUNTIME


class AssetError(PrimusError):
    """A tokenizer or dataset reference in the config cannot be pinned (malformed repository id, a
    revision or file that does not exist, a local path that is missing or holds no tokenizer)."""


class AssetFetchError(AssetError):
    """Fetching assets failed at run time (Hub unreachable, authentication, disk full).

    Nothing half-written is left in the cache."""

    exit_code = EXIT_RUNTIME


class AssetCacheError(AssetError):
    """The asset cache lacks what a bundle pins, or a cached file no longer has its recorded sha256."""

    exit_code = EXIT_RUNTIME


# ---------------------------------------------------------------------------------------------- helpers
def suggest(name: str, candidates: Iterable[str], *, count: int = 3, cutoff: float = 0.6) -> list[str]:
    """The candidates ``name`` most likely meant, likeliest first (at most ``count``; may be empty).

    A near-certain match comes alone: the same text in another case (``8b`` -> ``8B``), else the one dotted
    candidate whose last part is ``name`` (``float8`` -> ``quantize.linear.float8``). Otherwise the near
    spellings (difflib ratio >= ``cutoff``, compared case-insensitively). The one did-you-mean rule of the
    project: every "did you mean" uses it.
    """
    choices = list(dict.fromkeys(candidates))
    lowered: dict[str, str] = {}
    for choice in choices:
        lowered.setdefault(choice.lower(), choice)
    if name.lower() in lowered:
        return [lowered[name.lower()]]
    by_suffix = [choice for choice in choices if choice.endswith("." + name)]
    if len(by_suffix) == 1:
        return by_suffix
    close = difflib.get_close_matches(name.lower(), list(lowered), n=count, cutoff=cutoff)
    return [lowered[match] for match in close]


def did_you_mean(matches: Sequence[str]) -> str:
    """The hint text for close matches: ``did you mean: a, b?``; empty when there are none."""
    return f"did you mean: {', '.join(matches)}?" if matches else ""


def unknown_key_message(name: str, where: str, suggestion: str | None) -> str:
    """The one wording of an unknown key, whichever stage finds it (OmegaConf's shape).

    ``where`` is the dotted parent in quotes (``'training'``) or a description (``the experiment``):
    ``Key 'stpes' not in 'training'. Did you mean: 'steps'?``
    """
    message = f"Key '{name}' not in {where}."
    return f"{message} Did you mean: '{suggestion}'?" if suggestion else message


def report_error(error: PrimusError, stream: Any = None) -> int:
    """Print ``error`` the way every entry point does and return its exit code.

    Several problems (``ConfigErrors``) print one per line and then their count; one problem prints as
    ``error: file:line: key: message`` with its hint below.
    """
    stream = sys.stderr if stream is None else stream
    if isinstance(error, ConfigErrors):
        print(error.format(), file=stream)
        print(f"{len(error.errors)} problem(s); nothing was written", file=stream)
    else:
        print(f"error: {error.format()}", file=stream)
    stream.flush()
    return error.exit_code


#: Exit status after Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130
#: Exit status when the reader of stdout closed it early (128 + SIGPIPE, as a shell reports it).
EXIT_BROKEN_PIPE = 141


def cli_boundary(main: Callable[..., int]) -> Callable[..., int]:
    """The error boundary of every command-line entry point (``primus-cli``, ``python -m primus.*``).

    A ``PrimusError`` becomes its message on stderr and its exit code (never a traceback); Ctrl-C becomes
    "interrupted" and 130; a closed stdout pipe ends quietly with 141. Anything else is a bug and keeps
    its traceback.
    """

    @functools.wraps(main)
    def bounded(*args: Any, **kwargs: Any) -> int:
        try:
            return main(*args, **kwargs)
        except PrimusError as error:
            return report_error(error)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        except BrokenPipeError:
            # The reader stopped early (`primus-cli models | head`): end quietly, as coreutils do. Point
            # stdout at /dev/null so the interpreter's final flush does not raise again.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_BROKEN_PIPE

    return bounded
