"""Build the training image from containers/ through an engine, and record its ID (write-once)."""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from primus.containers.context import debian_base_tarball, project_wheel, stage_context, wheelhouse
from primus.containers.engine import Engine, select_engine
from primus.containers.lock import ImageLock, build_args, check_variant, load_lock
from primus.containers.paths import BUILD_DIR, find_project_root, image_id_name


@dataclass(frozen=True)
class BuildResult:
    """What build() produced. ``seconds`` is wall time of the engine build alone."""

    variant: str
    image_id: str
    tag: str
    id_file: Path
    command: list[str]
    seconds: float

    def __str__(self) -> str:  # what `print(build(...))` should show: the ID resolve records
        return self.image_id


def default_tag(variant: str, gpu_arch: str) -> str:
    """``primus-torchtitan:cpu`` or ``primus-torchtitan:rocm-gfx942``."""
    return "primus-torchtitan:cpu" if variant == "cpu" else f"primus-torchtitan:rocm-{gpu_arch}"


def _git_revision(root: Path) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() if done.returncode == 0 else "unknown"


@dataclass
class _Plan:
    engine: Engine
    lock: ImageLock
    context: Path
    tag: str
    args: dict[str, str]
    id_file: Path
    #: Where the engine writes the ID; build() then moves it to ``id_file`` (never half-written there).
    engine_id_file: Path


def _plan(
    variant: str,
    *,
    gpu_arch: str | None,
    project_root: Path | None,
    engine: str | None,
    tag: str | None,
    wheel: Path | None,
    revision: str | None,
    out_dir: Path | None,
    prepare: bool,
) -> _Plan:
    root = project_root or find_project_root()
    lock = load_lock(root / "containers" / "lock.yaml")
    arch = check_variant(variant, gpu_arch, lock)
    cache_dir = root / ".cache" / "containers"
    out_dir = out_dir or root / BUILD_DIR
    eng = select_engine(engine, cache_dir)
    base_image = None
    wheels: Path | None = None
    digest = "none"
    if variant == "cpu":
        base_image = f"localhost/primus-base:{lock.get('cpu.debian_suite')}-{lock.base_key()}"
        if prepare:
            if not eng.image_exists(base_image):
                eng.import_tarball(debian_base_tarball(lock, cache_dir), base_image)
            wheels, digest = wheelhouse(lock, cache_dir)
        else:
            digest_file = cache_dir / "wheelhouse" / lock.wheelhouse_key() / ".digest"
            digest = digest_file.read_text().strip() if digest_file.exists() else "<computed-when-downloaded>"
    context = out_dir / f"context-{variant}"
    if prepare:
        wheel_file = wheel or project_wheel(root, out_dir / f"dist-{variant}")
        stage_context(root, context, wheels=wheels, project_wheel_file=wheel_file)
    args = build_args(
        lock,
        variant=variant,
        gpu_arch=arch,
        base_image=base_image,
        wheelhouse_digest=digest,
        revision=revision or _git_revision(root),
    )
    id_file = out_dir / image_id_name(variant)
    return _Plan(
        eng,
        lock,
        context,
        tag or default_tag(variant, arch),
        args,
        id_file,
        id_file.with_name(f".{variant}.iid"),
    )


def build_command(
    variant: str = "rocm",
    *,
    gpu_arch: str | None = None,
    project_root: Path | None = None,
    engine: str | None = None,
    tag: str | None = None,
    revision: str | None = None,
    out_dir: Path | None = None,
) -> list[str]:
    """The engine command line build() would run, without preparing or building anything (--dry-run).

    For the CPU variant the wheelhouse digest argument reads ``<computed-when-downloaded>`` until the
    wheelhouse is in the cache (it is a digest of the downloaded files).
    """
    plan = _plan(variant, gpu_arch=gpu_arch, project_root=project_root, engine=engine, tag=tag, wheel=None,
                 revision=revision, out_dir=out_dir, prepare=False)  # fmt: skip
    try:
        return plan.engine.build_command(plan.context, plan.tag, plan.args, plan.engine_id_file)
    finally:
        plan.engine.close()


def build(
    variant: str = "rocm",
    *,
    gpu_arch: str | None = None,
    project_root: Path | None = None,
    engine: str | None = None,
    tag: str | None = None,
    wheel: Path | None = None,
    revision: str | None = None,
    out_dir: Path | None = None,
    dry_run: bool = False,
) -> BuildResult | str:
    """Build the image and record its ID in build/container/<variant>.image-id (written only on success).

    ``gpu_arch``: ROCm target (None: the lock's default); ignored by the CPU variant's dependencies.
    ``engine``: ``auto`` / ``docker`` / ``podman`` / ``podman-api`` (None: $PRIMUS_CONTAINER_ENGINE or auto).
    ``wheel``: a prebuilt wheel of this project (default: built from the checkout, reproducibly).
    ``revision``: the org.opencontainers.image.revision label (default: ``git rev-parse HEAD``).
    ``out_dir``: where the ID file, build log and staged context go (default: <project>/build/container).
    ``dry_run``: build nothing; return the engine command line as one shell-quoted string.
    Raises ContainerError (exit 1) when no engine exists or the build fails; ConfigError for a bad variant.
    """
    if dry_run:
        command = build_command(variant, gpu_arch=gpu_arch, project_root=project_root, engine=engine, tag=tag,
                                revision=revision, out_dir=out_dir)  # fmt: skip
        return shlex.join(command)
    plan = _plan(variant, gpu_arch=gpu_arch, project_root=project_root, engine=engine, tag=tag, wheel=wheel,
                 revision=revision, out_dir=out_dir, prepare=True)  # fmt: skip
    try:
        plan.id_file.parent.mkdir(parents=True, exist_ok=True)
        engine_id_file = plan.engine_id_file
        command = plan.engine.build_command(plan.context, plan.tag, plan.args, engine_id_file)
        log_file = plan.id_file.with_name(f"{variant}.build.log")
        started = time.monotonic()
        image_id = plan.engine.build(plan.context, plan.tag, plan.args, engine_id_file, log_file)
        seconds = time.monotonic() - started
    finally:
        plan.engine.close()
    engine_id_file.unlink(missing_ok=True)
    result = BuildResult(variant, image_id, plan.tag, plan.id_file, command, round(seconds, 3))
    # The ID file is what resolve reads: write it whole or not at all.
    partial = plan.id_file.with_name(plan.id_file.name + ".partial")
    partial.write_text(image_id + "\n")
    partial.replace(plan.id_file)
    record = {**asdict(result), "id_file": str(plan.id_file), "build_args": plan.args}
    plan.id_file.with_name(f"{variant}.build.json").write_text(
        json.dumps(record, indent=2, sort_keys=True) + "\n"
    )
    return result
