"""Let TorchTitan 0.2.2 run on a host without an accelerator.

TorchTitan picks its device once, at import of ``torchtitan.tools.utils``: ``device_type`` falls back to
``"cuda"`` when torch finds no accelerator, and every module then imports that name (``from
torchtitan.tools.utils import device_type, device_module``). On a CPU-only torch that ends in
``torch._C has no attribute _cuda_setDevice``. Its memory monitor also calls functions ``torch.cpu`` lacks.

The fix is narrow: rebind ``device_type``/``device_module`` inside TorchTitan's own modules to ``"cpu"`` and
a small stand-in module that delegates to ``torch.cpu`` and adds the missing functions. ``torch`` and
``torch.cpu`` themselves are never modified, so nothing outside TorchTitan sees a change. On a CUDA or
ROCm host nothing here is applied.
"""

from __future__ import annotations

import resource
import sys
import types
from typing import Any

import torch

#: The names TorchTitan modules import from ``torchtitan.tools.utils`` and use to pick the device.
_DEVICE_NAMES = ("device_type", "device_module")


def needs_cpu_patches() -> bool:
    """True when torch sees no accelerator (CUDA, ROCm or another backend torch knows)."""
    from torch._utils import _get_available_device_type

    return _get_available_device_type() is None


def _peak_rss_bytes() -> int:
    # ru_maxrss is in KiB on Linux: the process's peak resident memory is the closest CPU analogue of a
    # GPU allocator's peak reservation.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _total_memory_bytes() -> int:
    try:
        import os

        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1


class _CpuProperties:
    """What ``DeviceMemoryMonitor`` reads from ``get_device_properties`` (``total_memory`` in bytes)."""

    def __init__(self) -> None:
        self.total_memory = _total_memory_bytes()
        self.name = "cpu"


def make_cpu_device_module() -> types.ModuleType:
    """A stand-in for ``torch.cpu`` with the functions TorchTitan's monitor and barrier call.

    ``memory_stats`` reports the process peak RSS as both "active" and "reserved" bytes; ``current_device``
    returns 0 because ``barrier(device_ids=[...])`` needs an int (``torch.cpu`` returns the string "cpu").
    Everything else is looked up on ``torch.cpu``.
    """
    module = types.ModuleType("primus_cpu_device_module", "torch.cpu plus the stand-ins TorchTitan needs")

    def memory_stats(device: Any = None) -> dict[str, int]:
        peak = _peak_rss_bytes()
        return {
            "active_bytes.all.peak": peak,
            "reserved_bytes.all.peak": peak,
            "num_alloc_retries": 0,
            "num_ooms": 0,
        }

    stand_ins = {
        "get_device_name": lambda device=None: "cpu",
        "get_device_properties": lambda device=None: _CpuProperties(),
        "reset_peak_memory_stats": lambda device=None: None,
        "empty_cache": lambda: None,
        "memory_stats": memory_stats,
        "current_device": lambda: 0,
    }
    for name, function in stand_ins.items():
        setattr(module, name, function)
    module.__getattr__ = lambda name: getattr(torch.cpu, name)  # type: ignore[method-assign]
    return module


def apply_cpu_patches() -> list[str]:
    """Point TorchTitan at the CPU before its trainer is imported; returns the modules rebound.

    Rebinding happens in ``torchtitan.tools.utils`` first, so modules imported afterwards (the trainer,
    models loaded later by name) copy the CPU values; modules already imported are swept once.
    """
    import torchtitan.tools.utils as tt_utils

    cpu_module = make_cpu_device_module()
    originals = (tt_utils.device_type, tt_utils.device_module)
    tt_utils.device_type, tt_utils.device_module = "cpu", cpu_module

    import torchtitan.train  # noqa: F401  (imports the rest of TorchTitan with the CPU values in place)

    _skip_float32_autocast()
    rebound = ["torchtitan.tools.utils", "torchtitan.distributed.utils.maybe_enable_amp"]
    for name, module in list(sys.modules.items()):
        if not name.startswith("torchtitan.") or module is None or module is tt_utils:
            continue
        namespace = vars(module)
        for attribute, original, replacement in zip(_DEVICE_NAMES, originals, ("cpu", cpu_module)):
            if namespace.get(attribute) is original:
                namespace[attribute] = replacement
                rebound.append(f"{name}.{attribute}")
    return rebound


def _skip_float32_autocast() -> None:
    """AMP to float32 on a CPU is no AMP at all: give TorchTitan an empty context for it.

    ``torch.autocast("cpu", dtype=torch.float32)`` warns "In CPU autocast, but the target dtype is not
    supported. Disabling autocast." and then does nothing; every other case keeps TorchTitan's own
    behaviour. Rebinds ``maybe_enable_amp`` in ``torchtitan.distributed.utils``, which the trainer calls
    through its module (``dist_utils.maybe_enable_amp``).
    """
    import contextlib

    import torchtitan.distributed.utils as dist_utils

    original = dist_utils.maybe_enable_amp
    if getattr(original, "primus_float32_cpu", False):
        return

    def maybe_enable_amp(parallel_dims: Any, mixed_precision_param: str, device_type: str):
        if device_type == "cpu" and mixed_precision_param == "float32":
            return contextlib.nullcontext()
        return original(parallel_dims, mixed_precision_param, device_type)

    maybe_enable_amp.primus_float32_cpu = True  # type: ignore[attr-defined]
    dist_utils.maybe_enable_amp = maybe_enable_amp
