"""The ``sweep`` subcommand: ``sweep plan`` (every point with its bundle and status) and ``sweep report``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from primus import stages
from primus.cli.common import configs_root_of, examples_root, print_warnings, runs_dir_of


def _plan_sweep(args: argparse.Namespace):
    """Read the sweep file and plan every point (validate + hash); ConfigErrors lists every problem."""
    from primus.sweep import plan_sweep, read_sweep
    from primus.workflow import DEFAULT_PLATFORM

    spec = read_sweep(args.sweep, platform=args.platform or DEFAULT_PLATFORM, root=examples_root())
    return plan_sweep(
        spec,
        runs_dir=runs_dir_of(args),
        base_overrides=args.overrides,
        configs_root=configs_root_of(args),
        image_id=stages.read_image_id(args.image_id_file),
        strict=args.strict,
    )


def cmd_sweep(args: argparse.Namespace) -> int:
    """``sweep plan``: the points of a sweep file with their bundles and status; ``sweep report``: write
    the sweep report (table, overlaid loss curves, best point) from what the points' bundles hold."""
    plan = _plan_sweep(args)
    print_warnings(list(plan.warnings))
    if args.action == "plan":
        from primus.sweep.table import format_plan, plan_rows

        if args.format == "json":
            print(json.dumps(plan_rows(plan), indent=2, default=str))
        else:
            print(format_plan(plan))
        return 0
    from primus.sweep.report import summary_lines, write_report
    from primus.workflow import SWEEPS_DIR

    folder = Path(args.output) if args.output else runs_dir_of(args) / SWEEPS_DIR / plan.spec.name
    results = write_report(plan, folder)
    for line in summary_lines(plan, results):
        print(line)
    print(f"report: {folder / 'report.md'} (also report.html, loss.png, points.json)")
    return 0
