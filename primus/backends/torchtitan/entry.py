"""The module ``torchrun`` starts in every worker: ``python -m primus.backends.torchtitan.entry --job...``.

Order matters: on a host without an accelerator the CPU patches go in before TorchTitan's trainer is
imported (TorchTitan picks its device at import time); on a CUDA or ROCm host nothing is patched. The
tie-aware FSDP wrapping (``weight_tying``) goes in on every host. Then
TorchTitan's own ``torchtitan.train.main`` runs with ``PrimusTrainer`` on the arguments it was given.
A ``PrimusError`` ends the worker with its one-line message and exit code, not a traceback.
"""

from __future__ import annotations

import sys

from primus.backends.torchtitan.runner import WORKER_LOCK, WORKER_LOCK_ENV
from primus.errors import LaunchError, cli_boundary


def _job_file(argv: list[str]) -> dict:
    """The job config file named by ``--job.config_file`` (read before TorchTitan); {} when unreadable."""
    import tomllib

    for index, arg in enumerate(argv[:-1]):
        if arg in ("--job.config_file", "--job.config-file"):
            try:
                with open(argv[index + 1], "rb") as handle:
                    return tomllib.load(handle)
            except (OSError, tomllib.TOMLDecodeError):
                return {}  # TorchTitan reports an unreadable config file itself
    return {}


def _wants_converter(argv: list[str], name: str) -> bool:
    """True when the job config (file or command line) lists converter ``name`` (read before TorchTitan)."""
    converters: list[str] = list(_job_file(argv).get("model", {}).get("converters", []) or [])
    for index, arg in enumerate(argv):
        if arg.startswith("--model.converters"):
            value = arg.split("=", 1)[1] if "=" in arg else (argv[index + 1] if index + 1 < len(argv) else "")
            converters = [item.strip(" []'\"") for item in value.split(",")]
    return name in converters


_held_locks: list = []


def _hold_worker_lock(argv: list[str]) -> None:
    """Take a shared lock on ``<dump_folder>/.worker.lock`` until this process exits.

    torchrun starts workers in their own sessions, so a worker can outlive a killed launcher; this lock
    lets the next ``train`` see such a straggler instead of starting a second writer of the same
    checkpoints and metrics.
    """
    import fcntl
    import os
    from pathlib import Path

    for index, arg in enumerate(argv[:-1]):
        if arg in ("--job.dump_folder", "--job.dump-folder"):
            folder = Path(argv[index + 1])
            folder.mkdir(parents=True, exist_ok=True)
            # one lock per node (the train process names it), so nodes sharing a file system never collide
            handle = (folder / os.environ.get(WORKER_LOCK_ENV, WORKER_LOCK)).open("a")
            fcntl.flock(handle, fcntl.LOCK_SH)
            _held_locks.append(handle)
            return


def _die_with_torchrun() -> None:
    """Get SIGTERM when torchrun dies, even by SIGKILL (``kill -9 -- -PGID`` of the launcher's group).

    torchrun starts each worker in a session of its own, so a signal to the launcher's process group never
    reaches the worker; without this, a worker whose torchrun was killed trains on alone to the end.
    If torchrun is already gone (it died before the signal was armed), the worker stops at once.
    """
    import os
    import signal

    parent = os.getppid()
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG (Linux)
    except (OSError, AttributeError):
        return  # not Linux: the worker lock still makes the next train see a straggler
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)


@cli_boundary
def main() -> int:
    """Run TorchTitan's training main flow on ``sys.argv``; returns the process exit code.

    TorchTitan's ``ConfigManager.parse_args`` reads ``sys.argv[1:]`` (bound when it is imported), so the
    arguments are the ones ``torchrun`` gave this process.
    """
    argv = sys.argv[1:]
    _die_with_torchrun()
    _hold_worker_lock(argv)
    from primus.backends.torchtitan import cpu_runtime, quiet

    cpu = cpu_runtime.needs_cpu_patches()
    if cpu:
        cpu_runtime.apply_cpu_patches()
    quiet.install(_job_file(argv), cpu=cpu)
    from primus.backends.torchtitan import weight_tying

    weight_tying.install()  # Qwen3's tied embedding/output under FSDP2
    if _wants_converter(argv, "primus_turbo"):
        try:
            from primus.backends.torchtitan import turbo

            turbo.register()
        except ImportError as error:
            raise LaunchError(
                f"model.converters asks for primus_turbo, but it cannot be imported: {error}",
                key="model.converters",
                hint="train inside the ROCm container that ships Primus-Turbo, or drop primus_turbo",
            ) from None

    import torchtitan.train as torchtitan_train

    from primus.backends.torchtitan.trainer import PrimusTrainer

    torchtitan_train.main(PrimusTrainer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
