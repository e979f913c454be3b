"""Checks about THIS machine, run just before launch (``validate(..., preflight=True)``).

Unlike the rest of ``primus.validate`` these look at the host: is ``primus_turbo`` importable, do the
tokenizer and dataset references name local files that exist or well-formed Hub repositories (which the
assets stage fetches before freezing; nothing is downloaded at train time), and does a
CPU-only host have the memory the model needs. Accelerators are detected from device nodes (``/dev/kfd``
for ROCm, ``/dev/nvidia*`` for CUDA), so even preflight needs no torch import (which takes seconds).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from primus.config.model import Origin
from primus.errors import PreflightError
from primus.validate import schema

#: Bytes per parameter for AdamW training in fp32: weights 4 + gradients 4 + two moment buffers 8.
#: A floor: activations, the data loader and the framework come on top.
BYTES_PER_PARAM_ADAMW_FP32 = 16


@dataclass(frozen=True)
class Host:
    """What preflight needs to know about the machine."""

    accelerator: str | None  # "rocm", "cuda" or None (CPU only)
    memory_bytes: int | None  # physical RAM (MemTotal), None when unknown

    @staticmethod
    def detect(env: Mapping[str, str] | None = None) -> Host:
        return Host(accelerator=detect_accelerator(env), memory_bytes=_mem_total())


def detect_accelerator(env: Mapping[str, str] | None = None, dev: Path = Path("/dev")) -> str | None:
    """``"rocm"``/``"cuda"`` when a GPU is visible to this process, else None.

    Read from device nodes, without importing torch: the ROCm driver always exposes ``/dev/kfd`` and the
    NVIDIA driver ``/dev/nvidia0``..., and no GPU build of torch can reach a GPU without them. A visibility
    variable set to the empty string hides every GPU from torch, so it counts as none.
    """
    env = os.environ if env is None else env
    if (dev / "kfd").exists() and "" not in (env.get("HIP_VISIBLE_DEVICES"), env.get("ROCR_VISIBLE_DEVICES")):
        return "rocm"
    if any(dev.glob("nvidia[0-9]*")) and env.get("CUDA_VISIBLE_DEVICES") != "":
        return "cuda"
    return None


def _mem_total() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _get(config: dict[str, Any], dotted_key: str) -> Any:
    node: Any = config
    for part in dotted_key.split("."):
        if not isinstance(node, dict) or part not in node:
            return schema.default_of(dotted_key)
        node = node[part]
    return node


#: Model families whose tensor parallelism cannot run on a CPU-only host with TorchTitan 0.2.2, and why.
#: Measured with 2 gloo processes: qwen3 keeps q/k/v as DTensors for its qk-norm
#: (``use_local_output=False``), and torch has no DTensor sharding rule for the CPU SDPA kernel; llama3's
#: attention gets local tensors and trains with TP 2 on CPU.
CPU_TENSOR_PARALLEL_UNSUPPORTED = {
    "qwen3": "torch has no DTensor sharding strategy for aten._scaled_dot_product_flash_attention_for_cpu, "
    "which qwen3's tensor-parallel attention (q/k/v kept as DTensors for qk-norm) needs",
}


CPU_PARALLELISM_HINT = (
    "use data parallelism on CPU (data_parallel_shard_degree or data_parallel_replicate_degree), "
    "or train on a GPU host"
)


def cpu_tensor_parallel_problem(family: str, tensor_parallel_degree: int) -> str | None:
    """Why ``family`` cannot train with this TP degree on a CPU-only host, or None when it can."""
    reason = CPU_TENSOR_PARALLEL_UNSUPPORTED.get(family)
    if tensor_parallel_degree > 1 and reason:
        return (
            f"tensor_parallel_degree {tensor_parallel_degree} cannot train {family} on a host without "
            f"accelerators: {reason}"
        )
    return None


def _gib(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.1f} GiB"


def preflight(
    config: dict[str, Any],
    *,
    origin_of: Callable[[str], Origin | None] = lambda key: None,
    env: Mapping[str, str] | None = None,
    host: Host | None = None,
    base_dir: Path | None = None,
) -> list[PreflightError]:
    """Problems that stop ``config`` (already validated and coerced) from running on this machine.

    ``origin_of`` locates keys for the messages (``ResolvedExperiment.origin_of``); ``env`` defaults to
    ``os.environ``; ``host`` to ``Host.detect()``; relative paths are resolved against ``base_dir``
    (default: the current directory, where TorchTitan will run).
    """
    env = os.environ if env is None else env
    base_dir = base_dir or Path.cwd()
    errors: list[PreflightError] = []

    def fail(key: str, message: str, value: Any, hint: str) -> None:
        origin = origin_of(key)
        errors.append(
            PreflightError(
                message,
                file=origin.file if origin else None,
                line=(origin.line or None) if origin else None,
                key=key,
                value=value,
                hint=hint,
            )
        )

    converters = _get(config, "model.converters")
    if "primus_turbo" in converters and importlib.util.find_spec("primus_turbo") is None:
        fail(
            "model.converters",
            "converter 'primus_turbo' is requested but the primus_turbo package is not importable here",
            converters,
            "Primus-Turbo exists only for ROCm GPUs: train inside the ROCm container "
            "(snakemake train --config runtime=container), or remove 'primus_turbo' from model.converters",
        )
    packages = schema.backend().converter_packages()
    for name in converters:
        package = packages.get(name)
        if name != "primus_turbo" and package and importlib.util.find_spec(package) is None:
            # TorchTitan imports it only when it builds the model, after torchrun and process groups start
            fail(
                "model.converters",
                f"converter '{name}' needs the {package} package, which is not importable here",
                converters,
                f"train inside the ROCm container (it ships {package}, pinned in containers/lock.yaml), "
                f"pip install {package} into this environment, or remove '{name}' from model.converters",
            )

    if _get(config, "metrics.enable_wandb") and importlib.util.find_spec("wandb") is None:
        # TorchTitan would log an ERROR and train on without W&B, exiting 0.
        fail(
            "metrics.enable_wandb",
            "Weights & Biases logging is requested but the wandb package is not installed here",
            True,
            "pip install wandb (set WANDB_MODE=offline to keep the run on this machine), or set "
            "metrics.enable_wandb: false",
        )

    _check_assets(config, base_dir, fail)

    host = host or Host.detect(env)
    if host.accelerator is None:
        tp = _get(config, "parallelism.tensor_parallel_degree")
        problem = cpu_tensor_parallel_problem(_get(config, "model.name"), tp)
        if problem:
            fail(
                "parallelism.tensor_parallel_degree",
                problem,
                tp,
                CPU_PARALLELISM_HINT,
            )
    if host.accelerator is None and host.memory_bytes:
        flavor = schema.effective_flavor(config)
        if flavor is not None:
            params = schema.parameter_count(flavor)
            need = params * BYTES_PER_PARAM_ADAMW_FP32
            if need > host.memory_bytes:
                fail(
                    "model.flavor",
                    f"not enough memory to train {flavor.label} on this CPU-only host: "
                    f"{params:,} parameters * {BYTES_PER_PARAM_ADAMW_FP32} bytes (AdamW, fp32) = "
                    f"{_gib(need)} needed, {_gib(host.memory_bytes)} of RAM present",
                    flavor.name,
                    "run on a GPU host or cluster, or pick a smaller flavor (e.g. debugmodel) for CPU runs",
                )
    return errors


def _check_assets(config: dict[str, Any], base_dir: Path, fail: Callable) -> None:
    """Each tokenizer/data reference must name something usable: an existing local folder of tokenizer
    files or data, or a well-formed Hub repository (the assets stage fetches it before freezing; nothing
    is downloaded at train time). With ``training.mock_data`` the run reads none, so nothing is checked."""
    from primus.assets.sources import parse_source, stream_hint
    from primus.errors import AssetError

    layout = schema.backend().assets
    for reference in layout.references(config, default_of=schema.default_of):
        try:
            source = parse_source(reference, base_dir=base_dir, layout=layout)
        except AssetError as error:
            fail(reference.key, error.message, error.value, error.hint)
            continue
        if source.kind == "stream":
            fail(
                reference.key,
                f"dataset {source.value!r} would be streamed from the Hub ({source.repo_id}) at train time "
                "with no revision: it cannot be pinned",
                source.value,
                stream_hint(source),
            )
