"""Worst-case time to answer an input under the size limit (target: every one under 2 s).

The size limit is in bytes (10 MiB), the cost of reading a config is per node, per placeholder, per
problem. Each row is a file just under the size limit (or the node limit) shaped to be as expensive as
this pipeline allows: one flow list of 4 M items, a block list, thousands of unknown keys with long
names, a value packed with ``${...}`` placeholders, thousands of unknown converters, a 9 MB string,
``extends:`` naming one preset 19,000 times, an alias bomb. Each is answered by ``primus-cli validate``
in a fresh process, as a user would run it; the baseline row validates the shipped CPU example in the
same run. Before the node and placeholder limits, the flow list took 23 s and 1.9 GB and the block list
228 s (issue 13).

    .venv/bin/python bench/bench_hostile_inputs.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CPU_DEFAULT = REPO / "examples/torchtitan/configs/CPU/llama3_debugmodel-pretrain.yaml"
TARGET_S = 2.0
LIMIT_BYTES = 10 * 1024 * 1024


def _under_training(lines: str) -> str:
    """The CPU example with ``lines`` added under its overrides' ``training:`` section."""
    return CPU_DEFAULT.read_text().replace("      training:\n", "      training:\n" + lines, 1)


def _shapes(folder: Path) -> dict[str, Callable[[], str]]:
    (folder / "base.yaml").write_text("".join(f"k{i}: {i}\n" for i in range(5)))
    laughs = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9)
    )
    return {
        "flow list of 4 M items (8 MB)": lambda: "x: [" + ",".join(["1"] * 4_000_000) + "]\n",
        "block list of 2.5 M items (10 MB)": lambda: "x:\n" + "- 1\n" * 2_500_000,
        "9,990 unknown keys of 1,000 characters": lambda: _under_training(
            "".join(f"        k{i}{'x' * 1000}: 1\n" for i in range(9_990))
        ),
        "9,990 misspelt keys (one suggestion each)": lambda: _under_training(
            "".join(f"        stpes{i}: 1\n" for i in range(9_990))
        ),
        "1.5 M placeholders in one value (9 MB)": lambda: _under_training(
            '        dataset: "' + "${A:1}" * 1_500_000 + '"\n'
        ),
        "2 M unset variables in one value (8 MB)": lambda: _under_training(
            '        dataset: "' + "${A}" * 2_000_000 + '"\n'
        ),
        "19,900 unknown converters": lambda: _under_training("").replace(
            "      training:\n",
            "      model:\n        converters: ["
            + ",".join(f"c{i}" for i in range(19_900))
            + "]\n      training:\n",
            1,
        ),
        "one 9 MB string value": lambda: _under_training('        dataset: "' + "x" * 9_000_000 + '"\n'),
        "extends: one preset 19,000 times": lambda: (
            "extends: [" + ",".join(["base.yaml"] * 19_000) + "]\n" + CPU_DEFAULT.read_text()
        ),
        "alias bomb (10^9 nodes expanded)": lambda: laughs,
    }


def timed(argv: list[str]) -> tuple[float, float, int]:
    """(wall s, CPU s of the child, exit status) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(argv, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if "Traceback" in result.stderr:
        sys.exit(f"{' '.join(argv[:4])} ... printed a traceback:\n{result.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, result.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each input (median reported)")
    args = parser.parse_args()
    validate = [sys.executable, "-m", "primus.cli", "validate", "--quiet"]
    rows = []
    with tempfile.TemporaryDirectory(prefix="hostile-") as tmp:
        folder = Path(tmp)
        inputs = {"baseline: the shipped CPU example": CPU_DEFAULT}
        for name, make in _shapes(folder).items():
            path = folder / f"{len(inputs)}.yaml"
            path.write_text(make())
            size = path.stat().st_size
            assert size <= LIMIT_BYTES, f"{name}: {size} bytes is over the size limit"
            inputs[name] = path
        for name, path in inputs.items():
            runs = [timed([*validate, str(path)]) for _ in range(args.repeats)]
            wall = statistics.median(run[0] for run in runs)
            cpu = statistics.median(run[1] for run in runs)
            rows.append((name, path.stat().st_size, wall, cpu, runs[0][2]))
    worst = max(rows[1:], key=lambda row: row[2])
    print("| input | bytes | exit | wall s (median) | CPU s | target s | ok |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, size, wall, cpu, status in rows:
        ok = "yes" if wall < TARGET_S else "NO"
        print(f"| {name} | {size:,} | {status} | {wall:.2f} | {cpu:.2f} | {TARGET_S} | {ok} |")
    print(
        f"| **worst case: {worst[0]}** | {worst[1]:,} | {worst[4]} | **{worst[2]:.2f}** | {worst[3]:.2f} | "
        f"{TARGET_S} | {'yes' if worst[2] < TARGET_S else 'NO'} |"
    )
    print(f"load average during the run: {__import__('os').getloadavg()[0]:.1f}", file=sys.stderr)
    return 0 if all(row[2] < TARGET_S for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
