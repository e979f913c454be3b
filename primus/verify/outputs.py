"""Writing the verify outputs so that a reader never sees a half-written or mismatched set.

Each file is written to a hidden temporary file beside its target and renamed over it (atomic within one
file system). ``verdict.json`` is the set's seal: any previous one is removed before the other files are
replaced, and the new one is written last, so a ``verdict.json`` on disk always belongs to the report and
plot beside it. Other files in the folder (the workflow's ``verify_run.log``, which ``tee`` is writing while
verify runs) are left alone, which is why the folder is not swapped as a whole.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from primus.errors import BundleError


def write_outputs(folder: Path, files: Mapping[str, bytes], *, seal: str) -> None:
    """Write ``files`` (name -> content) into ``folder``, ``seal`` last; ``seal`` must be one of ``files``."""
    if folder.exists() and not folder.is_dir():
        raise BundleError(
            "expected a folder here, found a file",
            file=str(folder),
            hint="remove it; verify writes its outputs into this folder",
        )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / seal).unlink(missing_ok=True)
    for name, data in files.items():
        if name != seal:
            write_atomically(folder / name, data)
    write_atomically(folder / seal, files[seal])


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` by a file holding ``data``; on any failure the old file (if any) stays as it was."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes it private; reports are meant to be read by others
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
