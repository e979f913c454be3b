"""Check one value against a field's type spec (from ``schema.json``) and convert it where that is safe.

The rules, and why:
- ``int``: an int (never a bool), or a string of digits (command-line values arrive as strings).
  ``50.0`` and ``"fifty"`` are errors: TorchTitan would carry them into ``range()`` and fail mid-run.
- ``float``: an int or float, or a numeric string. PyYAML follows YAML 1.1, which reads ``1e-5`` (no dot)
  as the *string* "1e-5"; Primus passed it on as a string. Here it becomes the float it was meant to be.
- ``bool``: true/false, or the strings "true"/"false" in any case (command line).
- ``str``: a string; an int is turned into its text (``selective_ac_option: 2`` means "2"; TorchTitan calls
  ``.isdigit()`` on it). Floats and bools are errors: their text is ambiguous (1.10 -> "1.1").
- ``None`` only from YAML null. The *string* "null" is a string, not None (Primus turned it into None).
- ``list[str]``: a list, or a comma-separated string (the command-line form TorchTitan documents).
- ``Literal``: one of the listed choices, exactly.
- Numbers must fit the machine types TorchTitan hands them to: ints within int64, floats finite (YAML's
  ``.nan``/``.inf`` and ``1e400`` are refused), and numeric text in ASCII digits only (Python's ``int()``
  and ``float()`` would read an Arabic-Indic five as 5).
- Unions are tried member by member, first without any conversion, then with, so ``list[str] | str``
  keeps a string a string and ``float | int`` keeps an int an int.
"""

from __future__ import annotations

import math
import re
from typing import Any

from primus.errors import MismatchError

_INT_TEXT = re.compile(r"[+-]?[0-9]+")
#: What TorchTitan's int fields end up as (torch tensors, range(), C++ counters): int64.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: Longer numeric text is refused before it is converted (Python refuses int() of over 4300 digits).
_MAX_NUMBER_TEXT = 400
_NULL_LOOKALIKES = frozenset({"null", "none", "~", "nil"})


def describe(value: Any) -> str:
    """A short, user-facing description of a value's type and the value itself."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"bool {value!r}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return f"list {value!r}"
    return f"{type(value).__name__} {value!r}"


def type_text(spec: dict[str, Any]) -> str:
    """The spec as a user reads it: ``int | None``, ``list[str]``, ``'linear' | 'cosine'``."""
    kind = spec["kind"]
    if kind == "none":
        return "None"
    if kind == "literal":
        return " | ".join(repr(choice) for choice in spec["choices"])
    if kind == "union":
        return " | ".join(type_text(member) for member in spec["of"])
    if kind == "list":
        return f"list[{type_text(spec['of'])}]"
    return kind


def coerce(value: Any, spec: dict[str, Any]) -> Any:
    """``value`` converted to the spec's type; raises MismatchError with the reason when it does not fit."""
    try:
        return _convert(value, spec, strict=True)
    except MismatchError:
        pass
    try:
        return _convert(value, spec, strict=False)
    except MismatchError as mismatch:
        if mismatch.hint is None and _accepts_none(spec) and _looks_null(value):
            mismatch.hint = "the string 'null' is not None: write null unquoted (YAML null) to mean None"
        raise


def _accepts_none(spec: dict[str, Any]) -> bool:
    return spec["kind"] == "none" or (
        spec["kind"] == "union" and any(member["kind"] == "none" for member in spec["of"])
    )


def _looks_null(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower() in _NULL_LOOKALIKES


def _expected(spec: dict[str, Any], value: Any) -> MismatchError:
    return MismatchError(f"expected {type_text(spec)}, got {describe(value)}")


def _convert(value: Any, spec: dict[str, Any], *, strict: bool) -> Any:
    kind = spec["kind"]
    if kind == "any":
        return value
    if kind == "none":
        if value is None:
            return None
        raise _expected(spec, value)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if not strict and isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise _expected(spec, value)
    if kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return _int64(value)
        if not strict and isinstance(value, str) and _INT_TEXT.fullmatch(value.strip()):
            if len(value.strip()) > _MAX_NUMBER_TEXT:
                raise _out_of_int64(value.strip())
            return _int64(int(value))
        raise _expected(spec, value)
    if kind == "float":
        if isinstance(value, float):
            return _finite(value, value)
        if not strict and isinstance(value, int) and not isinstance(value, bool):
            try:
                return _finite(float(value), value)
            except OverflowError:
                raise _not_finite(value) from None
        if not strict and isinstance(value, str):
            return _float_from_text(value, spec)
        raise _expected(spec, value)
    if kind == "str":
        if isinstance(value, str):
            return value
        if not strict and isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        raise _expected(spec, value)
    if kind == "literal":
        choices = spec["choices"]
        # Compare type and value: True == 1 in Python, but Literal["1"] must not take True.
        if any(type(choice) is type(value) and choice == value for choice in choices):
            return value
        listed = ", ".join(repr(choice) for choice in choices)
        raise MismatchError(
            f"{describe(value)} is not one of {listed}", hint=f"valid values: {listed}", wrong_value=True
        )
    if kind == "list":
        if isinstance(value, list):
            return [_item(item, index, spec["of"]) for index, item in enumerate(value)]
        if not strict and isinstance(value, str) and spec["of"]["kind"] == "str":
            return [part.strip() for part in value.split(",") if part.strip()]
        raise _expected(spec, value)
    if kind == "dict":
        if isinstance(value, dict):
            return value
        raise _expected(spec, value)
    if kind == "union":
        literal_mismatch = None
        for member in spec["of"]:
            try:
                return _convert(value, member, strict=strict)
            except MismatchError as mismatch:
                # A value of the literal's type that is not a choice: say which choices, not just "expected".
                if member["kind"] == "literal" and isinstance(value, str):
                    literal_mismatch = mismatch
        raise literal_mismatch or _expected(spec, value)
    raise MismatchError(f"unsupported type spec {kind!r}")  # only reachable with a corrupt snapshot


def _int64(number: int) -> int:
    if not INT64_MIN <= number <= INT64_MAX:
        raise _out_of_int64(number)
    return number


def _number_text(value: Any) -> str:
    """``str(value)``, also for an int beyond Python's 4300-digit conversion limit."""
    try:
        return str(value)
    except ValueError:
        return f"an integer of about {int(abs(value).bit_length() * 0.30103)} digits"


def _out_of_int64(value: Any) -> MismatchError:
    text = _number_text(value)
    shown = text if len(text) <= 30 else f"{text[:12]}…{text[-6:]} ({len(text.lstrip('+-'))} digits)"
    return MismatchError(
        f"{shown} does not fit a 64-bit integer (at most {INT64_MAX})",
        hint="no training run can use a number this large; check for a typo",
        wrong_value=True,
    )


def _finite(number: float, shown: Any) -> float:
    if math.isnan(number) or math.isinf(number):
        raise _not_finite(shown)
    return number


def _not_finite(value: Any) -> MismatchError:
    if isinstance(value, int) and len(number := _number_text(value)) > 30:
        text = f"an integer of {len(number.lstrip('-'))} digits"
    else:
        text = describe(value)
    return MismatchError(
        f"expected a finite float, got {text}",
        hint="NaN and infinity (and numbers beyond 1.8e308) cannot train; write the number you mean",
        wrong_value=True,
    )


def _float_from_text(text: str, spec: dict[str, Any]) -> float:
    if not text.isascii() or len(text) > _MAX_NUMBER_TEXT:
        raise _expected(spec, text)
    try:
        number = float(text)
    except ValueError:
        raise _expected(spec, text) from None
    return _finite(number, text)


def _item(item: Any, index: int, spec: dict[str, Any]) -> Any:
    try:
        return coerce(item, spec)
    except MismatchError as mismatch:
        raise MismatchError(
            f"item {index}: {mismatch.reason}", mismatch.hint, wrong_value=mismatch.wrong_value
        ) from None
