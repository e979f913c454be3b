"""Inputs that fit no machine type or no file system, and inputs that would cost too much, are refused.

Each case is refused at load/validate (exit 2, file:line, no traceback), never after launch. The time
each takes is measured in bench/bench_hostile_inputs.py, not here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hand_built import EXPERIMENT, resolved

from primus.cli import main
from primus.config import load_experiment, yaml_io
from primus.config.yaml_io import parse_yaml_text
from primus.errors import ConfigErrors, ConfigFileNotFoundError, TooManyNodesError
from primus.validate import validate

REPO = Path(__file__).resolve().parents[1]
CPU_DEFAULT = REPO / "examples/torchtitan/configs/CPU/llama3_debugmodel-pretrain.yaml"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("training.steps", 10**400, "does not fit a 64-bit integer"),  # Invalid: beyond int64
        ("training.local_batch_size", 10**30, "does not fit a 64-bit integer"),
        ("training.steps", "9223372036854775808", "does not fit a 64-bit integer"),  # int64 max + 1, as text
        ("training.steps", "\u0665", "expected int, got str"),  # Invalid: an Arabic-Indic five is not 5
        ("optimizer.lr", "\u0665", "expected float, got str"),
        ("optimizer.lr", float("nan"), "expected a finite float"),  # Invalid: YAML .nan
        ("optimizer.eps", float("inf"), "expected a finite float"),  # Invalid: YAML .inf
        ("optimizer.weight_decay", float("-inf"), "expected a finite float"),
        ("optimizer.lr", 10**400, "expected a finite float"),  # Invalid: float(10**400) overflows
        ("optimizer.lr", "1e400", "expected a finite float"),  # Invalid: text that reads as inf
        ("training.max_norm", float("nan"), "expected float | int"),
    ],
    ids=lambda item: str(item)[:24],
)
def test_a_value_no_machine_type_holds_is_refused_at_validate(key, value, message):
    with pytest.raises(ConfigErrors) as caught:
        validate(resolved(("overrides", {key: value})))
    (error,) = caught.value.errors
    assert (error.key, error.file, error.line) == (key, EXPERIMENT, 20)
    assert message in error.message


def test_the_largest_int64_is_accepted():
    config = validate(resolved(("overrides", {"training.steps": 2**63 - 1})))
    assert config["training"]["steps"] == 2**63 - 1


def write_experiment(tmp_path: Path, old: str, new: str) -> Path:
    text = CPU_DEFAULT.read_text()
    assert old in text
    path = tmp_path / "exp.yaml"
    path.write_text(text.replace(old, new))
    return path


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("steps: 50", "steps: 1" + "0" * 5000, "an integer of 5001 characters does not fit any machine type"),
        ("lr: 8.0e-4", "lr: .nan", "expected a finite float"),
        ("workspace: ./output", "workspace: ./out${UNCLOSED", "unterminated placeholder '${UNCLOSED'"),
        ("lr: 8.0e-4", "lr: ${A:${B}}", "nested placeholder in '${A:${B}}'"),
        (
            "exp_name: ${PRIMUS_EXP_NAME:llama3_debugmodel-pretrain}",
            "exp_name: 'my run'",
            "'my run' cannot be a folder name",
        ),
        (
            "exp_name: ${PRIMUS_EXP_NAME:llama3_debugmodel-pretrain}",
            "exp_name: -rf",
            "cannot be a folder name",
        ),
        ("exp_name: ${PRIMUS_EXP_NAME:llama3_debugmodel-pretrain}", 'exp_name: "a\'b"', "cannot be a folder"),
        (
            "exp_name: ${PRIMUS_EXP_NAME:llama3_debugmodel-pretrain}",
            'exp_name: "run\\n"',
            "cannot be a folder",
        ),
        (
            "exp_name: ${PRIMUS_EXP_NAME:llama3_debugmodel-pretrain}",
            'exp_name: "a\\tb"',
            "cannot be a folder",
        ),
        (
            "exp_name: ${PRIMUS_EXP_NAME:llama3_debugmodel-pretrain}",
            "exp_name: " + "x" * 201,
            "201 characters",
        ),
    ],
    ids=[
        "int-5001-digits",
        "nan-lr",
        "unterminated-placeholder",
        "nested-placeholder",
        "exp-name-space",
        "exp-name-dash",
        "exp-name-quote",
        "exp-name-newline",
        "exp-name-tab",
        "exp-name-201",
    ],
)
def test_a_bad_file_is_refused_by_validate_with_exit_2_and_no_traceback(tmp_path, capsys, old, new, message):
    path = write_experiment(tmp_path, old, new)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_an_exp_name_refused_at_validate_never_reaches_freeze(tmp_path, capsys):
    path = write_experiment(
        tmp_path, "exp_name: ${PRIMUS_EXP_NAME:llama3_debugmodel-pretrain}", "exp_name: 'a b'"
    )
    assert main(["resolve", "--freeze", "--runs-dir", str(tmp_path / "runs"), str(path)]) == 2
    assert "exp.yaml:14: exp_name: 'a b' cannot be a folder name" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "text",
    [
        "x: [" + ",".join(["1"] * (yaml_io.MAX_NODES + 1)) + "]\n",  # one flow list
        "x:\n" + "- 1\n" * (yaml_io.MAX_NODES + 1),  # one block list
        "".join(f"k{i}: {i}\n" for i in range(yaml_io.MAX_NODES)),  # one wide mapping
    ],
    ids=["flow-list", "block-list", "mapping"],
)
def test_more_nodes_than_any_config_needs_are_refused_before_composing(text):
    with pytest.raises(TooManyNodesError) as caught:
        parse_yaml_text(text, "big.yaml")
    assert caught.value.message.startswith(f"more than {yaml_io.MAX_NODES:,} YAML nodes")
    assert caught.value.file == "big.yaml" and caught.value.line >= 1


def test_a_file_just_under_the_node_limit_is_read():
    items = yaml_io.MAX_NODES - 2  # the mapping, its key and the list are nodes too
    data = parse_yaml_text("x: [" + ",".join(["1"] * (items - 1)) + "]\n", "ok.yaml")
    assert len(data["x"]) == items - 1


def test_a_missing_absolute_extends_suggests_only_from_the_folder_it_names(tmp_path, monkeypatch):
    folder = tmp_path / "presets"
    (folder / "deep" / "deeper").mkdir(parents=True)
    (folder / "quantize.yaml").write_text("a: 1\n")
    (folder / "deep" / "deeper" / "quantise.yml").write_text("a: 1\n")  # below it: never searched
    experiment = tmp_path / "exp.yaml"
    experiment.write_text(f"extends:\n  - {folder / 'quantise.yaml'}\n" + CPU_DEFAULT.read_text())

    def no_tree_walks(*_args, **_kwargs):
        raise AssertionError("a suggestion walked a folder tree")

    monkeypatch.setattr(Path, "rglob", no_tree_walks)
    with pytest.raises(ConfigFileNotFoundError) as caught:
        load_experiment(experiment, env={})
    assert caught.value.line == 2
    assert caught.value.hint == "did you mean: quantize.yaml?"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('dataset: "' + "${A:1}" * 1001 + '"', "more than 1000 ${...} placeholders in one file"),
        ("extends: [" + ",".join(["base.yaml"] * 65) + "]", "extends lists 65 files; at most 64 are read"),
        (
            "model: {converters: [" + ",".join(f"c{i}" for i in range(6)) + "]}",
            "6 unknown converters: 'c0', 'c1', 'c2', 'c3', 'c4' ...",
        ),
    ],
    ids=["placeholders", "extends", "converters"],
)
def test_generated_repetition_is_one_message_not_thousands(tmp_path, capsys, body, message):
    (tmp_path / "base.yaml").write_text("training: {steps: 5}\n")
    if body.startswith("extends"):
        text = body + "\n" + CPU_DEFAULT.read_text()
    else:
        key, _, value = body.partition(": ")
        text = CPU_DEFAULT.read_text().replace(
            "      training:\n", f"      {key}: {value}\n      training:\n", 1
        )
        if key == "dataset":
            text = CPU_DEFAULT.read_text().replace(
                "      training:\n", f"      training:\n        {body}\n", 1
            )
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") < 12
