"""Prepare what an image build reads: the build context folder, the wheelhouse and the CPU base image.

Layout of the staged context (``build/container/context-<variant>/``)::

    containers/   Dockerfile, install-cpu.sh, install-rocm.sh, write-manifest.sh, lock.yaml (copied)
    wheelhouse/   hard links to the cached wheelhouse (CPU), empty for ROCm
    dist/         this project's wheel, built reproducibly (same sources -> same bytes -> build cache hit)

Slow inputs are cached under ``.cache/containers/`` keyed by the lock's pins, so a second build from the
same lock downloads and bootstraps nothing.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from primus.containers.lock import ImageLock
from primus.errors import ContainerError

#: The files of containers/ that the image build reads.
RECIPE_FILES = ("Dockerfile", "install-cpu.sh", "install-rocm.sh", "write-manifest.sh", "lock.yaml")

#: Zip timestamps of the project wheel (1980-01-01, the earliest a zip can hold): same sources, same bytes.
_WHEEL_EPOCH = "315532800"


def _run_tool(
    argv: list[str], *, what: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> None:
    """Run a host tool; on failure raise ContainerError with the tail of its output."""
    try:
        done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise ContainerError(f"{what}: {argv[0]} is not installed", hint=_install_hint(argv[0])) from None
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise ContainerError(f"{what} failed (exit {done.returncode}): {' '.join(argv[:4])} ...\n{tail}")


def _install_hint(tool: str) -> str:
    packages = {"mmdebstrap": "mmdebstrap", "podman": "podman runc fuse-overlayfs", "buildah": "buildah"}
    return f"apt-get install -y {packages.get(tool, tool)}"


def project_wheel(project_root: Path, out_dir: Path) -> Path:
    """Build this project's wheel into ``out_dir`` from a clean copy of its sources; returns the wheel path.

    A clean copy (pyproject.toml, README.md, primus/ without caches) keeps stale ``build/`` leftovers out of
    the wheel; a fixed SOURCE_DATE_EPOCH makes the bytes depend on the sources only.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.whl"):
        old.unlink()
    with tempfile.TemporaryDirectory(prefix="primus-wheel-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        shutil.copy2(project_root / "pyproject.toml", src / "pyproject.toml")
        readme = project_root / "README.md"
        if readme.exists():
            shutil.copy2(readme, src / "README.md")
        else:  # pyproject names a readme; an empty one keeps the build going before the docs exist
            (src / "README.md").write_text("")
        shutil.copytree(
            project_root / "primus",
            src / "primus",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"),
        )
        env = {**os.environ, "SOURCE_DATE_EPOCH": _WHEEL_EPOCH}
        # The PEP 517 backend directly: pip 23.2's `pip wheel` fails on this setuptools (has_pure_modules).
        code = f"from setuptools import build_meta; print(build_meta.build_wheel({str(out_dir)!r}))"
        _run_tool([sys.executable, "-c", code], what="building the project wheel", cwd=src, env=env)
    wheels = sorted(out_dir.glob("*.whl"))
    if len(wheels) != 1:
        raise ContainerError(f"building the project wheel left {len(wheels)} wheels in {out_dir}, not 1")
    return wheels[0]


def wheelhouse(lock: ImageLock, cache_dir: Path) -> tuple[Path, str]:
    """The cached wheelhouse for the lock's pins (downloaded on first use); returns (folder, digest).

    The host's pip downloads binary wheels only (``--only-binary=:all:``) for the image's Python, so the
    image build needs no network; on this kind of machine the host's pip finds the CPU torch build on disk.
    The digest (sha256 over file names and contents, computed once) is the build's cache key for it.
    """
    folder = cache_dir / "wheelhouse" / lock.wheelhouse_key()
    digest_file = folder / ".digest"
    if digest_file.exists():
        return folder, digest_file.read_text().strip()
    pins = [
        f"torch=={lock.get('python.torch')}",
        f"triton=={lock.get('python.triton')}",
        *lock.python_pins(),
    ]
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    argv = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--only-binary=:all:",
            "--python-version", str(lock.get("cpu.python")), "-d", str(partial), *pins]  # fmt: skip
    _run_tool(argv, what="downloading the wheelhouse")
    digest = directory_digest(partial)
    (partial / ".digest").write_text(digest + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)  # atomic: a half-downloaded wheelhouse is never taken for a complete one
    return folder, digest


def directory_digest(folder: Path) -> str:
    """sha256 over the sorted (relative name, file sha256) pairs of every file below ``folder``."""
    outer = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != ".digest"):
        inner = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                inner.update(block)
        outer.update(f"{path.relative_to(folder).as_posix()}\0{inner.hexdigest()}\n".encode())
    return outer.hexdigest()


def debian_base_tarball(lock: ImageLock, cache_dir: Path) -> Path:
    """The cached Debian root file system for the CPU base (bootstrapped with mmdebstrap on first use)."""
    tarball = cache_dir / "base" / f"debian-{lock.get('cpu.debian_suite')}-{lock.base_key()}.tar"
    if tarball.exists():
        return tarball
    tarball.parent.mkdir(parents=True, exist_ok=True)
    partial = tarball.with_suffix(".tar.partial")
    argv = [
        "mmdebstrap",
        f"--variant={lock.get('cpu.debian_variant')}",
        f"--include={','.join(lock.get('cpu.debian_packages'))}",
        "--format=tar",
        str(lock.get("cpu.debian_suite")),
        str(partial),
        str(lock.get("cpu.debian_mirror")),
    ]
    _run_tool(argv, what="bootstrapping the Debian base image")
    partial.rename(tarball)
    return tarball


def stage_context(
    project_root: Path, context_dir: Path, *, wheels: Path | None, project_wheel_file: Path
) -> Path:
    """Fill ``context_dir`` (emptied first) with the recipe, the wheelhouse and the project wheel."""
    shutil.rmtree(context_dir, ignore_errors=True)
    (context_dir / "containers").mkdir(parents=True)
    for name in RECIPE_FILES:
        source = project_root / "containers" / name
        if not source.exists():
            raise ContainerError(f"{source} is missing", hint="restore containers/ from git")
        shutil.copy2(source, context_dir / "containers" / name)
    house = context_dir / "wheelhouse"
    house.mkdir()
    if wheels is not None:
        for wheel in sorted(wheels.glob("*.whl")):
            _link_or_copy(wheel, house / wheel.name)
    dist = context_dir / "dist"
    dist.mkdir()
    shutil.copy2(project_wheel_file, dist / project_wheel_file.name)
    return context_dir


def _link_or_copy(source: Path, target: Path) -> None:
    # A hard link costs nothing on the same file system; the cache may live on another one.
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
