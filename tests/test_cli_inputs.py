"""CLI corners: a dry run never shows a secret, validate takes key=value, explain knows the envelope."""

from __future__ import annotations

from pathlib import Path

from primus.cli import main

REPO = Path(__file__).resolve().parents[1]
CPU_DEFAULT = REPO / "examples/torchtitan/configs/CPU/llama3_debugmodel-pretrain.yaml"
SECRET = "supersecretvalue123"


def test_a_dry_run_says_freeze_will_refuse_a_secret_and_never_prints_it(tmp_path, capsys, monkeypatch):
    text = CPU_DEFAULT.read_text().replace(
        "      training:\n", '      job:\n        description: "key ${WANDB_API_KEY}"\n      training:\n', 1
    )
    experiment = tmp_path / "exp.yaml"
    experiment.write_text(text)
    monkeypatch.setenv("WANDB_API_KEY", SECRET)
    monkeypatch.chdir(tmp_path)
    assert main(["direct", "--", "train", "pretrain", "--config", str(experiment), "--dry-run"]) == 0
    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err
    assert "job.description:  key <$WANDB_API_KEY, not shown>" in captured.out
    assert "freeze will refuse this config, so a real run stops here:" in captured.out
    assert "job.description: contains the value of ${WANDB_API_KEY}" in captured.out
    assert not (tmp_path / "runs").exists()


def test_validate_reads_section_key_value_as_an_override_not_a_file(capsys):
    assert main(["validate", str(CPU_DEFAULT), "training.steps=-5"]) == 2
    err = capsys.readouterr().err
    assert "<command line>: training.steps: must be a positive integer" in err
    assert "no experiment named" not in err
    assert main(["validate", str(CPU_DEFAULT), "training.steps=5"]) == 0


def test_explain_shows_an_envelope_key_instead_of_calling_it_unknown(capsys):
    assert main(["explain", str(CPU_DEFAULT), "user_name"]) == 0
    out = capsys.readouterr().out
    assert out.startswith('user_name = "root"\n')
    assert "a top-level key of the experiment" in out
