"""Checks that need more than one field: the model registry, ranges, sequence, schedule, checkpoints.

Parallelism (degrees, world size, meshes, batch arithmetic) is in ``primus.validate.parallelism``.

Every check reads the *effective* value of a key (the config's, else the schema default) and is skipped
when a key it needs was already rejected, so one bad value gives one message, not a cascade.
Each check mirrors a TorchTitan 0.2.2 assertion that would otherwise fire only after torchrun has started
(the source line is named in the comment), or a mistake that TorchTitan lets through silently.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from primus.errors import ConfigKeyError, ConfigValueError, suggest
from primus.validate import schema
from primus.validate.confine import DUMP_FOLDER_KEY, escaping_keys
from primus.validate.parallelism import check_parallelism
from primus.validate.report import Report
from primus.validate.values import Values

#: Converters that quantize the experts' grouped GEMMs: on a dense model they have nothing to act on.
_MOE_ONLY_CONVERTERS = ("quantize.grouped_mm.float8", "quantize.grouped_mm.mx")


def check_all(config: dict[str, Any], report: Report, env: Mapping[str, str]) -> None:
    values = Values(config, report)
    flavor = check_model(values, report)
    if flavor is not None:
        flavor = schema.with_overrides(flavor, schema.model_overrides(config))
        check_model_args(report, flavor)
    check_converters(values, report, flavor)
    check_no_effect(values, report, flavor)
    check_positive_counts(values, report)
    check_parallelism(values, report, env, flavor)
    check_sequence(values, report, flavor)
    check_schedule(values, report)
    check_checkpoint(values, report)
    check_output_paths(config, report)
    check_activation_checkpoint(values, report)
    check_compile(values, report)
    check_extension_module(values, report)
    check_datasets(values, report)


# ---------------------------------------------------------------------------------------------- registry
def check_model(values: Values, report: Report) -> schema.Flavor | None:
    """model.name / model.flavor against the registry snapshot; the flavor's numbers when both are valid."""
    got = values.all("model.name", "model.flavor")
    if got is None:
        return None
    family, flavor_name = got
    families = schema.families()
    if family not in families:
        unavailable = schema.registry()["unavailable_families"]
        if family in unavailable:
            report.add(
                ConfigValueError,
                "model.name",
                f"model family '{family}' cannot be loaded by the installed TorchTitan "
                f"({unavailable[family]})",
                value=family,
                hint=f"choose one of: {', '.join(families)}",
            )
            return None
        report.add(
            ConfigKeyError,
            "model.name",
            _unknown("model family", family, families),
            value=family,
            hint=f"available families: {', '.join(families)} (`primus-cli models` lists them with flavors)",
        )
        return None
    flavors = families[family]["flavors"]
    if flavor_name not in flavors:
        report.add(
            ConfigKeyError,
            "model.flavor",
            _unknown("flavor", flavor_name, flavors, f" for model family '{family}'"),
            value=flavor_name,
            hint=f"available flavors of {family}: {', '.join(flavors)}",
        )
        return None
    return schema.flavor(family, flavor_name)


def check_model_args(report: Report, flavor: schema.Flavor) -> None:
    """The overridden architecture must still build: head counts divide, top_k fits the experts."""
    if not flavor.overrides or any(key.startswith("model.") for key in report.bad_keys):
        return
    from primus.validate.model_args import family_fields, flavor_values, merged

    args = merged(flavor_values(flavor.family, flavor.name) or {}, flavor.overrides)
    fields = family_fields(flavor.family) or {}
    dim, heads, kv_heads = args.get("dim"), args.get("n_heads"), args.get("n_kv_heads")
    blame = next((f"model.{k}" for k in ("n_heads", "dim") if k in flavor.overrides), "model.n_heads")
    # llama3/llama4 derive head_dim = dim // n_heads (model.py); families with their own head_dim do not.
    if "head_dim" not in fields and "qk_nope_head_dim" not in fields and dim and heads and dim % heads:
        report.add(
            ConfigValueError,
            blame,
            f"n_heads({heads}) must divide dim({dim}) of {flavor.label}: each head gets dim / n_heads",
            value=args.get(blame.rpartition(".")[2]),
            hint=f"choose n_heads among {', '.join(str(d) for d in _divisors(dim) if d <= 256)}",
        )
        return  # one message per bad head count
    if heads and kv_heads and heads % kv_heads:
        if "n_kv_heads" in flavor.overrides:
            key, hint = "model.n_kv_heads", f"choose n_kv_heads among {', '.join(map(str, _divisors(heads)))}"
        else:
            key, hint = "model.n_heads", f"choose n_heads as a multiple of n_kv_heads({kv_heads})"
        report.add(
            ConfigValueError,
            key,
            f"n_kv_heads({kv_heads}) must divide n_heads({heads}) of {flavor.label} "
            "(each key/value head serves n_heads / n_kv_heads query heads)",
            value=args.get(key.rpartition(".")[2]),
            hint=hint,
        )
    moe = args.get("moe_args")
    if isinstance(moe, dict) and moe.get("top_k", 0) > moe.get("num_experts", 0) > 0:
        report.add(
            ConfigValueError,
            "model.moe_args.top_k" if "top_k" in flavor.overrides.get("moe_args", {}) else "model.moe_args",
            f"top_k({moe['top_k']}) exceeds num_experts({moe['num_experts']}) of {flavor.label}",
            value=moe["top_k"],
            hint=f"set model.moe_args.top_k to at most {moe['num_experts']}",
        )


def check_no_effect(values: Values, report: Report, flavor: schema.Flavor | None) -> None:
    """A warning for each key set to something Primus would act on but this backend does not."""

    def get(key: str) -> Any:
        got = values.all(key)  # None when the key (or its section) was rejected
        return got[0] if got is not None else None

    moe = bool(flavor.moe) if flavor is not None else False
    for key, message, hint in schema.backend().no_effect_warnings(get, moe):
        report.warn(ConfigValueError, key, message, value=get(key), hint=hint)


def _divisors(number: int) -> list[int]:
    return [d for d in range(1, number + 1) if number % d == 0]


def _unknown(what: str, name: str, choices: Any, context: str = "") -> str:
    matches = suggest(str(name), list(choices), count=1)
    close = matches[0] if matches else None
    return f"Unknown {what} '{name}'{context}." + (f" Did you mean: '{close}'?" if close else "")


#: Unknown converters reported one by one (with a suggestion each) up to this many; beyond, one message.
_MAX_NAMED_UNKNOWN = 5


def check_converters(values: Values, report: Report, flavor: schema.Flavor | None) -> None:
    got = values.all("model.converters")
    if got is None:
        return
    (names,) = got
    valid = schema.converters()
    unknown = [name for name in names if name not in valid]
    if len(unknown) > _MAX_NAMED_UNKNOWN:  # a generated list: one message, not thousands of suggestions
        report.add(
            ConfigKeyError,
            "model.converters",
            f"{len(unknown)} unknown converters: {', '.join(map(repr, unknown[:_MAX_NAMED_UNKNOWN]))} ...",
            value=names,
            hint=f"valid converters: {', '.join(valid)}",
        )
        return
    for name in names:
        if name not in valid:
            report.add(
                ConfigKeyError,
                "model.converters",
                _unknown("converter", name, valid),
                value=names,
                hint=f"valid converters: {', '.join(valid)}",
            )
        elif flavor is not None and not flavor.moe and name in _MOE_ONLY_CONVERTERS:
            report.add(
                ConfigValueError,
                "model.converters",
                f"converter '{name}' quantizes MoE experts, but {flavor.label} has no experts",
                value=names,
                hint=f"remove '{name}' or choose an MoE flavor",
            )
    duplicates = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicates:
        report.add(
            ConfigValueError,
            "model.converters",
            f"converter(s) listed twice: {', '.join(duplicates)}",
            value=names,
            hint="list each converter once (each would be applied again)",
        )


# ---------------------------------------------------------------------------------------- simple ranges
def check_positive_counts(values: Values, report: Report) -> None:
    for key, unit in (
        ("training.steps", "training steps"),
        ("training.local_batch_size", "sequences per rank per step"),
        ("training.seq_len", "tokens per sequence"),
        ("metrics.log_freq", "steps between log lines"),
    ):
        got = values.all(key)
        if got is not None and got[0] <= 0:
            report.add(
                ConfigValueError,
                key,
                f"must be a positive integer ({unit}), got {got[0]}",
                value=got[0],
                hint=f"set {key} to 1 or more",
            )
    got = values.all(
        "validation.enable", "validation.freq", "validation.local_batch_size", "validation.seq_len"
    )
    if got is not None and got[0]:
        for key, value in zip(
            ("validation.freq", "validation.local_batch_size", "validation.seq_len"), got[1:]
        ):
            if value <= 0:
                report.add(
                    ConfigValueError,
                    key,
                    f"must be a positive integer when validation.enable is true, got {value}",
                    value=value,
                    hint=f"set {key} to 1 or more, or validation.enable to false",
                )
    got = values.all("validation.steps")
    if got is not None and (got[0] == 0 or got[0] < -1):
        report.add(
            ConfigValueError,
            "validation.steps",
            f"must be -1 (run the whole validation set) or positive, got {got[0]}",
            value=got[0],
            hint="set validation.steps to -1 or to the number of validation batches",
        )
    got = values.all("training.global_batch_size")
    if got is not None and (got[0] == 0 or got[0] < -1):
        report.add(
            ConfigValueError,
            "training.global_batch_size",
            f"must be -1 (= local_batch_size * data-parallel degree) or positive, got {got[0]}",
            value=got[0],
            hint="set training.global_batch_size to -1 or to a multiple of local_batch_size * dp degree",
        )
    got = values.all("optimizer.lr")
    if got is not None and got[0] < 0:
        report.add(
            ConfigValueError,
            "optimizer.lr",
            f"must not be negative, got {got[0]}",
            value=got[0],
            hint="a learning rate is >= 0, e.g. 3.0e-4",
        )
    for key in ("lr_scheduler.min_lr_factor", "lr_scheduler.decay_ratio"):
        got = values.all(key)
        if got is not None and got[0] is not None and not 0.0 <= got[0] <= 1.0:
            report.add(
                ConfigValueError,
                key,
                f"must lie in [0, 1] (a fraction), got {got[0]}",
                value=got[0],
                hint=f"set {key} to a fraction between 0 and 1",
            )


# --------------------------------------------------------------------------------------------- sequence
def check_sequence(values: Values, report: Report, flavor: schema.Flavor | None) -> None:
    got = values.all("training.seq_len")
    if got is None or got[0] <= 0:
        return
    seq_len = got[0]
    if flavor is not None and seq_len > flavor.max_seq_len:
        # models/*/model/args.py update_from_config: logs a warning and raises max_seq_len to seq_len, so
        # RoPE is stretched past the context length the flavor was built for.
        report.warn(
            ConfigValueError,
            "training.seq_len",
            f"seq_len({seq_len}) exceeds max_seq_len({flavor.max_seq_len}) of {flavor.family} "
            f"{flavor.name}: TorchTitan will raise the model's max_seq_len to {seq_len}",
            value=seq_len,
            hint=f"set training.seq_len to at most {flavor.max_seq_len}, or accept the longer RoPE table",
        )
    degrees = values.all("parallelism.tensor_parallel_degree", "parallelism.context_parallel_degree")
    if degrees is None or min(degrees) < 1:
        return
    tp, cp = degrees
    # models/*/infra/parallelize.py assert seq_len % (tp * 2 * cp) == 0 (sequence and context parallelism)
    divisor = tp * 2 * cp
    if seq_len % divisor:
        report.add(
            ConfigValueError,
            "training.seq_len",
            f"seq_len({seq_len}) must be divisible by tensor_parallel_degree({tp}) * 2 * "
            f"context_parallel_degree({cp}) = {divisor}",
            value=seq_len,
            hint=f"use a multiple of {divisor}, e.g. {max(divisor, seq_len // divisor * divisor)}",
        )
    if flavor is not None and cp > 1 and flavor.attn_type not in (None, "sdpa"):
        # models/*/model/args.py update_from_config raise NotImplementedError for CP without SDPA
        report.add(
            ConfigValueError,
            "parallelism.context_parallel_degree",
            f"context parallelism needs SDPA attention, but {flavor.label} uses "
            f"attn_type '{flavor.attn_type}'",
            value=cp,
            hint="set parallelism.context_parallel_degree to 1 or choose an SDPA flavor",
        )


def check_schedule(values: Values, report: Report) -> None:
    got = values.all("lr_scheduler.warmup_steps", "lr_scheduler.total_steps", "training.steps")
    if got is None:
        return
    warmup, total, steps = got
    if warmup < 0:
        report.add(
            ConfigValueError,
            "lr_scheduler.warmup_steps",
            f"must not be negative, got {warmup}",
            value=warmup,
            hint="set lr_scheduler.warmup_steps to 0 or more",
        )
        return
    limit, limit_key = (total, "lr_scheduler.total_steps") if total is not None else (steps, "training.steps")
    if limit <= 0:
        return
    if warmup > limit:
        # lr_scheduler.py build_lr_schedulers: "Warmup steps (w) exceed total steps (t). Adjusting warmup
        # steps to t." The schedule as written never happens: the lr reaches its peak only at the last step.
        report.warn(
            ConfigValueError,
            "lr_scheduler.warmup_steps",
            f"warmup_steps({warmup}) exceeds {limit_key}({limit}): TorchTitan will clamp the warmup to "
            f"{limit} steps, so the learning rate peaks only at the last step",
            value=warmup,
            hint=f"set lr_scheduler.warmup_steps to at most {limit} (commonly a few percent of the steps)",
        )
        return  # the decay is then shortened to 0 steps as well: one message says it all
    got = values.all("lr_scheduler.decay_ratio")
    if got is None or got[0] is None or not 0.0 <= got[0] <= 1.0:
        return
    decay = round(limit * got[0])
    if warmup + decay > limit:
        # lr_scheduler.py: "Warmup (w) + decay (d) steps exceed total steps (t). Adjusting decay steps
        # to t-w."
        report.warn(
            ConfigValueError,
            "lr_scheduler.decay_ratio",
            f"warmup({warmup}) + decay({decay} = {limit_key}({limit}) * decay_ratio({got[0]})) steps exceed "
            f"{limit_key}({limit}): TorchTitan will shorten the decay to {limit - warmup} steps",
            value=got[0],
            hint=f"lower lr_scheduler.decay_ratio to at most {(limit - warmup) / limit:.3g} "
            "or shorten the warmup",
        )


def check_checkpoint(values: Values, report: Report) -> None:
    got = values.all("checkpoint.enable", "checkpoint.interval", "checkpoint.keep_latest_k")
    if got is None:
        return
    enable, interval, keep = got
    if enable and interval <= 0:
        report.add(
            ConfigValueError,
            "checkpoint.interval",
            f"must be positive (steps between checkpoints) when checkpoint.enable is true, got {interval}",
            value=interval,
            hint="set checkpoint.interval to 1 or more, or checkpoint.enable to false",
        )
    if keep < 0 or keep == 1:
        # checkpoint.py: "We need to maintain at least 2 checkpoint replicas"
        report.add(
            ConfigValueError,
            "checkpoint.keep_latest_k",
            f"must be 0 (keep all) or at least 2, got {keep}",
            value=keep,
            hint="the newest checkpoint may still be being written, so TorchTitan keeps at least 2",
        )


def check_output_paths(config: dict[str, Any], report: Report) -> None:
    """Output folders must stay inside ``<bundle>/train/`` (TorchTitan joins them onto the dump folder).

    ``job.dump_folder`` itself is replaced by the launcher with ``<bundle>/train``: a value other than
    TorchTitan's default (which every Primus preset repeats) has no effect and warns.
    """
    value = config.get("job", {}).get("dump_folder")
    if value is not None and value != schema.default_of(DUMP_FOLDER_KEY):
        report.warn(
            ConfigValueError,
            DUMP_FOLDER_KEY,
            f"{value!r} has no effect: every run writes into its bundle's train/ folder",
            value=value,
            hint="drop job.dump_folder; a run's outputs are in runs/<exp_name>/<hash>/train/",
        )
    for key, value, reason in escaping_keys(config):
        report.add(
            ConfigValueError,
            key,
            f"{value!r} {reason}: the run would write outside its bundle's train/ folder",
            value=value,
            hint="use a plain relative folder name (e.g. 'checkpoint'); every run writes into "
            "<bundle>/train/, so runs can never share or delete each other's files",
        )


def check_activation_checkpoint(values: Values, report: Report) -> None:
    got = values.all("activation_checkpoint.mode", "activation_checkpoint.selective_ac_option")
    if got is None:
        return
    mode, option = got
    # activation_checkpoint.py: the option is "op" or a positive layer interval written as digits
    if mode == "selective" and not (option == "op" or (option.isdigit() and int(option) > 0)):
        report.add(
            ConfigValueError,
            "activation_checkpoint.selective_ac_option",
            f"{option!r} is neither 'op' nor a positive layer interval like '2'",
            value=option,
            hint="use 'op' (op-level policy) or a positive integer N (checkpoint every N-th layer)",
        )


def check_compile(values: Values, report: Report) -> None:
    got = values.all("compile.components")
    if got is None:
        return
    unknown = [c for c in got[0] if c not in ("model", "loss")]
    if unknown:
        report.add(
            ConfigValueError,
            "compile.components",
            f"unknown component(s) {', '.join(map(repr, unknown))}",
            value=got[0],
            hint="valid components: 'model', 'loss'",
        )


def check_extension_module(values: Values, report: Report) -> None:
    for key in ("experimental.custom_args_module", "job.custom_config_module"):
        got = values.all(key)
        known = schema.backend().extension_modules
        if got is not None and got[0] not in known:
            report.add(
                ConfigValueError,
                key,
                f"custom config module {got[0]!r} is not known to the validator, "
                "so its keys cannot be checked",
                value=got[0],
                hint=f"use {known[1]!r} (the Primus extension) or leave it empty",
            )


def check_datasets(values: Values, report: Report) -> None:
    # hf_datasets/text_datasets.py _validate_dataset: the name must be registered even when a
    # dataset_path is given (the path only moves where that dataset's loader reads from).
    known = schema.registry()["datasets"]
    got = values.all("training.mock_data", "validation.enable")
    if got is None:
        return
    mock_data, validation_enabled = got
    for key, needed in (("training.dataset", not mock_data), ("validation.dataset", validation_enabled)):
        name = values.all(key)
        if needed and name is not None and name[0] not in known:
            report.add(
                ConfigValueError,
                key,
                _unknown("dataset", name[0], known),
                value=name[0],
                hint=f"TorchTitan 0.2.2 knows the datasets {', '.join(known)}; set the one whose format "
                "your data has and point the matching dataset_path at it, or use training.mock_data: true",
            )
            continue
        section = key.split(".")[0]
        path = values.all(f"{section}.dataset_path")
        layout = schema.backend().assets
        if needed and name is not None and name[0] in layout.streamed and path is not None and not path[0]:
            # text_datasets.py: c4 is load_dataset("allenai/c4", streaming=True): whatever the Hub holds when
            # training runs. lock.json records the repository, but there is no revision or digest to pin.
            report.warn(
                ConfigValueError,
                key,
                f"dataset '{name[0]}' is streamed from the Hub ({layout.builtin_datasets[name[0]]}) at train "
                "time with no revision: the bundle records it but cannot pin it",
                value=name[0],
                hint=f"pin a copy: {section}.dataset_path: hf://datasets/{layout.builtin_datasets[name[0]]}@COMMIT/"
                "PATTERN (the assets stage then records its commit and every file's sha256)",
            )
