"""Strict validation of a resolved Primus experiment against TorchTitan 0.2.2's JobConfig.

``validate(resolved)`` checks every key and value of the merged module config against a committed snapshot
of TorchTitan's ``JobConfig`` plus the Primus extension (``schema.json``) and of its model registry
(``registry.json``), then the cross-field rules TorchTitan would otherwise only assert after launch.
It reports every problem at once (``ConfigErrors``), each with file:line, dotted key, value and a fix.

Nothing here imports torch or torchtitan (``preflight`` may, for accelerator detection); regenerate the
snapshots with ``python -m primus.backends.torchtitan.snapshot``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from primus.backend import Backend, backend_for
from primus.config.model import ResolvedExperiment
from primus.errors import ConfigError, ConfigErrors
from primus.validate import schema
from primus.validate.checks import check_all
from primus.validate.keys import check_tree
from primus.validate.report import Report

__all__ = [
    "Validation",
    "check",
    "field_doc",
    "field_type",
    "known_keys",
    "list_models",
    "preflight",
    "schema_default",
    "validate",
]


#: What ``--strict`` adds to the hint of a warning it turns into an error.
STRICT_REASON = "an error because of --strict (without it this is a warning)"


@dataclass
class Validation:
    """The outcome of a validation that found no error: the coerced config and the warnings."""

    config: dict[str, Any]
    warnings: list[ConfigError] = field(default_factory=list)


def check(
    resolved: ResolvedExperiment,
    *,
    preflight: bool = False,
    env: Mapping[str, str] | None = None,
    host: Any = None,
    strict: bool = False,
    backend: Backend | None = None,
) -> Validation:
    """Validate ``resolved``: the coerced config and every warning, or ``ConfigErrors`` with every error.

    ``backend`` (default: the one serving ``resolved.framework``) gives the schema, registry and rules.

    Errors stop a run before anything is written. Warnings name what TorchTitan will adjust at run time
    (warmup longer than the run ...) or a key that has no effect here; ``strict=True`` makes each of them an
    error, so ``ConfigErrors`` then holds errors and former warnings together, in the order found.
    """
    env = os.environ if env is None else env
    report = Report(resolved)
    with schema.using(backend or backend_for(resolved.framework)):
        config = check_tree(resolved.config, report)
        check_all(config, report, env)
        if preflight and not report.errors:
            from primus.validate.machine import preflight as run_preflight

            report.errors.extend(run_preflight(config, origin_of=resolved.origin_of, env=env, host=host))
    warnings = report.warnings
    if strict and warnings:
        report.errors.extend(warning.as_error(STRICT_REASON) for warning in warnings)
        warnings = []
    if report.errors:
        raise ConfigErrors(report.errors)
    return Validation(config=config, warnings=warnings)


def validate(
    resolved: ResolvedExperiment,
    *,
    preflight: bool = False,
    env: Mapping[str, str] | None = None,
    host: Any = None,
    strict: bool = False,
    backend: Backend | None = None,
) -> dict[str, Any]:
    """The module config with every value coerced to its schema type (same nesting as ``resolved.config``).

    Raises ``ConfigErrors`` listing every problem: unknown keys (with the closest valid key), wrong types,
    unknown model family/flavor/converter, cross-field rules (parallel degrees vs. world size, heads vs.
    tensor parallelism, seq_len vs. the flavor, warmup vs. steps ...). ``env`` (default ``os.environ``)
    gives the world size: ``WORLD_SIZE``, else ``NNODES * GPUS_PER_NODE``; when neither is set the degree
    product is not checked. ``preflight=True`` adds the checks about this machine (see ``preflight``);
    ``host`` (a ``primus.validate.machine.Host``, default: detected) describes the machine for them.
    Warnings are not returned (``check`` returns them); ``strict=True`` raises them as errors.
    """
    return check(resolved, preflight=preflight, env=env, host=host, strict=strict, backend=backend).config


def preflight(config: dict[str, Any], **kwargs: Any) -> None:
    """Raise ``ConfigErrors`` when a validated ``config`` cannot run on this machine; return None when it can.

    Keyword arguments (``origin_of``, ``env``, ``host``, ``base_dir``) are those of
    ``primus.validate.machine.preflight``, which returns the problems as a list instead.
    """
    from primus.validate.machine import preflight as run_preflight

    problems = run_preflight(config, **kwargs)
    if problems:
        raise ConfigErrors(problems)


def known_keys() -> frozenset[str]:
    """Every valid dotted leaf key: TorchTitan sections, the Primus extension and module-level keys."""
    return frozenset(schema.all_fields())


def schema_default(dotted_key: str) -> Any:
    """The default of a field (``training.steps`` -> 10000). ConfigKeyError for an unknown key."""
    return schema.default_of(dotted_key)


def field_doc(dotted_key: str) -> str:
    """The field's attribute docstring (units, sentinels), or "" when it has none."""
    return schema.field_spec(dotted_key)["doc"]


def field_type(dotted_key: str) -> str:
    """The field's type as a user reads it: ``int``, ``float | None``, ``'linear' | 'cosine'``."""
    return schema.field_spec(dotted_key)["type"]


def list_models() -> list[dict[str, Any]]:
    """One row per family/flavor for ``primus-cli models``: family, flavor, params, and the shape numbers."""
    return [
        {"family": family, "flavor": name, **entry}
        for family, data in schema.families().items()
        for name, entry in data["flavors"].items()
    ]
