"""Read-only access to the backend's schema and registry snapshots (TorchTitan 0.2.2's, by default).

The snapshots belong to the backend (``primus.backend.backend_for``); they are parsed once, on first use,
and shared by every call; nothing here imports torch or torchtitan. Dotted keys name fields the way configs
and the command line do: ``training.steps``, ``quantize.linear.float8.recipe_name``; the module-level
Primus keys (``trainable`` ...) are top-level names.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any

from primus.backend import Backend, backend_for
from primus.errors import ConfigKeyError

#: The backend of the validation pass in progress (``using``); unset: the default framework's.
_ACTIVE: ContextVar[Backend | None] = ContextVar("primus_validation_backend", default=None)


def backend() -> Backend:
    """The backend validation reads: the one ``validate`` received for this pass, else the default one."""
    return _ACTIVE.get() or backend_for()


@contextlib.contextmanager
def using(active: Backend) -> Iterator[Backend]:
    """Validate against ``active`` inside the ``with`` block (``primus.validate.check`` sets it per pass)."""
    token = _ACTIVE.set(active)
    try:
        yield active
    finally:
        _ACTIVE.reset(token)


def schema() -> dict[str, Any]:
    """The backend's schema snapshot: ``sections``, ``fields`` (TorchTitan + Primus) and ``module`` keys."""
    return backend().schema()


def registry() -> dict[str, Any]:
    """The backend's registry snapshot: ``families`` -> ``flavors``, ``converters``, ``datasets``."""
    return backend().registry()


def all_fields() -> dict[str, dict[str, Any]]:
    """Every leaf field by dotted key: JobConfig sections, the Primus extension, and module-level keys."""
    return _all_fields(backend())


def sections() -> frozenset[str]:
    """Dotted names of every section and nested section (``training``, ``training.dataloader`` ...)."""
    return _sections(backend())


def children() -> dict[str, tuple[str, ...]]:
    """Valid child names of each section; ``""`` is the top level (sections and module-level keys)."""
    return _children(backend())


# One computation per backend object (there is one per framework and process).
@functools.cache
def _all_fields(active: Backend) -> dict[str, dict[str, Any]]:
    return {**active.schema()["fields"], **active.schema()["module"]}


@functools.cache
def _sections(active: Backend) -> frozenset[str]:
    return frozenset(active.schema()["sections"])


@functools.cache
def _children(active: Backend) -> dict[str, tuple[str, ...]]:
    found: dict[str, set[str]] = {}
    for dotted in (*_sections(active), *_all_fields(active)):
        parent, _, name = dotted.rpartition(".")
        found.setdefault(parent, set()).add(name)
    return {parent: tuple(sorted(names)) for parent, names in found.items()}


@dataclass(frozen=True)
class Flavor:
    """One model flavor as recorded in the registry snapshot (numbers from TorchTitan's ModelArgs)."""

    family: str
    name: str
    params: int | None  # total parameters, counted on the meta device (tied weights once)
    dim: int
    n_layers: int
    n_heads: int | None  # None: the family has no such field
    n_kv_heads: int | None  # equal to n_heads when the model has no grouped-query attention
    vocab_size: int
    max_seq_len: int  # the flavor's own context length (TorchTitan only warns beyond it)
    moe: bool
    attn_type: str | None  # "sdpa", "flex" or "varlen"
    #: ``model.<arg>`` overrides applied to this flavor (``{"n_layers": 2}``); empty for the flavor as is
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``llama3 debugmodel``, or ``llama3 debugmodel (n_layers=2)`` with overrides."""
        from primus.validate.model_args import describe

        base = f"{self.family} {self.name}"
        return f"{base} ({', '.join(describe(self.overrides))})" if self.overrides else base


def model_overrides(config: dict[str, Any]) -> dict[str, Any]:
    """A config's ``model.<arg>`` architecture overrides (model keys that no JobConfig.Model field has)."""
    from primus.validate.model_args import overrides_of

    return overrides_of(config.get("model") or {}, frozenset(children().get("model", ())))


def effective_flavor(config: dict[str, Any]) -> Flavor | None:
    """The flavor a validated ``config`` trains: the registry entry with its ``model.<arg>`` overrides."""
    model = config.get("model") or {}
    found = flavor(
        model.get("name", default_of("model.name")), model.get("flavor", default_of("model.flavor"))
    )
    return with_overrides(found, model_overrides(config)) if found is not None else None


def parameter_count(entry: Flavor) -> int:
    """Total parameters of ``entry``: from registry.json, or (with overrides) the model built on meta."""
    if entry.params is not None:
        return entry.params
    return backend_for().parameter_count(entry.family, entry.name, entry.overrides)


def with_overrides(flavor: Flavor, overrides: dict[str, Any]) -> Flavor:
    """``flavor`` with ``model.<arg>`` overrides applied to its shape numbers.

    ``params`` then is None: counting needs the model built (``primus.backends.torchtitan.params``).
    """
    from primus.validate import model_args

    if not overrides:
        return flavor
    values = model_args.merged(model_args.flavor_values(flavor.family, flavor.name) or {}, overrides)
    n_heads = values.get("n_heads", flavor.n_heads)
    n_kv_heads = values.get("n_kv_heads")
    moe = bool(values["moe_enabled"]) if "moe_enabled" in values else flavor.moe
    return replace(
        flavor,
        params=None,
        dim=values.get("dim", flavor.dim),
        n_layers=values.get("n_layers", flavor.n_layers),
        n_heads=n_heads,
        n_kv_heads=n_kv_heads if n_kv_heads is not None else n_heads,
        vocab_size=values.get("vocab_size", flavor.vocab_size),
        max_seq_len=overrides.get("max_seq_len", flavor.max_seq_len),
        moe=moe,
        attn_type=values.get("attn_type", flavor.attn_type),
        overrides=dict(overrides),
    )


def families() -> dict[str, dict[str, Any]]:
    return registry()["families"]


def flavor(family: str, name: str) -> Flavor | None:
    """The registry entry of ``family``/``name``, or None when either is unknown."""
    entry = families().get(family, {}).get("flavors", {}).get(name)
    return Flavor(family=family, name=name, **entry) if entry is not None else None


def converters() -> tuple[str, ...]:
    """Valid ``model.converters`` names: TorchTitan's registered converters plus Primus's own."""
    return tuple(registry()["converters"])


def field_spec(dotted_key: str) -> dict[str, Any]:
    """The schema entry of one field; ConfigKeyError naming the key when it does not exist."""
    try:
        return all_fields()[dotted_key]
    except KeyError:
        raise ConfigKeyError(
            f"Unknown config key '{dotted_key}'",
            key=dotted_key,
            hint="`primus-cli resolve CONFIG` prints every key with its value",
        ) from None


def default_of(dotted_key: str) -> Any:
    """The default value of a field (a fresh copy for lists)."""
    value = field_spec(dotted_key)["default"]
    return list(value) if isinstance(value, list) else value
