"""The TorchTitan 0.2.2 backend object: everything the stages need to know about this TorchTitan release.

Stages get it through ``primus.backend.backend_for("torchtitan")`` and use only the ``primus.backend.Backend``
interface: the schema and registry snapshots (``schema.json``, ``registry.json`` beside this file, made by
``python -m primus.backends.torchtitan.snapshot``), the job-config writer (``job_toml``), the launch command
(``launch``), the train stage (``runner``) and the version check. Importing this module imports neither torch
nor TorchTitan; the launcher and runner modules load on first use.
"""

from __future__ import annotations

import functools
import json
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from primus.backends.torchtitan.assets import ASSETS

#: Where the committed snapshots live.
SNAPSHOT_DIR = Path(__file__).resolve().parent
SCHEMA_FILE = SNAPSHOT_DIR / "schema.json"
REGISTRY_FILE = SNAPSHOT_DIR / "registry.json"
MODEL_ARGS_FILE = SNAPSHOT_DIR / "model_args.json"


class TorchTitanBackend:
    """TorchTitan 0.2.2 through its TOML JobConfig and ``torchrun``; see ``primus.backend.Backend``."""

    name = "torchtitan"
    #: The release this backend drives: 0.3 replaced the TOML JobConfig this backend writes.
    version = "0.2.2"
    #: Distributions whose installed versions pin a run (lock.json ``packages``, part of the hash).
    packages = ("torch", "torchtitan", "primus_turbo")
    #: Which config keys name the tokenizer and data a run reads, and how TorchTitan reads them.
    assets = ASSETS

    @functools.cache  # noqa: B019  (one backend object per process: the cache lives as long as it does)
    def schema(self) -> dict[str, Any]:
        return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))

    @functools.cache  # noqa: B019  (as above)
    def registry(self) -> dict[str, Any]:
        return json.loads(REGISTRY_FILE.read_text(encoding="utf-8"))

    @functools.cache  # noqa: B019  (as above)
    def model_args(self) -> dict[str, Any]:
        return json.loads(MODEL_ARGS_FILE.read_text(encoding="utf-8"))

    def parameter_count(self, family: str, flavor: str, overrides: Mapping[str, Any]) -> int:
        from primus.backends.torchtitan.params import count_parameters

        return count_parameters(family, flavor, dict(overrides))

    def no_effect_warnings(self, get: Callable[[str], Any], moe: bool) -> list[tuple[str, str, str]]:
        from primus.backends.torchtitan.effects import no_effect_warnings

        return no_effect_warnings(get, moe)

    def converter_packages(self) -> dict[str, str]:
        from primus.backends.torchtitan.effects import CONVERTER_PACKAGES

        return dict(CONVERTER_PACKAGES)

    def default_of(self, dotted_key: str) -> Any:
        schema = self.schema()
        spec = schema["fields"].get(dotted_key) or schema["module"].get(dotted_key)
        if spec is None:
            raise KeyError(dotted_key)
        value = spec["default"]
        return list(value) if isinstance(value, list) else value

    def job_config_text(
        self, config: Mapping[str, Any], *, origin_of: Callable[[str], Any] | None = None
    ) -> str:
        from primus.backends.torchtitan.job_toml import job_toml_text

        return job_toml_text(config, origin_of=origin_of)

    def read_job_config(self, text: str) -> dict[str, Any]:
        return tomllib.loads(text)

    def launch_command(
        self, bundle: Path, *, env: Mapping[str, str], job_config: Any = None, check_host: bool = True
    ) -> list[str]:
        from primus.backends.torchtitan.launch import launch_command

        return launch_command(bundle, env=env, job_config=job_config, check_host=check_host)

    def train(self, bundle: Path, *, dry_run: bool = False) -> int:
        from primus.backends.torchtitan.runner import train

        return train(bundle, dry_run=dry_run)

    def check_version(self) -> None:
        from primus.backends.torchtitan.runner import check_training_stack

        check_training_stack()

    def __repr__(self) -> str:
        return f"<{self.name} {self.version} backend>"


#: The one instance (``primus.backend.backend_for("torchtitan")`` returns it).
BACKEND = TorchTitanBackend()
