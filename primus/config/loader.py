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

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from primus.config.interpolate import interpolate
from primus.config.merge import LayeredConfig, expand_dotted_keys, merge_annotated
from primus.config.model import ENVELOPE_OPTIONAL, ENVELOPE_REQUIRED, ResolvedExperiment
from primus.config.overrides import parse_cli_overrides
from primus.config.paths import (
    FOLDER_NAME_HINT,
    default_configs_root,
    display_path,
    folder_name_problem,
    list_subfolders,
    list_yaml_files,
    resolve_preset,
)
from primus.config.yaml_io import LineDict, LineList, kind_of, read_yaml_cached, to_plain
from primus.errors import (
    ConfigErrors,
    ConfigFileNotFoundError,
    ConfigTypeError,
    ConfigValueError,
    ExtendsCycleError,
    MissingKeyError,
    NotAMappingError,
    PrimusError,
    UnknownKeyError,
    UnknownPresetError,
    did_you_mean,
    suggest,
    unknown_key_message,
)

#: Keys a module entry may have.
MODULE_KEYS = ("framework", "config", "model", "overrides")
#: Keys a ``platform:`` mapping may have.
PLATFORM_KEYS = ("config", "overrides")
#: The module used when an experiment declares several.
DEFAULT_MODULE = "pre_trainer"


def raise_all(errors: list[PrimusError]) -> None:
    """Raise the one error, or ConfigErrors holding all of them; nothing when the list is empty."""
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ConfigErrors(errors)


def unknown_key(
    key: str, valid: Sequence[str], *, where: str, file: str, line: int, dotted: str
) -> UnknownKeyError:
    """An UnknownKeyError for ``key`` with the closest of ``valid`` as the suggestion.

    ``where`` is the parent as :func:`primus.errors.unknown_key_message` wants it (``'modules.x'``).
    """
    matches = suggest(key, list(valid), count=1)
    suggestion = matches[0] if matches else None
    return UnknownKeyError(
        unknown_key_message(key, where, suggestion),
        file=file,
        line=line,
        key=dotted,
        suggestion=suggestion,
        valid=list(valid),
        hint=f"valid keys: {', '.join(valid)}",
    )


class _Session:
    """State of one load: environment, variables consumed, files read."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.consumed: dict[str, str | None] = {}
        self.inputs: list[Path] = []
        self._real: dict[str, Path] = {}
        self._shown: dict[str, str] = {}

    def realpath(self, path: Path) -> Path:
        """``path.resolve()``, memoised for this load (resolve costs one lstat per path component)."""
        key = os.path.abspath(path)
        real = self._real.get(key)
        if real is None:
            real = self._real[key] = Path(os.path.realpath(key))
        return real

    def shown(self, path: Path) -> str:
        """:func:`display_path`, memoised for this load."""
        key = os.path.abspath(path)
        text = self._shown.get(key)
        if text is None:
            text = self._shown[key] = display_path(path)
        return text

    def read(self, path: Path) -> LineDict:
        """One file, parsed (cached per process) and interpolated (per load: it depends on ``env``)."""
        resolved = self.realpath(path)
        raw, has_placeholders = read_yaml_cached(resolved, self.shown(path))
        if resolved not in self.inputs:
            self.inputs.append(resolved)
        return interpolate(raw, self.env, self.consumed) if has_placeholders else raw

    def chain(self, path: Path, stack: tuple[Path, ...] = ()) -> list[LineDict]:
        """The documents of ``path``'s ``extends:`` chain in merge order; ``path``'s own body is last.

        Every returned document is without its ``extends`` key. ``stack`` holds the files being loaded above
        this one (to detect cycles).
        """
        resolved = self.realpath(path)
        document = self.read(path)
        documents: list[LineDict] = []
        for entry, line in _extends_entries(document):
            target = Path(entry)
            if not target.is_absolute():
                target = path.parent / target
            target_resolved = self.realpath(target)
            loading = (*stack, resolved)
            if target_resolved in loading:
                start = loading.index(target_resolved)
                cycle = [self.shown(item) for item in loading[start:]] + [self.shown(target_resolved)]
                raise ExtendsCycleError(
                    "extends cycle: " + " -> ".join(cycle),
                    file=document.file,
                    line=line,
                    cycle=cycle,
                    hint="remove one of these extends entries",
                )
            if not target.is_file():
                raise _missing_extends(entry, target, document.file, line)
            documents.extend(self.chain(target, loading))
        body = LineDict(document.file, document.line)
        for key, value in document.items():
            if key != "extends":
                body[key] = value
                body.origins[key] = document.origin_of(key)
        documents.append(body)
        return documents

    def merged(self, path: Path) -> LineDict:
        """``path`` with its whole ``extends:`` chain merged into one document (keys keep their file:line)."""
        documents = self.chain(path)
        merged = documents[0]
        for document in documents[1:]:
            merged = merge_annotated(merged, document)
        return merged


#: Most entries one ``extends:`` list may name (Primus's presets name one or two).
MAX_EXTENDS = 64


def _extends_entries(document: LineDict) -> list[tuple[str, int]]:
    """``(entry, line)`` for each ``extends:`` entry (a string or a list of strings; null means none)."""
    if "extends" not in document:
        return []
    value = document["extends"]
    line = document.line_of("extends")
    if value is None:
        return []
    if isinstance(value, str):
        return [(value, line)]
    if isinstance(value, LineList) and all(isinstance(item, str) for item in value):
        if len(value) > MAX_EXTENDS:
            raise ConfigValueError(
                f"extends lists {len(value)} files; at most {MAX_EXTENDS} are read",
                file=document.file,
                line=line,
                key="extends",
                hint="a preset extends a few others; merge the rest into fewer files",
            )
        return list(zip(value, value.item_lines, strict=True))
    raise ConfigTypeError(
        f"extends must be a file name or a list of file names, got a {kind_of(value)}",
        file=document.file,
        line=line,
        key="extends",
        value=to_plain(value),
        hint="extends: [../module_base.yaml, quantize.yaml]",
    )


def _missing_extends(entry: str, target: Path, file: str, line: int) -> ConfigFileNotFoundError:
    matches = suggest(target.name, list_yaml_files(target.parent))  # that folder only, never a tree walk
    hint = did_you_mean(matches) if matches else "paths are relative to the declaring file"
    return ConfigFileNotFoundError(
        f"extends target '{entry}' not found (looked for {display_path(target)})",
        file=file,
        line=line,
        key="extends",
        value=entry,
        hint=hint,
    )


def _as_text(value: Any) -> Any:
    """Numbers as their text (``7`` -> ``"7"``); anything else unchanged (booleans stay booleans)."""
    return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def _check_envelope(document: LineDict, file: str) -> list[PrimusError]:
    errors: list[PrimusError] = []
    valid = ENVELOPE_REQUIRED + ENVELOPE_OPTIONAL
    for key in document:
        if key not in valid:
            errors.append(
                unknown_key(
                    key,
                    valid,
                    where="the experiment",
                    file=document.origin_of(key)[0],
                    line=document.line_of(key),
                    dotted=key,
                )
            )
    for key in ENVELOPE_REQUIRED:
        if key not in document:
            errors.append(
                MissingKeyError(
                    f"missing required top-level key '{key}'",
                    file=file,
                    key=key,
                    hint=f"add `{key}: ...` at the top level (required: {', '.join(ENVELOPE_REQUIRED)})",
                )
            )
            continue
        value = document[key]
        origin_file, line = document.origin_of(key)
        needs_text = key in ("exp_name", "workspace")  # both become paths; the others are labels
        value = _as_text(value)
        if not isinstance(value, str) or (needs_text and not value.strip()):
            errors.append(
                ConfigTypeError(
                    f"must be a {'non-empty ' if needs_text else ''}string, got {value!r}",
                    file=origin_file,
                    line=line,
                    key=key,
                    value=to_plain(value),
                    hint="quote the value if it is meant to be text",
                )
            )
        elif key == "exp_name" and (problem := folder_name_problem(value)):
            errors.append(
                ConfigValueError(
                    f"{value[:60]!r}{'…' if len(value) > 60 else ''} {problem} (runs go to runs/<exp_name>/)",
                    file=origin_file,
                    line=line,
                    key=key,
                    value=value,
                    hint=FOLDER_NAME_HINT,
                )
            )
    if "modules" not in document:
        errors.append(
            MissingKeyError(
                "the experiment has no modules",
                file=file,
                key="modules",
                hint="add modules.pre_trainer with framework, config, model and overrides",
            )
        )
    elif not isinstance(document["modules"], LineDict) or not document["modules"]:
        errors.append(
            NotAMappingError(
                f"modules must be a mapping of module names to modules, got a {kind_of(document['modules'])}",
                file=document.origin_of("modules")[0],
                line=document.line_of("modules"),
                key="modules",
                hint="modules:\n    pre_trainer:\n      framework: torchtitan ...",
            )
        )
    return errors


def _pick_module(modules: LineDict) -> str:
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


def _check_module(module: Any, name: str, modules: LineDict) -> list[PrimusError]:
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


def _framework_folders(root: Path, framework: Any, module: LineDict, dotted: str) -> str:
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


def _load_platform(session: _Session, root: Path, value: Any, document: LineDict) -> dict[str, Any]:
    """Platform preset: ``platform: azure``, ``platform_azure.yaml`` or ``{config: ..., overrides: ...}``."""
    file, line = document.origin_of("platform")
    overrides: LineDict | None = None
    name = value
    if isinstance(value, LineDict):
        raise_all(
            [
                unknown_key(
                    key,
                    PLATFORM_KEYS,
                    where="'platform'",
                    file=value.origin_of(key)[0],
                    line=value.line_of(key),
                    dotted=f"platform.{key}",
                )
                for key in value
                if key not in PLATFORM_KEYS
            ]
        )
        if "config" not in value:
            raise MissingKeyError(
                "platform has no 'config'",
                file=file,
                line=line,
                key="platform.config",
                hint="platform:\n  config: platform_local.yaml",
            )
        name = value["config"]
        file, line = value.origin_of("config")
        raw_overrides = value.get("overrides")
        if raw_overrides is not None and not isinstance(raw_overrides, LineDict):
            raise NotAMappingError(
                f"platform overrides must be a mapping, got a {kind_of(raw_overrides)}",
                file=value.origin_of("overrides")[0],
                line=value.line_of("overrides"),
                key="platform.overrides",
            )
        overrides = raw_overrides
    extra = [f"platform_{name}"] if isinstance(name, str) else []
    path = resolve_preset(
        root / "platforms", name, what="platform", file=file, line=line, key="platform", candidates=extra
    )
    merged = session.merged(path)
    if overrides:
        merged = merge_annotated(merged, overrides)
    return to_plain(merged)


class _Problems:
    """Collects the problems of one pass so the user sees them all at once."""

    def __init__(self) -> None:
        self.errors: list[PrimusError] = []

    def attempt(self, step: Any, *args: Any, **kwargs: Any) -> Any:
        """``step(*args, **kwargs)``, or None with its error(s) recorded."""
        try:
            return step(*args, **kwargs)
        except ConfigErrors as errors:
            self.errors.extend(errors.errors)
        except PrimusError as error:
            self.errors.append(error)
        return None


def _select_module(document: LineDict, root: Path, shown: str) -> tuple[str, LineDict, Path, Path | None]:
    """Check the envelope and the module to run, and find its presets.

    Returns ``(module name, module mapping, module preset path, model preset path or None)``. Every problem
    found along the way (envelope keys, module keys, framework, both presets) is raised together.
    """
    problems = _Problems()
    problems.errors.extend(_check_envelope(document, shown))
    modules = document.get("modules")
    name = problems.attempt(_pick_module, modules) if isinstance(modules, LineDict) and modules else None
    module = modules[name] if name is not None else None
    module_path = model_path = None
    if name is not None:
        module_errors = _check_module(module, name, modules)
        problems.errors.extend(module_errors)
        if not module_errors:
            dotted = f"modules.{name}"
            framework = module["framework"]
            if (
                problems.attempt(_framework_folders, root, framework, module, f"{dotted}.framework")
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

    session = _Session(environment)
    document = session.merged(experiment_path)
    module_name, module, module_path, model_path = _select_module(document, root, shown)
    framework = module["framework"]
    experiment_overrides = expand_dotted_keys(module.get("overrides") or LineDict(shown, 0))

    # A number here comes from ``${VAR}`` coercion (exp_name: ${RUN:7}); the envelope holds text.
    envelope: dict[str, Any] = {key: _as_text(document[key]) for key in ENVELOPE_REQUIRED}
    if document.get("platform") is not None:
        envelope["platform"] = _load_platform(session, root, document["platform"], document)

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
