"""Stop at the end of a step, with a checkpoint, when SLURM (or a user) asks the job to go.

SLURM sends SIGTERM at the time limit and on preemption (``KillWait`` seconds, 30 by default, before
SIGKILL), and an earlier SIGUSR1 when the job asks with ``--signal=USR1@SECONDS``. Two ways reach a worker:

- the signal itself (SLURM signals every process of the job step; torchrun passes its SIGTERM on to its
  workers): ``StopRequest.install()`` makes SIGTERM and SIGUSR1 set a flag instead of killing the worker;
- a stop-request file ``train/.stop-request`` that the train process writes when it is signalled (a
  signal sent only to the batch shell or to ``primus-cli train``).

Each rank checks both at every step end, and the ranks agree by an all-reduce (MAX of one integer), so
every rank stops after the same step. Then the checkpoint of that step is saved (unless the interval
just saved it), rank 0 writes ``train/PREEMPTED`` (``{"step", "signal"}``), and training returns without
``DONE``; the train process turns that into exit status 75 (``TrainingPreemptedError``), which the SLURM
profile requeues. The run resumes from the checkpoint like any interrupted run.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from pathlib import Path
from typing import Any

from primus.bundle.layout import PREEMPTED, STOP_REQUEST

#: The signals that ask training to stop after the current step.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


class StopRequest:
    """One worker's view of "stop after this step": a caught signal or the train process's request file."""

    def __init__(self, dump_folder: Path) -> None:
        self.dump_folder = Path(dump_folder)
        self.signal_name: str | None = None

    def install(self) -> None:
        for number in STOP_SIGNALS:
            signal.signal(number, self._caught)

    def _caught(self, number: int, frame: Any) -> None:
        self.signal_name = signal.Signals(number).name

    def local(self) -> str | None:
        """The signal this rank saw (or the one named in the request file), None when none."""
        if self.signal_name:
            return self.signal_name
        try:
            return (self.dump_folder / STOP_REQUEST).read_text(encoding="utf-8").strip() or "SIGTERM"
        except FileNotFoundError:
            return None

    def agreed(self, device: Any) -> str | None:
        """The stop decision shared by every rank (a collective: every rank must call it each step)."""
        import torch
        import torch.distributed as dist

        name = self.local()
        if not dist.is_initialized():
            return name
        flag = torch.tensor([1 if name else 0], dtype=torch.int64, device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return (name or "a stop signal on another rank") if int(flag.item()) else None


def save_now(checkpointer: Any, step: int) -> bool:
    """Save a full, resumable checkpoint of ``step`` now, unless its interval already did; returns saved."""
    if not getattr(checkpointer, "enable", False):
        return False
    interval = checkpointer.interval
    if step % interval == 0:
        return True  # TorchTitan's loop saved this step right before asking whether to continue
    checkpointer.interval = step  # _should_save(step) is then true, and it saves a full checkpoint
    try:
        checkpointer.save(step, last_step=False)
    finally:
        checkpointer.interval = interval
    return True


def write_preempted(dump_folder: Path, step: int, signal_name: str, checkpoint_saved: bool) -> None:
    """Rank 0's record that training stopped early (atomic; the train process reads it)."""
    path = Path(dump_folder) / PREEMPTED
    temporary = path.with_suffix(".tmp")
    record = {"step": step, "signal": signal_name, "checkpoint": checkpoint_saved}
    temporary.write_text(json.dumps(record) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def read_preempted(dump_folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((Path(dump_folder) / PREEMPTED).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def clear(dump_folder: Path) -> None:
    """Forget an earlier stop (request file and PREEMPTED marker) before training starts again."""
    for name in (STOP_REQUEST, PREEMPTED):
        with contextlib.suppress(FileNotFoundError):
            (Path(dump_folder) / name).unlink()
