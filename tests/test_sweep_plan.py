"""Sweep files and ``primus-cli sweep plan``: expansion into points, shared bundles, status, and every kind
of bad input (exit 2, file:line naming the axis, no traceback, nothing written).

The sweep files are written next to a copy of the CPU default experiment (the base), so line numbers in
the expected messages are those of the texts below.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from primus.cli import main
from primus.sweep import DEFAULT_MAX_POINTS, plan_sweep, read_sweep, single_run
from primus.sweep.spec import format_value

REPO = Path(__file__).resolve().parents[1]
CPU_DEFAULT = REPO / "examples/torchtitan/configs/CPU/llama3_debugmodel-pretrain.yaml"


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder holding base.yaml (the CPU default); the runs folder is tmp/runs."""
    for name in ("WORLD_SIZE", "NNODES", "GPUS_PER_NODE", "PRIMUS_CONFIGS_ROOT"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "base.yaml").write_text(CPU_DEFAULT.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PRIMUS_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path


def write(folder: Path, text: str, name: str = "sweep.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------- expansion


def test_grid_is_the_product_zip_pairs_and_named_points_follow(folder):
    sweep = write(
        folder,
        """
        base: base.yaml
        overrides:
          training.steps: 4
        grid:
          optimizer.lr: [1.0e-4, 3.0e-4]
          debug.seed: [1, 2]
        zip:
          lr_scheduler.warmup_steps: [1, 2]
          training.max_norm: [0.5, 1.0]
        points:
          - name: long
            training.steps: 8
        """,
    )
    spec = read_sweep(sweep)
    names = [p.name for p in spec.points]
    assert len(names) == 2 * 2 * 2 + 1
    assert names[0] == "lr=0.0001,seed=1,warmup_steps=1,max_norm=0.5"
    assert names[1] == "lr=0.0001,seed=1,warmup_steps=2,max_norm=1"
    assert names[-1] == "long"
    assert spec.axes == (
        "optimizer.lr",
        "debug.seed",
        "lr_scheduler.warmup_steps",
        "training.max_norm",
        "training.steps",
    )
    first = {s.key: (s.value, s.line) for s in spec.points[0].settings}
    assert first == {
        "optimizer.lr": (1.0e-4, 5),
        "debug.seed": (1, 6),
        "lr_scheduler.warmup_steps": (1, 8),
        "training.max_norm": (0.5, 9),
    }


def test_a_sweep_without_axes_is_one_point_and_a_single_run_too(folder):
    assert [p.name for p in read_sweep(write(folder, "base: base.yaml\n")).points] == ["base"]
    assert [p.name for p in single_run(folder / "base.yaml").points] == ["base"]


def test_values_keep_their_yaml_type_through_the_overrides(folder):
    sweep = write(
        folder,
        """
        base: base.yaml
        grid:
          job.description: ["5", "x y"]
        """,
    )
    plan = plan_sweep(read_sweep(sweep), runs_dir=folder / "runs")
    assert [p.validated.config["job"]["description"] for p in plan.points] == ["5", "x y"]


def test_identical_points_share_one_bundle_and_the_table_says_so(folder, capsys):
    # training.steps 50 is the base's own value: the point resolves to the same config as the base.
    sweep = write(
        folder,
        """
        base: base.yaml
        points:
          - name: base
          - name: same-steps
            training.steps: 50
          - name: seed-7
            debug.seed: 7
        """,
    )
    assert main(["sweep", "plan", str(sweep)]) == 0
    out = capsys.readouterr().out
    assert "3 points, 2 bundles (1 point share another's)" in out
    plan = plan_sweep(read_sweep(sweep), runs_dir=Path("runs"))
    base, same, seed = plan.points
    assert same.bundle == base.bundle and same.same_as == "base"
    assert seed.bundle != base.bundle and seed.same_as is None
    assert f"{base.key} (same as base)" in out
    assert not (folder / "runs").exists()


def test_status_follows_the_files_each_stage_writes_last(folder, capsys):
    sweep = write(folder, "base: base.yaml\ngrid:\n  debug.seed: [1, 2, 3, 4]\n")
    plan = plan_sweep(read_sweep(sweep), runs_dir=folder / "runs")
    bundles = [p.bundle for p in plan.points]
    for bundle, files in zip(
        bundles[1:],
        (["manifest.json"], ["manifest.json", "train/DONE"], ["verify/verdict.json"]),
        strict=True,
    ):
        for name in files:
            (bundle / name).parent.mkdir(parents=True, exist_ok=True)
            (bundle / name).write_text("{}")
    assert main(["sweep", "plan", str(sweep), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["status"] for row in rows] == ["new", "frozen", "trained", "verified"]
    assert [row["point"] for row in rows] == ["seed=1", "seed=2", "seed=3", "seed=4"]
    assert rows[0]["overrides"] == {"debug.seed": 1}


def test_base_may_be_an_experiment_name(folder):
    sweep = write(folder, "base: llama3_debugmodel\n")
    assert read_sweep(sweep, platform="CPU", root=REPO).base.name == "llama3_debugmodel-pretrain.yaml"


def test_format_value_reads_like_yaml():
    assert [format_value(v) for v in (3.0e-4, 1e12, True, "abc", [1, 2], 5)] == [
        "0.0003",
        "1e+12",
        "true",
        "abc",
        "[1, 2]",
        "5",
    ]


# ---------------------------------------------------------------------------------------------- bad input

BAD = [
    pytest.param(
        """
        base: base.yaml
        grid:
          optimizer.lr: [1.0e-4]
          optimizer.lrr: [1.0e-4]
        """,
        [
            "sweep.yaml:4: optimizer.lrr: Key 'optimizer.lrr' not in the config (an axis of grid:). "
            "Did you mean: 'optimizer.lr'?"
        ],
        id="unknown-key-in-an-axis",
    ),
    pytest.param(
        """
        base: base.yaml
        grid:
          debug.seed: []
        """,
        ["sweep.yaml:3: debug.seed: empty axis: a sweep over no values has no points"],
        id="empty-axis",
    ),
    pytest.param(
        """
        base: base.yaml
        zip:
          optimizer.lr: [1.0e-4, 3.0e-4]
          debug.seed: [1, 2, 3]
        """,
        [
            "sweep.yaml:2: zip: lists must have equal length: optimizer.lr has 2 (line 3), debug.seed has 3 "
            "(line 4)"
        ],
        id="zip-lists-of-unequal-length",
    ),
    pytest.param(
        """
        base: base.yaml
        grid:
          optimizer.lr: [1.0e-4, 3.0e-4]
          training.steps: [4,
                           four]
        """,
        [
            "sweep.yaml:5: training.steps: points 'lr=0.0001,steps=four', 'lr=0.0003,steps=four': axis grid: "
            "expected int, got str 'four'"
        ],
        id="wrong-type-named-by-point-and-line",
    ),
    pytest.param(
        """
        base: base.yaml
        points:
          - name: fast
            optimizer.lr: 0.1
          - name: slow
            optimizer.lr: slow
        """,
        ["sweep.yaml:6: optimizer.lr: point 'slow': axis points[1]: expected float, got str 'slow'"],
        id="wrong-type-in-a-named-point",
    ),
    pytest.param(
        """
        base: base.yaml
        grid:
          optimizer.lr: [1.0e-4, 3.0e-4]
        zip:
          optimizer.lr: [1.0e-4, 3.0e-4]
          debug.seed: [1, 2]
        """,
        ["sweep.yaml:5: optimizer.lr: the same key is in two axes: grid: (line 3) and zip:"],
        id="same-key-in-two-axes",
    ),
    pytest.param(
        """
        base: broken.yaml
        grid:
          debug.seed: [1, 2]
        """,
        [
            "sweep.yaml:1: base: the base experiment broken.yaml is invalid (problems below)",
            "broken.yaml:43: training.stpes: Key 'stpes' not in 'training'. Did you mean: 'steps'?",
        ],
        id="invalid-base-experiment",
    ),
    pytest.param(
        """
        base: missing.yaml
        """,
        ["sweep.yaml:1: base: base experiment: experiment file missing.yaml does not exist"],
        id="missing-base-experiment",
    ),
    pytest.param(
        """
        base: base.yaml
        points:
          - name: a
            debug.seed: 1
          - name: a
            debug.seed: 2
        """,
        ["sweep.yaml:5: points.name: point name 'a' is used twice (first at line 3)"],
        id="point-name-used-twice",
    ),
    pytest.param(
        """
        base: base.yaml
        grid:
          debug.seed: [1, 2, 3]
        max_points: 2
        """,
        ["sweep.yaml:4: max_points: the sweep has 3 points, more than max_points (2)"],
        id="more-points-than-the-file-allows",
    ),
    pytest.param(
        """
        base: base.yaml
        grid:
          debug.seed: [1]
        metirc: lowest_loss
        """,
        ["sweep.yaml:4: metirc: Key 'metirc' not in the sweep file. Did you mean: 'metric'?"],
        id="unknown-top-level-key",
    ),
    pytest.param(
        """
        base: base.yaml
        metric: loss
        """,
        ["sweep.yaml:2: metric: unknown metric 'loss'"],
        id="unknown-metric",
    ),
    pytest.param(
        """
        base: base.yaml
        grid:
          optimizer.lr: 1.0e-4
        """,
        ["sweep.yaml:3: optimizer.lr: an axis is a list of values, got a number"],
        id="axis-that-is-not-a-list",
    ),
]


@pytest.mark.parametrize(("text", "messages"), BAD)
def test_bad_sweep_exits_2_naming_file_and_line_and_writes_nothing(folder, capsys, text, messages):
    broken = CPU_DEFAULT.read_text(encoding="utf-8").replace(" steps: 50", " stpes: 50")
    (folder / "broken.yaml").write_text(broken, encoding="utf-8")
    assert "stpes: 50" in broken.splitlines()[42]  # line 43, as the expected message says
    sweep = write(folder, text)
    assert main(["sweep", "plan", str(sweep)]) == 2
    captured = capsys.readouterr()
    for message in messages:
        assert message in captured.err, captured.err
    assert "Traceback" not in captured.err + captured.out
    assert sorted(p.name for p in folder.iterdir()) == ["base.yaml", "broken.yaml", "sweep.yaml"]


def test_every_problem_of_every_point_is_printed_at_once(folder, capsys):
    sweep = write(
        folder,
        """
        base: base.yaml
        points:
          - name: a
            training.steps: many
          - name: b
            optimizer.lr: fast
          - name: c
            debug.seed: 3
        """,
    )
    assert main(["sweep", "plan", str(sweep)]) == 2
    err = capsys.readouterr().err
    assert "sweep.yaml:4: training.steps: point 'a': axis points[0]: expected int" in err
    assert "sweep.yaml:6: optimizer.lr: point 'b': axis points[1]: expected float" in err
    assert "2 problem(s); nothing was written" in err


def test_the_limit_is_checked_before_expanding_and_defaults_to_10000(folder, capsys):
    # 101 x 100 = 10,100 points: refused from the axis lengths alone, without planning any point.
    values = ", ".join(str(i) for i in range(1, 101))
    sweep = write(
        folder, f"base: base.yaml\ngrid:\n  debug.seed: [0, {values}]\n  training.steps: [{values}]\n"
    )
    assert DEFAULT_MAX_POINTS == 10_000
    assert main(["sweep", "plan", str(sweep)]) == 2
    err = capsys.readouterr().err
    assert "the sweep has 10,100 points, more than max_points (10,000)" in err
    assert "raise the limit in the sweep file: max_points: 10100" in err


def test_warnings_of_the_points_are_printed_once_and_strict_makes_them_errors(folder, capsys):
    # A warmup longer than the run is a warning (TorchTitan clamps it) in both points.
    sweep = write(
        folder,
        """
        base: base.yaml
        overrides:
          lr_scheduler.warmup_steps: 10
        grid:
          training.steps: [3, 4]
        """,
    )
    assert main(["sweep", "plan", str(sweep)]) == 0
    err = capsys.readouterr().err
    # Located at the sweep's own overrides: line, once per distinct message (one per value of steps).
    for steps in (3, 4):
        assert (
            f"sweep.yaml:3: lr_scheduler.warmup_steps: warning: point 'steps={steps}': axis overrides: "
            f"warmup_steps(10) exceeds training.steps({steps})"
        ) in err
    assert "2 warnings (--strict makes them errors)" in err
    assert main(["sweep", "plan", "--strict", str(sweep)]) == 2
    assert "an error because of --strict" in capsys.readouterr().err


def test_a_point_planned_on_the_loaded_base_equals_a_full_load_with_every_override():
    from primus.config import load_experiment, with_overrides

    shared = ["--training.steps=4"]
    point = ["--optimizer.lr=0.002", "--debug.seed=3", "--optimizer={name: AdamW, eps: 1.0e-7}"]
    base = load_experiment(CPU_DEFAULT, shared)
    fast = with_overrides(base, point)
    full = load_experiment(CPU_DEFAULT, [*shared, *point])
    assert fast.config == full.config
    assert fast.provenance == full.provenance
    assert fast.cli_overrides == full.cli_overrides
    assert base.config["optimizer"]["lr"] != 0.002  # the base is left as it was


def test_the_shipped_example_sweep_plans_cleanly(monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("PRIMUS_RUNS_DIR", "/nonexistent-runs")  # nothing is written; every point is new
    assert main(["sweep", "plan", "examples/sweeps/llama3_debugmodel-lr.yaml"]) == 0
    out = capsys.readouterr().out
    assert "6 points, 6 bundles" in out
    assert "lr=0.0003,seed=1  optimizer.lr=0.0003 debug.seed=1" in out
