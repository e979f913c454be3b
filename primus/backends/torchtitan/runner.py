"""The train stage: run ``torchrun`` on a bundle, keep its log, resume, show progress (torch-free).

``train(bundle)`` is idempotent: a bundle whose ``train/DONE`` exists is not trained again; an
interrupted one (kill -9, node loss) resumes from its latest checkpoint because TorchTitan's checkpointer
loads ``train/<checkpoint.folder>`` by itself, and the trainer trims ``metrics.jsonl`` to that step.
"""

from __future__ import annotations

import fcntl
import importlib.metadata
import importlib.util
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from primus import observability as watching
from primus.backends.torchtitan import preemption, quiet
from primus.backends.torchtitan.backend import TorchTitanBackend
from primus.backends.torchtitan.checkpoint_integrity import newest_intact, set_aside_damaged
from primus.backends.torchtitan.launch import (
    environment_for_launch,
    launch_command,
    launch_settings,
    offline_environment,
    pinned_threads,
    read_job_config,
)
from primus.backends.torchtitan.log_levels import SinkLevels, bundle_sink_levels
from primus.backends.torchtitan.metrics_file import read_rows
from primus.bundle.check import check_bundle, check_cached_assets

# Names inside ``<bundle>/train/`` (the trainer writes metrics and DONE; this module writes the log).
from primus.bundle.layout import DONE as DONE_FILE
from primus.bundle.layout import JOB_TOML, RESOLVED, STOP_REQUEST, TRAIN_DIR
from primus.bundle.layout import METRICS as METRICS_FILE
from primus.bundle.layout import TRAIN_LOG as LOG_FILE
from primus.errors import LaunchError, TrainingInterruptedError, TrainingPreemptedError
from primus.progress import ProgressView
from primus.validate.confine import escaping_keys

LOCK_FILE = ".train.lock"
#: The lock every training worker holds (shared) while it runs; taken in ``entry``.
WORKER_LOCK = ".worker.lock"
#: The environment variable that names it for the workers (one lock per node: ``.worker.lock.node1``).
WORKER_LOCK_ENV = "PRIMUS_WORKER_LOCK"
#: How many log lines a failure report quotes.
TAIL_LINES = 40


def read_done(bundle: Path) -> dict[str, Any] | None:
    """The DONE marker's content (``{"step": final step, "steps": configured}``), None when absent."""
    path = Path(bundle) / TRAIN_DIR / DONE_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, OSError):
        return {"step": None, "steps": None}


#: The TorchTitan release this backend drives (its TOML JobConfig ended with 0.2.2).
SUPPORTED_TORCHTITAN = TorchTitanBackend.version


def installed_torchtitan_version() -> str:
    """The installed torchtitan distribution's version (read from metadata, without importing it)."""
    return importlib.metadata.version("torchtitan")


def check_training_stack() -> None:
    """Refuse before launch when torch or the supported TorchTitan is not installed in this Python."""
    for package in ("torch", "torchtitan"):
        if importlib.util.find_spec(package) is None:
            raise LaunchError(
                f"{package} is not installed in {sys.executable}",
                hint="install the training extra (pip install -e '.[train]') or train inside the container",
            )
    installed = installed_torchtitan_version()
    if installed != SUPPORTED_TORCHTITAN:
        raise LaunchError(
            f"torchtitan {installed} is installed; this backend supports {SUPPORTED_TORCHTITAN} only",
            value=installed,
            hint=f"pip install torchtitan=={SUPPORTED_TORCHTITAN} (0.3 replaced the TOML JobConfig this "
            "pipeline writes)",
        )


def write_done(train_dir: Path, step: int, record: dict[str, Any] | None = None) -> None:
    """Write the DONE marker atomically: ``{"step", "steps"}`` plus the trainer's ``record`` of how the run
    was computed (device, threads, world size, versions, deterministic), which verify uses to choose
    between exact and tolerant comparison."""
    temporary = train_dir / (DONE_FILE + ".tmp")
    content = {"step": step, "steps": step, **(record or {})}
    temporary.write_text(json.dumps(content, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(temporary, train_dir / DONE_FILE)


def _finished_without_marker(job: dict[str, Any], train_dir: Path, steps: int) -> bool:
    """True when the final step's checkpoint and metrics row exist but DONE does not."""
    checkpoint = job.get("checkpoint", {})
    if not checkpoint.get("enable") or steps <= 0:
        return False
    final = train_dir / checkpoint.get("folder", "checkpoint") / f"step-{steps}" / ".metadata"
    rows = read_rows(train_dir / METRICS_FILE)
    return final.exists() and bool(rows) and rows[-1]["step"] >= steps - steps % _log_freq(job)


def _log_freq(job: dict[str, Any]) -> int:
    return max(int(job.get("metrics", {}).get("log_freq", 10) or 10), 1)


class _MetricsTail:
    """The newest row of a growing metrics.jsonl, re-read only when its size changed (cheap per log line)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = self._size()  # what an earlier launch wrote is not progress of this one

    def _size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return -1

    def changed(self) -> dict[str, Any] | None:
        """The newest row when the file changed since the last call, else None."""
        size = self._size()
        if size == self.size:
            return None
        self.size = size
        rows = read_rows(self.path) if size > 0 else []
        return rows[-1] if rows else None


#: Seconds node 0 waits for DONE from a global rank 0 on another node after its own workers ended well.
MULTI_NODE_DONE_WAIT_S = 30


def _wait_for(condition, seconds: float) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def _refuse_running_workers(train_dir: Path, suffix: str = "") -> None:
    """LaunchError when a worker of an earlier launch on this node still holds its worker lock (entry)."""
    path = train_dir / (WORKER_LOCK + suffix)
    if not path.exists():
        return
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LaunchError(
                "a training worker from an earlier launch is still running on this bundle",
                file=str(path),
                hint=f"wait for it to exit or stop it (`fuser {path}` names it), then train again",
            ) from None
        fcntl.flock(handle, fcntl.LOCK_UN)


def _refuse_escaping_paths(job: dict[str, Any], bundle: Path) -> None:
    """A bundle frozen before output paths were confined may still name one outside ``train/``."""
    escaping = escaping_keys(job)
    if escaping:
        key, value, reason = escaping[0]
        raise LaunchError(
            f"{value!r} {reason}: training would write outside {bundle / TRAIN_DIR}",
            file=str(bundle / JOB_TOML),
            key=key,
            value=value,
            hint="freeze the experiment again with a relative folder name (validate refuses this value)",
        )


def _set_aside_damaged_checkpoints(job: dict[str, Any], train_dir: Path) -> None:
    """Move damaged ``step-N`` folders aside and say which checkpoint the run resumes from."""
    checkpoint = job.get("checkpoint", {})
    if not checkpoint.get("enable"):
        return
    folder = train_dir / checkpoint.get("folder", "checkpoint")
    moved = set_aside_damaged(folder)
    for step, reason, target in moved:
        print(f"checkpoint step-{step} is damaged ({reason}); moved to {target}", flush=True)
    if moved:
        newest = newest_intact(folder)
        where = (
            f"the newest intact checkpoint, step-{newest}"
            if newest is not None
            else "step 0 (none is intact)"
        )
        print(f"resuming from {where}", flush=True)


def _die_with_parent() -> None:
    """In the torchrun child: get SIGTERM when the train process dies (torchrun then stops its workers)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG (Linux)
    except (OSError, AttributeError):
        pass  # not Linux: the worker lock still catches a straggler


#: torchrun's failure summary: "rank: 1 (local_rank: 0)" then "exitcode: -9 (pid: ...)".
_FAILED_RANK = re.compile(r"rank\s*:\s*(\d+)\s*\(local_rank\s*:\s*(\d+)\)\s*exitcode\s*:\s*(-?\d+)")


def _failed_ranks(log_path: Path) -> str:
    """``; failed: rank 1 (local rank 0) exit -9 (SIGKILL)`` from torchrun's summary, or "" without one."""
    failures = []
    for rank, local, code in _FAILED_RANK.findall(_log_tail(log_path, TAIL_LINES * 4)):
        number = int(code)
        how = (
            f"killed by {signal.Signals(-number).name}"
            if number < 0 and -number in signal.valid_signals()
            else f"exit {number}"
        )
        failures.append(f"rank {rank} (local rank {local}) {how}")
    return f"; failed: {', '.join(dict.fromkeys(failures))}" if failures else ""


def _log_tail(path: Path, lines: int = TAIL_LINES) -> str:
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            return "".join(deque(handle, maxlen=lines)).rstrip()
    except FileNotFoundError:
        return "(no log written)"


def train(bundle: Path, *, dry_run: bool = False, observability: Mapping[str, Any] | None = None) -> int:
    """Train ``bundle`` to completion with TorchTitan; returns 0 (errors raise ``PrimusError``).

    ``observability``: TensorBoard/W&B settings by dotted key (``primus.observability``), passed to
    TorchTitan on its command line and recorded in ``train/observability.json``; they are not part of the
    bundle, so turning them on never makes a new one.

    The bundle is checked first (``check_bundle``): a tampered one raises ``BundleIntegrityError`` (exit 1)
    naming each file, and nothing is launched. ``dry_run`` prints the torchrun command and writes nothing.
    A complete bundle (``train/DONE``) is not trained again. Raises ``LaunchError`` (exit code 1) with the
    log tail and the log path when torchrun fails, and when it exits before the configured steps are done.
    """
    bundle = Path(bundle)
    # Trust nothing: a bundle edited after freeze (job_config.toml, resolved.yaml, its manifest) never trains.
    check_bundle(bundle, assets=False)  # the cached assets are checked below, once training is due
    done = read_done(bundle)
    if done is not None:
        print(f"{bundle}: training already complete (step {done.get('step')}); nothing to do")
        return 0
    watch = dict(observability or {})
    argv = launch_command(bundle, env=os.environ) + watching.launch_arguments(watch)
    if dry_run:
        print(shlex.join(argv))
        return 0

    job = read_job_config(bundle)
    _refuse_escaping_paths(job, bundle)
    steps = int(job.get("training", {}).get("steps", 0) or 0)
    train_dir = bundle / TRAIN_DIR
    if train_dir.exists():  # before damaged checkpoints are moved aside in it
        _require_writable(train_dir)
    if launch_settings(os.environ).node_rank == 0:  # one node checks the shared checkpoint folder
        _set_aside_damaged_checkpoints(job, train_dir)
    if _finished_without_marker(job, train_dir, steps):
        # Killed in the seconds between TorchTitan's last-step save and the DONE marker: the training is
        # complete, and its last checkpoint may be model-only (checkpoint.last_save_model_only), which
        # cannot be resumed from anyway.
        write_done(train_dir, steps)
        print(f"{bundle}: training had completed (final checkpoint step-{steps}); marked DONE")
        return 0
    check_training_stack()
    check_cached_assets(bundle)  # the tokenizer/data it pins, by digest, before anything starts
    _require_writable(train_dir)  # creates train/: every check that writes nothing has passed
    (train_dir / watching.RECORD).write_text(json.dumps(watch, indent=2, sort_keys=True) + "\n")
    # On a multi-node launch every node runs this; only node 0 owns the plain names (shared file systems).
    settings = launch_settings(os.environ)
    node_rank = settings.node_rank
    suffix = f".node{node_rank}" if node_rank else ""
    log_path = train_dir / (Path(LOG_FILE).stem + suffix + Path(LOG_FILE).suffix)
    with (train_dir / (LOCK_FILE + suffix)).open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LaunchError(
                "another train process is already running on this bundle",
                file=str(bundle),
                hint="wait for it to finish (or stop it); a stopped run resumes from its checkpoint",
            ) from None
        _refuse_running_workers(train_dir, suffix)
        if not node_rank:
            preemption.clear(train_dir)
        return_code, signal_number = _run_torchrun(
            argv,
            log_path,
            train_dir / METRICS_FILE,
            steps,
            levels=bundle_sink_levels(bundle),
            run_env=bundle_run_env(bundle),
            suffix=suffix,
        )

    if signal_number is not None:
        raise _interrupted(signal_number, job, train_dir, log_path)

    stopped = preemption.read_preempted(train_dir)
    if stopped is not None and read_done(bundle) is None:
        saved = stopped.get("checkpoint")
        raise TrainingPreemptedError(
            f"training stopped by {stopped.get('signal')} after step {stopped.get('step')}"
            + (
                f" with checkpoint step-{stopped.get('step')}"
                if saved
                else " (checkpointing is off: no checkpoint)"
            )
            + f"; exit status {TrainingPreemptedError.exit_code} asks for a requeue",
            file=str(log_path),
            hint="run train again (or let SLURM requeue the job): it resumes from the latest checkpoint",
        )
    if not node_rank and return_code == 0 and settings.nnodes > 1:
        # c10d assigns global ranks at the rendezvous: rank 0, which writes DONE, may run on another node
        # and finish a moment later (shared file system latency included).
        _wait_for(lambda: read_done(bundle) is not None, MULTI_NODE_DONE_WAIT_S)
    if node_rank and return_code == 0:
        # Node 0's rank 0 writes DONE, possibly a moment after this node's workers ended.
        print(f"{bundle}: node {node_rank} finished; node 0 records completion in {train_dir / DONE_FILE}")
        return 0

    if return_code != 0:
        where = (
            f" on node {node_rank} of {settings.nnodes} ({socket.gethostname()})"
            if settings.nnodes > 1
            else ""
        )
        raise LaunchError(
            f"training failed{where}: torchrun exited with code {return_code}{_failed_ranks(log_path)}\n"
            f"--- last lines of {log_path} ---\n{_log_tail(log_path)}",
            file=str(log_path),
            hint="fix the cause the log shows, then run train again (it resumes from the latest checkpoint)",
        )
    done = read_done(bundle)
    if done is None:
        rows = read_rows(train_dir / METRICS_FILE)
        last = rows[-1]["step"] if rows else 0
        raise LaunchError(
            f"training stopped at step {last} before the configured {steps} steps "
            f"(torchrun exited 0 without writing {DONE_FILE})\n"
            f"--- last lines of {log_path} ---\n{_log_tail(log_path)}",
            file=str(log_path),
            hint="a finite dataset may have run out of data: add data or lower training.steps",
        )
    print(f"{bundle}: training complete at step {done.get('step')}; metrics in {train_dir / METRICS_FILE}")
    return 0


def bundle_run_env(bundle: Path) -> dict[str, str]:
    """The experiment's ``env:`` as frozen in the bundle's resolved.yaml (validated names, string values)."""
    document = yaml.safe_load((Path(bundle) / RESOLVED).read_text(encoding="utf-8")) or {}
    env = (document.get("envelope") or {}).get("env") or {}
    return {str(name): str(value) for name, value in env.items()}


def _require_writable(train_dir: Path) -> None:
    """LaunchError before anything starts when ``train/`` cannot be written (read-only bundle, full disk).

    Creates ``train/`` when it is missing, so call it once the stage is about to start. Every node of a
    multi-node launch runs this on the same folder at once: the probe's name is the process's own, and
    the folder is never removed again (another node may be writing into it already).
    """
    probe = train_dir / f".write-probe.{socket.gethostname()}.{os.getpid()}"
    try:
        train_dir.mkdir(parents=True, exist_ok=True)
        probe.write_text("ok\n", encoding="utf-8")
        probe.unlink()
    except OSError as error:
        raise LaunchError(
            f"cannot write the run's train/ folder: {error.strerror or error}",
            file=str(train_dir),
            hint="training writes its log, metrics and checkpoints into <bundle>/train/: train where the "
            "runs folder is writable and has free space (nothing was started)",
        ) from None


def _interrupted(signal_number: int, job: dict[str, Any], train_dir: Path, log_path: Path) -> LaunchError:
    """The message for a run stopped by Ctrl-C or SIGTERM: where it stopped and what a rerun does."""
    name = {signal.SIGINT: "Ctrl-C (SIGINT)", signal.SIGTERM: "SIGTERM"}.get(
        signal_number, f"signal {signal_number}"
    )
    rows = read_rows(train_dir / METRICS_FILE)
    stopped = f" at step {rows[-1]['step']}" if rows else " before the first step"
    checkpoint = job.get("checkpoint", {})
    newest = (
        newest_intact(train_dir / checkpoint.get("folder", "checkpoint"))
        if checkpoint.get("enable")
        else None
    )
    if newest is not None:
        rerun = f"run the same command again to resume from checkpoint step-{newest}"
    elif checkpoint.get("enable"):
        rerun = "no checkpoint was saved yet: running the same command again starts from step 0"
    else:
        rerun = "checkpoint.enable is false: running the same command again starts from step 0"
    return TrainingInterruptedError(
        f"training interrupted by {name}{stopped}; the workers were stopped and nothing was marked done",
        signal_number=signal_number,
        file=str(log_path),
        hint=rerun,
    )


def _log_write_failed(error: OSError, log_path: Path) -> LaunchError:
    return LaunchError(
        f"cannot write the training log: {error.strerror or error}; training was stopped",
        file=str(log_path),
        hint="free space on that file system (or make it writable), then run train again: it resumes from "
        "the newest intact checkpoint",
    )


#: Seconds torchrun gets to stop its workers after the first signal before it is killed.
STOP_GRACE_S = 60


def _stop_handler(train_dir: Path):
    """SIGUSR1 in the train process (SLURM's early warning): ask the workers to stop after this step with a
    checkpoint (request file). SIGTERM and Ctrl-C reach the workers through torchrun (``stop`` below)."""

    def handle(number: int, frame: Any) -> None:
        name = signal.Signals(number).name
        (train_dir / STOP_REQUEST).write_text(name + "\n", encoding="utf-8")
        print(f"\nprimus: {name} received: stopping after the current step with a checkpoint", flush=True)

    return handle


def _ignore_usr1_and_die_with_parent() -> None:
    """In the torchrun child: SIGUSR1 (SLURM's early warning) must not kill torchrun, whose default action
    for it is to exit; the workers inherit the ignore and install their own handler (``preemption``)."""
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    _die_with_parent()


def _run_torchrun(
    argv: list[str],
    log_path: Path,
    metrics_path: Path,
    steps: int,
    *,
    levels: SinkLevels | None = None,
    run_env: dict[str, str] | None = None,
    suffix: str = "",
) -> tuple[int, int | None]:
    """Run ``argv``; its output lines go to ``log_path``; this process's stdout shows the progress view.

    TorchTitan's lines at or above the experiment's ``file_sink_level`` stay in the log (lines without a
    level always do, so a failure quotes its tail), those at or above ``stderr_sink_level`` are echoed to
    stderr; the terminal, a pipe or Snakemake's log shows step/total, loss, tokens/s and the ETA
    (``primus.progress``).
    """
    levels = levels or SinkLevels()
    print(f"training log: {log_path}", flush=True)
    progress = ProgressView(steps)
    # Unbuffered bytes: a failed write (ENOSPC) leaves nothing behind for close() to fail on again.
    with log_path.open("ab", buffering=0) as log:
        started = datetime.now(UTC).isoformat(timespec="seconds")
        try:
            log.write(f"=== primus train started {started}: {shlex.join(argv)}\n".encode())
        except OSError as error:
            raise _log_write_failed(error, log_path) from None
        tail = _MetricsTail(metrics_path)
        env = {
            **environment_for_launch({**os.environ, **(run_env or {})}),
            **offline_environment(metrics_path.parents[1]),
            **quiet.launcher_markers(os.environ),
        }
        env[WORKER_LOCK_ENV] = WORKER_LOCK + suffix
        env["OMP_NUM_THREADS"] = pinned_threads(run_env)  # the same for every launcher (see launch)
        main_thread = threading.current_thread() is threading.main_thread()
        previous_usr1 = (
            signal.signal(signal.SIGUSR1, _stop_handler(metrics_path.parent)) if main_thread else None
        )
        process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
            errors="replace",
            bufsize=1,
            preexec_fn=_ignore_usr1_and_die_with_parent,
        )
        received: list[int] = []

        def stop(signal_number: int, _frame: Any) -> None:
            # Ctrl-C or SIGTERM: torchrun stops its workers (they may checkpoint on SIGTERM); a second
            # signal does not wait for that.
            received.append(signal_number)
            if process.poll() is None:
                process.send_signal(signal.SIGTERM if len(received) == 1 else signal.SIGKILL)

        handlers = _install(stop)
        try:
            for line in process.stdout or ():
                # file_sink_level / stderr_sink_level (sink_level: both) of the experiment
                if levels.to_file(line):
                    log.write(line.encode("utf-8", "replace"))
                if levels.to_stderr(line):
                    progress.message(line, sys.stderr)
                row = tail.changed()
                if row is not None:
                    progress.update(row)
            return_code = _wait(process, received)
        except OSError as error:  # the log cannot be written: ENOSPC, EROFS, EIO
            process.terminate()
            _wait(process, [signal.SIGTERM])
            raise _log_write_failed(error, log_path) from None
        finally:
            _restore(handlers)
            if previous_usr1 is not None:
                signal.signal(signal.SIGUSR1, previous_usr1)
            progress.close()
        try:
            stopped_by = f" after {signal.Signals(received[0]).name}" if received else ""
            log.write(f"=== torchrun exited with code {return_code}{stopped_by}\n".encode())
        except OSError as error:
            raise _log_write_failed(error, log_path) from None
    return return_code, (received[0] if received else None)


def _install(handler: Any) -> dict[int, Any]:
    """Install ``handler`` for SIGINT and SIGTERM (main thread only); returns the previous handlers."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {number: signal.signal(number, handler) for number in (signal.SIGINT, signal.SIGTERM)}


def _restore(handlers: dict[int, Any]) -> None:
    for number, handler in handlers.items():
        signal.signal(number, handler)


def _wait(process: subprocess.Popen, received: list[int]) -> int:
    """torchrun's exit status; after a signal, it gets ``STOP_GRACE_S`` to stop its workers, then SIGKILL."""
    try:
        return process.wait(timeout=STOP_GRACE_S if received else None)
    except subprocess.TimeoutExpired:
        process.kill()  # its workers follow: they die with their parent (entry._die_with_torchrun)
        return process.wait()
