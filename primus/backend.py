"""The backend seam: what a training-framework backend provides, and which one serves a framework name.

Every stage that needs framework knowledge receives a :class:`Backend` (or asks :func:`backend_for` with the
experiment's ``framework``) instead of importing ``primus.backends.*``: config/, bundle/ and verify/ import
nothing framework-specific (``tests/test_import_rules.py`` enforces it). A second TorchTitan generation
(0.3.x replaced the TOML JobConfig with Python config functions) is a second implementation registered in
``_IMPLEMENTATIONS``; no stage changes.

This module imports nothing heavy: an implementation is imported the first time it is asked for.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from primus.errors import UnknownPresetError, did_you_mean, suggest

#: The framework of a bundle or config that does not name one.
DEFAULT_FRAMEWORK = "torchtitan"

#: framework name -> ``module:attribute`` of its backend object.
_IMPLEMENTATIONS = {"torchtitan": "primus.backends.torchtitan.backend:BACKEND"}


class Backend(Protocol):
    """One training framework at one pinned version, as the stages see it."""

    #: The framework name experiments give in ``modules.<name>.framework`` (``torchtitan``).
    name: str
    #: The framework release this backend drives (``0.2.2``).
    version: str
    #: Distributions whose installed versions pin a run (recorded in lock.json and hashed).
    packages: tuple[str, ...]
    #: The job-config file a bundle holds for this framework (``job_config.toml``).
    job_config_file: str
    #: How messages name the framework (``TorchTitan``).
    display_name: str
    #: Keys as users write them (from older releases) -> where this release reads them, suggested as the fix.
    moved_keys: Mapping[str, str]
    #: Names from other trainers (Megatron-LM's ``train_iters`` ...) -> this framework's dotted key.
    foreign_names: Mapping[str, str]
    #: Where a run's shape lives in the config: ``steps``, ``log_freq`` (a metrics record at step 1 and
    #: every multiple), ``checkpoint_enable``, ``checkpoint_folder`` (under train/), ``deterministic``.
    run_keys: Mapping[str, str]
    #: Config-extension modules whose keys the schema covers (``""``: none).
    extension_modules: tuple[str, ...]
    #: The tokenizer/data inputs a config names (``references(config, default_of=...)``), the tokenizer
    #: file names the framework reads, its built-in datasets (name -> location, ``streamed`` from the Hub)
    #: and the launch options that point it at cached copies (see primus.backends.torchtitan.assets).
    assets: Any

    def schema(self) -> dict[str, Any]:
        """The config schema snapshot: ``sections``, ``fields`` (dotted key -> spec) and ``module`` keys."""
        ...

    def registry(self) -> dict[str, Any]:
        """The model registry snapshot: ``families`` -> ``flavors``, ``converters``, ``datasets`` ..."""
        ...

    def model_args(self) -> dict[str, Any]:
        """The model-arguments snapshot: ``families`` -> ``fields`` (name -> type spec, or a nested
        ``{class, fields}``) and ``flavors`` (name -> values); ``positive`` / ``non_negative`` size names.
        Any ``model.<name>`` key that is no model setting of the schema overrides one of these arguments."""
        ...

    def parameter_count(self, family: str, flavor: str, overrides: Mapping[str, Any]) -> int:
        """Total parameters of ``family``/``flavor`` with ``model.<arg>`` ``overrides`` (may import the
        framework: seconds)."""
        ...

    def no_effect_warnings(self, get: Callable[[str], Any], moe: bool) -> list[tuple[str, str, str]]:
        """``(dotted key, message, hint)`` for each key of a config (``get(key)`` -> its effective value)
        that would act in Primus but has no effect with this backend (``moe``: the model has experts)."""
        ...

    def converter_packages(self) -> dict[str, str]:
        """Converter name -> the Python package it imports at model build time (checked before launch)."""
        ...

    def default_of(self, dotted_key: str) -> Any:
        """The framework's default for one field (``training.steps`` -> 10000); KeyError when unknown."""
        ...

    def describe_run(self, get: Callable[[str], Any]) -> list[tuple[str, Any]]:
        """``(label, value)`` rows naming the run's config for a report (model, batch, schedule, layout);
        ``get`` looks a dotted key up (its value, else the default)."""
        ...

    def job_config_text(self, config: Mapping[str, Any], *, origin_of: Callable[[str], Any] | None) -> str:
        """The job-config file the framework loads, for a validated config (the bundle's job_config)."""
        ...

    def read_job_config(self, text: str) -> dict[str, Any]:
        """A job-config file's text parsed back into data (to compare two bundles' files by meaning)."""
        ...

    def launch_command(
        self, bundle: Path, *, env: Mapping[str, str], job_config: Any = None, check_host: bool = True
    ) -> list[str]:
        """The exact argv that trains ``bundle`` in this environment (``torchrun ...``)."""
        ...

    def train(self, bundle: Path, *, dry_run: bool = False, observability: Any = None) -> int:
        """Train ``bundle`` (resumably) with TensorBoard/W&B ``observability`` settings; the exit status."""
        ...

    def check_version(self) -> None:
        """Raise ``LaunchError`` unless the installed framework is the version this backend drives."""
        ...


@functools.cache
def backend_for(framework: str | None = None) -> Backend:
    """The backend serving ``framework`` (default :data:`DEFAULT_FRAMEWORK`); one object per process.

    Raises ``UnknownPresetError`` (exit 2) naming the frameworks there are.
    """
    name = framework or DEFAULT_FRAMEWORK
    target = _IMPLEMENTATIONS.get(name)
    if target is None:
        known = sorted(_IMPLEMENTATIONS)
        matches = suggest(name, known)
        raise UnknownPresetError(
            f"no backend for framework '{name}'",
            file=None,
            line=None,
            key="framework",
            value=name,
            searched="primus backends",
            suggestions=matches,
            hint=did_you_mean(matches) or f"frameworks with a backend: {', '.join(known)}",
        )
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)
