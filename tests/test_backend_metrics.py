"""metrics.jsonl rows, trimming on resume, and the terminal progress line (no torch)."""

from __future__ import annotations

import json

import pytest

from primus.backends.torchtitan.metrics_file import (
    FIELDS,
    append_row,
    keep_rows_up_to,
    read_rows,
    row_from_torchtitan,
)

TORCHTITAN_METRICS = {
    "loss_metrics/global_avg_loss": 7.5,
    "loss_metrics/global_max_loss": 7.9,
    "grad_norm": 1.25,
    "throughput(tps)": 1000.0,
    "time_metrics/end_to_end(s)": 0.5,
    "memory/max_reserved(GiB)": 0.75,
    "lr": 0.001,
    "mfu(%)": 3.0,
}


def test_a_torchtitan_metrics_dict_becomes_a_contract_row():
    assert row_from_torchtitan(TORCHTITAN_METRICS, 3) == {
        "step": 3,
        "loss": 7.5,
        "tokens_per_second": 1000.0,
        "step_time_s": 0.5,
        "memory_gib": 0.75,
        "lr": 0.001,
        "grad_norm": 1.25,
    }


@pytest.mark.parametrize(
    ("loss", "written"),
    [(float("nan"), "nan"), (float("inf"), "inf"), (float("-inf"), "-inf")],
    ids=["nan", "inf", "minus-inf"],
)
def test_non_finite_losses_are_written_as_strings(tmp_path, loss, written):
    path = tmp_path / "metrics.jsonl"
    append_row(path, row_from_torchtitan({**TORCHTITAN_METRICS, "loss_metrics/global_avg_loss": loss}, 1))
    line = path.read_text()
    assert json.loads(line)["loss"] == written
    assert list(json.loads(line)) == list(FIELDS)


def test_missing_optional_values_are_null():
    row = row_from_torchtitan({"loss_metrics/global_avg_loss": 2.0}, 1)
    assert (row["lr"], row["grad_norm"], row["tokens_per_second"]) == (None, None, "nan")


def test_resume_keeps_rows_up_to_the_checkpoint_step_and_drops_a_torn_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    for step in range(1, 7):
        append_row(path, row_from_torchtitan(TORCHTITAN_METRICS, step))
    with path.open("a") as handle:
        handle.write('{"step": 7, "loss": 7.')  # what a kill -9 in mid-write leaves
    assert keep_rows_up_to(path, 4) == 3
    assert [row["step"] for row in read_rows(path)] == [1, 2, 3, 4]
    assert keep_rows_up_to(path, 4) == 0
    assert not (tmp_path / "metrics.jsonl.tmp").exists()


def test_a_fresh_start_empties_the_file_and_a_missing_file_is_fine(tmp_path):
    path = tmp_path / "metrics.jsonl"
    assert keep_rows_up_to(path, 0) == 0
    append_row(path, row_from_torchtitan(TORCHTITAN_METRICS, 1))
    assert keep_rows_up_to(path, 0) == 1
    assert path.read_text() == ""
