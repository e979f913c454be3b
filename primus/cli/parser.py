"""``build_parser``: the argparse tree of every ``primus-cli`` subcommand, its options and help."""

from __future__ import annotations

import argparse
from typing import Any

from primus import __version__
from primus.cli.bundle_commands import cmd_check_bundle, cmd_diff, cmd_train, cmd_verify
from primus.cli.common import DEFAULT_RUNS_DIR, STRICT_HELP, add_platform
from primus.cli.completion import cmd_completion, complete_experiments
from primus.cli.config_commands import cmd_assets, cmd_explain, cmd_models, cmd_resolve, cmd_validate
from primus.cli.container_command import cmd_container
from primus.cli.direct import DIRECT_USAGE, add_launcher_options, cmd_direct, direct_options_help
from primus.cli.examples import EXAMPLES
from primus.cli.sweep_command import cmd_sweep


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
        argument.completer = complete_experiments  # read by argcomplete
        add_platform(command)

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
    add_platform(command)
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
        epilog=direct_options_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,
    )
    command.add_argument("-h", "--help", action="help", help=argparse.SUPPRESS)
    add_launcher_options(command)
    command.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    command.set_defaults(func=cmd_direct)

    command = add("completion", cmd_completion, "print shell code for tab completion (argcomplete)")
    command.add_argument("shell", choices=("bash", "zsh", "fish", "tcsh", "powershell"))
    return parser


# Subcommands whose unknown options are config overrides rather than typos of our own options.
_TAKES_OVERRIDES = {"validate", "resolve", "explain", "train", "sweep", "models", "assets"}
