"""The Primus extension module is what TorchTitan 0.2.2's ConfigManager accepts as a custom config module."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from primus.backends.torchtitan.primus_turbo_extensions import config_extension

EXTENSION = "primus.backends.torchtitan.primus_turbo_extensions.config_extension"
REPO = Path(__file__).resolve().parents[1]


def test_extension_module_does_not_import_torch() -> None:
    script = f"import sys, {EXTENSION}; print([m for m in sys.modules if m.split('.')[0] == 'torch'])"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_field_types_are_real_classes_so_torchtitan_merges_sections() -> None:
    # ConfigManager._merge_configs tests dataclasses.is_dataclass(field.type); a string annotation would
    # make our `training` replace TorchTitan's instead of extending it.
    for cls in (config_extension.JobConfig, config_extension.ModuleConfig):
        for field in dataclasses.fields(cls):
            assert not isinstance(field.type, str), f"{cls.__name__}.{field.name} has a string annotation"


def test_every_primus_turbo_field_is_a_documented_bool() -> None:
    hints = typing.get_type_hints(config_extension.PrimusTurbo)
    assert set(hints.values()) == {bool}
    from primus.validate import field_doc

    for name in hints:
        assert field_doc(f"primus_turbo.{name}"), f"primus_turbo.{name} has no docstring"


def test_primus_preset_primus_turbo_keys_are_all_known() -> None:
    # the keys Primus v26.5's pre_trainer.yaml writes under primus_turbo:
    primus_keys = {
        "enable_primus_turbo", "enable_attention_float8", "use_turbo_attention", "use_classic_attention",
        "use_turbo_async_tp", "use_turbo_mx_linear", "use_turbo_float8_linear", "use_turbo_grouped_mm",
        "use_moe_fp8", "enable_embedding_autocast",
    }  # fmt: skip
    assert {f.name for f in dataclasses.fields(config_extension.PrimusTurbo)} == primus_keys


@pytest.mark.slow
def test_torchtitan_config_manager_loads_a_toml_with_the_extension(tmp_path: Path) -> None:
    pytest.importorskip("torchtitan")
    from torchtitan.config.manager import ConfigManager

    toml = tmp_path / "job.toml"
    toml.write_text(
        f'[job]\ncustom_config_module = "{EXTENSION}"\n'
        "[training]\nsteps = 5\nmock_data = true\n"
        "[primus_turbo]\nuse_turbo_attention = false\n",
        encoding="utf-8",
    )
    config = ConfigManager().parse_args(["--job.config_file", str(toml)])
    assert config.training.steps == 5
    assert config.training.mock_data is True
    assert config.training.seq_len == 2048  # TorchTitan's own training fields survive the merge
    assert config.primus_turbo.use_turbo_attention is False
    assert config.primus_turbo.enable_primus_turbo is True

    toml.write_text(
        f'[job]\ncustom_config_module = "{EXTENSION}"\n[primus_turbo]\nuse_turbo_atention = false\n',
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="Invalid field names"):
        ConfigManager().parse_args(["--job.config_file", str(toml)])
