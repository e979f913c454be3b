"""``primus-cli direct -- train pretrain --config CONFIG``: Primus's launcher form. Its own parser (the
options after ``train pretrain``), the launcher options given before ``--`` (``--log_file``, ``--env``,
``--dry-run``) and the ``--log_file`` tee of stdout and stderr."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from primus.cli.bundle_commands import freeze_and_train
from primus.cli.common import DEFAULT_RUNS_DIR, STRICT_HELP, add_platform, split_overrides
from primus.cli.examples import EXAMPLES
from primus.errors import PrimusError, did_you_mean, suggest

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
    add_platform(sub)
    sub.add_argument(
        "--runs-dir", help=f"where bundles go (default ${{PRIMUS_RUNS_DIR}} or ./{DEFAULT_RUNS_DIR})"
    )
    sub.add_argument("--configs-root", help="folder with modules/, models/, platforms/")
    sub.add_argument("--image-id-file", help="image ID recorded by `primus-cli container build`")
    sub.add_argument("--strict", action="store_true", help=STRICT_HELP)
    add_launcher_options(sub, dry_run=False)
    return sub


def direct_options_help() -> str:
    """The options section of ``direct_parser``'s help, for the ``direct`` subcommand's own --help."""
    text = direct_parser().format_help()
    section = text[text.index("options:") :] if "options:" in text else text
    return section.replace("options:", "options after `-- train pretrain`:", 1)


#: Options of Primus's own ``primus-cli direct`` launcher, given before ``--`` (also accepted after
#: ``train pretrain``): where its output is teed, and environment variables for the training processes.
LAUNCHER_OPTIONS = ("--log_file", "--env", "--dry-run")


def add_launcher_options(parser: argparse.ArgumentParser, *, dry_run: bool = True) -> None:
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


def unknown_launcher_option(option: str) -> PrimusError:
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
            raise unknown_launcher_option(words[0])
        raise PrimusError(
            f"unsupported command after 'direct --': {' '.join(words) or '(nothing)'}",
            hint="primus-cli direct -- train pretrain --config examples/torchtitan/configs/CPU/...yaml",
        )
    known, extra = direct_parser().parse_known_args(words[2:])
    overrides = split_overrides(extra)
    module_keys = set(schema_module_keys())
    for item in overrides:
        # an override names a dotted config key (--training.steps) or a module-level key (--sink_level)
        name = item[2:].split("=", 1)[0] if item.startswith("--") else None
        if name is not None and "." not in name and name not in module_keys:
            raise unknown_launcher_option(item)
    known.dry_run = known.dry_run or args.launcher_dry_run
    known.launcher_env = [*args.launcher_env, *known.launcher_env]
    log_file = known.log_file or args.log_file
    if not log_file:
        return freeze_and_train(known.config, overrides, known)
    with _tee(Path(log_file)):
        return freeze_and_train(known.config, overrides, known)


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
