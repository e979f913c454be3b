# PYTHON_ARGCOMPLETE_OK  (argcomplete looks for this marker in the first lines of the entry point)
"""``primus-cli``: argument parsing only. Each subcommand calls one stage of the primus package.

Exit codes: 0 success, 2 a configuration problem (nothing written, nothing launched), 1 a runtime failure
(training or a verification check failed, a tool is missing). A PrimusError is printed as one clear message,
never as a traceback. Output piped into a reader that stops early (``| head``) ends quietly.

Every CONFIG argument is a path to an experiment YAML or an experiment name looked up under
``examples/*/configs/<platform>/`` exactly as ``snakemake train --config exp=NAME`` does
(``primus.workflow.find_experiment``).

The package: ``parser`` (the argparse tree), ``examples`` (each --help's examples), ``common`` (what the
subcommands share), one module per group of subcommands (``config_commands``: validate, resolve, explain,
models, assets; ``bundle_commands``: train, verify, diff, check-bundle; ``sweep_command``;
``container_command``), ``direct`` (the launcher form and its --log_file tee) and ``completion``
(argcomplete). ``main`` here is the one entry point (``primus-cli``, ``python -m primus.cli``).
"""

from __future__ import annotations

from collections.abc import Sequence

from primus.cli.common import split_overrides
from primus.cli.completion import autocomplete
from primus.cli.direct import direct_parser, unknown_launcher_option
from primus.cli.parser import _TAKES_OVERRIDES, build_parser
from primus.errors import cli_boundary

__all__ = ["build_parser", "direct_parser", "main"]


@cli_boundary
def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    autocomplete(parser)
    args, extra = parser.parse_known_args(argv)
    if extra and args.command == "direct":
        raise unknown_launcher_option(extra[0])
    if extra:
        if args.command not in _TAKES_OVERRIDES:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.overrides = split_overrides(extra)
    else:
        args.overrides = []
    return args.func(args)
