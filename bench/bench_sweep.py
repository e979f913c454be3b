"""Time sweep planning: load, validate and hash every point (targets: 100 points under 2 s, 1,000 under 10 s).

Each row is ``primus-cli sweep plan`` over a grid of the CPU default experiment (optimizer.lr x debug.seed),
timed as a user runs it: a fresh Python process, imports, reading the sweep file, then every point through
the validate stage and the bundle hash, then the table. The baseline is the same command over a one-point
sweep, measured in the same run; the cost per point is the difference divided by the extra points. The last
row is Snakemake's dry run of ``snakemake sweep`` over the 100 points (parse-time planning plus building the
DAG of 4 jobs per point), beside a dry run of the one-point sweep.

    .venv/bin/python bench/bench_sweep.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from bench_validate import timed  # bench/ is on sys.path when a script here runs

REPO = Path(__file__).resolve().parents[1]
BASE = REPO / "examples/torchtitan/configs/CPU/llama3_debugmodel-pretrain.yaml"
TARGETS_S = {100: 2.0, 1000: 10.0}


def sweep_file(folder: Path, points: int) -> Path:
    """A grid of ``points`` points: 10 seeds x points/10 learning rates (one point: no axes)."""
    path = folder / f"sweep-{points}.yaml"
    if points == 1:
        path.write_text(f"base: {BASE}\n", encoding="utf-8")
        return path
    rates = ", ".join(f"{(i + 1) * 1e-5:.6g}" for i in range(points // 10))
    seeds = ", ".join(str(seed) for seed in range(10))
    path.write_text(
        f"base: {BASE}\ngrid:\n  optimizer.lr: [{rates}]\n  debug.seed: [{seeds}]\n", encoding="utf-8"
    )
    return path


def median_run(argv: list[str], cwd: Path, repeats: int) -> tuple[float, float]:
    runs = [timed(argv, cwd) for _ in range(repeats)]
    return statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each command (median reported)")
    args = parser.parse_args()
    python = sys.executable
    failed = False
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        folder = Path(tmp)
        plan = [python, "-m", "primus.cli", "sweep", "plan"]
        timed([*plan, str(sweep_file(folder, 1))], folder)  # warm the file cache
        base_wall, base_cpu = median_run([*plan, str(sweep_file(folder, 1))], folder, args.repeats)
        print("| sweep | wall s (median) | CPU s | per extra point ms | target s | ok |")
        print("|---|---:|---:|---:|---:|---|")
        print(f"| baseline: 1 point | {base_wall:.2f} | {base_cpu:.2f} | - | - | - |")
        for points, target in TARGETS_S.items():
            wall, cpu = median_run([*plan, str(sweep_file(folder, points))], folder, args.repeats)
            per_point = (wall - base_wall) / (points - 1) * 1000
            ok = wall < target
            failed |= not ok
            print(
                f"| {points:,} points | {wall:.2f} | {cpu:.2f} | {per_point:.1f} | {target} "
                f"| {'yes' if ok else 'NO'} |"
            )
        snakemake = [
            python,
            "-m",
            "snakemake",
            "-s",
            str(REPO / "Snakefile"),
            "-n",
            "sweep",
            "--config",
        ]
        one_wall, _ = median_run([*snakemake, f"sweep={sweep_file(folder, 1)}"], folder, 1)
        dag_wall, dag_cpu = median_run([*snakemake, f"sweep={sweep_file(folder, 100)}"], folder, 1)
        print(
            f"| snakemake -n sweep, 100 points (1 point: {one_wall:.2f} s) | {dag_wall:.2f} "
            f"| {dag_cpu:.2f} | {(dag_wall - one_wall) / 99 * 1000:.1f} | - | - |"
        )
    print(f"load average during the run: {os.getloadavg()[0]:.1f}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
