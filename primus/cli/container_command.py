"""The ``container`` subcommand: ``container build`` (or its engine command with --dry-run)."""

from __future__ import annotations

import argparse

from primus.errors import PrimusError


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
