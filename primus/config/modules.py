"""The module to run: which one of the experiment's modules, its keys, and its framework folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from primus.config.paths import (
    display_path,
    list_subfolders,
)
from primus.config.problems import raise_all, unknown_key
from primus.config.yaml_io import LineDict, kind_of, to_plain
from primus.errors import (
    ConfigTypeError,
    MissingKeyError,
    NotAMappingError,
    PrimusError,
    UnknownKeyError,
    UnknownPresetError,
    did_you_mean,
    suggest,
)

#: Keys a module entry may have.
MODULE_KEYS = ("framework", "config", "model", "overrides")
#: The module used when an experiment declares several.
DEFAULT_MODULE = "pre_trainer"


def pick_module(modules: LineDict) -> str:
    errors: list[PrimusError] = []
    for name in modules:
        if "trainer" not in name:
            errors.append(
                UnknownKeyError(
                    "a module name must contain 'trainer' (pre_trainer, post_trainer ...)",
                    file=modules.origin_of(name)[0],
                    line=modules.line_of(name),
                    key=f"modules.{name}",
                    suggestion=DEFAULT_MODULE,
                    valid=[DEFAULT_MODULE],
                    hint=f"rename it, e.g. {DEFAULT_MODULE}",
                )
            )
    raise_all(errors)
    if len(modules) == 1:
        return next(iter(modules))
    if DEFAULT_MODULE in modules:
        return DEFAULT_MODULE
    raise MissingKeyError(
        f"several modules ({', '.join(modules)}) and none is '{DEFAULT_MODULE}'",
        file=modules.file,
        line=modules.line,
        key="modules",
        hint=f"name the module to run '{DEFAULT_MODULE}', or keep only one module",
    )


def check_module(module: Any, name: str, modules: LineDict) -> list[PrimusError]:
    file, line = modules.origin_of(name)
    dotted = f"modules.{name}"
    if not isinstance(module, LineDict):
        return [
            NotAMappingError(
                f"a module must be a mapping with {', '.join(MODULE_KEYS)}, got a {kind_of(module)}",
                file=file,
                line=line,
                key=dotted,
            )
        ]
    errors: list[PrimusError] = []
    for key in module:
        if key not in MODULE_KEYS:
            errors.append(
                unknown_key(
                    key,
                    MODULE_KEYS,
                    where=f"'{dotted}'",
                    file=module.origin_of(key)[0],
                    line=module.line_of(key),
                    dotted=f"{dotted}.{key}",
                )
            )
    for key in ("framework", "config"):
        if key not in module:
            errors.append(
                MissingKeyError(
                    f"module '{name}' has no '{key}'",
                    file=file,
                    line=line,
                    key=f"{dotted}.{key}",
                    hint="e.g. framework: torchtitan"
                    if key == "framework"
                    else "e.g. config: pre_trainer.yaml",
                )
            )
    overrides = module.get("overrides")
    if overrides is not None and not isinstance(overrides, LineDict):
        errors.append(
            NotAMappingError(
                f"overrides must be a mapping of config sections, got a {kind_of(overrides)}",
                file=module.origin_of("overrides")[0],
                line=module.line_of("overrides"),
                key=f"{dotted}.overrides",
                hint="overrides:\n        training:\n          steps: 20",
            )
        )
    return errors


def framework_folders(root: Path, framework: Any, module: LineDict, dotted: str) -> str:
    """``framework`` when ``<root>/modules/<framework>`` or ``<root>/models/<framework>`` exists."""
    file, line = module.origin_of("framework")
    if not isinstance(framework, str) or not framework:
        raise ConfigTypeError(
            f"framework must be a name like 'torchtitan', got {framework!r}",
            file=file,
            line=line,
            key=dotted,
            value=to_plain(framework),
        )
    if (root / "modules" / framework).is_dir() or (root / "models" / framework).is_dir():
        return framework
    available = sorted(set(list_subfolders(root / "modules")) | set(list_subfolders(root / "models")))
    matches = suggest(framework, available)
    raise UnknownPresetError(
        f"unknown framework '{framework}' (no {display_path(root / 'modules' / framework)}/)",
        file=file,
        line=line,
        key=dotted,
        value=framework,
        searched=display_path(root / "modules") + "/",
        suggestions=matches,
        hint=did_you_mean(matches)
        if matches
        else f"available: {', '.join(available) or 'none (check the configs root)'}",
    )
