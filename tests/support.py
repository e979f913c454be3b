"""Helpers shared by several test files: the seed guide's files and flattening nested configs.

Test files import it as ``from support import ...`` (pytest puts tests/ on sys.path for its test files).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
#: The team's shared folder beside the repository (``$PRIMUS_SHARED_DIR`` elsewhere): the Primus reference
#: corpus and the seed guide. Tests that need a part of it carry ``@pytest.mark.needs_shared("<part>")``
#: and are skipped, with that one reason, where it is absent (conftest.py).
SHARED = Path(os.environ.get("PRIMUS_SHARED_DIR") or REPO.parent / "shared")
#: An unmodified copy of Primus v26.5 (its configs and examples).
REFERENCE_PART = "reference/primus-v26.5"
REFERENCE = SHARED / REFERENCE_PART
SEED_GUIDE_PART = "seeds/adding-a-torchtitan-model-config.md"
SEED_GUIDE = SHARED / SEED_GUIDE_PART

#: The seed guide's section 3 template, byte for byte (also the shipped qwen3_8B.yaml).
GUIDE_MODEL_PRESET = """\
job:
  dump_folder: "./outputs"
  description: "Qwen3 8B training (TorchTitan)"

model:
  name: "qwen3"
  flavor: "8B"
  hf_assets_path: "Qwen/Qwen3-8B"
  converters:
    - primus_turbo
"""

#: The seed guide's section 4 experiment, byte for byte.
GUIDE_EXPERIMENT = """\
work_group: ${PRIMUS_TEAM:amd}
user_name: ${PRIMUS_USER:root}
exp_name: ${PRIMUS_EXP_NAME:qwen3_8B-pretrain}
workspace: ./output

modules:
  pre_trainer:
    framework: torchtitan
    config: pre_trainer.yaml

    # model to run
    model: qwen3_8B.yaml
    overrides:
      sink_level: null
      file_sink_level: DEBUG
      stderr_sink_level: INFO

      metrics:
        log_freq: 1
        enable_wandb: false

      lr_scheduler:
        warmup_steps: 10

      training:
        local_batch_size: 4
        seq_len: 4096
        mock_data: true
        steps: 50
"""

_YAML_BLOCK = re.compile(r"```yaml\n(.*?)```", flags=re.S)


def guide_yaml_blocks() -> list[str]:
    """Every ```yaml block of the seed guide, dedented."""
    return [textwrap.dedent(block) for block in _YAML_BLOCK.findall(SEED_GUIDE.read_text(encoding="utf-8"))]


def guide_section_yaml(number: int) -> str:
    """The first ```yaml block of the guide's section ``number`` (e.g. "## 3. ...")."""
    sections = re.split(r"^## (\d+)\.", SEED_GUIDE.read_text(encoding="utf-8"), flags=re.M)
    body = sections[sections.index(str(number)) + 1]
    return textwrap.dedent(_YAML_BLOCK.search(body).group(1))


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted key -> leaf value; lists and empty mappings are leaves."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


#: Package versions recorded in test bundles (fixed, so hashes do not depend on this machine).
TEST_PACKAGES = {"torch": "2.13.0", "torchtitan": "0.2.2", "primus_turbo": None, "python": "3.11.7"}


def freeze_config(runs_dir: Path, config: dict[str, Any]) -> Path:
    """A real frozen bundle (``check_bundle`` passes) of a nested TorchTitan ``config``, not validated.

    ``train`` checks a bundle before it launches, so launcher and training tests need the real thing rather
    than a folder with a hand-written job_config.toml.
    """
    from hand_built import resolved

    from primus.assets import fetch, sources_of
    from primus.bundle import freeze

    # as the stages do before freezing: local tokenizer/data files go into the (test session's) asset cache
    assets = fetch(sources_of(config), log=lambda text: None)
    return freeze(resolved(base={}), config, runs_dir=runs_dir, packages=TEST_PACKAGES, assets=assets)


# ---------------------------------------------------------------------------------------------- kill -9


def _latest_checkpoint(train_dir: Path) -> int:
    steps = [
        int(p.name.split("-")[1])
        for p in (train_dir / "checkpoint").glob("step-*")
        if (p / ".metadata").exists()
    ]
    return max(steps, default=0)


def process_tree(pid: int) -> list[int]:
    """``pid`` and every descendant (torchrun starts its workers in their own sessions)."""
    tree, index = [pid], 0
    while index < len(tree):
        for task in Path(f"/proc/{tree[index]}/task").glob("*"):
            with contextlib.suppress(OSError):
                tree += [int(child) for child in (task / "children").read_text().split()]
        index += 1
    return tree


def alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting to be reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def all_gone(pids: list[int], *, within: float) -> bool:
    """True once none of ``pids`` is running, polling for at most ``within`` seconds."""
    deadline = time.monotonic() + within
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not any(alive(pid) for pid in pids)


def kill_after_a_checkpoint(bundle: Path, steps: int) -> int:
    """Train ``bundle`` in a child process and kill -9 it once a checkpoint (step 2 to ``steps`` - 3) is
    written and a later step is logged; returns the step of the newest checkpoint once all are gone.

    Only the train process is killed: torchrun gets SIGTERM (parent-death signal) and stops its worker,
    which runs in a session of its own; the helper checks that none of them outlives it. A worker that
    gets SIGTERM saves a checkpoint at the end of its current step first (preemption), so the checkpoint
    a rerun resumes from can be newer than the one seen before the kill.
    """
    import pytest

    from primus.backends.torchtitan.metrics_file import read_rows

    train_dir = Path(bundle) / "train"
    runner = subprocess.Popen(
        [sys.executable, "-c", f"from primus.backends.torchtitan import train; train({str(bundle)!r})"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    tree: list[int] = []
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            checkpoint = _latest_checkpoint(train_dir)
            logged = [row["step"] for row in read_rows(train_dir / "metrics.jsonl")]
            if 2 <= checkpoint < steps - 2 and logged and logged[-1] > checkpoint:
                break
            assert runner.poll() is None, "the run ended before it could be killed"
            time.sleep(0.05)
        else:
            pytest.fail("no checkpoint within 300 s")
        tree = process_tree(runner.pid)
        os.kill(runner.pid, signal.SIGKILL)
        runner.wait()
        assert all_gone(tree[1:], within=120), "torchrun or its worker outlived the train process"
    finally:
        for pid in process_tree(runner.pid) if runner.poll() is None else tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        runner.wait()
    assert len(tree) >= 3  # train -> torchrun -> worker
    assert not (train_dir / "DONE").exists()
    assert read_rows(train_dir / "metrics.jsonl")[-1]["step"] > checkpoint
    return _latest_checkpoint(train_dir)


# ---------------------------------------------------------------------------------------------- SLURM


def bundles_in(output: str) -> set[str]:
    """Bundle folders (runs/<exp_name>/<hash>) named in Snakemake's output."""
    return set(re.findall(r"runs/[^/\s]+/[0-9a-f]{16}", output))


def training_workers(train_dir: Path) -> list[int]:
    """The pids of the TorchTitan workers (not torchrun) training into ``train_dir``, wherever they were
    started (a SLURM job's processes are slurmd's, not the test's)."""
    workers = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            args = cmdline.read_bytes().decode(errors="replace").split("\0")
            if (
                "primus.backends.torchtitan.entry" in args
                and str(train_dir) in args
                and not any(arg.endswith("torchrun") for arg in args)
            ):
                workers.append(int(cmdline.parent.name))
    return workers


def slurm_job_state(job_id: str) -> str:
    """squeue's state of a job (``RUNNING``, ``PENDING``, ``COMPLETING``...); "" once it has left squeue."""
    return subprocess.run(
        ["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True, text=True
    ).stdout.strip()


def release_when_pending(job_id: str, within: float = 120, **updates: str) -> None:
    """Make a requeued job eligible at once: SLURM holds it back (BeginTime) about two minutes, which is
    idle time for a test, not part of what it checks; an admin's ``StartTime=now`` lifts that. ``updates``
    (``TimeLimit="60"``) are set with it."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if slurm_job_state(job_id) == "PENDING":
            fields = [f"{name}={value}" for name, value in {"StartTime": "now", **updates}.items()]
            subprocess.run(["scontrol", "update", f"JobId={job_id}", *fields], capture_output=True)
            return
        time.sleep(0.5)
