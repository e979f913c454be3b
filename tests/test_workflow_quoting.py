"""No workflow config value reaches a shell unquoted: hostile paths in every path-like key run literally.

Spaces, quotes, ``$(...)`` and backticks in ``exp``, ``runs_dir`` and ``primus_cli`` must neither break a
rule nor run a command; control characters (and braces in ``runs_dir``) are refused by the schema.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

#: What a careless or hostile value looks like: every shell metacharacter that matters, and spaces.
HOSTILE = "a b $(touch pwned1) `touch pwned2` \"dq\" 'sq' ; touch pwned3"


def _no_command_ran(*folders: Path) -> None:
    for folder in folders:
        assert not [p for p in folder.rglob("pwned*")], f"a config value ran as a command under {folder}"


def test_the_issue_reproduction_runs_no_command(snakemake, tmp_path):
    result = snakemake("-c1", "validate", "--config", "runs_dir=r$(touch pwned)", cwd=tmp_path)
    _no_command_ran(tmp_path)
    assert (tmp_path / "r$(touch pwned)" / ".workflow").is_dir(), result.stdout


@pytest.mark.slow
def test_every_rule_runs_with_hostile_exp_and_runs_dir_paths(snakemake, tiny_experiment, tmp_path):
    folder = tmp_path / f"exp {HOSTILE}"
    folder.mkdir()
    experiment = tiny_experiment(folder, steps=2)
    runs_dir = f"runs {HOSTILE}"
    snakemake("-c1", "train", "--config", f"exp={experiment}", f"runs_dir={runs_dir}", cwd=tmp_path)
    _no_command_ran(tmp_path)
    (verdict,) = (tmp_path / runs_dir).glob("*/*/verify/verdict.json")
    assert json.loads(verdict.read_text())["passed"] is True
    assert (verdict.parents[1] / "train" / "DONE").is_file()


def test_a_primus_cli_command_is_split_into_quoted_words(snakemake, tmp_path):
    # echo stands in for primus-cli: the stamp then holds the words the rule passed, literally.
    snakemake("-c1", "validate", "--config", "primus_cli=echo $(touch pwned) `touch pwned2`", cwd=tmp_path)
    _no_command_ran(tmp_path)
    (stamp,) = (tmp_path / "runs" / ".workflow").glob("*/*/validated")
    assert stamp.read_text().startswith("$(touch pwned) `touch pwned2` validate ")


@pytest.mark.parametrize(
    "setting",
    [
        'runs_dir: "runs\\nx"',  # Invalid: a newline breaks every stamp that holds a path
        "runs_dir: runs/{exp_name}",  # Invalid: braces are Snakemake wildcards in output paths
        "platform: ../MI300X",  # Invalid: a platform is one folder name
        'exp: "a\\tb.yaml"',  # Invalid: control character
    ],
    ids=["newline", "braces", "platform-path", "tab"],
)
def test_control_characters_and_wildcards_in_paths_are_refused_by_the_schema(snakemake, tmp_path, setting):
    (tmp_path / "bad.yaml").write_text(setting + "\n")
    result = snakemake("-n", "validate", "--configfile", "bad.yaml", cwd=tmp_path, check=False)
    assert result.returncode != 0
    assert "does not match" in result.stdout, result.stdout
    assert not (tmp_path / "runs").exists()
