"""Shared fixtures.

- ``repo``: the repository root (a Path).
- ``snakemake``: a callable ``snakemake(*args, cwd=..., check=True)`` running the project's Snakefile with
  the interpreter of this test session in a working directory of the test's choosing; returns
  ``subprocess.CompletedProcess`` with stdout and stderr merged into ``.stdout``.
- ``slurm_cluster``: (session) a one-node SLURM cluster on loopback, started from tests/slurm/ and stopped
  at the end; skips when slurm-wlm and munge are not installed or when not run as root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SLURM_DIR = REPO / "tests" / "slurm"


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


def run_snakemake(
    *args: str, cwd: Path, check: bool = True, timeout: float = 900
) -> subprocess.CompletedProcess:
    """``snakemake -s REPO/Snakefile ARGS`` in ``cwd``; a failure with check=True shows the whole output."""
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), *args]
    result = subprocess.run(
        command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}")
    return result


@pytest.fixture(scope="session")
def snakemake() -> Callable[..., subprocess.CompletedProcess]:
    return run_snakemake


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Start munged + slurmctld + slurmd (node ``localhost``); yields the folder with slurm.conf and logs."""
    missing = [
        tool for tool in ("slurmctld", "slurmd", "sbatch", "squeue", "munged") if not shutil.which(tool)
    ]
    if missing:
        pytest.skip(
            f"slurm-wlm and munge are not installed (missing {', '.join(missing)}): "
            "apt-get install slurm-wlm munge"
        )
    if os.geteuid() != 0:
        pytest.skip("the SLURM test cluster needs root (daemons, /etc/slurm/slurm.conf symlink)")
    folder = tmp_path_factory.mktemp("slurm")
    started = subprocess.run(
        [str(SLURM_DIR / "start-cluster.sh"), str(folder)], capture_output=True, text=True, timeout=120
    )
    if started.returncode != 0:
        subprocess.run([str(SLURM_DIR / "stop-cluster.sh"), str(folder)], timeout=120)
        pytest.fail(f"could not start the SLURM test cluster:\n{started.stdout}{started.stderr}")
    try:
        yield folder
    finally:
        subprocess.run([str(SLURM_DIR / "stop-cluster.sh"), str(folder)], timeout=120)
