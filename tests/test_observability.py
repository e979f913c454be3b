"""TensorBoard and W&B are launch settings: turning them on never gives a new bundle (no retrain)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from primus import cli, observability
from primus.bundle import compute_hash, freeze
from primus.config import load_experiment
from primus.errors import ConfigErrors
from primus.validate import validate
from primus.validate.machine import preflight

REPO = Path(__file__).resolve().parents[1]
CPU_DEFAULT = REPO / "examples/torchtitan/configs/CPU/llama3_debugmodel-pretrain.yaml"
WATCHED = ("--metrics.enable_tensorboard=true", "--metrics.save_tb_folder=tensorboard")


def validated(*overrides: str):
    resolved = load_experiment(CPU_DEFAULT, list(overrides))
    return resolved, validate(resolved)


def test_turning_on_tensorboard_keeps_the_bundle_hash(tmp_path):
    plain, watched = validated(), validated(*WATCHED)
    assert compute_hash(*plain) == compute_hash(*watched)
    assert freeze(*plain, runs_dir=tmp_path) == freeze(*watched, runs_dir=tmp_path)
    other = validated("--training.steps=7")
    assert compute_hash(*other) != compute_hash(*plain)  # a real change still counts


def test_a_bundle_carries_no_observability_keys(tmp_path):
    bundle = freeze(*validated(*WATCHED), runs_dir=tmp_path)
    for name in ("resolved.yaml", "job_config.toml", "provenance.json"):
        text = (bundle / name).read_text()
        assert "enable_tensorboard" not in text and "save_tb_folder" not in text, name


def test_the_watched_settings_come_from_the_config():
    _, config = validated(*WATCHED)
    settings = observability.settings_of(config)
    assert settings["metrics.enable_tensorboard"] is True
    assert settings["metrics.save_tb_folder"] == "tensorboard"
    assert observability.launch_arguments(settings)[:3] == [
        "--metrics.enable_tensorboard",
        "--metrics.save_tb_folder",
        "tensorboard",
    ]
    assert observability.launch_arguments({"metrics.enable_wandb": False}) == ["--metrics.no-enable_wandb"]
    assert "--metrics.enable_tensorboard=true" in observability.cli_arguments(settings)


def test_train_bundle_passes_them_to_torchtitan(tmp_path, capsys):
    bundle = freeze(*validated(), runs_dir=tmp_path)
    assert cli.main(["train", "--bundle", str(bundle), "--dry-run", "--metrics.enable_tensorboard=true"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("--metrics.enable_tensorboard")


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--training.steps=5"], "training.steps cannot change at train time: the bundle is frozen"),
        (["--metrics.enable_tensorboard=maybe"], "expected true or false, got 'maybe'"),
        (
            ["--metrics.save_tb_folder=../outside"],
            "must be a folder inside the bundle's train/, got '../outside'",
        ),
    ],
    ids=["frozen-key", "not-a-bool", "escaping-folder"],
)
def test_train_bundle_refuses_anything_else(arguments, message):
    with pytest.raises(ConfigErrors) as caught:
        observability.from_overrides(arguments)
    assert [error.message for error in caught.value.errors] == [message]


@pytest.mark.skipif(importlib.util.find_spec("wandb") is not None, reason="wandb is installed here")
def test_wandb_without_the_package_is_refused_at_preflight():
    resolved, config = validated("--metrics.enable_wandb=true")
    [problem] = [
        p for p in preflight(config, origin_of=resolved.origin_of) if p.key == "metrics.enable_wandb"
    ]
    assert (
        problem.message == "Weights & Biases logging is requested but the wandb package is not installed here"
    )
    assert "WANDB_MODE=offline" in problem.hint


def test_the_train_record_names_the_settings_used(tmp_path, monkeypatch):
    # train() records what it passed before launching; stop right after the record is written.
    from primus.backends.torchtitan import runner

    bundle = freeze(*validated(), runs_dir=tmp_path)

    def stop(*args, **kwargs):
        raise SystemExit("launch")

    monkeypatch.setattr(runner, "_run_torchrun", stop)
    with pytest.raises(SystemExit):
        runner.train(bundle, observability={"metrics.enable_tensorboard": True})
    record = json.loads((bundle / "train" / observability.RECORD).read_text())
    assert record == {"metrics.enable_tensorboard": True}
