"""Every path a run writes stays inside ``<bundle>/train/``.

TorchTitan 0.2.2 joins each output folder below onto ``job.dump_folder`` with ``os.path.join``, so an
absolute value or a ``..`` step would write outside the bundle (and let runs resume from, or delete, each
other's checkpoints). The launcher always passes ``--job.dump_folder <bundle>/train``; these keys must be
plain relative paths below it. Torch-free: the validator and the launcher both use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

#: Keys TorchTitan joins onto ``job.dump_folder`` to write into (checkpoints, traces, TensorBoard/W&B
#: logs, profiles, memory snapshots, the saved job config).
OUTPUT_PATH_KEYS = (
    "checkpoint.folder",
    "comm.save_traces_folder",
    "job.save_config_file",
    "metrics.save_tb_folder",
    "profiling.save_memory_snapshot_folder",
    "profiling.save_traces_folder",
)

#: Replaced by the launcher with ``<bundle>/train``; a value set by a config has no effect.
DUMP_FOLDER_KEY = "job.dump_folder"


def escape_reason(value: Any) -> str | None:
    """Why ``value`` would write outside the dump folder, or None when it stays inside."""
    if value is None:
        return None
    if not isinstance(value, str):
        return None  # a type error, reported by the type check
    if "\x00" in value:
        return "contains a NUL character"
    if value.startswith(("/", "\\")) or (len(value) > 1 and value[1] == ":"):
        return "is an absolute path"
    if value.startswith("~"):
        return "starts with '~'"
    parts = PurePosixPath(value.replace("\\", "/")).parts
    if ".." in parts:
        return "has a '..' step"
    return None


def escaping_keys(config: Mapping[str, Any]) -> list[tuple[str, Any, str]]:
    """``(dotted key, value, reason)`` for each output path of a nested config that leaves the dump folder."""
    found = []
    for dotted in OUTPUT_PATH_KEYS:
        section, _, leaf = dotted.partition(".")
        node = config.get(section)
        if isinstance(node, Mapping) and leaf in node:
            reason = escape_reason(node[leaf])
            if reason:
                found.append((dotted, node[leaf], reason))
    return found
