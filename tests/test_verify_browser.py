"""The verify report as people see it: a real frozen bundle, its HTML page opened in headless Chromium.

The bundle is frozen from the CPU default; its train/ folder gets a metrics file as TorchTitan's run would
leave it (no training here: the report is under test, not the trainer). Chromium renders the page, the DOM
after load says which images the browser decoded, and a screenshot shows the coloured verdict.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from primus import cli
from primus.bundle import freeze
from primus.config import load_experiment
from primus.validate import validate

REPO = Path(__file__).resolve().parents[1]
CPU_DEFAULT = REPO / "examples/torchtitan/configs/CPU/llama3_debugmodel-pretrain.yaml"
STEPS = 20
PASS_GREEN = (0x1B, 0x7F, 0x3B)  # .verdict.pass in templates/report.html.j2


def trained_bundle(runs: Path, *, seed: str, wobble: float = 0.0) -> Path:
    overrides = [f"--training.steps={STEPS}", f"--debug.seed={seed}", "--checkpoint.enable=false"]
    resolved = load_experiment(CPU_DEFAULT, overrides)
    bundle = freeze(resolved, validate(resolved), runs_dir=runs)
    train = bundle / "train"
    train.mkdir()
    rows = [
        {
            "step": step,
            "loss": 8.0 - 0.1 * step + wobble * (step % 3),
            "tokens_per_second": 1234.5678 + step,
            "step_time_s": 0.2,
            "memory_gib": 0.731186,
            "lr": 8e-4 * min(step / 5, 1),
            "grad_norm": 1.5 - step / 40,
        }
        for step in range(1, STEPS + 1)
    ]
    (train / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    done = {"step": STEPS, "steps": STEPS, "device": "cpu", "world_size": 1}
    (train / "DONE").write_text(json.dumps(done))
    return bundle


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("runs")
    return trained_bundle(root, seed="1"), trained_bundle(root, seed="2", wobble=0.01)


def test_a_comparison_is_written_beside_the_runs_own_verdict(runs, capsys):
    mine, other = runs
    assert cli.main(["verify", str(mine)]) == 0
    own = (mine / "verify" / "verdict.json").read_text()
    assert cli.main(["verify", str(mine), "--against", str(other)]) == 1  # the losses differ
    out = capsys.readouterr().out
    assert (mine / "verify" / "verdict.json").read_text() == own  # never overwritten
    comparison = mine / "verify" / f"against-{other.name}"
    assert json.loads((comparison / "verdict.json").read_text())["passed"] is False
    assert f"verdict: FAIL  ({comparison / 'verdict.json'})" in out
    assert f"report:  {comparison / 'report.html'}" in out


def test_verify_format_json_prints_the_verdict(runs, capsys):
    mine, _ = runs
    assert cli.main(["verify", str(mine), "--format", "json"]) == 0
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["passed"] is True and verdict["bundle"] == str(mine)
    assert {c["name"] for c in verdict["checks"]} >= {"steps_completed", "loss_finite"}


class _Page(HTMLParser):
    """Text of the verdict box, the identity table's rows, the summary rows and each <img>'s attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str]] = []
        self.tables: dict[str, list[list[str]]] = {}
        self.verdict_class = ""
        self.verdict_text = ""
        self._table = self._in_verdict = None
        self._row: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "img":
            self.images.append(attributes)
        if attributes.get("id") == "verdict":
            self.verdict_class, self._in_verdict = attributes.get("class", ""), True
        if tag == "table":
            self._table = attributes.get("id")
            self.tables[self._table] = []
        if tag == "tr" and self._table:
            self._row = []
        if tag == "td" and self._row is not None:
            self._row.append("")

    def handle_endtag(self, tag):
        if tag == "div":
            self._in_verdict = False
        if tag == "tr" and self._row is not None and self._table:
            self.tables[self._table].append(self._row)
            self._row = None
        if tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._in_verdict:
            self.verdict_text += data
        if self._row:
            self._row[-1] += data


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.skip("chromium is not installed (CI installs it: .ci/run's apt line)")
    return found


def browse(browser: str, page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            *args,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_report_renders_in_a_real_browser_with_verdict_identity_and_plots(runs, tmp_path):
    browser = chromium()
    mine, _ = runs
    assert cli.main(["verify", str(mine), "--against", str(mine)]) == 0  # itself: PASS, with an overlay
    report = mine / "verify" / f"against-{mine.name}" / "report.html"
    # A copy that records, after load, each image's decoded width: the browser decoded the PNG or it is 0.
    probe = tmp_path / "probe.html"
    probe.write_text(
        report.read_text().replace(
            "</body>",
            "<script>window.addEventListener('load', () => { document.body.dataset.decoded = "
            "[...document.images].map(i => i.naturalWidth).join(','); });</script></body>",
        )
    )
    dom = browse(browser, probe, tmp_path / "profile", "--dump-dom", "--virtual-time-budget=5000")
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = _Page()
    page.feed(dom.stdout)

    assert page.verdict_class == "verdict pass"
    assert "PASSED" in page.verdict_text
    identity = {row[0]: row[1] for row in page.tables["identity"]}
    assert identity["experiment"] == "llama3_debugmodel-pretrain"
    assert identity["bundle"] == f"{mine.parent.name}/{mine.name}"
    assert identity["model"] == "llama3 / debugmodel (6.16M parameters)"
    assert identity["steps"] == str(STEPS)
    assert identity["device"] == "cpu"
    assert identity["world size"] == "1 process"
    assert "torchtitan 0.2.2" in identity["framework"] and "torch 2.13.0" in identity["framework"]
    assert set(identity) >= {"batch", "learning rate", "parallelism", "git commit"}
    summary = {row[0]: row[1] for row in page.tables["summary"]}
    assert summary["peak memory (GiB)"] == "0.73"  # not 0.731186
    assert summary["mean throughput (tokens/s)"] == "1,245"

    captions = [image["alt"] for image in page.images]
    assert captions[0] == "training loss per step"
    assert captions[1].startswith("loss difference per step")
    assert captions[2:] == [
        "learning rate",
        "gradient norm (after clipping)",
        "throughput (tokens/s)",
        "peak memory (GiB)",
    ]
    decoded = [int(width) for width in dom.stdout.split('data-decoded="')[1].split('"')[0].split(",")]
    assert len(decoded) == 6 and all(width >= 600 for width in decoded), decoded

    shot = tmp_path / "report.png"
    result = browse(browser, report, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1200,900")
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    from matplotlib.image import imread

    pixels = (imread(shot)[:, :, :3] * 255).round().astype(int)
    assert pixels.shape[:2] == (900, 1200)
    green = ((abs(pixels - PASS_GREEN)).sum(axis=2) < 12).sum()
    assert green > 20_000  # the verdict box, in the first screen
