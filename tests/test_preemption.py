"""SIGTERM / SIGUSR1 during training: a checkpoint at the end of the current step, and a rerun that ends
with exactly the metrics of an uninterrupted run (llama3 CPU example, seq_len 64, 10 steps). SIGUSR1
(SLURM's warning before the time limit) exits 75, the status the SLURM train step requeues; SIGTERM exits
143 (128 + 15) with the interruption message, and is requeued the same way inside SLURM.

SIGTERM goes to ``primus-cli train`` alone (a user, or SLURM's batch shell forwarding it); SIGUSR1 goes to
every process of the run at once, as SLURM's ``--signal=USR1@SECONDS`` does to a job step (torchrun must
survive it). The SLURM requeue path is tested in test_two_nodes.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import process_tree

from primus.backends.torchtitan.metrics_file import read_rows
from primus.errors import EXIT_PREEMPTED

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
LLAMA3 = REPO / "examples/torchtitan/configs/CPU/llama3_debugmodel-pretrain.yaml"
STEPS = 10
SHORT = ["--training.seq_len", "64", "--training.steps", str(STEPS), "--lr_scheduler.warmup_steps", "1"]
SHORT += ["--checkpoint.interval", "4", "--metrics.log_freq", "1"]
DETERMINISTIC_FIELDS = ("step", "loss", "lr", "grad_norm")


def _command(runs: Path) -> list[str]:
    return [sys.executable, "-m", "primus.cli", "train", str(LLAMA3), "--runs-dir", str(runs), *SHORT]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONPATH": str(REPO)}


def _columns(bundle: Path) -> list[tuple]:
    return [tuple(r[f] for f in DETERMINISTIC_FIELDS) for r in read_rows(bundle / "train" / "metrics.jsonl")]


def _bundle(runs: Path) -> Path:
    (bundle,) = runs.glob("*/*/job_config.toml")
    return bundle.parent


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    runs = tmp_path_factory.mktemp("reference")
    subprocess.run(_command(runs), env=_env(), check=True, capture_output=True, timeout=600)
    return _bundle(runs)


def _interrupt(runs: Path, number: int, *, whole_tree: bool) -> subprocess.CompletedProcess:
    """Start training, send ``number`` once step 2 is logged, and wait for it to end."""
    process = subprocess.Popen(
        _command(runs), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            rows = read_rows(next(iter(runs.glob("*/*/train/metrics.jsonl")), Path("/nonexistent")))
            if len(rows) >= 2:
                break
            assert process.poll() is None, process.communicate()[0][-3000:]
            time.sleep(0.2)
        targets = process_tree(process.pid) if whole_tree else [process.pid]
        for pid in targets:
            os.kill(pid, number)
        output, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    return subprocess.CompletedProcess(process.args, process.returncode, output)


@pytest.mark.parametrize(
    ("number", "whole_tree", "status", "message"),
    [
        (signal.SIGTERM, False, 128 + signal.SIGTERM, "training interrupted by SIGTERM at step"),
        (signal.SIGUSR1, True, EXIT_PREEMPTED, "training stopped by SIGUSR1 after step"),
    ],
    ids=["sigterm", "sigusr1-all"],
)
def test_a_stop_signal_checkpoints_the_current_step_and_the_rerun_matches(
    uninterrupted, tmp_path, number, whole_tree, status, message
):
    stopped = _interrupt(tmp_path, number, whole_tree=whole_tree)
    name = signal.Signals(number).name
    assert stopped.returncode == status, stopped.stdout[-3000:]
    assert message in stopped.stdout

    assert "Traceback" not in stopped.stdout.split("training log:")[-1].split("error:")[-1]
    bundle = _bundle(tmp_path)
    record = json.loads((bundle / "train" / "PREEMPTED").read_text())
    step = record["step"]
    assert record["signal"] == name and record["checkpoint"] is True
    assert 2 <= step < STEPS
    assert (bundle / "train" / "checkpoint" / f"step-{step}" / ".metadata").exists()
    assert not (bundle / "train" / "DONE").exists()
    assert [row[0] for row in _columns(bundle)] == list(range(1, step + 1))
    assert f"checkpoint step-{step}" in stopped.stdout  # the message says where a rerun resumes

    resumed = subprocess.run(_command(tmp_path), env=_env(), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    loads = [
        line for line in (bundle / "train" / "train.log").read_text().splitlines() if "Loading the" in line
    ]
    assert any(f"checkpoint/step-{step}" in line for line in loads), loads
    assert not (bundle / "train" / "PREEMPTED").exists()
    assert _columns(bundle) == _columns(uninterrupted)
