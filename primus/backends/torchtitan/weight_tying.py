"""FSDP2 for models whose output projection shares the token embedding's weight (Qwen3's small flavors).

TorchTitan 0.2.2's ``apply_fsdp`` (models/llama4/infra/parallelize.py, used by qwen3) gives the token
embedding one FSDP group and ``[norm, output]`` another. With ``enable_weight_tying`` both hold the same
``Parameter``, and FSDP2 refuses at the first forward: "Parameter 'None' is shared with a parameter already
managed by another FSDP group".

The fix here keeps every other group TorchTitan makes (one per transformer block, the MoE experts on
their own mesh) and leaves the tied pair to the root group that ``fully_shard(model)`` creates last: the
root manages every parameter no inner group claimed, the shared weight once, so forward and backward see
one all-gathered tensor and its gradient is reduced once (with both uses summed). The root group stays
unsharded between forward and backward, which costs one embedding-sized buffer per rank; for the flavors
that tie (vocabulary x dim is small next to the blocks) that is the price TorchTitan's own layout pays for
``[norm, output]`` anyway.

``install()`` rebinds ``apply_fsdp`` in the qwen3 parallelize module to the tie-aware wrapper; models
without tied weights go through TorchTitan's function unchanged.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from primus.errors import LaunchError

#: Modules whose ``apply_fsdp`` name the wrapper replaces (families with an ``enable_weight_tying`` flag).
PATCHED_MODULES = ("torchtitan.models.qwen3.infra.parallelize",)


def has_tied_output(model: Any) -> bool:
    """True when ``model.output.weight`` is the very tensor of ``model.tok_embeddings.weight``."""
    embeddings = getattr(model, "tok_embeddings", None)
    output = getattr(model, "output", None)
    if embeddings is None or output is None:
        return False
    return getattr(output, "weight", None) is getattr(embeddings, "weight", object())


def tie_aware(apply_fsdp: Callable[..., Any]) -> Callable[..., Any]:
    """``apply_fsdp`` that keeps a tied embedding/output pair in the root FSDP group."""
    if getattr(apply_fsdp, "_primus_tie_aware", False):
        return apply_fsdp

    @functools.wraps(apply_fsdp)
    def wrapper(model: Any, *args: Any, **kwargs: Any) -> Any:
        if not has_tied_output(model):
            return apply_fsdp(model, *args, **kwargs)
        ep_degree = kwargs.get("ep_degree", 1)
        if ep_degree > 1:
            # TorchTitan's explicit prefetch for EP calls FSDP methods on tok_embeddings and output.
            raise LaunchError(
                "tied embedding/output weights cannot be combined with expert parallelism under FSDP here",
                key="parallelism.expert_parallel_degree",
                value=ep_degree,
                hint="set parallelism.expert_parallel_degree to 1, or train a flavor without weight tying",
            )
        namespace = apply_fsdp.__globals__
        fully_shard = namespace["fully_shard"]
        tied = {id(model.tok_embeddings), id(model.output)}

        def shard_all_but_tied(modules: Any, *shard_args: Any, **shard_kwargs: Any) -> Any:
            group = modules if isinstance(modules, list) else [modules]
            if modules is not model and any(id(module) in tied for module in group):
                return modules  # left to the root group, which claims every parameter not yet managed
            return fully_shard(modules, *shard_args, **shard_kwargs)

        namespace["fully_shard"] = shard_all_but_tied
        try:
            return apply_fsdp(model, *args, **kwargs)
        finally:
            namespace["fully_shard"] = fully_shard

    wrapper._primus_tie_aware = True  # type: ignore[attr-defined]
    return wrapper


def install() -> list[str]:
    """Rebind ``apply_fsdp`` in the modules of ``PATCHED_MODULES``; returns the ones patched (idempotent)."""
    import importlib

    patched = []
    for name in PATCHED_MODULES:
        module = importlib.import_module(name)
        module.apply_fsdp = tie_aware(module.apply_fsdp)
        patched.append(name)
    return patched
