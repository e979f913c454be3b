"""The bundle hash: semantics only. Real YAML files go through the real loader and validator."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from primus.bundle import bundle_path, compute_hash
from primus.config import load_experiment
from primus.validate import validate

PACKAGES = {"torch": "2.13.0", "torchtitan": "0.2.2", "primus_turbo": None, "python": "3.11.7"}

EXPERIMENT = """\
work_group: amd
user_name: ${PRIMUS_USER:root}
exp_name: tiny
workspace: ./output

modules:
  pre_trainer:
    framework: torchtitan
    config: pre_trainer.yaml
    model: llama3_debugmodel.yaml
    overrides:
      training:
        steps: 20
        seq_len: 256
      debug:
        seed: 42
"""

MODULE_PRESET = """\
trainable: true
training:
  mock_data: true
  local_batch_size: 2
  steps: 10
optimizer:
  lr: 8.0e-4
lr_scheduler:
  warmup_steps: 2
"""

MODEL_PRESET = """\
model:
  name: llama3
  flavor: debugmodel
"""

# Edits that keep every value: each must leave the hash unchanged.
SAME_SEMANTICS = {
    "comment-lines": lambda text: (
        "# a note about this run\n" + text.replace("steps: 20", "steps: 20  # short")
    ),
    "key-reorder": lambda text: text.replace(
        "        steps: 20\n        seq_len: 256\n", "        seq_len: 256\n        steps: 20\n"
    ).replace(
        "work_group: amd\nuser_name: ${PRIMUS_USER:root}\n",
        "user_name: ${PRIMUS_USER:root}\nwork_group: amd\n",
    ),
    "whitespace-and-indent": lambda text: text.replace("exp_name: tiny", "exp_name:    tiny\n\n").replace(
        "      debug:\n        seed: 42\n", "      debug:\n          seed:   42\n"
    ),
    "quoting-style": lambda text: text.replace("exp_name: tiny", 'exp_name: "tiny"'),
}

# Edits that change a value the run depends on: each must change the hash.
DIFFERENT_SEMANTICS = {
    "steps-value": lambda text: text.replace("steps: 20", "steps: 21"),
    "seed-value": lambda text: text.replace("seed: 42", "seed: 43"),
    "added-key": lambda text: text.replace("seq_len: 256\n", "seq_len: 256\n        max_norm: 0.5\n"),
    "envelope-value": lambda text: text.replace("workspace: ./output", "workspace: ./elsewhere"),
}


def write_tree(root: Path, experiment: str = EXPERIMENT, module_preset: str = MODULE_PRESET) -> Path:
    (root / "configs/modules/torchtitan").mkdir(parents=True, exist_ok=True)
    (root / "configs/models/torchtitan").mkdir(parents=True, exist_ok=True)
    (root / "configs/modules/torchtitan/pre_trainer.yaml").write_text(module_preset)
    (root / "configs/models/torchtitan/llama3_debugmodel.yaml").write_text(MODEL_PRESET)
    (root / "exp.yaml").write_text(experiment)
    return root / "exp.yaml"


def hash_for(root: Path, *, env=None, image_id=None, packages=PACKAGES, **texts) -> str:
    path = write_tree(root, **texts)
    resolved = load_experiment(path, env=env or {}, configs_root=root / "configs")
    return compute_hash(resolved, validate(resolved, env={}), image_id=image_id, packages=packages)


@pytest.fixture
def baseline(tmp_path: Path) -> str:
    return hash_for(tmp_path / "baseline")


def test_hash_is_sixteen_hex_digits(baseline: str):
    assert re.fullmatch(r"[0-9a-f]{16}", baseline)


@pytest.mark.parametrize("edit", SAME_SEMANTICS.values(), ids=SAME_SEMANTICS.keys())
def test_edits_that_keep_every_value_keep_the_hash(tmp_path: Path, baseline: str, edit):
    assert edit(EXPERIMENT) != EXPERIMENT  # the edit really changes the file's bytes
    assert hash_for(tmp_path / "edited", experiment=edit(EXPERIMENT)) == baseline


def test_a_comment_in_a_preset_keeps_the_hash(tmp_path: Path, baseline: str):
    assert hash_for(tmp_path / "edited", module_preset="# tuned\n" + MODULE_PRESET) == baseline


@pytest.mark.parametrize("edit", DIFFERENT_SEMANTICS.values(), ids=DIFFERENT_SEMANTICS.keys())
def test_value_changes_change_the_hash(tmp_path: Path, baseline: str, edit):
    assert edit(EXPERIMENT) != EXPERIMENT
    assert hash_for(tmp_path / "edited", experiment=edit(EXPERIMENT)) != baseline


def test_a_value_changed_in_a_preset_changes_the_hash(tmp_path: Path, baseline: str):
    edited = MODULE_PRESET.replace("local_batch_size: 2", "local_batch_size: 4")
    assert hash_for(tmp_path / "edited", module_preset=edited) != baseline


def test_a_consumed_env_var_change_changes_the_hash(tmp_path: Path, baseline: str):
    assert hash_for(tmp_path / "set", env={"PRIMUS_USER": "alice"}) != baseline


def test_a_consumed_env_var_set_to_its_default_still_changes_the_hash(tmp_path: Path, baseline: str):
    # set vs. unset is recorded: the environment differs even though the value is the same
    assert hash_for(tmp_path / "set", env={"PRIMUS_USER": "root"}) != baseline


def test_an_env_var_no_file_consumes_keeps_the_hash(tmp_path: Path, baseline: str, monkeypatch):
    monkeypatch.setenv("SOME_UNRELATED_VAR", "1")
    assert hash_for(tmp_path / "extra", env={"SOME_UNRELATED_VAR": "1", "HOME": "/nowhere"}) == baseline


def test_a_secret_env_var_change_changes_the_hash(tmp_path: Path):
    secret_experiment = EXPERIMENT.replace("workspace: ./output", "workspace: ./output/${API_TOKEN:none}")
    first = hash_for(tmp_path / "a", experiment=secret_experiment, env={"API_TOKEN": "one"})
    second = hash_for(tmp_path / "b", experiment=secret_experiment, env={"API_TOKEN": "two"})
    assert first != second


@pytest.mark.parametrize(
    "packages",
    [
        pytest.param({**PACKAGES, "torch": "2.13.1"}, id="torch"),
        pytest.param({**PACKAGES, "torchtitan": "0.2.1"}, id="torchtitan"),
        pytest.param({**PACKAGES, "primus_turbo": "0.1.0"}, id="primus-turbo-installed"),
        pytest.param({**PACKAGES, "python": "3.11.8"}, id="python"),
    ],
)
def test_a_pinned_version_change_changes_the_hash(tmp_path: Path, baseline: str, packages):
    assert hash_for(tmp_path / "other", packages=packages) != baseline


def test_an_image_id_changes_the_hash(tmp_path: Path, baseline: str):
    with_image = hash_for(tmp_path / "image-a", image_id="sha256:aaaa")
    assert with_image != baseline
    assert hash_for(tmp_path / "image-b", image_id="sha256:bbbb") != with_image


def test_the_hash_does_not_depend_on_the_current_folder(tmp_path: Path, baseline: str, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert hash_for(tmp_path / "moved" / "deeper") == baseline


def test_compute_hash_writes_nothing_and_is_fast(tmp_path: Path):
    root = tmp_path / "plan"
    path = write_tree(root)
    resolved = load_experiment(path, env={}, configs_root=root / "configs")
    config = validate(resolved, env={})
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    start = time.perf_counter()
    for _ in range(20):
        planned = bundle_path(resolved, config, runs_dir=tmp_path / "runs")
    per_call = (time.perf_counter() - start) / 20
    assert planned == tmp_path / "runs" / "tiny" / compute_hash(resolved, config)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert per_call < 0.05  # seconds; measured about 1 ms: the Snakefile plans with it on every run
