"""What the Snakefile needs: experiment lookup, the run plan (every path a rule reads or writes) and the
shell lines of the train step.

Imported by the Snakefile at parse time on every ``snakemake`` call, so it stays torch-free and writes
nothing: planning loads and validates the experiment (no preflight) and computes the bundle path with the
same function ``primus-cli resolve --freeze`` uses. The bundle folder name is the content hash, so a
comment-only edit maps to the existing outputs ("Nothing to be done") and a value change to new ones.

Experiment lookup (``--config exp=...``), in order:

1. ``exp`` ending in ``.yaml``/``.yml`` or containing ``/`` is a path (relative to the working directory).
2. Otherwise it is a name, looked up among ``examples/*/configs/<platform>/*.yaml`` (``platform`` is the
   workflow config key, default ``MI300X``) by file stem:
   a. an exact stem (``qwen3_8B-BF16-pretrain``);
   b. else stems that continue the name at a dash (``qwen3_8B`` -> ``qwen3_8B-BF16-pretrain``);
   c. else stems that start with the name (``qwen3_8`` -> ``qwen3_8B-BF16-pretrain``).
   The first step with any match decides: one match is the experiment, several are an ambiguity error
   listing them. No match is an error listing the closest names and every name of the platform.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from primus.bundle import layout
from primus.errors import (
    EXIT_PREEMPTED,
    ConfigKeyError,
    ConfigValueError,
    ExperimentNotFoundError,
    cli_boundary,
    did_you_mean,
    suggest,
)

#: Workflow config defaults (the schema in workflow/schemas/config.schema.yaml repeats them for users).
DEFAULT_PLATFORM = "MI300X"
DEFAULT_RUNS_DIR = "runs"
#: Folder under the runs folder for the workflow's own bookkeeping (logs, validation stamps, image IDs):
#: kept outside ``runs/<exp_name>/`` so every folder there is a bundle.
WORKFLOW_DIR = ".workflow"
#: Folder under the runs folder for sweep reports (``<runs>/.sweeps/<sweep name>/``).
SWEEPS_DIR = ".sweeps"
RUNTIMES = ("host", "container")

_YAML_SUFFIXES = (".yaml", ".yml")


# ---------------------------------------------------------------------------------------------- lookup


def examples_for_platform(platform: str, *, root: Path) -> dict[str, Path]:
    """Every experiment of ``platform``: file stem -> path (relative to ``root``), sorted by stem."""
    found: dict[str, Path] = {}
    for path in sorted(root.glob(f"examples/*/configs/{platform}/*")):
        if path.suffix in _YAML_SUFFIXES and path.is_file():
            found.setdefault(path.stem, path.relative_to(root))
    return dict(sorted(found.items()))


def platforms(*, root: Path) -> list[str]:
    """Platform folder names present under ``examples/*/configs/``."""
    return sorted({p.name for p in root.glob("examples/*/configs/*") if p.is_dir()})


def is_path_like(exp: str) -> bool:
    """True when ``exp`` is meant as a file path rather than an experiment name."""
    return "/" in exp or exp.endswith(_YAML_SUFFIXES)


def _display_path(path: Path) -> Path:
    """``path`` relative to the working directory when it lies under it (shorter messages and rule params)."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def find_experiment(exp: str, *, platform: str = DEFAULT_PLATFORM, root: Path = Path()) -> Path:
    """The experiment file ``exp`` refers to (see the module docstring for the rules).

    ``root`` holds ``examples/``; a path is taken relative to the working directory, else to ``root``.
    Returns the path of the file (relative to the working directory when under it). Raises
    ExperimentNotFoundError (exit code 2) for a missing file, an unknown name or an ambiguous one.
    """
    exp = str(exp).strip()
    if not exp:
        raise ExperimentNotFoundError(
            "empty experiment name", hint="snakemake train --config exp=NAME (or a path to a YAML file)"
        )
    if is_path_like(exp):
        path = Path(exp)
        if not path.is_file() and not path.is_absolute() and (root / path).is_file():
            # Run with --directory elsewhere: the shipped default is relative to the workflow folder.
            return _display_path(root / path)
        if not path.is_file():
            raise ExperimentNotFoundError(
                f"experiment file {exp} does not exist"
                + ("" if path.is_absolute() else f" (looked for it in {Path.cwd()} and {root.resolve()})"),
                hint="give a path to an existing YAML file, or an experiment name such as exp=qwen3_8B",
            )
        return path

    names = examples_for_platform(platform, root=root)
    if not names:
        known = platforms(root=root)
        raise ExperimentNotFoundError(
            f"no experiments for platform '{platform}' under examples/*/configs/{platform}/",
            candidates=known,
            hint=f"set --config platform=NAME; platforms with experiments: {', '.join(known) or '(none)'}",
        )
    steps = (
        [s for s in names if s == exp],
        [s for s in names if s.startswith(exp + "-")],
        [s for s in names if s.startswith(exp)],
    )
    for matches in steps:
        if len(matches) == 1:
            return _display_path(root / names[matches[0]])
        if matches:
            raise ExperimentNotFoundError(
                f"experiment name '{exp}' is ambiguous on platform {platform}: it matches {len(matches)} "
                f"experiments: {', '.join(matches)}",
                candidates=matches,
                hint=f"use a longer name, e.g. exp={matches[0]}",
            )
    # Compare with the part before the first dash too: 'qwen3_9B' is close to 'qwen3_8B', not to the whole
    # 'qwen3_8B-BF16-pretrain'.
    heads = {stem.split("-", 1)[0] for stem in names}
    close_heads = set(suggest(exp.split("-", 1)[0], sorted(heads), cutoff=0.75))
    close = [stem for stem in names if stem.split("-", 1)[0] in close_heads]
    close += [s for s in suggest(exp, list(names), cutoff=0.75) if s not in close]
    raise ExperimentNotFoundError(
        f"no experiment named '{exp}' for platform {platform}",
        candidates=close or list(names),
        hint=" ".join(
            part for part in (did_you_mean(close), f"available on {platform}: {', '.join(names)}") if part
        ),
    )


def primus_cli_command(configured: str = "") -> str:
    """The command the rules run for primus-cli: ``configured`` when set, else this Python with ``-m
    primus.cli`` (the interpreter running Snakemake already imports primus, activated venv or not).

    A configured command is split into words like a shell would and each word is quoted again, so ``$(...)``,
    backticks, ``;`` or ``|`` in it are passed to primus-cli literally and never run.
    """
    if configured:
        try:
            words = shlex.split(configured)
        except ValueError as error:
            raise ConfigValueError(
                f"cannot split primus_cli {configured!r} into words: {error}",
                key="primus_cli",
                value=configured,
                hint="quote a path with spaces as a whole, e.g. primus_cli=\"'/opt/my tools/primus-cli'\"",
            ) from None
        return shlex.join(words)
    return f"{shlex.quote(sys.executable)} -m primus.cli"


# ---------------------------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class SlurmResources:
    """What the train job asks SLURM for. ``gpus_per_node`` 0 means a CPU-only job (no GPU request)."""

    nodes: int = 1
    gpus_per_node: int = 0
    cpus_per_task: int = 1
    mem_mb: int = 4000  # per node, MiB; 0 asks for no --mem (SLURM's default: typically the whole node)
    runtime_min: int = 60  # wall-clock limit, minutes
    master_port: int = 29500  # TCP port of the torchrun rendezvous on the first node
    procs_per_node: int = 0  # training processes per node; 0: one per GPU, or 1 on a CPU-only job
    signal_s: int = 90  # SIGUSR1 this many seconds before the time limit: checkpoint, stop, requeue; 0: none

    @property
    def processes_per_node(self) -> int:
        """Training processes on each node: ``procs_per_node``, else one per GPU, else 1."""
        return self.procs_per_node or self.gpus_per_node or 1

    @property
    def world_size(self) -> int:
        return self.nodes * self.processes_per_node

    @property
    def sbatch_options(self) -> list[str]:
        """The sbatch options the plugin's own resources do not cover (its ``slurm_extra``).

        ``--signal``: SIGUSR1 to every process of the job's steps before the time limit (the workers
        checkpoint and stop; the train step then requeues the job, see train_shell). GPUs go here as
        ``--gpus-per-node`` because the plugin's ``gpu`` resource would add ``--ntasks-per-gpu``.
        """
        options = ["--ntasks-per-node=1"]
        if self.signal_s:
            options.append(f"--signal=USR1@{self.signal_s}")
        if self.gpus_per_node:
            options.append(f"--gpus-per-node={self.gpus_per_node}")
        return options

    def snakemake_resources(self) -> dict[str, Any]:
        """Resources for the ``train_model`` rule in the names snakemake-executor-plugin-slurm reads.

        Multi-node jobs are "mpi" jobs for the plugin: it then runs our command as is (no ``srun -n1``
        around it) and our own ``srun`` starts one task per node.
        """
        resources: dict[str, Any] = {
            "nodes": self.nodes,
            **({"mem_mb": self.mem_mb} if self.mem_mb else {}),
            "runtime": self.runtime_min,
            "cpus_per_task": self.cpus_per_task,
            "slurm_extra": " ".join(self.sbatch_options),
        }
        if self.nodes > 1:
            resources["mpi"] = "srun"
            resources["tasks"] = self.nodes
        return resources


@dataclass(frozen=True)
class RunPlan:
    """Every path the workflow uses for one run (one sweep point), computed at parse time without writes.

    ``bundle`` is None for the container runtime until the image is built: its ID is part of the hash
    (see ``bundle_for_image``), and None while a Hub repository the run reads is not fetched: its pins are
    part of the hash too (the ``fetch_assets`` checkpoint fetches it). ``key`` is the hash of the config
    alone and names the bookkeeping folder. ``assets``: the run reads a tokenizer or data (not mock data).
    """

    experiment: Path  # as given or found, relative to the working directory when under it
    exp_name: str
    runs_dir: Path
    runtime: str
    overrides: tuple[str, ...]
    key: str
    bundle: Path | None
    assets: bool = False
    #: ``strict: true`` in the workflow config: validation warnings are errors (``primus-cli ... --strict``)
    strict: bool = False
    resources: SlurmResources = field(default_factory=SlurmResources)
    point: str = "base"  # the sweep point's name ("base" for a single run)
    validated: Any = field(default=None, repr=False, compare=False)

    @property
    def resolved(self) -> Any:
        return self.validated.resolved

    @property
    def config(self) -> Any:
        return self.validated.config

    @property
    def workdir(self) -> Path:
        """Bookkeeping folder: validation stamp and logs of the rules that run before the bundle."""
        return self.runs_dir / WORKFLOW_DIR / self.exp_name / self.key

    @property
    def cli_args(self) -> str:
        """The experiment and its overrides as primus-cli takes them, quoted for a shell."""
        return shlex.join([*(["--strict"] if self.strict else []), str(self.experiment), *self.overrides])

    def bundle_for_image(self, image_id: str | None) -> Path:
        """The bundle path once the container image (if any) is known and the assets it reads are fetched
        (same recipe as ``primus-cli resolve``)."""
        return self.validated.bundle(runs_dir=self.runs_dir, image_id=image_id)


@dataclass(frozen=True)
class WorkflowPlan:
    """The runs of one ``snakemake`` call: one for ``exp=``, one per sweep point for ``sweep=``.

    Rules find their run by wildcards (``run``, ``for_bundle``); points with the same bundle are one run
    for the rules (the first point names it) and stay separate points in ``sweep``.
    """

    runs: tuple[RunPlan, ...]
    runs_dir: Path
    runtime: str
    container_variant: str = "rocm"
    sweep: Any = None  # primus.sweep.SweepPlan for sweep=, else None

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_key", {(r.exp_name, r.key): r for r in reversed(self.runs)})
        object.__setattr__(self, "_by_bundle", {})

    @property
    def distinct_runs(self) -> list[RunPlan]:
        """One run per bundle key, in point order."""
        return list({(r.exp_name, r.key): r for r in reversed(self.runs)}.values())[::-1]

    def run(self, exp_name: str, key: str) -> RunPlan:
        """The run whose config hash is ``key`` (the bookkeeping folders' wildcards)."""
        try:
            return self._by_key[(exp_name, key)]  # type: ignore[attr-defined]
        except KeyError:
            raise ConfigKeyError(
                f"no planned run {exp_name}/{key}", key="exp", hint="the workflow config changed: rerun"
            ) from None

    def for_bundle(self, exp_name: str, bundle_hash: str, image_id: str | None = None) -> RunPlan:
        """The run frozen to ``runs/<exp_name>/<bundle_hash>`` (the container runtime needs the image ID).

        A run without assets on the host is found by its key (the bundle hash); the others by the bundle
        each freezes to, computed once its image is built and its assets are fetched.
        """
        if self.runtime == "host" or image_id is None:
            run = self._by_key.get((exp_name, bundle_hash))  # type: ignore[attr-defined]
            if run is not None and not run.assets:
                return run
        cache = self._by_bundle  # type: ignore[attr-defined]
        if image_id not in cache:
            cache[image_id] = {
                (r.exp_name, bundle.name): r
                for r in reversed(self.runs)
                if (bundle := _bundle_if_known(r, image_id)) is not None
            }
        try:
            return cache[image_id][(exp_name, bundle_hash)]
        except KeyError:
            raise ConfigKeyError(
                f"no planned run frozen to {exp_name}/{bundle_hash}", key="exp", hint="rerun"
            ) from None


def _bundle_if_known(run: RunPlan, image_id: str | None) -> Path | None:
    """The run's bundle, or None while a Hub repository it reads is not fetched."""
    from primus.errors import AssetCacheError

    try:
        return run.bundle_for_image(image_id)
    except AssetCacheError:
        return None


def nodes_from_parallelism(config: Mapping[str, Any], gpus_per_node: int) -> int | None:
    """Nodes the validated config's parallelism degrees need, or None when they cannot say.

    None when no GPUs per node are requested, or when any degree is -1 ("use the leftover ranks", so the
    world size comes from the allocation rather than from the config).
    """
    if gpus_per_node <= 0:
        return None
    from primus.validate.parallelism import world_size_of

    world = world_size_of(config.get("parallelism") or {})
    if world is None:
        return None
    return max(1, -(-world // gpus_per_node))


#: GPUs per node of each hardware platform of examples/*/configs/<platform>/ (AMD Instinct nodes carry 8).
PLATFORM_GPUS_PER_NODE = {"MI300X": 8, "MI325X": 8, "MI355X": 8, "CPU": 0}
#: Memory per node (MiB) a CPU-only train job asks for when ``slurm.mem_mb`` is not set.
CPU_JOB_MEM_MB = 4000


def slurm_resources(
    settings: Mapping[str, Any], config: Mapping[str, Any], *, platform: str | None = None
) -> SlurmResources:
    """The train job's request: the workflow config's ``slurm:`` values, with ``nodes: 0`` ("from the
    bundle") taken from the config's parallelism degrees (world size / GPUs per node), else 1.

    ``platform`` (the workflow's): when ``slurm.gpus_per_node`` is not set it comes from the platform
    (``PLATFORM_GPUS_PER_NODE``: 8 on MI300X); a platform the table does not know raises ConfigValueError
    saying what to set. ``mem_mb`` unset: 4000 MiB for a CPU-only job, no ``--mem`` (the whole node, as
    SLURM sites configure it) for a GPU job. Without ``platform`` the dataclass defaults apply.
    """
    values = {k: int(v) for k, v in settings.items() if k in SlurmResources.__dataclass_fields__}
    if platform is not None and "gpus_per_node" not in values:
        if platform not in PLATFORM_GPUS_PER_NODE:
            raise ConfigValueError(
                f"the SLURM request needs the GPUs per node, and platform {platform!r} does not say",
                key="slurm.gpus_per_node",
                value=platform,
                hint="set it in the workflow config: --config slurm='{gpus_per_node: 8}' (0 for a CPU-only "
                f"job); platforms known: {', '.join(f'{k}={v}' for k, v in PLATFORM_GPUS_PER_NODE.items())}",
            )
        values["gpus_per_node"] = PLATFORM_GPUS_PER_NODE[platform]
    if platform is not None and "mem_mb" not in values:
        values["mem_mb"] = 0 if values.get("gpus_per_node") else CPU_JOB_MEM_MB
    if values.get("nodes", 0) == 0:
        values["nodes"] = nodes_from_parallelism(config, values.get("gpus_per_node", 0)) or 1
    return SlurmResources(**values)


def experiment_platform(experiment: Path | str, default: str | None) -> str | None:
    """The hardware platform an experiment is for: the ``<platform>`` folder of a file under
    ``examples/*/configs/<platform>/`` (the CPU examples are CPU whatever ``platform`` says), else
    ``default``."""
    parts = Path(experiment).parts
    for index in range(len(parts) - 2):
        if parts[index] == "configs" and index >= 2 and parts[index - 2] == "examples":
            return parts[index + 1]
    return default


#: sbatch(1) on ``--signal``: "the signal may be sent up to 60 seconds earlier than specified".
SLURM_SIGNAL_EARLY_S = 60


def check_slurm_time(resources: SlurmResources) -> None:
    """ConfigValueError when the early-warning signal would leave a job no time to train.

    SLURM sends SIGUSR1 ``signal_s`` seconds before the time limit, up to ``SLURM_SIGNAL_EARLY_S`` earlier
    still. A warning due at the job's start stops every run (and every requeued run) after its first step:
    the job would requeue itself once per step instead of training.
    """
    limit_s = resources.runtime_min * 60
    if not resources.signal_s or resources.signal_s + SLURM_SIGNAL_EARLY_S < limit_s:
        return
    lower = (
        f"lower slurm.signal_s below {limit_s - SLURM_SIGNAL_EARLY_S} s, or "
        if limit_s > SLURM_SIGNAL_EARLY_S + 1
        else ""
    )
    raise ConfigValueError(
        f"the SIGUSR1 warning {resources.signal_s} s before the time limit (SLURM may send it up to "
        f"{SLURM_SIGNAL_EARLY_S} s earlier) leaves no time to train in slurm.runtime_min "
        f"{resources.runtime_min} ({limit_s} s): each job would stop after one step and requeue itself",
        key="slurm.signal_s",
        value=resources.signal_s,
        hint=f"raise slurm.runtime_min above {(resources.signal_s + SLURM_SIGNAL_EARLY_S) // 60} min, {lower}"
        "set slurm.signal_s: 0 for no early warning (SIGTERM at the time limit still checkpoints the step)",
    )


def shield_from_slurm_warning(environ: Mapping[str, str] | None = None) -> bool:
    """Inside a SLURM job, make this process (the Snakemake that runs the train rule) ignore SIGUSR1.

    ``--signal=USR1@N`` reaches every process of the job step. SIGUSR1's default action would end the
    Snakemake process around training (and with it the job's bookkeeping: a run that then finished its last
    step would still count as failed). Its children inherit the ignore; ``primus-cli train`` and the
    workers install their own handlers and stop at the end of the step with a checkpoint. Returns whether
    it did so.
    """
    environ = os.environ if environ is None else environ
    if not environ.get("SLURM_JOB_ID"):
        return False
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    return True


def check_slurm_layout(resources: SlurmResources, config: Mapping[str, Any], origin_of: Any = None) -> None:
    """ConfigValueError (before anything is submitted) when the job's world size cannot hold the degrees.

    World size = ``slurm.nodes`` x processes per node (``slurm.procs_per_node``, else ``gpus_per_node``,
    else 1); the message names every number and where each came from.
    """
    from primus.validate.parallelism import layout_mismatch

    per_node = (
        f"procs_per_node({resources.procs_per_node})"
        if resources.procs_per_node
        else f"gpus_per_node({resources.gpus_per_node})"
        if resources.gpus_per_node
        else "1 process per node (no GPUs requested)"
    )
    problem = layout_mismatch(config.get("parallelism") or {}, resources.world_size)
    if problem is None:
        return
    origin = None
    for key in ("parallelism.data_parallel_shard_degree", "parallelism.tensor_parallel_degree"):
        origin = origin or (origin_of(key) if origin_of else None)
    raise ConfigValueError(
        f"{problem}, but the SLURM job has slurm.nodes({resources.nodes}) x {per_node} = world size "
        f"{resources.world_size}",
        file=origin.file if origin else None,
        line=(origin.line or None) if origin else None,
        key="parallelism",
        hint="make slurm.nodes x processes per node equal the product of the degrees (set slurm.nodes, "
        "slurm.gpus_per_node or slurm.procs_per_node), or set data_parallel_shard_degree to -1",
    )


def _overrides(value: Any) -> tuple[str, ...]:
    if value in (None, ""):
        return ()
    if isinstance(value, str):
        return tuple(shlex.split(value))
    return tuple(str(item) for item in value)


def _runtime(workflow_config: Mapping[str, Any]) -> str:
    runtime = str(workflow_config.get("runtime", "host"))
    if runtime not in RUNTIMES:
        raise ConfigValueError(
            f"unknown runtime '{runtime}'",
            key="runtime",
            value=runtime,
            hint=f"one of: {', '.join(RUNTIMES)}",
        )
    return runtime


def _run_plan(
    point: Any,
    base: Path,
    runs_dir: Path,
    runtime: str,
    strict: bool,
    settings: Any,
    platform: str | None = None,
) -> RunPlan:
    """One planned point as a run. A run that reads a tokenizer or data (``assets``) is keyed by the hash of
    its config alone (its bookkeeping folder, known before anything is fetched); its bundle hash also
    covers the asset pins, so until a Hub repository it reads is fetched the bundle is unknown (None)."""
    from primus.assets import sources_of

    validated = point.validated
    reads_assets = bool(sources_of(validated.config, origin_of=validated.resolved.origin_of))
    keyed = validated.bundle(runs_dir=runs_dir, assets=[]) if reads_assets else point.bundle
    known = None if point.assets_pending else point.bundle
    resources = slurm_resources(settings, validated.config, platform=experiment_platform(base, platform))
    check_slurm_layout(resources, validated.config, validated.resolved.origin_of)
    check_slurm_time(resources)
    return RunPlan(
        experiment=base,
        exp_name=keyed.parent.name,
        runs_dir=runs_dir,
        runtime=runtime,
        overrides=point.overrides,
        key=keyed.name,
        bundle=known if runtime == "host" else None,
        assets=reads_assets,
        strict=strict,
        resources=resources,
        point=point.name,
        validated=validated,
    )


def plan_workflow(workflow_config: Mapping[str, Any], *, root: Path = Path()) -> WorkflowPlan:
    """Plan every run of ``workflow_config`` (no writes): the sweep's points for ``sweep``, else ``exp``
    as a sweep of one point. Each point is loaded and validated (no preflight) and hashed.

    ``workflow_config`` is Snakemake's ``config`` after schema validation (keys: exp, sweep, platform,
    runtime, runs_dir, overrides, strict, slurm). Raises PrimusError subclasses with file:line for any
    problem.
    """
    from primus.sweep import plan_sweep, read_sweep, single_run

    runtime = _runtime(workflow_config)
    platform = str(workflow_config.get("platform", DEFAULT_PLATFORM))
    overrides = _overrides(workflow_config.get("overrides"))
    runs_dir = Path(str(workflow_config.get("runs_dir", DEFAULT_RUNS_DIR)))
    sweep_file = str(workflow_config.get("sweep") or "")
    if sweep_file:
        spec = read_sweep(sweep_file, platform=platform, root=root)
    else:
        experiment = find_experiment(str(workflow_config.get("exp", "")), platform=platform, root=root)
        spec = single_run(experiment, overrides)
        overrides = ()
    # --config strict=true arrives as the string "true"; config.yaml's strict: true as a boolean
    strict = workflow_config.get("strict", False) in (True, "true")
    sweep = plan_sweep(spec, runs_dir=runs_dir, base_overrides=overrides, strict=strict)
    settings = workflow_config.get("slurm") or {}
    runs = tuple(
        _run_plan(point, spec.base, runs_dir, runtime, strict, settings, platform) for point in sweep.points
    )
    return WorkflowPlan(
        runs=runs,
        runs_dir=runs_dir,
        runtime=runtime,
        container_variant=str(workflow_config.get("container_variant", "rocm")),
        sweep=sweep if sweep_file else None,
    )


def plan_run(workflow_config: Mapping[str, Any], *, root: Path = Path()) -> RunPlan:
    """The one run of ``workflow_config`` (``exp=``): ``plan_workflow``'s only run."""
    (run,) = plan_workflow({**workflow_config, "sweep": ""}, root=root).runs
    return run


# ---------------------------------------------------------------------------------------------- train step


def first_host_line(var: str = "MASTER_ADDR") -> str:
    """Shell line that sets ``var`` to the address of the first host of the SLURM allocation (the rendezvous
    host): SLURM's ``NodeAddr`` for it (what slurmctld itself reaches the node by), else its name.

    The node list comes from ``SLURM_JOB_NODELIST``, or from ``scontrol show job`` where the job's
    environment lacks it (snakemake-executor-plugin-slurm drops most ``SLURM_*`` variables inside jobs).
    """
    nodelist = (
        "\"${SLURM_JOB_NODELIST:-$(scontrol show job \"$SLURM_JOB_ID\" -o | tr ' ' '\\n' "
        "| sed -n 's/^NodeList=//p')}\""
    )
    first = f"scontrol show hostnames {nodelist} | head -n 1"
    address = f"scontrol show node \"$({first})\" -o | tr ' ' '\\n' | sed -n 's/^NodeAddr=//p'"
    return f'{var}="$({address})"; {var}="${{{var}:-$({first})}}"'


def srun_train_lines(
    bundle: Path | str, resources: SlurmResources, *, primus_cli: str = "primus-cli", train_args: str = ""
) -> list[str]:
    """Shell lines, run inside the sbatch allocation, that start one ``primus-cli train`` per node.

    Each task learns its node rank from ``SLURM_NODEID`` and gets the rendezvous (first host of the
    allocation, never localhost), the node count and the GPUs per node through the environment names
    Primus uses (MASTER_ADDR, MASTER_PORT, NNODES, NODE_RANK, GPUS_PER_NODE); ``launch_command`` turns
    them into the torchrun arguments.
    """
    r = resources
    srun = [
        "srun",
        f"--nodes={r.nodes}",
        f"--ntasks={r.nodes}",
        "--ntasks-per-node=1",
        f"--cpus-per-task={r.cpus_per_task}",
    ]
    if r.gpus_per_node:
        srun.append(f"--gpus-per-node={r.gpus_per_node}")
    # GPUS_PER_NODE only when GPUs are requested: without it the launcher starts one process (CPU);
    # NPROC_PER_NODE when slurm.procs_per_node asks for a number of processes (several CPU processes).
    gpus = f",GPUS_PER_NODE={r.gpus_per_node}" if r.gpus_per_node else ""
    gpus += f",NPROC_PER_NODE={r.procs_per_node}" if r.procs_per_node else ""
    srun += [
        "--kill-on-bad-exit=1",
        f"--export=ALL,MASTER_ADDR=$MASTER_ADDR,MASTER_PORT={r.master_port},NNODES={r.nodes}{gpus}",
    ]
    task = f"NODE_RANK=$SLURM_NODEID exec {_train_command(bundle, primus_cli, train_args)}"
    return [first_host_line(), " ".join(srun) + " bash -c " + shlex.quote(task)]


def _train_command(bundle: Path | str, primus_cli: str, train_args: str) -> str:
    command = f"{primus_cli} train --bundle {shlex.quote(str(bundle))}"
    return f"{command} {train_args}" if train_args else command


def runtime_train_args(runtime: str, container_variant: str) -> str:
    """Extra ``primus-cli train`` arguments for a runtime: the container runtime trains inside the image."""
    if runtime == "container":
        return f"--runtime container --container-variant {shlex.quote(container_variant)}"
    return ""


def train_shell(
    bundle: Path | str, resources: SlurmResources, *, primus_cli: str = "primus-cli", train_args: str = ""
) -> str:
    """The train rule's command: one node runs ``primus-cli train`` directly; several go through srun.

    Inside a SLURM job the job ID is first written to ``<bundle>/train/slurm_job_id`` so a run folder says
    which job trained it. ``train_args`` (see ``runtime_train_args``) are appended to each train command.
    """
    train_dir = shlex.quote(str(Path(bundle) / layout.TRAIN_DIR))
    record = (
        f'if [ -n "${{SLURM_JOB_ID:-}}" ]; then mkdir -p {train_dir} && '
        f'echo "$SLURM_JOB_ID" > {train_dir}/{layout.SLURM_JOB_ID}; fi'
    )
    if resources.nodes <= 1:
        procs = f"NPROC_PER_NODE={resources.procs_per_node} " if resources.procs_per_node else ""
        lines = [procs + _train_command(bundle, primus_cli, train_args)]
    else:
        lines = srun_train_lines(bundle, resources, primus_cli=primus_cli, train_args=train_args)
    # Exit status 75 (SIGUSR1) or 143 (SIGTERM): training stopped with a checkpoint at the end of the step.
    # Inside SLURM the job requeues itself (same job ID; it resumes from the checkpoint); after `scontrol
    # requeue` by an operator or a preemption SLURM has requeued it already: then this is a no-op.
    lines[-1] = (
        f"status=0; {lines[-1]} || status=$?; "
        f'if {{ [ "$status" -eq {EXIT_PREEMPTED} ] || [ "$status" -eq {128 + signal.SIGTERM} ]; }} '
        '&& [ -n "${SLURM_JOB_ID:-}" ]; then '
        'scontrol requeue "$SLURM_JOB_ID" || true; fi; exit "$status"'
    )
    return "; ".join([record, *lines])


def node_environments(resources: SlurmResources, hosts: Sequence[str]) -> list[dict[str, str]]:
    """The environment each node's task sees (what ``srun_train_lines`` exports), one dict per node."""
    if len(hosts) != resources.nodes:
        raise ConfigValueError(
            f"{len(hosts)} host names given for {resources.nodes} nodes",
            key="slurm.nodes",
            value=resources.nodes,
            hint="give one host name per node",
        )
    environments = []
    for rank in range(resources.nodes):
        env = {
            "MASTER_ADDR": hosts[0],
            "MASTER_PORT": str(resources.master_port),
            "NNODES": str(resources.nodes),
            "NODE_RANK": str(rank),
        }
        if resources.gpus_per_node:
            env["GPUS_PER_NODE"] = str(resources.gpus_per_node)
        if resources.procs_per_node:
            env["NPROC_PER_NODE"] = str(resources.procs_per_node)
        environments.append(env)
    return environments


def sbatch_line(resources: SlurmResources, *, job_name: str = "train_model") -> str:
    """The sbatch request the SLURM profile makes for the train rule (the plugin adds --output/--comment)."""
    r = resources
    parts = ["sbatch", "--parsable", f"--job-name {job_name}", f"-t {r.runtime_min}"]
    parts += [f"--mem {r.mem_mb}"] if r.mem_mb else []
    parts.append(f"--nodes={r.nodes}")
    parts.append(f"--ntasks={r.nodes}")
    parts.append(f"--cpus-per-task={r.cpus_per_task}")
    parts += r.sbatch_options
    parts.append("--requeue")  # the profile's slurm-requeue
    return " ".join(parts)


def launch_lines(
    bundle: Path | str,
    resources: SlurmResources,
    *,
    hosts: Sequence[str] | None = None,
    primus_cli: str = "primus-cli",
) -> list[str]:
    """The exact lines a SLURM run executes: sbatch, then srun, then each node's torchrun command.

    ``hosts`` are the allocation's host names (default ``node1..nodeN`` as placeholders, since the real
    ones are known only inside the allocation). Needs a frozen bundle (``launch_command`` reads it).
    """
    from primus.bundle import bundle_backend

    backend = bundle_backend(Path(bundle))
    hosts = list(hosts) if hosts else [f"node{i + 1}" for i in range(resources.nodes)]
    lines = [sbatch_line(resources)]
    lines += srun_train_lines(bundle, resources, primus_cli=primus_cli)[1:] if resources.nodes > 1 else []
    for host, env in zip(hosts, node_environments(resources, hosts)):
        argv = backend.launch_command(Path(bundle), env=env)
        lines.append(f"[{host}] " + shlex.join(argv))
    return lines


# ---------------------------------------------------------------------------------------------- snakefile


#: Values a train job gets for a SLURM resource that another run of the same workflow needs and it does not.
_RESOURCE_FALLBACK: dict[str, Any] = {"mpi": "", "tasks": 1}


def resource_lookups(plan: WorkflowPlan, lookup: Callable[[Any], RunPlan]) -> dict[str, Callable[[Any], Any]]:
    """The train rule's ``resources:``: each a function of the job's wildcards, so every run (sweep point)
    asks SLURM for its own; ``lookup(wildcards)`` finds the run."""
    names = dict.fromkeys(name for run in plan.distinct_runs for name in run.resources.snakemake_resources())

    def resource(name: str) -> Callable[[Any], Any]:
        return lambda wildcards: (
            lookup(wildcards).resources.snakemake_resources().get(name, _RESOURCE_FALLBACK.get(name, 0))
        )

    return {name: resource(name) for name in names}


def sweep_needs_a_file() -> ConfigKeyError:
    """The error of ``snakemake sweep`` without ``--config sweep=PATH``."""
    return ConfigKeyError(
        "the sweep target needs a sweep file",
        key="sweep",
        hint="snakemake sweep --config sweep=examples/sweeps/llama3_debugmodel-lr.yaml "
        "(or make sweep SWEEP=PATH)",
    )


def sweep_report_dir(plan: WorkflowPlan) -> Path | None:
    """Where the sweep report goes: ``<runs>/.sweeps/<sweep name>/`` (None without a sweep)."""
    if plan.sweep is None:
        return None
    return plan.runs_dir / SWEEPS_DIR / plan.sweep.spec.name


def _run_outcome(run: RunPlan) -> tuple[str, str]:
    """(word, where to look) for one run after the workflow stopped."""
    if run.bundle is None:
        return "not run", "the bundle is known once the container image is built"
    verdict = run.bundle / layout.VERDICT_PATH
    if verdict.is_file():
        try:
            passed = json.loads(verdict.read_text(encoding="utf-8")).get("passed")
        except (OSError, ValueError):
            passed = None
        return ("PASS" if passed else "FAIL"), str(verdict)
    if (run.bundle / layout.DONE_PATH).is_file():
        return "FAIL", f"verify failed: {run.bundle / layout.VERIFY_DIR / layout.VERIFY_RULE_LOG}"
    if (run.bundle / layout.MANIFEST).is_file():
        log = run.bundle / layout.TRAIN_DIR / layout.TRAIN_RULE_LOG
        return "FAIL", f"training failed or was stopped: {log}"
    return "FAIL", f"not frozen: {run.workdir}/"


def workflow_summary(plan: WorkflowPlan, *, failed: bool) -> str:
    """What ``onsuccess``/``onerror`` print: the verdict of a single run, or a line per sweep point."""
    if plan.sweep is None:
        (run,) = plan.runs
        if not failed:
            word, where = _run_outcome(run)
            return f"verdict: {word}  ({where})" if where.endswith(layout.VERDICT) else ""
        if run.bundle is None:
            bundle = "not yet known (the container image comes first)"
        elif (run.bundle / layout.MANIFEST).is_file():
            bundle = f"{run.bundle} (frozen; train/ and verify/ hold their logs)"
        else:
            bundle = f"{run.bundle} (not written)"
        return (
            f"primus workflow failed for {run.experiment} (exp_name {run.exp_name})\n"
            f"  bundle: {bundle}\n"
            f"  logs of validate/container/resolve: {run.workdir}/\n"
            "  after an interrupted run: snakemake --unlock, then rerun "
            "(training resumes from its checkpoint)"
        )
    outcomes = [(run.point, *_run_outcome(run)) for run in plan.runs]
    bad = [name for name, word, _ in outcomes if word != "PASS"]
    width = max(len(name) for name, _, _ in outcomes)
    head = f"sweep {plan.sweep.spec.name}: {len(outcomes)} points, "
    head += f"{len(bad)} failed: {', '.join(bad)}" if bad else "every point PASS"
    lines = [head, *(f"  {word:<7} {name:<{width}}  {where}" for name, word, where in outcomes)]
    report = sweep_report_dir(plan)
    if report is not None and (report / "report.md").is_file():
        lines.append(f"  report: {report / 'report.md'}")
    if bad:
        lines.append("  fix and rerun: points that passed are not run again")
    return "\n".join(lines)


@cli_boundary
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m primus.workflow launch-lines BUNDLE [--nodes N ...]``: print what a SLURM run executes."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m primus.workflow",
        description="Print the sbatch, srun and per-node torchrun lines a SLURM run of a bundle executes.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    lines = commands.add_parser(
        "launch-lines", help="sbatch/srun/torchrun lines of a frozen bundle (dry run)"
    )
    lines.add_argument("bundle", help="a frozen run bundle (runs/<exp_name>/<hash>)")
    defaults = SlurmResources()
    for name in (
        "nodes",
        "gpus_per_node",
        "cpus_per_task",
        "mem_mb",
        "runtime_min",
        "master_port",
        "procs_per_node",
        "signal_s",
    ):
        lines.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name))
    lines.add_argument("--hosts", help="comma-separated host names of the allocation (default node1..nodeN)")
    args = parser.parse_args(argv)
    resources = SlurmResources(
        **{name: getattr(args, name) for name in SlurmResources.__dataclass_fields__ if hasattr(args, name)}
    )
    check_slurm_time(resources)
    hosts = args.hosts.split(",") if args.hosts else None
    for line in launch_lines(args.bundle, resources, hosts=hosts, primus_cli=primus_cli_command()):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())


# ---------------------------------------------------------------------------------------------- report


def report_labels(shows: str) -> Callable[..., dict[str, str]]:
    """The ``labels=`` of a verify output in ``snakemake --report``: run, verdict and what the file shows.

    Evaluated when the report is built (the verdict exists by then), so the report's tables and its landing
    page (workflow/report/workflow.rst) name each run's verdict beside its files.
    """

    def labels(wildcards: Any, output: Any) -> dict[str, str]:
        return {"run": wildcards.bundle_hash, "verdict": verdict_word(Path(output.verdict)), "shows": shows}

    return labels


def verdict_word(path: Path) -> str:
    """``PASS``/``FAIL`` from a verdict.json, ``not verified`` when it is missing or unreadable."""
    try:
        return "PASS" if json.loads(path.read_text(encoding="utf-8")).get("passed") else "FAIL"
    except (OSError, ValueError, AttributeError):
        return "not verified"


def observability_train_args(config: Mapping[str, Any]) -> str:
    """`` --metrics.enable_tensorboard=true ...`` for the train rule: TensorBoard/W&B are launch settings,
    not part of the bundle (``primus.observability``), so they reach ``primus-cli train --bundle`` here."""
    from primus import observability

    arguments = observability.cli_arguments(observability.settings_of(config))
    return "".join(f" {shlex.quote(argument)}" for argument in arguments)
