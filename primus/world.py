"""The job's shape as the environment states it: nodes, node rank, processes per node, world size.

One set of rules for every stage that reads them (validation's degree check, the launcher's torchrun
arguments): a Primus variable (``NNODES``, ``NODE_RANK``, ``GPUS_PER_NODE``, as Primus's launcher spells
them, and torchrun's ``NPROC_PER_NODE``, which wins over ``GPUS_PER_NODE`` and is how a CPU host runs
several processes) wins; inside a SLURM job (``SLURM_JOB_ID`` or ``SLURM_JOB_NODELIST`` set) SLURM's own
variables fill in the rest. Nothing here probes the host (the launcher alone counts local accelerators)
and nothing imports torch.
"""

from __future__ import annotations

from collections.abc import Mapping

#: Each setting: the Primus variable first, then the SLURM variables read inside a SLURM job, in order.
NNODES = ("NNODES", "SLURM_NNODES", "SLURM_JOB_NUM_NODES")
NODE_RANK = ("NODE_RANK", "SLURM_NODEID")
PROCS_PER_NODE = ("NPROC_PER_NODE", "GPUS_PER_NODE", "SLURM_GPUS_ON_NODE", "SLURM_GPUS_PER_NODE")
#: What torchrun sets in each worker (and what a user may set to validate for another world size).
WORLD_SIZE = ("WORLD_SIZE",)


def in_slurm(env: Mapping[str, str]) -> bool:
    """True inside a SLURM allocation."""
    return bool(env.get("SLURM_JOB_ID") or env.get("SLURM_JOB_NODELIST"))


def pick(env: Mapping[str, str], names: tuple[str, ...]) -> tuple[str, str] | None:
    """``(text, variable)`` of the first variable of ``names`` that is set and not blank, else None.

    SLURM's own variables (``SLURM_*``) are read only inside a SLURM job; the others everywhere.
    """
    for name in names:
        if name.startswith("SLURM_") and not in_slurm(env):
            continue
        text = env.get(name, "").strip()
        if text:
            return text, name
    return None


def count_text(text: str) -> str:
    """The number in a count variable: SLURM_GPUS_PER_NODE may carry a type (``mi300x:8``)."""
    return text.rsplit(":", 1)[-1]


def stated_world_size(env: Mapping[str, str]) -> tuple[int | None, str, list[tuple[str, str]]]:
    """The number of ranks the environment states, where that came from, and the variables that are bad.

    ``WORLD_SIZE``, else nodes * processes per node when the processes per node are stated
    (``NPROC_PER_NODE``/``GPUS_PER_NODE``, or SLURM's inside a job; the nodes from ``NNODES`` or SLURM's, else
    one node, as the launcher does); ``(None, "", bad)`` when the environment does not say. ``bad`` lists
    ``(variable, text)`` of each read value that is not a positive integer (those count as unstated).
    """
    bad: list[tuple[str, str]] = []

    def read(names: tuple[str, ...]) -> tuple[int, str] | None:
        found = pick(env, names)
        if found is None:
            return None
        text, name = found
        try:
            number = int(count_text(text))
        except ValueError:
            number = 0
        if number < 1:
            bad.append((name, text))
            return None
        return number, name

    world = read(WORLD_SIZE)
    if world is not None:
        return world[0], f"WORLD_SIZE={world[0]}", bad
    per_node = read(PROCS_PER_NODE)
    if per_node is None:
        return None, "", bad
    stated_nodes = pick(env, NNODES)
    nodes = read(NNODES) if stated_nodes else (1, "one node")
    if nodes is not None:
        return nodes[0] * per_node[0], f"{nodes[1]}({nodes[0]}) * {per_node[1]}({per_node[0]})", bad
    return None, "", bad
