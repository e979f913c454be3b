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
from types import MappingProxyType
from typing import Any

from primus.backends.torchtitan.assets import ASSETS
from primus.backends.torchtitan.job_toml import PRIMUS_EXTENSION_MODULE
from primus.bundle.layout import JOB_TOML

#: Where the committed snapshots live.
SNAPSHOT_DIR = Path(__file__).resolve().parent
SCHEMA_FILE = SNAPSHOT_DIR / "schema.json"
REGISTRY_FILE = SNAPSHOT_DIR / "registry.json"
MODEL_ARGS_FILE = SNAPSHOT_DIR / "model_args.json"


#: Keys Primus once read under ``training:`` that TorchTitan 0.2.2 keeps under ``debug:``. Unknown keys used
#: to be ignored silently, so e.g. DeepSeek runs trained with ``moe_force_load_balance`` quietly off.
MOVED_TO_DEBUG = ("seed", "deterministic", "deterministic_warn_only", "moe_force_load_balance")
#: Written key -> the key TorchTitan 0.2.2 reads (what ``validate`` suggests instead of "unknown").
MOVED_KEYS = {f"training.{name}": f"debug.{name}" for name in MOVED_TO_DEBUG}

#: Names users bring from Megatron-LM (which Primus also drives) and other trainers -> TorchTitan's key.
#: Suggested wherever the name appears, since such configs put them in arbitrary sections.
FOREIGN_NAMES = {
    "learning_rate": "optimizer.lr",
    "train_iters": "training.steps",
    "max_steps": "training.steps",
    "micro_batch_size": "training.local_batch_size",
    "batch_size": "training.local_batch_size",
    "seq_length": "training.seq_len",
    "clip_grad": "training.max_norm",
    "lr_warmup_iters": "lr_scheduler.warmup_steps",
    "warmup_iters": "lr_scheduler.warmup_steps",
    "tensor_model_parallel_size": "parallelism.tensor_parallel_degree",
    "pipeline_model_parallel_size": "parallelism.pipeline_parallel_degree",
    "context_parallel_size": "parallelism.context_parallel_degree",
    "expert_model_parallel_size": "parallelism.expert_parallel_degree",
    "save_interval": "checkpoint.interval",
    "log_interval": "metrics.log_freq",
}


class TorchTitanBackend:
    """TorchTitan 0.2.2 through its TOML JobConfig and ``torchrun``; see ``primus.backend.Backend``."""

    name = "torchtitan"
    #: The release this backend drives: 0.3 replaced the TOML JobConfig this backend writes.
    version = "0.2.2"
    #: Distributions whose installed versions pin a run (lock.json ``packages``, part of the hash).
    packages = ("torch", "torchtitan", "primus_turbo")
    #: The job config in a bundle (what ``launch_command`` passes as ``--job.config_file``).
    job_config_file = JOB_TOML
    #: How messages name the framework (``TorchTitan 0.2.2 reads seed from the debug section``).
    display_name = "TorchTitan"
    moved_keys = MOVED_KEYS
    foreign_names = FOREIGN_NAMES
    #: Where a run's shape lives in the config (verify reads these through the backend).
    run_keys = MappingProxyType(
        {
            "steps": "training.steps",
            "log_freq": "metrics.log_freq",
            "checkpoint_enable": "checkpoint.enable",
            "checkpoint_folder": "checkpoint.folder",
            "deterministic": "debug.deterministic",
        }
    )
    #: ``job.custom_config_module`` values whose keys the schema knows ("" is none).
    extension_modules = ("", PRIMUS_EXTENSION_MODULE)
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

    def describe_run(self, get: Callable[[str], Any]) -> list[tuple[str, Any]]:
        from primus.backends.torchtitan.identity import describe_run

        return describe_run(get, self.registry())

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

    def train(self, bundle: Path, *, dry_run: bool = False, observability: Any = None) -> int:
        from primus.backends.torchtitan.runner import train

        return train(bundle, dry_run=dry_run, observability=observability)

    def check_version(self) -> None:
        from primus.backends.torchtitan.runner import check_training_stack

        check_training_stack()

    def __repr__(self) -> str:
        return f"<{self.name} {self.version} backend>"


#: The one instance (``primus.backend.backend_for("torchtitan")`` returns it).
BACKEND = TorchTitanBackend()
