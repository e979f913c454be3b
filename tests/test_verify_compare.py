"""Comparing two runs' loss curves step by step (verify --against)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from primus.verify.compare import (
    CPU_THREADED_TOLERANCE,
    DEFAULT_RELATIVE_TOLERANCE,
    compare_losses,
    default_tolerance,
    losses_match,
)
from primus.verify.metrics import MetricsLog, StepMetrics
from primus.verify.settings import RunSettings


def log_of(losses: dict[int, float]) -> MetricsLog:
    return MetricsLog(
        path=Path("m"), steps=tuple(StepMetrics(step=s, loss=v) for s, v in sorted(losses.items()))
    )


V1 = {"torch": "2.13.0", "torchtitan": "0.2.2", "python": "3.11.7"}


def run_settings(
    device: str | None, deterministic: bool, threads: int | None = 1, versions: dict | None = None
) -> RunSettings:
    return RunSettings(
        steps=10,
        log_freq=1,
        checkpoint_enable=False,
        checkpoint_folder="checkpoint",
        deterministic=deterministic,
        device=device,
        threads=threads,
        versions=versions or V1,
    )


BASE = {1: 8.0, 2: 7.5, 3: 7.25, 4: 7.0}


def test_identical_curves_pass_under_exact_equality():
    check = compare_losses(log_of(BASE), log_of(dict(BASE)), tolerance=0.0, other_name="runs/a/1")
    assert check.status == "pass"
    assert check.message == "all 4 logged losses match runs/a/1 (exact equality; identical)"
    assert check.details == {
        "against": "runs/a/1",
        "tolerance": 0.0,
        "largest_relative_difference": 0.0,
    }


def test_exact_equality_names_the_first_step_that_differs_in_the_last_bit():
    other = {**BASE, 3: math.nextafter(7.25, 8.0), 4: 6.0}
    check = compare_losses(log_of(BASE), log_of(other), tolerance=0.0, other_name="runs/a/1")
    assert check.status == "fail"
    assert check.message == (
        "losses differ first at step 3: 7.25 here, 7.250000000000001 in runs/a/1"
        " (relative difference 1.23e-16; compared with exact equality)"
    )
    assert check.details["first_different_step"] == 3


def test_relative_tolerance_accepts_small_differences_and_reports_the_largest():
    other = {1: 8.0, 2: 7.5 * 1.001, 3: 7.25, 4: 7.0 * 0.995}
    check = compare_losses(log_of(BASE), log_of(other), tolerance=1e-2, other_name="b")
    assert check.status == "pass"
    assert check.message == (
        "all 4 logged losses match b (relative tolerance 0.01; largest relative difference 0.005 at step 4)"
    )


def test_relative_tolerance_rejects_a_larger_difference():
    check = compare_losses(log_of(BASE), log_of({**BASE, 2: 7.7}), tolerance=1e-2, other_name="b")
    assert check.status == "fail"
    assert check.message == (
        "losses differ first at step 2: 7.5 here, 7.7 in b (relative difference 0.026; compared with relative"
        " tolerance 0.01)"
    )


@pytest.mark.parametrize(
    ("mine", "theirs", "message"),
    [
        (
            BASE,
            {1: 8.0, 2: 7.5},
            "runs differ first at step 3: it is logged here but not in b (compared with exact equality)",
        ),
        (
            {1: 8.0, 2: 7.5},
            BASE,
            "runs differ first at step 3: it is logged in b but not here (compared with exact equality)",
        ),
    ],
    ids=["other-stopped-early", "this-stopped-early"],
)
def test_a_step_logged_by_only_one_run_is_a_difference(mine, theirs, message):
    check = compare_losses(log_of(mine), log_of(theirs), tolerance=0.0, other_name="b")
    assert (check.status, check.message, check.details["first_different_step"]) == ("fail", message, 3)


@pytest.mark.parametrize(
    ("a", "b", "tolerance", "match"),
    [
        (math.nan, math.nan, 0.0, True),  # the same divergence reproduced
        (math.nan, 7.0, 0.5, False),
        (math.inf, math.inf, 0.0, True),
        (math.inf, -math.inf, 0.5, False),
        (7.0, 7.0, 0.0, True),
        (7.0, 7.07, 1e-2, True),
        (7.0, 7.08, 1e-2, False),
        (0.0, 1e-30, 1e-2, False),  # relative: no absolute floor that would hide a tiny-loss difference
    ],
    ids=[
        "nan-nan",
        "nan-number",
        "inf-inf",
        "inf-minus-inf",
        "equal",
        "within-1pct",
        "beyond-1pct",
        "near-zero",
    ],
)
def test_losses_match(a, b, tolerance, match):
    assert losses_match(a, b, tolerance) is match


@pytest.mark.parametrize(
    ("mine", "other", "expected"),
    [
        (("cpu", True), ("cpu", True), 0.0),
        (("cpu", True), ("cpu", False), DEFAULT_RELATIVE_TOLERANCE),
        (("cpu", True), ("cuda", True), DEFAULT_RELATIVE_TOLERANCE),
        ((None, True), ("cpu", True), DEFAULT_RELATIVE_TOLERANCE),  # device not recorded: cannot assume CPU
        (("cpu", True, 2), ("cpu", True, 2), CPU_THREADED_TOLERANCE),  # OpenMP splits reductions per run
        (("cpu", True, None), ("cpu", True), CPU_THREADED_TOLERANCE),  # threads not recorded: not exact
        (("cpu", True, 1, {**V1, "torch": "2.14.0"}), ("cpu", True), DEFAULT_RELATIVE_TOLERANCE),
    ],
    ids=[
        "both-cpu-deterministic",
        "one-nondeterministic",
        "one-gpu",
        "device-unknown",
        "two-threads",
        "threads-unknown",
        "other-torch",
    ],
)
def test_default_tolerance_is_exact_only_for_two_deterministic_single_thread_cpu_runs(mine, other, expected):
    assert default_tolerance(run_settings(*mine), run_settings(*other)) == expected
