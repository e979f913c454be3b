"""No accepted key silently does nothing: every key of the schema has a consumer or a declared no-effect
warning, and the module logging keys really set the levels of train.log and of stderr.
"""

from __future__ import annotations

import io
import sys

import pytest

from primus.backend import backend_for
from primus.backends.torchtitan import effects
from primus.backends.torchtitan.log_levels import SinkLevels, line_level, sink_levels

CPU_DEFAULT = "examples/torchtitan/configs/CPU/llama3_debugmodel-pretrain.yaml"


def test_every_schema_key_has_a_consumer_or_a_declared_no_effect_warning():
    schema = backend_for().schema()
    no_effect = {rule.key for rule in effects.NO_EFFECT}
    orphans = []
    for key, spec in {**schema["fields"], **schema["module"]}.items():
        if spec["origin"] == "torchtitan":
            continue  # a TorchTitan 0.2.2 JobConfig field: job_config.toml hands it to TorchTitan
        if key not in effects.CONSUMERS and key not in no_effect:
            orphans.append(key)
    assert orphans == [], "give each key a consumer (effects.CONSUMERS) or a NoEffect rule"
    # and no rule or consumer names a key the schema does not have
    known = {**schema["fields"], **schema["module"]}
    assert sorted((set(effects.CONSUMERS) | no_effect | set(effects.REPLACED)) - set(known)) == []


def test_torchtitan_fields_reach_torchtitan_through_job_config_toml():
    # the schema's TorchTitan fields are exactly the JobConfig sections the TOML writer emits
    from primus.backends.torchtitan.job_toml import TORCHTITAN_SECTIONS

    schema = backend_for().schema()
    sections = {key.split(".")[0] for key, spec in schema["fields"].items() if spec["origin"] == "torchtitan"}
    assert sections == set(TORCHTITAN_SECTIONS)


#: (overrides, warned key, start of the reason)
NO_EFFECT_CASES = {
    "grouped-mm-on-moe": (
        ["--model.name", "deepseek_v3", "--primus_turbo.use_turbo_grouped_mm", "true",
         "--primus_turbo.use_moe_fp8", "false"],
        "primus_turbo.use_turbo_grouped_mm",
        "has no effect here: needs Primus-Turbo grouped GEMM (ROCm only)",
    ),
    "float8-linear-with-the-float8-converter": (
        ["--model.converters", "quantize.linear.float8", "--primus_turbo.use_turbo_float8_linear", "true"],
        "primus_turbo.use_turbo_float8_linear",
        "has no effect here: needs Primus-Turbo's FP8 linear converter",
    ),
    "trainable": (["--trainable", "true"], "trainable", "has no effect here: a Primus module flag"),
}  # fmt: skip


@pytest.mark.parametrize(("overrides", "key", "reason"), NO_EFFECT_CASES.values(), ids=NO_EFFECT_CASES)
def test_a_key_without_effect_here_is_a_warning_naming_it(overrides, key, reason):
    from primus.config import load_experiment
    from primus.validate import check

    resolved = load_experiment(
        CPU_DEFAULT, ["--primus_turbo.enable_primus_turbo", "true", *overrides], env={}
    )
    warnings = check(resolved, env={}).warnings
    assert [w.key for w in warnings] == [key]
    assert warnings[0].message.startswith(reason)
    assert warnings[0].severity == "warning"


def test_the_same_keys_give_no_warning_where_primus_would_not_act_on_them_either():
    from primus.config import load_experiment
    from primus.validate import check

    # a dense model: Primus's grouped GEMM has no experts to act on
    resolved = load_experiment(CPU_DEFAULT, ["--primus_turbo.use_turbo_grouped_mm", "true"], env={})
    assert check(resolved, env={}).warnings == []


def test_sink_level_sets_both_sinks_and_the_others_each_one():
    assert sink_levels({"sink_level": "ERROR", "file_sink_level": "DEBUG"}) == SinkLevels("ERROR", "ERROR")
    assert sink_levels({"sink_level": None, "file_sink_level": "INFO", "stderr_sink_level": "WARNING"}) == (
        SinkLevels("INFO", "WARNING")
    )
    assert sink_levels({}) == SinkLevels("DEBUG", "INFO")


def test_levels_filter_torchtitan_lines_and_keep_lines_without_a_level():
    levels = SinkLevels(file="INFO", stderr="WARNING")
    debug = "[rank0]:[titan] 2026-12-01 21:00:00,123 - root - DEBUG - detail\n"
    info = "[rank0]:[titan] 2026-12-01 21:00:00,123 - root - INFO - step:  1  loss:  8.1\n"
    warning = "[rank0]:[titan] 2026-12-01 21:00:00,123 - root - WARNING - Warmup steps (10) exceed\n"
    traceback = "Traceback (most recent call last):\n"
    assert [line_level(line) for line in (debug, info, warning, traceback)] == [
        "DEBUG", "INFO", "WARNING", None,
    ]  # fmt: skip
    assert [levels.to_file(line) for line in (debug, info, warning, traceback)] == [False, True, True, True]
    assert [levels.to_stderr(line) for line in (debug, info, warning, traceback)] == [
        False,
        False,
        True,
        False,
    ]


def test_the_runner_writes_and_echoes_by_the_levels(tmp_path, monkeypatch):
    from primus.backends.torchtitan import runner

    script = (
        "print('[titan] x - root - DEBUG - hidden detail');"
        "print('[titan] x - root - INFO - step 1');"
        "print('[titan] x - root - WARNING - clamped');"
        "print('plain line')"
    )
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    log = tmp_path / "train.log"
    code, _ = runner._run_torchrun(
        [sys.executable, "-c", script], log, tmp_path / "metrics.jsonl", 1,
        levels=SinkLevels(file="INFO", stderr="WARNING"),
    )  # fmt: skip
    assert code == 0
    lines = log.read_text().splitlines()[1:-1]  # between the launcher's own first and last line
    assert lines == ["[titan] x - root - INFO - step 1", "[titan] x - root - WARNING - clamped", "plain line"]
    assert stderr.getvalue() == "[titan] x - root - WARNING - clamped\n"
