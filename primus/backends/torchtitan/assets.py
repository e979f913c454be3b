"""Which config keys name the files a TorchTitan 0.2.2 run reads, and which tokenizer files it loads.

Torch-free: the assets stage, preflight and the launcher import it. TorchTitan 0.2.2 reads:
- the tokenizer from the directory ``model.hf_assets_path`` (``HuggingFaceTokenizer``: ``tokenizer.json``,
  else ``vocab.json``/``vocab.txt`` with ``merges.txt``; bos/eos from ``tokenizer_config.json``);
- the training text from ``training.dataset_path``, or the built-in location of ``training.dataset``
  (``c4_test`` -> ``tests/assets/c4_test``; ``c4`` -> ``allenai/c4`` streamed from the Hub);
- with ``validation.enable``, the validation text the same way from ``validation.dataset[_path]``.
With ``training.mock_data`` (a Primus extension) the backend builds neither tokenizer nor dataset loader.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: Files of a tokenizer directory TorchTitan 0.2.2 may read (plus special_tokens_map.json, which
#: Hugging Face tokenizers ship beside them). Model weights are never fetched: pre-training starts from
#: scratch.
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.json",
    "vocab.txt",
    "merges.txt",
)
#: At least one of these must be present for TorchTitan to build a tokenizer.
TOKENIZER_REQUIRED = ("tokenizer.json", "vocab.json", "vocab.txt")

#: ``training.dataset`` -> where TorchTitan 0.2.2 reads it when ``dataset_path`` is not set.
BUILTIN_DATASETS = {
    "c4": "allenai/c4",
    "c4_test": "tests/assets/c4_test",
    "c4_validation": "allenai/c4",
}
#: Built-in datasets TorchTitan streams from the Hub (``load_dataset(..., streaming=True)``, no revision).
STREAMED_FROM_HUB = frozenset({"c4", "c4_validation"})


@dataclass(frozen=True)
class AssetReference:
    """One input the run reads: its role, the config key that names it, and the value (None: built-in)."""

    role: str  # "tokenizer", "dataset" or "validation_dataset"
    key: str  # dotted config key, e.g. "model.hf_assets_path"
    value: str | None  # as configured; None when the key is unset and the dataset's built-in path applies
    dataset: str | None = None  # training.dataset / validation.dataset for the dataset roles


_MISSING = object()


def asset_references(
    config: Mapping[str, Any], *, default_of: Callable[[str], Any] = lambda key: None
) -> list[AssetReference]:
    """The tokenizer and data inputs of a validated config; empty with ``training.mock_data``.

    ``default_of(dotted_key)`` gives the value of a key the config does not set (the schema default:
    TorchTitan reads ``./tests/assets/tokenizer`` and ``c4_test`` when nothing is configured).
    """

    def _get(dotted: str) -> Any:
        node: Any = config
        for part in dotted.split("."):
            node = node.get(part, _MISSING) if isinstance(node, Mapping) else _MISSING
            if node is _MISSING:
                return default_of(dotted)
        return node

    if _get("training.mock_data"):
        return []
    references = [AssetReference("tokenizer", "model.hf_assets_path", _get("model.hf_assets_path"))]
    sections = [("dataset", "training")]
    if _get("validation.enable"):
        sections.append(("validation_dataset", "validation"))
    for role, section in sections:
        path = _get(f"{section}.dataset_path")
        dataset = _get(f"{section}.dataset")
        if path:
            references.append(AssetReference(role, f"{section}.dataset_path", str(path), dataset))
        else:
            references.append(AssetReference(role, f"{section}.dataset", None, dataset))
    return references


#: The command-line option that points TorchTitan at each role's files instead of the configured value.
LAUNCH_OPTIONS = {
    "tokenizer": "--model.hf_assets_path",
    "dataset": "--training.dataset_path",
    "validation_dataset": "--validation.dataset_path",
}


@dataclass(frozen=True)
class AssetLayout:
    """The backend's answer to "what does a run read": ``Backend.assets`` (torch-free constants)."""

    tokenizer_files: tuple[str, ...] = TOKENIZER_FILES
    tokenizer_required: tuple[str, ...] = TOKENIZER_REQUIRED
    builtin_datasets: Mapping[str, str] = field(default_factory=lambda: dict(BUILTIN_DATASETS))
    streamed: frozenset[str] = STREAMED_FROM_HUB
    launch_options: Mapping[str, str] = field(default_factory=lambda: dict(LAUNCH_OPTIONS))

    def references(
        self, config: Mapping[str, Any], *, default_of: Callable[[str], Any] = lambda key: None
    ) -> list[AssetReference]:
        return asset_references(config, default_of=default_of)


ASSETS = AssetLayout()
