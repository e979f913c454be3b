"""The subcommands on a run bundle: ``train`` (from a bundle, or freezing CONFIG first; ``direct`` runs
the same path), ``verify``, ``diff`` and ``check-bundle``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from primus import stages
from primus.bundle import layout
from primus.cli.common import indented, load_and_validate, runs_dir_of
from primus.errors import PrimusError
from primus.numbers import human_count


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
    return freeze_and_train(args.config, args.overrides, args)


def freeze_and_train(config_path: str, overrides: Sequence[str], args: argparse.Namespace) -> int:
    """The seed's `direct -- train pretrain` path: the validate, preflight, freeze and train stages."""
    # Preflight (this machine) comes after the header, so a run that cannot start here still shows what
    # it is; a dry run reports the preflight problems instead of stopping.
    validated = load_and_validate(config_path, overrides, args, preflight=False)
    resolved, config = validated.resolved, validated.config
    cli_env = getattr(args, "launcher_env", None)
    if cli_env:
        from primus.config.run_env import parse_assignments

        # direct --env: part of the run like the experiment's env: (command line wins); bundle and hash
        resolved.envelope["env"] = {**(resolved.envelope.get("env") or {}), **parse_assignments(cli_env)}
    image_id = stages.read_image_id(getattr(args, "image_id_file", None))
    runs_dir = runs_dir_of(args)
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
        say(indented(secret_problem.format()))
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
            print(indented(problem.format()))
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
