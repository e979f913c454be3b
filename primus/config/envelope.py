"""The experiment's top level (the envelope): required keys, their types, no unknown keys."""

from __future__ import annotations

from typing import Any

from primus.config.model import ENVELOPE_OPTIONAL, ENVELOPE_REQUIRED
from primus.config.paths import FOLDER_NAME_HINT, folder_name_problem
from primus.config.problems import unknown_key
from primus.config.run_env import check_env
from primus.config.yaml_io import LineDict, kind_of, to_plain
from primus.errors import (
    ConfigTypeError,
    ConfigValueError,
    MissingKeyError,
    NotAMappingError,
    PrimusError,
)


def as_text(value: Any) -> Any:
    """Numbers as their text (``7`` -> ``"7"``); anything else unchanged (booleans stay booleans)."""
    return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def check_envelope(document: LineDict, file: str) -> list[PrimusError]:
    errors: list[PrimusError] = []
    valid = ENVELOPE_REQUIRED + ENVELOPE_OPTIONAL
    for key in document:
        if key not in valid:
            errors.append(
                unknown_key(
                    key,
                    valid,
                    where="the experiment",
                    file=document.origin_of(key)[0],
                    line=document.line_of(key),
                    dotted=key,
                )
            )
    for key in ENVELOPE_REQUIRED:
        if key not in document:
            errors.append(
                MissingKeyError(
                    f"missing required top-level key '{key}'",
                    file=file,
                    key=key,
                    hint=f"add `{key}: ...` at the top level (required: {', '.join(ENVELOPE_REQUIRED)})",
                )
            )
            continue
        value = document[key]
        origin_file, line = document.origin_of(key)
        needs_text = key in ("exp_name", "workspace")  # both become paths; the others are labels
        value = as_text(value)
        if not isinstance(value, str) or (needs_text and not value.strip()):
            errors.append(
                ConfigTypeError(
                    f"must be a {'non-empty ' if needs_text else ''}string, got {value!r}",
                    file=origin_file,
                    line=line,
                    key=key,
                    value=to_plain(value),
                    hint="quote the value if it is meant to be text",
                )
            )
        elif key == "exp_name" and (problem := folder_name_problem(value)):
            errors.append(
                ConfigValueError(
                    f"{value[:60]!r}{'…' if len(value) > 60 else ''} {problem} (runs go to runs/<exp_name>/)",
                    file=origin_file,
                    line=line,
                    key=key,
                    value=value,
                    hint=FOLDER_NAME_HINT,
                )
            )
    if "env" in document:
        errors.extend(check_env(document["env"], *document.origin_of("env"))[1])
    if "modules" not in document:
        errors.append(
            MissingKeyError(
                "the experiment has no modules",
                file=file,
                key="modules",
                hint="add modules.pre_trainer with framework, config, model and overrides",
            )
        )
    elif not isinstance(document["modules"], LineDict) or not document["modules"]:
        errors.append(
            NotAMappingError(
                f"modules must be a mapping of module names to modules, got a {kind_of(document['modules'])}",
                file=document.origin_of("modules")[0],
                line=document.line_of("modules"),
                key="modules",
                hint="modules:\n    pre_trainer:\n      framework: torchtitan ...",
            )
        )
    return errors
