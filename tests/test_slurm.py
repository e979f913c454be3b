"""The workflow through the SLURM profile on a real one-node cluster (started by the slurm_cluster fixture).

Only train_model is a cluster job (sbatch by snakemake-executor-plugin-slurm); the run folder records its
SLURM job ID, and SLURM itself must know that job as completed.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


@pytest.fixture(scope="module")
def slurm_run(slurm_cluster, snakemake, tiny_experiment, tmp_path_factory):
    """One run of the shortened CPU default through workflow/profiles/slurm: (bundle, output)."""
    workdir = tmp_path_factory.mktemp("slurm-workflow")
    experiment = tiny_experiment(workdir)
    profile = REPO / "workflow" / "profiles" / "slurm"
    result = snakemake("--profile", str(profile), "train", "--config", f"exp={experiment}", cwd=workdir)
    (bundle,) = set(re.findall(r"runs/[^/\s]+/[0-9a-f]{16}", result.stdout))
    return workdir / bundle, result.stdout


def test_train_job_goes_through_sbatch_and_records_its_job_id(slurm_run):
    bundle, output = slurm_run
    job_id = (bundle / "train" / "slurm_job_id").read_text().strip()
    assert job_id.isdigit()
    assert re.search(rf"has been submitted with SLURM jobid {job_id} ", output)
    state = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True, check=True)
    assert "JobState=COMPLETED" in state.stdout
    assert "ExitCode=0:0" in state.stdout


def test_only_training_is_a_cluster_job(slurm_run):
    _, output = slurm_run
    assert len(re.findall(r"has been submitted with SLURM jobid", output)) == 1
    for stage in ("validate_experiment", "resolve_experiment", "verify_run"):
        assert f"localrule {stage}:" in output


def test_verdict_passes_after_a_slurm_run(slurm_run):
    bundle, output = slurm_run
    assert json.loads((bundle / "verify" / "verdict.json").read_text())["passed"] is True
    assert "verdict: PASS" in output
