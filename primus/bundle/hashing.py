"""The content hash that names a run bundle, computable without writing anything.

The hash covers what changes what a run computes, and nothing else:
  - the canonical resolved document (envelope, module, framework, preset names, validated config), so
    comments, key order and whitespace of the YAML files do not count but every value does;
  - the environment variables the config consumed (secret-looking ones by digest);
  - the pinned package versions (the backend's ``packages``, e.g. torch, torchtitan, primus_turbo; python);
  - the runtime identity: the container image ID, or None on the host;
  - the pinned tokenizer and data (``primus.assets``): repository, resolved revision and every file's
    sha256 (absent for a run that reads none, e.g. mock data), so a new tokenizer revision is a new bundle.
Not covered (recorded in lock.json instead): input file bytes, git commit, paths, the host fingerprint.
Not covered and not frozen at all: TensorBoard/W&B switches (``primus.observability``): watching a run
differently must not make it a different run; the train stage passes them at launch.
The host fingerprint is left out on purpose: the Snakefile plans bundle paths on one machine (a login node)
and a freeze may run on another (a compute node), and both must agree on the path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from primus import observability
from primus.backend import Backend, backend_for
from primus.bundle.canonical import compact_json, normalize, sha256_text
from primus.bundle.layout import BUNDLE_FORMAT, HASH_LENGTH
from primus.bundle.lock import env_record, package_versions
from primus.config.explain import resolved_document
from primus.config.model import ResolvedExperiment
from primus.config.paths import FOLDER_NAME_HINT, folder_name_problem
from primus.errors import ConfigValueError


def canonical_document(resolved: ResolvedExperiment, config: Mapping[str, Any]) -> dict[str, Any]:
    """``primus.config.resolved_document`` with its envelope and config normalized to JSON types."""
    document = resolved_document(resolved, config)
    document["envelope"] = normalize(document["envelope"], "envelope")
    document["config"] = normalize(document["config"])
    return document


def hash_material(
    document: Mapping[str, Any],
    env: Mapping[str, str | None],
    packages: Mapping[str, str | None],
    image_id: str | None,
    assets: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything the hash is taken over, as one JSON-able dict (also rebuilt from a bundle by check).

    ``assets`` is ``primus.assets.hash_entries(...)``; none (or empty) leaves the key out, so runs that
    read no tokenizer or data keep the hash they had before assets were pinned.
    """
    material = {
        "format": BUNDLE_FORMAT,
        "resolved": document,
        "env": dict(env),
        "packages": dict(packages),
        "image_id": image_id,
    }
    if assets:
        material["assets"] = dict(assets)
    return material


def pinned_assets(
    resolved: ResolvedExperiment, config: Mapping[str, Any], backend: Backend | None = None
) -> list:
    """The tokenizer/data pins of this experiment, read offline (``primus.assets.pin_offline``).

    ``backend`` (default: the framework's) names what the run reads. Raises ``AssetCacheError`` when a Hub
    repository it reads has not been fetched yet.
    """
    from primus.assets import pin_offline, sources_of

    backend = backend or backend_for(resolved.framework)
    return pin_offline(sources_of(config, origin_of=resolved.origin_of, backend=backend))


def hash_of(material: Mapping[str, Any]) -> str:
    """The first ``HASH_LENGTH`` hex digits of sha256 over the compact sorted JSON of ``material``."""
    return sha256_text(compact_json(material))[:HASH_LENGTH]


def compute_hash(
    resolved: ResolvedExperiment,
    config: Mapping[str, Any],
    *,
    image_id: str | None = None,
    packages: Mapping[str, str | None] | None = None,
    backend: Backend | None = None,
    assets: Sequence | None = None,
) -> str:
    """The bundle hash ``freeze`` would use for these inputs; writes nothing, imports no torch.

    ``config`` is the validated config (``primus.validate.validate``'s result). ``packages`` defaults to
    the installed versions of the backend's packages (``backend`` defaults to the experiment framework's);
    pass it to plan for another environment. ``image_id`` is the container image ID when the run uses one.
    ``assets``: the ``PinnedAsset`` list; by default read offline from the asset cache (``pinned_assets``);
    ``[]`` leaves the assets out (the workflow's config-only key).
    """
    from primus.assets import hash_entries

    document = canonical_document(resolved, observability.without(config))
    env = env_record(resolved.env_consumed)
    versions = pinned_versions(resolved, backend) if packages is None else packages
    pins = pinned_assets(resolved, config, backend) if assets is None else assets
    return hash_of(hash_material(document, env, versions, image_id, hash_entries(pins)))


def pinned_versions(resolved: ResolvedExperiment, backend: Backend | None = None) -> dict[str, str | None]:
    """Installed versions of what pins this run: the backend's packages (``backend`` or the framework's)."""
    return package_versions((backend or backend_for(resolved.framework)).packages)


def experiment_folder_name(resolved: ResolvedExperiment) -> str:
    """``envelope.exp_name`` checked to be one safe folder name (no separators, not hidden)."""
    name = resolved.envelope.get("exp_name")
    if not isinstance(name, str) or folder_name_problem(name):
        origin = resolved.origin_of("exp_name")
        raise ConfigValueError(
            f"exp_name {name!r} cannot be used as a folder name under the runs directory",
            file=origin.file if origin else str(resolved.path),
            line=origin.line if origin else None,
            key="exp_name",
            value=name,
            hint=FOLDER_NAME_HINT,
        )
    return name


def bundle_path(
    resolved: ResolvedExperiment,
    config: Mapping[str, Any],
    *,
    runs_dir: Path,
    image_id: str | None = None,
    packages: Mapping[str, str | None] | None = None,
    backend: Backend | None = None,
    assets: Sequence | None = None,
) -> Path:
    """``runs_dir/<exp_name>/<hash>``: where ``freeze`` puts this run (for planning; writes nothing)."""
    digest = compute_hash(
        resolved, config, image_id=image_id, packages=packages, backend=backend, assets=assets
    )
    return Path(runs_dir) / experiment_folder_name(resolved) / digest
