"""flake.nix: parses, and evaluates (dev shell, apps train/test) against a local stand-in for nixpkgs.

No machine here can fetch nixpkgs, so `nix flake check --no-build --offline --override-input nixpkgs
path:STUB` evaluates the flake against tests/containers/nixpkgs-stub, which defines only the packages the
flake may use. Nix 2.8's flake check does not force an app's program, so the tests also evaluate each
app's program and the dev shell's derivation: a misspelled package, an undefined variable or a wrong
argument then fails.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STUB = ROOT / "tests" / "containers" / "nixpkgs-stub" / "flake.nix"
NIX = ["nix", "--extra-experimental-features", "nix-command flakes"]
OFFLINE = ["--offline", "--no-write-lock-file"]

pytestmark = pytest.mark.skipif(
    shutil.which("nix") is None or shutil.which("nix-instantiate") is None,
    reason="nix is not installed (apt-get install -y nix-bin)",
)


class Flake:
    """A copy of a flake.nix in its own folder (a path: flake, so an uncommitted edit is what is checked),
    with the nixpkgs stub beside it."""

    def __init__(self, folder: Path, text: str) -> None:
        self.project = folder / "project"
        self.stub = folder / "nixpkgs-stub"
        self.project.mkdir()
        self.stub.mkdir()
        (self.project / "flake.nix").write_text(text)
        shutil.copy(STUB, self.stub / "flake.nix")

    def _nix(self, *argv: str) -> subprocess.CompletedProcess[str]:
        override = ["--override-input", "nixpkgs", f"path:{self.stub}"]
        return subprocess.run([*NIX, *argv, *OFFLINE, *override], capture_output=True, text=True, timeout=120)

    def check(self) -> subprocess.CompletedProcess[str]:
        return self._nix("flake", "check", "--no-build", f"path:{self.project}")

    def eval_json(self, attr: str, apply: str) -> subprocess.CompletedProcess[str]:
        return self._nix("eval", "--json", f"path:{self.project}#{attr}", "--apply", apply)

    def evaluate(self) -> tuple[int, str]:
        """Flake check, then every app's program and the dev shell's derivation: (status, errors)."""
        steps = [
            self.check(),
            self.eval_json("apps.x86_64-linux", "apps: builtins.mapAttrs (name: app: app.program) apps"),
            self.eval_json("devShells.x86_64-linux", "shells: builtins.mapAttrs (name: s: s.drvPath) shells"),
        ]
        for step in steps:
            if step.returncode != 0:
                return step.returncode, step.stderr
        return 0, ""


@pytest.fixture
def flake(tmp_path: Path) -> Flake:
    return Flake(tmp_path, (ROOT / "flake.nix").read_text())


def test_flake_parses():
    done = subprocess.run(
        ["nix-instantiate", "--parse", str(ROOT / "flake.nix")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_flake_evaluates_against_the_nixpkgs_stub(flake):
    assert flake.evaluate() == (0, "")


def test_flake_has_a_dev_shell_and_train_and_test_apps_that_run_make(flake):
    apps = flake.eval_json("apps.x86_64-linux", "apps: builtins.mapAttrs (name: app: app.type) apps")
    shells = flake.eval_json("devShells.x86_64-linux", "shells: builtins.attrNames shells")
    assert json.loads(apps.stdout) == {"default": "app", "test": "app", "train": "app"}
    assert json.loads(shells.stdout) == ["default"]
    text = (ROOT / "flake.nix").read_text()
    assert 'exec make ${target} "$@"' in text
    assert 'train = makeApp pkgs "train";' in text and 'test = makeApp pkgs "test";' in text


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(
            "pkgs.hadolint", "pkgs.hadolintt", "attribute 'hadolintt' missing", id="misspelled-package"
        ),
        pytest.param(
            'program = "${script}',
            'program = "${scriptt}',
            "undefined variable 'scriptt'",
            id="undefined-var",
        ),
        pytest.param(
            "runtimeInputs = tools",
            "runtimeInput = tools",
            "unexpected argument 'runtimeInput'",
            id="bad-arg",
        ),
    ],
)
def test_flake_evaluation_catches_mistakes(tmp_path, old, new, expected):
    text = (ROOT / "flake.nix").read_text()
    assert old in text
    status, errors = Flake(tmp_path, text.replace(old, new, 1)).evaluate()
    assert status != 0
    assert expected in errors
