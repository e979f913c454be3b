"""The assets stage against a local stand-in of the Hub (tests/hub_server.py) with huggingface_hub's real
client: fetch, cache hits, pinned revisions, failures that leave nothing half-written, bad input."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from assets_support import (
    CORPUS_FILE,
    CORPUS_REPO,
    TOKENIZER_DIR,
    TOKENIZER_REPO,
    cache_files,
    publish_tiny_assets,
    real_data_experiment,
    tokenizer_files,
)
from hub_server import FakeHub

from primus.backends.torchtitan import train
from primus.cli import main
from primus.errors import AssetCacheError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def hub():
    with FakeHub() as server:
        publish_tiny_assets(server)
        yield server


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hub: FakeHub) -> Path:
    """A working folder with the asset cache under PRIMUS_DATA_PATH and HF_ENDPOINT at the FakeHub."""
    monkeypatch.chdir(tmp_path)
    for name in ("HF_TOKEN", "HF_HUB_OFFLINE", "DATA_PATH", "PRIMUS_RUNS_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PRIMUS_DATA_PATH", str(tmp_path / "data"))
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    return tmp_path


def cache_root(project: Path) -> Path:
    return project / "data" / "assets"


def cli(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def fetch(capsys, experiment: Path, *extra: str) -> tuple[int, dict | None, str]:
    code, out, err = cli(capsys, "assets", "fetch", str(experiment), *extra)
    return code, (json.loads(out)["assets"] if code == 0 else None), err


def freeze(capsys, experiment: Path) -> Path:
    code, out, err = cli(capsys, "resolve", "--freeze", "--runs-dir", "runs", str(experiment))
    assert code == 0, err
    return Path(out.strip())


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------------------------------------ fetch


def test_fetch_pins_the_resolved_commit_and_every_file_digest(project, hub, capsys):
    code, pins, err = fetch(capsys, real_data_experiment(project))
    assert code == 0, err
    tokenizer = pins["tokenizer"]
    commit = hub.repos[("model", TOKENIZER_REPO)].branches["main"]
    assert (tokenizer["repo"], tokenizer["requested"], tokenizer["revision"]) == (
        TOKENIZER_REPO,
        "main",
        commit,
    )
    expected = {
        name: sha256(data) for name, data in tokenizer_files().items() if name.startswith("tokenizer")
    }
    assert tokenizer["files"] == expected  # tokenizer files only: no weights, no README
    dataset = pins["dataset"]
    assert (dataset["repo"], dataset["repo_type"]) == (CORPUS_REPO, "dataset")
    assert list(dataset["files"]) == ["train.json"]  # .gitattributes is git bookkeeping, not data
    assert f"fetched: tokenizer {TOKENIZER_REPO}@{commit}, 2 files" in err
    # Content-addressed: each file once under blobs/<sha256>, its bytes matching its name.
    root = cache_root(project)
    for digest in [*expected.values(), *dataset["files"].values()]:
        assert sha256((root / "blobs" / digest).read_bytes()) == digest
    assert not any((root / "tmp").iterdir())


def test_a_second_fetch_is_a_cache_hit_without_any_request(project, hub, capsys):
    experiment = real_data_experiment(project)
    assert fetch(capsys, experiment)[0] == 0
    before = hub.request_count()
    code, _, err = fetch(capsys, experiment)
    assert code == 0
    assert hub.request_count() == before
    assert "cached: tokenizer" in err and "cached: dataset" in err


def test_a_branch_stays_pinned_until_update_and_a_new_commit_is_a_new_bundle(project, hub, capsys):
    experiment = real_data_experiment(project)
    assert fetch(capsys, experiment)[0] == 0
    first = freeze(capsys, experiment)
    old_commit = json.loads((first / "lock.json").read_text())["assets"]["tokenizer"]["revision"]

    repo = hub.repos[("model", TOKENIZER_REPO)]
    changed = {
        **tokenizer_files(),
        "tokenizer_config.json": b'{"bos_token": "<|bos|>", "eos_token": "<|eos|>"}',
    }
    new_commit = repo.push(changed)
    # Without --update the resolved commit is the pin (like a lock file): same bundle, no request.
    before = hub.request_count()
    assert freeze(capsys, experiment) == first
    assert hub.request_count() == before

    code, pins, _ = fetch(capsys, experiment, "--update")
    assert code == 0
    assert pins["tokenizer"]["revision"] == new_commit != old_commit
    assert pins["tokenizer"]["files"]["tokenizer_config.json"] == sha256(changed["tokenizer_config.json"])
    second = freeze(capsys, experiment)
    assert second != first and second.parent == first.parent
    lock = json.loads((second / "lock.json").read_text())
    assert lock["assets"]["tokenizer"]["revision"] == new_commit
    code, out, _ = cli(capsys, "diff", str(first), str(second))
    assert code == 1
    assert "assets.tokenizer.revision" in out and new_commit in out and old_commit in out
    assert "assets.tokenizer.files.tokenizer_config.json" in out
    assert "assets.tokenizer.files.tokenizer.json " not in out  # unchanged files are not listed
    assert main(["check-bundle", str(first)]) == 0  # the old pin is still cached and intact


def test_a_tag_or_a_commit_is_pinned_as_its_commit(project, hub, capsys):
    commit = hub.repos[("model", TOKENIZER_REPO)].branches["v1"]
    by_tag = real_data_experiment(project, tokenizer=f"{TOKENIZER_REPO}@v1", name="tag.yaml")
    by_commit = real_data_experiment(project, tokenizer=f"hf://{TOKENIZER_REPO}@{commit}", name="sha.yaml")
    _, tag_pins, _ = fetch(capsys, by_tag)
    assert (tag_pins["tokenizer"]["requested"], tag_pins["tokenizer"]["revision"]) == ("v1", commit)
    before = hub.request_count()
    code, sha_pins, _ = fetch(capsys, by_commit)
    assert code == 0
    assert hub.request_count() == before  # a commit already cached needs nothing from the Hub
    assert sha_pins["tokenizer"]["revision"] == commit
    assert sha_pins["tokenizer"]["files"] == tag_pins["tokenizer"]["files"]


def test_local_assets_are_digested_and_copied_into_the_cache(project, capsys):
    shutil.copytree(TOKENIZER_DIR, project / "tok")
    (project / "corpus").mkdir()
    shutil.copy(REPO / "tests/assets/data/tiny_corpus/train.json", project / "corpus" / "train.json")
    experiment = real_data_experiment(project, tokenizer="./tok", dataset_path="./corpus")
    code, pins, err = fetch(capsys, experiment)
    assert code == 0, err
    assert pins["tokenizer"]["source"] == "local"
    assert pins["tokenizer"]["files"]["tokenizer.json"] == sha256(
        (TOKENIZER_DIR / "tokenizer.json").read_bytes()
    )
    assert "build_assets.py" not in pins["tokenizer"]["files"]  # tokenizer files only
    first = freeze(capsys, experiment)
    # A changed local file is a new bundle; the bundle frozen before still has its copy in the cache.
    (project / "tok" / "tokenizer_config.json").write_text('{"bos_token": "<|bos|>"}\n')
    second = freeze(capsys, experiment)
    assert second != first
    assert main(["check-bundle", str(first)]) == 0


def test_planning_does_not_reread_local_files_a_fetch_digested(project, capsys, monkeypatch, tmp_path):
    from primus.assets import pin as pin_module
    from primus.assets import pin_offline, sources_of
    from primus.config import load_experiment
    from primus.validate import validate

    shutil.copytree(TOKENIZER_DIR, project / "tok")
    shutil.copy(CORPUS_FILE, project / "corpus.json")
    experiment = real_data_experiment(project, tokenizer="./tok", dataset_path="./corpus.json")
    config = validate(load_experiment(experiment))
    old = time.time() - 60  # outside the racy window of file timestamps
    for file in [*(project / "tok").iterdir(), project / "corpus.json"]:
        os.utime(file, (old, old))
    assert fetch(capsys, experiment)[0] == 0
    monkeypatch.setattr(pin_module, "sha256_of", lambda path: pytest.fail(f"re-read {path}"))
    pins = pin_offline(sources_of(config))
    assert pins[0].files["tokenizer.json"] == sha256((TOKENIZER_DIR / "tokenizer.json").read_bytes())


def test_mock_data_reads_no_assets_and_pins_none(project, capsys, hub):
    experiment = REPO / "examples/torchtitan/configs/CPU/llama3_debugmodel-pretrain.yaml"
    code, pins, err = fetch(capsys, experiment)
    assert (code, pins) == (0, {})
    assert "no assets to fetch" in err
    assert hub.request_count() == 0


def test_a_dataset_streamed_from_the_hub_is_recorded_unpinned_with_a_warning(project, hub, capsys):
    experiment = real_data_experiment(project)
    text = experiment.read_text().replace(f'        dataset_path: "hf://datasets/{CORPUS_REPO}"\n', "")
    experiment.write_text(text.replace("dataset: c4_test", "dataset: c4"))
    code, pins, err = fetch(capsys, experiment)
    assert code == 0
    assert pins["dataset"] == {
        "files": {}, "key": "training.dataset", "repo": "allenai/c4", "repo_type": "dataset",
        "requested": None, "revision": None, "selection": "", "source": "stream", "value": "c4",
    }  # fmt: skip
    assert "warning: dataset 'c4' is streamed from the Hub (allenai/c4) at train time" in err
    assert not any(path.startswith("/api/datasets") for _, path in hub.requests)
    code, _, err = cli(capsys, "assets", "fetch", "--strict", str(experiment))
    assert code == 2 and "an error because of --strict" in err


def test_offline_fetch_of_what_the_cache_lacks_is_a_clear_error(project, hub, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, _, err = fetch(capsys, real_data_experiment(project))
    assert code == 1
    assert "is not in the asset cache" in err and "HF_HUB_OFFLINE is set" in err
    assert hub.request_count() == 0


# ---------------------------------------------------------------------------------------------- failures


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_hub_down_is_a_clear_error_and_leaves_nothing_in_the_cache(project, capsys, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    code, _, err = fetch(capsys, real_data_experiment(project))
    assert code == 1
    assert "cannot reach the Hub at http://127.0.0.1:" in err and "Connection refused" in err
    assert "Traceback" not in err
    assert cache_files(cache_root(project)) == []


def test_401_names_hf_token_and_never_prints_it(project, hub, capsys, monkeypatch):
    secret = "hf_not-the-right-secret-0123456789"
    hub.add("tiny-org/private-tokenizer", token="hf_right-secret-abcdef").push(tokenizer_files())
    experiment = real_data_experiment(project, tokenizer="tiny-org/private-tokenizer")
    code, _, err = fetch(capsys, experiment)
    assert code == 1
    assert "HTTP 401" in err and "HF_TOKEN is not set" in err and "export HF_TOKEN=" in err

    monkeypatch.setenv("HF_TOKEN", secret)
    code, _, err = fetch(capsys, experiment)
    assert code == 1
    assert "the token in HF_TOKEN was refused" in err
    assert secret not in err
    assert not (cache_root(project) / "snapshots").exists()

    monkeypatch.setenv("HF_TOKEN", "hf_right-secret-abcdef")
    assert fetch(capsys, experiment)[0] == 0
    bundle = freeze(capsys, experiment)
    stored = [p for p in [*cache_root(project).rglob("*"), *bundle.rglob("*")] if p.is_file()]
    assert not [p for p in stored if b"hf_right-secret" in p.read_bytes()]


def test_a_tampered_cache_file_is_named_by_check_bundle(project, capsys):
    experiment = real_data_experiment(project)
    assert fetch(capsys, experiment)[0] == 0
    bundle = freeze(capsys, experiment)
    lock = json.loads((bundle / "lock.json").read_text())
    tokenizer = lock["assets"]["tokenizer"]
    snapshot = next((cache_root(project) / "snapshots" / "models--tiny-org--tiny-tokenizer").glob("*/"))
    tampered = snapshot / "tokenizer.json"
    tampered.chmod(0o644)
    tampered.write_text(tampered.read_text().replace("<|bos|>", "<|BOS|>"))
    code, _, err = cli(capsys, "check-bundle", str(bundle))
    assert code == 1
    assert f"{tampered}: modified (sha256" in err
    assert tokenizer["files"]["tokenizer.json"][:12] in err
    assert "tokenizer_config.json" not in err  # only the file that differs is named
    # The train stage checks the same before it launches anything.
    with pytest.raises(AssetCacheError) as caught:
        train(bundle)
    assert f"{tampered}: modified" in caught.value.message
    assert not (bundle / "train" / "train.log").exists()


def test_two_concurrent_fetches_of_one_repository_end_with_one_intact_copy(project, hub):
    experiment = real_data_experiment(project)
    hub.file_delay = 0.3  # both fetches are in flight at once
    command = [sys.executable, "-m", "primus.cli", "assets", "fetch", str(experiment)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    runs = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    pins = [json.loads(out)["assets"] for out, _ in outputs]
    assert pins[0] == pins[1]
    downloads = [path for method, path in hub.requests if method == "GET" and "/resolve/" in path]
    assert len(downloads) == 3  # each file once: the second fetch waited for the first, then hit the cache
    root = cache_root(project)
    snapshots = [p for p in (root / "snapshots").glob("*/*") if p.is_dir()]
    assert len(snapshots) == 2  # one tokenizer view, one dataset view
    for digest in [*pins[0]["tokenizer"]["files"].values(), *pins[0]["dataset"]["files"].values()]:
        assert sha256((root / "blobs" / digest).read_bytes()) == digest
    assert not any((root / "tmp").iterdir())


def test_a_disk_that_fills_during_a_fetch_leaves_no_partial_file(project, hub, tmp_path):
    if shutil.which("unshare") is None:
        pytest.skip("util-linux unshare is needed to mount a small tmpfs in a private mount namespace")
    big = {**tokenizer_files(), "tokenizer.json": b'{"pad": "' + b"x" * 400_000 + b'"}'}
    hub.add("tiny-org/big-tokenizer").push(big)
    experiment = real_data_experiment(project, tokenizer="tiny-org/big-tokenizer")
    data = tmp_path / "small-disk"
    data.mkdir()
    script = (
        'mount -t tmpfs -o size=128k tmpfs "$DATA" || exit 77; '
        '"$PY" -m primus.cli assets fetch "$EXP" > "$DATA/../out.json" 2> "$DATA/../err.txt"; echo "rc=$?"; '
        'cd "$DATA" && find . -type f ! -path "./assets/locks/*" | sort'
    )
    result = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script],
        env={
            **os.environ,
            "PYTHONPATH": str(REPO),
            "PRIMUS_DATA_PATH": str(data),
            "DATA": str(data),
            "PY": sys.executable,
            "EXP": str(experiment),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode == 77:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    err = (tmp_path / "err.txt").read_text()
    lines = result.stdout.split()
    assert lines[0] == "rc=1", err
    assert "the disk holding the asset cache filled up during the download" in err
    assert "Traceback" not in err
    assert lines[1:] == []  # no file at all: no partial blob, no snapshot, no ref, nothing in tmp/


# ------------------------------------------------------------------------------------------------ bad input

BAD_INPUT = {
    # id: (hf_assets_path, dataset_path, expected message start)
    "malformed-repo-id": (
        "tiny-org/tiny tokenizer",
        None,
        "'tiny-org/tiny tokenizer' is neither a Hugging Face repository id nor a local path",
    ),
    "unknown-revision": (
        f"{TOKENIZER_REPO}@no-such-branch",
        None,
        f"revision 'no-such-branch' does not exist in model repository {TOKENIZER_REPO}",
    ),
    "no-tokenizer-at-revision": (
        "tiny-org/weights-only",
        None,
        "tiny-org/weights-only has no tokenizer file at revision main",
    ),
    "data-file-missing-at-revision": (
        None,
        f"hf://datasets/{CORPUS_REPO}@main/valid.json",
        f"{CORPUS_REPO} has no file matching 'valid.json' at revision main",
    ),
    "unknown-repository": ("tiny-org/nope", None, "model repository tiny-org/nope does not exist on http://"),
    "local-path-missing": ("./assets/tokenizer", None, "tokenizer path './assets/tokenizer' does not exist"),
    "local-path-not-a-tokenizer": ("./corpus", None, "'./corpus' is not a directory of tokenizer files"),
}


@pytest.mark.parametrize(("tokenizer", "dataset", "message"), BAD_INPUT.values(), ids=BAD_INPUT.keys())
def test_bad_asset_input_is_a_located_error_and_writes_nothing(
    project, hub, capsys, tokenizer, dataset, message
):
    hub.add("tiny-org/weights-only").push({"model.safetensors": b"w", "config.json": b"{}"})
    (project / "corpus").mkdir()
    (project / "corpus" / "train.json").write_text('{"text": "a"}\n')
    experiment = real_data_experiment(
        project, tokenizer=tokenizer or TOKENIZER_REPO, dataset_path=dataset or "./corpus"
    )
    code, _, err = fetch(capsys, experiment)
    assert code == 2, err
    key = "model.hf_assets_path" if tokenizer else "training.dataset_path"
    assert f"{experiment.name}:" in err and f": {key}: {message}" in err
    assert "hint: " in err and "Traceback" not in err
    assert not (
        cache_root(project) / "snapshots" / ("models--" + (tokenizer or "").replace("/", "--"))
    ).exists()
    assert not any(
        f.startswith(("snapshots/models", "blobs/")) for f in cache_files(cache_root(project)) if tokenizer
    )


# ------------------------------------------------------------------------------------------------ workflow


@pytest.mark.slow
def test_snakemake_fetches_the_assets_before_freezing_and_plans_the_pinned_bundle(project, hub, snakemake):
    experiment = real_data_experiment(project, steps=3)
    result = snakemake("--cores", "1", "resolve", "--config", f"exp={experiment}", cwd=project)
    assert "fetch_assets" in result.stdout
    (bundle,) = (project / "runs" / "llama3_debugmodel-pretrain").iterdir()
    lock = json.loads((bundle / "lock.json").read_text())
    assert lock["assets"]["tokenizer"]["revision"] == hub.repos[("model", TOKENIZER_REPO)].branches["main"]
    before = hub.request_count()
    again = snakemake("--cores", "1", "resolve", "--config", f"exp={experiment}", cwd=project)
    assert "Nothing to be done" in again.stdout
    assert hub.request_count() == before  # planning reads the pins from the cache
