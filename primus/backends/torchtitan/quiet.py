"""Keep TorchTitan 0.2.2's log to what says something about this run (installed in every worker by ``entry``).

TorchTitan prints some warnings on every run that do not apply to runs this pipeline starts, and on a CPU
it shows a model FLOPS utilisation computed against an A100's peak, which means nothing there. Each case is
named below with the condition under which it is dropped; everything else TorchTitan logs stays in
``train.log`` untouched:

- Primus presets name their JobConfig extension in the deprecated ``experimental.custom_args_module``
  (the compatibility corpus keeps them as Primus ships them); the writer puts the same module into
  ``job.custom_config_module`` (see ``job_toml``), so TorchTitan's "This field is being moved to
  --job.custom_config_module" changes nothing and is dropped when the two name the same module;
- synthetic data (``training.mock_data``) without HF-format checkpoint loading or saving needs no
  ``model.hf_assets_path``: "HF assets path ... does not exist!" and "model.safetensors.index.json not
  found" are dropped;
- on a host without an accelerator: "Error running lspci", "Peak flops undefined for: cpu, fallback to A100"
  and "Peak FLOPS used for computing MFU" are dropped, and the step line loses its ``mfu: x%`` field
  (tokens/s and TFLOPS stay: they are measured);
- torchrun sets ``TORCH_NCCL_ASYNC_ERROR_HANDLING=1`` when the caller did not, and TorchTitan then warns
  that it overrides it with 3: when the launcher saw the variable unset (it passes
  ``PRIMUS_NCCL_ASYNC_UNSET=1``), that warning concerns nothing the user set and is dropped;
- the CPU autocast warning: with ``training.mixed_precision_param = "float32"`` on a CPU there is nothing to
  autocast, so TorchTitan's AMP context is an empty one instead of a ``torch.autocast`` that warns and
  disables itself (``cpu_runtime.apply_cpu_patches`` rebinds that one function).

The step line is plain text: the pipeline's own progress view is what a terminal shows, and train.log is
a file, so TorchTitan's colour codes are switched off in the metrics processor (see ``trainer``).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from typing import Any

_ASSETS_NOISE = ("HF assets path ", "model.safetensors.index.json not found at hf_assets_path")
_MOVED_FIELD_NOISE = ("This field is being moved to --job.custom_config_module",)
_NCCL_DEFAULT_NOISE = ("ENV[TORCH_NCCL_ASYNC_ERROR_HANDLING] = 1 will be overridden to 3",)
#: Set by the launcher for its workers when the caller had not set TORCH_NCCL_ASYNC_ERROR_HANDLING.
NCCL_UNSET_MARKER = "PRIMUS_NCCL_ASYNC_UNSET"


def launcher_markers(env: Mapping[str, str]) -> dict[str, str]:
    """What the launcher tells its workers about the caller's environment (see the module docstring)."""
    return {} if "TORCH_NCCL_ASYNC_ERROR_HANDLING" in env else {NCCL_UNSET_MARKER: "1"}


_CPU_NOISE = ("Error running lspci", "Peak flops undefined for: cpu", "Peak FLOPS used for computing MFU")
_MFU_FIELD = re.compile(r"\s+(?:\x1b\[[0-9;]*m)?mfu: [^%]*%")


def needs_no_assets(job: Mapping[str, Any]) -> bool:
    """True when nothing in the job reads ``model.hf_assets_path`` (synthetic data, no HF checkpoints)."""
    training, checkpoint = job.get("training", {}), job.get("checkpoint", {})
    return bool(
        training.get("mock_data")
        and not checkpoint.get("initial_load_in_hf")
        and not checkpoint.get("last_save_in_hf")
    )


def extension_module_copied(job: Mapping[str, Any]) -> bool:
    """True when the deprecated and the current field name the same extension module."""
    deprecated = job.get("experimental", {}).get("custom_args_module")
    return bool(deprecated) and deprecated == job.get("job", {}).get("custom_config_module")


class RunNoiseFilter(logging.Filter):
    """Drops the messages listed in the module docstring and strips MFU from step lines on a CPU."""

    def __init__(
        self, *, assets_unused: bool, cpu: bool, module_copied: bool = False, nccl_defaulted: bool = False
    ) -> None:
        super().__init__("primus.quiet")
        self.dropped = (
            (_ASSETS_NOISE if assets_unused else ())
            + (_CPU_NOISE if cpu else ())
            + (_MOVED_FIELD_NOISE if module_copied else ())
            + (_NCCL_DEFAULT_NOISE if nccl_defaulted else ())
        )
        self.cpu = cpu

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(message.startswith(text) or text in message for text in self.dropped):
            return False
        if self.cpu and "mfu: " in message:
            record.msg, record.args = _MFU_FIELD.sub("", message), None
        return True


def install(job: Mapping[str, Any], *, cpu: bool) -> RunNoiseFilter:
    """Attach the filter to TorchTitan's logger (the root logger in 0.2.2); returns it."""
    from torchtitan.tools.logging import logger

    noise = RunNoiseFilter(
        assets_unused=needs_no_assets(job),
        cpu=cpu,
        module_copied=extension_module_copied(job),
        nccl_defaulted=os.environ.get(NCCL_UNSET_MARKER) == "1",
    )
    logger.addFilter(noise)
    return noise
