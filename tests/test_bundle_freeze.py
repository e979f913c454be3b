"""freeze(): bundle content, atomic writes, no-op refreeze, never overwriting, races, portability."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import socket
import stat
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

import primus.bundle.writer as freeze_module
from primus.bundle import check_bundle, compute_hash, freeze, load_bundle
from primus.bundle.canonical import sha256_text
from primus.config.model import Origin, ResolvedExperiment, Setting
from primus.errors import BundleError, BundleWriteError, ConfigValueError

PACKAGES = {"torch": "2.13.0", "torchtitan": "0.2.2", "primus_turbo": None, "python": "3.11.7"}

EXPERIMENT_YAML = "work_group: w\nuser_name: u\nexp_name: exp1\nworkspace: ./output\n"
PRESET_YAML = "training:\n  steps: 10\n  seq_len: 256\n"


def make_resolved(root: Path, *, config: dict[str, Any] | None = None, env=None) -> ResolvedExperiment:
    """A ResolvedExperiment as the loader returns it, for files written under ``root``."""
    experiment = root / "exp.yaml"
    preset = root / "configs" / "modules" / "torchtitan" / "pre_trainer.yaml"
    preset.parent.mkdir(parents=True, exist_ok=True)
    experiment.write_text(EXPERIMENT_YAML, encoding="utf-8")
    preset.write_text(PRESET_YAML, encoding="utf-8")
    preset_file = "configs/modules/torchtitan/pre_trainer.yaml"
    return ResolvedExperiment(
        path=experiment,
        envelope={"work_group": "w", "user_name": "u", "exp_name": "exp1", "workspace": "./output"},
        module_name="pre_trainer",
        framework="torchtitan",
        module_preset="pre_trainer.yaml",
        model_preset="qwen3_debugmodel.yaml",
        config=config
        if config is not None
        else {
            "trainable": True,
            "model": {"name": "qwen3", "flavor": "debugmodel"},
            "training": {"steps": 5, "seq_len": 256, "mock_data": True, "dataset_path": None},
            "primus_turbo": {"enable_primus_turbo": False},
        },
        provenance={
            "training.steps": [
                Setting(10, Origin(preset_file, 2, "module preset")),
                Setting(5, Origin("exp.yaml", 9, "overrides")),
            ],
            "training.seq_len": [Setting(256, Origin(preset_file, 3, "module preset"))],
        },
        inputs=[experiment.resolve(), preset.resolve()],
        env_consumed=dict(env or {}),
    )


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def bundle_bytes(bundle: Path) -> dict[str, bytes]:
    return {entry.name: entry.read_bytes() for entry in sorted(bundle.iterdir()) if entry.is_file()}


def test_bundle_holds_the_frozen_files_under_exp_name_and_hash(project: Path):
    resolved = make_resolved(project)
    bundle = freeze(resolved, resolved.config, runs_dir=Path("runs"), packages=PACKAGES)
    assert bundle == Path("runs") / "exp1" / compute_hash(resolved, resolved.config, packages=PACKAGES)
    assert sorted(p.name for p in bundle.iterdir()) == [
        "job_config.toml",
        "lock.json",
        "manifest.json",
        "provenance.json",
        "resolved.yaml",
    ]
    check_bundle(bundle)


def test_resolved_yaml_is_the_canonical_document(project: Path):
    resolved = make_resolved(project)
    bundle = freeze(resolved, resolved.config, runs_dir=Path("runs"), packages=PACKAGES)
    document = yaml.safe_load((bundle / "resolved.yaml").read_text())
    assert document == {
        "envelope": {"work_group": "w", "user_name": "u", "exp_name": "exp1", "workspace": "./output"},
        "module": "pre_trainer",
        "framework": "torchtitan",
        "presets": {"module": "pre_trainer.yaml", "model": "qwen3_debugmodel.yaml"},
        "config": resolved.config,
    }


def test_job_config_toml_holds_torchtitan_sections_only(project: Path):
    resolved = make_resolved(project)
    bundle = freeze(resolved, resolved.config, runs_dir=Path("runs"), packages=PACKAGES)
    toml = tomllib.loads((bundle / "job_config.toml").read_text())
    assert "trainable" not in toml
    assert toml["training"] == {"steps": 5, "seq_len": 256, "mock_data": True}
    assert toml["job"]["custom_config_module"].endswith("primus_turbo_extensions.config_extension")


def test_provenance_lists_every_layer_lowest_first(project: Path):
    resolved = make_resolved(project)
    bundle = freeze(resolved, resolved.config, runs_dir=Path("runs"), packages=PACKAGES)
    provenance = json.loads((bundle / "provenance.json").read_text())
    assert provenance["training.steps"] == [
        {
            "value": 10,
            "file": "configs/modules/torchtitan/pre_trainer.yaml",
            "line": 2,
            "layer": "module preset",
        },
        {"value": 5, "file": "exp.yaml", "line": 9, "layer": "overrides"},
    ]


def test_lock_records_inputs_env_packages_runtime_and_git(project: Path):
    resolved = make_resolved(project, env={"DATA_DIR": "data", "UNSET_ONE": None})
    bundle = freeze(
        resolved, resolved.config, runs_dir=Path("runs"), image_id="sha256:abc", packages=PACKAGES
    )
    lock = json.loads((bundle / "lock.json").read_text())
    assert lock["inputs"] == {
        "exp.yaml": sha256_text(EXPERIMENT_YAML),
        "configs/modules/torchtitan/pre_trainer.yaml": sha256_text(PRESET_YAML),
    }
    assert lock["env"] == {"DATA_DIR": "data", "UNSET_ONE": None}
    assert lock["packages"] == PACKAGES
    assert lock["runtime"] == {"image_id": "sha256:abc"}
    assert lock["git"] == {"commit": None, "dirty": None}  # tmp_path is not a git work tree
    assert lock["experiment"] == "exp.yaml"


def test_lock_without_image_records_host_fingerprint_without_hostname(project: Path):
    resolved = make_resolved(project)
    bundle = freeze(resolved, resolved.config, runs_dir=Path("runs"), packages=PACKAGES)
    runtime = json.loads((bundle / "lock.json").read_text())["runtime"]
    assert runtime["image_id"] is None
    assert {"system", "machine", "cpu"} <= set(runtime["host"])
    assert socket.gethostname() not in (bundle / "lock.json").read_text()


@pytest.mark.parametrize(
    "name", ["HF_TOKEN", "WANDB_API_KEY", "aws_secret_access", "DB_Password", "GCP_CREDENTIALS"]
)
def test_secret_looking_env_vars_are_recorded_as_sha256_only(project: Path, name: str):
    resolved = make_resolved(project, env={name: "hunter2-value", "DATA_DIR": "data"})
    bundle = freeze(resolved, resolved.config, runs_dir=Path("runs"), packages=PACKAGES)
    lock = json.loads((bundle / "lock.json").read_text())
    assert lock["env"][name] == "sha256:" + sha256_text("hunter2-value")
    assert lock["env"]["DATA_DIR"] == "data"
    assert all(b"hunter2-value" not in content for content in bundle_bytes(bundle).values())


def test_frozen_files_are_read_only_and_the_folder_stays_writable(project: Path):
    resolved = make_resolved(project)
    bundle = freeze(resolved, resolved.config, runs_dir=Path("runs"), packages=PACKAGES)
    for entry in bundle.iterdir():
        assert stat.S_IMODE(entry.stat().st_mode) == 0o444, entry.name
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o755  # train/ and verify/ are created inside


def test_freezing_again_is_a_no_op_returning_the_same_path(project: Path):
    resolved = make_resolved(project)
    first = freeze(resolved, resolved.config, runs_dir=Path("runs"), packages=PACKAGES)
    before = {entry.name: entry.stat().st_mtime_ns for entry in first.iterdir()}
    second = freeze(resolved, resolved.config, runs_dir=Path("runs"), packages=PACKAGES)
    assert second == first
    assert {entry.name: entry.stat().st_mtime_ns for entry in first.iterdir()} == before
    assert os.listdir(first.parent) == [first.name]  # no temporary folder left


def test_refreeze_after_comment_edit_keeps_the_first_freeze_records(project: Path):
    resolved = make_resolved(project)
    first = freeze(resolved, resolved.config, runs_dir=Path("runs"), packages=PACKAGES)
    lock_before = (first / "lock.json").read_bytes()
    (project / "exp.yaml").write_text("# a comment\n" + EXPERIMENT_YAML)  # same semantics, new bytes
    assert freeze(resolved, resolved.config, runs_dir=Path("runs"), packages=PACKAGES) == first
    assert (first / "lock.json").read_bytes() == lock_before


def test_a_damaged_existing_bundle_is_reported_and_left_alone(project: Path):
    resolved = make_resolved(project)
    bundle = freeze(resolved, resolved.config, runs_dir=Path("runs"), packages=PACKAGES)
    target = bundle / "resolved.yaml"
    target.chmod(0o644)
    target.write_text(target.read_text() + "# edited\n")
    with pytest.raises(BundleError) as caught:
        freeze(resolved, resolved.config, runs_dir=Path("runs"), packages=PACKAGES)
    assert caught.value.message.startswith("a bundle with this hash already exists but is damaged:\n")
    assert "resolved.yaml: modified" in caught.value.message
    assert target.read_text().endswith("# edited\n")


def test_a_bundle_is_never_overwritten_with_different_content(project: Path, monkeypatch: pytest.MonkeyPatch):
    resolved = make_resolved(project)
    monkeypatch.setattr(freeze_module, "hash_of", lambda material: "0123456789abcdef")  # force a collision
    bundle = freeze(resolved, resolved.config, runs_dir=Path("runs"), packages=PACKAGES)
    before = bundle_bytes(bundle)
    # the real check rejects the name
    monkeypatch.setattr(freeze_module, "check_bundle", lambda path, **_: None)
    other = make_resolved(project, config={"training": {"steps": 6, "mock_data": True}})
    with pytest.raises(BundleError) as caught:
        freeze(other, other.config, runs_dir=Path("runs"), packages=PACKAGES)
    assert caught.value.message == "a bundle with this hash already exists with a different resolved.yaml"
    assert bundle_bytes(bundle) == before


def test_a_failure_while_writing_leaves_nothing_behind(project: Path, monkeypatch: pytest.MonkeyPatch):
    resolved = make_resolved(project)
    written = []

    def fail_on_second_file(path: Path, text: str) -> None:
        if written:
            raise OSError(28, "No space left on device")
        written.append(path)
        path.write_text(text)

    monkeypatch.setattr(freeze_module, "_write_read_only", fail_on_second_file)
    with pytest.raises(BundleWriteError) as caught:
        freeze(resolved, resolved.config, runs_dir=Path("runs"), packages=PACKAGES)
    assert caught.value.message == "cannot write the run bundle: No space left on device"
    assert (caught.value.file, caught.value.exit_code) == (str(Path("runs") / "exp1"), 1)
    assert os.listdir(project / "runs" / "exp1") == []


def test_a_runs_path_that_is_a_file_is_a_runtime_error(project: Path):
    resolved = make_resolved(project)
    (project / "runs").write_text("not a folder\n")
    with pytest.raises(BundleWriteError) as caught:
        freeze(resolved, resolved.config, runs_dir=Path("runs"), packages=PACKAGES)
    assert caught.value.message == "cannot write the run bundle: Not a directory"
    assert (
        caught.value.hint
        == "check that the runs folder is writable and its disk has space; nothing was written"
    )


def test_an_interrupt_while_writing_leaves_nothing_behind(project: Path, monkeypatch: pytest.MonkeyPatch):
    resolved = make_resolved(project)

    def interrupted(path: Path, text: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(freeze_module, "_write_read_only", interrupted)
    with pytest.raises(KeyboardInterrupt):
        freeze(resolved, resolved.config, runs_dir=Path("runs"), packages=PACKAGES)
    assert os.listdir(project / "runs" / "exp1") == []


def test_a_config_toml_cannot_carry_fails_before_anything_is_written(project: Path):
    resolved = make_resolved(project, config={"training": {"steps": None}})
    with pytest.raises(ConfigValueError) as caught:
        freeze(resolved, resolved.config, runs_dir=Path("runs"), packages=PACKAGES)
    assert (caught.value.key, caught.value.file, caught.value.line) == ("training.steps", "exp.yaml", 9)
    assert not (project / "runs").exists()


@pytest.mark.parametrize(
    "exp_name",
    [
        pytest.param("../escape", id="parent-folder"),
        pytest.param("a/b", id="separator"),
        pytest.param(".hidden", id="hidden"),
        pytest.param("", id="empty"),
        pytest.param(7, id="not-a-string"),
    ],
)
def test_an_exp_name_that_is_not_a_folder_name_is_rejected(project: Path, exp_name):
    resolved = make_resolved(project)
    resolved.envelope["exp_name"] = exp_name
    with pytest.raises(ConfigValueError) as caught:
        freeze(resolved, resolved.config, runs_dir=Path("runs"), packages=PACKAGES)
    assert caught.value.key == "exp_name"
    assert (
        caught.value.message
        == f"exp_name {exp_name!r} cannot be used as a folder name under the runs directory"
    )
    assert not (project / "runs").exists()


def _freeze_in_child(root: str, barrier, results) -> None:
    os.chdir(root)
    real_rename = os.rename

    def rename_after_both_wrote(src, dst):  # both processes have a complete temp folder before either renames
        barrier.wait(timeout=30)
        return real_rename(src, dst)

    os.rename = rename_after_both_wrote  # this child process only
    resolved = make_resolved(Path(root))
    results.put(str(freeze(resolved, resolved.config, runs_dir=Path("runs"), packages=PACKAGES)))


def test_two_processes_freezing_at_once_end_with_one_intact_bundle(project: Path):
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(2), context.Queue()
    children = [
        context.Process(target=_freeze_in_child, args=(str(project), barrier, results)) for _ in range(2)
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=60)
    assert [child.exitcode for child in children] == [0, 0]
    paths = {results.get(timeout=5), results.get(timeout=5)}
    assert len(paths) == 1
    bundle = project / paths.pop()
    assert os.listdir(bundle.parent) == [bundle.name]  # the loser's temp folder was removed
    check_bundle(bundle)


def test_two_checkouts_in_different_folders_give_byte_identical_bundles(tmp_path: Path, monkeypatch):
    bundles = []
    for folder in ("checkout-a", "deeper/checkout-b"):
        root = tmp_path / folder
        root.mkdir(parents=True)
        monkeypatch.chdir(root)
        resolved = make_resolved(root, env={"HF_TOKEN": "t", "DATA": "d"})
        bundles.append(root / freeze(resolved, resolved.config, runs_dir=Path("runs"), packages=PACKAGES))
    first, second = bundles
    assert first.relative_to(tmp_path / "checkout-a") == second.relative_to(tmp_path / "deeper/checkout-b")
    assert bundle_bytes(first) == bundle_bytes(second)
    for content in bundle_bytes(first).values():
        assert str(tmp_path).encode() not in content


def test_load_bundle_needs_nothing_but_the_bundle(project: Path, tmp_path_factory):
    resolved = make_resolved(project)
    bundle = freeze(resolved, resolved.config, runs_dir=Path("runs"), packages=PACKAGES)
    elsewhere = tmp_path_factory.mktemp("copy") / bundle.name
    shutil.copytree(bundle, elsewhere)
    shutil.rmtree(project / "configs")
    (project / "exp.yaml").unlink()

    loaded = load_bundle(elsewhere)
    assert loaded.config == resolved.config
    assert (loaded.exp_name, loaded.module_name, loaded.framework) == ("exp1", "pre_trainer", "torchtitan")
    assert loaded.hash == bundle.name
    assert loaded.job_toml.is_file()
    assert str(loaded.origin_of("training.steps")) == "exp.yaml:9"


REPO = Path(__file__).resolve().parent.parent


def test_real_experiment_frozen_from_two_copies_of_the_tree_is_byte_identical(tmp_path: Path, monkeypatch):
    from primus.config import load_experiment
    from primus.validate import validate

    example = "examples/torchtitan/configs/CPU/llama3_debugmodel-pretrain.yaml"
    bundles = []
    for folder in ("one", "two/nested"):
        root = tmp_path / folder
        (root / example).parent.mkdir(parents=True)
        shutil.copy(REPO / example, root / example)
        shutil.copytree(REPO / "primus/configs", root / "configs")
        monkeypatch.chdir(root)
        resolved = load_experiment(example, env={}, configs_root=Path("configs"))
        assert len(resolved.inputs) >= 3  # experiment, module preset (+ extends chain), model preset
        bundles.append(
            root / freeze(resolved, validate(resolved, env={}), runs_dir=Path("runs"), packages=PACKAGES)
        )
    first, second = bundles
    assert first.name == second.name
    assert bundle_bytes(first) == bundle_bytes(second)
    lock = json.loads((first / "lock.json").read_text())
    assert set(lock["inputs"]) == {
        portable for portable in lock["inputs"] if not portable.startswith(("/", ".."))
    }
    assert all(str(tmp_path).encode() not in content for content in bundle_bytes(first).values())


def test_importing_the_bundle_package_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, primus.bundle; print('torch' in sys.modules, 'torchtitan' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert result.stdout.strip() == "False False"


def test_a_secret_substituted_into_a_config_value_is_refused(project: Path):
    config = {"job": {"description": "run by token-abcdef"}, "training": {"steps": 5}}
    resolved = make_resolved(project, config=config, env={"HF_TOKEN": "token-abcdef"})
    resolved.provenance["job.description"] = [
        Setting("run by ${HF_TOKEN}", Origin("exp.yaml", 4, "overrides"))
    ]
    with pytest.raises(ConfigValueError) as caught:
        freeze(resolved, resolved.config, runs_dir=Path("runs"), packages=PACKAGES)
    error = caught.value
    assert (error.key, error.file, error.line) == ("job.description", "exp.yaml", 4)
    assert (
        error.message
        == "contains the value of ${HF_TOKEN}, which would be written in clear into the run bundle"
    )
    assert not (project / "runs").exists()


def test_an_empty_folder_already_at_the_bundle_path_is_replaced(project: Path):
    resolved = make_resolved(project)
    planned = Path("runs") / "exp1" / compute_hash(resolved, resolved.config, packages=PACKAGES)
    planned.mkdir(parents=True)  # what Snakemake does for an output inside the bundle
    assert freeze(resolved, resolved.config, runs_dir=Path("runs"), packages=PACKAGES) == planned
    check_bundle(planned)


def _killed_while_writing(root: str) -> None:
    os.chdir(root)
    written = []

    def die_on_third_file(path: Path, text: str) -> None:
        if len(written) == 2:
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup code runs: a power cut, an OOM kill
        written.append(path)
        path.write_text(text)

    freeze_module._write_read_only = die_on_third_file
    resolved = make_resolved(Path(root))
    freeze(resolved, resolved.config, runs_dir=Path("runs"), packages=PACKAGES)


def test_a_killed_freeze_leaves_no_bundle_and_its_leftovers_are_cleaned_later(project: Path):
    child = multiprocessing.get_context("fork").Process(target=_killed_while_writing, args=(str(project),))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == -signal.SIGKILL
    exp_dir = project / "runs" / "exp1"
    leftovers = os.listdir(exp_dir)
    assert len(leftovers) == 1 and leftovers[0].startswith(".freeze-")  # a temp folder, never a bundle

    old = time.time() - freeze_module.STALE_TEMP_AGE_S - 1
    os.utime(exp_dir / leftovers[0], (old, old))
    resolved = make_resolved(project)
    bundle = freeze(resolved, resolved.config, runs_dir=Path("runs"), packages=PACKAGES)
    assert os.listdir(exp_dir) == [bundle.name]
    check_bundle(bundle)
