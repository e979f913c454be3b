"""Pin an experiment's tokenizer and data: fetch them into the cache, or read the pins offline.

``fetch`` may use the network (the assets stage); ``pin_offline`` never does (freeze and planning): a Hub
source must have been fetched, and the commit its branch resolved to then is the one pinned, until
``fetch(update=True)`` moves it, as a lock file would. Local sources are digested where they are and
copied into the cache by ``fetch``, so a frozen bundle trains from the cache whatever happens to the
original folder.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from primus.assets.cache import AssetCache, namespace_of, selection_digest, sha256_of
from primus.assets.hub import HubClient
from primus.assets.sources import AssetSource, parse_source
from primus.config.model import Origin
from primus.errors import AssetCacheError, AssetFetchError

#: Files of a repository never fetched for a dataset (git bookkeeping).
_IGNORED = (".gitattributes",)


@dataclass(frozen=True)
class PinnedAsset:
    """One pinned input, as lock.json records it (``lock_entry``) and as the bundle hash covers it."""

    role: str
    key: str
    source: str  # "hub", "local" or "stream" (recorded, not pinned: no revision, no files)
    value: str  # the config value as written
    files: dict[str, str]  # relative path -> sha256
    repo: str | None = None
    repo_type: str | None = None
    requested: str | None = None  # the revision asked for (a branch, tag or commit)
    revision: str | None = None  # the commit it resolved to (hub); the digest of ``files`` (local)
    selection: str = ""  # which files of the repository: "tokenizer", "all" or "pattern:GLOB"
    cached: bool = field(default=False, compare=False)  # True when this fetch made no request

    @property
    def namespace(self) -> str:
        return namespace_of(self.repo_type, self.repo)

    @property
    def snapshot(self) -> str:
        # One commit can be pinned with different file selections (tokenizer files, a data pattern).
        if self.repo:
            return f"{self.revision}.{hashlib.sha256(self.selection.encode()).hexdigest()[:12]}"
        return str(self.revision)

    def lock_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"key": self.key, "source": self.source, "value": self.value}
        if self.repo:
            entry.update(
                repo=self.repo, repo_type=self.repo_type, requested=self.requested, selection=self.selection
            )
        entry.update(revision=self.revision, files=dict(sorted(self.files.items())))
        return entry


def hash_entries(pinned: Sequence[PinnedAsset]) -> dict[str, Any]:
    """What the bundle hash covers of the pins: repository, resolved revision, each file's sha256.

    Not the requested branch name, not a local path: the same bytes pinned two ways are the same run.
    """
    return {
        asset.role: {
            "source": asset.source,
            "repo": asset.repo,
            "repo_type": asset.repo_type,
            "revision": asset.revision,
            "files": dict(sorted(asset.files.items())),
        }
        for asset in pinned
    }


def hash_entries_from_lock(lock_assets: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``hash_entries`` rebuilt from lock.json's ``assets`` (check-bundle), None when there are none."""
    return hash_entries(pins_from_lock(lock_assets)) or None


def sources_of(
    config: Mapping[str, Any],
    *,
    origin_of: Callable[[str], Origin | None] = lambda key: None,
    base_dir: Path | None = None,
    backend: Any = None,
) -> list[AssetSource]:
    """The sources a validated config reads (none with mock data); ``AssetError`` for a bad reference.

    ``backend`` (default: the default framework's) says which keys name them (``Backend.assets``); a
    backend without ``assets`` reads none.
    """
    from primus.backend import backend_for

    backend = backend or backend_for()
    layout = getattr(backend, "assets", None)
    if layout is None:
        return []

    def default_of(key: str) -> Any:
        try:
            return backend.default_of(key)
        except KeyError:
            return None

    base = Path.cwd() if base_dir is None else Path(base_dir)
    return [
        parse_source(reference, base_dir=base, origin=origin_of(reference.key), layout=layout)
        for reference in layout.references(config, default_of=default_of)
    ]


def _layout() -> Any:
    from primus.backend import backend_for

    return backend_for().assets


def _stream_pin(source: AssetSource) -> PinnedAsset:
    """A dataset streamed from the Hub at train time: its repository is recorded, no revision, no files."""
    return PinnedAsset(
        role=source.role,
        key=source.key,
        source="stream",
        value=source.value,
        files={},
        repo=source.repo_id,
        repo_type=source.repo_type,
        requested=None,
        revision=None,
        cached=True,
    )


# ------------------------------------------------------------------------------------------- offline


def pin_offline(sources: Sequence[AssetSource], *, env: Mapping[str, str] | None = None) -> list[PinnedAsset]:
    """The pins of ``sources`` without any network: Hub ones from the cache, local ones digested now.

    Raises ``AssetCacheError`` naming the command to run when a Hub source was never fetched.
    """
    cache = AssetCache.from_env(env)
    pinned = []
    for source in sources:
        if source.kind == "local":
            pinned.append(_pin_local(source, cache))
            continue
        if source.kind == "stream":
            pinned.append(_stream_pin(source))
            continue
        commit = source.revision if source.is_commit else cache.read_ref(source.namespace, source.revision)
        found = _cached_hub_pin(cache, source, commit) if commit else None
        if found is None:
            raise source.error(
                f"{source.repo_type} repository {source.repo_id}@{source.revision} is not in the asset "
                f"cache ({cache.root})",
                hint="fetch it first: primus-cli assets fetch CONFIG (snakemake runs it before freezing)",
                cls=AssetCacheError,
            )
        pinned.append(found)
    return pinned


def _cached_hub_pin(cache: AssetCache, source: AssetSource, commit: str) -> PinnedAsset | None:
    """The pin of ``source`` at ``commit`` when a complete snapshot of its selection is cached."""
    probe = _hub_pin(source, commit, {}, cached=True)
    files = cache.manifest(source.namespace, probe.snapshot)
    if files is None or not cache.present(source.namespace, probe.snapshot, files):
        return None
    return _hub_pin(source, commit, files, cached=True)


def selection_of(source: AssetSource) -> str:
    if source.role == "tokenizer":
        return "tokenizer"
    return f"pattern:{source.pattern}" if source.pattern else "all"


def _hub_pin(source: AssetSource, commit: str, files: Mapping[str, str], *, cached: bool) -> PinnedAsset:
    return PinnedAsset(
        role=source.role,
        key=source.key,
        source="hub",
        value=source.value,
        files=dict(files),
        repo=source.repo_id,
        repo_type=source.repo_type,
        requested=source.revision,
        revision=commit,
        selection=selection_of(source),
        cached=cached,
    )


def _local_files(source: AssetSource) -> dict[str, Path]:
    path = source.path
    assert path is not None
    if path.is_file():
        return {path.name: path}
    if source.role == "tokenizer":
        return {name: path / name for name in _layout().tokenizer_files if (path / name).is_file()}
    return {
        item.relative_to(path).as_posix(): item
        for item in sorted(path.rglob("*"))
        if item.is_file() and not any(part.startswith(".") for part in item.relative_to(path).parts)
    }


def _pin_local(source: AssetSource, cache: AssetCache) -> PinnedAsset:
    """The pin of a local source: each file's sha256 (as remembered by the last fetch while the file is
    unchanged, so planning does not re-read a large local corpus)."""
    files = {name: cache.known_digest(file) or sha256_of(file) for name, file in _local_files(source).items()}
    return PinnedAsset(
        role=source.role,
        key=source.key,
        source="local",
        value=source.value,
        files=files,
        revision=selection_digest(files),
    )


# ------------------------------------------------------------------------------------------- fetch


def fetch(
    sources: Sequence[AssetSource],
    *,
    env: Mapping[str, str] | None = None,
    update: bool = False,
    log: Callable[[str], None] | None = None,
) -> list[PinnedAsset]:
    """Pin every source, downloading what the cache lacks; returns the pins in ``sources`` order.

    A branch or tag resolved before is not asked about again unless ``update`` (then it is re-resolved and
    a new commit gives a new pin, hence a new bundle). With ``HF_HUB_OFFLINE=1`` nothing is requested and a
    missing repository is an ``AssetCacheError``. Every source is resolved and checked before anything is
    downloaded, so a bad reference writes nothing; any failure leaves no partial file in the cache.
    """
    env = os.environ if env is None else env
    log = log or (lambda text: print(text, file=sys.stderr))
    cache = AssetCache.from_env(env)
    client = HubClient(env)
    offline = str(env.get("HF_HUB_OFFLINE", "")).lower() in ("1", "true", "yes", "on")
    plans = [
        _plan(cache, client, source, update=update and not offline, offline=offline) for source in sources
    ]
    pinned = []
    for source, plan in zip(sources, plans, strict=True):
        if source.kind == "stream":
            # validation warned already (--strict refuses it); lock.json records the repository only
            pin = plan
        elif source.kind == "local":
            pin = _ingest_local(cache, source, plan)
        elif isinstance(plan, PinnedAsset):
            pin = plan
        else:
            pin = _download_hub(cache, client, source, *plan)
        if source.kind != "stream":
            state = "cached" if pin.cached else "fetched"
            what = f"{pin.repo}@{pin.revision}" if pin.repo else f"{pin.value} (sha256 {pin.revision[:12]}…)"
            count = len(pin.files)
            log(f"{state}: {pin.role} {what}, {count} file{'s' if count != 1 else ''}")
        pinned.append(pin)
    return pinned


def _plan(cache: AssetCache, client: HubClient, source: AssetSource, *, update: bool, offline: bool):
    """A pin already in the cache, or ``(commit, files to download)`` for a Hub source (no writes)."""
    if source.kind == "stream":
        return _stream_pin(source)
    if source.kind == "local":
        return _pin_local(source, cache)
    known = (
        source.revision
        if source.is_commit
        else (None if update else cache.read_ref(source.namespace, source.revision))
    )
    hit = _cached_hub_pin(cache, source, known) if known else None
    if hit is not None:
        return hit
    if offline:
        raise source.error(
            f"{source.repo_id}@{source.revision} is not in the asset cache ({cache.root}) and HF_HUB_OFFLINE "
            "is set",
            hint="fetch it on a machine with network access to the Hub (primus-cli assets fetch CONFIG), or "
            "unset HF_HUB_OFFLINE",
            cls=AssetCacheError,
        )
    commit, listing = client.resolve(source)
    hit = _cached_hub_pin(cache, source, commit)
    if hit is not None:
        if not source.is_commit:
            cache.write_ref(source.namespace, source.revision, commit)
        return PinnedAsset(**{**hit.__dict__, "cached": False})
    return commit, _selection(source, listing, commit=commit)


def _ingest_local(cache: AssetCache, source: AssetSource, pin: PinnedAsset) -> PinnedAsset:
    with cache.locked("local"):
        if cache.present("local", pin.snapshot, pin.files):
            for name, file in _local_files(source).items():
                cache.remember_digest(file, pin.files[name])
            return PinnedAsset(**{**pin.__dict__, "cached": True})
        with cache.staging() as staging:
            staged = {}
            for name, file in _local_files(source).items():
                target = staging / name
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    shutil.copyfile(file, target)
                except OSError as error:
                    raise cache.write_error(error) from error
                staged[name] = target
            files = cache.publish("local", pin.snapshot, staged, {"source": "local", "value": source.value})
    if files != pin.files:
        raise source.error(
            f"{source.value} changed while it was being copied into the asset cache",
            hint="fetch again once nothing writes to it",
            cls=AssetFetchError,
        )
    for name, file in _local_files(source).items():
        cache.remember_digest(file, files[name])
    return pin


def _download_hub(
    cache: AssetCache, client: HubClient, source: AssetSource, commit: str, wanted: Sequence[str]
) -> PinnedAsset:
    """Download ``wanted`` at ``commit`` into the cache, unless another fetch did while this one waited."""
    with cache.locked(source.namespace):
        pin = _cached_hub_pin(cache, source, commit)
        if pin is None:
            with cache.staging() as staging:
                staged = {path: client.download(source, commit, path, staging) for path in wanted}
                files = {path: sha256_of(file) for path, file in staged.items()}
                pin = _hub_pin(source, commit, files, cached=False)
                meta = {
                    "source": "hub",
                    "repo": source.repo_id,
                    "repo_type": source.repo_type,
                    "commit": commit,
                }
                cache.publish(source.namespace, pin.snapshot, staged, meta)
        else:
            pin = PinnedAsset(**{**pin.__dict__, "cached": False})
        if not source.is_commit:
            cache.write_ref(source.namespace, source.revision, commit)
        return pin


def _selection(source: AssetSource, listing: Sequence[str], *, commit: str) -> list[str]:
    """The repository files ``source`` takes: the tokenizer files, or the dataset files (its pattern)."""
    if source.role == "tokenizer":
        layout = _layout()
        chosen = sorted(path for path in listing if path in layout.tokenizer_files)
        if not any(name in chosen for name in layout.tokenizer_required):
            raise source.error(
                f"{source.repo_id} has no tokenizer file at revision {source.revision} ({commit[:12]}): "
                f"none of {', '.join(layout.tokenizer_required)} is in it",
                hint="pick a revision (or repository) that holds tokenizer.json; model weights are never "
                "fetched",
            )
        return chosen
    pattern = source.pattern
    chosen = sorted(
        path
        for path in listing
        if path not in _IGNORED
        and (
            pattern is None
            or fnmatch.fnmatchcase(path, pattern)
            or path.startswith(pattern.rstrip("/") + "/")
        )
    )
    if not chosen:
        inside = f" matching {pattern!r}" if pattern else ""
        raise source.error(
            f"{source.repo_id} has no file{inside} at revision {source.revision} ({commit[:12]})",
            hint="check the path after the revision against the repository's files on the Hub",
        )
    return chosen


# ------------------------------------------------------------------------------------------- train side


def cached_problems(lock_assets: Mapping[str, Any] | None, *, env: Mapping[str, str] | None = None):
    """``(cached file, problem)`` for every pinned file that is missing from the cache or differs."""
    cache = AssetCache.from_env(env)
    found = []
    for pin in pins_from_lock(lock_assets):
        found.extend(cache.problems(pin.namespace, pin.snapshot, pin.files))
    return found


def pins_from_lock(lock_assets: Mapping[str, Any] | None) -> list[PinnedAsset]:
    """The pins a bundle's lock.json records (entries that are not mappings are skipped: a forged
    lock.json then fails the bundle's hash check instead of crashing it)."""
    pins = []
    for role, entry in sorted((lock_assets or {}).items()):
        if not isinstance(entry, Mapping):
            continue
        pins.append(
            PinnedAsset(
                role=role,
                key=entry.get("key", ""),
                source=entry.get("source", ""),
                value=entry.get("value", ""),
                files=dict(entry.get("files") or {}),
                repo=entry.get("repo"),
                repo_type=entry.get("repo_type"),
                requested=entry.get("requested"),
                revision=entry.get("revision"),
                selection=entry.get("selection", ""),
            )
        )
    return pins


def streams_from_hub(lock_assets: Mapping[str, Any] | None) -> bool:
    """True when a pinned role is a dataset TorchTitan streams from the Hub (training then needs network)."""
    return any(pin.source == "stream" for pin in pins_from_lock(lock_assets))


def training_paths(
    lock_assets: Mapping[str, Any] | None, *, env: Mapping[str, str] | None = None
) -> dict[str, Path]:
    """``{role: the cached path TorchTitan reads instead of the configured value}``."""
    cache = AssetCache.from_env(env)
    paths = {}
    for pin in pins_from_lock(lock_assets):
        if pin.source == "stream":
            continue  # TorchTitan streams it from the Hub itself
        folder = cache.snapshot_dir(pin.namespace, pin.snapshot)
        # A folder even for a single local file: TorchTitan's loaders take a dataset folder.
        paths[pin.role] = folder
    return paths
