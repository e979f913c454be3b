"""Talk to the Hugging Face Hub with huggingface_hub's own client: resolve a revision, download files.

The endpoint is ``$HF_ENDPOINT`` (default https://huggingface.co); the token is ``$HF_TOKEN`` and nothing
else: it is passed to the client for the request, never written anywhere, never printed (any message
the client builds is scrubbed of it), and a token saved by ``hf auth login`` is not used.
"""

from __future__ import annotations

import errno
from collections.abc import Mapping
from pathlib import Path

from primus.assets.sources import AssetSource
from primus.errors import AssetError, AssetFetchError

DEFAULT_ENDPOINT = "https://huggingface.co"


class HubClient:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.endpoint = (env.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
        self._token = env.get("HF_TOKEN") or None

    def resolve(self, source: AssetSource) -> tuple[str, list[str]]:
        """``(commit sha, every file path in the repository at that commit)`` for the requested revision."""
        from huggingface_hub import HfApi

        api = HfApi(endpoint=self.endpoint, token=self._token or False)
        try:
            info = api.repo_info(source.repo_id, repo_type=source.repo_type, revision=source.revision)
        except Exception as error:  # every client failure becomes one clear message below
            raise self._explain(error, source) from None
        files = [sibling.rfilename for sibling in (info.siblings or [])]
        return str(info.sha), files

    def download(self, source: AssetSource, commit: str, path: str, folder: Path) -> Path:
        """Download ``path`` at ``commit`` into ``folder`` (a staging folder); returns the file."""
        from huggingface_hub import hf_hub_download

        try:
            return Path(
                hf_hub_download(
                    source.repo_id,
                    path,
                    repo_type=source.repo_type,
                    revision=commit,
                    local_dir=folder,
                    endpoint=self.endpoint,
                    token=self._token or False,
                )
            )
        except Exception as error:  # see resolve
            raise self._explain(error, source, path=path, commit=commit) from None

    # ------------------------------------------------------------------------------------------ errors

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    def _explain(
        self, error: Exception, source: AssetSource, *, path: str | None = None, commit: str | None = None
    ) -> AssetError:
        from huggingface_hub import errors as hub_errors

        repo = f"{source.repo_type} repository {source.repo_id}"
        status = getattr(getattr(error, "response", None), "status_code", None)
        where = f"{self.endpoint}"
        if _disk_full(error):
            return AssetFetchError(
                "the disk holding the asset cache filled up during the download",
                key=source.key,
                hint="free space or point PRIMUS_DATA_PATH (or DATA_PATH) at a larger disk; the partial "
                "download was removed",
            )
        if isinstance(error, hub_errors.GatedRepoError):
            return source.error(
                f"{repo} is gated: its terms must be accepted on the Hub before it can be downloaded",
                hint=f"accept them on {where}/{source.repo_id}, then set HF_TOKEN to a token of that account",
                cls=AssetFetchError,
            )
        if status == 401:
            given = "the token in HF_TOKEN was refused" if self._token else "HF_TOKEN is not set"
            return source.error(
                f"{where} asks for authentication to read {repo} (HTTP 401): {given}",
                hint="export HF_TOKEN=<a read token of an account with access> (it is read from the "
                "environment only, and never stored or printed)",
                cls=AssetFetchError,
            )
        if isinstance(error, hub_errors.RevisionNotFoundError):
            return source.error(
                f"revision {source.revision!r} does not exist in {repo}",
                hint=f"use a branch, tag or commit of {source.repo_id} (see {where}/{source.repo_id}), "
                "or leave out @REVISION for main",
            )
        if isinstance(error, hub_errors.RemoteEntryNotFoundError | hub_errors.EntryNotFoundError):
            return source.error(
                f"{path!r} does not exist in {repo} at revision {commit or source.revision}",
                hint="the repository changed between listing and download; fetch again",
            )
        if isinstance(error, hub_errors.RepositoryNotFoundError):
            return source.error(
                f"{repo} does not exist on {where}",
                hint="check the spelling of ORG/NAME (and hf://datasets/ for a dataset); a private "
                "repository also answers this way without HF_TOKEN",
            )
        if isinstance(error, hub_errors.HfHubHTTPError):
            return source.error(
                f"the Hub at {where} answered {status or 'an error'} for {repo}: "
                f"{self._scrub(str(error).splitlines()[0])}",
                hint="try again later; nothing was written to the asset cache",
                cls=AssetFetchError,
            )
        return source.error(
            f"cannot reach the Hub at {where} to fetch {repo}: {self._scrub(_reason(error))}",
            hint="check the network (or HF_ENDPOINT); nothing was written to the asset cache. A bundle "
            "whose assets are cached trains without a network",
            cls=AssetFetchError,
        )


def _chain(error: BaseException):
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def _disk_full(error: BaseException) -> bool:
    return any(isinstance(e, OSError) and e.errno == errno.ENOSPC for e in _chain(error))


def _reason(error: BaseException) -> str:
    for item in _chain(error):
        if isinstance(item, OSError) and item.strerror:
            return item.strerror
    return f"{type(error).__name__}: {error}".splitlines()[0]
