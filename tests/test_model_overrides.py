"""``model.<arch arg>`` overrides (Primus's ``--model.n_layers 4``): checked before launch, then applied.

Each bad input is a case of one table (exit 2, file:line, no traceback, nothing written); the architecture
they give is what every cross-field check, the dry run and ``primus-cli models`` see; one tiny CPU run
checks that TorchTitan builds the overridden model and that the bundle records the override.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from primus.cli import main

REPO = Path(__file__).resolve().parents[1]
CPU_DEFAULT = REPO / "examples/torchtitan/configs/CPU/llama3_debugmodel-pretrain.yaml"
LLAMA_8B = REPO / "examples/torchtitan/configs/MI300X/llama3.1_8B-BF16-pretrain.yaml"


pytestmark = pytest.mark.usefixtures("isolated_cli")


def _experiment(tmp_path: Path, model_lines: str) -> Path:
    """The CPU default with extra ``model:`` overrides written at line 12 onwards of the file."""
    path = tmp_path / "exp.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            work_group: t
            user_name: t
            exp_name: override-check
            workspace: ./output
            modules:
              pre_trainer:
                framework: torchtitan
                config: pre_trainer.yaml
                model: llama3_debugmodel.yaml
                overrides:
                  model:
            """
        )
        + textwrap.indent(textwrap.dedent(model_lines), " " * 8),
        encoding="utf-8",
    )
    return path


#: (model lines at line 12+, key, line, message, hint)
BAD_INPUTS = {
    "unknown-argument": (
        "n_layerz: 2\n",
        "model.n_layerz",
        12,
        "Key 'n_layerz' not in 'model' (neither a TorchTitan model setting nor an argument of llama3's "
        "model). Did you mean: 'n_layers'?",
        "rename 'n_layerz' to 'n_layers'",
    ),
    "unknown-nested-argument": (
        "rope_scaling_args:\n  scaling_factr: 2.0\n",
        "model.rope_scaling_args.scaling_factr",
        13,
        "Key 'scaling_factr' not in 'model.rope_scaling_args' (neither a TorchTitan model setting nor an "
        "argument of llama3's model). Did you mean: 'scaling_factor'?",
        "rename 'scaling_factr' to 'scaling_factor'",
    ),
    "wrong-type": (
        "n_layers: two\n",
        "model.n_layers",
        12,
        "expected int, got str 'two'",
        "set model.n_layers to a value of type int (llama3 model argument)",
    ),
    "zero-size": (
        "dim: 0\n",
        "model.dim",
        12,
        "must be a positive integer (llama3 model argument), got 0",
        "set model.dim to 1 or more",
    ),
    "negative-size": (
        "n_layers: -2\n",
        "model.n_layers",
        12,
        "must be a positive integer (llama3 model argument), got -2",
        "set model.n_layers to 1 or more",
    ),
    "heads-not-dividing-dim": (
        "n_heads: 7\n",
        "model.n_heads",
        12,
        "n_heads(7) must divide dim(256) of llama3 debugmodel (n_heads=7): each head gets dim / n_heads",
        "choose n_heads among 1, 2, 4, 8, 16, 32, 64, 128, 256",
    ),
    "nested-section-not-a-mapping": (
        "rope_scaling_args: 2\n",
        "model.rope_scaling_args",
        12,
        "'model.rope_scaling_args' holds llama3's RoPEScalingArgs: expected a mapping of its arguments, "
        "got int 2",
        "write e.g. 'model.rope_scaling_args.scaling_factor: ...'",
    ),
}


@pytest.mark.parametrize(("lines", "key", "line", "message", "hint"), BAD_INPUTS.values(), ids=BAD_INPUTS)
def test_bad_model_argument_is_one_clear_error_and_nothing_is_written(
    tmp_path, capsys, lines, key, line, message, hint
):
    experiment = _experiment(tmp_path, lines)
    code = main(["direct", "--", "train", "pretrain", "--config", str(experiment)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{experiment}:{line}: {key}: {message}\n  hint: {hint}" in err
    assert "Traceback" not in err
    assert not (tmp_path / "runs").exists()


def test_nested_moe_arguments_are_checked_against_the_family(tmp_path):
    from primus.config import load_experiment
    from primus.validate import validate

    resolved = load_experiment(
        CPU_DEFAULT,
        ["--model.name", "deepseek_v3", "--model.n_dense_layers", "1", "--model.moe_args.top_k", "2"],
        env={},
    )
    config = validate(resolved, env={})
    assert config["model"]["n_dense_layers"] == 1
    assert config["model"]["moe_args"] == {"top_k": 2}


def test_cross_field_checks_see_the_overridden_architecture():
    from primus.config import load_experiment
    from primus.errors import ConfigErrors
    from primus.validate import validate

    # debugmodel has 16 heads: tp 8 is fine until the override leaves 4 heads.
    resolved = load_experiment(
        CPU_DEFAULT, ["--model.n_heads", "4", "--parallelism.tensor_parallel_degree", "8"], env={}
    )
    with pytest.raises(ConfigErrors) as caught:
        validate(resolved, env={})
    assert [e.message for e in caught.value.errors] == [
        "tensor_parallel_degree(8) must divide n_heads(4) of llama3 debugmodel (n_heads=4)"
    ]
    # and pipeline stages are counted against the overridden depth
    resolved = load_experiment(
        CPU_DEFAULT, ["--model.n_layers", "2", "--parallelism.pipeline_parallel_degree", "3"], env={}
    )
    with pytest.raises(ConfigErrors) as caught:
        validate(resolved, env={})
    assert caught.value.errors[0].message.startswith(
        "pipeline_parallel_degree(3) exceeds the 2 layers of llama3 debugmodel (n_layers=2)"
    )


def test_seq_len_is_checked_against_an_overridden_max_seq_len():
    from primus.config import load_experiment
    from primus.validate import check

    resolved = load_experiment(CPU_DEFAULT, ["--model.max_seq_len", "128"], env={})
    (warning,) = check(resolved, env={}).warnings
    assert warning.message.startswith("seq_len(256) exceeds max_seq_len(128) of llama3 debugmodel")


def test_override_is_in_the_hash_explain_and_provenance(capsys):
    from primus.bundle import compute_hash
    from primus.config import load_experiment
    from primus.validate import validate

    plain = load_experiment(CPU_DEFAULT, env={})
    overridden = load_experiment(CPU_DEFAULT, ["--model.n_layers", "2"], env={})
    assert compute_hash(plain, validate(plain, env={})) != compute_hash(
        overridden, validate(overridden, env={})
    )
    assert overridden.origin_of("model.n_layers").layer == "command line"
    assert main(["explain", str(CPU_DEFAULT), "model.n_layers"]) == 0
    assert "model.n_layers = 6\n  no layer sets it: this is the value of TorchTitan's llama3 debugmodel" in (
        capsys.readouterr().out
    )


def test_job_config_toml_holds_only_jobconfig_fields(tmp_path):
    from primus.backends.torchtitan.job_toml import job_toml_data

    data = job_toml_data({"model": {"name": "llama3", "flavor": "debugmodel", "n_layers": 2}})
    assert data["model"] == {"name": "llama3", "flavor": "debugmodel"}


def test_direct_dry_run_shows_the_overridden_architecture_and_warns_about_warmup(capsys):
    command = ["direct", "--", "train", "pretrain", "--config", str(LLAMA_8B)]
    assert main([*command, "--model.n_layers", "2", "--training.steps", "3", "--dry-run"]) == 0
    out, err = capsys.readouterr()
    assert "model override:   n_layers=2  (<command line>)" in out
    # 8B with 2 of its 32 layers: embeddings and output (2 * 128256 * 4096) + 2 * 218.1M per layer
    assert "architecture:     dim 4096, n_layers 2, n_heads 32, vocab 128256, 1.49B parameters" in out
    assert "lr_scheduler.warmup_steps: warning: warmup_steps(10) exceeds training.steps(3)" in err


def test_models_lists_the_experiments_model_with_its_overrides(capsys):
    assert main(["models", "--config", str(CPU_DEFAULT), "--model.n_layers", "2", "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["flavor"], row["n_layers"], row["params"]) == ("debugmodel (n_layers=2)", 2, 2_753_792)


def test_model_args_snapshot_matches_the_installed_torchtitan():
    pytest.importorskip("torchtitan")
    from primus.backends.torchtitan import model_args_snapshot

    committed = model_args_snapshot.SNAPSHOT_PATH.read_text(encoding="utf-8")
    regenerated = model_args_snapshot.dumps(model_args_snapshot.build_model_args())
    assert committed == regenerated, "model_args.json is stale: run python -m " + model_args_snapshot.__name__


@pytest.mark.slow
def test_cpu_training_builds_the_overridden_model_and_the_bundle_records_it(tmp_path):
    runs = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "PRIMUS_RUNS_DIR": str(runs)}
    command = [sys.executable, "-m", "primus.cli", "direct", "--", "train", "pretrain", "--config"]
    result = subprocess.run(
        [*command, str(CPU_DEFAULT), "--model.n_layers", "2", "--training.steps", "2",
         "--lr_scheduler.warmup_steps", "1", "--checkpoint.enable", "false"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    (bundle,) = (runs / "llama3_debugmodel-pretrain").iterdir()
    assert yaml.safe_load((bundle / "resolved.yaml").read_text())["config"]["model"]["n_layers"] == 2
    assert json.loads((bundle / "provenance.json").read_text())["model.n_layers"][-1]["value"] in (2, "2")
    log = (bundle / "train" / "train.log").read_text()
    # TorchTitan's own account of what it built: the model args, then the parameter count
    assert '"n_layers": 2,' in log
    assert "primus: llama3 debugmodel with n_layers=2" in log
    assert "2,753,792 total parameters" in log
    assert (bundle / "train" / "DONE").is_file()


def test_memory_preflight_counts_the_overridden_architecture():
    from primus.config import load_experiment
    from primus.validate import validate
    from primus.validate.machine import Host, preflight

    resolved = load_experiment(CPU_DEFAULT, ["--model.n_layers", "2"], env={})
    config = validate(resolved, env={})
    # 2,753,792 parameters * 16 bytes = 44,060,672 bytes: a host with 40 MB is too small, 50 MB is enough
    (problem,) = preflight(config, env={}, host=Host(accelerator=None, memory_bytes=40_000_000))
    assert problem.message.startswith(
        "not enough memory to train llama3 debugmodel (n_layers=2) on this CPU-only host: "
        "2,753,792 parameters"
    )
    assert preflight(config, env={}, host=Host(accelerator=None, memory_bytes=50_000_000)) == []
