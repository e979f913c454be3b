"""Freeze a validated experiment into an immutable, content-addressed run bundle.

Safety: the bundle is written into a temporary folder beside its final place (same file system) and
renamed into place in one step, so a crash leaves at most a ``.freeze-*`` folder and never a half bundle.
Freezing the same semantic content again returns the existing bundle untouched; a bundle is never
overwritten. Two processes freezing at once both end with the one bundle the first rename put in place.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from primus import observability
from primus.backend import Backend, backend_for
from primus.bundle.canonical import (
    canonical_json,
    canonical_yaml,
    compact_json,
    json_safe,
    portable_path,
    sha256_text,
)
from primus.bundle.check import check_bundle
from primus.bundle.hashing import (
    canonical_document,
    experiment_folder_name,
    hash_material,
    hash_of,
    pinned_assets,
    pinned_versions,
)
from primus.bundle.layout import (
    BUNDLE_FORMAT,
    LOCK,
    MANIFEST,
    PROVENANCE,
    RESOLVED,
    TMP_PREFIX,
)
from primus.bundle.lock import (
    env_record,
    git_state,
    input_digests,
    is_secret_name,
    runtime_record,
)
from primus.config.model import ResolvedExperiment
from primus.errors import BundleError, BundleWriteError, ConfigValueError


def _semantic_files(backend: Backend) -> dict[str, Callable[[str], Any]]:
    """How to read the files whose content must match when an existing bundle is reused.

    They are compared as parsed data, not bytes, so a bundle written where PyYAML or the backend's writer
    format a value differently still counts as the same run. provenance.json and lock.json may legitimately
    differ (line numbers after a comment edit, input file digests, git commit): the existing ones are kept,
    they describe the freeze that made it.
    """
    return {RESOLVED: yaml.safe_load, backend.job_config_file: backend.read_job_config}


def freeze(
    resolved: ResolvedExperiment,
    config: Mapping[str, Any],
    *,
    runs_dir: Path,
    image_id: str | None = None,
    packages: Mapping[str, str | None] | None = None,
    backend: Backend | None = None,
    assets: Sequence | None = None,
) -> Path:
    """Write ``runs_dir/<exp_name>/<hash>/`` for a validated config and return its path.

    ``config`` is ``primus.validate.validate(resolved)``'s result. ``image_id`` is the container image ID
    when the run uses one (else a host fingerprint is recorded). ``packages`` overrides the detected
    versions (tests and planning for another environment). Returns the existing path, writing nothing,
    when the same content was frozen before. Raises ``BundleError`` when an existing bundle at that path
    was tampered with or differs, and ``ConfigValueError`` for a config the backend's job-config writer
    cannot express. ``backend`` defaults to the one serving ``resolved.framework``.
    ``assets``: the tokenizer/data pins (``primus.assets.fetch``'s result); by default read offline from
    the asset cache, which raises ``AssetCacheError`` for a Hub repository not fetched yet.
    """
    backend = backend or backend_for(resolved.framework)
    exp_dir = Path(runs_dir) / experiment_folder_name(resolved)
    files, bundle_hash = render_bundle(
        resolved, config, image_id=image_id, packages=packages, backend=backend, assets=assets
    )
    final = exp_dir / bundle_hash
    if final.exists() and not _is_empty_folder(final):
        return _reuse_existing(final, files, backend)
    # An empty folder in its place (a workflow engine creates output folders ahead) is replaced by the rename.

    try:
        exp_dir.mkdir(parents=True, exist_ok=True)
        _remove_stale_temps(exp_dir)
        tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{bundle_hash}-", dir=exp_dir))
    except OSError as error:
        raise _write_error(error, exp_dir) from error
    try:
        for name, text in files.items():
            _write_read_only(tmp / name, text)
        tmp.chmod(0o755)  # the bundle folder stays writable: train/ and verify/ are created inside it
        _fsync_dir(tmp)
        try:
            os.rename(tmp, final)
        except OSError as error:
            if error.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            # Another process renamed its identical bundle into place first.
            shutil.rmtree(tmp, ignore_errors=True)
            return _reuse_existing(final, files, backend)
        _fsync_dir(exp_dir)
    except OSError as error:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _write_error(error, exp_dir) from error
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _write_error(error: OSError, exp_dir: Path) -> BundleWriteError:
    return BundleWriteError(
        f"cannot write the run bundle: {error.strerror or error}",
        file=str(exp_dir),
        hint="check that the runs folder is writable and its disk has space; nothing was written",
    )


def render_bundle(
    resolved: ResolvedExperiment,
    config: Mapping[str, Any],
    *,
    image_id: str | None = None,
    packages: Mapping[str, str | None] | None = None,
    backend: Backend | None = None,
    assets: Sequence | None = None,
) -> tuple[dict[str, str], str]:
    """Every bundle file's text (name -> text, manifest last) and the bundle hash; writes nothing.

    The job config is the backend's (``backend`` defaults to the one serving ``resolved.framework``).
    Observability keys (``primus.observability``) are not part of a bundle: they are launch settings.
    """
    from primus.assets import hash_entries

    backend = backend or backend_for(resolved.framework)
    config = observability.without(config)
    document = canonical_document(resolved, config)
    _refuse_plaintext_secrets(resolved, document)
    env = env_record(resolved.env_consumed)
    versions = dict(pinned_versions(resolved, backend) if packages is None else packages)
    job_config = backend.job_config_text(config, origin_of=resolved.origin_of)  # config problems first
    pins = pinned_assets(resolved, config, backend) if assets is None else list(assets)
    bundle_hash = hash_of(hash_material(document, env, versions, image_id, hash_entries(pins)))
    lock_assets = {pin.role: pin.lock_entry() for pin in pins}

    files = {
        RESOLVED: canonical_yaml(document),
        backend.job_config_file: job_config,
        PROVENANCE: canonical_json(_provenance(resolved)),
        LOCK: canonical_json(
            {
                "format": BUNDLE_FORMAT,
                "experiment": portable_path(resolved.path),
                "cli_overrides": list(resolved.cli_overrides),
                "inputs": input_digests(resolved.inputs),
                "env": env,
                # the experiment's env: (and direct --env), set for the training processes
                "run_env": dict(sorted((resolved.envelope.get("env") or {}).items())),
                "packages": versions,
                "runtime": runtime_record(image_id),
                "git": git_state(Path(resolved.path).resolve()),
                **({"assets": lock_assets} if lock_assets else {}),
            }
        ),
    }
    files[MANIFEST] = canonical_json(
        {
            "format": BUNDLE_FORMAT,
            "hash": bundle_hash,
            "exp_name": resolved.envelope.get("exp_name"),
            "files": {name: sha256_text(text) for name, text in files.items()},
        }
    )
    return files, bundle_hash


#: Shorter secret values are not searched for: they would match ordinary words and numbers by chance.
_MIN_SECRET_LENGTH = 4


def secret_values(resolved: ResolvedExperiment) -> dict[str, str]:
    """``{name: value}`` of the secret-looking env vars the config consumed (what must never be shown)."""
    return {
        name: value
        for name, value in resolved.env_consumed.items()
        if value and len(value) >= _MIN_SECRET_LENGTH and is_secret_name(name)
    }


def redact(text: str, resolved: ResolvedExperiment) -> str:
    """``text`` with every consumed secret's value replaced by ``<$NAME, not shown>``."""
    for name, value in secret_values(resolved).items():
        text = text.replace(value, f"<${name}, not shown>")
    return text


def plaintext_secret_error(
    resolved: ResolvedExperiment, config: Mapping[str, Any]
) -> ConfigValueError | None:
    """The error freeze would raise for a secret's value inside the config, or None (writes nothing)."""
    try:
        _refuse_plaintext_secrets(resolved, canonical_document(resolved, config))
    except ConfigValueError as error:
        return error
    return None


def _refuse_plaintext_secrets(resolved: ResolvedExperiment, document: Mapping[str, Any]) -> None:
    """Refuse a config that carries a secret-looking env var's value: the bundle would store it in clear.

    lock.json keeps only a digest of such variables; a ``${WANDB_API_KEY}`` inside a config value would
    still copy the secret into resolved.yaml, job_config.toml and provenance.json.
    """
    secrets = secret_values(resolved)
    if not secrets:
        return
    for dotted, value in _string_leaves(document, ""):
        for name, secret in secrets.items():
            if secret in value:
                key = dotted.removeprefix("config.")
                origin = resolved.origin_of(key)
                raise ConfigValueError(
                    f"contains the value of ${{{name}}}, which would be written in clear into the run bundle",
                    file=origin.file if origin else None,
                    line=origin.line if origin else None,
                    key=key,
                    hint=f"do not put {name} into the config; let the training job read it from its "
                    "environment (the bundle records only its sha256)",
                )


def _string_leaves(node: Any, dotted: str):
    if isinstance(node, str):
        yield dotted, node
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield from _string_leaves(value, f"{dotted}.{key}" if dotted else key)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _string_leaves(value, f"{dotted}[{index}]")


def _provenance(resolved: ResolvedExperiment) -> dict[str, list[dict[str, Any]]]:
    """``{dotted_key: [{value, file, line, layer}, ...]}``, lowest precedence first.

    Each entry overrides the one before it; the last is the value in the config.
    """
    return {
        key: [
            {
                "value": json_safe(setting.value),
                "file": portable_path(setting.origin.file),
                "line": setting.origin.line,
                "layer": setting.origin.layer,
            }
            for setting in settings
        ]
        for key, settings in resolved.provenance.items()
        if not observability.is_observability_key(key)
    }


def _reuse_existing(final: Path, files: Mapping[str, str], backend: Backend) -> Path:
    """Return ``final`` if it is an intact bundle of the same content; never modify it."""
    try:
        check_bundle(final, backend=backend, assets=False)
    except BundleError as error:
        raise BundleError(
            f"a bundle with this hash already exists but is damaged:\n{error.message}",
            file=str(final),
            hint=f"inspect it, then delete {final} and freeze again; a bundle is never overwritten",
        ) from error
    for name, parse in _semantic_files(backend).items():
        existing = parse((final / name).read_text(encoding="utf-8"))
        if compact_json(existing) != compact_json(parse(files[name])):
            raise BundleError(
                f"a bundle with this hash already exists with a different {name}",
                file=str(final / name),
                hint="this means a hash collision or a bundle written by another Primus version; "
                f"move {final} away and freeze again",
            )
    return final


#: A temporary folder older than this (seconds) belongs to a freeze that was killed: writing one takes
#: milliseconds, so no live freeze can still own it.
STALE_TEMP_AGE_S = 600


def _remove_stale_temps(exp_dir: Path) -> None:
    """Delete ``.freeze-*`` folders left by killed freezes, so only bundles remain under runs/<exp>/."""
    now = time.time()
    for entry in exp_dir.glob(f"{TMP_PREFIX}*"):
        try:
            if now - entry.stat().st_mtime > STALE_TEMP_AGE_S:
                shutil.rmtree(entry, ignore_errors=True)
        except FileNotFoundError:
            pass  # another freeze removed it first


def _is_empty_folder(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def _write_read_only(path: Path, text: str) -> None:
    with open(path, "x", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    path.chmod(0o444)


def _fsync_dir(path: Path) -> None:
    """Persist a folder's entries (the new files, the rename) so a power loss cannot undo them."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
