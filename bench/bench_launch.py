"""Launch to first step for 1 node x 1 process, 1 node x 2 processes and 2 nodes x 1 process (CPU example).

Each layout trains the CPU llama3 example (3 steps) from a freshly frozen bundle through ``primus-cli train
--bundle``: 1 x 1 as is, 1 x 2 with ``NPROC_PER_NODE=2`` (FSDP over both ranks: dp_shard -1), 2 x 1 as two
``primus-cli train`` processes with the environment a SLURM allocation gives each node (NNODES=2,
NODE_RANK, MASTER_ADDR=127.0.0.1), meeting at a c10d rendezvous. The figure is the wall time from starting
the command(s) to the first row of ``metrics.jsonl`` (step 1 done), and its ratio to the one-process
baseline measured in the same run. On a 2-core machine two processes share the cores, so the ratio mostly
shows what a second Python + torch + TorchTitan start-up and the rendezvous cost here.

Prints a Markdown table (merged into bench/RESULTS.md by run_all.py: ``--only launch``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from primus import stages  # noqa: E402
from primus.workflow import SlurmResources, node_environments  # noqa: E402

EXPERIMENT = REPO / "examples/torchtitan/configs/CPU/llama3_debugmodel-pretrain.yaml"
OVERRIDES = ["--training.steps", "3", "--checkpoint.enable", "false"]
REPEATS = int(os.environ.get("BENCH_LAUNCH_REPEATS", "2"))


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    for name in ("NNODES", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT", "NPROC_PER_NODE", "GPUS_PER_NODE"):
        env.pop(name, None)
    return {**env, **extra}


def _freeze(runs: Path) -> Path:
    validated = stages.validate_experiment(EXPERIMENT, OVERRIDES, env=_env())
    return stages.freeze_experiment(validated, runs_dir=runs)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _launch_to_first_step(envs: list[dict[str, str]]) -> float:
    with tempfile.TemporaryDirectory() as folder:
        bundle = _freeze(Path(folder))
        metrics = bundle / "train" / "metrics.jsonl"
        command = [sys.executable, "-m", "primus.cli", "train", "--bundle", str(bundle)]
        start = time.monotonic()
        processes = [
            subprocess.Popen(command, env=_env(**env), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for env in envs
        ]
        first = None
        while any(p.poll() is None for p in processes):
            if first is None and metrics.exists() and metrics.stat().st_size > 0:
                first = time.monotonic() - start
            time.sleep(0.02)
        codes = [p.returncode for p in processes]
        if any(codes) or first is None:
            raise SystemExit(f"a run failed: exit codes {codes}")
        return first


def main() -> int:
    layouts = {
        "1 node x 1 process": lambda: [{}],
        "1 node x 2 processes (FSDP 2)": lambda: [{"NPROC_PER_NODE": "2"}],
        "2 nodes x 1 process (c10d on 127.0.0.1)": lambda: node_environments(
            SlurmResources(nodes=2, master_port=_free_port()), ["127.0.0.1", "127.0.0.1"]
        ),
    }
    results = {}
    for name, envs in layouts.items():
        times = sorted(_launch_to_first_step(envs()) for _ in range(REPEATS))
        results[name] = times[len(times) // 2]
    baseline = results["1 node x 1 process"]
    print(f"| layout | launch to first step, s (median of {REPEATS}) | ratio to 1 x 1 |")
    print("|---|---:|---:|")
    for name, seconds in results.items():
        print(f"| {name} | {seconds:.2f} | {seconds / baseline:.2f} |")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
