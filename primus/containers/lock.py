"""The pins of the training image (containers/lock.yaml) and the build arguments generated from them.

Every version, digest and commit the image depends on lives in that one file; the Dockerfile's ``ARG``
defaults mirror it (a test keeps them equal) and :func:`build_args` passes each one explicitly.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from primus.errors import ConfigError, ConfigKeyError, ConfigValueError

Variant = Literal["rocm", "cpu"]
#: The image variants containers/Dockerfile can build.
VARIANTS: tuple[str, ...] = ("rocm", "cpu")

#: Keys every lock must have, as dotted paths.
_REQUIRED = (
    "rocm.base_image",
    "rocm.gpu_arch",
    "rocm.gpu_archs",
    "rocm.primus_turbo.repo",
    "rocm.primus_turbo.commit",
    "rocm.aiter.repo",
    "rocm.aiter.commit",
    "rocm.python_packages",
    "cpu.debian_suite",
    "cpu.debian_mirror",
    "cpu.debian_variant",
    "cpu.debian_packages",
    "cpu.python",
    "python.torch",
    "python.torchtitan",
    "python.triton",
    "python.packages",
)


@dataclass(frozen=True)
class ImageLock:
    """The parsed lock: ``data`` is the YAML mapping, ``path`` where it was read."""

    path: Path
    data: dict[str, Any]

    def get(self, dotted: str) -> Any:
        """The value at a dotted key (``rocm.aiter.commit``); the lock was checked to hold every key used."""
        node: Any = self.data
        for part in dotted.split("."):
            node = node[part]
        return node

    def python_pins(self) -> list[str]:
        """``name==version`` for torchtitan and the other Python packages (torch and triton excluded)."""
        packages = self.get("python.packages")
        return [f"torchtitan=={self.get('python.torchtitan')}"] + [
            f"{name}=={version}" for name, version in sorted(packages.items())
        ]

    def base_key(self) -> str:
        """12 hex digits over the CPU base's inputs (suite, mirror, variant, packages): its cache name."""
        return _digest(self.data["cpu"])[:12]

    def wheelhouse_key(self) -> str:
        """12 hex digits over the Python pins and the target Python: names the cached wheelhouse."""
        return _digest({"python": self.data["python"], "target": self.get("cpu.python")})[:12]


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def load_lock(path: Path) -> ImageLock:
    """Read and check containers/lock.yaml. Raises ConfigError naming the file and the missing key."""
    shown = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            "image lock file not found",
            file=shown,
            hint="containers/lock.yaml pins every input of the image; restore it from git",
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise ConfigError(
            f"image lock is not valid YAML: {getattr(error, 'problem', error)}",
            file=shown,
            line=mark.line + 1 if mark else None,
        ) from None
    if not isinstance(data, dict):
        raise ConfigError("image lock must be a mapping", file=shown)
    lock = ImageLock(path=path, data=data)
    for dotted in _REQUIRED:
        try:
            lock.get(dotted)
        except (KeyError, TypeError):
            raise ConfigKeyError(
                "missing key in the image lock",
                file=shown,
                key=dotted,
                hint="every pin the Dockerfile uses must be in the lock; see the comments in the file",
            ) from None
    if lock.get("rocm.gpu_arch") not in lock.get("rocm.gpu_archs"):
        raise ConfigValueError(
            "default GPU architecture is not one of rocm.gpu_archs",
            file=shown,
            key="rocm.gpu_arch",
            value=lock.get("rocm.gpu_arch"),
        )
    return lock


def check_variant(variant: str, gpu_arch: str | None, lock: ImageLock) -> str:
    """Check ``variant`` and return the GPU architecture to build for (the lock's default when None)."""
    if variant not in VARIANTS:
        raise ConfigValueError(
            f"unknown image variant {variant!r}",
            key="variant",
            value=variant,
            hint=f"choose one of: {', '.join(VARIANTS)}",
        )
    arch = gpu_arch or lock.get("rocm.gpu_arch")
    archs = lock.get("rocm.gpu_archs")
    if arch not in archs:
        raise ConfigValueError(
            f"unknown GPU architecture {arch!r}",
            key="gpu_arch",
            value=arch,
            hint=f"choose one of: {', '.join(archs)} (gfx942 = MI300X/MI325X, gfx950 = MI355X)",
        )
    return arch


def build_args(
    lock: ImageLock,
    *,
    variant: str,
    gpu_arch: str | None = None,
    base_image: str | None = None,
    wheelhouse_digest: str = "none",
    revision: str = "unknown",
    source_repository: str | None = None,
) -> dict[str, str]:
    """Every ``--build-arg`` of containers/Dockerfile, generated from the lock.

    ``base_image`` replaces the lock's ROCm digest (the CPU variant passes its locally imported base);
    ``wheelhouse_digest`` is the cache key of the bind-mounted wheelhouse ("none" when it is empty).
    """
    arch = check_variant(variant, gpu_arch, lock)
    args = {
        "BASE_IMAGE": base_image or lock.get("rocm.base_image"),
        "VARIANT": variant,
        "GPU_ARCH": arch,
        "PRIMUS_TURBO_REPO": lock.get("rocm.primus_turbo.repo"),
        "PRIMUS_TURBO_COMMIT": lock.get("rocm.primus_turbo.commit"),
        "AITER_REPO": lock.get("rocm.aiter.repo"),
        "AITER_COMMIT": lock.get("rocm.aiter.commit"),
        "TORCH_VERSION": str(lock.get("python.torch")),
        "TORCHTITAN_VERSION": str(lock.get("python.torchtitan")),
        "TRITON_VERSION": str(lock.get("python.triton")),
        "PYTHON_PINS": " ".join(pin for pin in lock.python_pins() if not pin.startswith("torchtitan==")),
        "ROCM_PINS": " ".join(
            f"{name}=={version}" for name, version in sorted(lock.get("rocm.python_packages").items())
        ),
        "WHEELHOUSE_DIGEST": wheelhouse_digest,
        "REVISION": revision,
    }
    if source_repository:
        args["SOURCE_REPOSITORY"] = source_repository
    return args
