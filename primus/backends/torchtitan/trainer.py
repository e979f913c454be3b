"""TorchTitan's own Trainer, with Primus's pieces plugged in through its TrainSpec.

Import this module only after ``cpu_runtime.apply_cpu_patches()`` on a CPU-only host (``entry`` does).
What changes, and where:
- the TrainSpec registered for ``model.name`` is TorchTitan's own, with ``build_dataloader_fn`` /
  ``build_tokenizer_fn`` swapped for mock data when ``training.mock_data`` is true, and a metrics
  processor builder that adds a ``metrics.jsonl`` logger on the rank holding the loss (rank 0 unless
  pipeline parallelism puts it on the last stage; TorchTitan's registry gives a
  registered spec priority over the built-in one of the same name), and a ``parallelize_fn`` that makes
  multi-process CPU runs work and start from the one-process weights (``parallelize.fixed_parallelize``);
- ``PrimusTrainer`` trims ``metrics.jsonl`` to the resumed step when training starts and writes ``DONE``
  when the configured steps are complete. The training loop itself is TorchTitan's.
"""

from __future__ import annotations

import dataclasses
import statistics
from pathlib import Path
from typing import Any

import torch
import torchtitan.protocols.train_spec as train_spec_module
import yaml
from torchtitan.components.checkpoint import AsyncMode
from torchtitan.components.metrics import (
    BaseLogger,
    LoggerContainer,
    _get_metrics_rank,
    build_metrics_processor,
)
from torchtitan.tools.logging import logger
from torchtitan.tools.utils import NoColor
from torchtitan.train import Trainer

from primus.backends.torchtitan import preemption
from primus.backends.torchtitan.checkpoint_integrity import DCP_METADATA, write_manifest
from primus.backends.torchtitan.metrics_file import (
    DATA_LOADING_SUMMARY,
    append_row,
    keep_rows_up_to,
    row_from_torchtitan,
)
from primus.backends.torchtitan.mock_data import mock_dataloader_builder
from primus.backends.torchtitan.model_args import apply_overrides
from primus.backends.torchtitan.parallelize import fixed_parallelize
from primus.backends.torchtitan.runner import DONE_FILE, METRICS_FILE, write_done
from primus.bundle.layout import RESOLVED
from primus.errors import ConfigKeyError
from primus.validate.model_args import describe, overrides_of


def _is_rank_zero() -> bool:
    return not torch.distributed.is_initialized() or torch.distributed.get_rank() == 0


def _is_metrics_rank(parallel_dims: Any, job_config: Any) -> bool:
    """The rank that holds the real loss: 0, or with pipeline parallelism the first rank of the last stage.

    Uses TorchTitan's own rule (a private helper, pinned to 0.2.2) so metrics.jsonl never records the
    placeholder loss that other pipeline stages carry.
    """
    if not torch.distributed.is_initialized():
        return True
    return torch.distributed.get_rank() == _get_metrics_rank(parallel_dims, job_config)


class JsonlMetricsLogger(BaseLogger):
    """A TorchTitan metrics logger that appends one contract row per logged training step."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.data_loading_pct: list[float] = []

    def log(self, metrics: dict[str, Any], step: int) -> None:
        if "loss_metrics/global_avg_loss" not in metrics:
            return  # validation metrics have their own keys; metrics.jsonl holds training steps only
        append_row(self.path, row_from_torchtitan(metrics, step))
        share = metrics.get("time_metrics/data_loading(%)")
        # Step 1 includes start-up work; it says nothing about the steady state.
        if share is not None and step > 1:
            self.data_loading_pct.append(float(share))

    def close(self) -> None:
        if self.data_loading_pct:
            logger.info(
                f"{DATA_LOADING_SUMMARY}: {statistics.mean(self.data_loading_pct):.3f}% "
                f"(mean over {len(self.data_loading_pct)} logged steps after step 1)"
            )


def _metrics_builder(inner: Any, metrics_path: Path):
    def build(job_config: Any, parallel_dims: Any, model_args: Any = None, tag: str | None = None):
        processor = (inner or build_metrics_processor)(job_config, parallel_dims, model_args)
        # TorchTitan's step line goes to train.log (a file); the terminal shows primus.progress instead.
        processor.color = NoColor()
        if tag is None and _is_metrics_rank(parallel_dims, job_config):
            container = processor.logger
            if not isinstance(container, LoggerContainer):
                # TorchTitan hands out a do-nothing BaseLogger when TensorBoard and W&B are both off.
                container = LoggerContainer()
                if type(processor.logger) is not BaseLogger:
                    container.add_logger(processor.logger)
                processor.logger = container
            container.add_logger(JsonlMetricsLogger(metrics_path))
        return processor

    return build


def bundle_model_overrides(job_config: Any) -> dict[str, Any]:
    """The ``model.<arg>`` overrides of the bundle whose job_config.toml TorchTitan was given.

    They live in the bundle's resolved.yaml (validated, hashed, in the manifest); job_config.toml holds
    only JobConfig fields. No config file (a JobConfig built in code): no overrides.
    """
    config_file = getattr(job_config.job, "config_file", None)
    if not config_file:
        return {}
    resolved = Path(config_file).parent / RESOLVED
    if not resolved.is_file():
        return {}
    document = yaml.safe_load(resolved.read_text(encoding="utf-8")) or {}
    model = (document.get("config") or {}).get("model") or {}
    fields = {field.name for field in dataclasses.fields(type(job_config.model))}
    return overrides_of(model, frozenset(fields))


def primus_train_spec(job_config: Any) -> train_spec_module.TrainSpec:
    """TorchTitan's TrainSpec for ``model.name`` with the Primus builders swapped in."""
    base = train_spec_module.get_train_spec(job_config.model.name)
    flavor = job_config.model.flavor
    if flavor not in base.model_args:
        raise ConfigKeyError(
            f"model {job_config.model.name!r} has no flavor {flavor!r}",
            key="model.flavor",
            value=flavor,
            hint=f"available flavors: {', '.join(sorted(base.model_args))}",
        )
    changes: dict[str, Any] = {
        "build_metrics_processor_fn": _metrics_builder(
            base.build_metrics_processor_fn, Path(job_config.job.dump_folder) / METRICS_FILE
        ),
        "parallelize_fn": fixed_parallelize(base.parallelize_fn),
    }
    args = base.model_args[flavor]
    overrides = bundle_model_overrides(job_config)
    if overrides:
        # Primus's semantics (patch_torchtitan_model_override): model.<arg> keys set the flavor's ModelArgs.
        args = apply_overrides(args, overrides)
        changes["model_args"] = {**base.model_args, flavor: args}
        logger.info(f"primus: {job_config.model.name} {flavor} with {', '.join(describe(overrides))}")
    if getattr(job_config.training, "mock_data", False):
        changes["build_dataloader_fn"] = mock_dataloader_builder(args.vocab_size)
        changes["build_tokenizer_fn"] = None
    return dataclasses.replace(base, **changes)


def run_record(job_config: Any) -> dict[str, Any]:
    """What decides whether two runs of one bundle can give bit-identical losses, for train/DONE."""
    import platform
    from importlib.metadata import version

    from torchtitan.tools.utils import device_type

    return {
        "device": device_type,
        "threads": torch.get_num_threads(),
        "world_size": torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1,
        "deterministic": bool(job_config.debug.deterministic),
        "versions": {
            "torch": torch.__version__,
            "torchtitan": version("torchtitan"),
            "python": platform.python_version(),
        },
    }


class PrimusTrainer(Trainer):
    """TorchTitan's Trainer; adds metrics.jsonl trimming on (re)start, the DONE marker, and a checkpoint
    then a clean stop at the end of the step in which SIGTERM/SIGUSR1 arrived (``preemption``)."""

    def __init__(self, job_config: Any) -> None:
        name = job_config.model.name
        spec = primus_train_spec(job_config)
        # A registered spec wins over TorchTitan's built-in one of the same name (get_train_spec); a spec
        # registered earlier (by a custom import) was the base of ``spec`` and is replaced by it.
        train_spec_module._extra_train_specs.pop(name, None)
        train_spec_module.register_train_spec(name, spec)
        self._training_started = False
        self._stop = preemption.StopRequest(Path(job_config.job.dump_folder))
        self._stop.install()
        super().__init__(job_config)
        self._record_intact_checkpoints()

    def _record_intact_checkpoints(self) -> None:
        """After each completed synchronous save, rank 0 writes the checkpoint's integrity manifest."""
        checkpointer = getattr(self, "checkpointer", None)
        if checkpointer is None or not checkpointer.enable or checkpointer.async_mode != AsyncMode.DISABLED:
            return  # async saves finish in the background: those checkpoints stay unverified
        save = checkpointer.save

        def save_and_record(curr_step: int, last_step: bool = False) -> None:
            saving = checkpointer._should_save(curr_step, last_step)  # TorchTitan 0.2.2's own rule
            save(curr_step, last_step)
            folder = Path(checkpointer._create_checkpoint_id(curr_step))
            if saving and _is_rank_zero() and (folder / DCP_METADATA).is_file():
                write_manifest(folder)

        checkpointer.save = save_and_record

    def should_continue_training(self) -> bool:
        # TorchTitan asks this first right after loading the checkpoint: self.step is the resumed step.
        if not self._training_started:
            self._training_started = True
            if _is_metrics_rank(self.parallel_dims, self.job_config):
                dropped = keep_rows_up_to(Path(self.job_config.job.dump_folder) / METRICS_FILE, self.step)
                if dropped:
                    logger.info(f"primus: dropped {dropped} metrics rows after resumed step {self.step}")
        elif self.step < self.job_config.training.steps:
            # Every rank is here after the same step (TorchTitan's loop saved it if the interval said so).
            signal_name = self._stop.agreed(self.device)
            if signal_name:
                saved = preemption.save_now(self.checkpointer, self.step)
                if _is_rank_zero():
                    preemption.write_preempted(
                        Path(self.job_config.job.dump_folder), self.step, signal_name, saved
                    )
                logger.info(
                    f"primus: {signal_name} received; stopped after step {self.step}"
                    + (f" with checkpoint step-{self.step}" if saved else " (checkpointing is off)")
                )
                return False
        return super().should_continue_training()

    def train(self) -> None:
        super().train()
        steps = self.job_config.training.steps
        if self.step >= steps and _is_rank_zero():
            write_done(Path(self.job_config.job.dump_folder), self.step, run_record(self.job_config))
            logger.info(f"primus: training complete at step {self.step}; wrote {DONE_FILE}")
