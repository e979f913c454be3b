"""Checks about THIS machine, run just before launch (``validate(..., preflight=True)``).

Unlike the rest of ``primus.validate`` these look at the host: is ``primus_turbo`` importable, are the
dataset and the tokenizer files present locally (nothing can be downloaded at train time), and does a
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


def hf_cache_dirs(env: Mapping[str, str]) -> list[Path]:
    """Where the Hugging Face hub cache may live, in the order huggingface_hub looks."""
    if env.get("HF_HUB_CACHE"):
        return [Path(env["HF_HUB_CACHE"])]
    if env.get("HF_HOME"):
        return [Path(env["HF_HOME"]) / "hub"]
    cache_home = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return [cache_home / "huggingface" / "hub"]


def _in_hf_cache(repo_id: str, env: Mapping[str, str]) -> Path | None:
    folder = "models--" + repo_id.replace("/", "--")
    for cache in hf_cache_dirs(env):
        snapshots = cache / folder / "snapshots"
        if snapshots.is_dir() and any(snapshots.iterdir()):
            return cache / folder
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

    if not _get(config, "training.mock_data"):
        _check_dataset(config, env, base_dir, fail)
        _check_assets(config, env, base_dir, fail)

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


def _check_dataset(config: dict[str, Any], env: Mapping[str, str], base_dir: Path, fail: Callable) -> None:
    path = _get(config, "training.dataset_path")
    dataset = _get(config, "training.dataset")
    if path:
        if not (base_dir / Path(path).expanduser()).exists():
            fail(
                "training.dataset_path",
                f"dataset path {path!r} does not exist on this machine",
                path,
                "point training.dataset_path at a local copy of the data, or set training.mock_data: true",
            )
        return
    default = schema.registry()["datasets"].get(dataset)
    if default is None:
        fail(
            "training.dataset",
            f"dataset {dataset!r} has no built-in location and training.dataset_path is not set",
            dataset,
            "set training.dataset_path to a local copy, or training.mock_data: true",
        )
    elif not (base_dir / default).exists():
        fail(
            "training.dataset",
            f"dataset {dataset!r} would be read from {default!r}, which is not on this machine "
            "(nothing is downloaded at train time)",
            dataset,
            "set training.dataset_path to a local copy, or training.mock_data: true",
        )


def _check_assets(config: dict[str, Any], env: Mapping[str, str], base_dir: Path, fail: Callable) -> None:
    assets = _get(config, "model.hf_assets_path")
    local = base_dir / Path(assets).expanduser()
    if local.is_dir():
        return
    # "Org/Name" is a hub repository id; TorchTitan reads it only if it is already in the local HF cache.
    if assets.count("/") == 1 and not assets.startswith((".", "/", "~")) and _in_hf_cache(assets, env):
        return
    caches = ", ".join(str(path) for path in hf_cache_dirs(env))
    fail(
        "model.hf_assets_path",
        f"tokenizer assets {assets!r} are neither a local directory nor in the local Hugging Face cache "
        f"({caches})",
        assets,
        "point model.hf_assets_path at a directory holding tokenizer.json, or set training.mock_data: true",
    )
