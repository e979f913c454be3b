"""Warnings through the CLI: printed like errors (file:line, dotted key, what TorchTitan will do, a hint),
exit status 0; ``--strict`` on validate, resolve and direct makes them errors (exit 2, nothing written).

The config is the CPU default with a warmup longer than the run, which TorchTitan 0.2.2 clamps (a warning).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from primus.cli import main

REPO = Path(__file__).resolve().parents[1]
CPU_DEFAULT = REPO / "examples/torchtitan/configs/CPU/llama3_debugmodel-pretrain.yaml"
LONG_WARMUP = ["--training.steps", "3", "--lr_scheduler.warmup_steps", "10"]
WARNING = (
    "<command line>: lr_scheduler.warmup_steps: warning: warmup_steps(10) exceeds training.steps(3): "
    "TorchTitan will clamp the warmup to 3 steps, so the learning rate peaks only at the last step"
)


pytestmark = pytest.mark.usefixtures("isolated_cli")


def test_validate_prints_the_warning_and_exits_0(capsys):
    assert main(["validate", str(CPU_DEFAULT), *LONG_WARMUP]) == 0
    out, err = capsys.readouterr()
    assert "(1 warning)" in out
    assert "  " + WARNING in err.splitlines()
    assert "    hint: set lr_scheduler.warmup_steps to at most 3" in err


def test_validate_strict_makes_the_warning_an_error(capsys):
    assert main(["validate", "--strict", str(CPU_DEFAULT), *LONG_WARMUP]) == 2
    err = capsys.readouterr().err
    assert "  " + WARNING.replace("warning: ", "") in err.splitlines()
    assert "an error because of --strict" in err
    assert "1 of 1 file invalid" in err


def test_resolve_strict_refuses_and_freezes_nothing(capsys, tmp_path):
    code = main(["resolve", "--strict", "--freeze", str(CPU_DEFAULT), *LONG_WARMUP])
    assert code == 2
    assert WARNING.replace("warning: ", "") in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_resolve_without_strict_prints_the_config_and_the_warning(capsys):
    assert main(["resolve", str(CPU_DEFAULT), *LONG_WARMUP]) == 0
    out, err = capsys.readouterr()
    assert "warmup_steps: 10" in out  # the value as written: TorchTitan clamps it at run time
    assert WARNING in err


def test_direct_dry_run_warns_and_strict_refuses(capsys, tmp_path):
    command = ["direct", "--", "train", "pretrain", "--config", str(CPU_DEFAULT), "--dry-run", *LONG_WARMUP]
    assert main(command) == 0
    assert WARNING in capsys.readouterr().err
    assert main([*command, "--strict"]) == 2
    assert "an error because of --strict" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_workflow_strict_refuses_at_planning_and_passes_strict_to_the_rules(tmp_path):
    from primus.errors import ConfigErrors
    from primus.workflow import plan_run

    settings = {"exp": str(CPU_DEFAULT), "overrides": LONG_WARMUP, "runs_dir": str(tmp_path / "runs")}
    assert plan_run(settings, root=REPO).strict is False
    for strict in (True, "true"):  # config.yaml's boolean; `--config strict=true` gives the string
        with pytest.raises(ConfigErrors) as caught:
            plan_run({**settings, "strict": strict}, root=REPO)
        assert [e.key for e in caught.value.errors] == ["lr_scheduler.warmup_steps"]
    assert plan_run({**settings, "strict": "false"}, root=REPO).strict is False
    # Every rule that runs primus-cli on the experiment gets the run's arguments, --strict first.
    strict_run = plan_run({"exp": str(CPU_DEFAULT), "strict": True, "runs_dir": str(tmp_path)}, root=REPO)
    assert strict_run.cli_args.startswith("--strict ")
    assert not plan_run({"exp": str(CPU_DEFAULT)}, root=REPO).cli_args.startswith("--strict")
    for rule in ("validate.smk", "resolve.smk"):
        assert ".cli_args" in (REPO / "workflow/rules" / rule).read_text(encoding="utf-8")
