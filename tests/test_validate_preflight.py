"""Preflight: what stops a valid config from running on THIS machine (assets, primus_turbo, memory)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hand_built import EXPERIMENT, resolved

from primus.errors import ConfigErrors, PreflightError
from primus.validate import preflight as preflight_or_raise
from primus.validate import validate
from primus.validate.machine import Host, detect_accelerator, preflight

GPU_HOST = Host(accelerator="rocm", memory_bytes=64 * 2**30)
SMALL_CPU_HOST = Host(accelerator=None, memory_bytes=16 * 2**30)


def _config(**sections: dict) -> dict:
    config = {"model": {"name": "llama3", "flavor": "debugmodel"}, "training": {"mock_data": True}}
    for name, values in sections.items():
        config.setdefault(name, {}).update(values)
    return config


def _messages(errors: list[PreflightError]) -> list[tuple[str, str]]:
    return [(e.key, e.message) for e in errors]


def test_mock_data_debug_model_on_a_cpu_host_passes(tmp_path: Path) -> None:
    assert preflight(_config(), env={}, host=SMALL_CPU_HOST, base_dir=tmp_path) == []


def test_primus_turbo_converter_without_the_package_points_at_the_container() -> None:
    errors = preflight(_config(model={"converters": ["primus_turbo"]}), env={}, host=GPU_HOST)
    assert _messages(errors) == [
        (
            "model.converters",
            "converter 'primus_turbo' is requested but the primus_turbo package is not importable here",
        )
    ]
    assert errors[0].hint == (
        "Primus-Turbo exists only for ROCm GPUs: train inside the ROCm container "
        "(snakemake train --config runtime=container), or remove 'primus_turbo' from model.converters"
    )


def _tokenizer_dir(folder: Path) -> Path:
    folder.mkdir()
    (folder / "tokenizer.json").write_text("{}")
    return folder


def test_missing_dataset_path_is_an_error(tmp_path: Path) -> None:
    assets = _tokenizer_dir(tmp_path / "tok")
    config = _config(
        training={"mock_data": False, "dataset_path": "data/c4_small"}, model={"hf_assets_path": str(assets)}
    )
    errors = preflight(config, env={}, host=GPU_HOST, base_dir=tmp_path)
    assert _messages(errors) == [
        (
            "training.dataset_path",
            f"dataset path 'data/c4_small' does not exist (looked in {tmp_path / 'data/c4_small'})",
        )
    ]


def test_hub_dataset_streamed_without_a_revision_is_an_error(tmp_path: Path) -> None:
    assets = _tokenizer_dir(tmp_path / "tok")
    config = _config(training={"mock_data": False, "dataset": "c4"}, model={"hf_assets_path": str(assets)})
    errors = preflight(config, env={}, host=GPU_HOST, base_dir=tmp_path)
    assert _messages(errors) == [
        (
            "training.dataset",
            "dataset 'c4' would be streamed from the Hub (allenai/c4) at train time with no revision: "
            "it cannot be pinned",
        )
    ]
    assert errors[0].hint.startswith("pin a copy instead: training.dataset_path: hf://datasets/allenai/c4@")


def test_hub_tokenizer_is_left_to_the_assets_stage(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.json").write_text('{"text": "a"}\n')
    config = _config(
        training={"mock_data": False, "dataset_path": "data"}, model={"hf_assets_path": "Qwen/Qwen3-8B"}
    )
    assert preflight(config, env={}, host=GPU_HOST, base_dir=tmp_path) == []


BAD_TOKENIZERS = {
    # hf_assets_path value -> expected message (the tmp folder holds "empty/" and "file.json")
    "malformed-repo-id": (
        "Qwen/Qwen 3",
        "'Qwen/Qwen 3' is neither a Hugging Face repository id nor a local path",
    ),
    "missing-local-folder": ("./assets/qwen", "tokenizer path './assets/qwen' does not exist"),
    "not-a-folder": (
        "./file.json",
        "tokenizer path './file.json' is a file, not a directory of tokenizer files",
    ),
    "no-tokenizer-files": ("./empty", "'./empty' is not a directory of tokenizer files"),
}


@pytest.mark.parametrize(("value", "message"), BAD_TOKENIZERS.values(), ids=BAD_TOKENIZERS.keys())
def test_bad_tokenizer_reference_is_an_error(tmp_path: Path, value: str, message: str) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.json").write_text("{}")
    (tmp_path / "data.json").write_text('{"text": "a"}\n')
    config = _config(
        training={"mock_data": False, "dataset_path": "data.json"}, model={"hf_assets_path": value}
    )
    errors = preflight(config, env={}, host=GPU_HOST, base_dir=tmp_path)
    assert [e.key for e in errors] == ["model.hf_assets_path"]
    assert errors[0].message.startswith(message)


def test_mock_data_checks_no_assets_so_a_missing_assets_folder_is_fine(tmp_path: Path) -> None:
    config = _config(model={"hf_assets_path": "./assets/debugmodel"})  # the debugmodel preset's value
    assert preflight(config, env={}, host=GPU_HOST, base_dir=tmp_path) == []


def test_model_too_large_for_a_cpu_only_host_says_the_numbers() -> None:
    errors = preflight(_config(model={"flavor": "8B"}), env={}, host=SMALL_CPU_HOST)
    assert _messages(errors) == [
        (
            "model.flavor",
            "not enough memory to train llama3 8B on this CPU-only host: 8,030,261,248 parameters * 16 bytes "
            "(AdamW, fp32) = 119.7 GiB needed, 16.0 GiB of RAM present",
        )
    ]


def test_public_preflight_raises_config_errors_with_exit_code_2() -> None:
    with pytest.raises(ConfigErrors) as caught:
        preflight_or_raise(_config(model={"flavor": "8B"}), env={}, host=SMALL_CPU_HOST)
    assert caught.value.exit_code == 2
    assert [e.key for e in caught.value.errors] == ["model.flavor"]
    assert preflight_or_raise(_config(), env={}, host=SMALL_CPU_HOST) is None


def test_large_model_on_a_gpu_host_is_not_a_memory_error() -> None:
    assert preflight(_config(model={"flavor": "8B"}), env={}, host=GPU_HOST) == []


def test_validate_with_preflight_raises_located_errors() -> None:
    experiment = resolved(("overrides", {"model.flavor": "70B", "training.seq_len": 256}))
    with pytest.raises(ConfigErrors) as caught:
        validate(experiment, preflight=True, env={}, host=SMALL_CPU_HOST)
    (error,) = caught.value.errors
    assert isinstance(error, PreflightError)
    assert (error.key, error.file, error.line) == ("model.flavor", EXPERIMENT, 20)
    assert error.message.startswith("not enough memory to train llama3 70B")


def test_validate_skips_preflight_while_the_config_itself_is_invalid() -> None:
    experiment = resolved(("overrides", {"model.flavor": "70B", "training.steps": 0}))
    with pytest.raises(ConfigErrors) as caught:
        validate(experiment, preflight=True, env={}, host=SMALL_CPU_HOST)
    assert [e.key for e in caught.value.errors] == ["training.steps"]


ACCELERATORS = {
    # (device nodes, env, expected)
    "rocm-driver": (["kfd", "dri"], {}, "rocm"),
    "rocm-hidden-by-empty-visibility": (["kfd"], {"HIP_VISIBLE_DEVICES": ""}, None),
    "nvidia-driver": (["nvidia0", "nvidiactl"], {}, "cuda"),
    "nvidia-control-node-only": (["nvidiactl"], {}, None),  # driver loaded, no GPU
    "nvidia-hidden-by-empty-visibility": (["nvidia0"], {"CUDA_VISIBLE_DEVICES": ""}, None),
    "cpu-only": (["null", "zero"], {}, None),
}


@pytest.mark.parametrize(("nodes", "env", "expected"), ACCELERATORS.values(), ids=ACCELERATORS.keys())
def test_accelerator_is_detected_from_device_nodes(tmp_path: Path, nodes, env, expected) -> None:
    for node in nodes:
        (tmp_path / node).touch()
    assert detect_accelerator(env, dev=tmp_path) == expected


def test_host_detection_does_not_import_torch() -> None:
    script = (
        "import sys; from primus.validate.machine import Host; Host.detect(); "
        "print([m for m in sys.modules if m.split('.')[0] == 'torch'])"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
