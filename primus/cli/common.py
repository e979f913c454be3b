"""What every ``primus-cli`` subcommand shares: where runs go, how CONFIG (a path or an experiment name)
is found and validated, how warnings are printed, and the overrides argparse leaves over."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from primus import stages
from primus.errors import PrimusError

#: Where bundles go unless --runs-dir or $PRIMUS_RUNS_DIR says otherwise (relative to the current directory).
DEFAULT_RUNS_DIR = "runs"
STRICT_HELP = "treat warnings (what TorchTitan adjusts at run time, keys with no effect here) as errors"


def runs_dir_of(args: argparse.Namespace) -> Path:
    return Path(args.runs_dir or os.environ.get("PRIMUS_RUNS_DIR") or DEFAULT_RUNS_DIR)


def configs_root_of(args: argparse.Namespace) -> Path | None:
    return Path(args.configs_root) if getattr(args, "configs_root", None) else None


def examples_root() -> Path:
    """The folder holding ``examples/``: the current one when it has them, else this checkout's root."""
    here = Path.cwd()
    if (here / "examples").is_dir():
        return here
    checkout = Path(__file__).resolve().parents[2]
    return checkout if (checkout / "examples").is_dir() else here


def experiment_path(config: str, args: argparse.Namespace) -> str:
    """CONFIG as given when it is a file or looks like a path; else the experiment that name refers to."""
    from primus.workflow import DEFAULT_PLATFORM, find_experiment, is_path_like

    if Path(config).is_file() or is_path_like(config):
        return config
    platform = getattr(args, "platform", None) or DEFAULT_PLATFORM
    return str(find_experiment(config, platform=platform, root=examples_root()))


def validate_config(
    config: str, overrides: Sequence[str], args: argparse.Namespace, *, preflight: bool
) -> stages.Validated:
    """The validate stage for CONFIG (a path or an experiment name) with this command's options."""
    return stages.validate_experiment(
        experiment_path(config, args),
        overrides,
        configs_root=configs_root_of(args),
        preflight=preflight,
        strict=getattr(args, "strict", False),
    )


def load_and_validate(config: str, overrides: Sequence[str], args: argparse.Namespace, *, preflight: bool):
    """The validate stage, then its warnings printed; returns the ``stages.Validated``."""
    validated = validate_config(config, overrides, args, preflight=preflight)
    print_warnings(validated.warnings)
    return validated


def print_warnings(warnings: Sequence[PrimusError], indent: str = "") -> None:
    """Each warning as an error is printed (file:line: key: warning: message, then the hint), on stderr."""
    for warning in warnings:
        print("\n".join(indent + line for line in warning.format().splitlines()), file=sys.stderr)
    if warnings:
        count = len(warnings)
        print(
            f"{indent}{count} warning{'s' if count != 1 else ''} (--strict makes them errors)",
            file=sys.stderr,
        )


def split_overrides(extra: list[str]) -> list[str]:
    """argparse leaves ``--section.key value`` pairs it does not know in ``extra``: they are overrides."""
    for item in extra:
        if item in ("-h", "--help"):
            raise SystemExit(0)
    return list(extra)


def indented(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def add_platform(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--platform",
        help="platform folder an experiment NAME is looked up in (examples/*/configs/PLATFORM/; "
        "default MI300X, as the workflow's `platform`)",
    )
