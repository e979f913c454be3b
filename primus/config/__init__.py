"""Layered Primus experiment configs: experiment -> module preset (+ extends) -> model preset -> overrides.

Entry points: :func:`load_experiment` (one YAML -> :class:`ResolvedExperiment` with per-leaf provenance),
:func:`explain` (where one key's value came from) and :func:`render` (the resolved config as stable
YAML/JSON).
Importing this package never imports torch.
"""

from primus.config.explain import (
    Explanation,
    explain,
    explain_section,
    provenance_records,
    render,
    resolved_document,
)
from primus.config.loader import load_experiment, with_overrides
from primus.config.model import LAYERS, Origin, ResolvedExperiment, Setting
from primus.config.overrides import COMMAND_LINE, parse_cli_overrides
from primus.config.paths import PACKAGE_CONFIGS, default_configs_root, display_path

__all__ = [
    "COMMAND_LINE",
    "LAYERS",
    "PACKAGE_CONFIGS",
    "Explanation",
    "Origin",
    "ResolvedExperiment",
    "Setting",
    "default_configs_root",
    "display_path",
    "explain",
    "explain_section",
    "load_experiment",
    "parse_cli_overrides",
    "provenance_records",
    "render",
    "resolved_document",
    "with_overrides",
]
