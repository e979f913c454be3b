"""The workflow config against its schema, without Snakemake: command-line text becomes the schema's
numbers and booleans, and every bad setting is one message naming its key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from primus.errors import ConfigErrors, ConfigKeyError, ConfigTypeError, ConfigValueError
from primus.workflow_config import check, command_line_values, load_schema

REPO = Path(__file__).resolve().parents[1]
SCHEMA = load_schema(REPO / "workflow" / "schemas" / "config.schema.yaml")


def shipped() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text(encoding="utf-8"))


def test_the_shipped_config_passes_and_leaves_gpus_and_memory_to_the_platform():
    config = shipped()
    check(config, SCHEMA)
    # set here, they would override the platform's 8 GPUs / whole-node memory for every GPU experiment
    assert "gpus_per_node" not in config["slurm"] and "mem_mb" not in config["slurm"]


def test_nested_command_line_text_becomes_the_schemas_numbers():
    # what Snakemake's --config slurm='{nodes: 2, mem_mb: 8000}' gives (YAML BaseLoader: all text)
    config = {"exp": "123", "slurm": {"nodes": "2", "mem_mb": " 8000 "}, "strict": "true"}
    command_line_values(config, SCHEMA)
    assert config == {"exp": "123", "slurm": {"nodes": 2, "mem_mb": 8000}, "strict": "true"}
    check(config, SCHEMA)  # exp stays text (a path may be digits); strict accepts the words true/false


def test_text_that_spells_no_number_is_left_for_the_check():
    config = {"slurm": {"nodes": "two"}}
    command_line_values(config, SCHEMA)
    assert config == {"slurm": {"nodes": "two"}}
    with pytest.raises(ConfigTypeError) as caught:
        check(config, SCHEMA)
    assert caught.value.key == "slurm.nodes"
    assert caught.value.message == "must be an integer, got 'two'"
    assert caught.value.hint.startswith("Nodes of the train job")


def test_an_unknown_key_names_its_section_and_the_nearest_key():
    with pytest.raises(ConfigKeyError) as caught:
        check({"slurm": {"runtime": 5}}, SCHEMA)
    assert caught.value.key == "slurm.runtime"
    assert caught.value.message == "Key 'runtime' not in 'slurm'. Did you mean: 'runtime_min'?"
    assert "nodes, gpus_per_node" in caught.value.hint


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigErrors) as caught:
        check({"runtime": "podman", "slurm": {"runtime_min": 0, "signal_s": -1}, "plots": 1}, SCHEMA)
    problems = {error.key: error for error in caught.value.errors}
    assert set(problems) == {"plots", "runtime", "slurm.runtime_min", "slurm.signal_s"}
    assert isinstance(problems["runtime"], ConfigValueError)
    assert problems["runtime"].message == "must be one of host, container; got 'podman'"
    assert problems["slurm.runtime_min"].message == "must be at least 1, got 0"
    assert problems["plots"].message == "Key 'plots' not in the workflow config."
