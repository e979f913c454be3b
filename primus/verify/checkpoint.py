"""Does the run's last checkpoint load back? The only part of verification that imports torch.

TorchTitan 0.2.2 writes each checkpoint as a ``torch.distributed.checkpoint`` (DCP) folder
``<dump_folder>/<checkpoint.folder>/step-N`` and always saves the final step when ``checkpoint.enable`` is
true. Loading needs no model code: the checkpoint's own ``.metadata`` lists every entry with its shape and
dtype, so empty tensors of those shapes are allocated and DCP fills them. Entries are loaded in batches of at
most ``BATCH_BYTES`` so that verifying a large model's checkpoint does not need the whole model in memory.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

from primus.bundle.layout import TRAIN_DIR
from primus.verify.settings import RunSettings
from primus.verify.verdict import Check

#: Upper bound on tensor bytes held in memory at once while loading (1 GiB).
BATCH_BYTES = 1 << 30
_STEP_FOLDER = re.compile(r"step-(\d+)")


def checkpoint_folders(root: Path) -> dict[int, Path]:
    """``{step: folder}`` for every ``step-N`` folder directly under ``root`` (empty when none)."""
    if not root.is_dir():
        return {}
    found = {}
    for child in root.iterdir():
        match = _STEP_FOLDER.fullmatch(child.name)
        if match and child.is_dir():
            found[int(match.group(1))] = child
    return found


def checkpoint_loads(bundle: Path, settings: RunSettings) -> Check:
    """Load the newest ``step-N`` checkpoint of the run; fail when there is none, when it is older than
    ``training.steps``, when DCP cannot read it, or when a floating-point entry holds NaN/inf."""
    if not settings.checkpoint_enable:
        return Check("checkpoint_loads", "skip", "not checked: checkpoint.enable is false for this run")
    root = bundle / TRAIN_DIR / settings.checkpoint_folder
    shown_root = f"train/{settings.checkpoint_folder}"
    folders = checkpoint_folders(root)
    if not folders:
        return Check(
            "checkpoint_loads",
            "fail",
            f"checkpoint.enable is true but {shown_root} holds no step-N checkpoint",
            {"checkpoint_dir": shown_root},
        )
    step = max(folders)
    shown = f"{shown_root}/step-{step}"
    details: dict[str, Any] = {"checkpoint": shown, "checkpoint_step": step}
    if not (folders[step] / ".metadata").exists() and any(folders[step].glob("*.safetensors")):
        # checkpoint.last_save_in_hf writes Hugging Face safetensors, which DCP reads only with the
        # optional `safetensors` package and a different reader; say so rather than report a false failure.
        return Check(
            "checkpoint_loads",
            "skip",
            f"not checked: {shown} holds Hugging Face safetensors (checkpoint.last_save_in_hf), not a DCP"
            " checkpoint; load it with the Hugging Face tooling it was written for",
            details,
        )
    try:
        entries, tensor_bytes, non_finite = _load_everything(folders[step])
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:  # DCP's CheckpointException derives from BaseException, not Exception
        return Check("checkpoint_loads", "fail", f"{shown} does not load: {_describe(error)}", details)
    details.update(entries=entries, tensor_bytes=tensor_bytes)
    if non_finite:
        return Check(
            "checkpoint_loads",
            "fail",
            f"{shown} loads but {len(non_finite)} tensors hold NaN/inf, first {non_finite[0]!r}",
            {**details, "non_finite_tensors": non_finite[:10]},
        )
    if step < settings.steps:
        return Check(
            "checkpoint_loads",
            "fail",
            f"newest checkpoint {shown} loads, but training.steps is {settings.steps}:"
            f" the final checkpoint (step-{settings.steps}) is missing",
            details,
        )
    return Check(
        "checkpoint_loads",
        "pass",
        f"{shown} loads: {entries} entries, {tensor_bytes / 2**20:.1f} MiB of tensors, all finite",
        details,
    )


def _load_everything(folder: Path) -> tuple[int, int, list[str]]:
    """Load every entry of one DCP folder; return (entry count, tensor bytes, names of non-finite tensors)."""
    import torch  # deferred: the rest of verification must not pay for importing torch
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.metadata import TensorStorageMetadata

    metadata = dcp.FileSystemReader(str(folder)).read_metadata()
    entries = metadata.state_dict_metadata
    non_finite: list[str] = []
    total = 0
    for batch in _batches(entries, TensorStorageMetadata):
        state: dict[str, Any] = {}
        for name in batch:
            meta = entries[name]
            if isinstance(meta, TensorStorageMetadata):
                state[name] = torch.empty(meta.size, dtype=meta.properties.dtype)
            else:
                state[name] = None  # pickled non-tensor value (train_state, dataloader): DCP replaces it
        with warnings.catch_warnings():
            # "torch.distributed is ... uninitialized, assuming ... a single process": exactly the intent here
            warnings.simplefilter("ignore", UserWarning)
            dcp.load(state, checkpoint_id=str(folder), no_dist=True)
        for name, value in state.items():
            if isinstance(value, torch.Tensor):
                total += value.numel() * value.element_size()
                if value.is_floating_point() and not bool(torch.isfinite(value).all()):
                    non_finite.append(name)
    return len(entries), total, non_finite


def _describe(error: BaseException) -> str:
    """``Type: message`` of the underlying error, one line, at most 300 characters.

    DCP wraps each rank's error in a ``CheckpointException`` whose text is a whole traceback; the first
    rank's original exception is what a user can act on (``EOFError``, ``FileNotFoundError`` ...).
    """
    failures = getattr(error, "failures", None)
    if isinstance(failures, dict) and failures:
        wrapped = next(iter(failures.values()))
        if isinstance(wrapped, tuple) and wrapped and isinstance(wrapped[0], BaseException):
            error = wrapped[0]
    text = " ".join(str(error).split()) or _EMPTY_MESSAGE_MEANING.get(type(error).__name__, "no message")
    return f"{type(error).__name__}: {text}"[:300]


#: What an error raised without a message means when reading a checkpoint.
_EMPTY_MESSAGE_MEANING = {"EOFError": "a data file ends early (truncated, or still being written)"}


def _batches(entries: dict[str, Any], tensor_type: type) -> list[list[str]]:
    """Split entry names into groups whose tensors add up to at most ``BATCH_BYTES`` (one oversized tensor
    makes a group of its own)."""
    batches: list[list[str]] = [[]]
    size = 0
    for name, meta in sorted(entries.items()):
        nbytes = 0
        if isinstance(meta, tensor_type):
            nbytes = meta.size.numel() * meta.properties.dtype.itemsize
        if batches[-1] and size + nbytes > BATCH_BYTES:
            batches.append([])
            size = 0
        batches[-1].append(name)
        size += nbytes
    return batches
