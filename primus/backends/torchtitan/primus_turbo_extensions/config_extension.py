"""Primus's additions to TorchTitan 0.2.2's ``JobConfig``, as a custom config module.

TorchTitan's ``ConfigManager`` imports the module named by ``job.custom_config_module`` (or the older
``experimental.custom_args_module``), takes its ``JobConfig`` and merges it into its own: a field whose
type is a dataclass on both sides is merged field by field, anything else is added or overrides. So
``Training`` below only adds ``mock_data`` to TorchTitan's ``training`` section, and ``PrimusTurbo``
adds a whole new section.

Deliberately plain: no torch, and no ``from __future__ import annotations``. TorchTitan's merge checks
``dataclasses.is_dataclass(field.type)``, which is False for a string annotation, so postponed annotations
would make ``training`` replace TorchTitan's section instead of extending it.

``ModuleConfig`` is not a TorchTitan section: it describes the module-level keys of a Primus module preset
(``trainable``, the log sink levels). The validator reads it as the "module" part of the schema; it is never
handed to TorchTitan.
"""

from dataclasses import dataclass, field
from typing import Literal

#: Log levels accepted by Primus's (loguru) log sinks, lowest first.
LogLevel = Literal["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"]


@dataclass
class Training:
    mock_data: bool = False
    """
    Train on synthetic token batches instead of a dataset. The batches follow ``training.seq_len``,
    ``training.local_batch_size`` and the model's vocabulary size, and need neither ``training.dataset_path``
    nor a tokenizer under ``model.hf_assets_path``. False: read ``training.dataset``.
    """


@dataclass
class PrimusTurbo:
    """Primus-Turbo kernels (ROCm only). Read only when ``model.converters`` lists ``primus_turbo``."""

    enable_primus_turbo: bool = True
    """Master switch: False leaves every TorchTitan module as it is even when the converter is listed."""

    enable_attention_float8: bool = False
    """Run the Turbo attention kernel with FP8 inputs (needs ``use_turbo_attention``)."""

    use_turbo_attention: bool = True
    """Replace TorchTitan's attention (sdpa/flex) with Primus-Turbo's flash-attention kernel."""

    use_classic_attention: bool = False
    """Keep the plain (non-fused) attention implementation; for debugging numerics against Turbo."""

    use_turbo_async_tp: bool = True
    """Use Turbo's fused all-gather/reduce-scatter GEMMs for async tensor parallelism
    (effective only with ``parallelism.enable_async_tensor_parallel`` and ``tensor_parallel_degree`` > 1)."""

    use_turbo_mx_linear: bool = True
    """Use Turbo's MX (microscaling) linear kernels when the ``quantize.linear.mx`` converter is listed."""

    use_turbo_float8_linear: bool = True
    """Use Turbo's FP8 linear kernels when the ``quantize.linear.float8`` converter is listed."""

    use_turbo_grouped_mm: bool = False
    """Use Turbo's grouped GEMM for MoE experts instead of torch's ``_grouped_mm`` (MoE flavors only)."""

    use_moe_fp8: bool = True
    """Run the MoE expert grouped GEMMs in FP8 (needs ``use_turbo_grouped_mm``; MoE flavors only)."""

    enable_embedding_autocast: bool = True
    """Autocast the token embedding output to the training dtype (bf16) so Turbo kernels get matching
    inputs."""


@dataclass
class JobConfig:
    """The Primus extension, merged into TorchTitan's ``JobConfig`` by its ``ConfigManager``."""

    training: Training = field(default_factory=Training)
    primus_turbo: PrimusTurbo = field(default_factory=PrimusTurbo)


@dataclass
class ModuleConfig:
    """Module-level keys of a Primus module preset (not a TorchTitan section; never passed to TorchTitan)."""

    trainable: bool = False
    """Primus module flag kept for compatibility with Primus presets; this pipeline does not read it."""

    sink_level: LogLevel | None = None
    """Level for both log sinks at once; None leaves ``file_sink_level`` and ``stderr_sink_level`` in
    charge."""

    file_sink_level: LogLevel = "DEBUG"
    """Lowest level written to the per-run log file."""

    stderr_sink_level: LogLevel = "INFO"
    """Lowest level printed to stderr."""
