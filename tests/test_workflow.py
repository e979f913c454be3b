"""The Snakemake workflow: plan, errors, reruns, report, lint and format; real training on the CPU default.

Every run happens in a temporary working directory (``--directory`` semantics through ``cwd``), so no test
writes into the repository.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support import bundles_in

REPO = Path(__file__).resolve().parents[1]
STAGES = ("validate_experiment", "resolve_experiment", "train_model", "verify_run")


# ---------------------------------------------------------------------------------------------- planning


def test_dry_run_of_qwen3_8B_shows_every_stage_and_writes_nothing(snakemake, tmp_path):
    result = snakemake("-n", "-p", "train", "--config", "exp=qwen3_8B", cwd=tmp_path)
    for stage in STAGES:
        assert f"rule {stage}:" in result.stdout
    assert "examples/torchtitan/configs/MI300X/qwen3_8B-BF16-pretrain.yaml" in result.stdout
    assert bundles_in(result.stdout) == {f"runs/qwen3_8B-pretrain/{_hash_of(result.stdout)}"}
    assert not (tmp_path / "runs").exists()
    # What the SLURM profile would request, from the shipped config/config.yaml: the platform's 8 GPUs per
    # node and the whole node's memory, never 0 GPUs and 4 GB for an 8B model.
    (train,) = [line for line in result.stdout.splitlines() if "slurm_extra=" in line]
    assert "--gpus-per-node=8" in train and "mem_mb" not in train, train


def test_the_cpu_default_asks_slurm_for_no_gpu_and_4_gb(snakemake, tmp_path):
    result = snakemake("-n", "train", cwd=tmp_path)
    (train,) = [line for line in result.stdout.splitlines() if "slurm_extra=" in line]
    assert "--gpus-per-node" not in train and "mem_mb=4000" in train, train


@pytest.mark.parametrize(
    ("setting", "printed"),
    [
        ("slurm={nodse: 2}", "error: slurm.nodse: Key 'nodse' not in 'slurm'. Did you mean: 'nodes'?"),
        ("slurm={nodes: two}", "error: slurm.nodes: must be an integer, got 'two'"),
        ("slurm={runtime_min: 0}", "error: slurm.runtime_min: must be at least 1, got 0"),
        ("tensorboard=true", "error: tensorboard: Key 'tensorboard' not in the workflow config."),
        ("strict=maybe", "error: strict: must be one of true, false; got 'maybe'"),
        ("slurm={runtime_min: 2}", "error: slurm.signal_s: the SIGUSR1 warning 90 s before the time limit"),
    ],
    ids=[
        "unknown-slurm-key",
        "not-a-number",
        "below-minimum",
        "unknown-key",
        "not-a-bool",
        "warning-too-early",
    ],
)
def test_a_bad_workflow_setting_is_one_clear_line_and_exit_2(snakemake, tmp_path, setting, printed):
    result = snakemake("-n", "train", "--config", setting, cwd=tmp_path, check=False)
    assert result.returncode == 2, result.stdout
    assert printed in result.stdout
    assert "Traceback" not in result.stdout and "WorkflowError" not in result.stdout
    assert not (tmp_path / "runs").exists()


def test_slurm_numbers_on_the_command_line_are_numbers(snakemake, tmp_path):
    # Snakemake reads nested --config values as text; the README's slurm='{nodes: 2}' must work as written.
    result = snakemake("-n", "train", "--config", "slurm={nodes: 2, procs_per_node: 1}", cwd=tmp_path)
    (train,) = [line for line in result.stdout.splitlines() if "slurm_extra=" in line]
    assert "nodes=2" in train and "tasks=2" in train, train


def _hash_of(output: str) -> str:
    return re.search(r"runs/qwen3_8B-pretrain/([0-9a-f]{16})", output).group(1)


def test_default_target_without_config_is_the_cpu_default(snakemake, tmp_path):
    result = snakemake("-n", cwd=tmp_path)
    assert "rule train_model:" in result.stdout
    assert "runs/llama3_debugmodel-pretrain/" in result.stdout


def test_overrides_reach_primus_cli_and_change_the_bundle(snakemake, tmp_path):
    default = snakemake("-n", "resolve", cwd=tmp_path)
    result = snakemake("-n", "-p", "resolve", "--config", "overrides=--training.steps 5", cwd=tmp_path)
    assert "llama3_debugmodel-pretrain.yaml --training.steps 5 >" in result.stdout
    (with_override,) = set(re.findall(r"/([0-9a-f]{16})/frozen", result.stdout))
    (without,) = set(re.findall(r"/([0-9a-f]{16})/frozen", default.stdout))
    assert with_override != without


def test_container_runtime_builds_the_image_before_freezing(snakemake, tmp_path):
    result = snakemake("-n", "train", "--config", "exp=qwen3_8B", "runtime=container", cwd=tmp_path)
    assert "checkpoint build_container:" in result.stdout
    # The bundle hash needs the image ID: freezing is planned only once the checkpoint has run.
    assert "rule resolve_experiment:" not in result.stdout


def test_running_qwen3_8B_on_a_cpu_host_fails_at_preflight_before_freezing(snakemake, tmp_path):
    result = snakemake("-c1", "train", "--config", "exp=qwen3_8B", cwd=tmp_path, check=False)
    assert result.returncode != 0
    assert "model.flavor: not enough memory to train qwen3 8B on this CPU-only host" in result.stdout
    assert "(not written)" in result.stdout
    assert not any(p.name != ".workflow" for p in (tmp_path / "runs").iterdir())


# The other lookup errors are covered by tests/test_workflow_lookup.py; this one shows the Snakefile's path.
@pytest.mark.parametrize(
    ("setting", "message"),
    [
        pytest.param(
            "exp=qwen3",
            "error: exp: experiment name 'qwen3' is ambiguous on platform MI300X: it matches 6 experiments: "
            "qwen3_0.6B-BF16-pretrain, qwen3_1.7B-BF16-pretrain, qwen3_14B-BF16-pretrain, "
            "qwen3_32B-BF16-pretrain, qwen3_4B-BF16-pretrain, qwen3_8B-BF16-pretrain",
            id="ambiguous-name",
        ),
    ],
)
def test_experiment_lookup_error_is_one_message_with_exit_code_2(snakemake, tmp_path, setting, message):
    result = snakemake("-n", "train", "--config", setting, cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert message in result.stdout
    assert "Traceback" not in result.stdout


def test_unknown_workflow_config_key_is_rejected_by_the_schema(snakemake, tmp_path):
    result = snakemake("-n", "train", "--config", "exp_nme=qwen3_8B", cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert "error: exp_nme: Key 'exp_nme' not in the workflow config. Did you mean: 'exp'?" in result.stdout


def test_lint_reports_nothing(snakemake):
    result = snakemake("--lint", cwd=REPO)
    assert "Congratulations, your workflow is in a good condition!" in result.stdout


def test_snakefmt_leaves_the_workflow_unchanged():
    snakefmt = Path(sys.executable).parent / "snakefmt"
    if not snakefmt.exists():
        pytest.skip("snakefmt is not installed in this environment (pip install snakefmt)")
    files = [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]
    result = subprocess.run([str(snakefmt), "--check", *map(str, files)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------------------------------------- real runs


# ``trained`` (conftest.py): one real run of the shortened CPU default, shared with test_slurm.py.


@pytest.mark.slow
def test_train_runs_every_stage_and_ends_with_a_passing_verdict(trained):
    _, _, bundle, output = trained
    positions = [output.index(f"rule {stage}:") for stage in STAGES]
    assert positions == sorted(positions)
    assert json.loads((bundle / "verify" / "verdict.json").read_text())["passed"] is True
    assert "verdict: PASS" in output[output.rindex("(Rule: train)") :]
    assert (bundle / "train" / "DONE").is_file()
    # The progress view, not TorchTitan's log (that is in train/train.log): one plain line per logged step.
    assert re.search(r"^step 6/6 \| loss \d+\.\d{4} \| [\d,]+ tok/s \| ETA 0:00:00$", output, re.M), output
    assert "- INFO -" not in output and "\x1b[" not in output  # TorchTitan's INFO lines stay in train.log
    assert "WARNING" not in output  # none of the warnings that do not apply to this run


@pytest.mark.slow
def test_unchanged_rerun_has_nothing_to_do(trained, snakemake):
    workdir, experiment, _, _ = trained
    result = snakemake("-c2", "train", "--config", f"exp={experiment}", cwd=workdir)
    assert "Nothing to be done" in result.stdout


@pytest.mark.slow
def test_comment_only_edit_does_not_retrain(trained, snakemake):
    workdir, experiment, _, _ = trained
    original = experiment.read_text()
    try:
        experiment.write_text(
            "# a comment added by the test\n" + original.replace("steps: 6", "steps: 6  # same value")
        )
        result = snakemake("-n", "train", "--config", f"exp={experiment}", cwd=workdir)
        assert "Nothing to be done" in result.stdout
    finally:
        experiment.write_text(original)


@pytest.mark.slow
def test_value_change_plans_a_new_bundle_and_keeps_the_old_one(trained, snakemake, tiny_experiment, tmp_path):
    workdir, _, bundle, _ = trained
    changed = tiny_experiment(tmp_path, steps=7)
    result = snakemake("-n", "train", "--config", f"exp={changed}", cwd=workdir)
    assert "rule train_model:" in result.stdout
    (new_bundle,) = bundles_in(result.stdout)
    assert workdir / new_bundle != bundle
    assert (bundle / "verify" / "verdict.json").is_file()


@pytest.mark.slow
def test_report_holds_the_verdict_and_the_loss_plot(trained, snakemake):
    workdir, experiment, bundle, _ = trained
    snakemake("--report", "report.html", "train", "--config", f"exp={experiment}", cwd=workdir)
    html = (workdir / "report.html").read_text(encoding="utf-8", errors="replace")
    assert "loss.png" in html
    assert "report.md" in html
    assert "report.html" in html  # verify's own page: the verdict and the inlined plot
    # The landing page (a JSON string in the page): the verdicts first, then the workflow's description.
    exp_name = bundle.parent.name
    verdicts, description = html.index("<h1>Verdicts</h1>"), html.index("<h1>What this workflow does</h1>")
    passed = html.index("<li><strong>PASS</strong>: experiment", verdicts)
    assert verdicts < passed < html.index(bundle.name, passed) < description
    # Results are grouped by experiment, the verdict page first, each labelled with its run and verdict.
    categories = html[html.index("var categories = ") :].split("};", 1)[0]
    assert categories.startswith(f'var categories = {{"{exp_name}": {{')
    for subcategory in ("1 \\u00b7 verdict", "2 \\u00b7 loss per step", "3 \\u00b7 report as Markdown"):
        assert subcategory in categories, subcategory
    labels = f'"labels": {{"run": "{bundle.name}", "verdict": "PASS", "shows": '
    assert html.count(labels) == 3
