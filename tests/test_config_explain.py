"""primus.config.explain: where a value came from, and the resolved config as stable text."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from primus.config import (
    Origin,
    Setting,
    explain,
    explain_section,
    load_experiment,
    provenance_records,
    render,
    resolved_document,
)

ASSETS = Path(__file__).parent / "assets" / "config"


@pytest.fixture
def resolved(tmp_path, monkeypatch):
    shutil.copytree(ASSETS, tmp_path / "assets")
    monkeypatch.chdir(tmp_path / "assets")
    return load_experiment(
        "experiments/tiny.yaml", ["--training.steps", "5"], env={}, configs_root=Path("configs")
    )


def test_explain_lists_settings_lowest_first_and_marks_the_winner(resolved):
    explanation = explain(resolved, "training.steps")
    assert [setting.value for setting in explanation.settings] == [10000, 20, 5]
    assert explanation.winner == Setting(5, Origin("<command line>", 0, "command line"))
    assert explanation.format() == (
        "training.steps = 5\n"
        "  * 5      <command line>  (command line)\n"
        "    20     experiments/tiny.yaml:15  (overrides)\n"
        "    10000  configs/modules/torchtitan/pre_trainer.yaml:14  (module preset)"
    )


def test_explain_of_a_key_no_layer_set_has_no_winner(resolved):
    explanation = explain(resolved, "training.gc_freq")
    assert explanation.settings == ()
    assert explanation.winner is None
    assert explanation.format() == "training.gc_freq: not set by any layer"


def test_explain_section_covers_every_leaf_under_the_prefix(resolved):
    keys = [explanation.key for explanation in explain_section(resolved, "training")]
    assert keys == ["training.local_batch_size", "training.mock_data", "training.seq_len", "training.steps"]


def test_render_yaml_is_sorted_and_round_trips(resolved):
    text = render(resolved)
    assert yaml.safe_load(text) == resolved_document(resolved)
    assert text.startswith("config:\n  activation_checkpoint:\n    mode: none\n")
    assert "\nenvelope:\n" in text and "\nframework: torchtitan\nmodule: pre_trainer\n" in text


def test_render_is_stable_whatever_the_key_order(resolved):
    shuffled = {key: resolved.config[key] for key in reversed(list(resolved.config))}
    assert render({"config": shuffled}) == render({"config": resolved.config})


def test_render_json_is_sorted_and_round_trips(resolved):
    text = render(resolved, "json")
    assert json.loads(text) == resolved_document(resolved)
    assert text.endswith("}\n")
    assert list(json.loads(text)) == ["config", "envelope", "framework", "module", "presets"]


def test_render_refuses_an_unknown_format(resolved):
    with pytest.raises(ValueError, match="unknown format 'toml'"):
        render(resolved, "toml")  # type: ignore[arg-type]


def test_provenance_records_are_plain_json(resolved):
    records = provenance_records(resolved)
    assert records["training.steps"][0] == {
        "value": 10000,
        "file": "configs/modules/torchtitan/pre_trainer.yaml",
        "line": 14,
        "layer": "module preset",
    }
    json.dumps(records)  # everything in it serialises
