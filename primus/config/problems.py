"""Collecting a load's problems so the user sees them all at once, and the one unknown-key error shape."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from primus.errors import (
    ConfigErrors,
    PrimusError,
    UnknownKeyError,
    suggest,
    unknown_key_message,
)


def raise_all(errors: list[PrimusError]) -> None:
    """Raise the one error, or ConfigErrors holding all of them; nothing when the list is empty."""
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ConfigErrors(errors)


def unknown_key(
    key: str, valid: Sequence[str], *, where: str, file: str, line: int, dotted: str
) -> UnknownKeyError:
    """An UnknownKeyError for ``key`` with the closest of ``valid`` as the suggestion.

    ``where`` is the parent as :func:`primus.errors.unknown_key_message` wants it (``'modules.x'``).
    """
    matches = suggest(key, list(valid), count=1)
    suggestion = matches[0] if matches else None
    return UnknownKeyError(
        unknown_key_message(key, where, suggestion),
        file=file,
        line=line,
        key=dotted,
        suggestion=suggestion,
        valid=list(valid),
        hint=f"valid keys: {', '.join(valid)}",
    )


class Problems:
    """Collects the problems of one pass so the user sees them all at once."""

    def __init__(self) -> None:
        self.errors: list[PrimusError] = []

    def attempt(self, step: Any, *args: Any, **kwargs: Any) -> Any:
        """``step(*args, **kwargs)``, or None with its error(s) recorded."""
        try:
            return step(*args, **kwargs)
        except ConfigErrors as errors:
            self.errors.extend(errors.errors)
        except PrimusError as error:
            self.errors.append(error)
        return None
