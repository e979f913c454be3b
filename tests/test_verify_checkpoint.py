"""The checkpoint_loads check, on real tiny torch.distributed.checkpoint (DCP) folders."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from primus.verify import checkpoint as checkpoint_module
from primus.verify.checkpoint import checkpoint_folders, checkpoint_loads
from primus.verify.settings import RunSettings

torch = pytest.importorskip("torch")
dcp = pytest.importorskip("torch.distributed.checkpoint")


def settings(steps: int = 10, enable: bool = True) -> RunSettings:
    return RunSettings(
        steps=steps, log_freq=1, checkpoint_enable=enable, checkpoint_folder="checkpoint", deterministic=True
    )


def save_checkpoint(bundle: Path, step: int, *, weight: float = 0.5) -> Path:
    """A TorchTitan-shaped DCP checkpoint: model tensors plus a pickled train_state entry (non-tensor)."""
    folder = bundle / "train" / "checkpoint" / f"step-{step}"
    state = {
        "model": {"tok_embeddings.weight": torch.full((16, 8), weight), "norm.weight": torch.ones(8)},
        "train_state": {"step": step, "ntokens_seen": step * 512},
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "assuming ... a single process": intended
        dcp.save(state, checkpoint_id=str(folder), no_dist=True)
    return folder


def test_skipped_when_checkpointing_is_off(tmp_path):
    check = checkpoint_loads(tmp_path, settings(enable=False))
    assert (check.status, check.message) == ("skip", "not checked: checkpoint.enable is false for this run")


def test_fails_when_enabled_but_no_checkpoint_was_written(tmp_path):
    check = checkpoint_loads(tmp_path, settings())
    assert check.status == "fail"
    assert check.message == "checkpoint.enable is true but train/checkpoint holds no step-N checkpoint"


def test_the_final_checkpoint_loads(tmp_path):
    save_checkpoint(tmp_path, 5)
    save_checkpoint(tmp_path, 10)
    check = checkpoint_loads(tmp_path, settings(steps=10))
    assert check.status == "pass"
    assert check.message == "train/checkpoint/step-10 loads: 4 entries, 0.0 MiB of tensors, all finite"
    assert check.details == {
        "checkpoint": "train/checkpoint/step-10",
        "checkpoint_step": 10,
        "entries": 4,
        "tensor_bytes": (16 * 8 + 8) * 4,
    }


def test_loads_in_several_batches_when_tensors_exceed_the_batch_size(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint_module, "BATCH_BYTES", 64)  # smaller than one tensor: one batch each
    save_checkpoint(tmp_path, 10)
    assert checkpoint_loads(tmp_path, settings(steps=10)).status == "pass"


def corrupt_truncate_data(folder: Path) -> None:
    data = folder / "__0_0.distcp"
    data.write_bytes(data.read_bytes()[:40])


def corrupt_garble_metadata(folder: Path) -> None:
    (folder / ".metadata").write_bytes(b"this is not a pickle")


def corrupt_delete_metadata(folder: Path) -> None:
    (folder / ".metadata").unlink()


@pytest.mark.parametrize(
    ("corrupt", "reason"),
    [
        (corrupt_truncate_data, "EOFError: a data file ends early (truncated, or still being written)"),
        (corrupt_garble_metadata, "UnpicklingError: could not find MARK"),
        (
            corrupt_delete_metadata,
            "FileNotFoundError: [Errno 2] No such file or directory: '{folder}/.metadata'",
        ),
    ],
    ids=["truncated-data", "garbled-metadata", "no-metadata"],
)
def test_a_corrupted_final_checkpoint_fails_and_names_it(tmp_path, corrupt, reason):
    save_checkpoint(tmp_path, 5)  # an intact older one must not hide the broken newest one
    folder = save_checkpoint(tmp_path, 10)
    corrupt(folder)
    check = checkpoint_loads(tmp_path, settings(steps=10))
    assert check.status == "fail"
    assert check.message == "train/checkpoint/step-10 does not load: " + reason.format(folder=folder)
    assert check.details == {"checkpoint": "train/checkpoint/step-10", "checkpoint_step": 10}


def test_fails_when_weights_hold_nan(tmp_path):
    save_checkpoint(tmp_path, 10, weight=float("nan"))
    check = checkpoint_loads(tmp_path, settings(steps=10))
    assert check.status == "fail"
    assert check.message == (
        "train/checkpoint/step-10 loads but 1 tensors hold NaN/inf, first 'model.tok_embeddings.weight'"
    )


def test_fails_when_the_newest_checkpoint_is_older_than_the_last_step(tmp_path):
    save_checkpoint(tmp_path, 5)
    check = checkpoint_loads(tmp_path, settings(steps=10))
    assert check.status == "fail"
    assert check.message == (
        "newest checkpoint train/checkpoint/step-5 loads, but training.steps is 10:"
        " the final checkpoint (step-10) is missing"
    )


def test_a_hugging_face_final_checkpoint_is_skipped_not_failed(tmp_path):
    folder = tmp_path / "train" / "checkpoint" / "step-10"
    folder.mkdir(parents=True)
    (folder / "model-00001-of-00001.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    check = checkpoint_loads(tmp_path, settings(steps=10))
    assert check.status == "skip"
    assert check.message == (
        "not checked: train/checkpoint/step-10 holds Hugging Face safetensors (checkpoint.last_save_in_hf),"
        " not a DCP checkpoint; load it with the Hugging Face tooling it was written for"
    )


def test_checkpoint_folders_lists_only_step_folders(tmp_path):
    (tmp_path / "step-3").mkdir()
    (tmp_path / "step-12").mkdir()
    (tmp_path / "step-x").mkdir()
    (tmp_path / "step-7").write_text("a file, not a checkpoint")
    assert checkpoint_folders(tmp_path) == {3: tmp_path / "step-3", 12: tmp_path / "step-12"}
    assert checkpoint_folders(tmp_path / "absent") == {}
