"""The CPU image built for real with buildah from a locally bootstrapped Debian base, then used.

Slow inputs are cached under .cache/containers/ (base root file system, wheelhouse, image layers), so only
the first run on a machine bootstraps and downloads (about 2-4 minutes on 2 cores); later runs reuse the
layer cache and take seconds. The builds here use their own tag and output folder, never the developer's
build/container/cpu.image-id.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from primus import containers
from primus.containers.context import project_wheel
from primus.containers.engine import RunSpec, podman_environment, start_podman_api

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "containers"
OUT = CACHE / "test-build"  # beside the cached wheelhouse: the staged context hard-links it
TAG = "primus-torchtitan:cpu-test"
TOOLS = ("podman", "buildah", "mmdebstrap", "runc")

pytestmark = [
    pytest.mark.container,
    pytest.mark.slow,
    pytest.mark.skipif(
        any(shutil.which(tool) is None for tool in TOOLS),
        reason="needs podman buildah mmdebstrap runc: apt-get install -y "
        + " ".join(TOOLS)
        + " fuse-overlayfs",
    ),
]


def build_cpu(wheel: Path, revision: str) -> containers.BuildResult:
    result = containers.build("cpu", engine="podman", tag=TAG, wheel=wheel, revision=revision, out_dir=OUT)
    assert isinstance(result, containers.BuildResult)
    return result


@pytest.fixture(scope="module")
def builds() -> Iterator[dict]:
    """Three builds: first, again with nothing changed, then with a new revision label (tagged last, so the
    tests that run the image use that one: the first becomes untagged)."""
    wheel = project_wheel(ROOT, OUT / "wheel")
    first = build_cpu(wheel, "test-a")
    first_log = (OUT / "cpu.build.log").read_text()
    again = build_cpu(wheel, "test-a")
    again_log = (OUT / "cpu.build.log").read_text()
    # A revision no earlier run used, so this build always makes a new image.
    revision = f"test-{uuid.uuid4().hex[:12]}"
    relabeled = build_cpu(wheel, revision)
    relabeled_log = (OUT / "cpu.build.log").read_text()
    yield {
        "first": first,
        "again": again,
        "relabeled": relabeled,
        "revision": revision,
        "logs": {"first": first_log, "again": again_log, "relabeled": relabeled_log},
    }
    # Earlier test images become untagged (dangling) when a source changes; the layers under the tagged
    # images, i.e. the build cache, stay.
    podman("image", "prune", "--force")


def podman(*argv: str) -> subprocess.CompletedProcess[str]:
    env = podman_environment(CACHE)
    return subprocess.run(
        ["podman", *argv], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def in_image(image: str, *argv: str, mounts: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    volumes = [word for spec in mounts for word in ("-v", spec)]
    return podman("run", "--rm", "--network", "none", *volumes, image, *argv)


def test_cpu_image_builds_and_records_its_id(builds):
    first = builds["first"]
    assert first.image_id.startswith("sha256:") and len(first.image_id) == 71
    assert (OUT / "cpu.image-id").read_text() == builds["relabeled"].image_id + "\n"
    assert first.command[:6] == ["buildah", "bud", "--isolation", "chroot", "--layers", "--pull-never"]


def cached_steps(log: str) -> dict[str, bool]:
    """Each build step's instruction text -> whether buildah took it from the layer cache."""
    steps: dict[str, bool] = {}
    current = None
    for line in log.splitlines():
        if line.startswith("STEP "):
            current = line.split(": ", 1)[1]
            steps[current] = False
        elif current and line.startswith("--> Using cache"):
            steps[current] = True
    return steps


def rerun_steps(log: str) -> list[str]:
    """The first two words of each step buildah ran rather than took from its cache (FROM never is)."""
    return [" ".join(text.split()[:2]) for text, cached in cached_steps(log).items() if not cached][1:]


def test_rebuild_with_unchanged_inputs_reuses_every_layer(builds):
    assert builds["again"].image_id == builds["first"].image_id
    assert rerun_steps(builds["logs"]["again"]) == []
    assert builds["again"].seconds < 30  # about 1 s on an idle machine; generous for shared CI cores


def test_image_id_changes_when_the_image_changes_and_the_dependency_layers_are_reused(builds):
    assert builds["relabeled"].image_id != builds["first"].image_id
    assert rerun_steps(builds["logs"]["relabeled"]) == [
        "RUN printf", "RUN useradd", "USER ${USER_UID}", "WORKDIR /workspace", 'CMD ["primus-cli",',
        'LABEL org.opencontainers.image.title="primus-torchtitan"',
    ]  # fmt: skip


def test_labels_carry_source_revision_and_variant(builds):
    done = podman("image", "inspect", "--format", "{{json .Labels}}", builds["relabeled"].image_id)
    labels = json.loads(done.stdout)
    assert labels["org.opencontainers.image.revision"] == builds["revision"]
    assert labels["org.opencontainers.image.source"] == "https://github.com/AMD-AGI/Primus"
    assert (labels["ai.primus.variant"], labels["ai.primus.gpu-arch"]) == ("cpu", "gfx942")


def test_image_runs_as_a_non_root_user_with_the_pinned_stack(builds):
    code = "import os, torch, torchtitan, primus; print(os.getuid(), torch.__version__)"
    done = in_image(builds["relabeled"].image_id, "python", "-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1001", "2.13.0+cpu"]


def test_manifest_of_the_environment_is_in_the_image(builds):
    done = in_image(builds["relabeled"].image_id, "cat", "/opt/primus/manifest/image.json")
    assert done.returncode == 0, done.stderr
    manifest = json.loads(done.stdout)
    digest = (CACHE / "wheelhouse").glob("*/.digest")
    assert manifest["variant"] == "cpu"
    assert manifest["torch"] == "2.13.0+cpu"
    assert manifest["torchtitan_version"] == "0.2.2"
    assert manifest["wheelhouse_digest"] in {path.read_text().strip() for path in digest}
    listing = in_image(builds["relabeled"].image_id, "ls", "/opt/primus/manifest", "/opt/primus/recipe")
    assert listing.stdout.split() == [
        "/opt/primus/manifest:", "dpkg.txt", "env.txt", "image.json", "pip-freeze.txt",
        "/opt/primus/recipe:", "Dockerfile", "install-cpu.sh", "lock.yaml", "write-manifest.sh",
    ]  # fmt: skip


def test_shipped_cpu_examples_validate_inside_the_image(builds):
    examples = sorted((ROOT / "examples" / "torchtitan" / "configs" / "CPU").glob("*.yaml"))
    assert examples, "no CPU example to validate"
    inside = [f"/examples/{path.name}" for path in examples]
    done = in_image(
        builds["relabeled"].image_id,
        "primus-cli",
        "validate",
        *inside,
        mounts=(f"{examples[0].parent}:/examples:ro",),
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_docker_sdk_through_podmans_api_socket_runs_and_builds(builds, tmp_path):
    pytest.importorskip("docker")
    engine = start_podman_api(CACHE)
    try:
        assert engine.is_podman
        assert engine.image_exists(builds["relabeled"].image_id)
        spec = RunSpec(image=builds["relabeled"].image_id, argv=["python", "-c", "import torchtitan"])
        assert engine.run(spec) == 0
        # A small build through the API: RUN --mount works there (podman's API builds with buildah).
        context = tmp_path / "context"
        (context / "containers").mkdir(parents=True)
        (context / "data").mkdir()
        (context / "data" / "value").write_text("42\n")
        (context / "containers" / "Dockerfile").write_text(
            "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n"
            "RUN --mount=type=bind,source=data,target=/data cp /data/value /tmp/value\n"
        )
        args = {"BASE_IMAGE": builds["relabeled"].image_id}
        first = engine.build(context, "primus-sdk-test:1", args, tmp_path / "iid", tmp_path / "log")
        again = engine.build(context, "primus-sdk-test:1", args, tmp_path / "iid", tmp_path / "log")
        assert first.startswith("sha256:") and again == first
        assert engine.run(RunSpec(image=first, argv=["grep", "-q", "42", "/tmp/value"])) == 0
        engine.client.images.remove("primus-sdk-test:1", noprune=True)  # keep its parent
    finally:
        engine.close()


def test_training_a_frozen_bundle_inside_the_image(builds, tmp_path):
    """A few steps of the CPU debug model, frozen on the host, trained inside the container."""
    example = ROOT / "examples" / "torchtitan" / "configs" / "CPU" / "llama3_debugmodel-pretrain.yaml"
    id_file = tmp_path / "cpu.image-id"
    id_file.write_text(builds["relabeled"].image_id + "\n")
    cli = str(ROOT / ".venv" / "bin" / "primus-cli")
    frozen = subprocess.run(
        [cli, "resolve", str(example), "--freeze", "--runs-dir", str(tmp_path / "runs"),
         "--image-id-file", str(id_file), "--training.steps", "2", "--lr_scheduler.warmup_steps", "1"],
        capture_output=True, text=True, timeout=300, cwd=ROOT, check=False,
    )  # fmt: skip
    assert frozen.returncode == 0, frozen.stderr
    bundle = Path(frozen.stdout.strip().splitlines()[-1])
    # Through the CLI, as the workflow's train rule runs it: the image comes from the bundle's lock.json.
    trained = subprocess.run(
        [cli, "train", "--bundle", str(bundle), "--runtime", "container", "--container-variant", "cpu"],
        capture_output=True, text=True, timeout=600, cwd=ROOT, check=False,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stdout[-2000:] + trained.stderr[-2000:]
    metrics = [json.loads(line) for line in (bundle / "train" / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in metrics][-1] == 2
    assert (bundle / "train" / "DONE").exists()
