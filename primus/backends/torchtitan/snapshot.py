"""Generate the committed snapshots the validator reads: ``schema.json`` and ``registry.json``.

Run ``python -m primus.backends.torchtitan.snapshot`` after changing the pinned TorchTitan or the Primus
extension. It imports torchtitan (and so torch); the validator reads the JSON files through the backend
object (``primus.backends.torchtitan.backend``), which keeps ``primus-cli validate`` at a few milliseconds
per config.
``tests/test_schema_snapshot.py`` regenerates both in memory and compares them with the committed files,
so an upgrade that changes a field or a flavor cannot slip through unnoticed.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
import json
import sys
import types
import typing
from pathlib import Path
from typing import Any

from primus.backends.torchtitan.backend import REGISTRY_FILE as REGISTRY_PATH
from primus.backends.torchtitan.backend import SCHEMA_FILE as SCHEMA_PATH
from primus.validate.coerce import type_text

#: The module Primus presets name in ``experimental.custom_args_module``.
EXTENSION_MODULE = "primus.backends.torchtitan.primus_turbo_extensions.config_extension"
#: The converter Primus registers at runtime (not in TorchTitan's registry).
PRIMUS_CONVERTERS = ("primus_turbo",)
#: Snapshot format; bump when the JSON layout changes.
FORMAT = 1


# ----------------------------------------------------------------------------------------------------------
# types -> JSON
# ----------------------------------------------------------------------------------------------------------
def type_spec(tp: Any) -> dict[str, Any]:
    """A JSON description of a field annotation that ``primus.validate.types`` can check values against."""
    origin = typing.get_origin(tp)
    if tp is type(None):
        return {"kind": "none"}
    if tp in (bool, int, float, str):
        return {"kind": tp.__name__}
    if tp is Any:
        return {"kind": "any"}
    if origin is typing.Literal:
        return {"kind": "literal", "choices": list(typing.get_args(tp))}
    if origin in (typing.Union, types.UnionType):
        members: list[dict[str, Any]] = []
        for arg in typing.get_args(tp):
            spec = type_spec(arg)
            # Literal[...] | None arrives as Union[Literal, None]; keep nested unions flat.
            members.extend(spec["of"] if spec["kind"] == "union" else [spec])
        return {"kind": "union", "of": members}
    if origin is list:
        (item,) = typing.get_args(tp) or (Any,)
        return {"kind": "list", "of": type_spec(item)}
    if origin is dict or tp is dict:
        return {"kind": "dict"}
    raise TypeError(f"no JSON type spec for annotation {tp!r}")


# ----------------------------------------------------------------------------------------------------------
# attribute docstrings (the string literal right after an annotated field) -> read with ast, not imported
# ----------------------------------------------------------------------------------------------------------
@functools.cache
def _docstrings_of_file(path: str) -> dict[str, dict[str, str]]:
    tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    found: dict[str, dict[str, str]] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        docs: dict[str, str] = {}
        body = node.body
        for stmt, following in zip(body, [*body[1:], None]):
            if (
                isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                docs[stmt.target.id] = inspect.cleandoc(following.value.value)
        found[node.name] = docs
    return found


def _field_docs(cls: type) -> dict[str, str]:
    source = inspect.getsourcefile(cls)
    return _docstrings_of_file(source).get(cls.__name__, {}) if source else {}


def _class_doc(cls: type) -> str:
    # dataclasses synthesise "Name(field: type = ...)" when a class has no docstring; that is not a doc.
    doc = cls.__dict__.get("__doc__") or ""
    return "" if doc.startswith(f"{cls.__name__}(") else inspect.cleandoc(doc)


def _choices(spec: dict[str, Any]) -> list[Any] | None:
    """The allowed values of a Literal field (None included when it is Optional), else None."""
    members = spec["of"] if spec["kind"] == "union" else [spec]
    literals = [member for member in members if member["kind"] == "literal"]
    if not literals or len(literals) + sum(m["kind"] == "none" for m in members) != len(members):
        return None
    choices = [choice for member in literals for choice in member["choices"]]
    return [*choices, None] if any(member["kind"] == "none" for member in members) else choices


def _json_default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def _walk(cls: type, prefix: str, origin: str, sections: dict, fields: dict) -> None:
    """Add every field of dataclass ``cls`` (recursively) under ``prefix`` to ``sections``/``fields``."""
    docs = _field_docs(cls)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key = f"{prefix}.{f.name}" if prefix else f.name
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            entry = sections.setdefault(
                key, {"doc": _class_doc(tp) or docs.get(f.name, ""), "origin": origin}
            )
            if origin not in entry["origin"].split("+"):
                entry["origin"] += f"+{origin}"
            _walk(tp, key, origin, sections, fields)
            continue
        spec = type_spec(tp)
        fields[key] = {
            "type": type_text(spec),
            "spec": spec,
            "choices": _choices(spec),
            "default": _json_default(f),
            "doc": docs.get(f.name, ""),
            "origin": origin,
        }


def build_schema() -> dict[str, Any]:
    """Every section and field of torchtitan's JobConfig plus the Primus extension and module keys."""
    import importlib

    import torchtitan
    from torchtitan.config.job_config import JobConfig

    extension = importlib.import_module(EXTENSION_MODULE)
    sections: dict[str, dict[str, Any]] = {}
    fields: dict[str, dict[str, Any]] = {}
    _walk(JobConfig, "", "torchtitan", sections, fields)
    _walk(extension.JobConfig, "", "primus", sections, fields)
    module_fields: dict[str, dict[str, Any]] = {}
    _walk(extension.ModuleConfig, "", "primus module", {}, module_fields)
    return {
        "format": FORMAT,
        "torchtitan_version": torchtitan.__version__,
        "extension_module": EXTENSION_MODULE,
        "sections": dict(sorted(sections.items())),
        "fields": dict(sorted(fields.items())),
        "module": dict(sorted(module_fields.items())),
    }


# ----------------------------------------------------------------------------------------------------------
# registry: families, flavors with parameter counts (meta device), converters, datasets
# ----------------------------------------------------------------------------------------------------------
def _flavor_entry(model_cls: type, args: Any) -> dict[str, Any]:
    import copy

    import torch
    from torchtitan.config.job_config import JobConfig

    # The trainer calls update_from_config before building (some models read fields it sets, e.g. the MoE
    # backend); do the same with default settings on a copy, so the flavor's own max_seq_len is recorded.
    built_args = copy.deepcopy(args)
    built_args.update_from_config(JobConfig())
    with torch.device("meta"):
        model = model_cls(built_args)
    # parameters() deduplicates shared tensors, so tied embeddings count once.
    params = sum(p.numel() for p in model.parameters())
    n_heads = getattr(args, "n_heads", None)
    n_kv_heads = getattr(args, "n_kv_heads", None)
    moe_enabled = getattr(args, "moe_enabled", None)
    is_moe = bool(moe_enabled) if moe_enabled is not None else hasattr(args, "moe_args")
    return {
        "params": params,
        "dim": args.dim,
        "n_layers": args.n_layers,
        "n_heads": n_heads,
        # None in TorchTitan means "same as n_heads" (no grouped-query attention).
        "n_kv_heads": n_kv_heads if n_kv_heads is not None else n_heads,
        "vocab_size": args.vocab_size,
        "max_seq_len": args.max_seq_len,
        "moe": is_moe,
        "attn_type": getattr(args, "attn_type", None),
    }


def build_registry() -> dict[str, Any]:
    """Model families and flavors from torchtitan's registry, converter names, built-in datasets."""
    import logging

    import torchtitan
    from torchtitan.components.quantization import float8, mx  # noqa: F401  (registers the converters)
    from torchtitan.hf_datasets.text_datasets import DATASETS
    from torchtitan.models import _supported_models
    from torchtitan.protocols.model_converter import _registry_model_converter_cls
    from torchtitan.protocols.train_spec import get_train_spec

    # update_from_config warns about this CPU (no grouped mm); the snapshot must not depend on the host.
    logging.getLogger("torchtitan").setLevel(logging.ERROR)
    from torchtitan.tools.logging import logger

    logger.setLevel(logging.ERROR)

    families: dict[str, Any] = {}
    unavailable: dict[str, str] = {}
    for name in sorted(_supported_models):
        try:
            spec = get_train_spec(name)
        except ImportError as exc:  # e.g. flux needs `transformers`, which the training stack does not pin
            unavailable[name] = f"{type(exc).__name__}: {exc}"
            continue
        families[name] = {
            "flavors": {
                flavor: _flavor_entry(spec.model_cls, args) for flavor, args in spec.model_args.items()
            }
        }
    converters = sorted({*_registry_model_converter_cls, *PRIMUS_CONVERTERS})
    datasets = {name: cfg.path for name, cfg in sorted(DATASETS.items())}
    return {
        "format": FORMAT,
        "torchtitan_version": torchtitan.__version__,
        "families": families,
        "unavailable_families": unavailable,
        "converters": converters,
        "datasets": datasets,
    }


def dumps(data: dict[str, Any]) -> str:
    """The exact text committed: stable key order, two-space indent, trailing newline."""
    return json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m primus.backends.torchtitan.snapshot", description=__doc__
    )
    parser.add_argument(
        "--check", action="store_true", help="compare with the committed files, write nothing"
    )
    args = parser.parse_args(argv)
    stale = []
    for path, data in ((SCHEMA_PATH, build_schema()), (REGISTRY_PATH, build_registry())):
        text = dumps(data)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
            continue
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)  # atomic: a reader never sees half a snapshot
        print(f"wrote {path}")
    if stale:
        print(
            f"stale snapshot(s): {', '.join(stale)}; run python -m primus.backends.torchtitan.snapshot",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
