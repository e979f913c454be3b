"""Checkpoints are checked before a run resumes from them; a damaged one is set aside, never loaded.

TorchTitan 0.2.2 resumes from the highest ``step-N`` folder holding a ``.metadata`` file, and nothing checks
the data files: one truncated ``.distcp`` file made every rerun fail with an EOFError while an intact older
checkpoint sat beside it. So:

- after each synchronous save completes, rank 0 writes ``step-N/.primus-intact.json``: every file's size
  and a sampled sha256 (the size, the first and the last 64 KiB), cheap even for a checkpoint of hundreds
  of GB; a full digest would cost a minute per save there;
- before launch, ``set_aside_damaged`` checks every ``step-N`` folder and moves the damaged ones (a file
  missing, shorter or longer than recorded, or with other first/last bytes, or no ``.metadata``: a save that
  never finished) to ``<checkpoint folder>.damaged/``, inside the bundle's train/ folder, so TorchTitan
  resumes from the newest intact one and its ``keep_latest_k`` purge (which keeps the k highest step
  numbers it finds) can never delete the last intact checkpoint in favour of damaged ones.

Not covered: a folder without the manifest (written by an async save, or before this existed) is trusted
as TorchTitan trusts it; a change in the middle of a large file that keeps its size is not detected.
Torch-free: the launcher calls it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

#: Written into each step folder once its save completed.
MANIFEST = ".primus-intact.json"
#: Where DCP writes its index last; a folder without it is a save that did not finish.
DCP_METADATA = ".metadata"
#: Bytes hashed at each end of a file.
SAMPLE_BYTES = 1 << 16
#: Suffix of the folder damaged checkpoints are moved to (beside the checkpoint folder).
DAMAGED_SUFFIX = ".damaged"

_STEP = re.compile(r"step-(\d+)")


def _sampled_digest(path: Path, size: int) -> str:
    digest = hashlib.sha256(str(size).encode())
    with path.open("rb") as handle:
        digest.update(handle.read(SAMPLE_BYTES))
        if size > SAMPLE_BYTES:
            handle.seek(max(size - SAMPLE_BYTES, SAMPLE_BYTES))
            digest.update(handle.read(SAMPLE_BYTES))
    return digest.hexdigest()


def _files(step_dir: Path) -> list[Path]:
    return sorted(p for p in step_dir.rglob("*") if p.is_file() and p.name != MANIFEST)


def write_manifest(step_dir: Path) -> None:
    """Record the size and sampled digest of every file of a completed save (atomically)."""
    files = {}
    for path in _files(step_dir):
        size = path.stat().st_size
        files[path.relative_to(step_dir).as_posix()] = {
            "size": size,
            "sample_sha256": _sampled_digest(path, size),
        }
    temporary = step_dir / (MANIFEST + ".tmp")
    temporary.write_text(json.dumps({"format": 1, "files": files}, indent=1, sort_keys=True) + "\n")
    os.replace(temporary, step_dir / MANIFEST)


def damage(step_dir: Path) -> str | None:
    """What is wrong with one ``step-N`` folder, or None when it is intact (or carries no manifest)."""
    if not (step_dir / DCP_METADATA).is_file():
        return f"no {DCP_METADATA}: the save did not finish"
    manifest = step_dir / MANIFEST
    if not manifest.exists():
        return None
    try:
        recorded = json.loads(manifest.read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        return f"{MANIFEST} is unreadable ({type(error).__name__})"
    for name, entry in sorted(recorded.items()):
        path = step_dir / name
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return f"{name} is missing"
        if size != entry.get("size"):
            return f"{name} is {size:,} bytes, {entry.get('size'):,} when it was saved"
        if _sampled_digest(path, size) != entry.get("sample_sha256"):
            return f"{name} has other bytes than when it was saved"
    return None


def step_folders(checkpoint_dir: Path) -> dict[int, Path]:
    """``{step: folder}`` for the ``step-N`` folders directly in ``checkpoint_dir``."""
    if not checkpoint_dir.is_dir():
        return {}
    return {
        int(match.group(1)): child
        for child in checkpoint_dir.iterdir()
        if (match := _STEP.fullmatch(child.name)) and child.is_dir()
    }


def set_aside_damaged(checkpoint_dir: Path) -> list[tuple[int, str, Path]]:
    """Move each damaged ``step-N`` folder to ``<checkpoint_dir>.damaged/``; returns (step, why, new path)."""
    moved = []
    for step, folder in sorted(step_folders(checkpoint_dir).items(), reverse=True):
        reason = damage(folder)
        if reason is None:
            continue
        target_dir = checkpoint_dir.with_name(checkpoint_dir.name + DAMAGED_SUFFIX)
        target_dir.mkdir(exist_ok=True)
        target = target_dir / folder.name
        count = 1
        while target.exists():
            target = target_dir / f"{folder.name}.{count}"
            count += 1
        os.replace(folder, target)
        moved.append((step, reason, target))
    return moved


def newest_intact(checkpoint_dir: Path) -> int | None:
    """The step TorchTitan will resume from once damaged folders are set aside (None: from scratch)."""
    steps = [step for step, folder in step_folders(checkpoint_dir).items() if damage(folder) is None]
    return max(steps, default=None)
