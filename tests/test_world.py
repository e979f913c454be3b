"""primus.world: one set of rules for the job's shape, read by validation and the launcher alike."""

from __future__ import annotations

import pytest

from primus.backends.torchtitan.launch import launch_settings
from primus.world import stated_world_size

SLURM_JOB = {"SLURM_JOB_ID": "7", "SLURM_JOB_NODELIST": "node[1-2]"}


@pytest.mark.parametrize(
    ("env", "world", "source"),
    [
        ({}, None, ""),
        ({"WORLD_SIZE": "8", "NNODES": "2", "GPUS_PER_NODE": "8"}, 8, "WORLD_SIZE=8"),
        ({"NNODES": "2", "GPUS_PER_NODE": "4"}, 8, "NNODES(2) * GPUS_PER_NODE(4)"),
        ({"NNODES": "2"}, None, ""),  # processes per node unstated: the host decides at launch
        ({"NPROC_PER_NODE": "2"}, 2, "one node(1) * NPROC_PER_NODE(2)"),  # one node, as the launcher
        ({"NPROC_PER_NODE": "2", "GPUS_PER_NODE": "8", "NNODES": "2"}, 4, "NNODES(2) * NPROC_PER_NODE(2)"),
        (
            {**SLURM_JOB, "SLURM_NNODES": "2", "SLURM_GPUS_PER_NODE": "mi300x:8"},
            16,
            "SLURM_NNODES(2) * SLURM_GPUS_PER_NODE(8)",
        ),
        ({**SLURM_JOB, "SLURM_NNODES": "2", "GPUS_PER_NODE": "4"}, 8, "SLURM_NNODES(2) * GPUS_PER_NODE(4)"),
        ({"SLURM_NNODES": "2", "SLURM_GPUS_ON_NODE": "8"}, None, ""),  # not inside a job: SLURM's are stale
    ],
    ids=[
        "unstated",
        "world-size-wins",
        "primus-names",
        "nodes-only",
        "nproc-one-node",
        "nproc-wins",
        "slurm",
        "mixed",
        "outside-slurm",
    ],
)
def test_stated_world_size(env, world, source):
    assert stated_world_size(env)[:2] == (world, source)


def test_a_bad_count_is_reported_and_counts_as_unstated():
    assert stated_world_size({"NNODES": "two", "GPUS_PER_NODE": "4"}) == (None, "", [("NNODES", "two")])


@pytest.mark.parametrize(
    "env",
    [
        {"NNODES": "2", "GPUS_PER_NODE": "4", "MASTER_ADDR": "node1"},
        {**SLURM_JOB, "SLURM_NNODES": "2", "SLURM_GPUS_ON_NODE": "4"},
    ],
    ids=["primus-names", "slurm"],
)
def test_validation_and_launcher_agree_on_the_world_size(env):
    settings = launch_settings(env, local_accelerators=0)
    assert stated_world_size(env)[0] == settings.nnodes * settings.nproc_per_node
