"""Several processes on one node: the layout setting, its checks, and real 2-process CPU training.

The slow part trains the llama3 CPU example (seq_len 64, 4 steps) with one global batch of 4 split four
ways: 1 process x 4, FSDP 2 x 2, DDP 2 x 2 and tensor parallel 2 x 4, then checks with ``verify --against``
that each reproduces the one-process loss curve. Measured here (torch 2.13.0 CPU, gloo): the largest
difference over the steps is about 2e-7 relative (1e-6 absolute), from the order of floating-point
reductions; the tolerance below is 50 times that. qwen3 (tied embedding/output) trains as FSDP 2 and
matches its one-process curve the same way, and qwen3 with TP is refused before launch on this CPU host.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from primus.backends.torchtitan.launch import check_layout, launch_command, launch_settings
from primus.errors import LaunchError

REPO = Path(__file__).resolve().parents[1]
LLAMA3 = REPO / "examples/torchtitan/configs/CPU/llama3_debugmodel-pretrain.yaml"
QWEN3 = REPO / "examples/torchtitan/configs/CPU/qwen3_debugmodel-pretrain.yaml"
#: Relative loss tolerance between layouts of the same global batch (measured largest: about 2e-7).
LAYOUT_TOLERANCE = 1e-5
SHORT = ["--training.seq_len", "64", "--training.steps", "4", "--lr_scheduler.warmup_steps", "1"]
SHORT += ["--checkpoint.interval", "2", "--metrics.log_freq", "1"]

DP_SHARD = ["--parallelism.data_parallel_shard_degree", "2"]
DP_REPLICATE = [
    "--parallelism.data_parallel_replicate_degree",
    "2",
    "--parallelism.data_parallel_shard_degree",
    "1",
]
TP = ["--parallelism.tensor_parallel_degree", "2", "--parallelism.data_parallel_shard_degree", "1"]


# ------------------------------------------------------------------------------------- launch settings
def test_nproc_per_node_sets_the_processes_on_a_cpu_host():
    settings = launch_settings({"NPROC_PER_NODE": "2"}, local_accelerators=0)
    assert settings.nproc_per_node == 2
    assert settings.sources["nproc_per_node"] == "NPROC_PER_NODE"
    # it wins over GPUS_PER_NODE; without either a CPU host runs one process
    assert (
        launch_settings({"NPROC_PER_NODE": "3", "GPUS_PER_NODE": "8"}, local_accelerators=0).nproc_per_node
        == 3
    )
    assert launch_settings({}, local_accelerators=0).nproc_per_node == 1


def test_a_bad_nproc_per_node_names_the_variable():
    with pytest.raises(LaunchError) as caught:
        launch_settings({"NPROC_PER_NODE": "two"}, local_accelerators=0)
    assert "NPROC_PER_NODE" in caught.value.format()


@pytest.mark.parametrize(
    ("parallelism", "env", "numbers"),
    [
        (
            {"data_parallel_shard_degree": 4},
            {"NPROC_PER_NODE": "2"},
            ["dp_shard(4)", "= 4 ranks", "1 node(s)", "2 process(es) per node", "world size 2"],
        ),
        (
            {"data_parallel_shard_degree": -1, "tensor_parallel_degree": 2},
            {"NNODES": "3", "NODE_RANK": "0", "MASTER_ADDR": "n1", "NPROC_PER_NODE": "1"},
            ["tp(2)", "that 2 divides", "3 node(s) [NNODES]", "world size 3"],
        ),
    ],
)
def test_a_world_size_that_does_not_fit_the_degrees_is_refused_naming_every_number(parallelism, env, numbers):
    settings = launch_settings(env, local_accelerators=0)
    with pytest.raises(LaunchError) as caught:
        check_layout({"parallelism": parallelism}, settings)
    message = caught.value.format()
    for number in numbers:
        assert number in message, message


def test_fitting_layouts_pass():
    two = launch_settings({"NPROC_PER_NODE": "2"}, local_accelerators=0)
    for parallelism in ({"data_parallel_shard_degree": 2}, {"data_parallel_shard_degree": -1}, {}):
        check_layout({"parallelism": parallelism}, two)
    check_layout({"parallelism": {"data_parallel_shard_degree": 1, "tensor_parallel_degree": 2}}, two)


def test_qwen3_tensor_parallel_is_refused_before_launch_on_a_cpu_host(tmp_path, monkeypatch):
    for name in ("CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # no accelerator, whatever this host has
    job = {
        "model": {"name": "qwen3"},
        "parallelism": {"tensor_parallel_degree": 2, "data_parallel_shard_degree": 1},
    }
    with pytest.raises(LaunchError) as caught:
        launch_command(tmp_path, env={"NPROC_PER_NODE": "2", "CUDA_VISIBLE_DEVICES": ""}, job_config=job)
    message = caught.value.format()
    assert "tensor_parallel_degree 2 cannot train qwen3" in message
    assert "data_parallel_shard_degree" in message  # the hint says what works instead
    job["model"]["name"] = "llama3"
    assert launch_command(tmp_path, env={"NPROC_PER_NODE": "2", "CUDA_VISIBLE_DEVICES": ""}, job_config=job)


def test_validation_counts_nproc_per_node_into_the_world_size():
    from primus.config import load_experiment
    from primus.errors import ConfigErrors
    from primus.validate import validate

    resolved = load_experiment(LLAMA3, ["--parallelism.data_parallel_shard_degree", "4"], env={})
    with pytest.raises(ConfigErrors) as caught:
        validate(resolved, env={"NPROC_PER_NODE": "2"})
    assert "WORLD_SIZE(2), from one node(1) * NPROC_PER_NODE(2)" in caught.value.format()
    validate(resolved, env={"NPROC_PER_NODE": "2", "NNODES": "2"})


def test_the_qwen3_tensor_parallel_refusal_is_a_preflight_error_too():
    from primus.config import load_experiment
    from primus.errors import ConfigErrors
    from primus.validate import validate
    from primus.validate.machine import Host

    resolved = load_experiment(QWEN3, TP, env={})
    with pytest.raises(ConfigErrors) as caught:
        validate(
            resolved,
            preflight=True,
            env={"NPROC_PER_NODE": "2"},
            host=Host(accelerator=None, memory_bytes=None),
        )
    assert "parallelism.tensor_parallel_degree" in caught.value.format()
    validate(
        resolved,
        preflight=True,
        env={"NPROC_PER_NODE": "2"},
        host=Host(accelerator="rocm", memory_bytes=None),
    )


# ------------------------------------------------------------------------------------- real training
def _train(experiment: Path, runs: Path, nproc: int, *overrides: str) -> Path:
    """``primus-cli train EXPERIMENT --nproc-per-node N OVERRIDES``; returns the bundle it trained."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    env.pop("NPROC_PER_NODE", None)
    command = [sys.executable, "-m", "primus.cli", "train", str(experiment), "--runs-dir", str(runs)]
    command += ["--nproc-per-node", str(nproc), *SHORT, *overrides]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("bundle:")]
    return Path(line.split(None, 1)[1])


def _verify_against(bundle: Path, reference: Path) -> dict:
    from primus.verify import outputs_dir, verify

    verdict = verify(bundle, against=reference, tolerance=LAYOUT_TOLERANCE)
    assert verdict.passed, [(c.name, c.message) for c in verdict.checks]
    # a comparison is written beside the run's own verdict: verify/against-<reference hash>/
    return json.loads((outputs_dir(bundle, reference) / "verdict.json").read_text())


@pytest.fixture(scope="module")
def llama3_one_process(tmp_path_factory) -> Path:
    return _train(LLAMA3, tmp_path_factory.mktemp("runs"), 1, "--training.local_batch_size", "4")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "local_batch", "layout"),
    [("fsdp", "2", DP_SHARD), ("ddp", "2", DP_REPLICATE), ("tp", "4", TP)],
)
def test_two_process_llama3_layouts_reproduce_the_one_process_curve(
    llama3_one_process, tmp_path, name, local_batch, layout
):
    bundle = _train(LLAMA3, tmp_path, 2, "--training.local_batch_size", local_batch, *layout)
    _verify_against(bundle, llama3_one_process)
    # grad norms agree too: DDP's gradients are the global batch's, not averaged a second time
    mine = [json.loads(row) for row in (bundle / "train" / "metrics.jsonl").read_text().splitlines()]
    ref = [
        json.loads(row) for row in (llama3_one_process / "train" / "metrics.jsonl").read_text().splitlines()
    ]
    for a, b in zip(mine, ref, strict=True):
        assert a["grad_norm"] == pytest.approx(b["grad_norm"], rel=1e-4)


@pytest.mark.slow
def test_qwen3_with_tied_weights_trains_as_fsdp_2_and_matches_one_process(tmp_path):
    few = ["--training.steps", "2", "--checkpoint.interval", "1"]
    reference = _train(QWEN3, tmp_path / "one", 1, "--training.local_batch_size", "4", *few)
    fsdp = _train(QWEN3, tmp_path / "fsdp", 2, "--training.local_batch_size", "2", *few, *DP_SHARD)
    assert "Applied FSDP to the model" in (fsdp / "train" / "train.log").read_text()
    _verify_against(fsdp, reference)
