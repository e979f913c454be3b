"""Real configs through the real loader: layered files report unknown keys at the right file and line,
the shipped CPU examples validate, validation never imports torch, and 25+ files validate in about a second.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from primus.config import load_experiment
from primus.errors import ConfigErrors, ConfigKeyError
from primus.validate import validate

REPO = Path(__file__).resolve().parents[1]
CPU_EXAMPLES = sorted((REPO / "examples" / "torchtitan" / "configs" / "CPU").glob("*.yaml"))


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


@pytest.fixture
def layered(tmp_path: Path) -> Path:
    """A configs root and an experiment; each layer can get one typo through ``typo_in``."""
    _write(
        tmp_path / "configs/modules/torchtitan/pre_trainer.yaml",
        """
        training:
          mock_data: true
          steps: 10
          seq_len: 256
          local_batch_size: 2
        lr_scheduler:
          warmup_steps: 2
        """,
    )
    _write(
        tmp_path / "configs/models/torchtitan/tiny.yaml",
        """
        model:
          name: llama3
          flavor: debugmodel
        """,
    )
    _write(
        tmp_path / "exp.yaml",
        """
        work_group: t
        user_name: t
        exp_name: layered
        workspace: ./output
        modules:
          pre_trainer:
            framework: torchtitan
            config: pre_trainer.yaml
            model: tiny.yaml
            overrides:
              metrics:
                log_freq: 1
        """,
    )
    return tmp_path


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


LAYER_TYPOS = {
    # layer: (file to edit, text appended, CLI overrides, key, file name, line, message)
    "module-preset": (
        "configs/modules/torchtitan/pre_trainer.yaml",
        "checkpoint:\n  intervall: 5\n",
        [],
        "checkpoint.intervall",
        "pre_trainer.yaml",
        9,
        "Key 'intervall' not in 'checkpoint'. Did you mean: 'interval'?",
    ),
    "model-preset": (
        "configs/models/torchtitan/tiny.yaml",
        "  n_layerz: 4\n",
        [],
        "model.n_layerz",
        "tiny.yaml",
        4,
        "Key 'n_layerz' not in 'model' (neither a TorchTitan model setting nor an argument of llama3's "
        "model). Did you mean: 'n_layers'?",
    ),
    "overrides": (
        "exp.yaml",
        "      trainig:\n        steps: 3\n",
        [],
        "trainig",
        "exp.yaml",
        14,
        "Key 'trainig' not in the module config. Did you mean: 'training'?",
    ),
    "command-line": (
        None,
        "",
        ["--training.stpes", "3"],
        "training.stpes",
        "<command line>",
        None,
        "Key 'stpes' not in 'training'. Did you mean: 'steps'?",
    ),
}


@pytest.mark.parametrize(
    ("edit", "text", "cli", "key", "file", "line", "message"), LAYER_TYPOS.values(), ids=LAYER_TYPOS.keys()
)
def test_unknown_key_is_reported_at_the_layer_that_wrote_it(
    layered: Path, edit, text, cli, key, file, line, message
) -> None:
    if edit:
        _append(layered / edit, text)
    resolved = load_experiment(layered / "exp.yaml", cli, env={}, configs_root=layered / "configs")
    with pytest.raises(ConfigErrors) as caught:
        validate(resolved, env={})
    (error,) = caught.value.errors
    assert isinstance(error, ConfigKeyError)
    assert (error.key, Path(error.file).name, error.line, error.message) == (key, file, line, message)


def test_command_line_values_arrive_as_text_and_are_coerced(layered: Path) -> None:
    cli = ["--optimizer.lr", "1e-5", "--training.steps=20", "--checkpoint.enable", "true"]
    resolved = load_experiment(layered / "exp.yaml", cli, env={}, configs_root=layered / "configs")
    config = validate(resolved, env={})
    assert (config["optimizer"]["lr"], config["training"]["steps"], config["checkpoint"]["enable"]) == (
        1e-5,
        20,
        True,
    )


@pytest.mark.parametrize("example", CPU_EXAMPLES, ids=lambda p: p.name)
def test_shipped_cpu_example_validates(example: Path) -> None:
    config = validate(load_experiment(example, env={}), env={})
    assert config["training"]["mock_data"] is True
    assert config["model"]["flavor"] == "debugmodel"


def test_cpu_example_with_too_much_tensor_parallelism_fails_on_heads() -> None:
    example = REPO / "examples/torchtitan/configs/CPU/llama3_debugmodel-pretrain.yaml"
    resolved = load_experiment(example, ["--parallelism.tensor_parallel_degree", "32"], env={})
    with pytest.raises(ConfigErrors) as caught:
        validate(resolved, env={})
    (first,) = caught.value.errors
    assert first.message == "tensor_parallel_degree(32) must divide n_heads(16) of llama3 debugmodel"
    assert first.hint == "choose a tensor_parallel_degree among 1, 2, 4, 8, 16"
    assert caught.value.errors[0].file == "<command line>"


_NO_TORCH_SCRIPT = """
import sys
from pathlib import Path
import primus.validate
from primus.config import load_experiment
from primus.validate import validate, list_models, known_keys, field_doc
for path in sorted(Path("examples/torchtitan/configs").rglob("*.yaml")):
    try:
        validate(load_experiment(path, env={}), env={})
    except Exception:
        pass  # shipped examples may be invalid on purpose; what matters is what got imported
list_models(); known_keys(); field_doc("training.steps")
print(sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchtitan", "triton")))
"""


def test_validating_never_imports_torch() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _NO_TORCH_SCRIPT], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


_SPEED_SCRIPT = """
import sys
import time
from pathlib import Path
from primus.config import load_experiment
from primus.validate import validate
sys.path.insert(0, "tests")
from hand_built import resolved
paths = sorted(Path("examples/torchtitan/configs").rglob("*.yaml"))
for path in paths:
    try:
        validate(load_experiment(path, env={}), env={})
    except Exception:
        pass
config = resolved()
validate(config, env={})
start = time.perf_counter()
for _ in range(200):
    validate(config, env={})
print(len(paths), (time.perf_counter() - start) / 200)
"""


def test_25_files_validate_in_about_a_second_including_startup() -> None:
    # CPU time of the child (Python start-up, imports, loading and validating every example), not wall time:
    # the test suite shares two cores with other work, and waiting for a core is not our cost.
    before = os.times()
    result = subprocess.run(
        [sys.executable, "-c", _SPEED_SCRIPT], cwd=REPO, capture_output=True, text=True, check=True
    )
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    count, per_call = result.stdout.split()
    assert int(count) >= 25
    assert cpu < 1.0, f"{count} files took {cpu:.2f} s of CPU"
    assert float(per_call) < 0.005, f"one validation took {float(per_call) * 1000:.2f} ms"
