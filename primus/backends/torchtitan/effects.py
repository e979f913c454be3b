"""Which part of this backend reads each key Primus adds, and which keys have no effect here (with why).

No accepted key may silently do nothing (Primus's DeepSeek configs trained for months with MoE load
balancing off because a key was accepted and ignored). Every TorchTitan 0.2.2 ``JobConfig`` field reaches
TorchTitan through job_config.toml; every key Primus adds is either in ``CONSUMERS`` (what reads it) or in
``NO_EFFECT`` (a rule saying when Primus would act on it, and why this pipeline does not), which validation
turns into a warning naming the key. ``tests/test_key_effects.py`` walks the whole schema and fails for a
key that is in neither.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: Primus-added keys that take effect, and where.
CONSUMERS = {
    "training.mock_data": "primus.backends.torchtitan.mock_data (synthetic batches instead of a dataset)",
    "primus_turbo.enable_primus_turbo": "primus.backends.torchtitan.turbo (master switch of the converter)",
    "primus_turbo.use_turbo_attention": "primus.backends.torchtitan.turbo (attention through Primus-Turbo)",
    "sink_level": "primus.backends.torchtitan.runner (level of train.log and of stderr at once)",
    "file_sink_level": "primus.backends.torchtitan.runner (lowest level written to train.log)",
    "stderr_sink_level": "primus.backends.torchtitan.runner (lowest level echoed to stderr)",
}

#: TorchTitan fields this backend sets itself, whatever the config says (the bundle owns these paths).
REPLACED = {
    "job.dump_folder": "the launcher passes --job.dump_folder <bundle>/train: a run writes into its bundle",
    "job.config_file": "the launcher passes --job.config_file <bundle>/job_config.toml",
    "metrics.disable_color_printing": "the worker always prints TorchTitan's metrics without colour: its "
    "log goes only to train.log, and the progress view colours what a terminal shows (unless NO_COLOR)",
}

#: Python packages each converter imports when TorchTitan builds the model (after torchrun has started):
#: preflight checks them before launch, and the ROCm image installs them (containers/lock.yaml).
CONVERTER_PACKAGES = {
    "primus_turbo": "primus_turbo",
    "quantize.linear.float8": "torchao",
    "quantize.linear.mx": "torchao",
    "quantize.grouped_mm.float8": "torchao",
    "quantize.grouped_mm.mx": "torchao",
}

Getter = Callable[[str], Any]

_TURBO_KERNELS = (
    "this pipeline's primus_turbo converter swaps attention only (primus.backends.torchtitan.turbo); "
    "Primus applies this through its own runtime patches, which are not part of this pipeline"
)


@dataclass(frozen=True)
class NoEffect:
    """``key`` has no effect here whenever ``applies(get, moe)`` is true (Primus would act on it then)."""

    key: str
    applies: Callable[[Getter, bool], bool]
    reason: str
    hint: str


def _turbo_on(get: Getter) -> bool:
    return bool(get("primus_turbo.enable_primus_turbo"))


def _converter(get: Getter, name: str) -> bool:
    return name in (get("model.converters") or [])


NO_EFFECT = (
    NoEffect(
        "primus_turbo.enable_attention_float8",
        lambda get, moe: (
            _turbo_on(get)
            and bool(get("primus_turbo.enable_attention_float8"))
            and _converter(get, "primus_turbo")
        ),
        "Primus-Turbo's blockwise FP8 attention is not wired here: the converter calls Turbo's attention "
        "in the training dtype",
        "set primus_turbo.enable_attention_float8: false (attention then runs exactly as it will here)",
    ),
    NoEffect(
        "primus_turbo.use_classic_attention",
        lambda get, moe: (
            _turbo_on(get)
            and bool(get("primus_turbo.use_classic_attention"))
            and get("model.name") == "deepseek_v3"
        ),
        "needs Primus's DeepSeek classic-attention patch; " + _TURBO_KERNELS,
        "set primus_turbo.use_classic_attention: false",
    ),
    NoEffect(
        "primus_turbo.use_turbo_async_tp",
        lambda get, moe: (
            _turbo_on(get)
            and bool(get("primus_turbo.use_turbo_async_tp"))
            and bool(get("parallelism.enable_async_tensor_parallel"))
            and (get("parallelism.tensor_parallel_degree") or 1) > 1
        ),
        "needs Primus-Turbo's fused all-gather/reduce-scatter GEMMs; TorchTitan's own async tensor "
        "parallelism (torch symmetric memory) runs instead",
        "set primus_turbo.use_turbo_async_tp: false",
    ),
    NoEffect(
        "primus_turbo.use_turbo_mx_linear",
        lambda get, moe: (
            _turbo_on(get)
            and bool(get("primus_turbo.use_turbo_mx_linear"))
            and _converter(get, "quantize.linear.mx")
        ),
        "needs Primus-Turbo's MX linear kernels; TorchTitan's quantize.linear.mx converter (torchao) "
        "runs instead",
        "set primus_turbo.use_turbo_mx_linear: false",
    ),
    NoEffect(
        "primus_turbo.use_turbo_float8_linear",
        lambda get, moe: (
            _turbo_on(get)
            and bool(get("primus_turbo.use_turbo_float8_linear"))
            and _converter(get, "quantize.linear.float8")
        ),
        "needs Primus-Turbo's FP8 linear converter; TorchTitan's quantize.linear.float8 converter "
        "(torchao Float8Linear) runs instead",
        "set primus_turbo.use_turbo_float8_linear: false",
    ),
    NoEffect(
        "primus_turbo.use_turbo_grouped_mm",
        lambda get, moe: _turbo_on(get) and bool(get("primus_turbo.use_turbo_grouped_mm")) and moe,
        "needs Primus-Turbo grouped GEMM (ROCm only); the experts use torch's grouped_mm here",
        "set primus_turbo.use_turbo_grouped_mm: false",
    ),
    NoEffect(
        "primus_turbo.use_moe_fp8",
        lambda get, moe: (
            _turbo_on(get)
            and bool(get("primus_turbo.use_moe_fp8"))
            and bool(get("primus_turbo.use_turbo_grouped_mm"))
            and moe
        ),
        "needs Primus-Turbo's FP8 grouped GEMM for the experts; they run in the training dtype here "
        "(TorchTitan's quantize.grouped_mm.float8 converter is the FP8 path)",
        "set primus_turbo.use_moe_fp8: false, or list quantize.grouped_mm.float8 in model.converters",
    ),
    NoEffect(
        "primus_turbo.enable_embedding_autocast",
        lambda get, moe: (
            _turbo_on(get)
            and bool(get("primus_turbo.enable_embedding_autocast"))
            and _converter(get, "primus_turbo")
        ),
        "needs Primus's embedding autocast patch; the embedding output keeps TorchTitan's dtype here",
        "set primus_turbo.enable_embedding_autocast: false",
    ),
    NoEffect(
        "trainable",
        lambda get, moe: bool(get("trainable")),
        "a Primus module flag this pipeline does not read (the pre_trainer module always trains)",
        "leave trainable: false, as Primus's module_base.yaml does",
    ),
)


def no_effect_warnings(get: Getter, moe: bool) -> list[tuple[str, str, str]]:
    """``(key, message, hint)`` for each key set to something that would act in Primus but not here."""
    return [
        (rule.key, f"has no effect here: {rule.reason}", rule.hint)
        for rule in NO_EFFECT
        if rule.applies(get, moe)
    ]
