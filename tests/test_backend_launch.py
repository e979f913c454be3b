"""The torchrun command line: launch settings from Primus/SLURM env, dry runs, preflight refusals."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from support import freeze_config

from primus.backends.torchtitan import launch_command, launch_settings, train
from primus.backends.torchtitan.launch import ENTRY_MODULE, expand_hostlist
from primus.errors import BundleError, LaunchError

EXTENSION = "primus.backends.torchtitan.primus_turbo_extensions.config_extension"


def write_bundle(folder: Path, **sections: dict) -> Path:
    """A frozen bundle under ``folder`` (llama3 debugmodel, mock data)."""
    config = {
        "job": {"description": "test"},
        "model": {"name": "llama3", "flavor": "debugmodel"},
        "training": {"mock_data": True, "seq_len": 64, "local_batch_size": 1, "steps": 2},
        "experimental": {"custom_args_module": EXTENSION},
    }
    for name, values in sections.items():
        config.setdefault(name, {}).update(values)
    return freeze_config(folder, config)


def slurm(nodes: int, node_id: int, nodelist: str, gpus: str = "8") -> dict[str, str]:
    return {
        "SLURM_JOB_ID": "4242",
        "SLURM_NNODES": str(nodes),
        "SLURM_NODEID": str(node_id),
        "SLURM_JOB_NODELIST": nodelist,
        "SLURM_GPUS_ON_NODE": gpus,
    }


# (id, env, expected (nnodes, node_rank, nproc_per_node, master_addr, master_port)) — one line per node.
SETTINGS_TABLE = [
    ("2-nodes-rank0", slurm(2, 0, "gpu[07-08]"), (2, 0, 8, "gpu07", 29500)),
    ("2-nodes-rank1", slurm(2, 1, "gpu[07-08]"), (2, 1, 8, "gpu07", 29500)),
    ("4-nodes-rank0", slurm(4, 0, "node[01-03],gpu7"), (4, 0, 8, "node01", 29500)),
    ("4-nodes-rank1", slurm(4, 1, "node[01-03],gpu7"), (4, 1, 8, "node01", 29500)),
    ("4-nodes-rank2", slurm(4, 2, "node[01-03],gpu7"), (4, 2, 8, "node01", 29500)),
    ("4-nodes-rank3", slurm(4, 3, "node[01-03],gpu7"), (4, 3, 8, "node01", 29500)),
    (
        "explicit-env-wins-over-slurm",
        {**slurm(4, 3, "node[01-04]"), "MASTER_ADDR": "head", "MASTER_PORT": "1234", "GPUS_PER_NODE": "4"},
        (4, 3, 4, "head", 1234),
    ),
    (
        "slurm-gpus-per-node-with-type",
        {**slurm(2, 1, "a1,a2", gpus=""), "SLURM_GPUS_PER_NODE": "mi300x:8"},
        (2, 1, 8, "a1", 29500),
    ),
    ("no-slurm-cpu-host", {}, (1, 0, 1, None, None)),
    ("no-slurm-explicit-port", {"MASTER_PORT": "29600"}, (1, 0, 1, "localhost", 29600)),
    ("slurm-vars-ignored-outside-allocation", {"SLURM_NNODES": "4"}, (1, 0, 1, None, None)),
]


@pytest.mark.parametrize(
    ("env", "expected"), [c[1:] for c in SETTINGS_TABLE], ids=[c[0] for c in SETTINGS_TABLE]
)
def test_launch_settings_follow_primus_and_slurm_env(env, expected):
    settings = launch_settings(env, local_accelerators=0)
    got = (
        settings.nnodes,
        settings.node_rank,
        settings.nproc_per_node,
        settings.master_addr,
        settings.master_port,
    )
    assert got == expected


def test_launch_settings_default_to_every_local_accelerator():
    settings = launch_settings({}, local_accelerators=8)
    assert (settings.nproc_per_node, settings.sources["nproc_per_node"]) == (8, "local accelerators")


@pytest.mark.parametrize(
    ("nodelist", "hosts"),
    [
        ("node[01-04],gpu7", ["node01", "node02", "node03", "node04", "gpu7"]),
        ("n[8-10]", ["n8", "n9", "n10"]),
        ("n[08-10]", ["n08", "n09", "n10"]),
        ("rack1-n[1,3-4]-ib", ["rack1-n1-ib", "rack1-n3-ib", "rack1-n4-ib"]),
        ("single", ["single"]),
    ],
    ids=["range-and-single", "unpadded", "zero-padded", "list-with-suffix", "one-host"],
)
def test_expand_hostlist_expands_slurm_forms(nodelist, hosts):
    assert expand_hostlist(nodelist) == hosts


# (id, env, key, exact message)
SETTINGS_ERRORS = [
    (
        "multi-node-on-localhost",
        {"NNODES": "2", "MASTER_ADDR": "localhost"},
        "MASTER_ADDR",
        "a 2-node launch cannot rendezvous on localhost",
    ),
    ("multi-node-without-host", {"NNODES": "2"}, "MASTER_ADDR", "a 2-node launch needs a rendezvous host"),
    (
        "rank-out-of-range",
        {"NNODES": "2", "NODE_RANK": "2", "MASTER_ADDR": "h"},
        "NODE_RANK",
        "node rank 2 is not below the node count 2",
    ),
    ("nodes-not-a-number", {"NNODES": "two"}, "NNODES", "expected an integer >= 1, got 'two'"),
    (
        "slurm-gpus-zero",
        slurm(1, 0, "n1", gpus="0"),
        "SLURM_GPUS_ON_NODE",
        "expected an integer >= 1, got '0'",
    ),
    ("port-out-of-range", {"MASTER_PORT": "70000"}, "MASTER_PORT", "port 70000 is out of range"),
    (
        "unreadable-nodelist",
        slurm(2, 0, "n[1-"),
        "SLURM_JOB_NODELIST",
        "cannot read the SLURM node list 'n[1-'",
    ),
]


@pytest.mark.parametrize(
    ("env", "key", "message"), [c[1:] for c in SETTINGS_ERRORS], ids=[c[0] for c in SETTINGS_ERRORS]
)
def test_launch_settings_refuse_unworkable_env(env, key, message):
    with pytest.raises(LaunchError) as caught:
        launch_settings(env, local_accelerators=0)
    assert (caught.value.key, caught.value.message) == (key, message)
    assert caught.value.exit_code == 1


def test_launch_command_runs_the_entry_on_the_bundle_with_the_extension(tmp_path):
    bundle = write_bundle(tmp_path / "b")
    argv = launch_command(bundle, env={})
    assert Path(argv[0]).name in {"torchrun", Path(sys.executable).name}
    assert "--standalone" in argv and "--nproc_per_node=1" in argv and "--nnodes=1" in argv
    tail = argv[argv.index("-m") + 1 :]
    assert tail == [
        ENTRY_MODULE,
        "--job.config_file",
        str(bundle.resolve() / "job_config.toml"),
        "--job.dump_folder",
        str(bundle.resolve() / "train"),
        "--job.custom_config_module",
        EXTENSION,
    ]


def test_launch_command_on_two_nodes_names_the_rendezvous_host(tmp_path):
    argv = launch_command(write_bundle(tmp_path / "b"), env=slurm(2, 1, "gpu[07-08]"))
    assert "--standalone" not in argv
    launch = ("--nnodes", "--nproc", "--node_rank", "--master", "--rdzv")
    assert [a for a in argv if a.startswith(launch)] == [
        "--nnodes=2",
        "--nproc_per_node=8",
        "--node_rank=1",
        "--rdzv_backend=c10d",
        "--rdzv_endpoint=gpu07:29500",
        "--rdzv_id=slurm-" + slurm(2, 1, "gpu[07-08]")["SLURM_JOB_ID"],
        "--rdzv_conf=join_timeout=300",
    ]


def test_dry_run_prints_the_command_and_writes_nothing(tmp_path, capsys):
    bundle = write_bundle(tmp_path / "b")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert train(bundle, dry_run=True) == 0
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    printed = capsys.readouterr().out
    assert f"-m {ENTRY_MODULE} --job.config_file {bundle.resolve() / 'job_config.toml'}" in printed


@pytest.mark.skipif(
    __import__("importlib.util").util.find_spec("primus_turbo") is not None,
    reason="primus_turbo is installed here",
)
def test_primus_turbo_without_the_package_fails_before_launch(tmp_path):
    bundle = write_bundle(tmp_path / "b", model={"converters": ["primus_turbo"]})
    with pytest.raises(LaunchError) as caught:
        train(bundle)
    error = caught.value
    assert error.key == "model.converters"
    assert error.message == (
        "model.converters asks for primus_turbo, but the primus_turbo package is not importable here"
    )
    assert error.file == str(bundle.resolve() / "job_config.toml")
    assert "drop primus_turbo" in error.hint
    assert not (bundle / "train").exists()


def test_a_complete_bundle_is_not_trained_again(tmp_path, capsys):
    bundle = write_bundle(tmp_path / "b")
    (bundle / "train").mkdir()
    (bundle / "train" / "DONE").write_text('{"step": 2, "steps": 2}\n')
    assert train(bundle) == 0
    assert capsys.readouterr().out == f"{bundle}: training already complete (step 2); nothing to do\n"
    assert sorted(p.name for p in (bundle / "train").iterdir()) == ["DONE"]


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "the run bundle has no job_config.toml"), ("[job\n", "job_config.toml is not valid TOML")],
    ids=["missing", "not-toml"],
)
def test_a_bundle_without_a_readable_job_config_is_refused(tmp_path, content, message):
    bundle = tmp_path / "b"
    bundle.mkdir()
    if content is not None:
        (bundle / "job_config.toml").write_text(content)
    with pytest.raises(BundleError) as caught:
        launch_command(bundle, env={})
    assert caught.value.message.startswith(message)
    assert caught.value.file == str(bundle.resolve() / "job_config.toml")


def test_a_dry_run_of_an_unwritten_bundle_takes_the_config_in_hand(tmp_path):
    bundle = tmp_path / "not-written"
    argv = launch_command(bundle, env={}, job_config={"model": {"name": "llama3", "converters": []}})
    assert argv[-4:] == [
        "--job.dump_folder",
        str(bundle.resolve() / "train"),
        "--job.custom_config_module",
        EXTENSION,
    ]
    assert not bundle.exists()


def test_the_unwritten_bundle_path_still_refuses_primus_turbo_here(tmp_path):
    if __import__("importlib.util").util.find_spec("primus_turbo") is not None:
        pytest.skip("primus_turbo is installed here")
    with pytest.raises(LaunchError) as caught:
        launch_command(tmp_path / "b", env={}, job_config={"model": {"converters": ["primus_turbo"]}})
    assert caught.value.key == "model.converters"


def test_an_unsupported_torchtitan_is_refused_before_launch(tmp_path, monkeypatch):
    monkeypatch.setattr("primus.backends.torchtitan.runner.installed_torchtitan_version", lambda: "0.3.0")
    bundle = write_bundle(tmp_path / "b")
    with pytest.raises(LaunchError) as caught:
        train(bundle)
    assert caught.value.message == "torchtitan 0.3.0 is installed; this backend supports 0.2.2 only"
    assert caught.value.hint.startswith("pip install torchtitan==0.2.2")
    assert not (bundle / "train").exists()


@pytest.mark.parametrize(
    ("env", "count"),
    [
        ({"CUDA_VISIBLE_DEVICES": "0,1,2"}, 3),
        ({"HIP_VISIBLE_DEVICES": "4,5"}, 2),
        ({"CUDA_VISIBLE_DEVICES": ""}, 0),
        ({"CUDA_VISIBLE_DEVICES": "-1"}, 0),
    ],
    ids=["cuda-three", "rocm-two", "cuda-none", "cuda-disabled"],
)
def test_visible_devices_decide_the_local_accelerator_count(env, count):
    from primus.backends.torchtitan.launch import local_accelerator_count

    assert local_accelerator_count(env) == count
    assert launch_settings(env).nproc_per_node == max(count, 1)


def test_check_host_false_shows_the_command_of_a_turbo_config_anyway(tmp_path):
    argv = launch_command(
        tmp_path / "b", env={}, job_config={"model": {"converters": ["primus_turbo"]}}, check_host=False
    )
    assert ENTRY_MODULE in argv


def test_a_worker_still_holding_the_bundle_blocks_a_new_launch(tmp_path):
    import fcntl

    bundle = write_bundle(tmp_path / "b")
    (bundle / "train").mkdir()
    lock_path = bundle / "train" / ".worker.lock"
    with lock_path.open("a") as straggler:  # what a worker left running by a killed launcher holds
        fcntl.flock(straggler, fcntl.LOCK_SH)
        with pytest.raises(LaunchError) as caught:
            train(bundle)
    assert caught.value.message == "a training worker from an earlier launch is still running on this bundle"
    assert caught.value.file == str(lock_path)
    assert not (bundle / "train" / "train.log").exists()


@pytest.mark.parametrize(
    ("run_env", "threads"),
    [({}, "1"), ({"OMP_NUM_THREADS": "4"}, "4"), (None, "1")],
    ids=["default", "experiment-env", "no-env"],
)
def test_the_thread_count_comes_from_the_bundle_not_the_callers_shell(monkeypatch, run_env, threads):
    from primus.backends.torchtitan.launch import pinned_threads

    monkeypatch.setenv("OMP_NUM_THREADS", "7")  # Snakemake's threads:, a shell's export: not part of the run
    assert pinned_threads(run_env) == threads
