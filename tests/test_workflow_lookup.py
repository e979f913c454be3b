"""primus.workflow without Snakemake: experiment lookup, SLURM resources, the srun lines of the train step."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from primus.errors import EXIT_CONFIG, ConfigValueError
from primus.workflow import (
    ExperimentNotFoundError,
    SlurmResources,
    check_slurm_time,
    find_experiment,
    first_host_line,
    launch_lines,
    node_environments,
    plan_workflow,
    sbatch_line,
    slurm_resources,
    srun_train_lines,
    train_shell,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def examples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tiny examples/ tree; the working directory is its root."""
    folder = tmp_path / "examples" / "torchtitan" / "configs"
    for platform, stems in {
        "MI300X": [
            "qwen3_8B-BF16-pretrain",
            "qwen3_8B-FP8-pretrain",
            "qwen3_4B-BF16-pretrain",
            "llama3_8B-pretrain",
        ],
        "CPU": ["llama3_debugmodel-pretrain"],
    }.items():
        (folder / platform).mkdir(parents=True)
        for stem in stems:
            (folder / platform / f"{stem}.yaml").write_text("exp_name: x\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    ("exp", "platform", "expected"),
    [
        pytest.param("qwen3_4B-BF16-pretrain", "MI300X", "qwen3_4B-BF16-pretrain", id="exact-stem"),
        pytest.param("qwen3_4B", "MI300X", "qwen3_4B-BF16-pretrain", id="name-continued-at-dash"),
        pytest.param("qwen3_4", "MI300X", "qwen3_4B-BF16-pretrain", id="plain-prefix"),
        pytest.param("llama3_8B", "MI300X", "llama3_8B-pretrain", id="dash-rule-beats-prefix"),
        pytest.param("llama3_debugmodel", "CPU", "llama3_debugmodel-pretrain", id="other-platform"),
    ],
)
def test_find_experiment_resolves_names_by_the_documented_rules(examples, exp, platform, expected):
    found = find_experiment(exp, platform=platform, root=examples)
    assert found == Path(f"examples/torchtitan/configs/{platform}/{expected}.yaml")


def test_find_experiment_returns_a_path_unchanged(examples):
    path = "examples/torchtitan/configs/CPU/llama3_debugmodel-pretrain.yaml"
    assert find_experiment(path, root=examples) == Path(path)


@pytest.mark.parametrize(
    ("exp", "platform", "message", "candidates"),
    [
        pytest.param(
            "qwen3_8B",  # two precisions of the same model: the name must say which
            "MI300X",
            "experiment name 'qwen3_8B' is ambiguous on platform MI300X: it matches 2 experiments: "
            "qwen3_8B-BF16-pretrain, qwen3_8B-FP8-pretrain",
            ["qwen3_8B-BF16-pretrain", "qwen3_8B-FP8-pretrain"],
            id="ambiguous",
        ),
        pytest.param(
            "qwen3_9B",
            "MI300X",
            "no experiment named 'qwen3_9B' for platform MI300X",
            ["qwen3_4B-BF16-pretrain", "qwen3_8B-BF16-pretrain", "qwen3_8B-FP8-pretrain"],
            id="unknown-with-close-matches",
        ),
        pytest.param(
            "qwen3_4B",
            "H100",
            "no experiments for platform 'H100' under examples/*/configs/H100/",
            ["CPU", "MI300X"],
            id="unknown-platform",
        ),
        pytest.param(
            "missing/exp.yaml",
            "MI300X",
            "experiment file missing/exp.yaml does not exist (looked for it in {cwd} and {root})",
            [],
            id="path",
        ),
        pytest.param(" ", "MI300X", "empty experiment name", [], id="empty"),
    ],
)
def test_find_experiment_errors_name_the_candidates(examples, exp, platform, message, candidates):
    with pytest.raises(ExperimentNotFoundError) as caught:
        find_experiment(exp, platform=platform, root=examples)
    assert caught.value.message == message.format(cwd=Path.cwd(), root=examples.resolve())
    assert caught.value.candidates == candidates
    assert caught.value.key == "exp"
    assert caught.value.exit_code == EXIT_CONFIG


def test_unknown_name_hint_lists_every_experiment_of_the_platform(examples):
    with pytest.raises(ExperimentNotFoundError) as caught:
        find_experiment("mixtral", root=examples)
    assert caught.value.hint == (
        "available on MI300X: llama3_8B-pretrain, qwen3_4B-BF16-pretrain, qwen3_8B-BF16-pretrain, "
        "qwen3_8B-FP8-pretrain"
    )


def test_shipped_examples_resolve_qwen3_8B_on_MI300X(monkeypatch):
    monkeypatch.chdir(REPO)
    found = find_experiment("qwen3_8B", platform="MI300X", root=REPO)
    assert found == Path("examples/torchtitan/configs/MI300X/qwen3_8B-BF16-pretrain.yaml")


# ---------------------------------------------------------------------------------------------- SLURM


def test_single_node_resources_are_a_plain_job_without_mpi():
    resources = SlurmResources(nodes=1, gpus_per_node=0, cpus_per_task=2, mem_mb=3000, runtime_min=10)
    assert resources.snakemake_resources() == {
        "nodes": 1,
        "mem_mb": 3000,
        "runtime": 10,
        "cpus_per_task": 2,
        "slurm_extra": "--ntasks-per-node=1 --signal=USR1@90",
    }


def test_multi_node_resources_hand_the_task_launch_to_our_srun():
    resources = SlurmResources(nodes=4, gpus_per_node=8, cpus_per_task=64, mem_mb=512000, runtime_min=120)
    assert resources.snakemake_resources() == {
        "nodes": 4,
        "mem_mb": 512000,
        "runtime": 120,
        "cpus_per_task": 64,
        "slurm_extra": "--ntasks-per-node=1 --signal=USR1@90 --gpus-per-node=8",
        "mpi": "srun",
        "tasks": 4,
    }


def test_signal_s_0_asks_for_no_early_warning():
    resources = SlurmResources(runtime_min=1, signal_s=0)
    assert "--signal" not in resources.snakemake_resources()["slurm_extra"]
    assert "--signal" not in sbatch_line(resources)
    check_slurm_time(resources)  # SIGTERM at the limit is all there is: nothing to refuse


@pytest.mark.parametrize(
    ("runtime_min", "signal_s", "fits"),
    [(60, 90, True), (3, 90, True), (2, 90, False), (1, 90, False), (1, 1, False), (2, 59, True)],
)
def test_a_warning_that_leaves_no_time_to_train_is_refused(runtime_min, signal_s, fits):
    resources = SlurmResources(runtime_min=runtime_min, signal_s=signal_s)
    if fits:
        check_slurm_time(resources)
        return
    with pytest.raises(ConfigValueError) as caught:
        check_slurm_time(resources)
    error = caught.value
    assert error.key == "slurm.signal_s" and error.value == signal_s
    assert f"warning {signal_s} s before" in error.message and f"runtime_min {runtime_min} (" in error.message
    assert "each job would stop after one step and requeue itself" in error.message
    assert "slurm.signal_s: 0" in error.hint and "raise slurm.runtime_min above" in error.hint


def test_the_workflow_plan_refuses_a_warning_due_at_the_jobs_start(tiny_experiment, tmp_path):
    settings = {"exp": str(tiny_experiment(tmp_path)), "slurm": {"runtime_min": 1}}
    with pytest.raises(ConfigValueError) as caught:
        plan_workflow(settings, root=REPO)
    assert caught.value.key == "slurm.signal_s"


@pytest.mark.parametrize("in_a_job", [True, False])
def test_snakemake_in_a_slurm_job_outlives_the_time_limit_warning(in_a_job):
    import subprocess
    import sys

    code = (
        "import os, signal; from primus.workflow import shield_from_slurm_warning as s; "
        "print(s(), flush=True); os.kill(os.getpid(), signal.SIGUSR1); print('alive')"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("SLURM_JOB_ID", None)
    if in_a_job:
        env["SLURM_JOB_ID"] = "7"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if in_a_job:
        assert (result.returncode, result.stdout) == (0, "True\nalive\n"), result.stderr
    else:  # outside SLURM nothing changes: SIGUSR1 ends the process as always
        assert (result.returncode, result.stdout) == (-10, "False\n")


@pytest.mark.parametrize(
    ("settings", "parallelism", "nodes"),
    [
        pytest.param(
            {"gpus_per_node": 8}, {"data_parallel_shard_degree": 16}, 2, id="16-ranks-on-8-gpu-nodes"
        ),
        pytest.param(
            {"gpus_per_node": 8},
            {"data_parallel_shard_degree": 4, "tensor_parallel_degree": 2, "pipeline_parallel_degree": 4},
            4,
            id="fsdp-tp-pp-32-ranks",
        ),
        pytest.param(
            {"gpus_per_node": 8}, {"data_parallel_shard_degree": 4}, 1, id="fewer-ranks-than-a-node"
        ),
        pytest.param(
            {"gpus_per_node": 8}, {"data_parallel_shard_degree": -1}, 1, id="leftover-ranks-say-nothing"
        ),
        pytest.param({"gpus_per_node": 0}, {"data_parallel_shard_degree": 16}, 1, id="cpu-job"),
        pytest.param(
            {"gpus_per_node": 8, "nodes": 3}, {"data_parallel_shard_degree": 16}, 3, id="explicit-wins"
        ),
    ],
)
def test_nodes_come_from_the_parallelism_degrees_unless_set(settings, parallelism, nodes):
    resources = slurm_resources(settings, {"parallelism": parallelism})
    assert resources.nodes == nodes


@pytest.mark.parametrize("nodes", [2, 4])
def test_srun_lines_start_one_task_per_node_with_rendezvous_on_the_first_host(nodes):
    resources = SlurmResources(nodes=nodes, gpus_per_node=8, cpus_per_task=16, master_port=29600)
    lines = srun_train_lines("runs/exp/0123abcd", resources)
    assert lines == [
        first_host_line(),
        f"srun --nodes={nodes} --ntasks={nodes} --ntasks-per-node=1 --cpus-per-task=16 --gpus-per-node=8 "
        f"--kill-on-bad-exit=1 --export=ALL,MASTER_ADDR=$MASTER_ADDR,MASTER_PORT=29600,NNODES={nodes},"
        "GPUS_PER_NODE=8 bash -c 'NODE_RANK=$SLURM_NODEID exec primus-cli train --bundle runs/exp/0123abcd'",
    ]
    assert "localhost" not in "\n".join(lines)


@pytest.mark.parametrize("nodes", [2, 4])
def test_every_node_gets_its_rank_and_the_first_host_as_master(nodes):
    hosts = [f"gpu{i:02d}" for i in range(nodes)]
    envs = node_environments(SlurmResources(nodes=nodes, gpus_per_node=8), hosts)
    assert [env["NODE_RANK"] for env in envs] == [str(rank) for rank in range(nodes)]
    assert {env["MASTER_ADDR"] for env in envs} == {"gpu00"}
    assert {env["NNODES"] for env in envs} == {str(nodes)}
    assert {env["GPUS_PER_NODE"] for env in envs} == {"8"}


def test_cpu_nodes_get_no_gpu_count_so_the_launcher_starts_one_process():
    envs = node_environments(SlurmResources(nodes=2, gpus_per_node=0), ["a", "b"])
    assert all("GPUS_PER_NODE" not in env for env in envs)
    (_, srun) = srun_train_lines("runs/e/h", SlurmResources(nodes=2, gpus_per_node=0))
    assert "--export=ALL,MASTER_ADDR=$MASTER_ADDR,MASTER_PORT=29500,NNODES=2 bash -c" in srun
    assert "--gpus-per-node" not in srun


def test_node_environments_need_one_host_per_node():
    with pytest.raises(ConfigValueError) as caught:
        node_environments(SlurmResources(nodes=2), ["only-one"])
    assert caught.value.message == "1 host names given for 2 nodes"
    assert caught.value.key == "slurm.nodes"


@pytest.mark.parametrize("nodes", [2, 4])
def test_sbatch_line_requests_nodes_gpus_and_one_task_per_node(nodes):
    resources = SlurmResources(nodes=nodes, gpus_per_node=8, cpus_per_task=16, mem_mb=1000, runtime_min=30)
    assert sbatch_line(resources) == (
        f"sbatch --parsable --job-name train_model -t 30 --mem 1000 --nodes={nodes} --ntasks={nodes} "
        "--cpus-per-task=16 --ntasks-per-node=1 --signal=USR1@90 --gpus-per-node=8 --requeue"
    )


def test_single_node_train_shell_runs_primus_cli_directly_and_records_the_job_id():
    command = train_shell("runs/exp/0123abcd", SlurmResources(nodes=1))
    assert command == (
        'if [ -n "${SLURM_JOB_ID:-}" ]; then mkdir -p runs/exp/0123abcd/train && '
        'echo "$SLURM_JOB_ID" > runs/exp/0123abcd/train/slurm_job_id; fi; '
        "status=0; primus-cli train --bundle runs/exp/0123abcd || status=$?; "
        'if { [ "$status" -eq 75 ] || [ "$status" -eq 143 ]; } && [ -n "${SLURM_JOB_ID:-}" ]; then '
        'scontrol requeue "$SLURM_JOB_ID" || true; '
        'fi; exit "$status"'
    )


def test_the_rendezvous_is_the_first_hosts_slurm_address():
    # SLURM's NodeAddr of the first host (what slurmctld reaches it by), else its name
    line = first_host_line()
    assert line.startswith(
        'MASTER_ADDR="$(scontrol show node "$(scontrol show hostnames "${SLURM_JOB_NODELIST:-'
    )
    # inside a job of the SLURM executor plugin SLURM_JOB_NODELIST is dropped: the job's NodeList instead
    assert 'scontrol show job "$SLURM_JOB_ID" -o' in line
    assert "NodeAddr=" in line and 'MASTER_ADDR="${MASTER_ADDR:-$(' in line


def test_multi_node_train_shell_goes_through_srun():
    command = train_shell("runs/exp/0123abcd", SlurmResources(nodes=2))
    assert "; MASTER_ADDR=" in command
    assert "; srun --nodes=2 " in command


# ---------------------------------------------------------------------------------------------- launch lines


@pytest.fixture(scope="module")
def frozen_cpu_bundle(tmp_path_factory, tiny_experiment) -> Path:
    """The shortened CPU default frozen into a temporary runs folder (no training)."""
    from primus.bundle import freeze
    from primus.config import load_experiment
    from primus.validate import validate

    folder = tmp_path_factory.mktemp("launch")
    resolved = load_experiment(tiny_experiment(folder), env={})
    return freeze(resolved, validate(resolved), runs_dir=folder / "runs")


@pytest.mark.parametrize("nodes", [2, 4])
def test_launch_lines_are_sbatch_then_srun_then_one_torchrun_per_node(frozen_cpu_bundle, nodes):
    import sys

    bundle = frozen_cpu_bundle.resolve()
    hosts = [f"cpu{i}" for i in range(nodes)]
    resources = SlurmResources(nodes=nodes, cpus_per_task=2, mem_mb=2000, runtime_min=5, master_port=29511)
    lines = launch_lines(frozen_cpu_bundle, resources, hosts=hosts)
    torchrun = str(Path(sys.executable).with_name("torchrun"))
    tail = (
        "--max_restarts=0 -m primus.backends.torchtitan.entry "
        f"--job.config_file {bundle}/job_config.toml --job.dump_folder {bundle}/train "
        "--job.custom_config_module primus.backends.torchtitan.primus_turbo_extensions.config_extension"
    )
    assert lines == [
        f"sbatch --parsable --job-name train_model -t 5 --mem 2000 --nodes={nodes} --ntasks={nodes} "
        "--cpus-per-task=2 --ntasks-per-node=1 --signal=USR1@90 --requeue",
        f"srun --nodes={nodes} --ntasks={nodes} --ntasks-per-node=1 --cpus-per-task=2 --kill-on-bad-exit=1 "
        f"--export=ALL,MASTER_ADDR=$MASTER_ADDR,MASTER_PORT=29511,NNODES={nodes} bash -c "
        f"'NODE_RANK=$SLURM_NODEID exec primus-cli train --bundle {frozen_cpu_bundle}'",
        *(
            f"[cpu{rank}] {torchrun} --nnodes={nodes} --nproc_per_node=1 --node_rank={rank} "
            f"--rdzv_backend=c10d --rdzv_endpoint=cpu0:29511 --rdzv_id=bundle-{frozen_cpu_bundle.name} "
            f"--rdzv_conf=join_timeout=300 {tail}"
            for rank in range(nodes)
        ),
    ]
