"""Training throughput and start-up through our launcher vs raw TorchTitan, plus the mock-data share.

    .venv/bin/python bench/bench_train.py [--steps 20] [--seq-len 128] [--batch 2] [--repeats 2]

What is compared, on the same job_config.toml (llama3 debugmodel, real data: the tiny tokenizer and corpus
in tests/assets, because raw TorchTitan cannot read Primus's ``training.mock_data``):

- **ours**: the exact argv of ``primus.backends.torchtitan.launch_command`` (torchrun -> our entry:
  CPU patches when there is no accelerator, TorchTitan's Trainer with our TrainSpec builders and the
  metrics.jsonl logger).
- **raw**: ``torchrun ... --job.config_file`` on the same TOML running TorchTitan's stock
  ``torchtitan.train.main(Trainer)``. On a GPU host that is literally ``-m torchtitan.train``. On a
  CPU-only torch the raw entry cannot run at all (it picks device "cuda" and fails in
  ``_cuda_setDevice``), so the baseline is a two-line runner that applies the same minimal CPU patches
  (``cpu_runtime.apply_cpu_patches``: device names rebound inside TorchTitan, torch untouched) and then
  calls the stock main. Everything else in the baseline is TorchTitan's.

Runs alternate (ours, raw, ours, raw ...) so machine load drifts hit both; each figure is the median over
repeats. tokens/s is TorchTitan's own per-step ``tps`` log value for steps after the first two (compile-
free warm-up), read the same way for both. Start-up is wall time from process start to the step-1 log
line. The mock-data share is TorchTitan's ``time_metrics/data_loading(%)`` averaged over steps after
step 1 of a mock-data run through our launcher (our metrics logger writes it to train.log).

Targets: tokens/s ratio ours/raw >= 0.98; start-up <= raw + 2 s; mock data < 2 % of step time.
Prints a Markdown table (merged into bench/RESULTS.md by hand).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import tomli_w

REPO = Path(__file__).resolve().parents[1]
ASSETS = REPO / "tests" / "assets"
sys.path.insert(0, str(REPO))

from primus.backends.torchtitan.launch import ENTRY_MODULE, environment_for_launch, launch_command  # noqa: E402
from primus.backends.torchtitan.metrics_file import DATA_LOADING_SUMMARY  # noqa: E402

EXTENSION = "primus.backends.torchtitan.primus_turbo_extensions.config_extension"
RAW_CPU_RUNNER = """\
import sys
from primus.backends.torchtitan import cpu_runtime
if cpu_runtime.needs_cpu_patches():
    cpu_runtime.apply_cpu_patches()
import torchtitan.train
torchtitan.train.main(torchtitan.train.Trainer)
"""
STEP_LINE = re.compile(r"step:\s*(\d+).*?tps: ([\d,]+)")
SUMMARY_LINE = re.compile(re.escape(DATA_LOADING_SUMMARY) + r": ([\d.]+)%")


def write_bundle(folder: Path, *, steps: int, seq_len: int, batch: int, mock: bool) -> Path:
    training = {"steps": steps, "seq_len": seq_len, "local_batch_size": batch, "mock_data": mock}
    if not mock:
        training |= {"dataset": "c4_test", "dataset_path": str(ASSETS / "data" / "tiny_corpus")}
    config = {
        "job": {"description": "bench", "custom_config_module": EXTENSION},
        "model": {
            "name": "llama3",
            "flavor": "debugmodel",
            "hf_assets_path": str(ASSETS / "tokenizer"),
        },
        "training": training,
        "metrics": {"log_freq": 1},
        "debug": {"seed": 0},
    }
    folder.mkdir(parents=True)
    (folder / "job_config.toml").write_text(tomli_w.dumps(config))
    (folder / "resolved.yaml").write_text("{}\n")
    return folder


def raw_command(bundle: Path, runner: Path) -> list[str]:
    """Our argv with the entry swapped for stock TorchTitan (or its CPU-patched stand-in)."""
    argv = launch_command(bundle, env=os.environ)
    position = argv.index(ENTRY_MODULE)
    from primus.backends.torchtitan.cpu_runtime import needs_cpu_patches

    if needs_cpu_patches():
        return [*argv[: position - 1], str(runner), *argv[position + 1 :]]
    return [*argv[:position], "torchtitan.train", *argv[position + 1 :]]


def timed_run(argv: list[str]) -> dict:
    """Run ``argv``; returns start-up seconds to the step-1 line, per-step tps, and the data share."""
    started = time.perf_counter()
    first_step_at = None
    tps: dict[int, float] = {}
    share = None
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment_for_launch()
    )
    lines = []
    for line in process.stdout or ():
        lines.append(line)
        match = STEP_LINE.search(re.sub(r"\x1b\[[0-9;]*m", "", line))
        if match:
            step = int(match.group(1))
            tps[step] = float(match.group(2).replace(",", ""))
            if step == 1 and first_step_at is None:
                first_step_at = time.perf_counter() - started
        summary = SUMMARY_LINE.search(line)
        if summary:
            share = float(summary.group(1))
    if process.wait() != 0:
        sys.exit("benchmark run failed:\n" + "".join(lines[-30:]))
    steady = [value for step, value in tps.items() if step > 2]
    return {"startup_s": first_step_at, "tps": statistics.median(steady), "data_pct": share}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20, help="training steps per run")
    parser.add_argument("--seq-len", type=int, default=128, help="tokens per sample")
    parser.add_argument("--batch", type=int, default=2, help="samples per step")
    parser.add_argument("--repeats", type=int, default=4, help="runs of each kind (alternating)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_train_") as scratch:
        root = Path(scratch)
        runner = root / "raw_cpu_runner.py"
        runner.write_text(RAW_CPU_RUNNER)
        ours, raw = [], []
        shape = {"steps": args.steps, "seq_len": args.seq_len, "batch": args.batch}
        for repeat in range(args.repeats):
            ours_bundle = write_bundle(root / f"ours{repeat}", mock=False, **shape)
            raw_bundle = write_bundle(root / f"raw{repeat}", mock=False, **shape)
            # ours-raw, then raw-ours: a steady drift in machine load cancels out over pairs of repeats.
            order = [("ours", ours_bundle), ("raw", raw_bundle)]
            for kind, bundle in order if repeat % 2 == 0 else reversed(order):
                if kind == "ours":
                    ours.append(timed_run(launch_command(bundle, env=os.environ)))
                else:
                    raw.append(timed_run(raw_command(bundle, runner)))
        mock = timed_run(launch_command(write_bundle(root / "mock", mock=True, **shape), env=os.environ))

    def median(runs: list[dict], key: str) -> float:
        return statistics.median(run[key] for run in runs)

    ratio = median(ours, "tps") / median(raw, "tps")
    startup_delta = median(ours, "startup_s") - median(raw, "startup_s")
    print(
        f"### Training: llama3 debugmodel, seq_len {args.seq_len}, batch {args.batch}, {args.steps} steps, "
        f"{args.repeats} runs each, {platform.machine()} {os.cpu_count()} cores, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}\n"
    )
    print("| measure | ours | raw TorchTitan | result | target |")
    print("|---|---|---|---|---|")
    print(
        f"| tokens/s (median, steps > 2) | {median(ours, 'tps'):,.0f} | {median(raw, 'tps'):,.0f} | "
        f"ratio {ratio:.3f} | >= 0.98 |"
    )
    print(
        f"| start-up to step 1 (s) | {median(ours, 'startup_s'):.2f} | {median(raw, 'startup_s'):.2f} | "
        f"{startup_delta:+.2f} s | <= +2 s |"
    )
    print(f"| mock data loading (% of step time) | {mock['data_pct']:.3f} | n/a | | < 2 % |")
    print(f"| mock-data tokens/s (median) | {mock['tps']:,.0f} | n/a | | |")


if __name__ == "__main__":
    main()
