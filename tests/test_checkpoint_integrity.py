"""Checkpoint integrity: a damaged step-N folder is set aside before a run resumes; intact ones stay."""

from __future__ import annotations

from pathlib import Path

import pytest

from primus.backends.torchtitan.checkpoint_integrity import (
    DAMAGED_SUFFIX,
    damage,
    newest_intact,
    set_aside_damaged,
    write_manifest,
)


def save(
    folder: Path, step: int, *, size: int = 200_000, complete: bool = True, manifest: bool = True
) -> Path:
    """A step-N folder as a finished DCP save leaves it (data file, .metadata), with its manifest."""
    step_dir = folder / f"step-{step}"
    step_dir.mkdir(parents=True)
    (step_dir / "__0_0.distcp").write_bytes(bytes(range(256)) * (size // 256))
    if complete:
        (step_dir / ".metadata").write_bytes(b"index")
    if manifest:
        write_manifest(step_dir)
    return step_dir


def truncate(path: Path, size: int) -> None:
    with path.open("r+b") as handle:
        handle.truncate(size)


def test_an_intact_checkpoint_passes(tmp_path):
    assert damage(save(tmp_path, 2)) is None


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (
            lambda d: truncate(d / "__0_0.distcp", 1000),
            "__0_0.distcp is 1,000 bytes, 199,936 when it was saved",
        ),
        (lambda d: (d / "__0_0.distcp").unlink(), "__0_0.distcp is missing"),
        (lambda d: (d / ".metadata").unlink(), "no .metadata: the save did not finish"),
        (lambda d: (d / ".primus-intact.json").write_text("{"), ".primus-intact.json is unreadable"),
        (
            lambda d: (d / "__0_0.distcp").write_bytes(b"\0" * 199_936),  # same size, other bytes
            "__0_0.distcp has other bytes than when it was saved",
        ),
    ],
    ids=["truncated", "missing-file", "unfinished", "manifest-unreadable", "same-size-other-bytes"],
)
def test_a_damaged_checkpoint_is_named_with_the_reason(tmp_path, spoil, reason):
    step_dir = save(tmp_path, 4)
    spoil(step_dir)
    assert damage(step_dir).startswith(reason)


def test_damaged_checkpoints_are_moved_aside_and_the_newest_intact_one_stays(tmp_path):
    checkpoints = tmp_path / "train" / "checkpoint"
    save(checkpoints, 2)
    save(checkpoints, 4)
    truncate(save(checkpoints, 6) / "__0_0.distcp", 10)  # the latest save, damaged
    save(checkpoints, 8, complete=False, manifest=False)  # killed mid-save

    moved = set_aside_damaged(checkpoints)

    assert [(step, target.relative_to(tmp_path).as_posix()) for step, _, target in moved] == [
        (8, f"train/checkpoint{DAMAGED_SUFFIX}/step-8"),
        (6, f"train/checkpoint{DAMAGED_SUFFIX}/step-6"),
    ]
    # TorchTitan resumes from the highest step-N left, and keep_latest_k purges by step number among what is
    # left: with the damaged ones gone, neither can pass over or delete step-4.
    assert sorted(p.name for p in checkpoints.iterdir()) == ["step-2", "step-4"]
    assert newest_intact(checkpoints) == 4


def test_a_checkpoint_without_a_manifest_is_trusted_as_torchtitan_trusts_it(tmp_path):
    """Written by an async save or an older Primus: not verifiable, so not set aside."""
    checkpoints = tmp_path / "checkpoint"
    save(checkpoints, 2, manifest=False)
    assert set_aside_damaged(checkpoints) == []
    assert newest_intact(checkpoints) == 2


def test_the_same_step_damaged_twice_keeps_both_copies(tmp_path):
    checkpoints = tmp_path / "checkpoint"
    for _ in range(2):
        truncate(save(checkpoints, 6) / "__0_0.distcp", 10)
        set_aside_damaged(checkpoints)
    assert sorted(p.name for p in (tmp_path / f"checkpoint{DAMAGED_SUFFIX}").iterdir()) == [
        "step-6",
        "step-6.1",
    ]
