"""The config tree the project ships (primus/configs) and its example experiments (examples/) stay usable.

Every example loads and validates; every model preset resolves under a minimal experiment; every preset names
a family and flavor that TorchTitan 0.2.2 registers; every key is a real JobConfig field; the seed guide's
files are verbatim; the embedded CPU default is CPU-sized; docs only name files that exist.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import (
    GUIDE_MODEL_PRESET,
    REFERENCE,
    REFERENCE_PART,
    SEED_GUIDE,
    SEED_GUIDE_PART,
    flatten,
    guide_yaml_blocks,
)

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "primus" / "configs"
MODEL_PRESETS = CONFIGS / "models" / "torchtitan"
EXAMPLES = REPO / "examples"
#: Experiment YAMLs (examples/sweeps/ holds sweep files, another format).
EXPERIMENTS = EXAMPLES / "torchtitan" / "configs"
CPU_DEFAULT = EXAMPLES / "torchtitan" / "configs" / "CPU" / "llama3_debugmodel-pretrain.yaml"

#: An empty environment for loading (every ${VAR:default} takes its default) and for validation (no
#: WORLD_SIZE/NNODES, so the GPU examples are not checked against the machine running the tests).
NO_ENV: dict[str, str] = {}

#: Keys of a module config that are not TorchTitan JobConfig fields (see the extension module's ModuleConfig
#: and JobConfig): module-level log keys, `training.mock_data`, the `primus_turbo:` section.
MODULE_LEVEL_KEYS = {"trainable", "sink_level", "file_sink_level", "stderr_sink_level"}


def _yaml_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.yaml"))


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def _read(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


ALL_EXAMPLES = [pytest.param(p, id=_rel(p)) for p in _yaml_files(EXPERIMENTS)]
ALL_MODEL_PRESETS = [pytest.param(p, id=p.name) for p in _yaml_files(MODEL_PRESETS)]


def _experiment_text(model_preset: str) -> str:
    return (
        "work_group: team\nuser_name: me\nexp_name: preset-check\nworkspace: ./output\n"
        "modules:\n  pre_trainer:\n    framework: torchtitan\n    config: pre_trainer.yaml\n"
        f"    model: {model_preset}\n"
    )


# ------------------------------------------------------------------------------------- load + validate


@pytest.mark.parametrize("example", ALL_EXAMPLES)
def test_every_shipped_example_loads_and_validates(example):
    from primus.config import load_experiment
    from primus.validate import validate

    resolved = load_experiment(example, env=NO_ENV)
    config = validate(resolved, env=NO_ENV)
    assert resolved.framework == "torchtitan"
    # The experiment's name is its file name, so two examples never share a runs/<exp_name>/ folder
    # (the seed guide's own experiment keeps the guide's exp_name).
    if example.name != "qwen3_8B-BF16-pretrain.yaml":
        assert resolved.envelope["exp_name"] == example.stem
    assert config["model"]["name"] == _read(MODEL_PRESETS / resolved.model_preset)["model"]["name"]


@pytest.mark.parametrize("preset", ALL_MODEL_PRESETS)
def test_every_model_preset_resolves_and_validates_under_a_minimal_experiment(preset, tmp_path):
    from primus.config import load_experiment
    from primus.validate import validate

    experiment = tmp_path / "exp.yaml"
    experiment.write_text(_experiment_text(preset.name), encoding="utf-8")
    resolved = load_experiment(experiment, env=NO_ENV)
    if preset.name in UNREGISTERED:
        from primus.errors import ConfigErrors

        with pytest.raises(ConfigErrors) as caught:
            validate(resolved, env=NO_ENV)
        family, flavor = UNREGISTERED[preset.name]
        assert [(e.key, e.message) for e in caught.value.errors] == [
            ("model.flavor", f"Unknown flavor '{flavor}' for model family '{family}'.")
        ]
        return
    config = validate(resolved, env=NO_ENV)
    model = _read(preset)["model"]
    assert (config["model"]["name"], config["model"]["flavor"]) == (model["name"], model["flavor"])
    assert resolved.origin_of("model.flavor").layer == "model preset"


#: Presets shipped only because Primus ships them (same name, same values), used by no example here:
#: qwen3_8b.yaml is Primus's twin of the seed guide's qwen3_8B.yaml; llama3.2_1B.yaml names a flavor that
#: TorchTitan 0.2.2 lacks (see UNREGISTERED below).
PRIMUS_ONLY_PRESETS = ["llama3.2_1B.yaml", "qwen3_8b.yaml"]
#: Model presets whose flavor TorchTitan 0.2.2 does not register: preset -> (family, flavor).
UNREGISTERED = {"llama3.2_1B.yaml": ("llama3", "1B")}
#: The one pair of names that differ only in case: the seed guide's file and Primus's (both required).
CASE_TWINS = {"qwen3_8b.yaml"}


def test_every_model_preset_is_used_by_at_least_one_example():
    used = {_read(p)["modules"]["pre_trainer"]["model"] for p in _yaml_files(EXPERIMENTS)}
    unused = sorted(p.name for p in _yaml_files(MODEL_PRESETS) if p.name not in used)
    assert unused == PRIMUS_ONLY_PRESETS


@pytest.mark.needs_shared(REFERENCE_PART)
def test_every_primus_v26_5_model_preset_ships_byte_for_byte():
    reference = REFERENCE / "primus" / "configs"
    theirs = sorted((reference / "models" / "torchtitan").glob("*.yaml"))
    assert theirs
    differing = [p.name for p in theirs if (MODEL_PRESETS / p.name).read_bytes() != p.read_bytes()]
    assert differing == []


def test_preset_and_example_names_differ_by_more_than_letter_case():
    # Such names collide on macOS and Windows checkouts; only the seed guide's qwen3_8B.yaml and Primus's
    # qwen3_8b.yaml are both required.
    for folder in (MODEL_PRESETS, *sorted({p.parent for p in _yaml_files(EXPERIMENTS)})):
        names = [p.name for p in folder.glob("*.yaml") if p.name not in CASE_TWINS]
        assert len({n.lower() for n in names}) == len(names), folder


# ------------------------------------------------------------------------------ against TorchTitan itself


@pytest.fixture(scope="module")
def torchtitan_flavors() -> dict[str, list[str]]:
    """TorchTitan's live registry, family -> flavors (imports torch: about 15 s on 2 cores)."""
    import torchtitan.models
    from torchtitan.protocols.train_spec import get_train_spec

    return {
        family: list(get_train_spec(family).model_args)
        for family in sorted(torchtitan.models._supported_models)
        if family != "flux"  # needs the `transformers` package; no preset uses it
    }


def test_every_model_preset_names_a_family_and_flavor_in_torchtitans_registry(torchtitan_flavors):
    unknown = {}
    for preset in _yaml_files(MODEL_PRESETS):
        model = _read(preset)["model"]
        if model["flavor"] not in torchtitan_flavors.get(model["name"], ()):
            unknown[preset.name] = (model["name"], model["flavor"])
    assert unknown == UNREGISTERED


def _jobconfig_tree() -> dict[str, Any]:
    """TorchTitan 0.2.2's JobConfig plus the Primus extension, as nested dicts of field names."""
    from torchtitan.config.job_config import JobConfig

    from primus.backends.torchtitan.primus_turbo_extensions import config_extension

    def tree(cls: type) -> dict[str, Any]:
        hints = typing.get_type_hints(cls)
        return {
            f.name: tree(hints[f.name]) if dataclasses.is_dataclass(hints[f.name]) else None
            for f in dataclasses.fields(cls)
        }

    merged = tree(JobConfig)
    for section, fields in tree(config_extension.JobConfig).items():
        merged.setdefault(section, {}).update(fields)
    merged.update(dict.fromkeys(MODULE_LEVEL_KEYS))
    return merged


def _unknown_keys(data: dict[str, Any], schema: dict[str, Any], prefix: str = "") -> list[str]:
    unknown = []
    for key, value in data.items():
        if key not in schema:
            unknown.append(prefix + key)
        elif isinstance(schema[key], dict) and isinstance(value, dict):
            unknown += _unknown_keys(value, schema[key], f"{prefix}{key}.")
    return unknown


def _config_layers() -> list[Any]:
    layers = []
    for path in _yaml_files(CONFIGS / "modules") + _yaml_files(MODEL_PRESETS):
        body = {k: v for k, v in _read(path).items() if k != "extends"}
        layers.append(pytest.param(body, id=_rel(path)))
    for path in _yaml_files(EXPERIMENTS):
        overrides = _read(path)["modules"]["pre_trainer"].get("overrides") or {}
        layers.append(pytest.param(overrides, id=_rel(path)))
    return layers


@pytest.mark.parametrize("layer", _config_layers())
def test_every_shipped_key_is_a_torchtitan_0_2_2_field_or_a_primus_extension(layer):
    # Checked against the installed dataclasses, independently of the validator's schema snapshot; a
    # model.<arg> key must be a field of the family's ModelArgs (Primus's llama3.1_405B sets n_layers).
    tree = _jobconfig_tree()
    family = (layer.get("model") or {}).get("name", "llama3")
    tree["model"] = {**tree["model"], **_model_args_tree(family)}
    assert _unknown_keys(layer, tree) == []


def _model_args_tree(family: str) -> dict[str, Any]:
    from torchtitan.protocols.train_spec import get_train_spec

    (cls,) = {type(args) for args in get_train_spec(family).model_args.values()}
    return {f.name: None for f in dataclasses.fields(cls)}


def test_module_preset_keeps_seed_and_determinism_under_debug():
    body = _read(CONFIGS / "modules" / "torchtitan" / "pre_trainer.yaml")
    assert set(body["debug"]) >= {"seed", "deterministic", "moe_force_load_balance"}
    assert not {"seed", "deterministic", "moe_force_load_balance"} & set(body["training"])
    assert body["extends"] == ["../module_base.yaml", "quantize.yaml"]
    assert body["experimental"]["custom_args_module"] == (
        "primus.backends.torchtitan.primus_turbo_extensions.config_extension"
    )


def test_fp8_presets_add_the_float8_converter_to_their_bf16_twin():
    for fp8 in MODEL_PRESETS.glob("*-fp8.yaml"):
        bf16 = _read(fp8.with_name(fp8.name.replace("-fp8", "")))["model"]
        model = _read(fp8)["model"]
        assert model["converters"] == [*bf16["converters"], "quantize.linear.float8"], fp8.name
        assert (model["name"], model["flavor"]) == (bf16["name"], bf16["flavor"]), fp8.name


# ------------------------------------------------------------------------------------------ seed guide


def test_shipped_qwen3_8B_preset_is_the_seed_guides_template_verbatim():
    assert (MODEL_PRESETS / "qwen3_8B.yaml").read_text(encoding="utf-8") == GUIDE_MODEL_PRESET


@pytest.mark.needs_shared(SEED_GUIDE_PART)
def test_seed_guide_still_shows_the_shipped_qwen3_8B_files():
    blocks = guide_yaml_blocks()
    assert GUIDE_MODEL_PRESET in blocks
    experiment = (EXAMPLES / "torchtitan" / "configs" / "MI300X" / "qwen3_8B-BF16-pretrain.yaml").read_text()
    assert experiment in blocks


# ------------------------------------------------------------------------------------ embedded default


def test_embedded_cpu_default_is_sized_for_two_cpu_cores_and_repeatable():
    from primus.config import load_experiment
    from primus.validate import validate

    config = validate(load_experiment(CPU_DEFAULT, env=NO_ENV), env=NO_ENV)
    got = {
        "model": (config["model"]["name"], config["model"]["flavor"], config["model"]["converters"]),
        "mock_data": config["training"]["mock_data"],
        "seq_len": config["training"]["seq_len"],
        "local_batch_size": config["training"]["local_batch_size"],
        "precision": config["training"]["mixed_precision_param"],
        "compile": config["compile"]["enable"],
        "seed": config["debug"]["seed"],
        "deterministic": config["debug"]["deterministic"],
        "checkpoint": (config["checkpoint"]["enable"], config["checkpoint"]["interval"]),
        "log_freq": config["metrics"]["log_freq"],
        "turbo": config["primus_turbo"]["enable_primus_turbo"],
    }
    assert got == {
        "model": ("llama3", "debugmodel", []),
        "mock_data": True,
        "seq_len": 256,
        "local_batch_size": 2,
        "precision": "float32",
        "compile": False,
        "seed": 42,
        "deterministic": True,
        "checkpoint": (True, 10),
        "log_freq": 1,
        "turbo": False,
    }
    # ~0.15 s/step on 2 cores: 40-60 steps keep the run well under two minutes, with warmup a few steps.
    assert 40 <= config["training"]["steps"] <= 60
    assert 1 <= config["lr_scheduler"]["warmup_steps"] <= 10
    assert config["checkpoint"]["interval"] < config["training"]["steps"]


def test_workflow_default_experiment_is_the_embedded_cpu_default():
    workflow_config = REPO / "config" / "config.yaml"  # its absence is the failure this test is for
    assert REPO / _read(workflow_config)["exp"] == CPU_DEFAULT


@pytest.mark.parametrize(
    "example",
    [pytest.param(p, id=p.name) for p in _yaml_files(EXAMPLES / "torchtitan" / "configs" / "CPU")],
)
def test_cpu_examples_need_no_gpu_and_no_download(example):
    from primus.config import load_experiment
    from primus.validate import validate

    config = validate(load_experiment(example, env=NO_ENV), env=NO_ENV)
    assert config["model"]["flavor"].startswith("debugmodel")
    assert "primus_turbo" not in config["model"]["converters"]
    assert config["training"]["mock_data"] is True
    assert config["training"]["mixed_precision_param"] == "float32"
    assert config["compile"]["enable"] is False


# ----------------------------------------------------------------------------------- docs match files


def _docs() -> list[Path]:
    """The project's Markdown files (tracked or new, not git-ignored ones like the venv's), plus the guide."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.md"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        docs = [REPO / name for name in sorted(set(listed)) if (REPO / name).is_file()]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout (e.g. an sdist)
        docs = [p for p in (REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))) if p.is_file()]
    return [*docs, SEED_GUIDE] if SEED_GUIDE.is_file() else docs


_DOCS = _docs()


def _doc_id(doc: Path) -> str:
    return _rel(doc) if doc.is_relative_to(REPO) else doc.name


#: A path to a shipped YAML file as docs write it.
_CONFIG_PATH = re.compile(r"(?:examples|primus/configs)/[\w./-]+?\.yaml")


@pytest.mark.parametrize("doc", [pytest.param(d, id=_doc_id(d)) for d in _DOCS])
def test_docs_name_only_config_files_that_exist(doc):
    named = set(_CONFIG_PATH.findall(doc.read_text(encoding="utf-8")))
    missing = sorted(p for p in named if not (REPO / p).is_file())
    assert missing == []


@pytest.mark.parametrize("doc", [pytest.param(d, id=_doc_id(d)) for d in _DOCS])
def test_docs_model_preset_references_exist(doc):
    # "model: X.yaml" lines in doc snippets must name a shipped preset.
    named = set(re.findall(r"^\s*model:\s*([\w.-]+\.yaml)\s*$", doc.read_text(encoding="utf-8"), flags=re.M))
    assert sorted(n for n in named if not (MODEL_PRESETS / n).is_file()) == []


# ------------------------------------------------------------------------------------------- platforms


@pytest.mark.parametrize(
    "platform, num_nodes_key",
    [pytest.param("local", None, id="local"), pytest.param("slurm", "SLURM_NNODES", id="slurm")],
)
def test_shipped_platform_presets_resolve_into_the_envelope(platform, num_nodes_key, tmp_path):
    from primus.config import load_experiment
    from primus.validate import validate

    experiment = tmp_path / "exp.yaml"
    experiment.write_text(
        _experiment_text("llama3_debugmodel.yaml").replace(
            "workspace: ./output\n", f"workspace: ./output\nplatform: {platform}\n"
        ),
        encoding="utf-8",
    )
    resolved = load_experiment(experiment, env=NO_ENV)
    validate(resolved, env=NO_ENV)
    got = resolved.envelope["platform"]
    assert (got["name"], got["num_nodes_env_key"]) == (platform, num_nodes_key)


def test_design_docs_short_experiment_name_picks_the_seed_experiment():
    # DESIGN.md's `snakemake train --config exp=qwen3_8B` must name exactly one shipped experiment.
    from primus.workflow import find_experiment

    assert find_experiment("qwen3_8B", root=REPO).resolve() == (
        EXAMPLES / "torchtitan" / "configs" / "MI300X" / "qwen3_8B-BF16-pretrain.yaml"
    )
    assert find_experiment("qwen3_debugmodel-pretrain", platform="CPU", root=REPO).resolve() == (
        EXAMPLES / "torchtitan" / "configs" / "CPU" / "qwen3_debugmodel-pretrain.yaml"
    )


# --------------------------------------------------------------- what TorchTitan itself reads (TOML stage)


@pytest.fixture(scope="module")
def config_manager():
    """TorchTitan 0.2.2's own ConfigManager class (imports torch, once per module)."""
    from torchtitan.config import ConfigManager

    return ConfigManager


def _attribute(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


@pytest.mark.parametrize("example", ALL_EXAMPLES)
def test_every_shipped_example_is_read_by_torchtitans_config_manager_value_for_value(
    example, config_manager, tmp_path
):
    # TorchTitan rejects unknown field names itself, and here every written value must come back unchanged.
    from primus.backends.torchtitan.job_toml import job_toml_data, write_job_toml
    from primus.config import load_experiment
    from primus.validate import validate

    resolved = load_experiment(example, env=NO_ENV)
    config = validate(resolved, env=NO_ENV)
    toml_file = tmp_path / "job_config.toml"
    write_job_toml(toml_file, config, origin_of=resolved.origin_of)
    job_config = config_manager().parse_args(["--job.config_file", str(toml_file)])
    written = flatten(job_toml_data(config))
    differing = {key: value for key, value in written.items() if _attribute(job_config, key) != value}
    assert differing == {}
    assert job_config.model.flavor == config["model"]["flavor"]
