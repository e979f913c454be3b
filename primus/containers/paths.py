"""Where the container stage keeps things: the project root, and the image ID file of each variant.

``read_image_id`` is the one reader of an image ID file (the CLI's ``--image-id-file``, ``run()``, the
workflow's container checkpoint).
"""

from __future__ import annotations

from pathlib import Path

from primus.errors import ContainerError

#: Where run() mounts a bundle inside the container: /runs/<exp_name>/<hash>.
CONTAINER_RUNS_DIR = "/runs"
#: ``PRIMUS_DATA_PATH`` inside the image: the host's asset cache is mounted read-only at ``<it>/assets``.
CONTAINER_DATA_DIR = "/primus-data"


def find_project_root(start: Path | None = None) -> Path:
    """The folder holding containers/lock.yaml: ``start`` or one of its parents, else this package's repo."""
    candidates = [start or Path.cwd()]
    candidates += list(candidates[0].resolve().parents)
    candidates.append(Path(__file__).resolve().parents[2])
    for folder in candidates:
        if (folder / "containers" / "lock.yaml").is_file():
            return folder
    raise ContainerError(
        "containers/lock.yaml not found in this folder or above it",
        hint="run from the project checkout (the folder with containers/ and pyproject.toml)",
    )


#: Where the container stage writes its outputs (image ID files, build logs, staged contexts), under the root.
BUILD_DIR = Path("build") / "container"


def image_id_name(variant: str) -> str:
    """The name of a variant's image ID file: ``<variant>.image-id``."""
    return f"{variant}.image-id"


def image_id_file(variant: str, project_root: Path | None = None) -> Path:
    """build/container/<variant>.image-id under the project root."""
    return (project_root or find_project_root()) / BUILD_DIR / image_id_name(variant)


def read_image_id(path: Path | str, *, variant: str | None = None) -> str:
    """The image ID the container stage recorded in ``path``; ContainerError when missing or empty.

    ``variant`` names the image in the messages (the file of ``image_id_file(variant)``).
    """
    path = Path(path)
    what = f"variant {variant!r}" if variant else "this run"
    build = f"primus-cli container build --variant {variant}" if variant else "primus-cli container build"
    try:
        image_id = path.read_text(encoding="utf-8").strip()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise ContainerError(
            f"no image built for {what} ({path} is missing)",
            file=str(path),
            hint=f"build it first: {build} (or make container)",
        ) from None
    if not image_id:
        raise ContainerError("the image ID file is empty", file=str(path), hint=f"rebuild the image: {build}")
    return image_id
