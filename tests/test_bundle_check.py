"""check_bundle(): every tampered, missing or extra frozen file is reported by name; outputs are ignored."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from primus.bundle import BundleProblem, check_bundle, freeze, load_bundle
from primus.bundle.canonical import sha256_file
from primus.config import load_experiment
from primus.errors import BundleError, BundleIntegrityError
from primus.validate import validate

REPO = Path(__file__).resolve().parent.parent
EXPERIMENT = REPO / "examples/torchtitan/configs/CPU/llama3_debugmodel-pretrain.yaml"
PACKAGES = {"torch": "2.13.0", "torchtitan": "0.2.2", "primus_turbo": None, "python": "3.11.7"}


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    resolved = load_experiment(EXPERIMENT, env={})
    return freeze(resolved, validate(resolved, env={}), runs_dir=tmp_path / "runs", packages=PACKAGES)


def writable(path: Path) -> Path:
    path.chmod(0o644)
    return path


def append(name: str, text: str) -> Callable[[Path], None]:
    def edit(bundle: Path) -> None:
        target = writable(bundle / name)
        target.write_text(target.read_text() + text)

    return edit


def delete(name: str) -> Callable[[Path], None]:
    return lambda bundle: (bundle / name).unlink()


def add(name: str) -> Callable[[Path], None]:
    return lambda bundle: (bundle / name).write_text("notes\n")


def edit_config_and_manifest(bundle: Path) -> None:
    """A careful tamperer: change a value and record the new digest in the manifest."""
    resolved = writable(bundle / "resolved.yaml")
    resolved.write_text(resolved.read_text().replace("steps: 50", "steps: 51"))
    manifest_file = writable(bundle / "manifest.json")
    manifest = json.loads(manifest_file.read_text())
    manifest["files"]["resolved.yaml"] = sha256_file(resolved)
    manifest_file.write_text(json.dumps(manifest))


def unlist(name: str) -> Callable[[Path], None]:
    def edit(bundle: Path) -> None:
        manifest_file = writable(bundle / "manifest.json")
        manifest = json.loads(manifest_file.read_text())
        del manifest["files"][name]
        manifest_file.write_text(json.dumps(manifest))

    return edit


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        pytest.param(
            append("resolved.yaml", "# x\n"), [("resolved.yaml", "modified")], id="modified-resolved"
        ),
        pytest.param(append("job_config.toml", "\n"), [("job_config.toml", "modified")], id="modified-toml"),
        pytest.param(delete("lock.json"), [("lock.json", "missing")], id="deleted-lock"),
        pytest.param(
            lambda b: (delete("provenance.json")(b), append("resolved.yaml", "\n")(b)),
            [("provenance.json", "missing"), ("resolved.yaml", "modified")],
            id="two-problems-at-once",
        ),
        pytest.param(
            add("notes.txt"),
            [("notes.txt", "unexpected file (not part of the frozen bundle)")],
            id="added-file",
        ),
        pytest.param(
            lambda b: (b / "extra").mkdir(),
            [("extra", "unexpected folder (not part of the frozen bundle)")],
            id="added-folder",
        ),
        pytest.param(delete("manifest.json"), [("manifest.json", "missing")], id="deleted-manifest"),
        pytest.param(unlist("lock.json"), [("lock.json", "not listed in manifest.json")], id="unlisted-file"),
        pytest.param(
            edit_config_and_manifest,
            [("manifest.json", "hash"), (".", "folder name"), ("job_config.toml", "differs")],
            id="manifest-rewritten",
        ),
    ],
)
def test_tampering_is_reported_file_by_file(bundle: Path, tamper, expected):
    tamper(bundle)
    with pytest.raises(BundleIntegrityError) as caught:
        check_bundle(bundle)
    found = [(problem.file, problem.problem) for problem in caught.value.problems]
    assert len(found) == len(expected), found
    for (file, problem), (want_file, want_start) in zip(found, expected):
        assert file == want_file
        assert problem.startswith(want_start), problem
    assert caught.value.file == str(bundle)
    assert (
        caught.value.hint == "a frozen bundle must never be edited: delete it and freeze the experiment again"
    )


def test_the_message_lists_each_problem_on_its_own_line(bundle: Path):
    delete("lock.json")(bundle)
    add("notes.txt")(bundle)
    with pytest.raises(BundleIntegrityError) as caught:
        check_bundle(bundle)
    assert caught.value.message == (
        "bundle failed verification (2 problems):\n"
        "  lock.json: missing\n"
        "  notes.txt: unexpected file (not part of the frozen bundle)"
    )


def test_modified_file_problem_names_both_digests(bundle: Path):
    recorded = sha256_file(bundle / "lock.json")
    append("lock.json", " ")(bundle)
    with pytest.raises(BundleIntegrityError) as caught:
        check_bundle(bundle)
    assert caught.value.problems == [
        BundleProblem(
            "lock.json",
            f"modified (sha256 {sha256_file(bundle / 'lock.json')[:12]}…, recorded {recorded[:12]}…)",
        )
    ]


def test_train_and_verify_outputs_are_not_frozen_content(bundle: Path):
    (bundle / "train").mkdir()
    (bundle / "train" / "metrics.jsonl").write_text("{}\n")
    (bundle / "verify").mkdir()
    (bundle / "verify" / "verdict.json").write_text("{}\n")
    check_bundle(bundle)


def test_a_bundle_copied_under_its_own_hash_elsewhere_still_checks(bundle: Path, tmp_path: Path):
    moved = tmp_path / "mounted" / bundle.name
    shutil.copytree(bundle, moved)
    check_bundle(moved)
    assert load_bundle(moved).hash == bundle.name


def test_a_bundle_renamed_off_its_hash_is_refused(bundle: Path, tmp_path: Path):
    moved = tmp_path / "mounted-bundle"
    shutil.copytree(bundle, moved)
    with pytest.raises(BundleIntegrityError) as caught:
        check_bundle(moved)
    (problem,) = caught.value.problems
    assert problem.file == "."
    assert problem.problem.startswith(
        f"folder name 'mounted-bundle' does not match the content hash '{bundle.name}'"
    )


def rewrite_with_digest(bundle: Path, name: str, old: str, new: str) -> None:
    """A careful tamperer: change a file and record its new digest in the manifest."""
    target = writable(bundle / name)
    text = target.read_text()
    assert old in text
    target.write_text(text.replace(old, new))
    manifest_file = writable(bundle / "manifest.json")
    manifest = json.loads(manifest_file.read_text())
    manifest["files"][name] = sha256_file(target)
    manifest_file.write_text(json.dumps(manifest))


def test_job_config_edited_together_with_its_manifest_digest_is_caught(bundle: Path):
    rewrite_with_digest(bundle, "job_config.toml", "lr = 0.0008", "lr = 0.8")
    with pytest.raises(BundleIntegrityError) as caught:
        check_bundle(bundle)
    assert caught.value.problems == [
        BundleProblem("job_config.toml", "differs from the config in resolved.yaml (edited after freeze)")
    ]


def test_resolved_edited_with_digest_hash_and_folder_name_still_fails_on_job_config(bundle: Path):
    """Moving the bundle onto its new hash makes it another bundle, and its job_config.toml gives it away."""
    rewrite_with_digest(bundle, "resolved.yaml", "lr: 0.0008", "lr: 0.8")
    with pytest.raises(BundleIntegrityError) as first:
        check_bundle(bundle)
    new_hash = re.search(r"it hashes to '([0-9a-f]+)'", str(first.value)).group(1)
    rewrite_manifest(bundle, hash=new_hash)
    moved = bundle.rename(bundle.with_name(new_hash))
    with pytest.raises(BundleIntegrityError) as caught:
        check_bundle(moved)
    assert [p.file for p in caught.value.problems] == ["job_config.toml"]


def test_a_path_that_is_not_a_folder_is_a_bundle_error(tmp_path: Path):
    with pytest.raises(BundleError) as caught:
        check_bundle(tmp_path / "nope")
    assert caught.value.message == "no run bundle here (not a folder)"
    assert caught.value.file == str(tmp_path / "nope")


def test_an_unreadable_manifest_is_reported(bundle: Path):
    writable(bundle / "manifest.json").write_text("{not json")
    with pytest.raises(BundleIntegrityError) as caught:
        check_bundle(bundle)
    assert [problem.file for problem in caught.value.problems] == ["manifest.json"]
    assert caught.value.problems[0].problem.startswith("unreadable: ")


def test_load_bundle_refuses_a_tampered_bundle(bundle: Path):
    append("resolved.yaml", "# x\n")(bundle)
    with pytest.raises(BundleIntegrityError):
        load_bundle(bundle)


def test_invalid_yaml_with_a_matching_manifest_digest_is_reported_not_raised(bundle: Path):
    resolved = writable(bundle / "resolved.yaml")
    resolved.write_text("config: [unclosed\n")
    manifest_file = writable(bundle / "manifest.json")
    manifest = json.loads(manifest_file.read_text())
    manifest["files"]["resolved.yaml"] = sha256_file(resolved)
    manifest_file.write_text(json.dumps(manifest))
    with pytest.raises(BundleIntegrityError) as caught:
        check_bundle(bundle)
    assert [problem.file for problem in caught.value.problems] == ["resolved.yaml"]
    assert caught.value.problems[0].problem.startswith("unreadable: ")


def rewrite_manifest(bundle: Path, **changes) -> None:
    manifest_file = writable(bundle / "manifest.json")
    manifest = json.loads(manifest_file.read_text())
    manifest.update(changes)
    manifest_file.write_text(json.dumps(manifest))


def test_a_bundle_of_another_format_is_refused(bundle: Path):
    rewrite_manifest(bundle, format=99)
    with pytest.raises(BundleIntegrityError) as caught:
        check_bundle(bundle)
    assert caught.value.problems == [BundleProblem("manifest.json", "bundle format 99; this Primus reads 1")]


def test_a_manifest_naming_another_experiment_is_reported(bundle: Path):
    rewrite_manifest(bundle, exp_name="someone-else")
    with pytest.raises(BundleIntegrityError) as caught:
        check_bundle(bundle)
    assert caught.value.problems == [
        BundleProblem(
            "manifest.json",
            "exp_name 'someone-else' differs from resolved.yaml's 'llama3_debugmodel-pretrain'",
        )
    ]


def test_loading_an_unverified_broken_bundle_is_a_bundle_error(bundle: Path):
    writable(bundle / "resolved.yaml").write_text("config: {}\n")
    with pytest.raises(BundleError) as caught:
        load_bundle(bundle, verify=False)
    assert caught.value.message == "the bundle cannot be read: KeyError: 'envelope'"


@pytest.mark.parametrize("command", ["train", "verify"])
def test_train_and_verify_refuse_a_tampered_bundle_naming_the_file(bundle: Path, command: str, capsys):
    from primus.cli import main

    rewrite_with_digest(bundle, "job_config.toml", "lr = 0.0008", "lr = 0.8")
    argv = ["train", "--bundle", str(bundle)] if command == "train" else ["verify", str(bundle)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "job_config.toml: differs from the config in resolved.yaml" in err
    assert "Traceback" not in err
    assert not (bundle / "train").exists() and not (bundle / "verify").exists()
