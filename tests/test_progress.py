"""The progress view (step/total, loss, tokens/s, ETA); the filter that keeps TorchTitan's log to the run."""

from __future__ import annotations

import io
import logging

import pytest

from primus.backends.torchtitan.quiet import (
    RunNoiseFilter,
    extension_module_copied,
    launcher_markers,
    needs_no_assets,
)
from primus.progress import EtaClock, ProgressView, wants_color


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def row(step: int, loss=5.0, tps=1000.0) -> dict:
    return {"step": step, "loss": loss, "tokens_per_second": tps, "step_time_s": 1.0}


def test_the_eta_ignores_start_up_and_the_first_step():
    clock = FakeClock()
    eta = EtaClock(100, clock)
    clock.now = 120.0  # start-up and a slow warm-up step 1 took two minutes
    eta.observe(1)
    assert eta.seconds_left() is None  # one observation: no rate yet
    clock.now = 129.0  # then 9 steps in 9 s
    eta.observe(10)
    assert eta.seconds_left() == pytest.approx(90.0)


def test_a_pipe_gets_one_plain_line_per_logged_step():
    clock, stream = FakeClock(), io.StringIO()
    view = ProgressView(20, stream=stream, interactive=False, clock=clock)
    view.update(row(1, loss=8.25, tps=12345.6))
    clock.now = 10.0
    view.update(row(11, loss="nan"))
    view.close()
    assert stream.getvalue().splitlines() == [
        "step 1/20 | loss 8.2500 | 12,346 tok/s | ETA ?",
        "step 11/20 | loss nan | 1,000 tok/s | ETA 0:00:09",
    ]


def test_a_terminal_gets_a_tqdm_bar_redrawn_in_place_without_colour():
    clock, stream = FakeClock(), io.StringIO()
    view = ProgressView(50, stream=stream, interactive=True, clock=clock)
    view.update(row(1))
    clock.now = 4.0
    view.update(row(5, loss=4.5, tps=2000.0))
    view.close()
    text = stream.getvalue()
    assert "\r" in text and "\x1b[3" not in text  # redraws; no colour codes
    last = text.rstrip("\n").split("\r")[-1]
    assert last.startswith("step 5/50 |")
    assert last.endswith("loss 4.5000 | 2,000 tok/s | ETA 0:00:45]")


def test_a_message_during_the_bar_is_printed_on_its_own_line():
    stream = io.StringIO()
    view = ProgressView(10, stream=stream, interactive=True, clock=FakeClock())
    view.update(row(1))
    view.message("WARNING something\n", stream)
    view.close()
    lines = stream.getvalue().split("\n")
    assert "WARNING something" in [line.split("\r")[-1] for line in lines]


@pytest.mark.parametrize(
    "env, tty, expected",
    [({}, True, True), ({"NO_COLOR": "1"}, True, False), ({"TERM": "dumb"}, True, False), ({}, False, False)],
    ids=["terminal", "NO_COLOR", "dumb-terminal", "pipe"],
)
def test_colour_only_on_a_terminal_without_no_color(env, tty, expected):
    stream = io.StringIO()
    stream.isatty = lambda: tty  # type: ignore[method-assign]
    assert wants_color(stream, env) is expected


def record(message: str) -> logging.LogRecord:
    return logging.LogRecord("root", logging.WARNING, __file__, 1, message, None, None)


def test_the_filter_drops_cpu_and_asset_noise_and_strips_mfu_on_a_cpu():
    noise = RunNoiseFilter(assets_unused=True, cpu=True)
    for message in (
        "HF assets path ./assets/debugmodel does not exist!",
        "Peak flops undefined for: cpu, fallback to A100",
        "Error running lspci: [Errno 2] No such file or directory: 'lspci', fallback to use device_name",
        "Peak FLOPS used for computing MFU: 3.120e+14",
        "model.safetensors.index.json not found at hf_assets_path: ./assets/x/model.safetensors.index.json.",
    ):
        assert not noise.filter(record(message)), message
    step = record("step:  1  loss:  8.11441  memory:  0.65GiB(2.78%)  tps: 162  tflops: 0.01  mfu: 0.00%")
    assert noise.filter(step)
    assert step.getMessage() == "step:  1  loss:  8.11441  memory:  0.65GiB(2.78%)  tps: 162  tflops: 0.01"
    assert noise.filter(record("Training starts at step 1"))


def test_the_filter_keeps_everything_on_a_gpu_with_real_assets():
    noise = RunNoiseFilter(assets_unused=False, cpu=False)
    step = record("step:  1  loss:  8.11441  tps: 162  tflops: 0.01  mfu: 41.00%")
    assert noise.filter(step) and step.getMessage().endswith("mfu: 41.00%")
    assert noise.filter(record("HF assets path ./assets/debugmodel does not exist!"))


@pytest.mark.parametrize(
    "job, expected",
    [
        ({"training": {"mock_data": True}}, True),
        ({"training": {"mock_data": False}}, False),
        ({"training": {"mock_data": True}, "checkpoint": {"last_save_in_hf": True}}, False),
        ({"training": {"mock_data": True}, "checkpoint": {"initial_load_in_hf": True}}, False),
    ],
    ids=["mock-data", "real-data", "saves-hf", "loads-hf"],
)
def test_assets_are_unused_only_with_mock_data_and_no_hf_checkpoints(job, expected):
    assert needs_no_assets(job) is expected


MOVED = (
    "This field is being moved to --job.custom_config_module and will be deprecated soon. Setting "
    "job.custom_config_module to experimental.custom_args_module temporarily."
)


def test_the_moved_field_warning_is_dropped_only_when_both_fields_name_the_same_module():
    same = {"job": {"custom_config_module": "ext"}, "experimental": {"custom_args_module": "ext"}}
    assert extension_module_copied(same)
    assert not extension_module_copied({"experimental": {"custom_args_module": "ext"}})
    assert not RunNoiseFilter(assets_unused=False, cpu=False, module_copied=True).filter(record(MOVED))
    assert RunNoiseFilter(assets_unused=False, cpu=False, module_copied=False).filter(record(MOVED))


def test_torchruns_nccl_default_is_quiet_only_when_the_caller_left_it_unset():
    message = "ENV[TORCH_NCCL_ASYNC_ERROR_HANDLING] = 1 will be overridden to 3 based on job config"
    assert launcher_markers({}) == {"PRIMUS_NCCL_ASYNC_UNSET": "1"}
    assert launcher_markers({"TORCH_NCCL_ASYNC_ERROR_HANDLING": "1"}) == {}
    assert not RunNoiseFilter(assets_unused=False, cpu=False, nccl_defaulted=True).filter(record(message))
    assert RunNoiseFilter(assets_unused=False, cpu=False, nccl_defaulted=False).filter(record(message))
