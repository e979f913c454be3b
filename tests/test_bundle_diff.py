"""diff_bundles(): per-key differences with where each side's value came from, printable as a table."""

from __future__ import annotations

from pathlib import Path

import pytest

from primus.bundle import MISSING, KeyDiff, diff_bundles, format_diff, freeze
from primus.config import load_experiment
from primus.validate import validate

REPO = Path(__file__).resolve().parent.parent
EXPERIMENT = REPO / "examples/torchtitan/configs/CPU/llama3_debugmodel-pretrain.yaml"
PACKAGES = {"torch": "2.13.0", "torchtitan": "0.2.2", "primus_turbo": None, "python": "3.11.7"}


def frozen(runs: Path, overrides=(), env=None, packages=PACKAGES) -> Path:
    resolved = load_experiment(EXPERIMENT, overrides, env=env or {})
    return freeze(resolved, validate(resolved, env={}), runs_dir=runs, packages=packages)


@pytest.fixture
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(REPO)  # provenance paths are shown relative to the current folder
    return tmp_path / "runs"


def test_identical_bundles_have_no_differences(runs: Path):
    bundle = frozen(runs)
    assert diff_bundles(bundle, bundle) == []
    assert format_diff([]) == "no differences"


def line_of(path: Path, text: str) -> int:
    """1-based number of the first line of ``path`` containing ``text`` (the example files are not ours)."""
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_a_command_line_override_shows_both_values_and_their_origins(runs: Path):
    diffs = diff_bundles(frozen(runs), frozen(runs, ["--training.steps", "60"]))
    experiment = EXPERIMENT.relative_to(REPO).as_posix()
    assert diffs == [
        KeyDiff(
            key="training.steps",
            a_value=50,
            b_value=60,
            a_source=f"{experiment}:{line_of(EXPERIMENT, 'steps: 50')} (overrides)",
            b_source="<command line> (command line)",
        )
    ]


def test_env_and_package_differences_come_from_the_lock(runs: Path):
    a = frozen(runs)
    b = frozen(runs, env={"PRIMUS_USER": "alice"}, packages={**PACKAGES, "torch": "2.13.1"})
    by_key = {d.key: d for d in diff_bundles(a, b)}
    assert set(by_key) == {"envelope.user_name", "env.PRIMUS_USER", "packages.torch"}
    assert (by_key["env.PRIMUS_USER"].a_value, by_key["env.PRIMUS_USER"].b_value) == (None, "alice")
    assert by_key["packages.torch"].a_source == by_key["packages.torch"].b_source == "lock.json"
    assert by_key["envelope.user_name"].b_value == "alice"


def test_a_preset_value_is_traced_to_the_package_preset(runs: Path):
    diffs = diff_bundles(frozen(runs), frozen(runs, ["--training.gc_debug", "true"]))
    preset = REPO / "primus/configs/modules/torchtitan/pre_trainer.yaml"
    assert [(d.key, d.a_value, d.b_value) for d in diffs] == [("training.gc_debug", False, True)]
    line = line_of(preset, "gc_debug:")
    assert diffs[0].a_source == f"primus/configs/modules/torchtitan/pre_trainer.yaml:{line} (module preset)"


def test_format_diff_prints_an_aligned_markdown_table():
    diffs = [
        KeyDiff("training.steps", 50, 60, "exp.yaml:39 (overrides)", "<command line> (command line)"),
        KeyDiff("env.X", MISSING, "1", "-", "lock.json"),
    ]
    assert format_diff(diffs, a_label="old", b_label="new") == (
        "| key            | old     | old from                | new | new from                      |\n"
        "|----------------|---------|-------------------------|-----|-------------------------------|\n"
        "| training.steps | 50      | exp.yaml:39 (overrides) | 60  | <command line> (command line) |\n"
        '| env.X          | (unset) | -                       | "1" | lock.json                     |'
    )


def test_int_and_float_of_equal_value_are_a_difference():
    from primus.bundle.diff import _same

    assert not _same(1, 1.0)
    assert not _same(True, 1)
    assert _same([1, "a"], [1, "a"])
