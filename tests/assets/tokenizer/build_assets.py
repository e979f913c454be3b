"""Rebuild the tiny test corpus and BPE tokenizer (run from the repo root; deterministic).

    .venv/bin/python tests/assets/tokenizer/build_assets.py

Writes ``tests/assets/data/tiny_corpus/train.json`` (JSON lines, one ``{"text": ...}`` per line, the
shape TorchTitan's ``c4_test`` loader reads through ``training.dataset_path``) and, next to this script,
``tokenizer.json`` + ``tokenizer_config.json`` (a byte-level BPE of 512 tokens with ``<|bos|>`` and
``<|eos|>``, small enough for llama3 ``debugmodel``'s 2048-token vocabulary). The text comes from a tiny
seeded grammar: no download, and the tokenizer has real structure to learn.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parent / "data" / "tiny_corpus" / "train.json"
VOCAB_SIZE = 512
SPECIAL = ["<|bos|>", "<|eos|>", "<|pad|>"]

SUBJECTS = ["the model", "a small network", "the optimizer", "every worker", "the scheduler", "our team"]
VERBS = ["reads", "writes", "trains on", "checks", "saves", "restores", "measures", "compares"]
OBJECTS = [
    "the checkpoint",
    "a batch of tokens",
    "the loss curve",
    "each gradient",
    "the learning rate",
    "a frozen bundle",
    "the metrics file",
    "the config",
]
ENDINGS = [
    "before the next step",
    "after warmup",
    "on every node",
    "without a download",
    "in a few seconds",
    "when training resumes",
]


def sentence(rng: random.Random) -> str:
    return f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(ENDINGS)}."


def build_corpus(rng: random.Random, documents: int = 400) -> list[str]:
    return [" ".join(sentence(rng) for _ in range(rng.randint(3, 8))).capitalize() for _ in range(documents)]


def build_tokenizer(texts: list[str]) -> Tokenizer:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def main() -> None:
    texts = build_corpus(random.Random(1234))
    CORPUS.parent.mkdir(parents=True, exist_ok=True)
    CORPUS.write_text("".join(json.dumps({"text": text}) + "\n" for text in texts), encoding="utf-8")
    build_tokenizer(texts).save(str(HERE / "tokenizer.json"))
    config = {
        "bos_token": "<|bos|>",
        "eos_token": "<|eos|>",
        "pad_token": "<|pad|>",
        "add_bos_token": True,
        "add_eos_token": True,
        "model_max_length": 4096,
    }
    (HERE / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
