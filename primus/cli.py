# PYTHON_ARGCOMPLETE_OK  (argcomplete looks for this marker in the first lines of the entry point)
"""``primus-cli``: argument parsing only. Each subcommand calls one stage of the primus package.

Exit codes: 0 success, 2 a configuration problem (nothing written, nothing launched), 1 a runtime failure
(training or a verification check failed, a tool is missing). A PrimusError is printed as one clear message,
never as a traceback. Output piped into a reader that stops early (``| head``) ends quietly.

Every CONFIG argument is a path to an experiment YAML or an experiment name looked up under
``examples/*/configs/<platform>/`` exactly as ``snakemake train --config exp=NAME`` does
(``primus.workflow.find_experiment``).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from primus import __version__, stages
from primus.bundle import layout
from primus.errors import (
    EXIT_CONFIG,
    ConfigErrors,
    ConfigKeyError,
    PrimusError,
    cli_boundary,
    did_you_mean,
    suggest,
)
from primus.numbers import human_count

#: Where bundles go unless --runs-dir or $PRIMUS_RUNS_DIR says otherwise (relative to the current directory).
DEFAULT_RUNS_DIR = "runs"
STRICT_HELP = "treat warnings (what TorchTitan adjusts at run time, keys with no effect here) as errors"

# ---------------------------------------------------------------------------------------------- helpers


def _runs_dir(args: argparse.Namespace) -> Path:
    return Path(args.runs_dir or os.environ.get("PRIMUS_RUNS_DIR") or DEFAULT_RUNS_DIR)


def _configs_root(args: argparse.Namespace) -> Path | None:
    return Path(args.configs_root) if getattr(args, "configs_root", None) else None


def _examples_root() -> Path:
    """The folder holding ``examples/``: the current one when it has them, else this checkout's root."""
    here = Path.cwd()
    if (here / "examples").is_dir():
        return here
    checkout = Path(__file__).resolve().parents[1]
    return checkout if (checkout / "examples").is_dir() else here


def _experiment(config: str, args: argparse.Namespace) -> str:
    """CONFIG as given when it is a file or looks like a path; else the experiment that name refers to."""
    from primus.workflow import DEFAULT_PLATFORM, find_experiment, is_path_like

    if Path(config).is_file() or is_path_like(config):
        return config
    platform = getattr(args, "platform", None) or DEFAULT_PLATFORM
    return str(find_experiment(config, platform=platform, root=_examples_root()))


def _validated(
    config: str, overrides: Sequence[str], args: argparse.Namespace, *, preflight: bool
) -> stages.Validated:
    """The validate stage for CONFIG (a path or an experiment name) with this command's options."""
    return stages.validate_experiment(
        _experiment(config, args),
        overrides,
        configs_root=_configs_root(args),
        preflight=preflight,
        strict=getattr(args, "strict", False),
    )


def _load_and_validate(config: str, overrides: Sequence[str], args: argparse.Namespace, *, preflight: bool):
    """The validate stage, then its warnings printed; returns the ``stages.Validated``."""
    validated = _validated(config, overrides, args, preflight=preflight)
    _print_warnings(validated.warnings)
    return validated


def _print_warnings(warnings: Sequence[PrimusError], indent: str = "") -> None:
    """Each warning as an error is printed (file:line: key: warning: message, then the hint), on stderr."""
    for warning in warnings:
        print("\n".join(indent + line for line in warning.format().splitlines()), file=sys.stderr)
    if warnings:
        count = len(warnings)
        print(
            f"{indent}{count} warning{'s' if count != 1 else ''} (--strict makes them errors)",
            file=sys.stderr,
        )


def _split_overrides(extra: list[str]) -> list[str]:
    """argparse leaves ``--section.key value`` pairs it does not know in ``extra``: they are overrides."""
    for item in extra:
        if item in ("-h", "--help"):
            raise SystemExit(0)
    return list(extra)


# ---------------------------------------------------------------------------------------------- commands


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate every file; print every problem of every file; exit 2 when any file is invalid."""
    failed = 0
    results = []
    configs, assignments = _configs_and_assignments(args.configs)
    args.configs, args.overrides = configs, [*assignments, *args.overrides]
    for config in args.configs:
        try:
            path = _experiment(config, args)
            validation = _validated(path, args.overrides, args, preflight=args.preflight)
        except PrimusError as error:
            failed += 1
            problems = error.errors if isinstance(error, ConfigErrors) else [error]
            results.append({"config": config, "valid": False, "problems": [p.to_json() for p in problems]})
            if args.format == "text":
                print(f"✗ {config}", file=sys.stderr)
                print(_indent(error.format()), file=sys.stderr)
        else:
            warnings = validation.warnings
            results.append({"config": config, "valid": True, "problems": [w.to_json() for w in warnings]})
            if args.format == "text":
                if not args.quiet:
                    shown = "" if path == config else f"  ({path})"
                    count = len(warnings)
                    note = f" ({count} warning{'s' if count != 1 else ''})" if count else ""
                    print(f"✓ {config}{shown}{note}")
                _print_warnings(warnings, indent="  ")
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


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def cmd_resolve(args: argparse.Namespace) -> int:
    """Print the fully resolved module config, or freeze it into a run bundle (--freeze)."""
    validated = _load_and_validate(args.config, args.overrides, args, preflight=False)
    if not args.freeze:
        from primus.config import render

        print(render(validated.config, args.format), end="")
        return 0
    image_id = stages.read_image_id(args.image_id_file)
    print(stages.freeze_experiment(validated, runs_dir=_runs_dir(args), image_id=image_id))
    return 0


def cmd_assets(args: argparse.Namespace) -> int:
    """Fetch (or re-resolve with --update) the tokenizer and data an experiment reads; print the pins."""
    from primus.assets import cache_root

    validated = _load_and_validate(args.config, args.overrides, args, preflight=False)
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
        _experiment(args.config, args), args.overrides, configs_root=_configs_root(args)
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

    config = _load_and_validate(args.config, args.overrides, args, preflight=False).config
    flavor = schema.effective_flavor(config)
    if flavor is None:  # validation has refused an unknown family or flavor already
        raise PrimusError("the experiment names no model", key="model.name")
    row = dataclasses.asdict(flavor)
    row["params"] = schema.parameter_count(flavor)
    row["flavor"] = flavor.label.removeprefix(f"{flavor.family} ")
    return row


def cmd_check_bundle(args: argparse.Namespace) -> int:
    """Re-verify every digest of a frozen bundle."""
    from primus.bundle import check_bundle

    check_bundle(Path(args.bundle))
    print(f"{args.bundle}: intact")
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    """Per-key differences between two bundles, with where each side's value came from."""
    from primus.bundle import diff_bundles, format_diff

    differences = diff_bundles(Path(args.a), Path(args.b))
    if args.format == "json":
        print(json.dumps([_diff_json(d) for d in differences], indent=2, default=str))
    else:
        print(format_diff(differences))
    # As diff(1) and git diff --exit-code: 0 the same, 1 different (errors are 2 or 1 as everywhere).
    return 1 if differences else 0


def _diff_json(difference) -> dict[str, Any]:
    from primus.bundle.diff import MISSING

    def value(side: Any) -> Any:
        return None if side is MISSING else side

    return {
        "key": difference.key,
        "a": value(difference.a_value),
        "b": value(difference.b_value),
        "a_set": difference.a_value is not MISSING,
        "b_set": difference.b_value is not MISSING,
        "a_source": difference.a_source,
        "b_source": difference.b_source,
    }


def cmd_train(args: argparse.Namespace) -> int:
    """Train from a frozen bundle, or load+validate+freeze CONFIG first and then train."""
    if args.nproc_per_node is not None:
        if args.nproc_per_node < 1:
            raise PrimusError(
                f"--nproc-per-node must be at least 1, got {args.nproc_per_node}",
                hint="give the number of training processes on this node, e.g. --nproc-per-node 2",
            )
        os.environ["NPROC_PER_NODE"] = str(args.nproc_per_node)  # validation and the launcher read it
    if bool(args.bundle) == bool(args.config):
        raise PrimusError(
            "give either --bundle DIR or a CONFIG file", hint="primus-cli train --bundle runs/EXP/HASH"
        )
    if args.bundle:
        from primus import observability

        return stages.train_bundle(
            Path(args.bundle),
            runtime=args.runtime,
            container_variant=args.container_variant,
            dry_run=args.dry_run,
            observability=observability.from_overrides(args.overrides),
        )
    if args.runtime == "container":
        raise PrimusError(
            "--runtime container trains a frozen bundle",
            hint="freeze first (primus-cli resolve --freeze CONFIG --image-id-file "
            "build/container/VARIANT.image-id), then primus-cli train --bundle DIR --runtime container",
        )
    return _freeze_and_train(args.config, args.overrides, args)


def _freeze_and_train(config_path: str, overrides: Sequence[str], args: argparse.Namespace) -> int:
    """The seed's `direct -- train pretrain` path: the validate, preflight, freeze and train stages."""
    # Preflight (this machine) comes after the header, so a run that cannot start here still shows what
    # it is; a dry run reports the preflight problems instead of stopping.
    validated = _load_and_validate(config_path, overrides, args, preflight=False)
    resolved, config = validated.resolved, validated.config
    cli_env = getattr(args, "launcher_env", None)
    if cli_env:
        from primus.config.run_env import parse_assignments

        # direct --env: part of the run like the experiment's env: (command line wins); bundle and hash
        resolved.envelope["env"] = {**(resolved.envelope.get("env") or {}), **parse_assignments(cli_env)}
    image_id = stages.read_image_id(getattr(args, "image_id_file", None))
    runs_dir = _runs_dir(args)
    model = config.get("model", {})
    job = config.get("job", {})
    from primus.bundle.writer import plaintext_secret_error, redact

    def say(text: str) -> None:  # a secret's value is never printed, not even in a dry run
        print(redact(text, resolved))

    say(f"framework:        {resolved.framework}")
    say(f"experiment:       {resolved.path}")
    say(f"model config:     {resolved.model_preset}  ({resolved.origin_of('model.name') or '?'})")
    say(f"model:            {model.get('name')} / {model.get('flavor')}")
    _print_architecture(resolved, config)
    say(f"job.description:  {job.get('description')}")
    say(f"hf_assets_path:   {model.get('hf_assets_path')}")
    secret_problem = plaintext_secret_error(resolved, config)
    if args.dry_run and secret_problem is not None:
        # freeze would refuse it: say so (the message names the variable, never its value) and stop
        say("freeze will refuse this config, so a real run stops here:")
        say(_indent(secret_problem.format()))
        return 0
    if args.dry_run:
        from primus.errors import AssetCacheError

        try:
            bundle = validated.bundle(runs_dir=runs_dir, image_id=image_id)
            print(f"bundle (dry run, not written): {bundle}")
        except AssetCacheError as error:
            # The asset pins are part of the hash; a dry run fetches nothing.
            bundle = runs_dir / str(validated.resolved.envelope.get("exp_name")) / "HASH"
            print(
                f"bundle (dry run, not written): {bundle}, its HASH known once the assets are fetched "
                f"(primus-cli assets fetch): {error.message}"
            )
        _print_dry_run_preflight(resolved, config)
        say("launch: " + " ".join(stages.launch_preview(bundle, validated)))
        return 0
    sys.stdout.flush()
    stages.preflight(validated)
    bundle = stages.freeze_experiment(validated, runs_dir=runs_dir, image_id=image_id)
    print(f"bundle:           {bundle}")
    sys.stdout.flush()
    from primus import observability

    return stages.train_bundle(bundle, observability=observability.settings_of(validated.config))


def _print_architecture(resolved, config: dict) -> None:
    """The model's shape and parameter count; each ``model.<arg>`` override with where it was set."""
    from primus.validate import schema

    flavor = schema.effective_flavor(config)
    if flavor is None:
        return
    for item in describe_overrides(flavor.overrides):
        key = "model." + item.partition("=")[0]
        print(f"model override:   {item}  ({resolved.origin_of(key) or '?'})")
    heads = f", n_heads {flavor.n_heads}" if flavor.n_heads is not None else ""
    print(
        f"architecture:     dim {flavor.dim}, n_layers {flavor.n_layers}{heads}, vocab {flavor.vocab_size}, "
        f"{human_count(schema.parameter_count(flavor))} parameters"
    )


def describe_overrides(overrides: dict) -> list[str]:
    from primus.validate.model_args import describe

    return describe(overrides)


def _print_dry_run_preflight(resolved, config: dict) -> None:
    """A dry run reports what would stop a real run on this machine, without stopping itself."""
    from primus.validate.machine import preflight

    problems = preflight(config, origin_of=resolved.origin_of)
    if problems:
        print("preflight: a real run on this machine would stop here:")
        for problem in problems:
            print(_indent(problem.format()))
    else:
        print("preflight: ok on this machine")


def _verdict_word(passed: bool) -> str:
    """PASS or FAIL, bold green or red on a terminal without NO_COLOR."""
    from primus.progress import wants_color

    word = "PASS" if passed else "FAIL"
    return f"\x1b[1;{32 if passed else 31}m{word}\x1b[0m" if wants_color(sys.stdout) else word


def cmd_verify(args: argparse.Namespace) -> int:
    """Check a trained bundle; write verify/verdict.json and a report; exit 1 naming failed checks."""
    from primus.verify import outputs_dir

    verdict = stages.verify_bundle(Path(args.bundle), against=args.against, tolerance=args.tolerance)
    if args.format == "json":
        print(json.dumps({"bundle": args.bundle, **verdict.to_json()}, indent=2, allow_nan=False))
        return 0 if verdict.passed else 1
    for check in verdict.checks:
        mark = {"pass": "✓", "fail": "✗", "skip": "-"}.get(check.status, "?")
        print(f"{mark} {check.name}: {check.message}")
    written = outputs_dir(Path(args.bundle), Path(args.against) if args.against else None)
    print(f"verdict: {_verdict_word(verdict.passed)}  ({written / layout.VERDICT})")
    print(f"report:  {written / layout.REPORT_HTML}")
    if not verdict.passed:
        failed = ", ".join(c.name for c in verdict.checks if c.status == "fail")
        print(f"failed checks: {failed}", file=sys.stderr)
        return 1
    return 0


def _plan_sweep(args: argparse.Namespace):
    """Read the sweep file and plan every point (validate + hash); ConfigErrors lists every problem."""
    from primus.sweep import plan_sweep, read_sweep
    from primus.workflow import DEFAULT_PLATFORM

    spec = read_sweep(args.sweep, platform=args.platform or DEFAULT_PLATFORM, root=_examples_root())
    return plan_sweep(
        spec,
        runs_dir=_runs_dir(args),
        base_overrides=args.overrides,
        configs_root=_configs_root(args),
        image_id=stages.read_image_id(args.image_id_file),
        strict=args.strict,
    )


def cmd_sweep(args: argparse.Namespace) -> int:
    """``sweep plan``: the points of a sweep file with their bundles and status; ``sweep report``: write
    the sweep report (table, overlaid loss curves, best point) from what the points' bundles hold."""
    plan = _plan_sweep(args)
    _print_warnings(list(plan.warnings))
    if args.action == "plan":
        from primus.sweep.table import format_plan, plan_rows

        if args.format == "json":
            print(json.dumps(plan_rows(plan), indent=2, default=str))
        else:
            print(format_plan(plan))
        return 0
    from primus.sweep.report import summary_lines, write_report
    from primus.workflow import SWEEPS_DIR

    folder = Path(args.output) if args.output else _runs_dir(args) / SWEEPS_DIR / plan.spec.name
    results = write_report(plan, folder)
    for line in summary_lines(plan, results):
        print(line)
    print(f"report: {folder / 'report.md'} (also report.html, loss.png, points.json)")
    return 0


def cmd_container(args: argparse.Namespace) -> int:
    """Build the training image (or print the engine command with --dry-run)."""
    from primus import containers

    if args.action == "build":
        options = {"gpu_arch": args.gpu_arch} if args.gpu_arch else {}
        if args.engine:
            options["engine"] = args.engine
        result = containers.build(variant=args.variant, dry_run=args.dry_run, **options)
        if result:
            print(result)
        return 0
    raise PrimusError(f"unknown container action '{args.action}'", hint="primus-cli container build")


#: How the seed guide's command is written; ``direct`` accepts nothing else after ``--``.
DIRECT_USAGE = (
    "primus-cli direct [--log_file PATH] [--env KEY=VALUE ...] [--dry-run] -- train pretrain "
    "--config CONFIG [--dry-run] [options] [--section.key VALUE ...]"
)


def direct_parser() -> argparse.ArgumentParser:
    """The options after ``direct -- train pretrain`` (also shown by ``primus-cli direct --help``)."""
    sub = argparse.ArgumentParser(
        prog="primus-cli direct -- train pretrain",
        usage=DIRECT_USAGE,
        description="Primus's launcher form: load, validate, freeze and train one experiment.",
        epilog=EXAMPLES["direct"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub.add_argument("--config", required=True, metavar="CONFIG", help="experiment YAML or experiment name")
    sub.add_argument(
        "--dry-run", action="store_true", help="print the bundle and launch command; write nothing"
    )
    _add_platform(sub)
    sub.add_argument(
        "--runs-dir", help=f"where bundles go (default ${{PRIMUS_RUNS_DIR}} or ./{DEFAULT_RUNS_DIR})"
    )
    sub.add_argument("--configs-root", help="folder with modules/, models/, platforms/")
    sub.add_argument("--image-id-file", help="image ID recorded by `primus-cli container build`")
    sub.add_argument("--strict", action="store_true", help=STRICT_HELP)
    _add_launcher_options(sub, dry_run=False)
    return sub


def _direct_options_help() -> str:
    """The options section of ``direct_parser``'s help, for the ``direct`` subcommand's own --help."""
    text = direct_parser().format_help()
    section = text[text.index("options:") :] if "options:" in text else text
    return section.replace("options:", "options after `-- train pretrain`:", 1)


#: Options of Primus's own ``primus-cli direct`` launcher, given before ``--`` (also accepted after
#: ``train pretrain``): where its output is teed, and environment variables for the training processes.
LAUNCHER_OPTIONS = ("--log_file", "--env", "--dry-run")


def _add_launcher_options(parser: argparse.ArgumentParser, *, dry_run: bool = True) -> None:
    """The launcher options; after ``train pretrain`` (``dry_run=False``) they are accepted but not listed
    again in the help."""
    shown = (lambda text: text) if dry_run else (lambda text: argparse.SUPPRESS)
    parser.add_argument(
        "--log_file",
        "--log-file",
        dest="log_file",
        metavar="PATH",
        help=shown("also write all output to PATH"),
    )
    parser.add_argument(
        "--env",
        dest="launcher_env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=shown("an environment variable for the training processes (repeatable); recorded in the bundle"),
    )
    if dry_run:
        parser.add_argument(
            "--dry-run", dest="launcher_dry_run", action="store_true", help="as --dry-run after the command"
        )


def _unknown_launcher_option(option: str) -> PrimusError:
    name = option.split("=", 1)[0]
    close = suggest(name, [*LAUNCHER_OPTIONS, "--config", "--strict", "--runs-dir", "--configs-root"])
    return PrimusError(
        f"unknown option '{name}' of primus-cli direct",
        file="<command line>",
        key=name.lstrip("-"),
        hint=did_you_mean(close)
        or f"launcher options: {', '.join(LAUNCHER_OPTIONS)}; config overrides are --section.key VALUE",
    )


def cmd_direct(args: argparse.Namespace) -> int:
    """Primus's launcher form: ``primus-cli direct [--log_file PATH] [--env K=V] -- train pretrain
    --config FILE [overrides]``."""
    words = list(args.rest)
    if words[:1] == ["--"]:
        words = words[1:]
    if words[:2] != ["train", "pretrain"]:
        if words and words[0].startswith("-"):
            raise _unknown_launcher_option(words[0])
        raise PrimusError(
            f"unsupported command after 'direct --': {' '.join(words) or '(nothing)'}",
            hint="primus-cli direct -- train pretrain --config examples/torchtitan/configs/CPU/...yaml",
        )
    known, extra = direct_parser().parse_known_args(words[2:])
    overrides = _split_overrides(extra)
    module_keys = set(schema_module_keys())
    for item in overrides:
        # an override names a dotted config key (--training.steps) or a module-level key (--sink_level)
        name = item[2:].split("=", 1)[0] if item.startswith("--") else None
        if name is not None and "." not in name and name not in module_keys:
            raise _unknown_launcher_option(item)
    known.dry_run = known.dry_run or args.launcher_dry_run
    known.launcher_env = [*args.launcher_env, *known.launcher_env]
    log_file = known.log_file or args.log_file
    if not log_file:
        return _freeze_and_train(known.config, overrides, known)
    with _tee(Path(log_file)):
        return _freeze_and_train(known.config, overrides, known)


def schema_module_keys() -> list[str]:
    from primus.validate import schema

    return list(schema.schema()["module"])


@contextlib.contextmanager
def _tee(path: Path):
    """stdout and stderr also go to ``path`` (Primus's ``--log_file``), appended, until the block ends."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a", encoding="utf-8")
    except OSError as error:
        raise PrimusError(
            f"cannot write the log file {path}: {error.strerror}",
            file=str(path),
            key="log_file",
            hint="give --log_file a path in a writable folder",
        ) from None
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Tee(saved[0], handle), _Tee(saved[1], handle)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
        handle.close()


class _Tee:
    def __init__(self, stream, copy) -> None:
        self.stream, self.copy = stream, copy

    def write(self, text: str) -> int:
        self.copy.write(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.copy.flush()
        self.stream.flush()

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


def cmd_completion(args: argparse.Namespace) -> int:
    """Print the shell code that completes primus-cli (argcomplete)."""
    try:
        import argcomplete
    except ImportError:
        from primus.errors import LaunchError

        raise LaunchError(
            "shell completion needs argcomplete, which is not installed",
            hint="pip install -c constraints.txt argcomplete",
        ) from None
    print(argcomplete.shellcode(["primus-cli", "./primus-cli"], shell=args.shell), end="")
    return 0


def _complete_experiments(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    """Experiment names of the chosen platform, and YAML files, for shell completion of CONFIG."""
    from primus.workflow import DEFAULT_PLATFORM, examples_for_platform

    if "/" not in prefix and not prefix.startswith("."):
        platform = getattr(parsed_args, "platform", None) or DEFAULT_PLATFORM
        names = list(examples_for_platform(platform, root=_examples_root()))
    else:
        head = prefix.rsplit("/", 1)[0] + "/" if "/" in prefix else ""
        folder = Path(head or ".")
        entries = sorted(folder.iterdir()) if folder.is_dir() else []
        names = [
            head + entry.name + ("/" if entry.is_dir() else "")
            for entry in entries
            if entry.is_dir() or entry.suffix in (".yaml", ".yml")
        ]
    return [name for name in names if name.startswith(prefix)]


# ---------------------------------------------------------------------------------------------- parser


#: The examples each --help ends with (commands a user can paste from the repository root).
EXAMPLES = {
    "primus-cli": """examples:
  primus-cli validate qwen3_8B                 # an experiment name, looked up as snakemake does
  primus-cli resolve --freeze examples/torchtitan/configs/CPU/llama3_debugmodel-pretrain.yaml
  primus-cli train --bundle runs/EXP/HASH
  primus-cli verify runs/EXP/HASH
  primus-cli direct -- train pretrain --config qwen3_8B --dry-run
  eval "$(primus-cli completion bash)"         # tab completion in this shell""",
    "validate": """examples:
  primus-cli validate qwen3_8B
  primus-cli validate examples/torchtitan/configs/MI300X/*.yaml -q
  primus-cli validate llama3_debugmodel --platform CPU --preflight --training.steps 5
  primus-cli validate qwen3_8B --format json | jq '.files[].problems[]'""",
    "resolve": """examples:
  primus-cli resolve qwen3_8B --format json
  primus-cli resolve --freeze llama3_debugmodel --platform CPU --training.steps 20""",
    "explain": """examples:
  primus-cli explain qwen3_8B training.steps
  primus-cli explain qwen3_8B training        # every key of a section and who set it""",
    "models": """examples:
  primus-cli models
  primus-cli models --family qwen3 --format json""",
    "assets": """examples:
  primus-cli assets fetch llama3_debugmodel --platform CPU --training.mock_data false
  primus-cli assets fetch EXPERIMENT.yaml --update     # move branches to their current commit
  primus-cli assets fetch EXPERIMENT.yaml | jq '.assets.tokenizer.revision'""",
    "check-bundle": """examples:
  primus-cli check-bundle runs/EXP/HASH""",
    "diff": """examples:
  primus-cli diff runs/EXP/HASH_A runs/EXP/HASH_B          # exit 0 the same, 1 different
  primus-cli diff runs/EXP/HASH_A runs/EXP/HASH_B --format json""",
    "train": """examples:
  primus-cli train --bundle runs/EXP/HASH               # resumes from the latest checkpoint
  primus-cli train --bundle runs/EXP/HASH --dry-run     # the torchrun command only
  primus-cli train llama3_debugmodel --platform CPU     # freeze, then train""",
    "verify": """examples:
  primus-cli verify runs/EXP/HASH
  primus-cli verify runs/EXP/HASH --against runs/EXP/OTHER_HASH --tolerance 0.01
  primus-cli verify runs/EXP/HASH --format json""",
    "sweep": """examples:
  primus-cli sweep plan examples/sweeps/llama3_debugmodel-lr.yaml      # points, bundles, status
  primus-cli sweep plan examples/sweeps/llama3_debugmodel-lr.yaml --format json
  primus-cli sweep report examples/sweeps/llama3_debugmodel-lr.yaml    # table, loss curves, best point""",
    "container": """examples:
  primus-cli container build --variant cpu
  primus-cli container build --gpu-arch gfx950 --dry-run""",
    "direct": """examples:
  primus-cli direct -- train pretrain --config examples/torchtitan/configs/MI300X/qwen3_8B-BF16-pretrain.yaml
  primus-cli direct -- train pretrain --config qwen3_8B --dry-run
  primus-cli direct -- train pretrain --config llama3_debugmodel --platform CPU --training.steps 5""",
    "completion": """examples:
  primus-cli completion bash > ~/.local/share/bash-completion/completions/primus-cli
  eval "$(primus-cli completion bash)"          # this shell only""",
}


def _add_platform(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--platform",
        help="platform folder an experiment NAME is looked up in (examples/*/configs/PLATFORM/; "
        "default MI300X, as the workflow's `platform`)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="primus-cli",
        description="Reproducible TorchTitan pre-training from layered Primus experiment configs.",
        epilog="CONFIG is an experiment YAML or an experiment name (looked up under "
        "examples/*/configs/PLATFORM/ as `snakemake train --config exp=NAME` does).\n"
        "Overrides: any '--section.key value' (or section.key=value) after CONFIG.\n"
        "Exit codes: 0 ok, 2 configuration problem (nothing written), 1 runtime failure.\n\n"
        + EXAMPLES["primus-cli"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"primus-cli {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func, help_text: str, **extra: Any) -> argparse.ArgumentParser:
        command = commands.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=EXAMPLES.get(name),
            formatter_class=argparse.RawDescriptionHelpFormatter,
            **extra,
        )
        command.set_defaults(func=func)
        return command

    def add_strict(command: argparse.ArgumentParser) -> None:
        command.add_argument("--strict", action="store_true", help=STRICT_HELP)

    def add_roots(command: argparse.ArgumentParser) -> None:
        command.add_argument(
            "--configs-root",
            help="folder with modules/, models/, platforms/ (default: $PRIMUS_CONFIGS_ROOT "
            "or the package's primus/configs)",
        )

    def add_config(command: argparse.ArgumentParser, **options: Any) -> None:
        argument = command.add_argument(
            options.pop("dest", "config"), metavar="CONFIG", help="experiment YAML or name", **options
        )
        argument.completer = _complete_experiments  # read by argcomplete
        _add_platform(command)

    command = add("validate", cmd_validate, "check experiment files; print every problem with file:line")
    add_config(command, dest="configs", nargs="+")
    command.add_argument(
        "--preflight", action="store_true", help="also check this machine (memory, converters, assets)"
    )
    command.add_argument("-q", "--quiet", action="store_true", help="print problems only")
    command.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="json: every file and problem (file, line, key, severity, message, hint) on stdout",
    )
    add_strict(command)
    add_roots(command)

    command = add("resolve", cmd_resolve, "print the resolved module config, or freeze it into a run bundle")
    add_config(command)
    command.add_argument("--format", choices=("yaml", "json"), default="yaml")
    command.add_argument(
        "--freeze", action="store_true", help="write runs/<exp_name>/<hash>/ and print its path"
    )
    command.add_argument(
        "--runs-dir", help=f"where bundles go (default $PRIMUS_RUNS_DIR or ./{DEFAULT_RUNS_DIR})"
    )
    command.add_argument("--image-id-file", help="image ID recorded by `primus-cli container build`")
    add_strict(command)
    add_roots(command)

    command = add(
        "assets",
        cmd_assets,
        "fetch the tokenizer and data an experiment reads into the asset cache and print their pins",
    )
    command.add_argument("action", choices=("fetch",))
    add_config(command)
    command.add_argument(
        "--update",
        action="store_true",
        help="ask the Hub again what each branch or tag points at (a new commit gives a new bundle)",
    )
    add_strict(command)
    add_roots(command)

    command = add("explain", cmd_explain, "show the final value of KEY and every layer that set it")
    add_config(command)
    command.add_argument("key", metavar="KEY", help="dotted key, e.g. training.steps")
    add_roots(command)

    command = add("models", cmd_models, "TorchTitan model families and flavors, with parameter counts")
    command.add_argument("--family", help="only this family (e.g. qwen3)")
    command.add_argument("--format", choices=("table", "json"), default="table")
    command.add_argument(
        "--config",
        metavar="CONFIG",
        help="only the model of this experiment, with its model.<arg> overrides (and any given after it)",
    )
    add_roots(command)

    command = add("check-bundle", cmd_check_bundle, "re-verify every digest of a frozen run bundle")
    command.add_argument("bundle", metavar="BUNDLE")

    command = add("diff", cmd_diff, "per-key differences between two run bundles (exit 1 when they differ)")
    command.add_argument("a", metavar="BUNDLE_A")
    command.add_argument("b", metavar="BUNDLE_B")
    command.add_argument("--format", choices=("table", "json"), default="table")

    command = add(
        "train", cmd_train, "train from a frozen bundle (or freeze CONFIG first), resuming when interrupted"
    )
    add_config(command, nargs="?")
    command.add_argument("--bundle", help="a frozen run bundle folder")
    command.add_argument("--dry-run", action="store_true", help="print the launch command; write nothing")
    command.add_argument(
        "--runs-dir", help=f"where bundles go (default $PRIMUS_RUNS_DIR or ./{DEFAULT_RUNS_DIR})"
    )
    command.add_argument("--image-id-file", help="image ID recorded by `primus-cli container build`")
    command.add_argument(
        "--nproc-per-node",
        type=int,
        metavar="N",
        help="processes on this node (sets NPROC_PER_NODE; default: every local GPU, or 1 on a CPU host)",
    )
    command.add_argument(
        "--runtime",
        choices=("host", "container"),
        default="host",
        help="train here, or inside the built image",
    )
    command.add_argument(
        "--container-variant", choices=("rocm", "cpu"), default="rocm", help="image to train in"
    )
    add_strict(command)
    add_roots(command)

    command = add("verify", cmd_verify, "check a trained bundle and write verify/verdict.json and a report")
    command.add_argument("bundle", metavar="BUNDLE")
    command.add_argument(
        "--against", metavar="OTHER_BUNDLE", help="also compare loss curves with this bundle"
    )
    command.add_argument(
        "--tolerance",
        type=float,
        help="relative tolerance for --against (default: exact for deterministic CPU runs, else 1e-2)",
    )
    command.add_argument(
        "--format", choices=("text", "json"), default="text", help="json: the verdict on stdout"
    )

    command = add(
        "sweep", cmd_sweep, "plan a sweep file's points (table of bundles and status), or write its report"
    )
    command.add_argument("action", choices=("plan", "report"))
    command.add_argument("sweep", metavar="SWEEP", help="sweep YAML (base experiment + axes)")
    command.add_argument("--format", choices=("table", "json"), default="table", help="for plan")
    command.add_argument(
        "--runs-dir", help=f"where bundles go (default $PRIMUS_RUNS_DIR or ./{DEFAULT_RUNS_DIR})"
    )
    command.add_argument("--output", help="report folder (default <runs>/.sweeps/<sweep name>/)")
    command.add_argument("--image-id-file", help="bundles for this container image (default: host)")
    _add_platform(command)
    add_strict(command)
    add_roots(command)

    command = add("container", cmd_container, "build the training image from containers/")
    command.add_argument("action", choices=("build",))
    command.add_argument("--variant", choices=("rocm", "cpu"), default="rocm")
    command.add_argument("--dry-run", action="store_true", help="print the engine command; build nothing")
    command.add_argument(
        "--gpu-arch", help="ROCm GPU architecture: gfx942 (MI300X/MI325X) or gfx950 (MI355X)"
    )
    command.add_argument("--engine", help="docker, podman-api or buildah (default: the first that answers)")

    command = commands.add_parser(
        "direct",
        help="Primus launcher form: direct -- train pretrain --config CONFIG [overrides]",
        description="Primus's launcher form: load, validate, freeze and train one experiment.",
        usage=DIRECT_USAGE,
        epilog=_direct_options_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,
    )
    command.add_argument("-h", "--help", action="help", help=argparse.SUPPRESS)
    _add_launcher_options(command)
    command.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    command.set_defaults(func=cmd_direct)

    command = add("completion", cmd_completion, "print shell code for tab completion (argcomplete)")
    command.add_argument("shell", choices=("bash", "zsh", "fish", "tcsh", "powershell"))
    return parser


# Subcommands whose unknown options are config overrides rather than typos of our own options.
_TAKES_OVERRIDES = {"validate", "resolve", "explain", "train", "sweep", "models", "assets"}


def _autocomplete(parser: argparse.ArgumentParser) -> None:
    """Answer a shell completion request (argcomplete sets _ARGCOMPLETE) and exit; else do nothing."""
    if "_ARGCOMPLETE" not in os.environ:
        return
    try:
        import argcomplete
    except ImportError:
        return
    argcomplete.autocomplete(parser)


@cli_boundary
def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    _autocomplete(parser)
    args, extra = parser.parse_known_args(argv)
    if extra and args.command == "direct":
        raise _unknown_launcher_option(extra[0])
    if extra:
        if args.command not in _TAKES_OVERRIDES:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.overrides = _split_overrides(extra)
    else:
        args.overrides = []
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
