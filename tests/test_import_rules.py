"""The backend seam holds: the stages that must not know TorchTitan do not import it.

config/, validate/, bundle/ and verify/ reach framework knowledge only through ``primus.backend`` (the
``Backend`` interface and ``backend_for``); none imports ``primus.backends.*`` or ``torchtitan``, statically
or through ``importlib``. A second backend (a TorchTitan generation without a TOML JobConfig) then freezes
and verifies without any change to them, which the last test shows with a stand-in backend.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest

from primus.bundle import freeze, load_bundle
from primus.config.model import ResolvedExperiment

PACKAGE = Path(__file__).resolve().parents[1] / "primus"
#: Packages that receive the backend instead of importing one.
BACKEND_FREE = ("config", "validate", "bundle", "verify")
#: Module prefixes they may not import.
FORBIDDEN = ("primus.backends", "torchtitan")


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` of every import in ``path``, ``importlib.import_module("...")`` included."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    return found


def violations(package: str) -> list[str]:
    """Forbidden imports in ``primus/<package>`` (a folder, or one module file)."""
    root = PACKAGE / package
    out = []
    for path in [root] if root.is_file() else sorted(root.rglob("*.py")):
        for line, module in imported_modules(path):
            if any(module == prefix or module.startswith(prefix + ".") for prefix in FORBIDDEN):
                out.append(f"{path.relative_to(PACKAGE.parent)}:{line}: imports {module}")
    return out


@pytest.mark.parametrize("package", BACKEND_FREE)
def test_stage_imports_nothing_framework_specific(package: str) -> None:
    assert violations(package) == [], "receive a primus.backend.Backend instead"


def test_nothing_outside_the_backends_imports_them() -> None:
    """The CLI, the stage module, the workflow, sweeps, assets and containers use primus.backend too."""
    outside = [path.relative_to(PACKAGE) for path in PACKAGE.iterdir() if path.name != "backends"]
    found = [v for part in outside if part.suffix in ("", ".py") for v in violations(str(part))]
    assert found == [], "ask primus.backend.backend_for(framework) instead"


def test_the_rule_catches_an_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import importlib\n"
        "from primus.backends.torchtitan.job_toml import job_toml_text\n"
        "import torchtitan.config\n"
        "importlib.import_module('primus.backends.torchtitan')\n"
    )
    modules = [module for _, module in imported_modules(sample)]
    assert {"primus.backends.torchtitan.job_toml", "torchtitan.config", "primus.backends.torchtitan"} <= set(
        modules
    )


class StandInBackend:
    """A second backend generation: JSON job config, its own pinned packages (nothing TorchTitan about it)."""

    name = "torchtitan"
    version = "9.9.9"
    packages = ("torch",)
    job_config_file = "job_config.json"

    def schema(self) -> dict[str, Any]:
        return {"sections": [], "fields": {}, "module": {}}

    def registry(self) -> dict[str, Any]:
        return {"families": {}}

    def default_of(self, dotted_key: str) -> Any:
        raise KeyError(dotted_key)

    def job_config_text(self, config: Any, *, origin_of: Any = None) -> str:
        return json.dumps({"generation": 3, "steps": config["training"]["steps"]}, sort_keys=True)

    def read_job_config(self, text: str) -> dict[str, Any]:
        return json.loads(text)


def test_freeze_writes_what_the_given_backend_renders(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "exp.yaml").write_text("exp_name: exp1\n")
    resolved = ResolvedExperiment(
        path=tmp_path / "exp.yaml",
        envelope={"work_group": "w", "user_name": "u", "exp_name": "exp1", "workspace": "./output"},
        module_name="pre_trainer",
        framework="torchtitan",
        module_preset="pre_trainer.yaml",
        model_preset="",
        config={"training": {"steps": 5}},
        provenance={},
        inputs=[tmp_path / "exp.yaml"],
        env_consumed={},
    )
    backend = StandInBackend()
    bundle = freeze(resolved, resolved.config, runs_dir=Path("runs"), backend=backend)
    loaded = load_bundle(bundle, backend=backend)  # digests, hash and job config agree with what was written
    assert loaded.job_toml == bundle / "job_config.json"  # the backend names its job-config file
    assert not (bundle / "job_config.toml").exists()
    assert json.loads(loaded.job_toml.read_text()) == {"generation": 3, "steps": 5}
    assert set(loaded.lock["packages"]) == {"torch", "python"}
