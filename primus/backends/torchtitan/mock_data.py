"""Synthetic token batches for ``training.mock_data: true`` (no tokenizer, no dataset, no download).

Each sample is a pure function of (seed, global sample number): global batch ``i`` is the samples
``i * G .. i * G + G - 1`` (``G`` = local batch x data-parallel ranks), and data-parallel rank ``r`` takes
its ``r``-th slice of them. So a run resumed from a checkpoint sees exactly the batches an uninterrupted run
would have seen (the loader's state is one integer), and the same global batch split over 1, 2 or more
data-parallel ranks is the same set of samples: the layouts train the same model on the same data.
Tokens follow the model's vocabulary size and ``training.seq_len``. They are drawn from a fixed
Zipf-like distribution over a seeded permutation of the vocabulary, so the loss falls measurably as the
model learns it (uniform tokens would leave nothing to learn). Generating a batch is one vectorised
``searchsorted`` over uniform samples: microseconds, far below a training step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
from torchtitan.components.dataloader import BaseDataLoader

#: Exponent of the Zipf-like token distribution (1.0 is classic Zipf; text is close to it).
ZIPF_EXPONENT = 1.1
#: Seed used when ``debug.seed`` is not set, so mock data is reproducible either way.
DEFAULT_SEED = 0

_MIX_A, _MIX_B, _MIX_C = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def _sample_seed(seed: int, sample: int) -> int:
    # SplitMix-style mixing: neighbouring sample numbers give unrelated generator seeds.
    value = (seed * _MIX_A + sample * _MIX_C + _MIX_B) & 0xFFFFFFFFFFFFFFFF
    value ^= value >> 31
    return value & 0x7FFFFFFFFFFFFFFF


class MockTokenDataLoader(BaseDataLoader):
    """An endless, resumable stream of ``({"input": int64[B, S]}, labels int64[B, S])`` batches.

    ``labels`` is ``input`` shifted by one token (next-token prediction), both cut from one
    ``S + 1`` token sample. ``vocab_size`` bounds every token id (``0 <= id < vocab_size``).
    """

    def __init__(
        self,
        *,
        vocab_size: int,
        seq_len: int,
        batch_size: int,
        seed: int | None,
        dp_rank: int = 0,
        dp_world_size: int = 1,
    ) -> None:
        if vocab_size < 2 or seq_len < 1 or batch_size < 1:
            raise ValueError(
                f"mock data needs vocab_size >= 2, seq_len >= 1 and batch_size >= 1 "
                f"(got {vocab_size}, {seq_len}, {batch_size})"
            )
        self.vocab_size = vocab_size
        self.seq_len = seq_len
        self.batch_size = batch_size
        self.seed = DEFAULT_SEED if seed is None else int(seed)
        self.dp_rank = dp_rank
        self.dp_world_size = dp_world_size
        self.next_batch = 0
        self._rank_key = f"dp_rank_{dp_rank}"
        # The distribution is shared by all ranks (same seed) so every rank learns the same language.
        generator = torch.Generator().manual_seed(self.seed)
        ranks = torch.arange(1, vocab_size + 1, dtype=torch.float64)
        weights = ranks.pow(-ZIPF_EXPONENT)
        self._cdf = torch.cumsum(weights / weights.sum(), dim=0)
        self._cdf[-1] = 1.0
        self._token_of_rank = torch.randperm(vocab_size, generator=generator)

    def batch(self, index: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Batch number ``index`` of this rank (the same every time it is asked for)."""
        first = (index * self.dp_world_size + self.dp_rank) * self.batch_size
        uniform = torch.stack(
            [
                torch.rand(
                    self.seq_len + 1,
                    generator=torch.Generator().manual_seed(_sample_seed(self.seed, sample)),
                    dtype=torch.float64,
                )
                for sample in range(first, first + self.batch_size)
            ]
        )
        ranks = torch.searchsorted(self._cdf, uniform).clamp_(max=self.vocab_size - 1)
        tokens = self._token_of_rank[ranks]
        return {"input": tokens[:, :-1]}, tokens[:, 1:]

    def __iter__(self) -> Iterator[tuple[dict[str, torch.Tensor], torch.Tensor]]:
        while True:
            index = self.next_batch
            batch = self.batch(index)
            # Advance before yielding: a checkpoint taken while the consumer holds this batch must
            # resume with the next one.
            self.next_batch = index + 1
            yield batch

    def state_dict(self) -> dict[str, Any]:
        return {self._rank_key: self.next_batch, "world_size": self.dp_world_size}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not state_dict or self._rank_key not in state_dict:
            return  # a fresh start or a checkpoint without loader state: begin at batch 0
        if state_dict.get("world_size") != self.dp_world_size:
            raise ValueError(
                f"the checkpoint was written with {state_dict.get('world_size')} data-parallel ranks, "
                f"this run has {self.dp_world_size}; mock data cannot be resharded"
            )
        self.next_batch = int(state_dict[self._rank_key])


def mock_dataloader_builder(vocab_size: int) -> Callable[..., MockTokenDataLoader]:
    """A TrainSpec ``build_dataloader_fn`` that ignores the tokenizer and serves mock batches."""

    def build(*, dp_world_size: int, dp_rank: int, tokenizer: Any, job_config: Any, **_: Any):
        return MockTokenDataLoader(
            vocab_size=vocab_size,
            seq_len=job_config.training.seq_len,
            batch_size=job_config.training.local_batch_size,
            seed=job_config.debug.seed,
            dp_rank=dp_rank,
            dp_world_size=dp_world_size,
        )

    return build
