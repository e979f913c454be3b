"""The CPU patches: TorchTitan sees device "cpu" and a working memory monitor; torch itself is untouched.

Each check runs in a fresh interpreter, because the patches rebind names inside TorchTitan's modules
for the rest of the process (that is their job in a training worker).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from primus.backends.torchtitan.cpu_runtime import needs_cpu_patches

pytestmark = pytest.mark.skipif(
    not needs_cpu_patches(), reason="this host has an accelerator: no patches apply"
)

CHECK = textwrap.dedent(
    """
    import torch
    from primus.backends.torchtitan import cpu_runtime

    rebound = cpu_runtime.apply_cpu_patches()
    import torchtitan.components.metrics as metrics
    import torchtitan.distributed.utils as dist_utils
    import torchtitan.tools.utils as tt_utils

    # TorchTitan's modules now agree on the CPU ...
    assert tt_utils.device_type == metrics.device_type == dist_utils.device_type == "cpu", rebound
    assert metrics.device_module is tt_utils.device_module is dist_utils.device_module
    monitor = metrics.build_device_memory_monitor()
    stats = monitor.get_peak_stats()
    assert stats.max_reserved_gib > 0 and stats.num_ooms == 0
    assert tt_utils.device_module.current_device() == 0
    # ... and torch itself is not changed: torch.cpu still lacks what only the stand-in provides.
    assert not hasattr(torch.cpu, "memory_stats") and not hasattr(torch.cpu, "get_device_name")
    assert torch.cpu.current_device() == "cpu"
    # AMP to float32 on a CPU is an empty context (no "target dtype is not supported" warning); bfloat16
    # still gets TorchTitan's torch.autocast.
    import contextlib, warnings
    from torchtitan.distributed import ParallelDims
    dims = ParallelDims(dp_replicate=1, dp_shard=1, cp=1, tp=1, pp=1, ep=1, etp=1, world_size=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert isinstance(dist_utils.maybe_enable_amp(dims, "float32", "cpu"), contextlib.nullcontext)
    assert isinstance(dist_utils.maybe_enable_amp(dims, "bfloat16", "cpu"), torch.autocast)
    print("ok", len(rebound))
    """
)


def test_patches_point_torchtitan_at_the_cpu_and_leave_torch_alone():
    result = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("ok ")
