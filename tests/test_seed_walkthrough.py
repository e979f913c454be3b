"""The seed guide (adding-a-torchtitan-model-config.md), followed literally in a scratch copy of the configs.

Section 3: create ``primus/configs/models/torchtitan/qwen3_8B.yaml`` from the guide's template.
Section 4: create an experiment that points at it (the guide's YAML, unchanged).
Section 5: ``primus-cli direct -- train pretrain --config ...`` shows framework torchtitan, the model config
qwen3_8B.yaml, and the file's ``job.description`` and ``model.hf_assets_path``.

The YAML is taken from the guide itself when the guide is present (../shared/seeds/ beside the repository),
else from the copies in tests/support.py, so the test follows whatever the guide says today.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import GUIDE_EXPERIMENT, GUIDE_MODEL_PRESET, SEED_GUIDE, SEED_GUIDE_PART, guide_section_yaml

REPO = Path(__file__).resolve().parents[1]
PACKAGE_CONFIGS = REPO / "primus" / "configs"
NO_ENV: dict[str, str] = {}


@pytest.fixture
def guide_files() -> tuple[str, str]:
    """(section 3 model preset, section 4 experiment) as the guide gives them."""
    if SEED_GUIDE.is_file():
        return guide_section_yaml(3), guide_section_yaml(4)
    return GUIDE_MODEL_PRESET, GUIDE_EXPERIMENT


@pytest.fixture
def workspace(tmp_path, guide_files) -> dict[str, Path]:
    """A scratch checkout: a copy of the configs root without qwen3_8B.yaml, then the guide's two files."""
    configs = tmp_path / "primus" / "configs"
    shutil.copytree(PACKAGE_CONFIGS, configs)
    preset = configs / "models" / "torchtitan" / "qwen3_8B.yaml"
    preset.unlink()  # the guide has the reader create it
    preset.write_text(guide_files[0], encoding="utf-8")
    experiment = tmp_path / "examples" / "torchtitan" / "configs" / "MI300X" / "qwen3_8B-BF16-pretrain.yaml"
    experiment.parent.mkdir(parents=True)
    experiment.write_text(guide_files[1], encoding="utf-8")
    return {"root": tmp_path, "configs": configs, "preset": preset, "experiment": experiment}


@pytest.mark.needs_shared(SEED_GUIDE_PART)
def test_guide_files_match_the_copies_in_this_test(guide_files):
    assert guide_files == (GUIDE_MODEL_PRESET, GUIDE_EXPERIMENT)


def test_guide_experiment_resolves_to_the_new_model_config(workspace):
    from primus.config import load_experiment

    resolved = load_experiment(workspace["experiment"], env=NO_ENV, configs_root=workspace["configs"])
    model, job = resolved.config["model"], resolved.config["job"]
    assert (resolved.framework, resolved.model_preset) == ("torchtitan", "qwen3_8B.yaml")
    assert (model["name"], model["flavor"], model["hf_assets_path"], model["converters"]) == (
        "qwen3",
        "8B",
        "Qwen/Qwen3-8B",
        ["primus_turbo"],
    )
    assert (job["description"], job["dump_folder"]) == ("Qwen3 8B training (TorchTitan)", "./outputs")
    description = resolved.origin_of("job.description")
    assert (Path(description.file).resolve(), description.line, description.layer) == (
        workspace["preset"].resolve(),
        3,
        "model preset",
    )
    assert resolved.envelope["exp_name"] == "qwen3_8B-pretrain"
    training = resolved.config["training"]
    assert (training["local_batch_size"], training["seq_len"], training["mock_data"], training["steps"]) == (
        4,
        4096,
        True,
        50,
    )
    assert resolved.origin_of("training.seq_len").layer == "overrides"


def test_guide_experiment_validates(workspace):
    from primus.config import load_experiment
    from primus.validate import validate

    config = validate(
        load_experiment(workspace["experiment"], env=NO_ENV, configs_root=workspace["configs"]), env=NO_ENV
    )
    assert config["lr_scheduler"]["warmup_steps"] == 10
    assert config["debug"]["seed"] is None  # the module preset's default: the guide sets none


def test_editing_the_new_model_config_changes_what_resolves(workspace):
    # The experiment reads the reader's file, not a copy shipped with the package.
    from primus.config import load_experiment

    text = workspace["preset"].read_text(encoding="utf-8")
    workspace["preset"].write_text(
        text.replace("Qwen3 8B training (TorchTitan)", "my Qwen3 run").replace(
            "Qwen/Qwen3-8B", "/data/qwen3-8b"
        ),
        encoding="utf-8",
    )
    resolved = load_experiment(workspace["experiment"], env=NO_ENV, configs_root=workspace["configs"])
    assert (resolved.config["job"]["description"], resolved.config["model"]["hf_assets_path"]) == (
        "my Qwen3 run",
        "/data/qwen3-8b",
    )


def test_guide_command_dry_run_shows_the_new_model_config(workspace, tmp_path):
    # Section 5, run from the scratch checkout with --dry-run (nothing written, nothing launched).
    launcher = REPO / "primus-cli"
    command = [str(launcher)] if launcher.is_file() else [sys.executable, "-m", "primus"]
    env = {
        **os.environ,
        "PRIMUS_CONFIGS_ROOT": str(workspace["configs"]),
        "PRIMUS_RUNS_DIR": str(tmp_path / "runs"),
    }
    for var in ("PRIMUS_TEAM", "PRIMUS_USER", "PRIMUS_EXP_NAME"):
        env.pop(var, None)
    result = subprocess.run(
        [
            *command,
            "direct",
            "--",
            "train",
            "pretrain",
            "--config",
            str(workspace["experiment"]),
            "--dry-run",
        ],
        cwd=workspace["root"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for shown in ("torchtitan", "qwen3_8B.yaml", "Qwen3 8B training (TorchTitan)", "Qwen/Qwen3-8B"):
        assert shown in result.stdout, shown
    assert not (tmp_path / "runs").exists()
