"""``python -m primus.containers build|build-args|run-command``: the stage without the lead's CLI.

Exit codes follow the project: 0 success, 2 configuration problems, 1 runtime failures (no engine,
build failed).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from primus.containers import VARIANTS, build, build_command, find_project_root, run_command
from primus.containers.lock import build_args, load_lock
from primus.errors import cli_boundary


@cli_boundary
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m primus.containers", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("build", "build-args"):
        cmd = sub.add_parser(name)
        cmd.add_argument("--variant", choices=VARIANTS, default="rocm")
        cmd.add_argument("--gpu-arch", default=None, help="gfx942 (MI300X/MI325X) or gfx950 (MI355X)")
        if name == "build":
            cmd.add_argument("--engine", default=None, help="auto, docker, podman or podman-api")
            cmd.add_argument("--dry-run", action="store_true", help="print the engine command line only")
    run = sub.add_parser("run-command", help="print the engine command line that trains a bundle")
    run.add_argument("bundle", type=Path)
    run.add_argument("--variant", choices=VARIANTS, default="rocm")
    run.add_argument("--engine", default=None)
    args = parser.parse_args(argv)
    if args.command == "build-args":
        lock = load_lock(find_project_root() / "containers" / "lock.yaml")
        print(json.dumps(build_args(lock, variant=args.variant, gpu_arch=args.gpu_arch), indent=2))
    elif args.command == "build" and args.dry_run:
        print(shlex.join(build_command(args.variant, gpu_arch=args.gpu_arch, engine=args.engine)))
    elif args.command == "build":
        result = build(args.variant, gpu_arch=args.gpu_arch, engine=args.engine)
        print(f"{result.image_id}  ({result.tag}, {result.seconds:.1f} s) -> {result.id_file}")
    else:
        print(shlex.join(run_command(args.bundle, variant=args.variant, engine=args.engine)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
