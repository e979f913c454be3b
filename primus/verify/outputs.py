"""Writing a stage's output folder all at once: readers see the old folder or the new one, never a mix.

The files are written into a hidden staging folder beside the target and swapped in by renames, which are
atomic within one file system. A crash leaves at most a hidden ``.verify.partial-*`` or ``.verify.old-*``
folder behind, never a ``verify/verdict.json`` without its report.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path

from primus.errors import BundleError


def replace_directory(target: Path, files: Mapping[str, bytes]) -> None:
    """Make ``target`` a folder holding exactly ``files`` (name -> content), replacing any previous one."""
    if target.exists() and not target.is_dir():
        raise BundleError(
            "expected a folder here, found a file",
            file=str(target),
            hint="remove it; verify writes its outputs into this folder",
        )
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    try:
        os.chmod(staging, 0o755)  # mkdtemp makes it private; the outputs are meant to be shared and read
        for name, data in files.items():
            with open(staging / name, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        _swap_in(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _swap_in(staging: Path, target: Path) -> None:
    if not target.exists():
        os.replace(staging, target)
        return
    old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
    os.replace(target, old)
    try:
        os.replace(staging, target)
    except BaseException:
        os.replace(old, target)  # put the previous outputs back rather than leave none
        raise
    shutil.rmtree(old, ignore_errors=True)
