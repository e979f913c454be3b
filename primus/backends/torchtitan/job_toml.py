"""Write a validated config's TorchTitan sections as the TOML file TorchTitan 0.2.2 loads.

The file is what TorchTitan reads with ``--job.config_file``.

What goes in: TorchTitan's JobConfig sections (``job`` ... ``debug``) and the Primus extension (the
``primus_turbo`` section and ``training.mock_data``), which TorchTitan's ConfigManager accepts only when
``job.custom_config_module`` names the extension module. What stays out: Primus module-level keys
(``trainable``, ``sink_level`` ...), which are not TorchTitan's.

TOML has no null. A None whose TorchTitan default is None is simply omitted (TorchTitan fills in None);
a None for any other field cannot be expressed and is an error that names the key and where it was set.
This module never imports torch or TorchTitan: the bundle stage that calls it must stay fast.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import tomli_w

from primus.config.model import Origin
from primus.errors import ConfigValueError

#: TorchTitan 0.2.2 JobConfig sections, in JobConfig's field order.
TORCHTITAN_SECTIONS = (
    "job",
    "profiling",
    "metrics",
    "model",
    "optimizer",
    "lr_scheduler",
    "training",
    "parallelism",
    "checkpoint",
    "activation_checkpoint",
    "compile",
    "quantize",
    "comm",
    "memory_estimation",
    "fault_tolerance",
    "experimental",
    "validation",
    "debug",
)

#: Sections the Primus extension adds to JobConfig.
PRIMUS_SECTIONS = ("primus_turbo",)

#: Fields the Primus extension adds inside TorchTitan sections.
PRIMUS_FIELDS = ("training.mock_data",)

#: The module TorchTitan imports to learn the Primus sections (its ``JobConfig`` is merged into TorchTitan's).
PRIMUS_EXTENSION_MODULE = "primus.backends.torchtitan.primus_turbo_extensions.config_extension"

#: Dotted keys whose default in TorchTitan 0.2.2's JobConfig is None, so leaving them out of the TOML gives
#: exactly None. tests/test_job_toml.py checks this list against the installed JobConfig dataclasses.
NONE_DEFAULT_KEYS = frozenset(
    {
        "job.config_file",
        "job.save_config_file",
        "model.tokenizer_path",
        "lr_scheduler.total_steps",
        "lr_scheduler.decay_ratio",
        "training.dataset_path",
        "training.dataloader.prefetch_factor",
        "parallelism.module_fqns_per_model_part",
        "parallelism.pipeline_parallel_layers_per_stage",
        "checkpoint.initial_load_path",
        "quantize.linear.float8.recipe_name",
        "fault_tolerance.semi_sync_method",
        "validation.dataset_path",
        "validation.dataloader.prefetch_factor",
        "debug.seed",
    }
)

OriginLookup = Callable[[str], Origin | None]


def job_toml_data(config: Mapping[str, Any], *, origin_of: OriginLookup | None = None) -> dict[str, Any]:
    """The nested dict written to job_config.toml: TorchTitan and Primus-extension sections, None left out.

    ``origin_of(dotted_key)`` (e.g. ``ResolvedExperiment.origin_of``) lets errors say where a value was set.
    Raises ``ConfigValueError`` for a None that TOML cannot carry and for conflicting extension modules.
    """
    data: dict[str, Any] = {}
    for section in (*TORCHTITAN_SECTIONS, *PRIMUS_SECTIONS):
        if section not in config:
            continue
        value = config[section]
        if value is None:
            continue  # a section cleared with null: TorchTitan's defaults apply to all of it
        if not isinstance(value, Mapping):
            raise _error(
                section,
                value,
                f"must be a mapping of {section} settings, got {type(value).__name__}",
                "write the section as `key: value` lines indented under it",
                origin_of,
            )
        if section == "model":
            # model.<arg> architecture overrides are no JobConfig field (TorchTitan would refuse the file);
            # the trainer applies them to the flavor's ModelArgs from resolved.yaml.
            value = {key: item for key, item in value.items() if key in _job_model_fields()}
        data[section] = _strip_none(value, section, origin_of)
    _name_extension_module(data, origin_of)
    return data


def _job_model_fields() -> frozenset[str]:
    from primus.validate import schema

    return frozenset(schema.children().get("model", ()))


def job_toml_text(config: Mapping[str, Any], *, origin_of: OriginLookup | None = None) -> str:
    """job_config.toml as text (tomli-w keeps insertion order: sections in JobConfig order, keys as given)."""
    return tomli_w.dumps(job_toml_data(config, origin_of=origin_of))


def write_job_toml(path: Path, config: Mapping[str, Any], *, origin_of: OriginLookup | None = None) -> None:
    """Write job_config.toml for ``config`` (a validated config) to ``path``."""
    Path(path).write_text(job_toml_text(config, origin_of=origin_of), encoding="utf-8")


def _strip_none(node: Mapping[str, Any], prefix: str, origin_of: OriginLookup | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.items():
        dotted = f"{prefix}.{key}"
        if value is None:
            if dotted in NONE_DEFAULT_KEYS:
                continue
            raise _error(
                dotted,
                value,
                "is null, but TOML has no null and TorchTitan 0.2.2's default for this field is not None",
                "set a value, or delete the line to get TorchTitan's default",
                origin_of,
            )
        if isinstance(value, Mapping):
            out[key] = _strip_none(value, dotted, origin_of)
        elif isinstance(value, list | tuple):
            out[key] = [_list_item(item, f"{dotted}[{index}]", origin_of) for index, item in enumerate(value)]
        else:
            out[key] = value
    return out


def _list_item(item: Any, dotted: str, origin_of: OriginLookup | None) -> Any:
    if item is None:
        raise _error(
            dotted,
            item,
            "is null inside a list, but TOML has no null",
            "remove the entry or give it a value",
            origin_of,
        )
    if isinstance(item, Mapping):
        return _strip_none(item, dotted, origin_of)
    if isinstance(item, list | tuple):
        return [_list_item(sub, f"{dotted}[{index}]", origin_of) for index, sub in enumerate(item)]
    return item


def _name_extension_module(data: dict[str, Any], origin_of: OriginLookup | None) -> None:
    """Make ``job.custom_config_module`` name the module that defines the extension sections.

    TorchTitan 0.2.2 reads only ``job.custom_config_module`` from the TOML before checking field names; the
    deprecated ``experimental.custom_args_module`` (what Primus presets set) is copied over only after
    parsing, too late for ``[primus_turbo]``. So the writer copies it, as TorchTitan itself later would.
    """
    job = data.setdefault("job", {})
    job_module = job.get("custom_config_module", "")
    args_module = data.get("experimental", {}).get("custom_args_module", "")
    if job_module and args_module and job_module != args_module:
        raise _error(
            "experimental.custom_args_module",
            args_module,
            f"names {args_module!r} but job.custom_config_module names {job_module!r}; TorchTitan would "
            "silently replace the second with the first",
            "keep one of the two (experimental.custom_args_module is deprecated in TorchTitan 0.2.2)",
            origin_of,
        )
    module = job_module or args_module
    uses_extension = any(section in data for section in PRIMUS_SECTIONS) or any(
        _has(data, dotted) for dotted in PRIMUS_FIELDS
    )
    if not module and uses_extension:
        module = PRIMUS_EXTENSION_MODULE
    if module:
        job["custom_config_module"] = module
    elif not job:
        del data["job"]


def _has(data: Mapping[str, Any], dotted: str) -> bool:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def _error(
    dotted: str, value: Any, message: str, hint: str, origin_of: OriginLookup | None
) -> ConfigValueError:
    origin = origin_of(dotted) if origin_of else None
    return ConfigValueError(
        message,
        file=origin.file if origin else None,
        line=origin.line if origin else None,
        key=dotted,
        value=value,
        hint=hint,
    )
