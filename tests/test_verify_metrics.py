"""Reading train/metrics.jsonl for the verify stage."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from primus.errors import BundleError
from primus.verify.metrics import read_metrics


def record(step: int, loss: object = 7.5, **extra: object) -> str:
    return json.dumps({"step": step, "loss": loss, "tokens_per_second": 1200.0, **extra})


def test_reads_records_sorted_by_step_with_all_fields(tmp_path):
    path = tmp_path / "metrics.jsonl"
    full = {"step_time_s": 0.25, "memory_gib": 0.8, "lr": 1e-4, "grad_norm": None}
    path.write_text(record(2, 7.0, **full) + "\n\n" + record(1, 8.0) + "\n")
    log = read_metrics(path)
    assert [r.step for r in log.steps] == [1, 2]
    second = log.steps[1]
    assert (second.loss, second.step_time_s, second.memory_gib, second.lr, second.grad_norm) == (
        7.0,
        0.25,
        0.8,
        1e-4,
        None,
    )
    assert log.truncated_line == 0


@pytest.mark.parametrize(
    ("written", "check"),
    [("nan", math.isnan), ("inf", lambda v: v == math.inf), ("-inf", lambda v: v == -math.inf)],
    ids=["nan", "inf", "minus-inf"],
)
def test_non_finite_losses_written_as_strings_become_floats(tmp_path, written, check):
    path = tmp_path / "metrics.jsonl"
    path.write_text(record(1, written) + "\n")
    assert check(read_metrics(path).steps[0].loss)


def test_a_step_logged_again_after_resume_keeps_the_later_record(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text("\n".join([record(1, 8.0), record(2, 7.9), record(2, 7.8), record(3, 7.7)]) + "\n")
    assert [(r.step, r.loss) for r in read_metrics(path).steps] == [(1, 8.0), (2, 7.8), (3, 7.7)]


def test_an_unterminated_garbled_last_line_is_ignored_and_reported(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text(record(1) + "\n" + record(2) + "\n" + '{"step": 3, "lo')  # writer killed mid-line
    log = read_metrics(path)
    assert [r.step for r in log.steps] == [1, 2]
    assert log.truncated_line == 3


def test_missing_file_is_a_bundle_error_with_a_hint(tmp_path):
    with pytest.raises(BundleError) as caught:
        read_metrics(tmp_path / "metrics.jsonl", display="run/train/metrics.jsonl")
    error = caught.value
    assert error.file == "run/train/metrics.jsonl"
    assert error.message == "no metrics file: training has not run in this bundle, or wrote nothing"
    assert error.hint == "run the train stage first (`primus-cli train --bundle run`), then verify"
    assert error.exit_code == 2


@pytest.mark.parametrize(
    ("line", "key", "message"),
    [
        ('{"step": 2, "loss": ', None, "not valid JSON: Expecting value (column 21)"),
        ("[1, 2]", None, "expected a JSON object, found list"),
        ('{"loss": 7.0}', "step", "field 'step' must be a positive integer"),
        ('{"step": 0, "loss": 7.0}', "step", "field 'step' must be a positive integer"),  # steps count from 1
        ('{"step": "2", "loss": 7.0}', "step", "field 'step' must be a positive integer"),
        ('{"step": 2}', "loss", "step 2 has no 'loss'"),
        (
            '{"step": 2, "loss": "high"}',
            "loss",
            'field \'loss\' must be a number or one of "nan", "inf", "-inf"',
        ),
        (
            '{"step": 2, "loss": 7.0, "tokens_per_second": true}',
            "tokens_per_second",
            'field \'tokens_per_second\' must be a number or one of "nan", "inf", "-inf"',
        ),
    ],
    ids=[
        "bad-json-mid-file",
        "not-an-object",
        "no-step",
        "step-zero",
        "step-string",
        "no-loss",
        "loss-word",
        "bool-rate",
    ],
)
def test_bad_record_names_file_and_line(tmp_path, line, key, message):
    path = tmp_path / "metrics.jsonl"
    path.write_text(record(1) + "\n" + line + "\n" + record(3) + "\n")
    with pytest.raises(BundleError) as caught:
        read_metrics(path)
    assert (caught.value.file, caught.value.line, caught.value.key, caught.value.message) == (
        str(path),
        2,
        key,
        message,
    )


def test_reads_the_metrics_of_a_real_torchtitan_run():
    # Written by the train stage for 20 steps of llama3 debugmodel on CPU (seed 42, deterministic).
    path = Path(__file__).parent / "assets" / "verify" / "llama3_debugmodel_20_steps.metrics.jsonl"
    log = read_metrics(path)
    assert [r.step for r in log.steps] == list(range(1, 21))
    assert log.steps[0].loss == pytest.approx(8.1144, abs=1e-4)
    assert log.steps[-1].loss == pytest.approx(5.3682, abs=1e-4)
    assert all(r.tokens_per_second > 0 and r.step_time_s > 0 and r.memory_gib > 0 for r in log.steps)
