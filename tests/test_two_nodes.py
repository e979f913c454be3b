"""Two nodes for real: two torchrun agents on this host, by hand and through a two-node SLURM cluster.

By hand: two ``primus-cli train --bundle`` processes with the environment a SLURM allocation gives each
node (``primus.workflow.node_environments``: NNODES=2, NODE_RANK 0/1, MASTER_ADDR/MASTER_PORT of node 0,
here 127.0.0.1) meet at a c10d rendezvous and train as one world of 2 ranks. The curve equals the one-node
2-process run of the same bundle exactly (the same ranks do the same gloo reductions).

Through SLURM (``slurm_cluster``: two slurmd, nodes n1 and n2): ``snakemake --profile workflow/profiles/slurm
train`` with ``slurm.nodes: 2`` submits one sbatch; srun starts one ``primus-cli train`` per node; the
rendezvous is on the first host's address. The job is requeued with ``scontrol requeue`` while it trains:
the workers checkpoint at the end of the current step, the job runs again under the same ID, resumes, and
the final metrics equal the uninterrupted by-hand run's step for step; the verdict passes.

A killed worker: one node's worker is sent SIGKILL mid-run; both agents end within a bounded time
(non-zero, the failed rank and node named), and a rerun resumes from the last complete checkpoint.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import process_tree, release_when_pending

from primus import stages
from primus.backends.torchtitan.metrics_file import read_rows
from primus.workflow import SlurmResources, node_environments

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
STEPS = 8
DETERMINISTIC_FIELDS = ("step", "loss", "lr", "grad_norm")
#: Seconds a run of the whole two-node job may take here before the test calls it a hang.
JOB_LIMIT_S = 600


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    for name in ("NNODES", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT", "NPROC_PER_NODE", "GPUS_PER_NODE"):
        env.pop(name, None)
    env.update(extra)
    return env


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _freeze(experiment: Path, runs: Path) -> Path:
    """The bundle of ``experiment`` (what ``primus-cli resolve --freeze`` writes), frozen in this process."""
    return stages.freeze_experiment(stages.validate_experiment(experiment, env=_env()), runs_dir=runs)


def _columns(bundle: Path) -> list[tuple]:
    return [tuple(r[f] for f in DETERMINISTIC_FIELDS) for r in read_rows(bundle / "train" / "metrics.jsonl")]


def _start_nodes(bundle: Path, port: int) -> list[subprocess.Popen]:
    """One ``primus-cli train --bundle`` per node, with the environment srun gives each node's task."""
    resources = SlurmResources(nodes=2, master_port=port)
    return [
        subprocess.Popen(
            [sys.executable, "-m", "primus.cli", "train", "--bundle", str(bundle)],
            env=_env(**node_env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for node_env in node_environments(resources, ["127.0.0.1", "127.0.0.1"])
    ]


def _finish(processes: list[subprocess.Popen], timeout: float) -> list[tuple[int, str]]:
    results = []
    for process in processes:
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for other in processes:
                for pid in process_tree(other.pid):
                    os.kill(pid, signal.SIGKILL)
            pytest.fail(f"a node did not finish within {timeout} s")
        results.append((process.returncode, output))
    return results


@pytest.fixture(scope="module")
def experiment(tiny_experiment, tmp_path_factory) -> Path:
    return tiny_experiment(tmp_path_factory.mktemp("experiment"), steps=STEPS)


@pytest.fixture(scope="module")
def two_agents(experiment, tmp_path_factory) -> Path:
    bundle = _freeze(experiment, tmp_path_factory.mktemp("two-agents"))
    results = _finish(_start_nodes(bundle, _free_port()), JOB_LIMIT_S)
    for rank, (code, output) in enumerate(results):
        assert code == 0, f"node {rank}:\n{output[-4000:]}"
    return bundle


def test_two_agents_form_one_world_of_two_ranks(two_agents):
    node0 = (two_agents / "train" / "train.log").read_text()
    node1 = (two_agents / "train" / "train.node1.log").read_text()
    for rank, log in ((0, node0), (1, node1)):
        launch = next(line for line in log.splitlines() if line.startswith("=== primus train started"))
        assert f"--nnodes=2 --nproc_per_node=1 --node_rank={rank}" in launch
        assert "--rdzv_backend=c10d --rdzv_endpoint=127.0.0.1:" in launch
        # one world of 2 ranks: TorchTitan shards over both (c10d assigns the global ranks at the rendezvous)
        assert "Building device mesh with parallelism: pp=1, dp_replicate=1, dp_shard=2" in log
    assert [row[0] for row in _columns(two_agents)] == list(range(1, STEPS + 1))
    assert json.loads((two_agents / "train" / "DONE").read_text())["step"] == STEPS


def test_two_agents_match_one_node_with_two_processes(two_agents, experiment, tmp_path):
    one_node = _freeze(experiment, tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "primus.cli", "train", "--bundle", str(one_node)],
        env=_env(NPROC_PER_NODE="2"),
        capture_output=True,
        text=True,
        timeout=JOB_LIMIT_S,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    from primus.verify import verify

    verdict = verify(two_agents, against=one_node)  # deterministic CPU runs: exact equality
    assert verdict.passed, [(c.name, c.message) for c in verdict.checks]


def test_a_killed_worker_ends_both_nodes_in_bounded_time_and_a_rerun_resumes(
    two_agents, experiment, tmp_path
):
    bundle = _freeze(experiment, tmp_path)
    processes = _start_nodes(bundle, _free_port())
    train_dir = bundle / "train"
    deadline = time.monotonic() + JOB_LIMIT_S
    while time.monotonic() < deadline:
        intact = [p for p in (train_dir / "checkpoint").glob("step-*") if (p / ".metadata").exists()]
        if intact and len(read_rows(train_dir / "metrics.jsonl")) > 3:
            break
        assert all(p.poll() is None for p in processes), "a node ended before the kill"
        time.sleep(0.2)
    # node 1's worker: the deepest process of node 1's tree (primus-cli -> torchrun -> worker)
    worker = process_tree(processes[1].pid)[-1]
    killed_at = time.monotonic()
    os.kill(worker, signal.SIGKILL)
    results = _finish(processes, 300)
    elapsed = time.monotonic() - killed_at
    assert all(code != 0 for code, _ in results), results
    assert elapsed < 120, f"the job took {elapsed:.0f} s to end after the kill"
    node1_output = results[1][1]
    assert "rank: 1" in node1_output or "local_rank: 0" in node1_output or "rank 1" in node1_output, (
        node1_output[-3000:]
    )
    assert not (train_dir / "DONE").exists()
    resumed = _finish(_start_nodes(bundle, _free_port()), JOB_LIMIT_S)
    assert all(code == 0 for code, _ in resumed), resumed[0][1][-3000:]
    log = (train_dir / "train.log").read_text()
    assert "Loading the checkpoint from" in log
    assert _columns(bundle) == _columns(two_agents)


# ------------------------------------------------------------------------------------------ SLURM
@pytest.mark.slurm
def test_a_two_node_slurm_job_requeued_mid_run_resumes_to_the_same_curve(
    slurm_cluster, snakemake, experiment, two_agents, tmp_path
):
    profile = REPO / "workflow" / "profiles" / "slurm"
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--profile", str(profile)]
    settings = tmp_path / "two-nodes.yaml"
    settings.write_text(
        f"exp: {experiment}\nplatform: CPU\nslurm:\n  nodes: 2\n  cpus_per_task: 1\n  mem_mb: 2000\n"
    )
    command += ["train", "--configfile", str(settings)]
    workflow = subprocess.Popen(
        command, cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    requeued = None
    try:
        deadline = time.monotonic() + JOB_LIMIT_S
        while time.monotonic() < deadline and requeued is None:
            metrics = next(iter(tmp_path.glob("runs/*/*/train/metrics.jsonl")), None)
            job_file = next(iter(tmp_path.glob("runs/*/*/train/slurm_job_id")), None)
            if metrics and job_file and len(read_rows(metrics)) >= 2:
                requeued = job_file.read_text().strip()
                subprocess.run(["scontrol", "requeue", requeued], check=True, capture_output=True)
                release_when_pending(requeued)
            assert workflow.poll() is None, workflow.communicate()[0][-4000:]
            time.sleep(0.2)
        output, _ = workflow.communicate(timeout=JOB_LIMIT_S)
    finally:
        if workflow.poll() is None:
            workflow.kill()
    assert workflow.returncode == 0, output[-6000:]
    assert requeued, "training never started"
    assert len(re.findall(r"has been submitted with SLURM jobid", output)) == 1
    (bundle,) = {path.parents[1] for path in tmp_path.glob("runs/*/*/train/DONE")}
    assert bundle.name == two_agents.name  # the same bundle content as the by-hand run
    job = subprocess.run(
        ["scontrol", "show", "job", requeued], capture_output=True, text=True, check=True
    ).stdout
    assert "JobState=COMPLETED" in job and "NumNodes=2" in job and "NodeList=n[1-2]" in job, job
    assert "Restarts=1" in job, job
    for name in ("train.log", "train.node1.log"):
        launches = [
            line
            for line in (bundle / "train" / name).read_text().splitlines()
            if "primus train started" in line
        ]
        assert len(launches) == 2, launches  # the first run, then the requeued one
        assert all("--rdzv_endpoint=127.0.0.1:29500" in line for line in launches)
    assert json.loads((bundle / "verify" / "verdict.json").read_text())["passed"] is True
    assert _columns(bundle) == _columns(two_agents)
    shutil.rmtree(tmp_path / "runs", ignore_errors=True)
