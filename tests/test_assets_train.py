"""Real data on CPU end to end: the tiny tokenizer and corpus fetched from a FakeHub as Hub repositories,
frozen, then trained with the Hub gone (from the asset cache, offline), and a run killed with SIGKILL
after a checkpoint resumes to exactly the uninterrupted loss curve.

The resumed curve can only match if the data loader's position is restored: TorchTitan 0.2.2 checkpoints
its ``dataloader`` (the StatefulDataLoader and the text dataset's sample index and token buffer) with the
model, so this test is the proof that it does for real data. The checkpoint's metadata is read to show it.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import pytest
from assets_support import publish_tiny_assets, real_data_experiment
from hub_server import FakeHub
from support import kill_after_a_checkpoint

from primus.backends.torchtitan import train
from primus.backends.torchtitan.metrics_file import read_rows
from primus.cli import main

pytestmark = pytest.mark.slow

STEPS = 8
DETERMINISTIC_FIELDS = ("step", "loss", "lr", "grad_norm")


def columns(bundle: Path) -> list[tuple]:
    return [
        tuple(row[f] for f in DETERMINISTIC_FIELDS) for row in read_rows(bundle / "train" / "metrics.jsonl")
    ]


@pytest.fixture
def frozen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> Path:
    """A bundle pinning the FakeHub's tokenizer and corpus; the FakeHub is shut down before it returns."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("PRIMUS_DATA_PATH", str(tmp_path / "data"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # two shared cores: one thread per step is fastest
    experiment = real_data_experiment(tmp_path, steps=STEPS, seq_len=64, checkpoint_interval=2)
    with FakeHub() as hub:
        publish_tiny_assets(hub)
        monkeypatch.setenv("HF_ENDPOINT", hub.url)  # stays pointing at the closed port below
        assert main(["resolve", "--freeze", "--runs-dir", "runs", str(experiment)]) == 0
    bundle = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert (
        json.loads((bundle / "lock.json").read_text())["assets"]["dataset"]["repo"] == "tiny-org/tiny-corpus"
    )
    return bundle


def test_a_frozen_bundle_retrains_offline_and_resumes_after_kill_9_on_the_same_curve(frozen, tmp_path):
    # The uninterrupted reference: the same bundle content in another runs folder, trained without the Hub.
    reference = tmp_path / "reference" / frozen.parent.name / frozen.name
    shutil.copytree(frozen, reference)
    assert train(reference) == 0
    rows = read_rows(reference / "train" / "metrics.jsonl")
    assert [row["step"] for row in rows] == list(range(1, STEPS + 1))
    assert all(math.isfinite(row["loss"]) for row in rows)
    log = (reference / "train" / "train.log").read_text()
    cache = Path(os.environ["PRIMUS_DATA_PATH"]) / "assets" / "snapshots"
    assert f"Preparing c4_test dataset from {cache}/datasets--tiny-org--tiny-corpus/" in log
    assert not (tmp_path / "reference" / "runs").exists()

    checkpoint = kill_after_a_checkpoint(frozen, STEPS)
    metadata = (frozen / "train" / "checkpoint" / f"step-{checkpoint}" / ".metadata").read_bytes()
    assert b"dataloader" in metadata  # the loader's position is part of the checkpoint
    assert train(frozen) == 0
    assert f"Training starts at step {checkpoint + 1}" in (frozen / "train" / "train.log").read_text()
    assert columns(frozen) == columns(reference)
