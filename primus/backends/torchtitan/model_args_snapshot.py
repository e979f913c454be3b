"""Generate ``model_args.json``: every family's ModelArgs dataclass and every flavor's values, torch-free.

Run ``python -m primus.backends.torchtitan.model_args_snapshot`` after changing the pinned TorchTitan.
Primus applies each ``model.<name>`` key that is not a ``JobConfig.Model`` field to the flavor's ModelArgs
(``model.n_layers: 2``); the validator checks such keys by name and type against this snapshot, with nested
dataclasses (``model.moe_args.num_experts``) as nested tables, so it never has to import torch.
``tests/test_model_args_snapshot.py`` regenerates it in memory and compares it with the committed file.

Fields whose names start with ``_`` are TorchTitan internals (``_enforced``, MoE's
``_debug_force_load_balance``, which ``debug.moe_force_load_balance`` sets) and are left out.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
from typing import Any

from primus.backends.torchtitan.backend import MODEL_ARGS_FILE as SNAPSHOT_PATH
from primus.backends.torchtitan.snapshot import dumps, type_spec
from primus.validate.coerce import type_text

#: Snapshot format; bump when the JSON layout changes.
FORMAT = 1


#: Integer arguments that are sizes or counts: they must be positive (0 or less crashes or builds nothing).
POSITIVE = frozenset(
    {
        "dim",
        "n_layers",
        "n_heads",
        "n_kv_heads",
        "vocab_size",
        "max_seq_len",
        "max_batch_size",
        "multiple_of",
        "head_dim",
        "hidden_dim",
        "inter_dim",
        "moe_inter_dim",
        "kv_lora_rank",
        "qk_nope_head_dim",
        "qk_rope_head_dim",
        "v_head_dim",
        "num_experts",
        "top_k",
        "interleave_moe_layer_step",
        "original_seq_len",
    }
)
#: Integer arguments for which 0 means "none" (no dense layers, no shared experts, no q LoRA).
NON_NEGATIVE = frozenset({"n_dense_layers", "num_shared_experts", "q_lora_rank"})


def _fields(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    out: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        if field.name.startswith("_"):
            continue
        tp = hints[field.name]
        nested = _nested_class(tp)
        if nested is not None:
            out[field.name] = {
                "class": nested.__name__,
                "optional": nested is not tp,
                "fields": _fields(nested),
            }
        else:
            spec = type_spec(tp)
            out[field.name] = {"type": type_text(spec), "spec": spec}
    return out


def _nested_class(tp: Any) -> type | None:
    """The dataclass of a field typed ``SomeArgs`` or ``SomeArgs | None``, else None."""
    if dataclasses.is_dataclass(tp):
        return tp
    members = [arg for arg in typing.get_args(tp) if arg is not type(None)]
    if len(members) == 1 and dataclasses.is_dataclass(members[0]) and type(None) in typing.get_args(tp):
        return members[0]
    return None


def _values(args: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in dataclasses.fields(args):
        if field.name.startswith("_"):
            continue
        value = getattr(args, field.name)
        out[field.name] = _values(value) if dataclasses.is_dataclass(value) else value
    return out


def build_model_args() -> dict[str, Any]:
    """Family -> ModelArgs class, its fields (types, nested dataclasses) and each flavor's values."""
    import torchtitan
    from torchtitan.models import _supported_models
    from torchtitan.protocols.train_spec import get_train_spec

    families: dict[str, Any] = {}
    for name in sorted(_supported_models):
        try:
            spec = get_train_spec(name)
        except ImportError:  # flux needs `transformers`; registry.json records why
            continue
        classes = {type(args) for args in spec.model_args.values()}
        (cls,) = classes  # one ModelArgs class per family in TorchTitan 0.2.2
        families[name] = {
            "class": f"{cls.__module__}.{cls.__qualname__}",
            "fields": _fields(cls),
            "flavors": {flavor: _values(args) for flavor, args in spec.model_args.items()},
        }
    return {
        "format": FORMAT,
        "torchtitan_version": torchtitan.__version__,
        "positive": sorted(POSITIVE),
        "non_negative": sorted(NON_NEGATIVE),
        "families": families,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m primus.backends.torchtitan.model_args_snapshot", description=__doc__
    )
    parser.add_argument("--check", action="store_true", help="compare with the committed file, write nothing")
    args = parser.parse_args(argv)
    text = dumps(build_model_args())
    if args.check:
        if not SNAPSHOT_PATH.exists() or SNAPSHOT_PATH.read_text(encoding="utf-8") != text:
            print(
                f"stale snapshot: {SNAPSHOT_PATH.name}; "
                "run python -m primus.backends.torchtitan.model_args_snapshot",
                file=sys.stderr,
            )
            return 1
        return 0
    tmp = SNAPSHOT_PATH.with_suffix(".json.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(SNAPSHOT_PATH)  # atomic: a reader never sees half a snapshot
    print(f"wrote {SNAPSHOT_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
