"""Run every benchmark in bench/ and write bench/RESULTS.md (``make bench``).

Each script measures its own baseline in the same run and prints a Markdown table; this file only runs
them one after another (never in parallel: they would slow each other down) and records the machine and
its load beside the tables. A script that misses its target exits non-zero; the table still says which row.

    .venv/bin/python bench/run_all.py [--only validate hostile freeze train workflow sweep launch]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
#: Results measured on a GPU host by bench/gpu_smoke.sh; make bench has no GPU, so it copies them verbatim.
RECORDED = sorted(BENCH.glob("results-gpu-*.md"))
SUITES = {
    "validate": ("Validation speed (issue: 25+ files in one call under 1 s)", ["bench_validate.py"]),
    "hostile": (
        "Worst-case time to answer an input under the size limit (target: each under 2 s)",
        ["bench_hostile_inputs.py"],
    ),
    "freeze": (
        "Freezing the seed's qwen3_8B experiment (target under 0.5 s)",
        ["bench_freeze.py", "--header"],
    ),
    "train": ("Training through primus-cli vs raw TorchTitan (llama3 debugmodel)", ["bench_train.py"]),
    "workflow": ("Snakemake overhead and no-op rerun", ["bench_workflow.py"]),
    "sweep": ("Sweep planning (targets: 100 points under 2 s, 1,000 under 10 s)", ["bench_sweep.py"]),
    "launch": ("Launch to first step: 1 x 1, 1 x 2 and 2 x 1 processes (CPU example)", ["bench_launch.py"]),
}


def run_suite(argv: list[str]) -> tuple[str, int]:
    result = subprocess.run([sys.executable, str(BENCH / argv[0]), *argv[1:]], capture_output=True, text=True)
    table = "\n".join(line for line in result.stdout.splitlines() if line.startswith("|"))
    notes = [line for line in result.stderr.splitlines() if line and not line.startswith("[")][-5:]
    text = table + ("\n\n" + "\n".join(f"    {line}" for line in notes) if notes else "")
    return text, result.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=sorted(SUITES), help="run only these suites")
    args = parser.parse_args()
    names = args.only or list(SUITES)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "# Benchmark results",
        "",
        f"Written by `make bench` (bench/run_all.py) on {stamp}: {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, load average "
        f"{os.getloadavg()[0]:.1f} at the start. Every ratio is against a baseline measured in the same run; "
        "see each script's docstring for what is compared.",
    ]
    failed = []
    for name in names:
        title, argv = SUITES[name]
        print(f"running {name} ...", file=sys.stderr, flush=True)
        table, status = run_suite(argv)
        parts += ["", f"## {title}", "", f"`bench/{argv[0]}`", "", table or "(no table: the script failed)"]
        if status:
            failed.append(name)
    for recorded in RECORDED:
        parts += ["", recorded.read_text(encoding="utf-8").strip()]
    (BENCH / "RESULTS.md").write_text("\n".join(parts) + "\n", encoding="utf-8")
    print(f"wrote {BENCH / 'RESULTS.md'}" + (f"; targets missed in: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
