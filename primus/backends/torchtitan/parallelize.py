"""What TorchTitan 0.2.2's ``parallelize_fn`` leaves wrong for multi-process runs, put right after it runs.

``fixed_parallelize(parallelize_fn)`` wraps a TrainSpec's function (``trainer.primus_train_spec`` does);
each fix names the TorchTitan or torch behaviour it answers and applies only where that behaviour bites
(gloo for 1 and 2, pure DDP for 3). Measured on 2 CPU processes: with all three, 1 process x batch 4,
FSDP 2 x 2, DDP 2 x 2 and TP 2 x 4 give the same loss curve to float32 rounding (see tests/test_layouts.py).
"""

from __future__ import annotations

from typing import Any

import torch


def fixed_parallelize(parallelize_fn: Any) -> Any:
    """TorchTitan's ``parallelize_fn`` with the fixes a multi-process run needs (see the module docstring).

    1. Sum-only reductions. TorchTitan 0.2.2 turns FSDP's gradient division off
       (``set_gradient_divide_factor(1.0)``: it scales by the global token count itself), and FSDP2 then
       reduce-scatters with ``ReduceOp.PREMUL_SUM(1.0)``, which gloo refuses ("Cannot use
       ReduceOp.PREMUL_SUM with Gloo"). Forcing sum-only collectives gives the same numbers (a sum, then
       a division by 1 that is skipped).
    2. Layout-independent initial weights. DTensor's random ops follow the full tensor only on CUDA-like
       devices; on a CPU mesh every rank draws its own shard from its own generator (torch warns "DTensor
       random operators may not have complete support on cpu device mesh"), so FSDP or TP would start
       from different weights than one process does. With ``debug.seed`` set, each rank therefore also
       initialises the whole model as one process would (same seed, same ``init_weights``) and loads it
       into its shards with ``set_model_state_dict``: 1 process, FSDP and TP start from the same weights.
       Skipped with model converters (they change the module tree) and with pipeline parallelism (its
       stages are seeded apart on purpose).
    3. DDP gradients summed, not averaged (every backend). TorchTitan 0.2.2 divides each rank's loss by
       the *global* token count, then ``replicate`` (DDP) averages the gradients over the replicas again:
       they come out ``dp_replicate`` times too small (the logged grad_norm halves with 2 replicas, and
       ``max_norm`` clipping sees the wrong norm). A comm hook that all-reduces with SUM restores the
       gradient of the global batch, as FSDP computes it.
    """

    def parallelize(model: Any, parallel_dims: Any, job_config: Any) -> Any:
        model_cls, model_args = type(model), getattr(model, "model_args", None)
        model = parallelize_fn(model, parallel_dims, job_config)
        import torch.distributed as dist

        if parallel_dims.dp_replicate_enabled and not parallel_dims.fsdp_enabled:
            group = parallel_dims.get_mesh("dp_replicate").get_group()
            model.register_comm_hook(group, _sum_all_reduce)

        if not (dist.is_initialized() and dist.get_backend() == "gloo"):
            return model
        from torch.distributed.fsdp import FSDPModule

        for module in model.modules():
            if isinstance(module, FSDPModule):
                module.set_force_sum_reduction_for_comms(True)
        seed = job_config.debug.seed
        if seed is not None and model_args is not None and not job_config.model.converters:
            _init_as_one_process(model, model_cls, model_args, seed)
        return model

    return parallelize


def _init_as_one_process(model: Any, model_cls: Any, model_args: Any, seed: int) -> None:
    """Make ``model.init_weights`` load the weights a one-process run with ``seed`` starts from."""
    from torch.distributed.tensor import DTensor

    sharded_init = model.init_weights

    def init_weights(*args: Any, **kwargs: Any) -> None:
        sharded_init(*args, **kwargs)  # buffers, and every parameter that is not a DTensor
        if not any(isinstance(parameter, DTensor) for parameter in model.parameters()):
            return
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

        saved = torch.get_rng_state()
        torch.manual_seed(seed)  # what TorchTitan's set_determinism does for a one-process run
        with torch.device("meta"):
            whole = model_cls(model_args)
        whole.to_empty(device="cpu")
        whole.init_weights(*args, **kwargs)
        set_model_state_dict(model, whole.state_dict(), options=StateDictOptions(full_state_dict=True))
        torch.set_rng_state(saved)
        del whole

    model.init_weights = init_weights


def _sum_all_reduce(group, bucket):  # no annotations: DDP accepts only dist.GradBucket
    """DDP comm hook: all-reduce a gradient bucket with SUM (DDP's default hook divides by the replicas)."""
    import torch.distributed as dist

    work = dist.all_reduce(bucket.buffer(), group=group, async_op=True)
    return work.get_future().then(lambda future: future.value()[0])
