"""Time ``primus-cli validate`` over every shipped example in one call (target: under 1 s).

The whole command is timed as a user runs it: a fresh Python process, imports, loading and validating each
experiment. Wall time on a shared machine swings with load, so CPU time (user + sys of the child) is
reported beside it; the target applies to wall time on an otherwise idle machine. The baseline row is a
bare ``python -c pass`` measured in the same run: what any Python CLI pays before doing anything.

    .venv/bin/python bench/bench_validate.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_S = 1.0


def timed(argv: list[str], cwd: Path = REPO) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) for one run of ``argv``; fails loudly on a non-zero exit."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed:\n{result.stdout}{result.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs of each command (median reported)")
    args = parser.parse_args()

    examples = sorted(str(p.relative_to(REPO)) for p in REPO.glob("examples/*/configs/*/*.yaml"))
    validate = [sys.executable, "-m", "primus.cli", "validate", "--quiet", *examples]
    no_torch = [
        sys.executable,
        "-c",
        "import sys; from primus.cli import main; main(['validate', '--quiet', *sys.argv[1:]]); "
        "assert 'torch' not in sys.modules, 'validate imported torch'",
        *examples,
    ]
    timed(no_torch)  # also warms the file cache; fails the bench if torch was imported
    bare = [timed([sys.executable, "-c", "pass"]) for _ in range(args.repeats)]
    runs = [timed(validate) for _ in range(args.repeats)]
    wall = statistics.median(w for w, _ in runs)
    cpu = statistics.median(c for _, c in runs)
    bare_wall = statistics.median(w for w, _ in bare)
    ok = wall < TARGET_S
    print("| measurement | wall s (median) | CPU s | bare `python -c pass` s | target s | ok |")
    print("|---|---:|---:|---:|---:|---|")
    print(
        f"| validate {len(examples)} shipped experiments, one call | {wall:.3f} | {cpu:.3f} | "
        f"{bare_wall:.3f} | {TARGET_S} | {'yes' if ok else 'NO'} |"
    )
    print(f"load average during the run: {os.getloadavg()[0]:.1f}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
