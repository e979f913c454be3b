"""The experiment's top-level ``env:`` and the ``primus-cli direct`` launcher options (--env, --log_file).

``env:`` names are checked, values must be strings; the mapping is in resolved.yaml (so in the hash), in
lock.json, and set for the launched processes. Bad input: exit 2, file:line, no traceback, nothing written.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from primus.cli import main

REPO = Path(__file__).resolve().parents[1]
CPU_DEFAULT = REPO / "examples/torchtitan/configs/CPU/llama3_debugmodel-pretrain.yaml"


pytestmark = pytest.mark.usefixtures("isolated_cli")


def _experiment(tmp_path: Path, env_lines: str) -> Path:
    """A CPU experiment whose ``env:`` entries start at line 6."""
    path = tmp_path / "exp.yaml"
    path.write_text(
        "work_group: t\nuser_name: t\nexp_name: env-check\nworkspace: ./output\nenv:\n"
        + textwrap.indent(textwrap.dedent(env_lines), "  ")
        + "modules:\n  pre_trainer:\n    framework: torchtitan\n    config: pre_trainer.yaml\n"
        "    model: llama3_debugmodel.yaml\n    overrides:\n      training:\n        mock_data: true\n",
        encoding="utf-8",
    )
    return path


#: (env lines at line 6+, key, line, message, hint)
BAD_ENV = {
    "bad-name": (
        "1BAD: x\n",
        "env.1BAD",
        6,
        "'1BAD' is not an environment variable name",
        "use letters, digits and '_', not starting with a digit (e.g. NCCL_DEBUG)",
    ),
    "name-with-a-dash": (
        'NCCL-DEBUG: "WARN"\n',
        "env.NCCL-DEBUG",
        6,
        "'NCCL-DEBUG' is not an environment variable name",
        "use letters, digits and '_', not starting with a digit (e.g. NCCL_DEBUG)",
    ),
    "number-value": (
        "OMP_NUM_THREADS: 4\n",
        "env.OMP_NUM_THREADS",
        6,
        "must be a string, got a number 4",
        'quote it: OMP_NUM_THREADS: "4"',
    ),
    "boolean-value": (
        "NCCL_DEBUG: WARN\nTORCH_SHOW_CPP_STACKTRACES: true\n",
        "env.TORCH_SHOW_CPP_STACKTRACES",
        7,
        "must be a string, got a boolean True",
        'quote it: TORCH_SHOW_CPP_STACKTRACES: "true"',
    ),
    "secret-looking-name": (
        "HF_TOKEN: abc\n",
        "env.HF_TOKEN",
        6,
        "'HF_TOKEN' looks like a secret: its value would be written into the run bundle",
        "export HF_TOKEN in the environment of the launch instead (it is passed on)",
    ),
}


@pytest.mark.parametrize(("lines", "key", "line", "message", "hint"), BAD_ENV.values(), ids=BAD_ENV)
def test_bad_env_entry_is_one_clear_error_and_nothing_is_written(
    tmp_path, capsys, lines, key, line, message, hint
):
    experiment = _experiment(tmp_path, lines)
    assert main(["resolve", "--freeze", str(experiment)]) == 2
    err = capsys.readouterr().err
    assert f"{experiment}:{line}: {key}: {message}\n  hint: {hint}" in err
    assert "Traceback" not in err
    assert not (tmp_path / "runs").exists()


def test_env_is_in_resolved_yaml_the_lock_and_the_hash(tmp_path, capsys):
    experiment = _experiment(tmp_path, 'NCCL_DEBUG: "WARN"\n')
    assert main(["resolve", "--freeze", str(experiment)]) == 0
    bundle = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert yaml.safe_load((bundle / "resolved.yaml").read_text())["envelope"]["env"] == {"NCCL_DEBUG": "WARN"}
    assert json.loads((bundle / "lock.json").read_text())["run_env"] == {"NCCL_DEBUG": "WARN"}
    other = _experiment(tmp_path, 'NCCL_DEBUG: "INFO"\n')
    assert main(["resolve", "--freeze", str(other)]) == 0
    assert Path(capsys.readouterr().out.strip().splitlines()[-1]) != bundle

    from primus.backends.torchtitan.runner import bundle_run_env

    assert bundle_run_env(bundle) == {"NCCL_DEBUG": "WARN"}


def test_the_launched_processes_get_the_env(tmp_path):
    from primus.backends.torchtitan import runner

    log = tmp_path / "train.log"
    script = "import os; print('[titan] x - root - INFO - value', os.environ['PRIMUS_TEST_VALUE'])"
    code, _ = runner._run_torchrun(
        [sys.executable, "-c", script], log, tmp_path / "m.jsonl", 1, run_env={"PRIMUS_TEST_VALUE": "42"}
    )
    assert code == 0
    assert "[titan] x - root - INFO - value 42" in log.read_text().splitlines()


def test_direct_env_option_joins_the_experiment_env_and_changes_the_bundle(tmp_path, capsys):
    experiment = _experiment(tmp_path, 'NCCL_DEBUG: "WARN"\n')
    command = ["direct", "--env", "NCCL_DEBUG=INFO", "--env", "EXTRA=1", "--", "train", "pretrain"]
    assert main([*command, "--config", str(experiment), "--dry-run"]) == 0
    with_env = capsys.readouterr().out
    assert main(["direct", "--", "train", "pretrain", "--config", str(experiment), "--dry-run"]) == 0
    without = capsys.readouterr().out

    def bundle_line(text: str) -> str:
        return next(line for line in text.splitlines() if line.startswith("bundle (dry run"))

    assert bundle_line(with_env) != bundle_line(without)


def test_direct_log_file_gets_everything_the_run_prints(tmp_path, capsys):
    log = tmp_path / "logs" / "direct.log"
    command = ["direct", "--log_file", str(log), "--", "train", "pretrain", "--config", str(CPU_DEFAULT)]
    assert main([*command, "--dry-run", "--training.steps", "3", "--lr_scheduler.warmup_steps", "5"]) == 0
    out, err = capsys.readouterr()
    text = log.read_text()
    assert "framework:        torchtitan" in out and "framework:        torchtitan" in text
    assert "warning: warmup_steps(5) exceeds training.steps(3)" in err
    assert "warning: warmup_steps(5) exceeds training.steps(3)" in text


BAD_LAUNCHER = {
    "misspelt-dry-run-after-the-command": (
        ["--", "train", "pretrain", "--config", "X", "--dryrun"],
        "--dryrun",
    ),
    "misspelt-dry-run-before": (["--dryrun", "--", "train", "pretrain", "--config", "X"], "--dryrun"),
    "unknown-before": (["--nodes", "2", "--", "train", "pretrain", "--config", "X"], "--nodes"),
    "env-without-value": (["--env", "NOVALUE", "--", "train", "pretrain", "--config", "X"], None),
}


@pytest.mark.parametrize(("words", "option"), BAD_LAUNCHER.values(), ids=BAD_LAUNCHER)
def test_an_unknown_launcher_option_is_an_error_that_says_so(tmp_path, capsys, words, option):
    words = [str(CPU_DEFAULT) if word == "X" else word for word in words]
    assert main(["direct", *words]) == 2
    err = capsys.readouterr().err
    if option is None:
        assert "--env 'NOVALUE' is not KEY=VALUE" in err
    else:
        assert f"unknown option '{option}' of primus-cli direct" in err
    if option == "--dryrun":
        assert "did you mean: --dry-run?" in err
    assert "Traceback" not in err
    assert not (tmp_path / "runs").exists()
