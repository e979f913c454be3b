"""job_config.toml writer: what goes in, what stays out, nulls, and TorchTitan's own loader reading it."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

import pytest

from primus.backends.torchtitan.job_toml import (
    NONE_DEFAULT_KEYS,
    PRIMUS_EXTENSION_MODULE,
    job_toml_data,
    job_toml_text,
    write_job_toml,
)
from primus.config.model import Origin
from primus.errors import ConfigValueError

EXTENSION = PRIMUS_EXTENSION_MODULE


def sample_config() -> dict[str, Any]:
    """A validated-config-shaped dict with every kind of value the TOML must carry."""
    return {
        "trainable": True,  # module-level Primus keys: not TorchTitan's
        "sink_level": "INFO",
        "stderr_sink_level": "WARNING",
        "job": {"dump_folder": "./outputs", "description": "qwen3 8B", "print_config": False},
        "model": {
            "name": "qwen3",
            "flavor": "debugmodel",
            "hf_assets_path": "tests/assets/tokenizer",
            "converters": [],
            "tokenizer_path": None,  # default None: omitted
        },
        "optimizer": {"name": "AdamW", "lr": 8.0e-4, "eps": 1.0e-8, "weight_decay": 0.1},
        "lr_scheduler": {
            "warmup_steps": 2,
            "decay_ratio": None,
            "decay_type": "linear",
            "min_lr_factor": 0.0,
        },
        "training": {
            "mock_data": True,  # Primus extension field
            "dataset": "c4_test",
            "dataset_path": None,
            "local_batch_size": 2,
            "seq_len": 256,
            "steps": 10,
            "max_norm": 1.0,
            "mixed_precision_param": "float32",
            "dataloader": {"num_workers": 0, "prefetch_factor": None},
        },
        "parallelism": {
            "data_parallel_shard_degree": -1,
            "module_fqns_per_model_part": [["tok_embeddings", "layers.0"], ["layers.1", "norm", "output"]],
            "pipeline_parallel_schedule_csv": "",
        },
        "checkpoint": {"enable": False, "folder": "checkpoint", "exclude_from_loading": []},
        "activation_checkpoint": {"mode": "none", "selective_ac_option": "2"},
        "compile": {"enable": False, "components": ["model", "loss"]},
        "quantize": {"linear": {"float8": {"recipe_name": None, "filter_fqns": ["output"]}}},
        "comm": {"init_timeout_seconds": 300},
        "fault_tolerance": {"enable": False, "semi_sync_method": None},
        "experimental": {"custom_import": "", "custom_args_module": EXTENSION},
        "validation": {"enable": False, "dataset_path": None},
        "debug": {"seed": 42, "deterministic": True},
        "primus_turbo": {"enable_primus_turbo": False, "use_turbo_attention": False},
    }


def test_module_level_primus_keys_are_left_out():
    data = job_toml_data(sample_config())
    assert {"trainable", "sink_level", "stderr_sink_level"}.isdisjoint(data)


def test_none_with_none_default_is_omitted():
    data = job_toml_data(sample_config())
    assert "decay_ratio" not in data["lr_scheduler"]
    assert "seed" in data["debug"]
    assert data["quantize"] == {"linear": {"float8": {"filter_fqns": ["output"]}}}
    assert "prefetch_factor" not in data["training"]["dataloader"]


def test_sections_keep_torchtitan_order_and_primus_turbo_comes_last():
    data = job_toml_data(sample_config())
    order = list(data)
    assert (order[0], order[-1]) == ("job", "primus_turbo")
    assert order.index("model") < order.index("training") < order.index("debug")


@pytest.mark.parametrize(
    ("job", "experimental", "config_extra", "expected"),
    [
        pytest.param(
            {}, {"custom_args_module": EXTENSION}, {}, EXTENSION, id="deprecated-field-copied-to-job"
        ),
        pytest.param({"custom_config_module": "my.ext"}, {}, {}, "my.ext", id="job-field-kept"),
        pytest.param(
            {}, {}, {"primus_turbo": {"enable_primus_turbo": False}}, EXTENSION, id="turbo-implies-ext"
        ),
        pytest.param({}, {}, {"training": {"mock_data": True}}, EXTENSION, id="mock-data-implies-extension"),
    ],
)
def test_extension_module_is_named_in_job_section(job, experimental, config_extra, expected):
    config = {"job": job, "experimental": experimental, **config_extra}
    assert job_toml_data(config)["job"]["custom_config_module"] == expected


def test_plain_torchtitan_config_gets_no_extension_module():
    data = job_toml_data({"training": {"steps": 5}})
    assert data == {"training": {"steps": 5}}


ORIGIN = Origin(file="examples/exp.yaml", line=12, layer="overrides")


@pytest.mark.parametrize(
    ("config", "key", "message"),
    [
        pytest.param(
            {"parallelism": {"context_parallel_load_balancer": None}},
            "parallelism.context_parallel_load_balancer",
            "is null, but TOML has no null and TorchTitan 0.2.2's default for this field is not None",
            id="null-where-default-is-headtail",
        ),
        pytest.param(
            {"training": {"steps": None}},
            "training.steps",
            "is null, but TOML has no null and TorchTitan 0.2.2's default for this field is not None",
            id="null-int",
        ),
        pytest.param(
            {"compile": {"components": ["model", None]}},
            "compile.components[1]",
            "is null inside a list, but TOML has no null",
            id="null-in-list",
        ),
        pytest.param(
            {"training": 5},
            "training",
            "must be a mapping of training settings, got int",
            id="section-not-a-mapping",
        ),
        pytest.param(
            {"job": {"custom_config_module": "a.b"}, "experimental": {"custom_args_module": "c.d"}},
            "experimental.custom_args_module",
            "names 'c.d' but job.custom_config_module names 'a.b'; TorchTitan would silently replace "
            "the second with the first",
            id="conflicting-extension-modules",
        ),
    ],
)
def test_values_toml_cannot_carry_are_clear_errors(config, key, message):
    with pytest.raises(ConfigValueError) as caught:
        job_toml_data(config, origin_of=lambda dotted: ORIGIN if dotted == key else None)
    error = caught.value
    assert (error.key, error.message, error.file, error.line) == (key, message, "examples/exp.yaml", 12)
    assert error.hint


def test_written_file_parses_back_to_the_same_data(tmp_path: Path):
    path = tmp_path / "job_config.toml"
    write_job_toml(path, sample_config())
    assert tomllib.loads(path.read_text(encoding="utf-8")) == job_toml_data(sample_config())


def test_text_is_stable_for_the_same_config():
    assert job_toml_text(sample_config()) == job_toml_text(sample_config())


# ---- against the installed TorchTitan 0.2.2 (imports torch: a few seconds, once per module) ----


@pytest.fixture(scope="module")
def torchtitan_config():
    pytest.importorskip("torchtitan", reason="TorchTitan is not installed")
    from torchtitan.config import ConfigManager, JobConfig

    return ConfigManager, JobConfig


def _leaves(node: dict[str, Any], prefix: str = ""):
    for key, value in node.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _leaves(value, dotted + ".")
        else:
            yield dotted, value


def _attr(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def test_none_default_keys_match_torchtitan_and_the_extension(torchtitan_config):
    config_manager_cls, job_config_cls = torchtitan_config
    from primus.backends.torchtitan.primus_turbo_extensions import config_extension

    merged = config_manager_cls._merge_configs(job_config_cls, config_extension.JobConfig)

    def none_defaults(cls, prefix=""):
        for f in dataclasses.fields(cls):
            if dataclasses.is_dataclass(f.type):
                yield from none_defaults(f.type, f"{prefix}{f.name}.")
            elif f.default is None:
                yield f"{prefix}{f.name}"

    assert frozenset(none_defaults(merged)) == NONE_DEFAULT_KEYS


def test_torchtitan_config_manager_loads_every_value(torchtitan_config, tmp_path: Path):
    config_manager_cls, _ = torchtitan_config
    config = sample_config()
    path = tmp_path / "job_config.toml"
    write_job_toml(path, config)

    job_config = config_manager_cls().parse_args(["--job.config_file", str(path)])

    module_level = {"trainable", "sink_level", "stderr_sink_level"}
    compared = 0
    for dotted, expected in _leaves({k: v for k, v in config.items() if k not in module_level}):
        assert _attr(job_config, dotted) == expected, dotted
        compared += 1
    assert compared == 49  # every leaf of sample_config() outside the module-level keys
    assert job_config.job.custom_config_module == EXTENSION


REPO = Path(__file__).resolve().parent.parent
#: The CPU examples plus one dense, one FP8 (quantize sections) and one MoE experiment of the MI300X set.
EXAMPLES = [
    *sorted((REPO / "examples/torchtitan/configs/CPU").glob("*.yaml")),
    *(
        REPO / "examples/torchtitan/configs/MI300X" / name
        for name in (
            "qwen3_8B-BF16-pretrain.yaml",
            "llama3.1_8B-FP8-pretrain.yaml",
            "llama4_17Bx16E-BF16-pretrain.yaml",
        )
    ),
]


@pytest.mark.parametrize("experiment", EXAMPLES, ids=[f"{p.parent.name}/{p.stem}" for p in EXAMPLES])
def test_every_example_experiment_round_trips_through_config_manager(torchtitan_config, tmp_path, experiment):
    from primus.config import load_experiment
    from primus.validate import validate

    config_manager_cls, _ = torchtitan_config
    config = validate(load_experiment(experiment, env={}))
    path = tmp_path / "job_config.toml"
    write_job_toml(path, config)

    job_config = config_manager_cls().parse_args(["--job.config_file", str(path)])

    sections = {k: v for k, v in config.items() if isinstance(v, dict)}
    mismatches = {
        dotted: (expected, _attr(job_config, dotted))
        for dotted, expected in _leaves(sections)
        if _attr(job_config, dotted) != expected
    }
    assert mismatches == {}
    assert not set(config) - set(sections) & set(job_toml_data(config))  # module-level keys stay out
