"""Every path a run writes stays inside <bundle>/train/: escaping output folders are refused at validate."""

from __future__ import annotations

import pytest
from hand_built import EXPERIMENT, resolved

from primus.errors import ConfigErrors
from primus.validate import check, validate
from primus.validate.confine import OUTPUT_PATH_KEYS, escape_reason


@pytest.mark.parametrize("key", OUTPUT_PATH_KEYS)
@pytest.mark.parametrize(
    "value",
    [
        "/data/shared",  # Invalid: absolute, shared by every run that names it
        "../../other_run/train/checkpoint",  # Invalid: climbs out of the bundle
        "ckpt/../../x",  # Invalid: a '..' step in the middle
        "~/ckpt",  # Invalid: home folder
    ],
)
def test_an_output_path_outside_the_bundle_is_refused_with_file_and_line(key: str, value: str) -> None:
    with pytest.raises(ConfigErrors) as caught:
        validate(resolved(("overrides", {key: value})))
    (error,) = [e for e in caught.value.errors if e.key == key]
    assert (error.file, error.line) == (EXPERIMENT, 20)
    assert "outside its bundle's train/ folder" in error.message
    assert error.exit_code == 2


@pytest.mark.parametrize("value", ["checkpoint", "ckpt/run1", "./tb", "a..b"])
def test_a_relative_output_folder_inside_the_bundle_is_accepted(value: str) -> None:
    config = validate(resolved(("overrides", {"checkpoint.folder": value})))
    assert config["checkpoint"]["folder"] == value
    assert escape_reason(value) is None


@pytest.mark.parametrize(("value", "warns"), [("/scratch/me", True), ("./outputs", False)])
def test_a_dump_folder_of_its_own_warns_that_it_has_no_effect(value: str, warns: bool) -> None:
    result = check(resolved(("overrides", {"job.dump_folder": value})))
    found = [w for w in result.warnings if w.key == "job.dump_folder"]
    if not warns:  # TorchTitan's default, which every Primus preset repeats
        assert not found
        return
    (warning,) = found
    assert (warning.file, warning.line, warning.severity) == (EXPERIMENT, 20, "warning")
    assert warning.message == f"{value!r} has no effect: every run writes into its bundle's train/ folder"
