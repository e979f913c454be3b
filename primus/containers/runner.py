"""Run a frozen bundle's training (or any check) inside a built image, through an engine."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from primus.containers.engine import Engine, Mount, RunSpec, select_engine
from primus.containers.paths import (
    CONTAINER_DATA_DIR,
    CONTAINER_RUNS_DIR,
    find_project_root,
    image_id_file,
    read_image_id,
)
from primus.errors import ContainerError


def _run_spec(
    bundle: Path,
    *,
    image: str,
    gpu: bool | None,
    mounts: Sequence[Mount],
    network: str,
    shm_size: str | None,
) -> RunSpec:
    bundle = bundle.resolve()
    if not bundle.is_dir():
        raise ContainerError(
            f"run bundle {bundle} does not exist",
            hint="freeze the experiment first (primus-cli resolve --freeze CONFIG)",
        )
    target = f"{CONTAINER_RUNS_DIR}/{bundle.parent.name}/{bundle.name}"
    use_gpu = Path("/dev/kfd").exists() if gpu is None else gpu
    # HOME: the caller's uid has no home folder in the image. PRIMUS_IMAGE_ID: the runtime identity the
    # bundle's lock records for a container run.
    env = {"HOME": "/tmp", "PRIMUS_IMAGE_ID": image}
    asset_mounts = []
    if _pins_cached_assets(bundle):
        # The tokenizer/data the bundle pins are read from the host's asset cache, read-only, by digest.
        from primus.assets import cache_root

        asset_mounts.append(Mount(cache_root(), f"{CONTAINER_DATA_DIR}/assets", writable=False))
        env["PRIMUS_DATA_PATH"] = CONTAINER_DATA_DIR
    return RunSpec(
        image=image,
        argv=["primus-cli", "train", "--bundle", target],
        mounts=[Mount(bundle, target), *asset_mounts, *mounts],
        env=env,
        gpu=use_gpu,
        shm_size=shm_size or ("64g" if use_gpu else "2g"),
        network=network,
        user=f"{os.getuid()}:{os.getgid()}",
        workdir=target,
    )


def _pins_cached_assets(bundle: Path) -> bool:
    """True when the bundle's lock.json pins tokenizer/data files (read from the asset cache)."""
    import json

    from primus.assets import pins_from_lock
    from primus.bundle.layout import LOCK

    try:
        lock = json.loads((bundle / LOCK).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    assets = lock.get("assets") if isinstance(lock, dict) else None
    return any(pin.files for pin in pins_from_lock(assets if isinstance(assets, dict) else None))


@contextlib.contextmanager
def _engine_and_spec(
    bundle: Path,
    variant: str,
    image_id: str | None,
    project_root: Path | None,
    engine: str | None,
    gpu: bool | None,
    mounts: Sequence[Mount],
    network: str,
    shm_size: str | None,
) -> Iterator[tuple[Engine, RunSpec]]:
    """The engine and run spec shared by run() and run_command(); the engine is closed afterwards."""
    root = project_root or find_project_root()
    image = image_id or read_image_id(image_id_file(variant, root), variant=variant)
    eng = select_engine(engine, root / ".cache" / "containers")
    try:
        yield eng, _run_spec(bundle, image=image, gpu=gpu, mounts=mounts, network=network, shm_size=shm_size)
    finally:
        eng.close()


def run_command(
    bundle: Path,
    *,
    variant: str = "rocm",
    image_id: str | None = None,
    project_root: Path | None = None,
    engine: str | None = None,
    gpu: bool | None = None,
    mounts: Sequence[Mount] = (),
    network: str = "none",
    shm_size: str | None = None,
) -> list[str]:
    """The exact engine command line run() would execute (--dry-run); nothing is started."""
    context = _engine_and_spec(
        bundle, variant, image_id, project_root, engine, gpu, mounts, network, shm_size
    )
    with context as (eng, spec):
        return eng.run_command(spec)


def run(
    bundle: Path,
    *,
    variant: str = "rocm",
    image_id: str | None = None,
    project_root: Path | None = None,
    engine: str | None = None,
    gpu: bool | None = None,
    mounts: Sequence[Mount] = (),
    network: str = "none",
    shm_size: str | None = None,
) -> int:
    """Train ``bundle`` in the image (``primus-cli train --bundle /runs/<exp>/<hash>``); returns the status.

    The bundle folder is mounted read-write at the same relative place (train/ is written there) and the
    process runs with the caller's uid:gid so the files stay the caller's. ``image_id``: default the one
    recorded by build(variant). ``gpu``: None means "when /dev/kfd exists" (adds the ROCm device flags).
    ``mounts``: extra bind mounts (datasets, tokenizer assets). ``network``: ``host`` for multi-node RCCL.
    ``shm_size``: default 64g on GPU hosts, 2g on CPU.
    """
    context = _engine_and_spec(
        bundle, variant, image_id, project_root, engine, gpu, mounts, network, shm_size
    )
    with context as (eng, spec):
        return eng.run(spec)


def exec_in_image(
    image: str,
    argv: Sequence[str],
    *,
    project_root: Path | None = None,
    engine: str | None = None,
    mounts: Sequence[Mount] = (),
    workdir: str | None = None,
) -> int:
    """Run any command in ``image`` (no GPU, no network); returns its exit status. Used for checks."""
    root = project_root or find_project_root()
    eng = select_engine(engine, root / ".cache" / "containers")
    try:
        return eng.run(RunSpec(image=image, argv=list(argv), mounts=list(mounts), workdir=workdir))
    finally:
        eng.close()
