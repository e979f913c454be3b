"""The stages of one run, as functions every entry point chains: validate -> freeze -> train -> verify.

``primus-cli`` (each subcommand, and ``direct -- train pretrain`` which chains them all), the workflow's
planner (``primus.workflow``, at Snakemake parse time) and the sweep planner (``primus.sweep``) call these
and nothing below them, so the order of the stages and what each one is given are written once.

- :func:`validate_experiment` loads an experiment with its overrides and validates it (``preflight`` adds
  the checks about this machine). Writes nothing.
- :func:`validate_resolved` is the same for an experiment already loaded (each point of a sweep).
- :meth:`Validated.bundle` is the bundle path the experiment freezes to (its content hash). Writes nothing.
- :func:`fetch_assets` pins the tokenizer and data it reads (fetching what the asset cache lacks).
- :func:`freeze_experiment` writes that bundle (atomically; an existing one is returned untouched).
- :func:`train_bundle` trains a frozen bundle here or inside the image it was frozen against (resumable).
- :func:`verify_bundle` checks a trained bundle and writes ``verify/``.

Importing this module never imports torch; each stage imports what it needs when it runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from primus.bundle.layout import TRAIN_LOG_PATH
from primus.errors import LaunchError, PrimusError

if TYPE_CHECKING:
    from primus.config.model import ResolvedExperiment
    from primus.verify import Verdict

RUNTIMES = ("host", "container")


@dataclass(frozen=True)
class Validated:
    """A loaded and validated experiment: what it resolved to, its config coerced to schema types, and the
    warnings validation found (what TorchTitan adjusts at run time; ``strict`` turns them into errors)."""

    resolved: ResolvedExperiment
    config: dict[str, Any]
    warnings: list[PrimusError] = field(default_factory=list)

    def bundle(self, *, runs_dir: Path, image_id: str | None = None, assets: Sequence | None = None) -> Path:
        """``runs_dir/<exp_name>/<hash>``: where :func:`freeze_experiment` puts it (nothing is written).

        The tokenizer/data pins are part of the hash: ``assets`` (``fetch_assets``'s result), by default
        read offline from the asset cache; ``AssetCacheError`` when a Hub repository is not fetched yet.
        """
        from primus.bundle import bundle_path

        return Path(
            bundle_path(self.resolved, self.config, runs_dir=Path(runs_dir), image_id=image_id, assets=assets)
        )


def validate_experiment(
    path: str | Path,
    overrides: Sequence[str] = (),
    *,
    configs_root: Path | None = None,
    preflight: bool = False,
    strict: bool = False,
    env: Mapping[str, str] | None = None,
) -> Validated:
    """Load ``path`` with ``overrides`` and validate it; raises ConfigError(s) with file:line; no writes."""
    from primus.config import load_experiment

    resolved = load_experiment(path, overrides, configs_root=configs_root, env=env)
    return validate_resolved(resolved, preflight=preflight, strict=strict, env=env)


def validate_resolved(
    resolved: ResolvedExperiment,
    *,
    preflight: bool = False,
    strict: bool = False,
    env: Mapping[str, str] | None = None,
) -> Validated:
    """The validate stage for an experiment already loaded (a sweep point: ``primus.config.with_overrides``
    of the loaded base)."""
    from primus.validate import check

    validation = check(resolved, preflight=preflight, env=env, strict=strict)
    return Validated(resolved, validation.config, list(validation.warnings))


def preflight(validated: Validated) -> None:
    """The checks about this machine (accelerator, memory, converters, assets); ConfigErrors when it
    cannot run here. ``validate_experiment(preflight=True)`` runs them too."""
    from primus.validate import preflight as run_preflight

    run_preflight(validated.config, origin_of=validated.resolved.origin_of)


def fetch_assets(validated: Validated, *, update: bool = False) -> list:
    """Pin the tokenizer and data ``validated`` reads: fetched into the asset cache with huggingface_hub's
    client where missing (a cache hit makes no request; ``update`` re-resolves branches and tags), local
    ones digested and copied in. Returns the ``PinnedAsset`` list (empty with mock data); progress lines go
    to stderr. Raises AssetError subclasses (bad reference: exit 2; network, auth, disk: exit 1)."""
    from primus.assets import fetch, sources_of
    from primus.backend import backend_for

    backend = backend_for(validated.resolved.framework)
    return fetch(
        sources_of(validated.config, origin_of=validated.resolved.origin_of, backend=backend), update=update
    )


def freeze_experiment(
    validated: Validated, *, runs_dir: Path, image_id: str | None = None, assets: Sequence | None = None
) -> Path:
    """Write the run bundle of ``validated`` (content-addressed, atomic) and return its path.

    ``assets``: the pins to record; by default :func:`fetch_assets` (cache hits when already fetched).
    """
    from primus.bundle import freeze

    pins = fetch_assets(validated) if assets is None else assets
    return Path(
        freeze(validated.resolved, validated.config, runs_dir=Path(runs_dir), image_id=image_id, assets=pins)
    )


def read_image_id(path: str | Path | None) -> str | None:
    """The image ID recorded by the container stage in ``path``, or None when no file is given."""
    if not path:
        return None
    from primus.containers.paths import read_image_id as read

    return read(path)


def train_bundle(
    bundle: Path,
    *,
    runtime: str = "host",
    container_variant: str = "rocm",
    dry_run: bool = False,
    observability: dict[str, Any] | None = None,
) -> int:
    """Train a frozen bundle to completion (resuming from its newest checkpoint); 0 when done.

    ``runtime="container"`` trains inside the image the bundle was frozen against: its ID is part of the
    hash (lock.json ``runtime.image_id``), so that image and no other trains it. ``dry_run`` prints the
    command instead. Raises LaunchError (exit 1) when training fails. ``observability``: TensorBoard/W&B
    settings for this launch (``primus.observability``; not part of the bundle).
    """
    bundle = Path(bundle)
    if runtime == "container":
        from primus import observability as watching

        if observability and watching.enabled(observability):
            raise PrimusError(
                "TensorBoard/W&B settings at train time work on the host runtime only",
                hint="train on the host (runtime: host), or turn metrics.enable_tensorboard/enable_wandb off",
            )
        return _train_in_container(bundle, container_variant, dry_run=dry_run)
    from primus.bundle import bundle_backend

    return bundle_backend(bundle).train(bundle, dry_run=dry_run, observability=observability)


def _train_in_container(bundle: Path, variant: str, *, dry_run: bool) -> int:
    from primus import containers
    from primus.bundle import load_bundle

    image_id = (load_bundle(bundle).lock.get("runtime") or {}).get("image_id")
    if not image_id:
        raise PrimusError(
            f"{bundle} was frozen for the host runtime: its lock.json records no container image",
            hint="freeze it for the container: primus-cli resolve --freeze CONFIG --image-id-file "
            f"build/container/{variant}.image-id (snakemake does this with runtime=container)",
        )
    options = {"variant": variant, "image_id": image_id}
    if dry_run:
        print(" ".join(containers.run_command(bundle, **options)))
        return 0
    status = containers.run(bundle, **options)
    if status != 0:
        raise LaunchError(
            f"training inside the container exited with status {status}",
            file=str(bundle / TRAIN_LOG_PATH),
            hint="read the log above; rerun the same command to resume from the latest checkpoint",
        )
    return 0


def verify_bundle(bundle: Path, *, against: Path | None = None, tolerance: float | None = None) -> Verdict:
    """Check a trained bundle; writes ``verify/`` (verdict.json last) and returns the verdict.

    Both bundles are checked against their manifests first: a bundle edited after freeze is never judged
    (its metrics would be credited to a config it did not run).
    """
    from primus.bundle import check_bundle
    from primus.verify import verify

    for folder in (bundle, against):
        if folder:
            check_bundle(Path(folder), assets=False)  # judging metrics needs no tokenizer or data
    return verify(Path(bundle), against=Path(against) if against else None, tolerance=tolerance)


def launch_preview(bundle: Path, validated: Validated) -> list[str]:
    """The torchrun argv a bundle not yet written would launch (dry runs; no host checks)."""
    from primus.backend import backend_for

    backend = backend_for(validated.resolved.framework)
    return backend.launch_command(bundle, env=os.environ, job_config=validated.config, check_host=False)
