"""Walk the merged config: reject unknown keys at any depth, check and coerce every value by its type."""

from __future__ import annotations

from typing import Any

from primus.errors import (
    ConfigTypeError,
    ConfigValueError,
    MismatchError,
    UnknownKeyError,
    suggest,
    unknown_key_message,
)
from primus.validate import model_args, schema
from primus.validate.coerce import coerce, describe
from primus.validate.report import Report


def check_tree(config: dict[str, Any], report: Report) -> dict[str, Any]:
    """``config`` with every value coerced to its field type; problems go to ``report``."""
    return _walk(config, "", report)


def _walk(node: dict[str, Any], prefix: str, report: Report) -> dict[str, Any]:
    fields = schema.all_fields()
    sections = schema.sections()
    out: dict[str, Any] = {}
    for name, value in node.items():
        key = f"{prefix}.{name}" if prefix else str(name)
        if key in sections:
            if value is None:  # `section: null` (allowed by Primus's merge) means "all defaults"
                out[name] = {}
            elif isinstance(value, dict):
                out[name] = _walk(value, key, report)
            else:
                report.add(
                    ConfigTypeError,
                    key,
                    f"'{key}' is a section: expected a mapping of its keys, got {describe(value)}",
                    value=value,
                    hint=f"write it as '{key}:' followed by indented keys, e.g. {_example_child(key)}",
                )
        elif key in fields:
            field = fields[key]
            try:
                out[name] = coerce(value, field["spec"])
            except MismatchError as mismatch:
                error_cls = ConfigValueError if mismatch.wrong_value else ConfigTypeError
                report.add(
                    error_cls,
                    key,
                    mismatch.reason,
                    value=value,
                    hint=mismatch.hint or f"set {key} to a value of type {field['type']}",
                )
        elif prefix == "model":
            family = node.get("name", schema.default_of("model.name"))
            checked = _model_arg(str(name), value, str(family), report)
            if checked is not _REJECTED:
                out[name] = checked
        else:
            _unknown_key(str(name), prefix, value, report)
    return out


_REJECTED = object()


def _model_arg(name: str, value: Any, family: str, report: Report) -> Any:
    """A ``model.<name>`` key that is no JobConfig.Model field: an override of the flavor's ModelArgs.

    Checked by name and type against the family's ModelArgs snapshot (nested dataclasses as mappings);
    returns the coerced value, or ``_REJECTED`` after recording the problem.
    """
    arch = model_args.family_fields(family)
    if arch is None:  # unknown or unloadable family: check_model reports it, once
        return _REJECTED
    return _arch_value(f"model.{name}", name, value, arch, family, report)


def _arch_value(key: str, name: str, value: Any, fields: dict[str, Any], family: str, report: Report) -> Any:
    where = key.rpartition(".")[0]
    if name not in fields:
        siblings = schema.children().get("model", ()) if where == "model" else ()
        choices = [*fields, *siblings]
        close = suggest(name, choices, count=1)
        suggestion = close[0] if close else None
        listed = ", ".join(sorted(fields))
        report.add(
            UnknownKeyError,
            key,
            unknown_key_message(
                name,
                f"'{where}' (neither a TorchTitan model setting nor an argument of {family}'s model)",
                suggestion,
            ),
            value=value,
            hint=f"rename '{name}' to '{suggestion}'"
            if suggestion
            else f"{family} model arguments{' in ' + where if where != 'model' else ''}: {listed}",
            suggestion=suggestion,
            valid=sorted(choices),
        )
        return _REJECTED
    field = fields[name]
    if "fields" in field:  # a nested dataclass (moe_args, rope_scaling_args)
        if not isinstance(value, dict):
            report.add(
                ConfigTypeError,
                key,
                f"'{key}' holds {family}'s {field['class']}: expected a mapping of its arguments, "
                f"got {describe(value)}",
                value=value,
                hint=f"write e.g. '{key}.{next(iter(field['fields']))}: ...'",
            )
            return _REJECTED
        out = {}
        for child, child_value in value.items():
            checked = _arch_value(f"{key}.{child}", str(child), child_value, field["fields"], family, report)
            if checked is not _REJECTED:
                out[child] = checked
        return out
    try:
        checked = coerce(value, field["spec"])
    except MismatchError as mismatch:
        report.add(
            ConfigValueError if mismatch.wrong_value else ConfigTypeError,
            key,
            mismatch.reason,
            value=value,
            hint=mismatch.hint or f"set {key} to a value of type {field['type']} ({family} model argument)",
        )
        return _REJECTED
    if isinstance(checked, int) and not isinstance(checked, bool):
        floor = model_args.size_floor(name)
        if floor is not None and checked < floor:
            report.add(
                ConfigValueError,
                key,
                f"must be {'a positive' if floor else 'a non-negative'} integer ({family} model argument), "
                f"got {checked}",
                value=checked,
                hint=f"set {key} to {floor} or more",
            )
            return _REJECTED
    return checked


def _example_child(section: str) -> str:
    names = schema.children().get(section, ())
    fields = schema.all_fields()
    leaf = next((name for name in names if f"{section}.{name}" in fields), names[0] if names else "")
    return f"'{section}.{leaf}'"


def _unknown_key(name: str, parent: str, value: Any, report: Report) -> None:
    key = f"{parent}.{name}" if parent else name
    where = f"'{parent}'" if parent else "the module config"
    siblings = schema.children().get(parent, ())
    suggestion, hint = _suggest(name, parent, siblings)
    message = unknown_key_message(name, where, suggestion)
    report.add(UnknownKeyError, key, message, value=value, hint=hint, suggestion=suggestion, valid=siblings)


def _suggest(name: str, parent: str, siblings: tuple[str, ...]) -> tuple[str | None, str]:
    """The closest valid key (relative to ``parent``, or a full dotted key elsewhere) and a hint."""
    backend = schema.backend()
    moved = backend.moved_keys.get(f"{parent}.{name}" if parent else name)
    if moved:
        section = moved.rpartition(".")[0]
        label = f"{backend.display_name} {backend.version}"
        return moved, f"{label} reads {name} from the {section} section: move it to '{moved}'"
    if name in backend.foreign_names:
        target = backend.foreign_names[name]
        section, _, field = target.rpartition(".")
        relative = field if section == parent else target
        return (
            relative,
            f"{backend.display_name} calls this {target}: write it as '{field}' under '{section}:'",
        )
    close = suggest(name, list(siblings), count=1)
    if close:
        return close[0], f"rename '{name}' to '{close[0]}'"
    elsewhere = sorted(key for key in schema.all_fields() if key.rpartition(".")[2] == name)
    if len(elsewhere) == 1:
        return elsewhere[0], f"'{name}' belongs to '{elsewhere[0].rpartition('.')[0]}': move it there"
    listed = ", ".join(siblings)
    scope = f"'{parent}'" if parent else "the top level"
    return None, f"valid keys in {scope}: {listed}"
