"""Values are coerced to their JobConfig field types and returned in the config's own nesting."""

from __future__ import annotations

import pytest
from hand_built import resolved

from primus.errors import ConfigKeyError, MismatchError
from primus.validate import field_doc, field_type, known_keys, list_models, schema_default, validate
from primus.validate.coerce import coerce

EXTENSION_MODULE = "primus.backends.torchtitan.primus_turbo_extensions.config_extension"

COERCIONS = {
    # (field, given, returned)
    "yaml-1.1-exponent-string-becomes-float": ("optimizer.lr", "1e-5", 1e-5),
    "command-line-float-text": ("optimizer.lr", "3.0e-4", 3.0e-4),
    "int-into-float-field": ("optimizer.lr", 1, 1.0),
    "command-line-int-text": ("training.steps", "50", 50),
    "command-line-bool-text-any-case": ("checkpoint.enable", "True", True),
    "comma-separated-list-from-command-line": ("compile.components", "model, loss", ["model", "loss"]),
    "int-into-str-field-keeps-its-text": ("activation_checkpoint.selective_ac_option", 2, "2"),
    "float-or-int-keeps-an-int": ("training.max_norm", 1, 1),
    "list-or-str-keeps-a-string": ("quantize.grouped_mm.float8.fqns", "experts", "experts"),
    "optional-takes-yaml-null": ("lr_scheduler.decay_ratio", None, None),
    "optional-float-from-text": ("lr_scheduler.decay_ratio", "0.8", 0.8),
    "string-null-stays-a-string-in-a-str-field": ("job.description", "null", "null"),
    "list-of-lists": (
        "parallelism.module_fqns_per_model_part",
        [["tok_embeddings"], ["norm"]],
        [["tok_embeddings"], ["norm"]],
    ),
}


@pytest.mark.parametrize(("key", "given", "expected"), COERCIONS.values(), ids=COERCIONS.keys())
def test_value_is_coerced_to_the_field_type(key: str, given: object, expected: object) -> None:
    config = validate(resolved(("command line", {key: given})), env={})
    node = config
    for part in key.split("."):
        node = node[part]
    assert node == expected
    assert type(node) is type(expected)


def test_result_keeps_only_given_keys_in_the_same_nesting() -> None:
    config = validate(resolved(("overrides", {"quantize.linear.float8.emulate": True})), env={})
    assert config == {
        "model": {"name": "llama3", "flavor": "debugmodel"},
        "training": {"mock_data": True, "steps": 10, "seq_len": 256, "local_batch_size": 2},
        "lr_scheduler": {"warmup_steps": 2},
        "optimizer": {"lr": 8.0e-4},
        "quantize": {"linear": {"float8": {"emulate": True}}},
    }


def test_null_section_means_all_defaults() -> None:
    config = validate(resolved(("overrides", {"profiling": None})), env={})
    assert config["profiling"] == {}


def test_module_level_keys_and_primus_turbo_are_accepted() -> None:
    layer = {
        "trainable": False,
        "sink_level": None,
        "file_sink_level": "DEBUG",
        "stderr_sink_level": "INFO",
        "primus_turbo.use_turbo_attention": True,
        "model.converters": ["primus_turbo"],
        "experimental.custom_args_module": EXTENSION_MODULE,
    }
    config = validate(resolved(("module preset", layer)), env={})
    assert config["primus_turbo"] == {"use_turbo_attention": True}
    assert config["stderr_sink_level"] == "INFO"


def test_nan_text_is_rejected_for_a_float() -> None:
    with pytest.raises(MismatchError, match="expected a finite float, got str 'nan'"):
        coerce("nan", {"kind": "float"})


def test_literal_does_not_take_a_bool_for_a_matching_number() -> None:
    with pytest.raises(MismatchError):
        coerce(True, {"kind": "literal", "choices": [1]})


# ------------------------------------------------------------------------------------ helpers for the CLI
def test_schema_default_gives_torchtitan_and_extension_defaults() -> None:
    assert schema_default("training.steps") == 10000
    assert schema_default("parallelism.data_parallel_shard_degree") == -1
    assert schema_default("training.mock_data") is False
    assert schema_default("compile.components") == ["model", "loss"]
    assert schema_default("stderr_sink_level") == "INFO"


def test_schema_default_of_unknown_key_is_a_config_key_error() -> None:
    with pytest.raises(ConfigKeyError) as caught:
        schema_default("training.stpes")
    assert caught.value.key == "training.stpes"


def test_field_doc_carries_units_and_sentinels() -> None:
    assert "-1 means leftover ranks will be used" in field_doc("parallelism.data_parallel_shard_degree")
    assert "synthetic" in field_doc("training.mock_data")
    assert field_type("lr_scheduler.decay_ratio") == "float | None"
    assert field_type("lr_scheduler.decay_type") == "'linear' | 'sqrt' | 'cosine'"


def test_known_keys_cover_every_section_and_the_primus_parts() -> None:
    keys = known_keys()
    sections = {key.split(".")[0] for key in keys if "." in key}
    assert sections == {
        "job", "profiling", "metrics", "model", "optimizer", "lr_scheduler", "training", "parallelism",
        "checkpoint", "activation_checkpoint", "compile", "quantize", "comm", "memory_estimation",
        "fault_tolerance", "experimental", "validation", "debug", "primus_turbo",
    }  # fmt: skip
    assert {"trainable", "sink_level", "file_sink_level", "stderr_sink_level"} <= keys
    assert "debug.seed" in keys and "training.seed" not in keys


def test_list_models_gives_parameter_counts_from_the_registry() -> None:
    rows = {(row["family"], row["flavor"]): row for row in list_models()}
    assert rows[("llama3", "debugmodel")]["params"] == 6_163_712
    qwen3_8b = rows[("qwen3", "8B")]
    assert (qwen3_8b["dim"], qwen3_8b["n_layers"], qwen3_8b["n_heads"], qwen3_8b["n_kv_heads"]) == (
        4096,
        36,
        32,
        8,
    )
    assert (qwen3_8b["vocab_size"], qwen3_8b["max_seq_len"], qwen3_8b["moe"]) == (151936, 4096, False)
    assert rows[("deepseek_v3", "16B")]["moe"] is True
