"""Reading the run settings verification needs from a bundle's resolved.yaml (and lock.json)."""

from __future__ import annotations

import json

import pytest

from primus.errors import BundleError
from primus.verify.settings import RunSettings, read_settings


def write_resolved(bundle, text: str):
    bundle.mkdir(parents=True, exist_ok=True)
    (bundle / "resolved.yaml").write_text(text)
    return bundle


def test_reads_the_settings_from_the_config_mapping(tmp_path):
    bundle = write_resolved(
        tmp_path / "run",
        "envelope: {exp_name: demo}\n"
        "config:\n"
        "  training: {steps: 40}\n"
        "  metrics: {log_freq: 5}\n"
        "  checkpoint: {enable: true, folder: ckpt}\n"
        "  debug: {deterministic: true}\n",
    )
    assert read_settings(bundle) == RunSettings(
        steps=40,
        log_freq=5,
        checkpoint_enable=True,
        checkpoint_folder="ckpt",
        deterministic=True,
        device=None,
    )


def test_keys_the_experiment_left_out_take_torchtitan_defaults(tmp_path):
    bundle = write_resolved(tmp_path / "run", "config:\n  training: {steps: 12}\n")
    assert read_settings(bundle) == RunSettings(
        steps=12, log_freq=10, checkpoint_enable=False, checkpoint_folder="checkpoint", deterministic=False
    )


def test_device_comes_from_lock_json_runtime(tmp_path):
    bundle = write_resolved(tmp_path / "run", "config:\n  training: {steps: 12}\n")
    (bundle / "lock.json").write_text(json.dumps({"runtime": {"device": "cpu", "host": "x"}}))
    assert read_settings(bundle).device == "cpu"


def test_device_recorded_in_train_done_wins_over_lock_json(tmp_path):
    bundle = write_resolved(tmp_path / "run", "config:\n  training: {steps: 12}\n")
    (bundle / "lock.json").write_text(json.dumps({"runtime": {"device": "cuda"}}))
    (bundle / "train").mkdir()
    (bundle / "train" / "DONE").write_text(json.dumps({"step": 12, "steps": 12, "device": "cpu"}))
    assert read_settings(bundle).device == "cpu"


@pytest.mark.parametrize(
    "lock",
    ['{"runtime": {"image_id": null, "host": {}}}', "not json", '["runtime"]'],
    ids=["no-device-key", "garbled", "not-an-object"],
)
def test_device_is_unknown_when_nothing_records_it(tmp_path, lock):
    bundle = write_resolved(tmp_path / "run", "config:\n  training: {steps: 12}\n")
    (bundle / "lock.json").write_text(lock)
    assert read_settings(bundle).device is None


def test_expected_steps_are_step_one_and_multiples_of_log_freq():
    settings = RunSettings(
        steps=25, log_freq=10, checkpoint_enable=False, checkpoint_folder="c", deterministic=False
    )
    assert settings.expected_steps() == [1, 10, 20]


def test_missing_bundle_is_a_bundle_error(tmp_path):
    with pytest.raises(BundleError) as caught:
        read_settings(tmp_path / "nope")
    assert (caught.value.file, caught.value.message) == (str(tmp_path / "nope"), "no run bundle here")
    assert (
        caught.value.hint
        == "pass the bundle folder runs/<exp_name>/<hash> that `primus-cli resolve --freeze CONFIG` printed"
    )


@pytest.mark.parametrize(
    ("text", "key", "line", "message"),
    [
        (None, None, None, "no resolved.yaml: this folder is not a frozen run bundle"),
        ("config: [unclosed\n", None, 2, "cannot read YAML: expected ',' or ']', but got '<stream end>'"),
        ("envelope: {}\n", "config", None, "resolved.yaml has no 'config:' mapping"),
        (
            "config:\n  training: {steps: ten}\n",
            "config.training.steps",
            None,
            "expected int >= 1, found 'ten'",
        ),
        ("config:\n  training: {steps: 0}\n", "config.training.steps", None, "expected int >= 1, found 0"),
        (
            "config:\n  training: {steps: true}\n",
            "config.training.steps",
            None,
            "expected int >= 1, found True",
        ),
        (
            "config:\n  checkpoint: {enable: 'yes'}\n",
            "config.checkpoint.enable",
            None,
            "expected bool, found 'yes'",
        ),
    ],
    ids=["no-file", "bad-yaml", "no-config", "steps-word", "steps-zero", "steps-bool", "enable-string"],
)
def test_unusable_resolved_yaml_is_a_bundle_error(tmp_path, text, key, line, message):
    bundle = tmp_path / "run"
    bundle.mkdir()
    if text is not None:
        (bundle / "resolved.yaml").write_text(text)
    with pytest.raises(BundleError) as caught:
        read_settings(bundle)
    error = caught.value
    assert (error.file, error.key, error.line, error.message) == (
        str(bundle / "resolved.yaml"),
        key,
        line,
        message,
    )
