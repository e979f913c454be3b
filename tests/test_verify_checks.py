"""The metric checks of the verify stage, on in-memory metrics logs (no files, no torch)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from primus.verify.checks import (
    format_ranges,
    loss_decreased,
    loss_finite,
    steps_completed,
    throughput_recorded,
)
from primus.verify.metrics import MetricsLog, StepMetrics
from primus.verify.settings import RunSettings


def settings(steps: int = 10, log_freq: int = 1) -> RunSettings:
    return RunSettings(
        steps=steps,
        log_freq=log_freq,
        checkpoint_enable=False,
        checkpoint_folder="checkpoint",
        deterministic=True,
    )


def log_of(losses: dict[int, float] | list[float], tokens_per_second: float | None = 1000.0) -> MetricsLog:
    pairs = losses.items() if isinstance(losses, dict) else enumerate(losses, start=1)
    records = [StepMetrics(step=s, loss=loss, tokens_per_second=tokens_per_second) for s, loss in pairs]
    return MetricsLog(path=Path("metrics.jsonl"), steps=tuple(records))


def falling(count: int, start: float = 8.0) -> list[float]:
    return [start - 0.1 * i for i in range(count)]


# --- steps_completed -------------------------------------------------------------------------------------


def test_steps_completed_passes_when_every_step_is_logged():
    check = steps_completed(settings(10), log_of(falling(10)))
    assert (check.status, check.message) == ("pass", "all 10 steps of 10 are present")
    assert check.details["missing_steps"] == ""


def test_steps_completed_names_missing_steps_of_an_interrupted_run():
    check = steps_completed(settings(10), log_of(falling(6)))
    assert check.status == "fail"
    assert check.message == "4 of 10 steps missing: 7-10 (last logged step 6, training.steps is 10)"
    assert check.details == {"steps_configured": 10, "last_step": 6, "missing_steps": "7-10"}


def test_steps_completed_names_a_gap_in_the_middle():
    check = steps_completed(settings(6), log_of({1: 8.0, 2: 7.9, 4: 7.7, 6: 7.5}))
    assert check.message == "2 of 6 steps missing: 3, 5 (last logged step 6, training.steps is 6)"


def test_steps_completed_expects_only_the_steps_torchtitan_logs_with_log_freq():
    # TorchTitan logs step 1 and every multiple of metrics.log_freq: 1, 5, 10 for 10 steps at log_freq 5
    check = steps_completed(settings(10, log_freq=5), log_of({1: 8.0, 5: 7.5, 10: 7.0}))
    assert (check.status, check.message) == (
        "pass",
        "all 3 logged steps (step 1 and multiples of 5) of 10 are present",
    )


def test_steps_completed_fails_with_no_record_at_all():
    check = steps_completed(settings(10), log_of([]))
    assert (check.status, check.message) == ("fail", "no step was logged; training.steps is 10")


# --- loss_finite -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad_value", "shown"),
    [(math.nan, "nan"), (math.inf, "inf"), (-math.inf, "-inf")],
    ids=["nan", "inf", "minus-inf"],
)
def test_loss_finite_names_the_first_bad_step_and_value(bad_value, shown):
    losses = falling(10)
    losses[6] = bad_value  # step 7
    losses[8] = math.nan  # step 9: a later one is counted, not named
    check = loss_finite(log_of(losses))
    assert check.status == "fail"
    assert (
        check.message
        == f"loss is {shown} at step 7 (first non-finite loss; 2 of 10 logged losses are non-finite)"
    )
    assert check.details == {"first_bad_step": 7, "first_bad_value": shown, "non_finite_count": 2}


def test_loss_finite_passes_for_finite_losses():
    check = loss_finite(log_of(falling(10)))
    assert (check.status, check.message) == ("pass", "all 10 logged losses are finite")


def test_loss_finite_fails_when_nothing_was_logged():
    assert (loss_finite(log_of([])).status, loss_finite(log_of([])).message) == ("fail", "no loss was logged")


# --- loss_decreased --------------------------------------------------------------------------------------


def test_loss_decreased_compares_first_and_last_tenth_means():
    check = loss_decreased(log_of(falling(20)))  # tenths are steps 1-2 and 19-20
    assert check.status == "pass"
    assert check.message == (
        "mean loss fell: 7.95 over the first tenth (steps 1-2) and 6.15 over the last tenth (steps 19-20)"
    )
    assert check.details["first_tenth_mean"] == pytest.approx(7.95)
    assert check.details["last_tenth_mean"] == pytest.approx(6.15)


def test_loss_decreased_fails_when_loss_rose_and_gives_both_means():
    check = loss_decreased(log_of(list(reversed(falling(30)))))
    assert check.status == "fail"
    assert check.message == (
        "mean loss did not fall: 5.2 over the first tenth (steps 1-3)"
        " and 7.9 over the last tenth (steps 28-30)"
    )


def test_loss_decreased_fails_on_a_flat_curve():
    assert loss_decreased(log_of([5.0] * 20)).status == "fail"


@pytest.mark.parametrize("count", [0, 1, 19], ids=["empty", "one-step", "19-steps"])
def test_loss_decreased_is_skipped_below_20_steps(count):
    check = loss_decreased(log_of(falling(count)))
    assert check.status == "skip"
    assert check.message == f"not judged: {count} logged steps, a trend needs 20 or more"


def test_loss_decreased_is_skipped_when_a_loss_is_not_finite():
    losses = falling(25)
    losses[3] = math.nan
    check = loss_decreased(log_of(losses))
    assert (check.status, check.message) == (
        "skip",
        "not judged: some losses are not finite (see loss_finite)",
    )


# --- throughput_recorded ---------------------------------------------------------------------------------


def test_throughput_recorded_passes_with_the_mean():
    check = throughput_recorded(log_of(falling(4), tokens_per_second=2500.0))
    assert (check.status, check.message) == (
        "pass",
        "tokens_per_second recorded at all 4 steps (mean 2500 tokens/s)",
    )


def test_throughput_recorded_fails_when_missing_and_names_the_steps():
    check = throughput_recorded(log_of(falling(5), tokens_per_second=None))
    assert (check.status, check.message) == ("fail", "tokens_per_second missing at 5 of 5 steps: 1-5")


@pytest.mark.parametrize("rate", [0.0, -3.0, math.nan], ids=["zero", "negative", "nan"])
def test_throughput_recorded_fails_when_not_positive(rate):
    check = throughput_recorded(log_of(falling(3), tokens_per_second=rate))
    assert check.status == "fail"
    assert check.message == f"tokens_per_second is {rate} at step 1; it must be positive"


# --- format_ranges ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "text"),
    [
        ([], ""),
        ([4], "4"),
        ([1, 2, 3, 7, 9, 10], "1-3, 7, 9-10"),
        (list(range(1, 40, 2)), "1, 3, 5, 7, 9, 11, 13, 15, 17, 19 and 10 more ranges"),
    ],
    ids=["none", "single", "mixed", "many"],
)
def test_format_ranges(steps, text):
    assert format_ranges(steps) == text
