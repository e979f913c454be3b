"""A converter's runtime dependency is checked before launch, and the ROCm image ships what the shipped
FP8 examples' converters import (TorchTitan's float8 converter needs torchao, after torchrun has started).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import yaml

from primus.backend import backend_for

REPO = Path(__file__).resolve().parents[1]
FP8_EXAMPLE = REPO / "examples/torchtitan/configs/MI300X/llama3.1_8B-FP8-pretrain.yaml"


@pytest.fixture
def without(monkeypatch):
    """Make the named packages not importable for the preflight check."""

    def hide(*packages: str) -> None:
        real = importlib.util.find_spec
        monkeypatch.setattr(
            "primus.validate.machine.importlib.util.find_spec",
            lambda name, *args: None if name in packages else real(name, *args),
        )

    return hide


def test_preflight_refuses_float8_without_torchao(without):
    from primus.config import load_experiment
    from primus.validate import validate
    from primus.validate.machine import Host, preflight

    without("torchao", "primus_turbo")
    resolved = load_experiment(FP8_EXAMPLE, env={})
    config = validate(resolved, env={})
    problems = preflight(
        config, origin_of=resolved.origin_of, env={}, host=Host(accelerator="rocm", memory_bytes=None)
    )
    messages = [(p.key, p.message) for p in problems]
    assert ("model.converters", "converter 'quantize.linear.float8' needs the torchao package, which is "
            "not importable here") in messages  # fmt: skip
    (torchao,) = [p for p in problems if "torchao" in p.message]
    assert Path(torchao.file).name == "llama3.1_8B-fp8.yaml"
    assert "ROCm container" in torchao.hint


def test_launch_refuses_float8_without_torchao(tmp_path, monkeypatch):
    from primus.backends.torchtitan import launch
    from primus.errors import LaunchError

    real = importlib.util.find_spec
    monkeypatch.setattr(
        launch.importlib.util, "find_spec", lambda n, *a: None if n == "torchao" else real(n, *a)
    )
    message = re.escape("converter 'quantize.linear.float8' needs the torchao package")
    with pytest.raises(LaunchError, match=message):
        launch.check_converters({"model": {"converters": ["quantize.linear.float8"]}}, tmp_path)


def test_the_rocm_image_ships_every_package_the_shipped_examples_converters_need():
    lock = yaml.safe_load((REPO / "containers/lock.yaml").read_text())
    in_image = {"primus_turbo", "aiter", *lock["rocm"]["python_packages"]}
    packages = backend_for().converter_packages()
    needed = set()
    for example in sorted((REPO / "examples/torchtitan/configs/MI300X").glob("*.yaml")):
        from primus.config import load_experiment

        converters = load_experiment(example, env={}).config["model"].get("converters") or []
        needed |= {packages[name] for name in converters if name in packages}
    assert "torchao" in needed  # the FP8 examples use quantize.linear.float8
    assert needed <= in_image
    install = (REPO / "containers/install-rocm.sh").read_text()
    assert "${ROCM_PINS}" in install and '"torchao")' in install
