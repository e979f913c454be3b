"""Container engines: the Docker SDK (a Docker engine, or podman's Docker-compatible API) and podman/buildah.

Selection (``select_engine("auto")``): the Docker SDK when a Docker engine answers; else the podman and
buildah command-line tools; else a ContainerError naming what to install. ``PRIMUS_CONTAINER_ENGINE`` or
the ``engine`` argument forces one of ``docker``, ``podman``, ``podman-api`` (the SDK through a
``podman system service`` socket this module starts).

podman and buildah run with the project's own storage and runtime configuration unless the user set
``CONTAINERS_STORAGE_CONF`` / ``CONTAINERS_CONF``: overlay storage under ``.cache/containers/storage``
(far faster than vfs) and runc with explicit ulimits (crun fails on cgroups-v1 hybrid hosts).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from primus.errors import ContainerError

#: Environment variable that forces an engine.
ENGINE_ENV = "PRIMUS_CONTAINER_ENGINE"
ENGINES = ("auto", "docker", "podman", "podman-api")
_NO_ENGINE_HINT = (
    "install podman and buildah (apt-get install -y podman buildah runc fuse-overlayfs), or a Docker engine "
    "and the Docker SDK for Python (pip install docker)"
)


@dataclass(frozen=True)
class Mount:
    """A bind mount: host ``source`` at ``target`` inside the container, read-only unless ``writable``."""

    source: Path
    target: str
    writable: bool = True

    def spec(self) -> str:
        """The ``-v`` value: ``SRC:DST[:ro]``."""
        return f"{self.source}:{self.target}" + ("" if self.writable else ":ro")


@dataclass(frozen=True)
class RunSpec:
    """Everything a container run needs, engine-independent.

    ``gpu``: add the ROCm device flags (/dev/kfd, /dev/dri, video group, host IPC, no seccomp).
    ``shm_size``: size of /dev/shm (engine syntax, e.g. ``16g``); PyTorch workers and RCCL use it.
    ``network``: ``none`` keeps a single-node run off the network; ``host`` for multi-node RCCL.
    ``user``: ``UID:GID`` the process runs as; the caller's own ids so files in the run folder stay theirs.
    """

    image: str
    argv: Sequence[str]
    mounts: Sequence[Mount] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    gpu: bool = False
    shm_size: str = "2g"
    network: str = "none"
    user: str | None = None
    workdir: str | None = None


#: ROCm device access for a container (the flags AMD documents for ROCm containers).
ROCM_DEVICE_FLAGS = (
    "--device", "/dev/kfd", "--device", "/dev/dri", "--group-add", "video",
    "--ipc", "host", "--security-opt", "seccomp=unconfined",
)  # fmt: skip


def run_cli_args(spec: RunSpec) -> list[str]:
    """The ``run`` options and arguments shared by the podman and docker command lines."""
    argv = ["run", "--rm", "--network", spec.network, "--shm-size", spec.shm_size]
    if spec.gpu:
        argv += ROCM_DEVICE_FLAGS
    if spec.user:
        argv += ["--user", spec.user]
    if spec.workdir:
        argv += ["--workdir", spec.workdir]
    for mount in spec.mounts:
        argv += ["-v", mount.spec()]
    for name, value in sorted(spec.env.items()):
        argv += ["--env", f"{name}={value}"]
    return [*argv, spec.image, *spec.argv]


class Engine:
    """What build() and run() need from an engine."""

    name = "engine"

    def image_exists(self, ref: str) -> bool:
        raise NotImplementedError

    def import_tarball(self, tarball: Path, ref: str) -> None:
        raise NotImplementedError

    def build_command(self, context: Path, tag: str, args: Mapping[str, str], id_file: Path) -> list[str]:
        raise NotImplementedError

    def build(self, context: Path, tag: str, args: Mapping[str, str], id_file: Path, log_file: Path) -> str:
        """Build ``context`` and return the image ID (``sha256:...``)."""
        raise NotImplementedError

    def run_command(self, spec: RunSpec) -> list[str]:
        raise NotImplementedError

    def run(self, spec: RunSpec) -> int:
        """Run to completion, streaming output; returns the exit status of the command in the container."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what the engine started (the podman API service)."""


def podman_environment(cache_dir: Path) -> dict[str, str]:
    """os.environ plus CONTAINERS_STORAGE_CONF / CONTAINERS_CONF pointing at the project's configuration.

    Settings the user already exported win: a GPU host's admin may keep images in the system store.
    """
    env = dict(os.environ)
    cache_dir = cache_dir.resolve()  # podman rejects relative store paths
    if "CONTAINERS_STORAGE_CONF" not in env:
        storage = cache_dir / "storage"
        conf = cache_dir / "storage.conf"
        _write_if_changed(
            conf,
            '[storage]\ndriver = "overlay"\n'
            f'graphroot = "{storage / "graph"}"\nrunroot = "{storage / "run"}"\n',
        )
        env["CONTAINERS_STORAGE_CONF"] = str(conf)
    if "CONTAINERS_CONF" not in env:
        conf = cache_dir / "containers.conf"
        _write_if_changed(
            conf,
            '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n'
            '[engine]\nruntime = "runc"\n',
        )
        env["CONTAINERS_CONF"] = str(conf)
    return env


def _write_if_changed(path: Path, text: str) -> None:
    if path.exists() and path.read_text() == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    partial.replace(path)


def _stream(argv: list[str], *, env: Mapping[str, str] | None, log_file: Path | None, what: str) -> None:
    """Run ``argv``, copying its output to ``log_file``; raise ContainerError with the tail on failure."""
    lines: list[str] = []
    handle = log_file.open("w") if log_file else None
    try:
        with subprocess.Popen(
            argv, env=dict(env) if env else None, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        ) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line.rstrip("\n"))
                del lines[:-40]
                if handle:
                    handle.write(line)
                    handle.flush()
    except FileNotFoundError:
        raise ContainerError(f"{what}: {argv[0]} is not installed", hint=_NO_ENGINE_HINT) from None
    finally:
        if handle:
            handle.close()
    if proc.returncode != 0:
        where = f" (full log: {log_file})" if log_file else ""
        tail = "\n".join(lines[-20:])
        raise ContainerError(f"{what} failed with exit {proc.returncode}{where}:\n{tail}")


class PodmanEngine(Engine):
    """buildah for builds (chroot isolation, layer cache), podman for runs and the image store."""

    name = "podman"

    def __init__(self, cache_dir: Path) -> None:
        self.env = podman_environment(cache_dir)

    def _quiet(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, env=self.env, capture_output=True, text=True, check=False)

    def image_exists(self, ref: str) -> bool:
        return self._quiet(["podman", "image", "exists", ref]).returncode == 0

    def import_tarball(self, tarball: Path, ref: str) -> None:
        done = self._quiet(["podman", "import", str(tarball), ref])
        if done.returncode != 0:
            raise ContainerError(f"podman import {tarball} failed: {done.stderr.strip()}")

    def build_command(self, context: Path, tag: str, args: Mapping[str, str], id_file: Path) -> list[str]:
        # chroot isolation: no user namespaces or network setup needed (buildah refuses --network with it).
        # --layers: without it every rebuild starts from scratch. A local base is never pulled.
        pull = "--pull-never" if args.get("BASE_IMAGE", "").startswith("localhost/") else "--pull"
        dockerfile = str(context / "containers" / "Dockerfile")
        argv = ["buildah", "bud", "--isolation", "chroot", "--layers", pull,
                "-f", dockerfile, "-t", tag, "--iidfile", str(id_file)]  # fmt: skip
        for name, value in args.items():
            argv += ["--build-arg", f"{name}={value}"]
        return [*argv, str(context)]

    def build(self, context: Path, tag: str, args: Mapping[str, str], id_file: Path, log_file: Path) -> str:
        id_file.unlink(missing_ok=True)
        command = self.build_command(context, tag, args, id_file)
        try:
            _stream(command, env=self.env, log_file=log_file, what="buildah bud")
        except ContainerError as error:
            if "Trying to pull" in error.message:
                error.hint = (
                    f"the base image {args.get('BASE_IMAGE')} comes from its registry: build on a host that "
                    "reaches it, or `podman load` a saved copy of that exact digest first"
                )
            raise
        return id_file.read_text().strip()

    def run_command(self, spec: RunSpec) -> list[str]:
        return ["podman", *run_cli_args(spec)]

    def run(self, spec: RunSpec) -> int:
        return subprocess.run(self.run_command(spec), env=self.env, check=False).returncode


class DockerSDKEngine(Engine):
    """The Docker SDK for Python against a Docker engine or podman's Docker-compatible API socket."""

    name = "docker"

    def __init__(self, client: Any, *, service: subprocess.Popen[bytes] | None = None) -> None:
        self.client = client
        self._service = service
        components = client.version().get("Components") or [{}]
        #: True when the API is podman's (its build runs buildah and understands RUN --mount).
        self.is_podman = any("podman" in str(part.get("Name", "")).lower() for part in components)

    def image_exists(self, ref: str) -> bool:
        import docker.errors

        try:
            self.client.images.get(ref)
        except docker.errors.ImageNotFound:
            return False
        return True

    def import_tarball(self, tarball: Path, ref: str) -> None:
        repository, _, tag = ref.rpartition(":")
        self.client.api.import_image(src=str(tarball), repository=repository, tag=tag)

    def build_command(self, context: Path, tag: str, args: Mapping[str, str], id_file: Path) -> list[str]:
        """The docker CLI line equivalent to the SDK build (what --dry-run shows)."""
        argv = ["docker", "build", "-f", str(context / "containers" / "Dockerfile"), "-t", tag,
                "--iidfile", str(id_file)]  # fmt: skip
        for name, value in args.items():
            argv += ["--build-arg", f"{name}={value}"]
        return [*argv, str(context)]

    def build(self, context: Path, tag: str, args: Mapping[str, str], id_file: Path, log_file: Path) -> str:
        if not self.is_podman:
            # The SDK's build endpoint is Docker's classic builder, which rejects RUN --mount; BuildKit is
            # reached only through the docker CLI.
            command = self.build_command(context, tag, args, id_file)
            env = {**os.environ, "DOCKER_BUILDKIT": "1"}
            _stream(command, env=env, log_file=log_file, what="docker build")
            return id_file.read_text().strip()
        lines: list[str] = []
        with log_file.open("w") as log:
            stream = self.client.api.build(
                path=str(context),
                dockerfile="containers/Dockerfile",
                tag=tag,
                buildargs=dict(args),
                rm=True,
                decode=True,
                pull=False,
            )
            for chunk in stream:
                if "error" in chunk:
                    tail = "\n".join(lines[-20:])
                    raise ContainerError(
                        f"image build through the Docker API failed: {chunk['error']}\n{tail}"
                    )
                text = chunk.get("stream", "")
                if text:
                    log.write(text)
                    lines.extend(text.splitlines())
                    del lines[:-40]
        image_id = self.client.images.get(tag).id
        id_file.write_text(image_id + "\n")
        return image_id

    def run_command(self, spec: RunSpec) -> list[str]:
        return ["docker", *run_cli_args(spec)]

    def run(self, spec: RunSpec) -> int:
        options: dict[str, Any] = {
            "network_mode": spec.network,
            "shm_size": spec.shm_size,
            "volumes": {
                str(m.source): {"bind": m.target, "mode": "rw" if m.writable else "ro"} for m in spec.mounts
            },
            "environment": dict(spec.env),
        }
        if spec.gpu:
            options.update(
                devices=["/dev/kfd:/dev/kfd:rwm", "/dev/dri:/dev/dri:rwm"],
                group_add=["video"],
                ipc_mode="host",
                security_opt=["seccomp=unconfined"],
            )
        if spec.user:
            options["user"] = spec.user
        if spec.workdir:
            options["working_dir"] = spec.workdir
        container = self.client.containers.run(spec.image, list(spec.argv), detach=True, **options)
        try:
            for chunk in container.logs(stream=True, follow=True):
                print(chunk.decode(errors="replace"), end="", flush=True)
            return int(container.wait()["StatusCode"])
        finally:
            container.remove(force=True)

    def close(self) -> None:
        self.client.close()
        if self._service is not None:
            self._service.terminate()
            self._service.wait(timeout=10)


def _docker_sdk_client(base_url: str | None = None) -> Any:
    try:
        import docker
    except ImportError:
        raise ContainerError(
            "the Docker SDK for Python is not installed", hint="pip install docker (or choose engine=podman)"
        ) from None
    try:
        client = (
            docker.DockerClient(base_url=base_url, timeout=600) if base_url else docker.from_env(timeout=600)
        )
        client.ping()
    except docker.errors.DockerException as error:
        raise ContainerError(f"no Docker engine answers: {error}", hint=_NO_ENGINE_HINT) from None
    return client


def start_podman_api(cache_dir: Path) -> DockerSDKEngine:
    """Start ``podman system service`` on a socket under ``cache_dir`` and connect the Docker SDK to it."""
    if shutil.which("podman") is None:
        raise ContainerError("podman is not installed", hint=_NO_ENGINE_HINT)
    cache_dir = cache_dir.resolve()
    env = podman_environment(cache_dir)
    socket = cache_dir / f"podman-{os.getpid()}.sock"
    socket.unlink(missing_ok=True)
    log = cache_dir / "podman-service.log"
    with log.open("w") as handle:
        service = subprocess.Popen(
            ["podman", "system", "service", "--time=0", f"unix://{socket}"],
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 20
    while not socket.exists():
        if service.poll() is not None or time.monotonic() > deadline:
            service.kill()
            tail = " ".join(log.read_text().strip().splitlines()[-3:])
            raise ContainerError(f"podman system service did not open its API socket: {tail}", file=str(log))
        time.sleep(0.1)
    try:
        client = _docker_sdk_client(f"unix://{socket}")
    except ContainerError:
        service.kill()
        raise
    return DockerSDKEngine(client, service=service)


def _docker_answers() -> bool:
    if not (os.environ.get("DOCKER_HOST") or Path("/var/run/docker.sock").exists()):
        return False
    try:
        _docker_sdk_client().close()
    except ContainerError:
        return False
    return True


def select_engine(name: str | None, cache_dir: Path) -> Engine:
    """The engine called ``name`` (None: $PRIMUS_CONTAINER_ENGINE, else ``auto``); see the module doc."""
    choice = name or os.environ.get(ENGINE_ENV) or "auto"
    if choice not in ENGINES:
        raise ContainerError(
            f"unknown container engine {choice!r}",
            key="engine",
            value=choice,
            hint=f"choose one of: {', '.join(ENGINES)}",
        )
    if choice == "docker" or (choice == "auto" and _docker_answers()):
        return DockerSDKEngine(_docker_sdk_client())
    if choice == "podman-api":
        return start_podman_api(cache_dir)
    missing = [tool for tool in ("podman", "buildah") if shutil.which(tool) is None]
    if missing:
        raise ContainerError(
            f"no container engine found ({' and '.join(missing)} not installed)", hint=_NO_ENGINE_HINT
        )
    return PodmanEngine(cache_dir)
