"""Real TorchTitan training on CPU through our launcher: llama3 debugmodel, seq_len 64, a few steps.

One reference run (6 steps, checkpoint every 2) is shared; a second run of the same bundle content is
killed with SIGKILL after a checkpoint and trained again, and must end with the same metrics.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from support import all_gone, freeze_config, kill_after_a_checkpoint, process_tree

from primus.backends.torchtitan import train
from primus.backends.torchtitan.metrics_file import read_rows
from primus.errors import LaunchError

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
ASSETS = REPO / "tests" / "assets"
CPU_DEFAULT = REPO / "examples/torchtitan/configs/CPU/llama3_debugmodel-pretrain.yaml"
EXTENSION = "primus.backends.torchtitan.primus_turbo_extensions.config_extension"
STEPS = 6
# Columns that must match between runs; throughput and timings legitimately differ.
DETERMINISTIC_FIELDS = ("step", "loss", "lr", "grad_norm")


def write_bundle(folder: Path, **sections: dict) -> Path:
    """A frozen bundle under ``folder`` for a short deterministic mock-data run."""
    config = {
        "job": {"description": "test run", "custom_config_module": EXTENSION},
        "model": {"name": "llama3", "flavor": "debugmodel"},
        "training": {"mock_data": True, "seq_len": 64, "local_batch_size": 2, "steps": STEPS},
        "lr_scheduler": {"warmup_steps": 2},
        "metrics": {"log_freq": 1},
        "checkpoint": {"enable": True, "folder": "checkpoint", "interval": 2},
        "debug": {"seed": 42, "deterministic": True},
    }
    for name, values in sections.items():
        config.setdefault(name, {}).update(values)
    return freeze_config(folder, config)


@pytest.fixture(scope="module", autouse=True)
def single_thread_torch():
    # Two cores shared by many processes: OpenMP threads that spin on each other make a step many
    # times slower than one thread does.
    saved = {name: os.environ.get(name) for name in ("OMP_NUM_THREADS", "HF_DATASETS_OFFLINE")}
    os.environ.update(OMP_NUM_THREADS="1", HF_DATASETS_OFFLINE="1")
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


#: As the shipped Primus presets and CPU examples set them: the deprecated extension field, fp32 on a CPU.
REFERENCE = {
    "experimental": {"custom_args_module": EXTENSION},
    "training": {"mixed_precision_param": "float32"},
}


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory) -> Path:
    bundle = write_bundle(tmp_path_factory.mktemp("reference") / "bundle", **REFERENCE)
    shown = io.StringIO()  # not a terminal: the progress view prints one line per logged step
    with contextlib.redirect_stdout(shown):
        assert train(bundle) == 0
    (bundle.parent / "stdout.txt").write_text(shown.getvalue())
    return bundle


def deterministic_columns(bundle: Path) -> list[tuple]:
    return [
        tuple(row[field] for field in DETERMINISTIC_FIELDS)
        for row in read_rows(bundle / "train" / "metrics.jsonl")
    ]


def test_training_completes_with_finite_decreasing_loss(reference_run):
    rows = read_rows(reference_run / "train" / "metrics.jsonl")
    assert [row["step"] for row in rows] == list(range(1, STEPS + 1))
    losses = [row["loss"] for row in rows]
    assert all(isinstance(loss, float) and math.isfinite(loss) for loss in losses)
    assert sum(losses[-3:]) / 3 < losses[0] - 0.5
    assert all(
        row["tokens_per_second"] > 0 and row["step_time_s"] > 0 and row["memory_gib"] > 0 for row in rows
    )
    done = json.loads((reference_run / "train" / "DONE").read_text())
    assert (done["step"], done["steps"], done["device"], done["threads"]) == (STEPS, STEPS, "cpu", 1)
    checkpoints = sorted(p.name for p in (reference_run / "train" / "checkpoint").iterdir())
    assert "step-2" in checkpoints and f"step-{STEPS}" in checkpoints
    assert "Training completed" in (reference_run / "train" / "train.log").read_text()


def test_the_progress_view_shows_each_step_and_the_log_holds_torchtitan_without_noise(reference_run):
    shown = (reference_run.parent / "stdout.txt").read_text().splitlines()
    progress = [line for line in shown if line.startswith("step ")]
    assert [line.split()[1] for line in progress] == [f"{step}/{STEPS}" for step in range(1, STEPS + 1)]
    assert progress[0].endswith("| ETA ?") and re.search(r"\| ETA \d+:\d\d:\d\d$", progress[1])
    assert not any("[titan]" in line for line in shown)  # TorchTitan's own lines stay in train.log
    log = (reference_run / "train" / "train.log").read_text()
    assert "loss: " in log and "tflops: " in log
    for noise in (
        "\x1b[",  # colour codes
        "mfu: ",  # against an A100's peak on a CPU
        "Peak flops undefined",
        "HF assets path",  # mock data reads no assets
        "This field is being moved",  # the deprecated extension field names the module already copied
        "In CPU autocast",  # float32 on a CPU: nothing to autocast
        "TORCH_NCCL_ASYNC_ERROR_HANDLING] = 1 will be overridden",  # torchrun's default, not the user's
    ):
        assert noise not in log, noise


def test_running_a_complete_bundle_again_trains_nothing(reference_run, capsys):
    before = (reference_run / "train" / "metrics.jsonl").read_text()
    assert train(reference_run) == 0
    assert f"training already complete (step {STEPS})" in capsys.readouterr().out
    assert (reference_run / "train" / "metrics.jsonl").read_text() == before


def test_a_run_killed_after_a_checkpoint_resumes_to_the_uninterrupted_metrics(reference_run, tmp_path):
    bundle = write_bundle(tmp_path / "bundle", **REFERENCE)
    train_dir = bundle / "train"
    checkpoint = kill_after_a_checkpoint(bundle, STEPS)  # kill -9 of the train process alone

    assert train(bundle) == 0
    assert deterministic_columns(bundle) == deterministic_columns(reference_run)
    log = (train_dir / "train.log").read_text()
    assert f"Training starts at step {checkpoint + 1}" in log


def test_real_data_trains_with_a_local_tokenizer_and_corpus(tmp_path):
    bundle = write_bundle(
        tmp_path / "bundle",
        model={"hf_assets_path": str(ASSETS / "tokenizer")},
        training={
            "mock_data": False,
            "dataset": "c4_test",
            "dataset_path": str(ASSETS / "data" / "tiny_corpus"),
            "steps": 3,
        },
        checkpoint={"enable": False},
    )
    assert train(bundle) == 0
    rows = read_rows(bundle / "train" / "metrics.jsonl")
    assert [row["step"] for row in rows] == [1, 2, 3]
    assert all(math.isfinite(row["loss"]) for row in rows)
    assert "Preparing c4_test dataset from" in (bundle / "train" / "train.log").read_text()


def test_a_failing_run_raises_launch_error_with_the_log_tail(tmp_path):
    bundle = write_bundle(tmp_path / "bundle", model={"flavor": "no_such_flavor"})
    with pytest.raises(LaunchError) as caught:
        train(bundle)
    error = caught.value
    log = bundle / "train" / "train.log"
    assert error.file == str(log)
    assert error.message.startswith(
        "training failed: torchrun exited with code 1; failed: rank 0 (local rank 0) exit 2\n"
        "--- last lines of "
    )
    assert "error: model.flavor: model 'llama3' has no flavor 'no_such_flavor'" in error.message
    assert (
        error.hint
        == "fix the cause the log shows, then run train again (it resumes from the latest checkpoint)"
    )
    assert error.exit_code == 1
    assert not (bundle / "train" / "DONE").exists()


def _start_direct(runs: Path, *extra: str, stderr: Any = subprocess.DEVNULL) -> subprocess.Popen:
    """``setsid ./primus-cli direct -- train pretrain`` of the CPU default (40 short steps), at step 3."""
    direct = [str(REPO / "primus-cli"), "direct", "--", "train", "pretrain", "--config", str(CPU_DEFAULT)]
    launcher = subprocess.Popen(
        [*direct, "--runs-dir", str(runs), "--training.seq_len", "64", "--training.steps", "40", *extra],
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        text=True,
        start_new_session=True,  # setsid: the launcher leads its own process group
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        rows = [row for path in runs.glob("*/*/train/metrics.jsonl") for row in read_rows(path)]
        if rows and rows[-1]["step"] >= 3:
            return launcher
        if launcher.poll() is not None:
            pytest.fail("the run ended before it could be stopped")
        time.sleep(0.05)
    launcher.kill()
    pytest.fail("no training step within 300 s")


def _kill_all(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_killing_the_launchers_process_group_stops_its_worker(tmp_path):
    """The issue's reproduction: ``setsid ./primus-cli direct ... & kill -9 -- -$!`` during training."""
    runs = tmp_path / "runs"
    launcher = _start_direct(runs)
    tree = process_tree(launcher.pid)
    try:
        os.killpg(launcher.pid, signal.SIGKILL)
        launcher.wait()
        assert all_gone(tree, within=60), "a worker outlived its killed launcher's process group"
    finally:
        _kill_all(tree)
    assert len(tree) >= 3  # launcher -> torchrun -> worker
    (train_dir,) = runs.glob("*/*/train")
    assert not (train_dir / "DONE").exists()
    assert read_rows(train_dir / "metrics.jsonl")[-1]["step"] < 40


def test_a_damaged_latest_checkpoint_is_set_aside_and_the_run_resumes_from_the_newest_intact_one(
    reference_run, tmp_path, capsys, monkeypatch
):
    """The issue's reproduction: truncate a .distcp file of the latest step, rerun.

    The rerun's shell asks for 2 OpenMP threads: the launcher pins 1 (the bundle's env: sets none), so the
    resumed losses still equal the uninterrupted run's bit for bit, and DONE records how it was computed.
    """
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    bundle = tmp_path / reference_run.parent.name / reference_run.name
    shutil.copytree(reference_run, bundle)
    checkpoints = bundle / "train" / "checkpoint"
    latest = max(int(p.name.split("-")[1]) for p in checkpoints.glob("step-*"))
    assert (checkpoints / f"step-{latest}" / ".primus-intact.json").is_file()
    (data,) = (checkpoints / f"step-{latest}").glob("*.distcp")
    with data.open("r+b") as handle:
        handle.truncate(data.stat().st_size // 2)
    (bundle / "train" / "DONE").unlink()

    assert train(bundle) == 0
    out = capsys.readouterr().out
    assert f"checkpoint step-{latest} is damaged ({data.name} is " in out
    assert f"resuming from the newest intact checkpoint, step-{latest - 2}" in out
    assert f"Training starts at step {latest - 1}" in (bundle / "train" / "train.log").read_text()
    assert (bundle / "train" / "checkpoint.damaged" / f"step-{latest}").is_dir()
    assert deterministic_columns(bundle) == deterministic_columns(reference_run)
    record = json.loads((bundle / "train" / "DONE").read_text())
    assert {key: record[key] for key in ("device", "threads", "world_size", "deterministic")} == {
        "device": "cpu",
        "threads": 1,
        "world_size": 1,
        "deterministic": True,
    }
    assert set(record["versions"]) == {"torch", "torchtitan", "python"}


EVERY_2 = ["--checkpoint.interval", "2"]


@pytest.mark.parametrize(
    ("signal_number", "to_group", "status", "name"),
    [
        (signal.SIGINT, True, 130, "Ctrl-C (SIGINT)"),  # a terminal's Ctrl-C reaches the whole group
        (signal.SIGTERM, False, 143, "SIGTERM"),  # a scheduler stops the launcher
    ],
    ids=["ctrl-c-in-direct", "sigterm"],
)
def test_a_signal_ends_the_run_with_a_message_and_a_clean_state(
    tmp_path, signal_number, to_group, status, name
):
    runs = tmp_path / "runs"
    launcher = _start_direct(runs, *EVERY_2, stderr=subprocess.PIPE)
    tree = process_tree(launcher.pid)
    try:
        (os.killpg if to_group else os.kill)(launcher.pid, signal_number)
        _, err = launcher.communicate(timeout=120)
        assert all_gone(tree, within=30), "a worker outlived the interrupted run"
    finally:
        _kill_all(tree)
    assert launcher.returncode == status, err
    assert f"training interrupted by {name} at step " in err
    assert "run the same command again to resume from checkpoint step-" in err
    assert "Traceback" not in err and "training failed" not in err
    (train_dir,) = runs.glob("*/*/train")
    assert not (train_dir / "DONE").exists()


TRAIN_CLI = [sys.executable, "-m", "primus.cli", "train", "--bundle"]


def _train_after_mounting(mounts: str, bundle: Path) -> subprocess.CompletedProcess:
    """``primus-cli train --bundle`` in a private mount namespace after the shell commands ``mounts``."""
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=4k tmpfs /mnt"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        pytest.skip(f"cannot mount in a private mount namespace here (needs root): {probe.stderr.strip()}")
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", f'{mounts} && exec "$@"', "sh", *TRAIN_CLI, str(bundle)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_full_disk_under_the_log_stops_the_run_with_a_message(tmp_path):
    """ENOSPC in the log writer while torchrun runs: a real one-page (4 KiB) tmpfs under train.log."""
    bundle = write_bundle(tmp_path / "bundle", training={"steps": 12})
    small = tmp_path / "small"
    small.mkdir()
    (bundle / "train").mkdir()
    (bundle / "train" / "train.log").symlink_to(small / "train.log")
    result = _train_after_mounting(f"mount -t tmpfs -o size=4k tmpfs {shlex.quote(str(small))}", bundle)
    assert result.returncode == 1, result.stderr
    assert "cannot write the training log: No space left on device; training was stopped" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (bundle / "train" / "DONE").exists()
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout.splitlines()
    assert not [line for line in ps if str(bundle) in line], "a worker outlived the stopped run"


def test_a_read_only_bundle_is_refused_before_anything_starts(tmp_path):
    bundle = write_bundle(tmp_path / "bundle")
    target = shlex.quote(str(bundle))
    result = _train_after_mounting(
        f"mount --bind {target} {target} && mount -o remount,ro,bind {target}", bundle
    )
    assert result.returncode == 1, result.stderr
    assert "cannot write the run's train/ folder: Read-only file system" in result.stderr
    assert "Traceback" not in result.stderr


def test_tensorboard_given_at_launch_writes_event_files_under_train(tmp_path):
    # TensorBoard is a launch setting (not part of the bundle): the bundle's own config keeps it off.
    bundle = write_bundle(tmp_path / "bundle", training={"steps": 2}, checkpoint={"enable": False})
    assert "enable_tensorboard" not in (bundle / "job_config.toml").read_text()
    with contextlib.redirect_stdout(io.StringIO()):
        assert train(bundle, observability={"metrics.enable_tensorboard": True}) == 0
    events = list((bundle / "train" / "tb").glob("*/events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0
    recorded = json.loads((bundle / "train" / "observability.json").read_text())
    assert recorded == {"metrics.enable_tensorboard": True}
