"""What an image build reads: the reproducible project wheel, the wheelhouse digest, the staged context."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from primus.containers.context import RECIPE_FILES, directory_digest, project_wheel, stage_context
from primus.errors import ContainerError

ROOT = Path(__file__).resolve().parents[1]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_project_wheel_has_the_same_bytes_when_built_twice(tmp_path):
    # Same bytes -> the COPY layer's cache key is unchanged -> an unchanged checkout rebuilds nothing.
    first = project_wheel(ROOT, tmp_path / "a")
    second = project_wheel(ROOT, tmp_path / "b")
    assert first.name == second.name == "primus_pipeline-0.1.0-py3-none-any.whl"
    assert sha256(first) == sha256(second)


def test_directory_digest_follows_names_and_contents_but_not_the_digest_file(tmp_path):
    (tmp_path / "a.whl").write_bytes(b"one")
    before = directory_digest(tmp_path)
    (tmp_path / ".digest").write_text("ignored")
    assert directory_digest(tmp_path) == before
    (tmp_path / "a.whl").write_bytes(b"two")
    changed = directory_digest(tmp_path)
    (tmp_path / "a.whl").rename(tmp_path / "b.whl")
    assert len({before, changed, directory_digest(tmp_path)}) == 3


def test_staged_context_holds_the_recipe_the_wheels_and_the_project_wheel(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "torch-2.13.0-cp311-none-any.whl").write_bytes(b"w")
    (wheels / ".digest").write_text("d")
    wheel = tmp_path / "primus_pipeline-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"p")
    context = stage_context(ROOT, tmp_path / "ctx", wheels=wheels, project_wheel_file=wheel)
    found = sorted(str(path.relative_to(context)) for path in context.rglob("*") if path.is_file())
    assert found == sorted(
        [f"containers/{name}" for name in RECIPE_FILES]
        + ["dist/primus_pipeline-0.1.0-py3-none-any.whl", "wheelhouse/torch-2.13.0-cp311-none-any.whl"]
    )


def test_staging_without_the_recipe_says_what_is_missing(tmp_path):
    wheel = tmp_path / "p.whl"
    wheel.write_bytes(b"p")
    with pytest.raises(ContainerError) as caught:
        stage_context(tmp_path, tmp_path / "ctx", wheels=None, project_wheel_file=wheel)
    assert caught.value.message == f"{tmp_path}/containers/Dockerfile is missing"
    assert caught.value.hint == "restore containers/ from git"
