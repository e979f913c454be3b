"""Time the Snakemake workflow's own cost: no-op rerun and overhead on top of ``primus-cli direct``.

Prints a Markdown table:
| measurement | seconds | target s | ok |

- ``snakemake --version``: Snakemake's start-up alone (imports, plugins), the floor under every call.
- ``planning at parse time``: what the Snakefile adds to every snakemake call, measured as a first call in
  this interpreter: import primus, find, load and validate the experiment, compute the bundle hash.
- ``no-op rerun``: ``snakemake train`` when everything is up to date ("Nothing to be done"); median of
  ``--repeats``. Target 2 s.
- ``primus-cli direct`` / ``primus-cli verify``: the same stages without Snakemake, in a fresh runs folder.
- ``workflow, fresh``: ``snakemake train`` in a fresh folder (validate, freeze, train, verify).
- ``workflow overhead``: workflow minus (direct + verify). Target 3 s.

The experiment is the CPU default shortened to ``--steps`` steps, written into a temporary folder; nothing
is written into the repository. Exit status 1 when a target is missed. Timings on a shared, loaded machine
swing widely: compare rows of one table, not tables from different moments.

    .venv/bin/python bench/bench_workflow.py [--steps 4] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CPU_DEFAULT = REPO / "examples/torchtitan/configs/CPU/llama3_debugmodel-pretrain.yaml"
NOOP_TARGET_S = 2.0
OVERHEAD_TARGET_S = 3.0


def shortened_experiment(folder: Path, steps: int) -> Path:
    """The CPU default with ``steps`` steps, warmup 1 and a checkpoint every 2 steps."""
    text = CPU_DEFAULT.read_text(encoding="utf-8")
    for old, new in (
        ("steps: 50", f"steps: {steps}"),
        ("warmup_steps: 5", "warmup_steps: 1"),
        ("interval: 10", "interval: 2"),
    ):
        if old not in text:
            raise SystemExit(f"{CPU_DEFAULT} no longer contains {old!r}; update bench/bench_workflow.py")
        text = text.replace(old, new)
    path = folder / "bench_experiment.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def timed(command: list[str], cwd: Path) -> float:
    """Wall seconds of ``command``; exits with its output when it fails."""
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.stderr.write(result.stdout)
        raise SystemExit(f"{' '.join(command)} exited {result.returncode}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--steps", type=int, default=4, help="training steps of the benchmark run (default 4)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="repetitions of the quick measurements")
    args = parser.parse_args(argv)

    python = sys.executable
    snakemake = [python, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-c2"]
    rows: list[tuple[str, float, float | None]] = []

    with tempfile.TemporaryDirectory(prefix="bench-workflow-") as tmp:
        tmp_path = Path(tmp)
        experiment = shortened_experiment(tmp_path, args.steps)
        version = [timed([python, "-m", "snakemake", "--version"], tmp_path) for _ in range(args.repeats)]
        rows.append(("snakemake --version (start-up floor)", statistics.median(version), None))

        start = time.perf_counter()
        from primus.workflow import plan_run

        plan = plan_run({"exp": str(experiment)}, root=REPO)
        rows.append(
            ("planning at parse time (imports, load, validate, hash)", time.perf_counter() - start, None)
        )

        direct_dir = tmp_path / "direct"
        direct_dir.mkdir()
        direct = timed(
            [python, "-m", "primus.cli", "direct", "--", "train", "pretrain", "--config", str(experiment)],
            direct_dir,
        )
        verify = timed([python, "-m", "primus.cli", "verify", str(plan.bundle)], direct_dir)
        rows.append(("primus-cli direct (load, validate, freeze, train)", direct, None))
        rows.append(("primus-cli verify", verify, None))

        flow_dir = tmp_path / "workflow"
        flow_dir.mkdir()
        fresh = timed([*snakemake, "train", "--config", f"exp={experiment}"], flow_dir)
        rows.append(("workflow, fresh (validate, freeze, train, verify)", fresh, None))
        rows.append(
            ("workflow overhead = fresh - direct - verify", fresh - direct - verify, OVERHEAD_TARGET_S)
        )

        noop = [
            timed([*snakemake, "train", "--config", f"exp={experiment}"], flow_dir)
            for _ in range(args.repeats)
        ]
        rows.append((f"no-op rerun, median of {args.repeats}", statistics.median(noop), NOOP_TARGET_S))

    failed = False
    print("| measurement | seconds | target s | ok |")
    print("|---|---:|---:|---|")
    for name, seconds, target in rows:
        ok = "" if target is None else ("yes" if seconds <= target else "no")
        failed |= ok == "no"
        print(f"| {name} | {seconds:.2f} | {'' if target is None else f'{target:.1f}'} | {ok} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
