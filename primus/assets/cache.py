"""The content-addressed asset cache: every file once, named by its sha256, plus read-only snapshot views.

Layout under the root (``$PRIMUS_DATA_PATH/assets``, else ``$DATA_PATH/assets``, else
``${XDG_CACHE_HOME:-~/.cache}/primus/assets``)::

    blobs/<sha256>                          each file's bytes, read-only
    snapshots/<namespace>/<snapshot>/...    the files of one pinned source under their own names
                                            (hard links to the blobs, so a view costs no space)
    snapshots/<namespace>/<snapshot>.json   its manifest: {relative path: sha256}; written last, so a
                                            snapshot without one is incomplete and is never used
    refs/<namespace>/<branch or tag>        the commit a branch or tag resolved to at the last fetch
    locks/<namespace>.lock                  held while a repository is fetched (one fetch at a time)
    digests/<key>                           sha256 of a local file, keyed by its path, inode, size and
                                            mtime, so planning does not re-read a large local corpus
    tmp/                                    staging; a failed fetch removes what it staged

``namespace`` is ``models--ORG--NAME`` / ``datasets--ORG--NAME`` for Hub repositories (as
huggingface_hub names them) and ``local`` for local folders (their snapshot is named by the digest of
their manifest). Every write is a rename of a complete file or folder, so a killed or failed fetch
leaves nothing half-written where a reader looks.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from filelock import FileLock, Timeout

from primus.errors import AssetCacheError, AssetFetchError

#: A local file modified less than this long ago (seconds) is digested again next time instead of being
#: remembered (the "racy" window of file-system timestamps, as git treats it).
RACY_WINDOW_S = 2.0
#: How long a fetch waits for another fetch of the same repository (seconds).
LOCK_TIMEOUT_S = 3600
MANIFEST_SUFFIX = ".json"


def cache_root(env: Mapping[str, str] | None = None) -> Path:
    """Where the asset cache lives for this environment (see the module docstring)."""
    env = os.environ if env is None else env
    for name in ("PRIMUS_DATA_PATH", "DATA_PATH"):
        if env.get(name):
            return Path(env[name]).expanduser() / "assets"
    base = Path(env["XDG_CACHE_HOME"]).expanduser() if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "primus" / "assets"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def namespace_of(repo_type: str | None, repo_id: str | None) -> str:
    """``models--ORG--NAME`` / ``datasets--ORG--NAME`` (huggingface_hub's names); ``local`` without a repo."""
    return f"{repo_type}s--{repo_id.replace('/', '--')}" if repo_id else "local"


def selection_digest(files: Mapping[str, str]) -> str:
    """The digest of a file set (sorted ``path sha256`` lines): names a local snapshot."""
    text = "".join(f"{path} {digest}\n" for path, digest in sorted(files.items()))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class AssetCache:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AssetCache:
        return cls(cache_root(env))

    # ------------------------------------------------------------------------------------------- paths

    def snapshot_dir(self, namespace: str, snapshot: str) -> Path:
        return self.root / "snapshots" / namespace / snapshot

    def _manifest_path(self, namespace: str, snapshot: str) -> Path:
        return self.root / "snapshots" / namespace / (snapshot + MANIFEST_SUFFIX)

    def _ref_path(self, namespace: str, ref: str) -> Path:
        return self.root / "refs" / namespace / quote(ref, safe="")

    # ------------------------------------------------------------------------------------------- reads

    def read_ref(self, namespace: str, ref: str) -> str | None:
        try:
            return self._ref_path(namespace, ref).read_text(encoding="utf-8").strip() or None
        except FileNotFoundError:
            return None

    def manifest(self, namespace: str, snapshot: str) -> dict[str, str] | None:
        """``{path: sha256}`` of a complete snapshot, None when there is none (or it is incomplete)."""
        try:
            data = json.loads(self._manifest_path(namespace, snapshot).read_text(encoding="utf-8"))
        except (FileNotFoundError, NotADirectoryError):
            return None
        except (OSError, ValueError) as error:
            raise AssetCacheError(
                f"unreadable asset manifest: {error}",
                file=str(self._manifest_path(namespace, snapshot)),
                hint="delete that file and its folder beside it, then fetch again",
            ) from error
        files = data.get("files") if isinstance(data, dict) else None
        return dict(files) if isinstance(files, dict) else None

    def present(self, namespace: str, snapshot: str, files: Mapping[str, str]) -> bool:
        """True when the snapshot's manifest lists exactly ``files`` and every file exists."""
        if self.manifest(namespace, snapshot) != dict(files):
            return False
        folder = self.snapshot_dir(namespace, snapshot)
        return all((folder / path).is_file() for path in files)

    def problems(self, namespace: str, snapshot: str, files: Mapping[str, str]) -> list[tuple[Path, str]]:
        """``(cached file, what is wrong)`` for every file of ``files`` that is missing or differs."""
        folder = self.snapshot_dir(namespace, snapshot)
        found: list[tuple[Path, str]] = []
        for path, expected in sorted(files.items()):
            file = folder / path
            if not file.is_file():
                found.append((file, "missing from the asset cache"))
                continue
            actual = sha256_of(file)
            if actual != expected:
                found.append((file, f"modified (sha256 {actual[:12]}…, pinned {expected[:12]}…)"))
        return found

    def known_digest(self, file: Path) -> str | None:
        """The sha256 a fetch recorded for this local file, while its size, inode and mtime are unchanged."""
        memo = self._digest_memo(file)
        try:
            text = memo.read_text(encoding="ascii").strip() if memo else ""
        except (OSError, UnicodeDecodeError):
            return None
        return text if len(text) == 64 else None

    def remember_digest(self, file: Path, digest: str) -> None:
        """Record a local file's sha256 (best effort: a cache that cannot take it just re-reads the file)."""
        memo = self._digest_memo(file, recent_ok=False)
        if memo is not None:
            with contextlib.suppress(OSError):
                self._write_atomic(memo, digest + "\n")

    def _digest_memo(self, file: Path, *, recent_ok: bool = True) -> Path | None:
        try:
            stat = Path(file).stat()
        except OSError:
            return None
        if not recent_ok and time.time() - stat.st_mtime < RACY_WINDOW_S:
            return None  # modified just now: a same-size rewrite within the mtime tick would go unseen
        key = f"{Path(file).resolve()}\0{stat.st_dev}\0{stat.st_ino}\0{stat.st_size}\0{stat.st_mtime_ns}"
        return self.root / "digests" / hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()

    # ------------------------------------------------------------------------------------------ writes

    @contextmanager
    def locked(self, namespace: str) -> Iterator[None]:
        """Hold the lock of one repository (another process fetching it waits here)."""
        locks = self.root / "locks"
        self._mkdir(locks)
        lock = FileLock(str(locks / f"{namespace}.lock"), timeout=LOCK_TIMEOUT_S)
        try:
            with lock:
                yield
        except Timeout:
            raise AssetFetchError(
                f"another fetch of {namespace} has held its lock for {LOCK_TIMEOUT_S} s",
                file=str(locks / f"{namespace}.lock"),
                hint="wait for it to finish, or stop it; a killed fetch releases the lock",
            ) from None

    @contextmanager
    def staging(self) -> Iterator[Path]:
        """A fresh folder on the cache's file system, removed afterwards whatever happens."""
        tmp = self.root / "tmp"
        self._mkdir(tmp)
        try:
            folder = Path(tempfile.mkdtemp(prefix="fetch-", dir=tmp))
        except OSError as error:
            raise self.write_error(error) from error
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def publish(self, namespace: str, snapshot: str, staged: Mapping[str, Path], meta: Mapping) -> dict:
        """Move staged files into the blobs, build the snapshot view, then write its manifest.

        ``staged`` maps each relative path to a complete file inside a ``staging()`` folder. Returns
        ``{path: sha256}``. Call with the namespace lock held.
        """
        files: dict[str, str] = {}
        try:
            blobs = self.root / "blobs"
            self._mkdir(blobs)
            for path, file in sorted(staged.items()):
                digest = sha256_of(file)
                blob = blobs / digest
                if not blob.is_file():
                    file.chmod(0o444)
                    os.replace(file, blob)  # same file system: atomic, never a partial blob
                files[path] = digest
            final = self.snapshot_dir(namespace, snapshot)
            if final.exists():  # an incomplete view (no manifest) left by a crash, or a damaged one
                shutil.rmtree(final)
            view = Path(tempfile.mkdtemp(prefix="view-", dir=self.root / "tmp"))
            try:
                for path, digest in files.items():
                    target = view / path
                    target.parent.mkdir(parents=True, exist_ok=True)
                    _link_or_copy(blobs / digest, target)
                self._mkdir(final.parent)
                os.rename(view, final)
            except BaseException:
                shutil.rmtree(view, ignore_errors=True)
                raise
            self._write_atomic(
                self._manifest_path(namespace, snapshot),
                json.dumps({**meta, "files": files}, indent=2) + "\n",
            )
        except OSError as error:
            if not self._manifest_path(namespace, snapshot).exists():
                shutil.rmtree(self.snapshot_dir(namespace, snapshot), ignore_errors=True)
            raise self.write_error(error) from error
        return files

    def write_ref(self, namespace: str, ref: str, commit: str) -> None:
        try:
            self._write_atomic(self._ref_path(namespace, ref), commit + "\n")
        except OSError as error:
            raise self.write_error(error) from error

    def write_error(self, error: OSError) -> AssetFetchError:
        if error.errno == errno.ENOSPC:
            message = "the disk holding the asset cache is full"
        else:
            message = f"cannot write the asset cache: {error.strerror or error}"
        return AssetFetchError(
            message,
            file=str(self.root),
            hint="free space or point PRIMUS_DATA_PATH (or DATA_PATH) at a larger disk; nothing "
            "half-written was left in the cache",
        )

    def _mkdir(self, path: Path) -> None:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise self.write_error(error) from error

    def _write_atomic(self, path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError as error:
        if error.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
        shutil.copyfile(source, target)
        target.chmod(0o444)
