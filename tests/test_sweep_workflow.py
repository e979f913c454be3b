"""``snakemake sweep --config sweep=PATH``: one chain per point, real CPU training of 2-step runs.

The sweep starts with two points; after they pass, a rerun has nothing to do; then two points are added, one
of which diverges (a learning rate of 1e12 makes the loss NaN at step 2, so its verification fails): only the
two new points train, the diverging one does not stop the other (--keep-going, from the workflow's default
profile), the summary names it, and the sweep report shows three PASS and one FAIL.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

SWEEP = """\
base: llama3_tiny.yaml
overrides:                 # the shortest run that still logs a loss after an optimizer step
  training.steps: 2
  checkpoint.enable: false
points:
  - name: lr-low
    optimizer.lr: 0.0008
  - name: lr-high
    optimizer.lr: 0.002
"""
ADDED = """\
  - name: seed-2
    optimizer.lr: 0.0008
    debug.seed: 2
  - name: diverge
    optimizer.lr: 1.0e12
"""


def trained_bundles(output: str) -> set[str]:
    """Bundles whose train_model job Snakemake ran (from the job's output line)."""
    return set(re.findall(r"output: (runs/[^/\s]+/[0-9a-f]{16})/train/DONE", output))


# ---------------------------------------------------------------------------------------------- no training


def test_sweep_dry_run_plans_one_chain_per_point_and_the_report(snakemake, tmp_path):
    sweep = tmp_path / "lr.yaml"
    sweep.write_text(
        "base: " + str(REPO / "examples/torchtitan/configs/CPU/llama3_debugmodel-pretrain.yaml") + "\n"
        "grid:\n  optimizer.lr: [0.0003, 0.0008, 0.002]\n  debug.seed: [1, 2]\n",
        encoding="utf-8",
    )
    result = snakemake("-n", "sweep", "--config", f"sweep={sweep}", cwd=tmp_path)
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", result.stdout, flags=re.M))
    assert {k: counts[k] for k in ("validate_experiment", "resolve_experiment", "train_model")} == {
        "validate_experiment": "6",
        "resolve_experiment": "6",
        "train_model": "6",
    }
    assert counts["verify_run"] == "6" and counts["report_sweep"] == "1"
    assert "runs/.sweeps/lr/report.md" in result.stdout
    assert not (tmp_path / "runs").exists()


def test_sweep_target_without_a_sweep_file_is_one_clear_error(snakemake, tmp_path):
    result = snakemake("-n", "sweep", cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert "error: sweep: the sweep target needs a sweep file" in result.stdout
    assert "Traceback" not in result.stdout


def test_bad_sweep_file_stops_snakemake_at_planning_with_exit_2(snakemake, tmp_path):
    sweep = tmp_path / "bad.yaml"
    sweep.write_text(
        f"base: {REPO / 'examples/torchtitan/configs/CPU/llama3_debugmodel-pretrain.yaml'}\n"
        "grid:\n  optimizer.lrr: [0.1]\n",
        encoding="utf-8",
    )
    result = snakemake("-n", "sweep", "--config", f"sweep={sweep}", cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert "bad.yaml:3: optimizer.lrr: Key 'optimizer.lrr' not in the config" in result.stdout
    assert "Traceback" not in result.stdout
    assert not (tmp_path / "runs").exists()


# ---------------------------------------------------------------------------------------------- real runs


@pytest.fixture(scope="module")
def swept(tmp_path_factory, snakemake, tiny_experiment):
    """Two points trained and verified, then a rerun, then two points added: the outputs of each step."""
    workdir = tmp_path_factory.mktemp("sweep")
    tiny_experiment(workdir)
    sweep = workdir / "lr.yaml"
    sweep.write_text(SWEEP, encoding="utf-8")
    first = snakemake("-c2", "sweep", "--config", "sweep=lr.yaml", cwd=workdir)
    rerun = snakemake("-c2", "sweep", "--config", "sweep=lr.yaml", cwd=workdir)
    sweep.write_text(SWEEP + ADDED, encoding="utf-8")
    added = snakemake("-c2", "sweep", "--config", "sweep=lr.yaml", cwd=workdir, check=False)
    return workdir, first.stdout, rerun.stdout, added


def points_of(workdir: Path) -> dict[str, dict]:
    document = json.loads((workdir / "runs/.sweeps/lr/points.json").read_text(encoding="utf-8"))
    return {point["name"]: point for point in document["points"]}


@pytest.mark.slow
def test_each_point_trains_in_its_own_bundle_and_passes(swept):
    workdir, first, _, _ = swept
    assert len(trained_bundles(first)) == 2
    assert "sweep lr: 2 points, every point PASS" in first
    # -c2 with one core per training: the second point starts before the first one finishes.
    starts = [m.start() for m in re.finditer(r"rule train_model:", first)]
    assert len(starts) == 2 and starts[1] < first.index("(Rule: train_model)")
    for bundle in trained_bundles(first):
        assert json.loads((workdir / bundle / "verify/verdict.json").read_text())["passed"] is True


@pytest.mark.slow
def test_rerun_of_a_finished_sweep_does_nothing(swept):
    _, _, rerun, _ = swept
    assert "Nothing to be done" in rerun


@pytest.mark.slow
def test_added_points_train_alone_and_a_failed_point_does_not_stop_the_other(swept):
    workdir, first, _, added = swept
    assert added.returncode != 0
    new = trained_bundles(added.stdout)
    assert len(new) == 2 and not new & trained_bundles(first)
    assert "sweep lr: 4 points, 1 failed: diverge" in added.stdout
    points = points_of(workdir)
    assert {name: p["verdict"] for name, p in points.items()} == {
        "lr-low": "PASS",
        "lr-high": "PASS",
        "seed-2": "PASS",
        "diverge": "FAIL",
    }
    assert "loss_finite" in points["diverge"]["detail"]


@pytest.mark.slow
def test_sweep_report_compares_the_points_and_names_the_best(swept):
    workdir, _, _, _ = swept
    folder = workdir / "runs/.sweeps/lr"
    markdown = (folder / "report.md").read_text(encoding="utf-8")
    points = points_of(workdir)
    finals = {name: p["final_loss"] for name, p in points.items() if p["verdict"] == "PASS"}
    best = min(finals, key=finals.get)
    assert json.loads((folder / "points.json").read_text())["best"] == best
    assert f"**Best point by final loss: `{best}`" in markdown
    assert re.search(r"\| diverge \| optimizer.lr=1e\+12 \| nan \|", markdown)
    assert "FAIL (failed checks: loss_finite)" in markdown
    assert (folder / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "data:image/png;base64," in (folder / "report.html").read_text(encoding="utf-8")


@pytest.mark.slow
def test_snakemake_report_holds_the_sweep_report(swept, snakemake):
    workdir, _, _, _ = swept
    (workdir / "lr.yaml").write_text(SWEEP, encoding="utf-8")  # the passing points: the DAG is complete
    snakemake("-c1", "sweep", "--config", "sweep=lr.yaml", cwd=workdir)
    snakemake("--report", "report.html", "sweep", "--config", "sweep=lr.yaml", cwd=workdir)
    html = (workdir / "report.html").read_text(encoding="utf-8", errors="replace")
    for name in ("report.md", "report.html", "loss.png"):
        assert f"runs/.sweeps/lr/{name}" in html


# ---------------------------------------------------------------------------------------------- plan lookups


def write_sweep(folder: Path, body: str) -> Path:
    path = folder / "lr.yaml"
    base = REPO / "examples/torchtitan/configs/CPU/llama3_debugmodel-pretrain.yaml"
    path.write_text(f"base: {base}\n{body}", encoding="utf-8")
    return path


def test_the_rules_find_each_point_by_its_wildcards(tmp_path):
    from primus.workflow import plan_workflow

    sweep = write_sweep(
        tmp_path,
        "points:\n  - name: a\n  - name: a-again\n    training.steps: 50\n  - name: b\n    debug.seed: 9\n",
    )
    plan = plan_workflow({"sweep": str(sweep), "runs_dir": str(tmp_path / "runs")}, root=REPO)
    a, again, b = plan.runs
    assert again.bundle == a.bundle  # the same config: one bundle, one chain
    assert [run.point for run in plan.distinct_runs] == ["a", "b"]
    assert plan.run(b.exp_name, b.key) is b
    assert plan.run(a.exp_name, a.key) is a
    assert plan.for_bundle(b.exp_name, b.key) is b
    assert "--debug.seed=9" in b.cli_args


def test_container_runtime_finds_a_point_by_the_hash_that_includes_the_image(tmp_path):
    from primus.workflow import plan_workflow

    sweep = write_sweep(tmp_path, "grid:\n  debug.seed: [1, 2]\n")
    plan = plan_workflow({"sweep": str(sweep), "runtime": "container"}, root=REPO)
    assert all(run.bundle is None for run in plan.runs)
    image = "sha256:" + "ab" * 32
    for run in plan.runs:
        bundle = run.bundle_for_image(image)
        assert bundle.name != run.key
        assert plan.for_bundle(run.exp_name, bundle.name, image) is run


def test_container_runtime_plans_every_point_after_the_one_image_is_built(snakemake, tmp_path):
    # A stand-in for primus-cli answers `container build` with an image ID (no engine needed); every other
    # command goes to the real primus-cli. After the checkpoint, each point's freeze is planned by the hash
    # that includes that image.
    stub = tmp_path / "primus-cli-stub"
    stub.write_text(
        "#!/bin/sh\n"
        'if [ "$1 $2" = "container build" ]; then echo sha256:' + "ab" * 32 + "; exit 0; fi\n"
        f'exec {sys.executable} -m primus.cli "$@"\n',
        encoding="utf-8",
    )
    stub.chmod(0o755)
    write_sweep(tmp_path, "grid:\n  debug.seed: [1, 2]\n")
    settings = ["sweep=lr.yaml", "runtime=container", f"primus_cli={stub}", "container_variant=cpu"]
    snakemake("-c1", "container", "--config", *settings, cwd=tmp_path)
    assert (tmp_path / "runs/.workflow/.images/cpu/image_id").read_text().strip().startswith("sha256:ab")
    result = snakemake("-n", "sweep", "--config", *settings, cwd=tmp_path)
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", result.stdout, flags=re.M))
    assert counts["resolve_experiment"] == "2" and counts["train_model"] == "2"
    assert "build_container" not in counts  # one image for every point, built once


def test_a_single_run_reports_its_problems_as_primus_cli_does(tmp_path):
    from primus.errors import ConfigErrors
    from primus.workflow import plan_run

    experiment = REPO / "examples/torchtitan/configs/CPU/llama3_debugmodel-pretrain.yaml"
    with pytest.raises(ConfigErrors) as caught:
        plan_run({"exp": str(experiment), "overrides": ["--training.steps", "many"]}, root=REPO)
    (problem,) = caught.value.errors
    assert problem.key == "training.steps" and problem.file == "<command line>"
    assert "point" not in problem.message
