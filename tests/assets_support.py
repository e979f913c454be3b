"""Shared by the assets tests: the tiny tokenizer and corpus laid out as Hub repositories on a FakeHub,
and experiments that read them (the CPU default with real data instead of mock tokens)."""

from __future__ import annotations

from pathlib import Path

from hub_server import FakeHub, Repo

REPO = Path(__file__).resolve().parents[1]
TOKENIZER_DIR = REPO / "tests" / "assets" / "tokenizer"
CORPUS_FILE = REPO / "tests" / "assets" / "data" / "tiny_corpus" / "train.json"
CPU_DEFAULT = REPO / "examples/torchtitan/configs/CPU/llama3_debugmodel-pretrain.yaml"

TOKENIZER_REPO = "tiny-org/tiny-tokenizer"
CORPUS_REPO = "tiny-org/tiny-corpus"
#: What the experiments read: the tokenizer repository and the corpus dataset repository on the FakeHub.
HUB_TOKENIZER = TOKENIZER_REPO
HUB_DATASET = f"hf://datasets/{CORPUS_REPO}"


def tokenizer_files() -> dict[str, bytes]:
    """The tiny tokenizer's files plus model weights, which the assets stage must never fetch."""
    files = {
        name: (TOKENIZER_DIR / name).read_bytes() for name in ("tokenizer.json", "tokenizer_config.json")
    }
    files["model.safetensors"] = b"weights are never fetched for pre-training"
    files["README.md"] = b"# tiny tokenizer\n"
    return files


def publish_tiny_assets(hub: FakeHub) -> tuple[Repo, Repo]:
    """The tokenizer as a model repository (main and tag v1 at one commit) and the corpus as a dataset."""
    tokenizer = hub.add(TOKENIZER_REPO)
    commit = tokenizer.push(tokenizer_files())
    tokenizer.branches["v1"] = commit
    corpus = hub.add(CORPUS_REPO, repo_type="dataset")
    corpus.push({"train.json": CORPUS_FILE.read_bytes(), ".gitattributes": b"*.json text\n"})
    return tokenizer, corpus


def real_data_experiment(
    folder: Path,
    *,
    tokenizer: str = HUB_TOKENIZER,
    dataset_path: str = HUB_DATASET,
    steps: int = 6,
    seq_len: int = 256,
    checkpoint_interval: int = 3,
    name: str = "real_data.yaml",
) -> Path:
    """The CPU default experiment reading ``tokenizer`` and ``dataset_path`` (c4_test's JSON format)."""
    text = CPU_DEFAULT.read_text(encoding="utf-8")
    replacements = (
        ("steps: 50", f"steps: {steps}"),
        ("seq_len: 256", f"seq_len: {seq_len}"),
        ("warmup_steps: 5", "warmup_steps: 1"),
        ("interval: 10", f"interval: {checkpoint_interval}"),
        (
            "        mock_data: true  # synthetic token ids within the model's vocabulary: "
            "nothing to download",
            f'        mock_data: false\n        dataset: c4_test\n        dataset_path: "{dataset_path}"',
        ),
        ("    overrides:\n", f'    overrides:\n      model:\n        hf_assets_path: "{tokenizer}"\n'),
    )
    for old, new in replacements:
        assert old in text, f"{CPU_DEFAULT} no longer contains {old!r}; update tests/assets_support.py"
        text = text.replace(old, new, 1)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def cache_files(root: Path) -> list[str]:
    """Every file under an asset cache root except the lock files, relative, sorted."""
    if not root.exists():
        return []
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if (p.is_file() or p.is_symlink()) and p.parent.name != "locks"
    )
