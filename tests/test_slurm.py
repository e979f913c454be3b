"""The workflow through the SLURM profile on the real test cluster (started by the slurm_cluster fixture),
with a time limit that runs out while the job trains.

Only train_model is a cluster job (sbatch by snakemake-executor-plugin-slurm); the run folder records its
SLURM job ID, and SLURM itself must know that job as completed.

The time limit: once the job has logged a step, its worker is paused (SIGSTOP, a step that takes long) and
the job's time is cut to end now (``scontrol update EndTime=now+1``). SLURM ends it at its next time-limit
pass (slurmctld checks every 30 s) as it ends any job at its limit: "DUE TO TIME LIMIT", SIGCONT and
SIGTERM to every process of the job (with the profile's SIGUSR1 warning, due by then too), SIGKILL after
KillWait (30 s). Training finishes the paused step, saves a checkpoint of it and stops; the train step
requeues its own job, which resumes from that checkpoint under the same job ID, and the final metrics
equal the same bundle's uninterrupted run on this host (``trained``) step for step. The requeued job gets
the workflow's time limit back (the cut was for one run) and is released from SLURM's two-minute
requeue hold at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import bundles_in, release_when_pending, slurm_job_state, training_workers

from primus.backends.torchtitan.metrics_file import read_rows

REPO = Path(__file__).resolve().parents[1]
STEPS = 6  # write_tiny_experiment's default, as ``trained`` runs it
DETERMINISTIC_FIELDS = ("step", "loss", "lr", "grad_norm")
#: Seconds the whole workflow may take here before the test calls it a hang.
WORKFLOW_LIMIT_S = 600

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


@pytest.fixture(scope="module")
def slurm_run(slurm_cluster, tiny_experiment, tmp_path_factory):
    """One run of the shortened CPU default through workflow/profiles/slurm whose time limit runs out
    mid-run: (bundle, Snakemake's output, job ID, steps logged when the worker was paused)."""
    workdir = tmp_path_factory.mktemp("slurm-workflow")
    experiment = tiny_experiment(workdir, steps=STEPS)
    profile = REPO / "workflow" / "profiles" / "slurm"
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--profile", str(profile)]
    # The copy is not under examples/*/configs/CPU/: platform=CPU says it is a CPU job (no GPU request).
    command += ["train", "--config", f"exp={experiment}", "platform=CPU"]
    log = workdir / "snakemake.out"
    paused: list[int] = []
    with log.open("w") as sink:
        workflow = subprocess.Popen(command, cwd=workdir, stdout=sink, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + WORKFLOW_LIMIT_S
        while True:
            assert workflow.poll() is None, f"the workflow ended before training:\n{log.read_text()}"
            assert time.monotonic() < deadline, "the job logged no step"
            metrics = next(iter(workdir.glob("runs/*/*/train/metrics.jsonl")), None)
            job_file = next(iter(workdir.glob("runs/*/*/train/slurm_job_id")), None)
            if metrics and job_file and read_rows(metrics):
                break
            time.sleep(0.05)
        train_dir, job = metrics.parent, job_file.read_text().strip()
        paused = training_workers(train_dir)
        assert paused, "no worker found"
        for pid in paused:
            os.kill(pid, signal.SIGSTOP)
        logged = len(read_rows(metrics))
        assert logged < STEPS - 1, "the run was in its last step before its worker could be paused"
        subprocess.run(["scontrol", "update", f"JobId={job}", "EndTime=now+1"], check=True)
        while slurm_job_state(job) == "RUNNING":
            assert time.monotonic() < deadline, "SLURM never ended the job at its time limit"
            time.sleep(0.2)
        release_when_pending(job, TimeLimit="60")
        workflow.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        for pid in paused:  # SLURM's own SIGCONT has woken them; this is for a failed test
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        if workflow.poll() is None:
            workflow.kill()
            workflow.wait()
    output = log.read_text()
    assert workflow.returncode == 0, output[-6000:]
    (bundle,) = bundles_in(output)
    return workdir / bundle, output, job, logged


def test_train_job_goes_through_sbatch_and_records_its_job_id(slurm_run):
    bundle, output, job_id, _ = slurm_run
    assert (bundle / "train" / "slurm_job_id").read_text().strip() == job_id
    assert job_id.isdigit()
    assert re.search(rf"has been submitted with SLURM jobid {job_id} ", output)
    state = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True, check=True)
    assert "JobState=COMPLETED" in state.stdout
    assert "ExitCode=0:0" in state.stdout


def test_only_training_is_a_cluster_job(slurm_run):
    _, output, _, _ = slurm_run
    assert len(re.findall(r"has been submitted with SLURM jobid", output)) == 1
    for stage in ("validate_experiment", "resolve_experiment", "verify_run"):
        assert f"localrule {stage}:" in output


def test_verdict_passes_after_a_slurm_run(slurm_run):
    bundle, output, _, _ = slurm_run
    assert json.loads((bundle / "verify" / "verdict.json").read_text())["passed"] is True
    assert "verdict: PASS" in output


def test_a_job_past_its_time_limit_checkpoints_requeues_itself_and_ends_on_the_same_curve(
    slurm_run, slurm_cluster, trained
):
    bundle, _, job_id, logged = slurm_run
    controller_log = (slurm_cluster / "slurmctld.log").read_text()
    assert f"Time limit exhausted for JobId={job_id}" in controller_log  # SLURM's limit, not a cancel
    job = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True, check=True)
    assert "Restarts=1" in job.stdout, job.stdout
    log = (bundle / "train" / "train.log").read_text()
    assert log.count("=== primus train started") == 2  # the run cut by the limit, then the requeued one
    (stopped,) = re.findall(
        r"primus: SIG(?:TERM|USR1) received; stopped after step (\d+) with checkpoint", log
    )
    assert logged <= int(stopped) < STEPS  # the step the worker was paused in, or the next
    assert f"Loading the checkpoint from {bundle.resolve()}/train/checkpoint/step-{stopped}" in log
    assert f"Training starts at step {int(stopped) + 1}" in log

    def columns(run: Path) -> list[tuple]:
        return [
            tuple(row[f] for f in DETERMINISTIC_FIELDS) for row in read_rows(run / "train" / "metrics.jsonl")
        ]

    _, _, uninterrupted, _ = trained
    assert bundle.name == uninterrupted.name  # the same bundle content
    assert columns(bundle) == columns(uninterrupted)
    assert [row[0] for row in columns(bundle)] == list(range(1, STEPS + 1))
