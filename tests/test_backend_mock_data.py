"""Synthetic token batches: shapes, vocabulary, determinism, resume, and how they enter the TrainSpec."""

from __future__ import annotations

import time

import pytest
import tomli_w
import torch

from primus.backends.torchtitan.mock_data import MockTokenDataLoader

EXTENSION = "primus.backends.torchtitan.primus_turbo_extensions.config_extension"


def loader(**overrides) -> MockTokenDataLoader:
    settings = {
        "vocab_size": 100,
        "seq_len": 16,
        "batch_size": 3,
        "seed": 7,
        "dp_rank": 0,
        "dp_world_size": 1,
    }
    return MockTokenDataLoader(**{**settings, **overrides})


def take(source: MockTokenDataLoader, count: int) -> list[tuple[dict, torch.Tensor]]:
    iterator = iter(source)
    return [next(iterator) for _ in range(count)]


def test_batches_follow_batch_size_and_seq_len_with_shifted_labels():
    (inputs, labels), second = take(loader(), 2)
    assert inputs["input"].shape == labels.shape == (3, 16)
    assert inputs["input"].dtype == labels.dtype == torch.int64
    # Labels are the next tokens: both halves come from one seq_len + 1 sample.
    assert torch.equal(inputs["input"][:, 1:], labels[:, :-1])
    assert not torch.equal(inputs["input"], second[0]["input"])


def test_token_ids_stay_inside_the_vocabulary_and_use_much_of_it():
    tokens = torch.cat([batch[1].flatten() for batch in take(loader(vocab_size=50, seq_len=64), 20)])
    assert int(tokens.min()) >= 0 and int(tokens.max()) < 50
    assert len(tokens.unique()) > 40


def test_same_seed_gives_the_same_stream_and_other_seeds_or_ranks_do_not():
    reference = take(loader(), 3)
    assert all(torch.equal(a[1], b[1]) for a, b in zip(reference, take(loader(), 3)))
    assert not torch.equal(reference[0][1], take(loader(seed=8), 1)[0][1])
    assert not torch.equal(reference[0][1], take(loader(dp_rank=1, dp_world_size=2), 1)[0][1])


def test_a_global_batch_is_the_same_samples_however_many_data_parallel_ranks_share_it():
    whole = take(loader(batch_size=4), 3)
    halves = [take(loader(batch_size=2, dp_rank=rank, dp_world_size=2), 3) for rank in (0, 1)]
    quarters = [take(loader(batch_size=1, dp_rank=rank, dp_world_size=4), 3) for rank in range(4)]
    for step in range(3):
        assert torch.equal(whole[step][1], torch.cat([half[step][1] for half in halves]))
        assert torch.equal(whole[step][1], torch.cat([quarter[step][1] for quarter in quarters]))


def test_no_seed_is_still_reproducible():
    assert torch.equal(take(loader(seed=None), 1)[0][1], take(loader(seed=None), 1)[0][1])


def test_a_restored_loader_continues_with_the_next_batch():
    original = loader()
    batches = take(original, 4)
    state = original.state_dict()
    assert state == {"dp_rank_0": 4, "world_size": 1}
    restored = loader()
    restored.load_state_dict(state)
    assert torch.equal(next(iter(restored))[1], original.batch(4)[1])
    assert not torch.equal(next(iter(restored))[1], batches[-1][1])


def test_restoring_with_another_data_parallel_size_is_refused():
    with pytest.raises(ValueError, match="written with 2 data-parallel ranks, this run has 1"):
        loader().load_state_dict({"dp_rank_0": 3, "world_size": 2})


def test_an_empty_state_starts_at_the_first_batch():
    restored = loader()
    restored.load_state_dict({})
    assert torch.equal(next(iter(restored))[1], loader().batch(0)[1])


@pytest.mark.parametrize(
    "settings",
    [{"vocab_size": 1}, {"seq_len": 0}, {"batch_size": 0}],
    ids=["vocab-of-one", "empty-sequence", "empty-batch"],
)
def test_degenerate_shapes_are_refused(settings):
    with pytest.raises(ValueError, match="mock data needs vocab_size >= 2"):
        loader(**settings)


def test_a_large_batch_is_generated_in_milliseconds():
    # An 8 x 4096 batch over a 152k vocabulary (qwen3 8B sizes); a GPU step on such a batch takes seconds.
    big = loader(vocab_size=151936, seq_len=4096, batch_size=8)
    big.batch(0)
    started = time.perf_counter()
    for index in range(5):
        big.batch(index)
    assert (time.perf_counter() - started) / 5 < 0.2


def test_mock_data_enters_through_the_train_spec_with_the_flavor_vocab(tmp_path):
    from torchtitan.config import ConfigManager

    from primus.backends.torchtitan.trainer import primus_train_spec

    config_file = tmp_path / "job_config.toml"
    config_file.write_text(
        tomli_w.dumps(
            {
                "job": {"custom_config_module": EXTENSION, "dump_folder": str(tmp_path)},
                "model": {"name": "llama3", "flavor": "debugmodel"},
                "training": {"mock_data": True, "seq_len": 48, "local_batch_size": 2},
                "debug": {"seed": 3},
            }
        )
    )
    job_config = ConfigManager().parse_args(["--job.config_file", str(config_file)])
    spec = primus_train_spec(job_config)
    assert spec.build_tokenizer_fn is None
    built = spec.build_dataloader_fn(dp_world_size=1, dp_rank=0, tokenizer=None, job_config=job_config)
    assert (built.vocab_size, built.seq_len, built.batch_size, built.seed) == (2048, 48, 2, 3)
    assert next(iter(built))[1].shape == (2, 48)
