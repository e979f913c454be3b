"""A sweep through the SLURM profile on the real one-node test cluster: each point's training is one job."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

SWEEP = """\
base: llama3_tiny.yaml
overrides:
  training.steps: 2
  checkpoint.enable: false
grid:                      # 2 points, 2 SLURM jobs side by side (grids: test_sweep_workflow.py)
  optimizer.lr: [0.0008, 0.002]
"""


@pytest.fixture(scope="module")
def slurm_sweep(slurm_cluster, snakemake, tiny_experiment, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("slurm-sweep")
    tiny_experiment(workdir)
    (workdir / "lr.yaml").write_text(SWEEP, encoding="utf-8")
    profile = REPO / "workflow" / "profiles" / "slurm"
    result = snakemake(
        "--profile", str(profile), "sweep", "--config", "sweep=lr.yaml", "platform=CPU", cwd=workdir
    )
    return workdir, result.stdout


def test_each_point_trains_in_its_own_slurm_job(slurm_sweep):
    workdir, output = slurm_sweep
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+) ", output)
    assert len(submitted) == 2
    points = json.loads((workdir / "runs/.sweeps/lr/points.json").read_text(encoding="utf-8"))["points"]
    assert [p["verdict"] for p in points] == ["PASS"] * 2
    recorded = {(Path(p["bundle"]) / "train" / "slurm_job_id") for p in points}
    job_ids = {(workdir / path).read_text().strip() for path in recorded}
    assert job_ids == set(submitted)
    for job_id in job_ids:
        state = subprocess.run(
            ["scontrol", "show", "job", job_id], capture_output=True, text=True, check=True
        )
        assert "JobState=COMPLETED" in state.stdout


def test_validate_freeze_verify_and_the_report_stay_on_the_submit_host(slurm_sweep):
    _, output = slurm_sweep
    for rule in ("validate_experiment", "resolve_experiment", "verify_run", "report_sweep"):
        assert f"localrule {rule}:" in output
    assert "sweep lr: 2 points, every point PASS" in output
