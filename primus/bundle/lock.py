"""What a run depended on besides its config: env vars, package versions, runtime identity, inputs, git.

All of it is read without importing torch (package versions come from ``importlib.metadata``).
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import platform
import re
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from primus.bundle.canonical import portable_path, sha256_file, sha256_text
from primus.errors import BundleError

#: Environment variable names that look like they hold a secret; their values are stored as a digest only.
SECRET_NAME = re.compile(r"TOKEN|KEY|SECRET|PASSWORD|CREDENTIAL", re.IGNORECASE)


def is_secret_name(name: str) -> bool:
    """True when ``name`` contains TOKEN, KEY, SECRET, PASSWORD or CREDENTIAL (any case)."""
    return SECRET_NAME.search(name) is not None


def env_record(consumed: Mapping[str, str | None]) -> dict[str, str | None]:
    """The consumed environment as recorded and hashed.

    Values of secret-looking names become ``"sha256:<hex>"`` so a change is still detected without the
    secret being written down. ``None`` means the variable was unset and the ``${VAR:default}`` was used.
    """
    record: dict[str, str | None] = {}
    for name in sorted(consumed):
        value = consumed[name]
        if value is not None and is_secret_name(name):
            value = "sha256:" + sha256_text(value)
        record[name] = value
    return record


@functools.cache
def _distribution_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def package_versions(distributions: Iterable[str]) -> dict[str, str | None]:
    """Versions of ``distributions`` (the backend's ``packages``; None when not installed) and of Python."""
    versions: dict[str, str | None] = {name: _distribution_version(name) for name in distributions}
    versions["python"] = platform.python_version()
    return versions


def host_fingerprint() -> dict[str, Any]:
    """What identifies this kind of host without naming it: OS, kernel, CPU architecture and model.

    No hostname, user or path, so it can be shared and two checkouts on one host record the same thing.
    """
    return {
        "system": platform.system(),
        "release": platform.release(),
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "libc": "-".join(part for part in platform.libc_ver() if part) or None,
        "python_implementation": platform.python_implementation(),
    }


@functools.lru_cache(maxsize=1)
def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def runtime_record(image_id: str | None) -> dict[str, Any]:
    """``{"image_id": ...}`` inside a container, else ``{"image_id": None, "host": <fingerprint>}``."""
    if image_id:
        return {"image_id": image_id}
    return {"image_id": None, "host": host_fingerprint()}


def input_digests(paths: Iterable[Path], *, base: Path | None = None) -> dict[str, str]:
    """sha256 of every input file, keyed by its portable path (see ``portable_path``)."""
    digests: dict[str, str] = {}
    for path in paths:
        try:
            digests[portable_path(path, base=base)] = sha256_file(Path(path))
        except OSError as error:
            raise BundleError(
                f"input file cannot be read: {error.strerror or error}",
                file=portable_path(path, base=base),
                hint="the file changed or disappeared after the experiment was loaded; run the freeze again",
            ) from error
    return digests


def git_state(path: Path) -> dict[str, Any]:
    """``{"commit": sha, "dirty": bool}`` of the git work tree holding ``path``; None values outside git.

    Dirty means tracked changes or untracked files that are not ignored: either may change the run.
    """
    folder = path if path.is_dir() else path.parent
    try:
        commit = _git(folder, "rev-parse", "HEAD")
        status = _git(folder, "status", "--porcelain")
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit.strip(), "dirty": bool(status.strip())}


def _git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", os.fspath(folder), *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},  # a read must never take the index lock
    ).stdout
