"""The ``torchrun`` command line for a run bundle (torch-free, so dry runs and the CLI stay fast).

Launch settings follow Primus: ``NNODES``, ``NODE_RANK``, ``MASTER_ADDR``, ``MASTER_PORT`` and
``GPUS_PER_NODE`` from the environment win; inside a SLURM allocation the missing ones are derived from
``SLURM_*``; outside one the default is a single node with every local accelerator, or one process on a
host without accelerators. ``NPROC_PER_NODE`` (torchrun's name) sets the processes per node on any host
and wins over ``GPUS_PER_NODE``: on a CPU host it is how several processes train (gloo). A multi-node
launch never rendezvouses on ``localhost``, and the world size (nodes x processes per node) must match
the bundle's parallelism degrees before torchrun starts (``check_layout``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from primus import world
from primus.backends.torchtitan.assets import LAUNCH_OPTIONS
from primus.backends.torchtitan.job_toml import PRIMUS_EXTENSION_MODULE
from primus.bundle.layout import JOB_TOML, LOCK, TRAIN_DIR
from primus.errors import BundleError, LaunchError

#: The module ``torchrun`` runs in every worker.
ENTRY_MODULE = "primus.backends.torchtitan.entry"
#: TorchTitan's default rendezvous port (used when nothing sets ``MASTER_PORT`` on a multi-node launch).
DEFAULT_MASTER_PORT = 29500
#: Seconds a multi-node agent waits for the others at the rendezvous before it gives up (torchrun's
#: default is 600); a node that never starts then fails the job in bounded time.
RENDEZVOUS_JOIN_TIMEOUT_S = 300
#: Converters that need the ``primus_turbo`` package at run time.
TURBO_CONVERTER = "primus_turbo"

_HOSTLIST_ITEM = re.compile(r"([^,\[]+)(?:\[([^\]]+)\])?([^,\[]*)")


@dataclass(frozen=True)
class LaunchSettings:
    """Where and how many processes ``torchrun`` starts.

    ``master_addr`` is ``None`` for a single-node launch that lets torchrun pick a free local port
    (``--standalone``); ``sources`` names, per setting, where its value came from (env var, SLURM var,
    ``default`` or ``local accelerators``).
    """

    nnodes: int
    node_rank: int
    nproc_per_node: int
    master_addr: str | None
    master_port: int | None
    sources: Mapping[str, str]


def expand_hostlist(nodelist: str) -> list[str]:
    """Expand a SLURM host list (``node[01-04,07],gpu7``) into host names, in order.

    Zero padding of a range is kept (``n[08-10]`` gives ``n08 n09 n10``). Raises ``LaunchError``
    for forms this parser does not understand instead of guessing a host.
    """
    hosts: list[str] = []
    text = nodelist.strip()
    position = 0
    while position < len(text):
        match = _HOSTLIST_ITEM.match(text, position)
        if not match or not match.group(1).strip():
            raise _bad_nodelist(nodelist)
        prefix, ranges, suffix = match.group(1), match.group(2), match.group(3)
        if ranges is None:
            hosts.append(prefix + suffix)
        else:
            for part in ranges.split(","):
                hosts.extend(f"{prefix}{number}{suffix}" for number in _expand_range(part, nodelist))
        position = match.end()
        if position < len(text):
            if text[position] != ",":
                raise _bad_nodelist(nodelist)
            position += 1
    return hosts


def _expand_range(part: str, nodelist: str) -> list[str]:
    low, _, high = part.partition("-")
    if not low.isdigit() or (high and not high.isdigit()):
        raise _bad_nodelist(nodelist)
    if not high:
        return [low]
    if int(high) < int(low):
        raise _bad_nodelist(nodelist)
    width = len(low) if low.startswith("0") else 0
    return [str(number).zfill(width) for number in range(int(low), int(high) + 1)]


def _bad_nodelist(nodelist: str) -> LaunchError:
    return LaunchError(
        f"cannot read the SLURM node list {nodelist!r}",
        key="SLURM_JOB_NODELIST",
        value=nodelist,
        hint="set MASTER_ADDR to the first node's host name to launch anyway",
    )


def local_accelerator_count(env: Mapping[str, str]) -> int:
    """GPUs this host exposes, without importing torch; 0 on a CPU-only host.

    A ``*_VISIBLE_DEVICES`` variable, when set, decides; otherwise NVIDIA GPUs are counted in
    ``/proc/driver/nvidia/gpus`` and AMD GPUs as KFD topology nodes that have SIMD units.
    """
    for name in ("CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES"):
        visible = env.get(name)
        if visible is not None:
            return len([item for item in visible.split(",") if item.strip() and item.strip() != "-1"])
    nvidia = Path("/proc/driver/nvidia/gpus")
    if nvidia.is_dir():
        return len(list(nvidia.iterdir()))
    count = 0
    for node in Path("/sys/class/kfd/kfd/topology/nodes").glob("*/properties"):
        try:
            fields = dict(line.split(None, 1) for line in node.read_text().splitlines() if " " in line)
        except OSError:
            continue
        if int(fields.get("simd_count", "0").strip() or 0) > 0:
            count += 1
    return count


def launch_settings(env: Mapping[str, str], *, local_accelerators: int | None = None) -> LaunchSettings:
    """Resolve the launch table from ``env`` (explicit variables, then SLURM, then this host).

    ``local_accelerators`` overrides the host probe (tests pass it; ``None`` probes this host).
    Raises ``LaunchError`` naming the variable for a non-integer or out-of-range value, and for a
    multi-node launch whose rendezvous host would be ``localhost``.
    """
    sources: dict[str, str] = {}
    slurm_job = world.in_slurm(env)

    def pick(setting: str, names: tuple[str, ...]) -> str | None:
        found = world.pick(env, names)
        if found is None:
            return None
        sources[setting] = found[1]
        return found[0]

    nnodes_text = pick("nnodes", world.NNODES)
    nnodes = _positive_int(nnodes_text, sources.get("nnodes"), minimum=1) if nnodes_text else 1
    sources.setdefault("nnodes", "default")

    rank_text = pick("node_rank", world.NODE_RANK)
    node_rank = _positive_int(rank_text, sources.get("node_rank"), minimum=0) if rank_text else 0
    sources.setdefault("node_rank", "default")
    if node_rank >= nnodes:
        raise LaunchError(
            f"node rank {node_rank} is not below the node count {nnodes}",
            key=sources["node_rank"],
            value=node_rank,
            hint=f"node ranks run from 0 to {nnodes - 1}",
        )

    gpus_text = pick("nproc_per_node", world.PROCS_PER_NODE)
    if gpus_text:
        nproc = _positive_int(world.count_text(gpus_text), sources["nproc_per_node"], minimum=1)
    else:
        count = local_accelerator_count(env) if local_accelerators is None else local_accelerators
        nproc = max(count, 1)
        sources["nproc_per_node"] = "local accelerators" if count else "default (no accelerator: 1 process)"

    port_text = pick("master_port", ("MASTER_PORT",))
    master_port = _positive_int(port_text, "MASTER_PORT", minimum=1) if port_text else None
    if master_port is not None and master_port > 65535:
        raise LaunchError(
            f"port {master_port} is out of range",
            key="MASTER_PORT",
            value=master_port,
            hint="use a port between 1024 and 65535",
        )

    master_addr = pick("master_addr", ("MASTER_ADDR",))
    if master_addr is None and slurm_job and env.get("SLURM_JOB_NODELIST", "").strip():
        master_addr = expand_hostlist(env["SLURM_JOB_NODELIST"])[0]
        sources["master_addr"] = "SLURM_JOB_NODELIST (first host)"

    if nnodes > 1:
        if master_addr is None:
            raise LaunchError(
                f"a {nnodes}-node launch needs a rendezvous host",
                key="MASTER_ADDR",
                hint="set MASTER_ADDR to the host name of node rank 0 (inside SLURM it comes from "
                "SLURM_JOB_NODELIST)",
            )
        if master_addr == "localhost":
            # "localhost" is each node's own name for itself: the nodes would never meet. A numeric loopback
            # address (127.0.0.1) is accepted: it is a deliberate "every agent on this host".
            raise LaunchError(
                f"a {nnodes}-node launch cannot rendezvous on {master_addr}",
                key=sources.get("master_addr", "MASTER_ADDR"),
                value=master_addr,
                hint="set MASTER_ADDR to the host name of node rank 0 as the other nodes see it "
                "(127.0.0.1 when every node runs on this host)",
            )
        if master_port is None:
            master_port = DEFAULT_MASTER_PORT
            sources["master_port"] = "default"
    elif master_port is not None and master_addr is None:
        master_addr = "localhost"
        sources["master_addr"] = "default"
    elif master_port is None:
        # One node and no port asked for: torchrun --standalone picks a free port, so two runs on one
        # host (tests, a second experiment) never fight over 29500.
        master_addr = None
    sources.setdefault("master_addr", "standalone" if master_addr is None else "default")
    sources.setdefault("master_port", "standalone" if master_port is None else "default")
    return LaunchSettings(nnodes, node_rank, nproc, master_addr, master_port, sources)


def _positive_int(text: str, variable: str | None, *, minimum: int) -> int:
    try:
        number = int(text)
    except ValueError:
        number = None
    if number is None or number < minimum:
        raise LaunchError(
            f"expected an integer >= {minimum}, got {text!r}",
            key=variable,
            value=text,
            hint=f"set {variable} to a whole number (or unset it to use the default)",
        )
    return number


def check_layout(job: Mapping[str, Any], settings: LaunchSettings, bundle: Path | None = None) -> None:
    """``LaunchError`` when nodes x processes per node cannot hold the bundle's parallelism degrees.

    Mirrors TorchTitan's ``ParallelDims`` rule (the product of the degrees equals the world size; one
    ``data_parallel_shard_degree`` of -1 takes the leftover ranks) so the mismatch is reported before any
    process starts, naming every number and where it came from.
    """
    from primus.validate.parallelism import layout_mismatch

    world = settings.nnodes * settings.nproc_per_node
    problem = layout_mismatch(job.get("parallelism", {}) or {}, world)
    if problem is None:
        return
    message = (
        f"{problem}, but {settings.nnodes} node(s) [{settings.sources.get('nnodes')}] x "
        f"{settings.nproc_per_node} process(es) per node [{settings.sources.get('nproc_per_node')}] = "
        f"world size {world}"
    )
    raise LaunchError(
        message,
        file=str(Path(bundle) / JOB_TOML) if bundle is not None else None,
        key="parallelism",
        hint="launch nodes x processes per node = the product of the degrees (NPROC_PER_NODE / "
        "GPUS_PER_NODE per node, NNODES or slurm.nodes nodes), or change the degrees "
        "(data_parallel_shard_degree -1 takes the leftover ranks)",
    )


def read_job_config(bundle: Path) -> dict[str, Any]:
    """The bundle's ``job_config.toml`` as a dict; ``BundleError`` when it is missing or unreadable."""
    path = Path(bundle) / JOB_TOML
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise BundleError(
            "the run bundle has no job_config.toml",
            file=str(path),
            hint="freeze the experiment first (primus-cli resolve --freeze CONFIG) and pass the bundle "
            "folder it prints",
        ) from None
    except tomllib.TOMLDecodeError as error:
        raise BundleError(f"job_config.toml is not valid TOML: {error}", file=str(path)) from None


def config_extension_module(job: Mapping[str, Any]) -> str:
    """The JobConfig extension module to pass: the one the TOML names, else Primus's own.

    TorchTitan 0.2.2 merges extension fields only when ``job.custom_config_module`` is known before the
    TOML is turned into dataclasses; ``experimental.custom_args_module`` is read too late (after the TOML
    fields, ``training.mock_data`` included, were rejected), so the launcher passes it on the command line.
    Primus's extension only adds fields, so passing it for a TOML that names none changes nothing else.
    """
    module = job.get("job", {}).get("custom_config_module") or job.get("experimental", {}).get(
        "custom_args_module"
    )
    return module or PRIMUS_EXTENSION_MODULE


def check_cpu_layout(job: Mapping[str, Any], bundle: Path, env: Mapping[str, str]) -> None:
    """Fail before launch when this CPU-only host cannot run the bundle's tensor parallelism."""
    from primus.validate.machine import CPU_PARALLELISM_HINT, cpu_tensor_parallel_problem

    if local_accelerator_count(env):
        return
    tp = int(job.get("parallelism", {}).get("tensor_parallel_degree", 1) or 1)
    problem = cpu_tensor_parallel_problem(str(job.get("model", {}).get("name", "")), tp)
    if problem:
        raise LaunchError(
            problem,
            file=str(Path(bundle) / JOB_TOML),
            key="parallelism.tensor_parallel_degree",
            value=tp,
            hint=CPU_PARALLELISM_HINT,
        )


def check_converters(job: Mapping[str, Any], bundle: Path) -> None:
    """Fail before launch when a converter needs a package this host does not have."""
    from primus.backends.torchtitan.effects import CONVERTER_PACKAGES

    converters = job.get("model", {}).get("converters", []) or []
    for name in converters:
        package = CONVERTER_PACKAGES.get(name)
        if name != TURBO_CONVERTER and package and importlib.util.find_spec(package) is None:
            raise LaunchError(
                f"converter '{name}' needs the {package} package, which is not importable here",
                file=str(Path(bundle) / JOB_TOML),
                key="model.converters",
                value=list(converters),
                hint=f"train inside the ROCm container (it ships {package}), pip install {package}, "
                f"or drop '{name}' from model.converters",
            )
    if TURBO_CONVERTER in converters and importlib.util.find_spec(TURBO_CONVERTER) is None:
        raise LaunchError(
            "model.converters asks for primus_turbo, but the primus_turbo package is not importable here",
            file=str(Path(bundle) / JOB_TOML),
            key="model.converters",
            value=list(converters),
            hint="Primus-Turbo exists only for ROCm GPUs: train inside the ROCm container, or drop "
            "primus_turbo from model.converters (e.g. --model.converters '[]') for CPU and CUDA hosts",
        )


def launch_command(
    bundle: Path,
    *,
    env: Mapping[str, str],
    job_config: Mapping[str, Any] | None = None,
    check_host: bool = True,
) -> list[str]:
    """The exact ``torchrun`` argv that trains ``bundle`` (writes nothing, starts nothing).

    ``job_config``: the TorchTitan sections (``{"model": {...}, "job": {...}, ...}``) to use when the bundle
    is not written yet (a dry run shows the command of the bundle it would freeze); by default they are
    read from ``bundle/job_config.toml``. ``check_host=False`` skips the checks about this machine (a
    converter whose package is missing here), for showing the command a dry run would launch elsewhere.
    Raises ``BundleError`` for a written bundle without a readable ``job_config.toml`` and ``LaunchError``
    for launch settings that cannot work or (with ``check_host``) a converter this host cannot run.
    """
    bundle = Path(bundle).resolve()
    job = read_job_config(bundle) if job_config is None else job_config
    if check_host:
        check_converters(job, bundle)
        check_cpu_layout(job, bundle, env)
    settings = launch_settings(env)
    check_layout(job, settings, bundle)
    torchrun = Path(sys.executable).with_name("torchrun")
    argv = [str(torchrun)] if torchrun.exists() else [sys.executable, "-m", "torch.distributed.run"]
    if settings.master_addr is None:
        argv += ["--standalone"]
    argv += [
        f"--nnodes={settings.nnodes}",
        f"--nproc_per_node={settings.nproc_per_node}",
        f"--node_rank={settings.node_rank}",
    ]
    if settings.nnodes > 1:
        # c10d rendezvous: every agent meets at node rank 0's address; when one agent's worker fails the
        # rendezvous closes and the other agents stop their workers instead of waiting in a collective.
        argv += [
            "--rdzv_backend=c10d",
            f"--rdzv_endpoint={settings.master_addr}:{settings.master_port}",
            f"--rdzv_id={rendezvous_id(bundle, env)}",
            f"--rdzv_conf=join_timeout={RENDEZVOUS_JOIN_TIMEOUT_S}",
        ]
    elif settings.master_addr is not None:
        argv += [f"--master_addr={settings.master_addr}", f"--master_port={settings.master_port}"]
    argv += ["--max_restarts=0", "-m", ENTRY_MODULE]
    argv += ["--job.config_file", str(bundle / JOB_TOML), "--job.dump_folder", str(bundle / TRAIN_DIR)]
    argv += ["--job.custom_config_module", config_extension_module(job)]
    if job_config is None:
        argv += asset_arguments(bundle, env)
    return argv


def asset_arguments(bundle: Path, env: Mapping[str, str]) -> list[str]:
    """``--model.hf_assets_path`` / ``--training.dataset_path`` pointing at the pinned files in the asset
    cache (by digest), for a bundle whose lock.json pins assets; none otherwise.

    The configured values stay in job_config.toml as written; training reads the cached copies, so it
    needs no network and sees exactly the bytes the bundle hash covers.
    """
    from primus.assets import training_paths

    arguments: list[str] = []
    for role, path in sorted(training_paths(_lock_assets(bundle), env=env).items()):
        arguments += [LAUNCH_OPTIONS[role], str(path)]
    return arguments


def _lock_assets(bundle: Path) -> dict[str, Any] | None:
    try:
        lock = json.loads((Path(bundle) / LOCK).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    assets = lock.get("assets") if isinstance(lock, dict) else None
    return assets if isinstance(assets, dict) else None


def offline_environment(bundle: Path) -> dict[str, str]:
    """Variables that keep a training run off the network (unless the bundle streams a dataset from the
    Hub, which it records as unpinned) and the datasets library's cache inside the bundle's train/."""
    from primus.assets import streams_from_hub

    env = {"HF_DATASETS_CACHE": str(Path(bundle) / TRAIN_DIR / "hf_datasets_cache")}
    if not streams_from_hub(_lock_assets(bundle)):
        env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    return env


def rendezvous_id(bundle: Path, env: Mapping[str, str]) -> str:
    """The id every node's agent names: the SLURM job's (a requeued job meets again), else the bundle's."""
    job = env.get("SLURM_JOB_ID", "").strip()
    return f"slurm-{job}" if job.isdigit() else f"bundle-{Path(bundle).name}"


#: CPU threads per worker unless the experiment's ``env:`` sets OMP_NUM_THREADS (measured: 1 thread gives
#: bit-identical losses run after run; 2 threads split reductions differently from run to run).
DEFAULT_THREADS = "1"


def pinned_threads(run_env: Mapping[str, str] | None) -> str:
    """OMP_NUM_THREADS for the workers: the experiment's ``env:`` value (frozen in the bundle), else 1.

    The caller's own OMP_NUM_THREADS is not used: Snakemake sets it from ``threads:``, torchrun to 1 for
    several processes, a shell not at all, and each gave another loss curve under the same bundle hash.
    """
    value = (run_env or {}).get("OMP_NUM_THREADS")
    return str(value) if value else DEFAULT_THREADS


def environment_for_launch(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment ``torchrun`` gets: the caller's, unbuffered, with ``primus`` importable."""
    result = dict(os.environ if env is None else env)
    result["PYTHONUNBUFFERED"] = "1"
    package_root = str(Path(__file__).resolve().parents[3])
    paths = [p for p in result.get("PYTHONPATH", "").split(os.pathsep) if p]
    if package_root not in paths:
        result["PYTHONPATH"] = os.pathsep.join([package_root, *paths])
    return result
