"""Engine selection and the exact engine command lines (what --dry-run prints); nothing is built or run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from primus import containers
from primus.containers.engine import (
    ROCM_DEVICE_FLAGS,
    Mount,
    PodmanEngine,
    RunSpec,
    podman_environment,
    run_cli_args,
    select_engine,
)
from primus.errors import EXIT_RUNTIME, ContainerError

ROOT = Path(__file__).resolve().parents[1]
needs_podman = pytest.mark.skipif(
    shutil.which("podman") is None or shutil.which("buildah") is None,
    reason="podman and buildah are not installed (apt-get install -y podman buildah runc fuse-overlayfs)",
)


def test_gpu_run_gets_the_rocm_device_flags_and_a_large_shm():
    spec = RunSpec(image="sha256:abc", argv=["true"], gpu=True, shm_size="64g")
    assert run_cli_args(spec) == [
        "run", "--rm", "--network", "none", "--shm-size", "64g",
        "--device", "/dev/kfd", "--device", "/dev/dri", "--group-add", "video",
        "--ipc", "host", "--security-opt", "seccomp=unconfined",
        "sha256:abc", "true",
    ]  # fmt: skip


def test_cpu_run_has_no_device_flags_and_mounts_read_only_when_asked():
    spec = RunSpec(
        image="img",
        argv=["primus-cli", "validate", "/ex/a.yaml"],
        mounts=[Mount(Path("/host/ex"), "/ex", writable=False)],
        env={"B": "2", "A": "1"},
        user="0:0",
    )
    argv = run_cli_args(spec)
    assert not set(ROCM_DEVICE_FLAGS) & set(argv)
    assert argv == [
        "run", "--rm", "--network", "none", "--shm-size", "2g", "--user", "0:0",
        "-v", "/host/ex:/ex:ro", "--env", "A=1", "--env", "B=2",
        "img", "primus-cli", "validate", "/ex/a.yaml",
    ]  # fmt: skip


def test_podman_environment_points_storage_and_runtime_at_the_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("CONTAINERS_STORAGE_CONF", raising=False)
    monkeypatch.delenv("CONTAINERS_CONF", raising=False)
    env = podman_environment(tmp_path)
    storage = Path(env["CONTAINERS_STORAGE_CONF"]).read_text()
    assert 'driver = "overlay"' in storage
    assert f'graphroot = "{tmp_path / "storage" / "graph"}"' in storage
    conf = Path(env["CONTAINERS_CONF"]).read_text()
    assert 'runtime = "runc"' in conf and '"nofile=1024:1024"' in conf


def test_podman_environment_keeps_the_users_own_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("CONTAINERS_STORAGE_CONF", "/etc/mine.conf")
    monkeypatch.setenv("CONTAINERS_CONF", "/etc/mine2.conf")
    env = podman_environment(tmp_path)
    assert (env["CONTAINERS_STORAGE_CONF"], env["CONTAINERS_CONF"]) == ("/etc/mine.conf", "/etc/mine2.conf")
    assert not (tmp_path / "storage.conf").exists()


def test_buildah_command_uses_chroot_isolation_and_the_layer_cache(tmp_path):
    engine = PodmanEngine(tmp_path)
    local = engine.build_command(
        tmp_path, "t:cpu", {"BASE_IMAGE": "localhost/base:1", "VARIANT": "cpu"}, tmp_path / "iid"
    )
    assert local == [
        "buildah", "bud", "--isolation", "chroot", "--layers", "--pull-never",
        "-f", str(tmp_path / "containers" / "Dockerfile"), "-t", "t:cpu", "--iidfile", str(tmp_path / "iid"),
        "--build-arg", "BASE_IMAGE=localhost/base:1", "--build-arg", "VARIANT=cpu", str(tmp_path),
    ]  # fmt: skip
    remote = engine.build_command(
        tmp_path, "t", {"BASE_IMAGE": "docker.io/rocm/pytorch@sha256:x"}, tmp_path / "i"
    )
    assert "--pull" in remote and "--pull-never" not in remote


def test_unknown_engine_is_a_runtime_error_listing_the_choices(tmp_path):
    with pytest.raises(ContainerError) as caught:
        select_engine("kubernetes", tmp_path)
    assert caught.value.message == "unknown container engine 'kubernetes'"
    assert caught.value.hint == "choose one of: auto, docker, podman, podman-api"
    assert caught.value.exit_code == EXIT_RUNTIME


def test_no_engine_names_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no podman, no buildah
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setattr("primus.containers.engine._docker_answers", lambda: False)
    with pytest.raises(ContainerError) as caught:
        select_engine("auto", tmp_path)
    assert caught.value.format() == (
        "no container engine found (podman and buildah not installed)\n"
        "  hint: install podman and buildah (apt-get install -y podman buildah runc fuse-overlayfs), or a "
        "Docker engine and the Docker SDK for Python (pip install docker)"
    )


def test_docker_engine_without_a_daemon_says_so(tmp_path, monkeypatch):
    pytest.importorskip("docker")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    with pytest.raises(ContainerError) as caught:
        select_engine("docker", tmp_path)
    assert caught.value.message.startswith("no Docker engine answers: ")


@needs_podman
def test_train_run_command_mounts_the_bundle_and_trains_it_inside(tmp_path, monkeypatch):
    monkeypatch.setattr("primus.containers.runner.os.getuid", lambda: 1000)
    monkeypatch.setattr("primus.containers.runner.os.getgid", lambda: 100)
    bundle = tmp_path / "runs" / "llama3_debugmodel-pretrain" / "0123abcd"
    bundle.mkdir(parents=True)
    argv = containers.run_command(
        bundle, image_id="sha256:feed", engine="podman", gpu=True, project_root=ROOT
    )
    target = "/runs/llama3_debugmodel-pretrain/0123abcd"
    assert argv == [
        "podman", "run", "--rm", "--network", "none", "--shm-size", "64g", *ROCM_DEVICE_FLAGS,
        "--user", "1000:100", "--workdir", target, "-v", f"{bundle}:{target}",
        "--env", "HOME=/tmp", "--env", "PRIMUS_IMAGE_ID=sha256:feed",
        "sha256:feed", "primus-cli", "train", "--bundle", target,
    ]  # fmt: skip


@needs_podman
def test_a_bundle_pinning_assets_trains_with_the_asset_cache_mounted_read_only(tmp_path, monkeypatch):
    monkeypatch.setenv("PRIMUS_DATA_PATH", str(tmp_path / "data"))
    bundle = tmp_path / "runs" / "exp" / "0123abcd"
    bundle.mkdir(parents=True)
    pins = {
        "tokenizer": {"source": "hub", "repo": "o/t", "revision": "c" * 40, "files": {"tokenizer.json": "0"}}
    }
    (bundle / "lock.json").write_text(json.dumps({"assets": pins}))
    argv = containers.run_command(
        bundle, image_id="sha256:feed", engine="podman", gpu=False, project_root=ROOT
    )
    assert f"{tmp_path / 'data' / 'assets'}:/primus-data/assets:ro" in argv
    assert argv[argv.index("PRIMUS_DATA_PATH=/primus-data") - 1] == "--env"


@needs_podman
def test_run_without_a_built_image_says_how_to_build_it(tmp_path):
    (tmp_path / "containers").mkdir()
    bundle = tmp_path / "b"
    bundle.mkdir()
    with pytest.raises(ContainerError) as caught:
        containers.run(bundle, variant="cpu", project_root=tmp_path, engine="podman")
    assert (
        caught.value.message
        == f"no image built for variant 'cpu' ({tmp_path}/build/container/cpu.image-id is missing)"
    )
    assert caught.value.hint == "build it first: primus-cli container build --variant cpu (or make container)"


@needs_podman
def test_run_of_a_missing_bundle_is_an_error(tmp_path):
    with pytest.raises(ContainerError) as caught:
        containers.run_command(tmp_path / "nope", image_id="sha256:x", project_root=ROOT, engine="podman")
    assert caught.value.message == f"run bundle {tmp_path / 'nope'} does not exist"


@needs_podman
def test_dry_run_returns_the_build_command_and_builds_nothing(tmp_path):
    text = containers.build(
        "rocm", gpu_arch="gfx950", engine="podman", revision="abc", out_dir=tmp_path, dry_run=True
    )
    assert text.startswith("buildah bud --isolation chroot --layers --pull -f ")
    assert "--build-arg GPU_ARCH=gfx950" in text and "--build-arg REVISION=abc" in text
    assert "-t primus-torchtitan:rocm-gfx950" in text
    assert list(tmp_path.iterdir()) == []
