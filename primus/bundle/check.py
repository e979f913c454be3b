"""Verify a frozen bundle's integrity, and load one to train from it without the original YAML files."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from primus.backend import Backend, backend_for
from primus.bundle.canonical import compact_json, sha256_file
from primus.bundle.hashing import hash_material, hash_of
from primus.bundle.layout import (
    BUNDLE_FORMAT,
    HASH_LENGTH,
    JOB_TOML,
    LOCK,
    MANIFEST,
    OUTPUT_DIRS,
    PROVENANCE,
    RESOLVED,
    frozen_files,
)
from primus.config.model import Origin
from primus.errors import AssetCacheError, BundleError, BundleIntegrityError, PrimusError

#: What to pass instead of a folder that is not a bundle.
BUNDLE_HINT = (
    "pass the bundle folder runs/<exp_name>/<hash> that `primus-cli resolve --freeze CONFIG` printed"
)

_HASH_NAME = re.compile(rf"^[0-9a-f]{{{HASH_LENGTH}}}$")


@dataclass(frozen=True)
class BundleProblem:
    """One thing wrong with a bundle: the file (relative to the bundle) and what is wrong with it."""

    file: str
    problem: str

    def __str__(self) -> str:
        return f"{self.file}: {self.problem}"


def check_bundle(path: Path, *, backend: Backend | None = None, assets: bool = True) -> None:
    """Re-verify every digest of the bundle at ``path``; raise ``BundleIntegrityError`` naming each problem.

    Checks: the manifest lists exactly the frozen files; each exists with its recorded sha256; no other
    file sits beside them (``train/`` and ``verify/`` are outputs and are ignored); the hash rebuilt from
    resolved.yaml and lock.json equals the manifest's hash and the folder's name; job_config.toml is what
    resolved.yaml's config renders to. So editing a file together with its manifest entry is still caught:
    what trains (resolved.yaml, job_config.toml, lock.json's env/packages/runtime) is tied to the folder's
    name, which a forger would have to move, making it another bundle. provenance.json and lock.json's
    descriptive fields (inputs, git, experiment) are covered by the manifest digests only.
    ``backend`` (default: the one serving resolved.yaml's framework) renders and reads the job config.
    Raises plain ``BundleError`` when ``path`` is not a bundle at all.
    With ``assets`` (the default) the tokenizer/data files it pins are then checked in the asset cache
    (``check_cached_assets``).
    """
    bundle = Path(path)
    if not bundle.is_dir():
        raise BundleError(
            "no run bundle here (not a folder)",
            file=str(bundle),
            hint="give the runs/<exp_name>/<hash> folder that `primus-cli resolve --freeze CONFIG` printed",
        )
    manifest = _read_manifest(bundle)
    if manifest.get("format") != BUNDLE_FORMAT:
        raise BundleIntegrityError(
            bundle,
            [
                BundleProblem(
                    MANIFEST, f"bundle format {manifest.get('format')!r}; this Primus reads {BUNDLE_FORMAT}"
                )
            ],
        )
    problems: list[BundleProblem] = []
    recorded = manifest.get("files") if isinstance(manifest.get("files"), dict) else {}
    backend = backend or bundle_backend(bundle)
    frozen = frozen_files(backend.job_config_file)

    for name in frozen:
        if name not in recorded:
            problems.append(BundleProblem(name, "not listed in manifest.json"))
    for name, expected in sorted(recorded.items()):
        file = bundle / name
        if name not in frozen:
            problems.append(BundleProblem(MANIFEST, f"lists {name!r}, which is not a frozen bundle file"))
        elif not file.is_file():
            problems.append(BundleProblem(name, "missing"))
        elif (actual := sha256_file(file)) != expected:
            problems.append(
                BundleProblem(name, f"modified (sha256 {actual[:12]}…, recorded {expected[:12]}…)")
            )
    allowed = {*frozen, MANIFEST, *OUTPUT_DIRS}
    for entry in sorted(bundle.iterdir()):
        if entry.name not in allowed:
            kind = "folder" if entry.is_dir() else "file"
            problems.append(BundleProblem(entry.name, f"unexpected {kind} (not part of the frozen bundle)"))

    if not problems:
        problems.extend(_hash_problems(bundle, manifest, backend))
    if problems:
        raise BundleIntegrityError(bundle, problems)
    if assets:
        check_cached_assets(bundle)


def check_cached_assets(bundle: Path) -> None:
    """Raise ``AssetCacheError`` naming each cached tokenizer/data file the bundle pins that is missing or
    whose sha256 differs from lock.json's; nothing to do for a bundle that pins no assets."""
    problems = cached_asset_problems(bundle)
    if problems:
        count = len(problems)
        lines = "\n".join(f"  {problem}" for problem in problems)
        raise AssetCacheError(
            f"the asset cache does not hold what the bundle pins ({count} file{'s' if count != 1 else ''}):"
            f"\n{lines}",
            file=str(bundle),
            hint="delete the damaged snapshot folder (and the .json manifest beside it), then run "
            "primus-cli assets fetch on the experiment to download the pinned revision again",
        )


def _read_manifest(bundle: Path) -> dict[str, Any]:
    file = bundle / MANIFEST
    if not file.is_file():
        raise BundleIntegrityError(bundle, [BundleProblem(MANIFEST, "missing")])
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BundleIntegrityError(bundle, [BundleProblem(MANIFEST, f"unreadable: {error}")]) from error
    if not isinstance(manifest, dict):
        raise BundleIntegrityError(bundle, [BundleProblem(MANIFEST, "is not a JSON object")])
    return manifest


def _hash_problems(bundle: Path, manifest: dict[str, Any], backend: Backend) -> list[BundleProblem]:
    """Rebuild the hash from the frozen content; catches a file edited together with its manifest entry."""
    try:
        document = _load_yaml(bundle / RESOLVED)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        return [BundleProblem(RESOLVED, f"unreadable: {error}")]
    try:
        lock = json.loads((bundle / LOCK).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return [BundleProblem(LOCK, f"unreadable: {error}")]
    if not isinstance(lock, dict):
        return [BundleProblem(LOCK, "is not a JSON object")]
    runtime = lock.get("runtime") if isinstance(lock.get("runtime"), dict) else {}
    rebuilt = hash_of(
        hash_material(
            document,
            lock.get("env", {}),
            lock.get("packages", {}),
            runtime.get("image_id"),
            _lock_assets_for_hash(lock),
        )
    )
    problems = []
    envelope = document.get("envelope") if isinstance(document, dict) else None
    exp_name = envelope.get("exp_name") if isinstance(envelope, dict) else None
    if manifest.get("exp_name") != exp_name:
        problems.append(
            BundleProblem(
                MANIFEST, f"exp_name {manifest.get('exp_name')!r} differs from resolved.yaml's {exp_name!r}"
            )
        )
    if manifest.get("hash") != rebuilt:
        problems.append(
            BundleProblem(
                MANIFEST,
                f"hash {manifest.get('hash')!r} does not match the content (it hashes to {rebuilt!r})",
            )
        )
    if bundle.name != rebuilt:
        shape = "" if _HASH_NAME.match(bundle.name) else " (a bundle folder is named by its content hash)"
        problems.append(
            BundleProblem(
                ".", f"folder name {bundle.name!r} does not match the content hash {rebuilt!r}{shape}"
            )
        )
    problems.extend(_job_toml_problems(bundle, document, backend))
    return problems


def _job_toml_problems(bundle: Path, document: Any, backend: Backend) -> list[BundleProblem]:
    """The job config must be exactly what resolved.yaml's config renders to (it is not in the hash)."""
    config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(config, dict):
        return [BundleProblem(RESOLVED, "has no config mapping")]
    name = backend.job_config_file
    try:
        written = backend.read_job_config((bundle / name).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:  # tomllib.TOMLDecodeError is a ValueError
        return [BundleProblem(name, f"unreadable: {error}")]
    try:
        expected = backend.read_job_config(backend.job_config_text(config, origin_of=None))
    except (PrimusError, ValueError, TypeError) as error:
        return [
            BundleProblem(RESOLVED, f"its config cannot be rendered as a {backend.name} job config: {error}")
        ]
    if compact_json(written) != compact_json(expected):
        return [BundleProblem(name, "differs from the config in resolved.yaml (edited after freeze)")]
    return []


def _lock_assets_for_hash(lock: dict[str, Any]) -> dict[str, Any] | None:
    from primus.assets import hash_entries_from_lock

    assets = lock.get("assets")
    return hash_entries_from_lock(assets) if isinstance(assets, dict) else None


def cached_asset_problems(bundle: Path) -> list[BundleProblem]:
    """Problems of the tokenizer/data files the bundle pins, in the asset cache of this environment.

    Each names the cached file whose sha256 differs from lock.json's (or that is missing). Empty for a
    bundle that pins no assets. Additive to ``check_bundle``: call it after the bundle itself is intact.
    """
    from primus.assets import cached_problems

    try:
        lock = json.loads((Path(bundle) / LOCK).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []  # check_bundle reports an unreadable lock.json
    assets = lock.get("assets") if isinstance(lock, dict) else None
    if not isinstance(assets, dict) or not assets:
        return []
    return [BundleProblem(str(file), problem) for file, problem in cached_problems(assets)]


def _load_yaml(file: Path) -> Any:
    return yaml.safe_load(file.read_text(encoding="utf-8"))


@dataclass
class FrozenBundle:
    """A verified bundle, loaded: everything the trainer and launcher need, no original YAML required."""

    path: Path
    hash: str
    exp_name: str
    envelope: dict[str, Any]
    module_name: str
    framework: str
    presets: dict[str, str]
    #: the validated config, same nesting as ``ResolvedExperiment.config``
    config: dict[str, Any]
    lock: dict[str, Any]
    #: ``{dotted_key: [{value, file, line, layer}, ...]}``, lowest precedence first
    provenance: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: the backend's job-config file name (``job_config.toml`` for TorchTitan 0.2.2)
    job_config_file: str = JOB_TOML

    @property
    def job_toml(self) -> Path:
        """The job config the backend launches with (TorchTitan's ``--job.config_file``)."""
        return self.path / self.job_config_file

    def origin_of(self, dotted_key: str) -> Origin | None:
        """Where the final value of ``dotted_key`` was set, or None when no layer set it."""
        settings = self.provenance.get(dotted_key)
        if not settings:
            return None
        last = settings[-1]
        return Origin(file=last["file"], line=last["line"], layer=last["layer"])


def load_bundle(path: Path, *, verify: bool = True, backend: Backend | None = None) -> FrozenBundle:
    """Load the bundle at ``path`` (verified with ``check_bundle`` first unless ``verify`` is False)."""
    bundle = Path(path)
    if verify:
        check_bundle(bundle, backend=backend, assets=False)  # cached assets: the train stage checks them
    elif not (bundle / RESOLVED).is_file():
        raise BundleError("no run bundle here (resolved.yaml missing)", file=str(bundle))
    try:
        document = _load_yaml(bundle / RESOLVED)
        manifest = json.loads((bundle / MANIFEST).read_text(encoding="utf-8"))
        return FrozenBundle(
            path=bundle,
            hash=manifest["hash"],
            exp_name=document["envelope"]["exp_name"],
            envelope=document["envelope"],
            module_name=document["module"],
            framework=document["framework"],
            presets=document["presets"],
            config=document["config"],
            lock=json.loads((bundle / LOCK).read_text(encoding="utf-8")),
            provenance=json.loads((bundle / PROVENANCE).read_text(encoding="utf-8")),
            job_config_file=(backend or backend_for(document["framework"])).job_config_file,
        )
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError, KeyError, TypeError) as error:
        # only reachable with verify=False: a verified bundle has exactly the structure freeze wrote
        raise BundleError(
            f"the bundle cannot be read: {type(error).__name__}: {error}",
            file=str(bundle),
            hint=f"run `primus-cli check-bundle {bundle}`, then freeze the experiment again",
        ) from error


def read_resolved(bundle: Path) -> dict[str, Any]:
    """The bundle's resolved document (``resolved.yaml``: envelope, module, framework, presets, config).

    The one reader of that file for later stages: ``BundleError`` (file, line, key) when the folder is not a
    bundle, the YAML does not parse or it has no ``config:`` mapping. Digests are not checked here (that is
    ``check_bundle``), so a stage can report on a bundle a crash left behind.
    """
    bundle = Path(bundle)
    if not bundle.is_dir():
        raise BundleError(
            "no run bundle here",
            file=str(bundle),
            hint=BUNDLE_HINT,
        )
    path = bundle / RESOLVED
    shown = str(path)
    if not path.is_file():
        raise BundleError(
            f"no {RESOLVED}: this folder is not a frozen run bundle",
            file=shown,
            hint=BUNDLE_HINT,
        )
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise BundleError(
            f"cannot read YAML: {getattr(error, 'problem', None) or error}",
            file=shown,
            line=mark.line + 1 if mark else None,
            hint="resolved.yaml is written by freeze; re-freeze the experiment rather than editing it",
        ) from None
    config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(config, dict):
        raise BundleError(
            f"{RESOLVED} has no 'config:' mapping",
            file=shown,
            key="config",
            hint="resolved.yaml is written by freeze; re-freeze the experiment rather than editing it",
        )
    return document


def bundle_backend(bundle: Path) -> Backend:
    """The backend of the framework a bundle was frozen for (the default one when resolved.yaml cannot be
    read: that backend's train or launch then reports what is wrong with the bundle, in its words)."""
    try:
        framework = read_resolved(bundle).get("framework")
    except BundleError:
        framework = None
    return backend_for(framework)
