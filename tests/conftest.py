"""Shared fixtures.

- ``repo``: the repository root (a Path).
- ``snakemake``: a callable ``snakemake(*args, cwd=..., check=True)`` running the project's Snakefile with
  the interpreter of this test session in a working directory of the test's choosing; returns
  ``subprocess.CompletedProcess`` with stdout and stderr merged into ``.stdout``.
- ``tiny_experiment``: a callable ``tiny_experiment(folder, steps=6)`` writing the CPU default experiment
  shortened to ``steps`` steps (warmup 1, checkpoint every 3) as ``folder/llama3_tiny.yaml``; returns it.
- ``slurm_cluster``: (session) a two-node SLURM cluster on loopback (two slurmd on this host), started
  from tests/slurm/ and stopped
  at the end; skips when slurm-wlm and munge are not installed or when not run as root.

Markers handled here: ``needs_shared("<part>")`` skips a test where ``../shared/<part>`` (support.SHARED) is
absent, the one place that says so; ``integration`` is given to every test of ``INTEGRATION_MODULES`` and to
the tests named in ``INTEGRATION_TESTS`` (they start processes or import torch), which ``make test-fast``
leaves out.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SLURM_DIR = REPO / "tests" / "slurm"
CPU_DEFAULT = REPO / "examples/torchtitan/configs/CPU/llama3_debugmodel-pretrain.yaml"


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


def pytest_configure(config: pytest.Config) -> None:
    """The asset cache of every test session (and of what it starts) is its own, never the user's
    ~/.cache/primus nor a DATA_PATH of the caller; tests that check the default location set theirs."""
    import tempfile

    os.environ.pop("DATA_PATH", None)
    os.environ["PRIMUS_DATA_PATH"] = tempfile.mkdtemp(prefix="primus-test-data-")


#: Test files that start Snakemake, torchrun, podman, nix, a browser, a Hub server or a wheel build, or that
#: import torch/TorchTitan.
INTEGRATION_MODULES = frozenset(
    {
        "test_backend_cpu_runtime",
        "test_assets_fetch",
        "test_backend_mock_data",
        "test_container_build",
        "test_container_context",
        "test_flake",
        "test_schema_snapshot",
        "test_slurm",
        "test_sweep_workflow",
        "test_train_run",
        "test_verify_browser",
        "test_verify_stage",
        "test_workflow",
        "test_workflow_quoting",
    }
)
#: Single tests elsewhere that do the same (TorchTitan's own ConfigManager reads what we wrote; the CLI
#: in a shell pipe; a whole dry run of `direct`).
INTEGRATION_TESTS = frozenset(
    {
        "test_completion_offers_subcommands_options_and_experiment_names",
        "test_direct_dry_run_shows_the_overridden_architecture_and_warns_about_warmup",
        "test_output_piped_into_head_ends_without_a_traceback",
        "test_every_shipped_example_is_read_by_torchtitans_config_manager_value_for_value",
        "test_reference_experiment_reaches_torchtitans_config_manager_intact",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        module = item.path.stem if item.path else ""
        if module in INTEGRATION_MODULES or getattr(item, "originalname", item.name) in INTEGRATION_TESTS:
            item.add_marker(pytest.mark.integration)


def pytest_runtest_setup(item: pytest.Item) -> None:
    from support import SHARED

    for marker in item.iter_markers("needs_shared"):
        part = SHARED / marker.args[0]
        if not part.exists():
            pytest.skip(f"needs {part} (../shared/ beside the repository, or set PRIMUS_SHARED_DIR)")


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


def write_tiny_experiment(folder: Path, *, steps: int = 6) -> Path:
    """The CPU default shortened to ``steps`` steps (checkpoint every 3), copied into ``folder``."""
    text = CPU_DEFAULT.read_text(encoding="utf-8")
    for old, new in (
        ("steps: 50", f"steps: {steps}"),
        ("warmup_steps: 5", "warmup_steps: 1"),
        ("interval: 10", "interval: 3"),
    ):
        if old not in text:
            pytest.fail(f"{CPU_DEFAULT} no longer contains {old!r}; update tests/conftest.py")
        text = text.replace(old, new)
    path = folder / "llama3_tiny.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_experiment() -> Callable[..., Path]:
    return write_tiny_experiment


@pytest.fixture(scope="session")
def trained(tmp_path_factory, tiny_experiment):
    """One real run of the shortened CPU default through ``snakemake train`` on this host: (working dir,
    experiment file, bundle, output). test_slurm.py's time-limited SLURM run trains the same bundle."""
    from support import bundles_in

    workdir = tmp_path_factory.mktemp("workflow")
    experiment = tiny_experiment(workdir)
    result = run_snakemake("-c2", "train", "--config", f"exp={experiment}", cwd=workdir)
    (bundle,) = bundles_in(result.stdout)
    return workdir, experiment, workdir / bundle, result.stdout


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Start munged + slurmctld + two slurmd (nodes ``n1``, ``n2``, both on this host, on loopback);
    yields the folder with slurm.conf and logs."""
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
    deadline = time.monotonic() + 900
    while True:
        started = subprocess.run(
            [str(SLURM_DIR / "start-cluster.sh"), str(folder)], capture_output=True, text=True, timeout=120
        )
        # 3: another checkout's test cluster is running on this machine (one /etc/slurm/slurm.conf): wait
        if started.returncode != 3 or time.monotonic() > deadline:
            break
        time.sleep(5)
    if started.returncode != 0:
        subprocess.run([str(SLURM_DIR / "stop-cluster.sh"), str(folder)], timeout=120)
        pytest.fail(f"could not start the SLURM test cluster:\n{started.stdout}{started.stderr}")
    try:
        yield folder
    finally:
        subprocess.run([str(SLURM_DIR / "stop-cluster.sh"), str(folder)], timeout=120)


@pytest.fixture
def isolated_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No world size or configs root from the caller's environment; bundles go to ``tmp_path/runs``."""
    for name in ("WORLD_SIZE", "NNODES", "GPUS_PER_NODE", "PRIMUS_CONFIGS_ROOT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PRIMUS_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path / "runs"
