"""What a config value names: a Hub repository at a revision, or a local file or folder (no I/O beyond
``stat``).

Forms (``REV`` is a branch, tag or commit; without it ``main``):
- ``hf://ORG/NAME[@REV]``, ``hf://models/ORG/NAME[@REV]``: a model repository (its tokenizer files);
- ``hf://datasets/ORG/NAME[@REV][/PATTERN]``: a dataset repository, every file, or those matching the glob
  ``PATTERN`` (a folder name takes the files under it);
- ``ORG/NAME[@REV]`` in ``model.hf_assets_path``, as Primus configs write it (``meta-llama/Llama-3.1-8B``),
  unless a local folder of that name exists;
- anything else is a local path, relative to the directory training runs in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from primus.config.model import Origin
from primus.errors import AssetError

HUB_SCHEME = "hf://"


def stream_hint(source: AssetSource) -> str:
    """How to pin a dataset TorchTitan would otherwise stream from the Hub."""
    section = source.key.split(".")[0]
    return (
        f"pin a copy instead: {section}.dataset_path: hf://datasets/{source.repo_id}@COMMIT/PATTERN (e.g. "
        f"hf://datasets/{source.repo_id}@main/en/c4-train.0000[0-3]-of-01024.json.gz; the commit main "
        "resolves to is recorded), or a local folder"
    )


DEFAULT_REVISION = "main"
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class AssetSource:
    """One input to pin. ``kind`` is ``"hub"`` (``repo_id``, ``repo_type``, ``revision`` as requested,
    ``pattern``), ``"local"`` (``path``) or ``"stream"`` (a built-in dataset TorchTitan streams from the
    Hub repository ``repo_id`` with no revision: recorded, not pinned)."""

    role: str
    key: str
    value: str
    kind: str
    origin: Origin | None = None
    repo_id: str | None = None
    repo_type: str = "model"
    revision: str = DEFAULT_REVISION
    pattern: str | None = None
    path: Path | None = None

    @property
    def is_commit(self) -> bool:
        """True when the requested revision is already a full commit sha (nothing to resolve)."""
        return bool(_COMMIT.match(self.revision))

    @property
    def namespace(self) -> str:
        """The cache folder of this repository (``models--ORG--NAME``), as huggingface_hub names it."""
        from primus.assets.cache import namespace_of

        return namespace_of(self.repo_type, self.repo_id)

    def error(self, message: str, *, hint: str, cls: type[AssetError] = AssetError) -> AssetError:
        """An error located at this source's config key (file:line when known)."""
        return cls(
            message,
            file=self.origin.file if self.origin else None,
            line=(self.origin.line or None) if self.origin else None,
            key=self.key,
            value=self.value,
            hint=hint,
        )


def parse_source(
    reference: Any, *, base_dir: Path, origin: Origin | None = None, layout: Any = None
) -> AssetSource:
    """The source ``reference`` names; ``AssetError`` (exit 2) for a value that names nothing usable.

    Checks made here: a well-formed repository id and revision, a local path that exists, a tokenizer
    folder that holds tokenizer files, and a built-in dataset that cannot be pinned.
    """
    layout = layout or _default_layout()
    if reference.value is None:
        return _builtin_dataset(reference, base_dir, origin, layout)
    value = str(reference.value).strip()
    if value.startswith(HUB_SCHEME):
        return _hub_source(reference, value, value[len(HUB_SCHEME) :], origin)
    local = base_dir / Path(value).expanduser()
    if (
        reference.role == "tokenizer"
        and not local.exists()
        and value.count("/") == 1
        and not value.startswith((".", "/", "~"))
    ):
        return _hub_source(reference, value, value, origin)
    return _local_source(reference, value, local, origin, layout)


def _default_layout() -> Any:
    """What the default framework's backend reads (``Backend.assets``)."""
    from primus.backend import backend_for

    return backend_for().assets


def _hub_source(reference: Any, value: str, rest: str, origin: Origin | None) -> AssetSource:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    repo_type = "model"
    for prefix, kind in (("datasets/", "dataset"), ("models/", "model")):
        if rest.startswith(prefix):
            repo_type, rest = kind, rest[len(prefix) :]
    parts = rest.split("/", 2)
    pattern = None
    if len(parts) == 3:
        pattern = parts[2] or None
    name_and_revision = "/".join(parts[:2])
    repo_id, at, revision = name_and_revision.partition("@")
    if not at:
        revision = DEFAULT_REVISION
    source = AssetSource(
        reference.role,
        reference.key,
        value,
        "hub",
        origin,
        repo_id=repo_id,
        repo_type=repo_type,
        revision=revision,
        pattern=pattern,
    )
    try:
        validate_repo_id(repo_id)
        if repo_id.count("/") != 1:
            raise HFValidationError("a repository id is ORG/NAME")
    except HFValidationError as error:
        raise source.error(
            f"{repo_id!r} is neither a Hugging Face repository id nor a local path ({error})",
            hint="write a Hub repository as ORG/NAME[@REVISION] (letters, digits, - _ . only), e.g. "
            "meta-llama/Llama-3.1-8B@main, or a local folder as ./path/to/tokenizer",
        ) from None
    if not revision or any(ch.isspace() for ch in revision) or ".." in revision:
        raise source.error(
            f"revision {revision!r} of {repo_id} is not a valid branch, tag or commit",
            hint=f"write {repo_id}@BRANCH, {repo_id}@TAG or {repo_id}@COMMIT_SHA, or leave out @ for main",
        )
    if pattern is not None and (pattern.startswith("/") or ".." in pattern.split("/")):
        raise source.error(
            f"path {pattern!r} inside {repo_id} must be relative and stay inside the repository",
            hint="write hf://datasets/ORG/NAME@REV/folder or .../folder/*.json",
        )
    return source


def _local_source(reference: Any, value: str, local: Path, origin: Origin | None, layout: Any) -> AssetSource:
    source = AssetSource(reference.role, reference.key, value, "local", origin, path=local)
    if not local.exists():
        raise source.error(
            f"{reference.role.replace('_', ' ')} path {value!r} does not exist (looked in {local})",
            hint="give an existing local path (relative to where training runs), or a Hub repository "
            "as hf://ORG/NAME@REVISION",
        )
    if reference.role == "tokenizer":
        if not local.is_dir():
            raise source.error(
                f"tokenizer path {value!r} is a file, not a directory of tokenizer files",
                hint="point model.hf_assets_path at the folder holding tokenizer.json",
            )
        if not any((local / name).is_file() for name in layout.tokenizer_required):
            raise source.error(
                f"{value!r} is not a directory of tokenizer files: none of "
                f"{', '.join(layout.tokenizer_required)} "
                "is in it",
                hint="point model.hf_assets_path at the folder holding tokenizer.json (and "
                "tokenizer_config.json), or at a Hub repository ORG/NAME@REVISION",
            )
    elif local.is_dir() and not any(item.is_file() for item in local.rglob("*")):
        raise source.error(
            f"dataset folder {value!r} holds no files",
            hint="point the dataset path at a folder of JSON/Parquet/text files, or at one file",
        )
    return source


def _builtin_dataset(reference: Any, base_dir: Path, origin: Origin | None, layout: Any) -> AssetSource:
    dataset = reference.dataset
    default = layout.builtin_datasets.get(dataset or "")
    if dataset in layout.streamed:
        # TorchTitan streams it from the Hub at train time, at whatever revision the Hub has then: it is
        # recorded (repository, no revision) but cannot be pinned; see STREAM_HINT.
        return AssetSource(
            reference.role,
            reference.key,
            str(dataset),
            "stream",
            origin,
            repo_id=default,
            repo_type="dataset",
            revision="",
        )
    if default is None:
        source = AssetSource(reference.role, reference.key, str(dataset), "local", origin)
        section = reference.key.split(".")[0]
        raise source.error(
            f"dataset {dataset!r} has no built-in location and {section}.dataset_path is not set",
            hint=f"set {section}.dataset_path to a local folder or hf://datasets/ORG/NAME@REVISION",
        )
    return _local_source(reference, default, base_dir / default, origin, layout)
