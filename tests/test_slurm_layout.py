"""What a SLURM train job asks for, checked before anything is submitted: world size against the
parallelism degrees (every number named), GPUs per node from the platform, never 0 GPUs / 4 GB for a
GPU experiment."""

from __future__ import annotations

from pathlib import Path

import pytest

from primus.errors import ConfigValueError
from primus.workflow import SlurmResources, check_slurm_layout, experiment_platform, plan_run, slurm_resources

REPO = Path(__file__).resolve().parents[1]
CPU_LLAMA3 = "examples/torchtitan/configs/CPU/llama3_debugmodel-pretrain.yaml"


@pytest.mark.parametrize(
    ("platform", "gpus", "mem_mb"), [("MI300X", 8, 0), ("MI355X", 8, 0), ("CPU", 0, 4000)]
)
def test_gpus_per_node_come_from_the_platform(platform, gpus, mem_mb):
    resources = slurm_resources({}, {"parallelism": {}}, platform=platform)
    assert (resources.gpus_per_node, resources.mem_mb) == (gpus, mem_mb)
    requested = resources.snakemake_resources()
    if gpus:
        assert "mem_mb" not in requested  # no 4 GB cap on an 8-GPU node: SLURM's whole-node default
        assert "--gpus-per-node=8" in requested["slurm_extra"]


def test_explicit_settings_win_over_the_platform():
    resources = slurm_resources({"gpus_per_node": 4, "mem_mb": 512000}, {}, platform="MI300X")
    assert (resources.gpus_per_node, resources.mem_mb) == (4, 512000)


def test_an_unknown_platform_without_gpus_per_node_is_refused_saying_what_to_set():
    with pytest.raises(ConfigValueError) as caught:
        slurm_resources({}, {}, platform="H100")
    message = caught.value.format()
    assert "slurm.gpus_per_node" in message and "'H100'" in message and "gpus_per_node: 8" in message


def test_an_example_is_for_the_platform_of_its_folder():
    assert experiment_platform(CPU_LLAMA3, "MI300X") == "CPU"
    assert (
        experiment_platform("examples/torchtitan/configs/MI355X/qwen3_8B-BF16-pretrain.yaml", "MI300X")
        == "MI355X"
    )
    assert experiment_platform("my/own.yaml", "MI300X") == "MI300X"


def test_nodes_come_from_the_degrees_on_a_gpu_platform():
    config = {"parallelism": {"data_parallel_shard_degree": 16}}
    assert slurm_resources({}, config, platform="MI300X").nodes == 2


@pytest.mark.parametrize(
    ("resources", "parallelism", "numbers"),
    [
        (
            SlurmResources(nodes=2, gpus_per_node=8),
            {"data_parallel_shard_degree": 8},
            ["dp_shard(8)", "= 8 ranks", "slurm.nodes(2) x gpus_per_node(8) = world size 16"],
        ),
        (
            SlurmResources(nodes=2, procs_per_node=2),
            {"data_parallel_shard_degree": -1, "tensor_parallel_degree": 3},
            ["tp(3)", "that 3 divides", "slurm.nodes(2) x procs_per_node(2) = world size 4"],
        ),
        (
            SlurmResources(nodes=3),
            {"data_parallel_shard_degree": 2},
            ["dp_shard(2)", "slurm.nodes(3) x 1 process per node (no GPUs requested) = world size 3"],
        ),
    ],
)
def test_a_world_size_that_cannot_hold_the_degrees_names_every_number(resources, parallelism, numbers):
    with pytest.raises(ConfigValueError) as caught:
        check_slurm_layout(resources, {"parallelism": parallelism})
    message = caught.value.format()
    for number in numbers:
        assert number in message, message


def test_fitting_layouts_pass():
    check_slurm_layout(SlurmResources(nodes=2), {"parallelism": {"data_parallel_shard_degree": 2}})
    check_slurm_layout(
        SlurmResources(nodes=2, gpus_per_node=8), {"parallelism": {"data_parallel_shard_degree": -1}}
    )


def test_the_workflow_refuses_the_layout_at_planning_time_with_the_experiments_line(monkeypatch):
    monkeypatch.chdir(REPO)
    config = {
        "exp": CPU_LLAMA3,
        "platform": "CPU",
        "overrides": "--parallelism.data_parallel_shard_degree 4",
        "slurm": {"nodes": 2},
    }
    with pytest.raises(ConfigValueError) as caught:
        plan_run(config, root=REPO)
    assert "slurm.nodes(2) x 1 process per node" in caught.value.format()
    plan_run({**config, "slurm": {"nodes": 2, "procs_per_node": 2}}, root=REPO)
