"""The subcommands that read an experiment config: ``validate``, ``resolve``, ``explain``, ``models`` and
``assets``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from primus import stages
from primus.cli.common import (
    configs_root_of,
    experiment_path,
    indented,
    load_and_validate,
    print_warnings,
    runs_dir_of,
    validate_config,
)
from primus.errors import (
    EXIT_CONFIG,
    ConfigErrors,
    ConfigKeyError,
    PrimusError,
    did_you_mean,
    suggest,
)
from primus.numbers import human_count


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate every file; print every problem of every file; exit 2 when any file is invalid."""
    failed = 0
    results = []
    configs, assignments = _configs_and_assignments(args.configs)
    args.configs, args.overrides = configs, [*assignments, *args.overrides]
    for config in args.configs:
        try:
            path = experiment_path(config, args)
            validation = validate_config(path, args.overrides, args, preflight=args.preflight)
        except PrimusError as error:
            failed += 1
            problems = error.errors if isinstance(error, ConfigErrors) else [error]
            results.append({"config": config, "valid": False, "problems": [p.to_json() for p in problems]})
            if args.format == "text":
                print(f"✗ {config}", file=sys.stderr)
                print(indented(error.format()), file=sys.stderr)
        else:
            warnings = validation.warnings
            results.append({"config": config, "valid": True, "problems": [w.to_json() for w in warnings]})
            if args.format == "text":
                if not args.quiet:
                    shown = "" if path == config else f"  ({path})"
                    count = len(warnings)
                    note = f" ({count} warning{'s' if count != 1 else ''})" if count else ""
                    print(f"✓ {config}{shown}{note}")
                print_warnings(warnings, indent="  ")
    total = len(args.configs)
    if args.format == "json":
        print(json.dumps({"valid": not failed, "files": results}, indent=2))
        return EXIT_CONFIG if failed else 0
    if failed:
        print(f"{failed} of {total} file{'s' if total != 1 else ''} invalid", file=sys.stderr)
        return EXIT_CONFIG
    if not args.quiet:
        print(f"{total} file{'s' if total != 1 else ''} valid")
    return 0


_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)+=.*", re.DOTALL)


def _configs_and_assignments(words: Sequence[str]) -> tuple[list[str], list[str]]:
    """``validate FILE training.steps=5``: a ``section.key=value`` word that is no file is an override."""
    configs, assignments = [], []
    for word in words:
        (assignments if _ASSIGNMENT.fullmatch(word) and not Path(word).exists() else configs).append(word)
    return configs, assignments


def cmd_resolve(args: argparse.Namespace) -> int:
    """Print the fully resolved module config, or freeze it into a run bundle (--freeze)."""
    validated = load_and_validate(args.config, args.overrides, args, preflight=False)
    if not args.freeze:
        from primus.config import render

        print(render(validated.config, args.format), end="")
        return 0
    image_id = stages.read_image_id(args.image_id_file)
    print(stages.freeze_experiment(validated, runs_dir=runs_dir_of(args), image_id=image_id))
    return 0


def cmd_assets(args: argparse.Namespace) -> int:
    """Fetch (or re-resolve with --update) the tokenizer and data an experiment reads; print the pins."""
    from primus.assets import cache_root

    validated = load_and_validate(args.config, args.overrides, args, preflight=False)
    pins = stages.fetch_assets(validated, update=args.update)
    record = {"cache": str(cache_root()), "assets": {pin.role: pin.lock_entry() for pin in pins}}
    if not pins:
        print(
            "no assets to fetch: the experiment reads no tokenizer or data (training.mock_data)",
            file=sys.stderr,
        )
    print(json.dumps(record, indent=2, sort_keys=True))
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    """The final value of one dotted key and every layer that set it (``primus.config.explain``)."""
    from primus.config import explain, explain_section, load_experiment
    from primus.config.explain import inline
    from primus.validate import known_keys, schema_default

    resolved = load_experiment(
        experiment_path(args.config, args), args.overrides, configs_root=configs_root_of(args)
    )
    key = args.key
    explanation = explain(resolved, key)
    if explanation.settings:
        print(explanation.format())
        return 0
    section = explain_section(resolved, key)
    if section:
        print(f"{key} is a section; its keys set by some layer:")
        for child in section:
            print(f"  {child.summary()}")
        return 0
    if key in resolved.envelope and key != "modules":
        from primus.bundle.writer import redact

        origin = resolved.origin_of(key)
        print(redact(f"{key} = {inline(resolved.envelope[key])}", resolved))
        print(
            f"  set at {origin or resolved.path} (a top-level key of the experiment, not a module config key)"
        )
        return 0
    default = _flavor_argument(resolved, key)
    if default is not None:
        print(f"{key} = {inline(default[1])}")
        print(f"  no layer sets it: this is the value of TorchTitan's {default[0]} flavor")
        return 0
    keys = known_keys()
    if key not in keys:
        hint = did_you_mean(suggest(key, sorted(keys))) or "see `primus-cli resolve CONFIG`"
        raise ConfigKeyError(f"unknown key '{key}'", key=key, hint=hint)
    print(f"{key} = {inline(schema_default(key))}")
    print("  no layer sets it: this is TorchTitan's default (or the Primus extension's)")
    return 0


def _flavor_argument(resolved, key: str) -> tuple[str, Any] | None:
    """``(flavor label, value)`` when ``key`` is a ModelArgs argument (``model.n_layers``) of the
    experiment's flavor; None otherwise."""
    from primus.validate import schema
    from primus.validate.model_args import flavor_values

    if not key.startswith("model.") or key in schema.all_fields():
        return None
    family = resolved.get("model.name", schema.default_of("model.name"))
    flavor = resolved.get("model.flavor", schema.default_of("model.flavor"))
    node: Any = flavor_values(str(family), str(flavor))
    for part in key.split(".")[1:]:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return f"{family} {flavor}", node


def cmd_models(args: argparse.Namespace) -> int:
    """TorchTitan families and flavors available for training, with parameter counts."""
    from primus.validate import list_models

    if args.config:
        models = [_experiment_model(args)]
    elif args.overrides:
        raise PrimusError(
            f"overrides without an experiment: {' '.join(args.overrides)}",
            hint="primus-cli models --config CONFIG --model.n_layers 2 (the overrides apply to its model)",
        )
    else:
        models = [m for m in list_models() if not args.family or m["family"] == args.family]
    if args.family and not models:
        families = sorted({m["family"] for m in list_models()})
        raise ConfigKeyError(
            f"unknown model family '{args.family}'",
            key="model.name",
            hint=f"available: {', '.join(families)}",
        )
    if args.format == "json":
        print(json.dumps(models, indent=2))
        return 0
    print(f"{'family':<14}{'flavor':<24}{'parameters':>12}{'max_seq_len':>13}")
    for model in models:
        params = human_count(model.get("params"))
        print(f"{model['family']:<14}{model['flavor']:<24}{params:>12}{model.get('max_seq_len', ''):>13}")
    return 0


def _experiment_model(args: argparse.Namespace) -> dict[str, Any]:
    """The row of ``primus-cli models`` for one experiment's model, its overrides applied."""
    from primus.validate import schema

    config = load_and_validate(args.config, args.overrides, args, preflight=False).config
    flavor = schema.effective_flavor(config)
    if flavor is None:  # validation has refused an unknown family or flavor already
        raise PrimusError("the experiment names no model", key="model.name")
    row = dataclasses.asdict(flavor)
    row["params"] = schema.parameter_count(flavor)
    row["flavor"] = flavor.label.removeprefix(f"{flavor.family} ")
    return row
