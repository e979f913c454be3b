"""``load_experiment``: one experiment YAML -> :class:`ResolvedExperiment`.

Layers, lowest precedence first (``model.LAYERS``):

1. module base   -- files reached through the module preset's ``extends:`` chain, in order
2. module preset -- ``<configs_root>/modules/<framework>/<config>`` itself
3. model preset  -- ``<configs_root>/models/<framework>/<model>`` (and its own ``extends:``, if any),
                    deep-merged over the module preset (Primus drops a section the module preset also
                    has; here it merges)
4. overrides     -- ``modules.<name>.overrides`` of the experiment, dotted keys expanded
5. command line  -- the ``overrides`` argument, one layer per override, in order

Each file gets ``${VAR}`` substitution on its own, before its ``extends:`` is followed. The experiment file
may itself use ``extends:`` (its chain is merged into one document first).

Module choice: an experiment with one module uses it; with several, ``pre_trainer`` is used (other modules
are not loaded). Module names must contain ``trainer``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from primus.config.envelope import as_text, check_envelope
from primus.config.extends import LoadSession
from primus.config.merge import LayeredConfig, expand_dotted_keys
from primus.config.model import ENVELOPE_REQUIRED, ResolvedExperiment
from primus.config.modules import check_module, framework_folders, pick_module
from primus.config.overrides import parse_cli_overrides
from primus.config.paths import (
    default_configs_root,
    display_path,
    resolve_preset,
)
from primus.config.platform import load_platform
from primus.config.problems import Problems, raise_all
from primus.config.run_env import check_env
from primus.config.yaml_io import LineDict
from primus.errors import (
    ConfigFileNotFoundError,
)


def _select_module(document: LineDict, root: Path, shown: str) -> tuple[str, LineDict, Path, Path | None]:
    """Check the envelope and the module to run, and find its presets.

    Returns ``(module name, module mapping, module preset path, model preset path or None)``. Every problem
    found along the way (envelope keys, module keys, framework, both presets) is raised together.
    """
    problems = Problems()
    problems.errors.extend(check_envelope(document, shown))
    modules = document.get("modules")
    name = problems.attempt(pick_module, modules) if isinstance(modules, LineDict) and modules else None
    module = modules[name] if name is not None else None
    module_path = model_path = None
    if name is not None:
        module_errors = check_module(module, name, modules)
        problems.errors.extend(module_errors)
        if not module_errors:
            dotted = f"modules.{name}"
            framework = module["framework"]
            if (
                problems.attempt(framework_folders, root, framework, module, f"{dotted}.framework")
                is not None
            ):
                file, line = module.origin_of("config")
                module_path = problems.attempt(
                    resolve_preset,
                    root / "modules" / framework,
                    module["config"],
                    what="module preset",
                    file=file,
                    line=line,
                    key=f"{dotted}.config",
                )
                if module.get("model") is not None:
                    file, line = module.origin_of("model")
                    model_path = problems.attempt(
                        resolve_preset,
                        root / "models" / framework,
                        module["model"],
                        what="model preset",
                        file=file,
                        line=line,
                        key=f"{dotted}.model",
                    )
    raise_all(problems.errors)
    # no problems: every step above ran and returned a value
    return cast(str, name), cast(LineDict, module), cast(Path, module_path), model_path


def load_experiment(
    path: str | Path,
    overrides: Sequence[str] = (),
    *,
    env: Mapping[str, str] | None = None,
    configs_root: Path | None = None,
) -> ResolvedExperiment:
    """Load, interpolate and merge one experiment with its presets and overrides.

    ``overrides``: command-line overrides (``--training.steps 5``, ``training.steps=5`` ...), highest
    precedence. ``env``: the environment for ``${VAR}`` and ``$PRIMUS_CONFIGS_ROOT`` (default ``os.environ``).
    ``configs_root``: the folder holding ``modules/``, ``models/``, ``platforms/`` (default
    ``$PRIMUS_CONFIGS_ROOT``, else the package's ``primus/configs``). Reads files only; writes nothing.

    Raises a ConfigError subclass, or ConfigErrors with every problem found in one file at once.
    """
    environment = os.environ if env is None else env
    root = Path(configs_root) if configs_root is not None else default_configs_root(environment)
    if isinstance(overrides, str):  # one override passed bare; list("--x=1") would split it into characters
        overrides = [overrides]
    cli = parse_cli_overrides(list(overrides))
    experiment_path = Path(path)
    shown = display_path(experiment_path)
    if not experiment_path.is_file():
        what = "is a folder, not a file" if experiment_path.is_dir() else "does not exist"
        if not experiment_path.is_absolute() and not experiment_path.is_dir():
            what += f" (looked for it in {Path.cwd()})"
        raise ConfigFileNotFoundError(
            f"experiment file {what}",
            file=shown,
            hint="give the path of an experiment YAML, e.g. examples/torchtitan/configs/CPU/<name>.yaml",
        )

    session = LoadSession(environment)
    document = session.merged(experiment_path)
    module_name, module, module_path, model_path = _select_module(document, root, shown)
    framework = module["framework"]
    experiment_overrides = expand_dotted_keys(module.get("overrides") or LineDict(shown, 0))

    # A number here comes from ``${VAR}`` coercion (exp_name: ${RUN:7}); the envelope holds text.
    envelope: dict[str, Any] = {key: as_text(document[key]) for key in ENVELOPE_REQUIRED}
    if document.get("platform") is not None:
        envelope["platform"] = load_platform(session, root, document["platform"], document)
    if document.get("env"):
        envelope["env"] = check_env(document["env"], *document.origin_of("env"))[0]

    layered = LayeredConfig()
    module_documents = session.chain(module_path)
    for base in module_documents[:-1]:
        layered.apply(base, "module base")
    layered.apply(module_documents[-1], "module preset")
    if model_path is not None:
        for model_document in session.chain(model_path):
            layered.apply(model_document, "model preset")
    layered.apply(experiment_overrides, "overrides")
    for override in cli:
        layered.apply(override.as_tree(), "command line")

    return ResolvedExperiment(
        path=experiment_path,
        envelope=envelope,
        module_name=module_name,
        framework=framework,
        module_preset=module["config"],
        model_preset=module.get("model") or "",
        config=layered.config,
        provenance=layered.provenance,
        inputs=list(session.inputs),
        env_consumed=dict(session.consumed),
        cli_overrides=list(overrides),
    )


def with_overrides(resolved: ResolvedExperiment, overrides: Sequence[str]) -> ResolvedExperiment:
    """``resolved`` with more command-line overrides on top, exactly as if ``load_experiment`` had been given
    them after its own (command-line layers come last, in order): no file is read or merged again, which is
    what makes planning a sweep of many points cheap. ``resolved`` itself is left unchanged."""
    layered = LayeredConfig()
    layered.config = _copy_tree(resolved.config)
    layered.provenance = {key: list(settings) for key, settings in resolved.provenance.items()}
    for override in parse_cli_overrides(list(overrides)):
        layered.apply(override.as_tree(), "command line")
    return dataclasses.replace(
        resolved,
        config=layered.config,
        provenance=layered.provenance,
        inputs=list(resolved.inputs),
        env_consumed=dict(resolved.env_consumed),
        cli_overrides=[*resolved.cli_overrides, *overrides],
    )


def _copy_tree(value: Any) -> Any:
    """A copy of the nested dicts and lists of a config (its scalars are immutable)."""
    if isinstance(value, dict):
        return {key: _copy_tree(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy_tree(item) for item in value]
    return value
