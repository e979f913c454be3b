"""Parallelism checks: degrees, their product against the world size, meshes, heads, micro- and global batch.

Each rule mirrors a TorchTitan 0.2.2 assertion (``parallel_dims.py``, ``pipeline_parallel.py``,
``train.py``) that would otherwise fire only after torchrun has started. The world size comes from the
environment by ``primus.world``'s rules (the launcher's too); ``DEGREES`` is the one table of the degrees.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from primus.errors import ConfigValueError
from primus.validate import schema
from primus.validate.report import Report
from primus.validate.values import Values
from primus.world import stated_world_size

#: Every parallelism degree: dotted key and TorchTitan's short name (``ParallelDims`` fields).
DEGREES = (
    ("parallelism.data_parallel_replicate_degree", "dp_replicate"),
    ("parallelism.data_parallel_shard_degree", "dp_shard"),
    ("parallelism.context_parallel_degree", "cp"),
    ("parallelism.tensor_parallel_degree", "tp"),
    ("parallelism.pipeline_parallel_degree", "pp"),
    ("parallelism.expert_parallel_degree", "ep"),
    ("parallelism.expert_tensor_parallel_degree", "etp"),
)


def check_parallelism(
    values: Values, report: Report, env: Mapping[str, str], flavor: schema.Flavor | None
) -> None:
    got = values.all(*(key for key, _ in DEGREES))
    if got is None:
        return
    degree = {short: value for (_, short), value in zip(DEGREES, got)}
    key_of = {short: key for key, short in DEGREES}
    bad = False
    for short, value in degree.items():
        allowed = value >= 1 or (short == "dp_shard" and value == -1)
        if not allowed:
            bad = True
            sentinel = " or -1 (use the leftover ranks)" if short == "dp_shard" else ""
            report.add(
                ConfigValueError,
                key_of[short],
                f"parallel degree must be >= 1{sentinel}, got {value}",
                value=value,
                hint=f"set {key_of[short]} to 1 to disable this kind of parallelism",
            )
    if bad:
        return
    dp_r, dp_s, cp, tp, pp, ep, etp = (
        degree[k] for k in ("dp_replicate", "dp_shard", "cp", "tp", "pp", "ep", "etp")
    )
    # parallel_dims.py _validate: "Currently we only support ETP=TP or ETP=1"
    if ep > 1 and etp not in (1, tp):
        report.add(
            ConfigValueError,
            key_of["etp"],
            f"expert_tensor_parallel_degree({etp}) must be 1 or equal tensor_parallel_degree({tp}) when "
            f"expert_parallel_degree > 1",
            value=etp,
            hint=f"set parallelism.expert_tensor_parallel_degree to 1 or {tp}",
        )
    if flavor is not None and ep > 1 and not flavor.moe:
        report.add(
            ConfigValueError,
            key_of["ep"],
            f"expert_parallel_degree({ep}) needs experts, but {flavor.label} is not an MoE model",
            value=ep,
            hint="set parallelism.expert_parallel_degree to 1 or choose an MoE flavor",
        )
    if flavor is not None:
        _check_heads(report, flavor, tp, key_of["tp"])
        if pp > flavor.n_layers:
            report.add(
                ConfigValueError,
                key_of["pp"],
                f"pipeline_parallel_degree({pp}) exceeds the {flavor.n_layers} layers of "
                f"{flavor.label}: some stages would hold no layer",
                value=pp,
                hint=f"set parallelism.pipeline_parallel_degree to at most {flavor.n_layers}",
            )
    if pp > 1:
        _check_microbatch(values, report)

    world, world_source = world_size_from(env, report)
    if world is None:
        return
    non_dp = dp_r * cp * tp * pp
    if dp_s == -1:
        # parallel_dims.py: dp_shard = world_size // (dp_replicate * cp * tp * pp)
        if world % non_dp:
            report.add(
                ConfigValueError,
                _first_set(values, key_of, ("tp", "pp", "cp", "dp_replicate", "dp_shard")),
                f"data_parallel_shard_degree -1 takes the leftover ranks, but {world_source} "
                f"is not divisible by "
                f"dp_replicate({dp_r}) * cp({cp}) * tp({tp}) * pp({pp}) = {non_dp}",
                value=dp_s,
                hint=f"make the product of the other degrees divide {world}, or change the number of ranks",
            )
            return
        dp_s = world // non_dp
    elif dp_r * dp_s * cp * tp * pp != world:
        key = _first_set(values, key_of, ("dp_shard", "tp", "pp", "cp", "dp_replicate"))
        report.add(
            ConfigValueError,
            key,
            f"Invalid parallel dims: dp_replicate({dp_r}) * dp_shard({dp_s}) * cp({cp}) * tp({tp}) "
            f"* pp({pp}) "
            f"= {dp_r * dp_s * cp * tp * pp} != WORLD_SIZE({world}), from {world_source}",
            value=degree[_short(key)],
            hint="set parallelism.data_parallel_shard_degree to -1 to use the leftover ranks",
        )
        return
    # the efsdp mesh has dp_shard * cp * tp // (etp * ep) ranks (parallel_dims.py _validate_meshes)
    if ep > 1 and (dp_s * cp * tp) % (etp * ep):
        report.add(
            ConfigValueError,
            key_of["ep"],
            f"expert_parallel_degree({ep}) * expert_tensor_parallel_degree({etp}) must divide "
            f"dp_shard({dp_s}) * cp({cp}) * tp({tp}) = {dp_s * cp * tp}",
            value=ep,
            hint=f"choose an expert_parallel_degree that divides {dp_s * cp * tp // etp}",
        )
    _check_global_batch(values, report, dp_r * dp_s)


def _first_set(values: Values, key_of: dict[str, str], order: tuple[str, ...]) -> str:
    """The first of these degrees that a config file set (so the message points at a line), else dp_shard."""
    return next((key_of[short] for short in order if values.is_set(key_of[short])), key_of["dp_shard"])


def _short(key: str) -> str:
    return next(short for full, short in DEGREES if full == key)


def _check_heads(report: Report, flavor: schema.Flavor, tp: int, tp_key: str) -> None:
    for what, heads in (("n_heads", flavor.n_heads), ("n_kv_heads", flavor.n_kv_heads)):
        if heads is not None and heads % tp:
            divisors = [d for d in range(1, heads + 1) if heads % d == 0]
            report.add(
                ConfigValueError,
                tp_key,
                f"tensor_parallel_degree({tp}) must divide {what}({heads}) of {flavor.label}",
                value=tp,
                hint=f"choose a tensor_parallel_degree among {', '.join(map(str, divisors))}",
            )
            return  # one message is enough: n_kv_heads divides n_heads in every registry flavor


def _check_microbatch(values: Values, report: Report) -> None:
    # pipeline_parallel.py: "Batch size ... must be divisible by microbatch_size"
    got = values.all("training.local_batch_size", "parallelism.pipeline_parallel_microbatch_size")
    if got is None:
        return
    batch, micro = got
    if micro <= 0 or batch % micro:
        report.add(
            ConfigValueError,
            "parallelism.pipeline_parallel_microbatch_size",
            f"training.local_batch_size({batch}) must be divisible by "
            f"pipeline_parallel_microbatch_size({micro})",
            value=micro,
            hint="choose a microbatch size that divides the local batch size",
        )


def _check_global_batch(values: Values, report: Report, batch_degree: int) -> None:
    # train.py: global batch must be a multiple of local_batch_size * (dp_replicate * dp_shard)
    got = values.all("training.global_batch_size", "training.local_batch_size")
    if got is None:
        return
    global_batch, local_batch = got
    per_step = local_batch * batch_degree
    if global_batch > 0 and per_step > 0 and global_batch % per_step:
        report.add(
            ConfigValueError,
            "training.global_batch_size",
            f"global_batch_size({global_batch}) must be a multiple of local_batch_size({local_batch}) * "
            f"data-parallel degree({batch_degree}) = {per_step}",
            value=global_batch,
            hint=f"set training.global_batch_size to -1 or to a multiple of {per_step}",
        )


def world_size_from(env: Mapping[str, str], report: Report) -> tuple[int | None, str]:
    """The number of ranks the job will run with, when the environment says (``primus.world``'s rules),
    and where that came from; a variable that is not a positive integer is reported and counts as unset."""
    world, source, bad = stated_world_size(env)
    for name, text in bad:
        report.errors.append(
            ConfigValueError(
                f"environment variable {name}={text!r} is not a positive integer",
                file="<environment>",
                key=name,
                value=text,
                hint=f"unset {name} or set it to the number of ranks",
            )
        )
    return world, source


def world_size_of(parallelism: Mapping[str, Any]) -> int | None:
    """The ranks a ``parallelism`` section's degrees multiply to (dp_replicate * dp_shard * cp * tp * pp;
    expert degrees reuse those ranks), or None when a degree is -1 ("the leftover ranks") or below 1."""
    world = 1
    for key, short in DEGREES:
        if short in ("ep", "etp"):
            continue
        name = key.partition(".")[2]
        degree = int(parallelism.get(name, schema.default_of(key)))
        if degree < 1:
            return None
        world *= degree
    return world


def layout_mismatch(parallelism: Mapping[str, Any], world: int) -> str | None:
    """Why ``world`` ranks cannot hold a ``parallelism`` section's degrees (TorchTitan's ``ParallelDims``
    rule: the product equals the world size; one ``data_parallel_shard_degree`` of -1 takes the leftover
    ranks), naming every degree; None when they fit."""
    degrees = {
        short: int(parallelism.get(key.partition(".")[2], schema.default_of(key)))
        for key, short in DEGREES
        if short not in ("ep", "etp")  # expert degrees reuse the ranks of the others
    }
    fixed = 1
    for short, degree in degrees.items():
        if not (short == "dp_shard" and degree == -1):
            fixed *= degree
    product = " * ".join(f"{short}({degree})" for short, degree in degrees.items())
    if degrees["dp_shard"] == -1:
        return None if world % fixed == 0 else f"{product} needs a world size that {fixed} divides"
    return None if fixed == world else f"{product} = {fixed} ranks"
