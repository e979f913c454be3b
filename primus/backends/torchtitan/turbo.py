"""The ``primus_turbo`` model converter: TorchTitan's SDPA attention through Primus-Turbo's kernel.

Registered in TorchTitan's converter registry under ``primus_turbo`` (``model.converters``). It replaces
every ``ScaledDotProductAttentionWrapper`` (the ``sdpa`` attention of llama3, qwen3, deepseek_v3 ...) with a
module that calls Primus-Turbo's public ``primus_turbo.pytorch.ops.attention(q, k, v, softmax_scale=...,
causal=...)``, which takes ``[batch, seq, heads, head_dim]`` tensors where SDPA takes
``[batch, heads, seq, head_dim]``. Flex and varlen attention are left alone (Turbo's public API has no
block masks), and so is everything else (linear layers, MoE).

Honesty note: Primus-Turbo exists only for ROCm GPUs; this converter has not been run on this project's
CPU machines (it cannot be). ``launch.check_converters`` refuses ``primus_turbo`` before launch where the
package is not importable.
"""

from __future__ import annotations

from typing import Any

import torch
from torchtitan.models.attention import ScaledDotProductAttentionWrapper
from torchtitan.protocols.model_converter import _registry_model_converter_cls, register_model_converter
from torchtitan.tools.logging import logger

#: The name used in ``model.converters``.
CONVERTER_NAME = "primus_turbo"


class TurboAttention(torch.nn.Module):
    """Drop-in for ``ScaledDotProductAttentionWrapper`` (same ``forward`` signature, q/k/v first)."""

    def forward(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        *,
        scale: float | None = None,
        enable_gqa: bool = False,
        is_causal: bool = True,
    ) -> torch.Tensor:
        import primus_turbo.pytorch as turbo

        softmax_scale = q.shape[-1] ** -0.5 if scale is None else scale
        # SDPA layout [B, H, S, D] -> Turbo layout [B, S, H, D]; grouped-query attention (fewer k/v heads)
        # is handled by the kernel the way flash-attention does, so enable_gqa needs no repeat here.
        q, k, v = (tensor.transpose(1, 2) for tensor in (q, k, v))
        out = turbo.ops.attention(q, k, v, softmax_scale=softmax_scale, causal=is_causal)
        return out.transpose(1, 2)


class PrimusTurboConverter:
    """TorchTitan ``ModelConverter``: swaps SDPA attention modules for ``TurboAttention`` in place."""

    def __init__(self, job_config: Any, parallel_dims: Any) -> None:
        self.job_config = job_config

    def convert(self, model: torch.nn.Module) -> None:
        settings = getattr(self.job_config, "primus_turbo", None)
        if settings is not None and not (settings.enable_primus_turbo and settings.use_turbo_attention):
            logger.info(
                "primus_turbo: attention left unchanged (primus_turbo.enable_primus_turbo or "
                "primus_turbo.use_turbo_attention is false)"
            )
            return
        swapped = 0
        for parent in list(model.modules()):
            for name, child in list(parent.named_children()):
                if isinstance(child, ScaledDotProductAttentionWrapper):
                    setattr(parent, name, TurboAttention())
                    swapped += 1
        logger.info(f"primus_turbo: {swapped} attention modules now use Primus-Turbo attention")

    def post_optimizer_hook(self, model: Any) -> None:
        return None


def register() -> None:
    """Register the converter once per process (TorchTitan's registry refuses duplicates).

    Imports ``primus_turbo.pytorch`` first, so a missing or broken install fails here (ImportError),
    before the model is built, rather than in the first forward pass.
    """
    import primus_turbo.pytorch  # noqa: F401  (see docstring)

    if CONVERTER_NAME not in _registry_model_converter_cls:
        register_model_converter(PrimusTurboConverter, CONVERTER_NAME)
