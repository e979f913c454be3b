"""The verify stage end to end: hand-written bundles in, verdict.json / report / plot out."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from primus.errors import BundleError, ConfigValueError, VerificationFailedError
from primus.verify import OUTPUT_FILES, snakemake_report_files, verify, verify_or_raise

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def make_bundle(
    root: Path,
    losses: list[float | str] | None,
    *,
    steps: int | None = None,
    name: str = "demo/abc123",
    checkpoint: bool = False,
    device: str | None = "cpu",
    tokens_per_second: float | None = 1500.0,
) -> Path:
    """A bundle as freeze and train leave it: resolved.yaml, train/metrics.jsonl, train/DONE."""
    bundle = root / name
    bundle.mkdir(parents=True)
    steps = len(losses or []) if steps is None else steps
    (bundle / "resolved.yaml").write_text(
        "envelope: {exp_name: demo}\n"
        "config:\n"
        f"  training: {{steps: {steps}}}\n"
        "  metrics: {log_freq: 1}\n"
        f"  checkpoint: {{enable: {str(checkpoint).lower()}}}\n"
        "  debug: {deterministic: true, seed: 42}\n"
    )
    if losses is not None:
        (bundle / "train").mkdir()
        if device:
            (bundle / "train" / "DONE").write_text(
                json.dumps({"step": steps, "steps": steps, "device": device, "threads": 1})
            )
        records = [
            {
                "step": step,
                "loss": loss,
                "tokens_per_second": tokens_per_second,
                "step_time_s": 0.2,
                "memory_gib": 0.5 + step / 100,
                "lr": 1e-4,
                "grad_norm": 1.0,
            }
            for step, loss in enumerate(losses, start=1)
        ]
        (bundle / "train" / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return bundle


def falling(count: int) -> list[float | str]:
    return [8.0 - 0.05 * i for i in range(count)]


def status_of(verdict) -> dict[str, str]:
    return {check.name: check.status for check in verdict.checks}


def test_a_healthy_run_passes_and_writes_verdict_report_and_plot(tmp_path):
    bundle = make_bundle(tmp_path, falling(30))
    verdict = verify(bundle)
    assert verdict.passed
    assert status_of(verdict) == {
        "steps_completed": "pass",
        "loss_finite": "pass",
        "loss_decreased": "pass",
        "throughput_recorded": "pass",
        "checkpoint_loads": "skip",
    }
    folder = bundle / "verify"
    assert sorted(p.name for p in folder.iterdir()) == sorted(OUTPUT_FILES)
    written = json.loads((folder / "verdict.json").read_text())
    assert written["passed"] is True
    assert [c["name"] for c in written["checks"]] == list(status_of(verdict))
    assert written["checks"][2]["first_tenth_mean"] == pytest.approx(7.95)  # steps 1-3
    assert written["summary"] == {
        "steps_configured": 30,
        "steps_logged": 30,
        "last_step": 30,
        "first_loss": 8.0,
        "last_loss": pytest.approx(6.55),
        "min_loss": pytest.approx(6.55),
        "mean_tokens_per_second": 1500.0,
        "median_step_time_s": 0.2,
        "peak_memory_gib": pytest.approx(0.8),
        "device": "cpu",
        "deterministic": True,
    }
    report = (folder / "report.md").read_text()
    assert report.startswith(
        "# Verification of `demo/abc123`\n\n**Verdict: PASSED** (5 checks: 4 passed, 0 failed,"
    )
    assert "| `loss_finite` | PASS | all 30 logged losses are finite |" in report
    assert "| steps configured (training.steps) | 30 |" in report
    assert "![training loss per step](loss.png)" in report
    assert (folder / "loss.png").read_bytes().startswith(PNG_MAGIC)
    assert "data:image/png;base64,iVBORw0KGgo" in (folder / "report.html").read_text()  # the PNG, inlined
    assert (
        (folder / "caption.rst")
        .read_text()
        .startswith("Training loss per step of run ``demo/abc123``. Verdict: **PASSED**")
    )


def test_a_diverging_run_fails_naming_step_7(tmp_path):
    losses = falling(30)
    losses[6:] = ["nan"] * 24  # step 7 onwards
    bundle = make_bundle(tmp_path, losses)
    verdict = verify(bundle)
    assert not verdict.passed
    check = verdict.check("loss_finite")
    assert check.status == "fail"
    assert (
        check.message
        == "loss is nan at step 7 (first non-finite loss; 24 of 30 logged losses are non-finite)"
    )
    assert status_of(verdict)["loss_decreased"] == "skip"
    text = (bundle / "verify" / "verdict.json").read_text()
    written = json.loads(text, parse_constant=lambda name: pytest.fail(f"verdict.json holds bare {name}"))
    assert written["passed"] is False
    assert written["summary"]["last_loss"] == "nan"
    assert (bundle / "verify" / "loss.png").read_bytes().startswith(PNG_MAGIC)
    assert (
        "**Verdict: FAILED** (5 checks: 2 passed, 1 failed, 2 skipped)"
        in (bundle / "verify/report.md").read_text()
    )


def test_verify_or_raise_names_the_failed_checks(tmp_path):
    losses = falling(30)
    losses[6] = "inf"
    bundle = make_bundle(tmp_path, losses, steps=40)
    with pytest.raises(VerificationFailedError) as caught:
        verify_or_raise(bundle)
    error = caught.value
    assert error.exit_code == 1
    assert error.message == (
        "2 checks failed (steps_completed, loss_finite):"
        " steps_completed: 10 of 40 steps missing: 31-40 (last logged step 30, training.steps is 40);"
        " loss_finite: loss is inf at step 7 (first non-finite loss; 1 of 30 logged losses are non-finite)"
    )
    assert error.file == str(bundle / "verify" / "verdict.json")
    assert error.hint == f"open {bundle / 'verify' / 'report.html'} for every check and the plots"


def test_verify_or_raise_returns_the_verdict_of_a_passing_run(tmp_path):
    assert verify_or_raise(make_bundle(tmp_path, falling(20))).passed


def test_an_incomplete_run_names_the_missing_steps(tmp_path):
    verdict = verify(make_bundle(tmp_path, falling(6), steps=10))
    check = verdict.check("steps_completed")
    assert (check.status, check.message) == (
        "fail",
        "4 of 10 steps missing: 7-10 (last logged step 6, training.steps is 10)",
    )


def test_a_short_run_skips_the_trend_check_and_passes(tmp_path):
    verdict = verify(make_bundle(tmp_path, falling(10)))
    assert verdict.passed
    assert verdict.check("loss_decreased").message == "not judged: 10 logged steps, a trend needs 20 or more"


def test_missing_throughput_fails(tmp_path):
    verdict = verify(make_bundle(tmp_path, falling(5), tokens_per_second=None))
    assert not verdict.passed
    assert verdict.check("throughput_recorded").message == "tokens_per_second missing at 5 of 5 steps: 1-5"


def test_checkpoint_of_the_last_step_is_loaded_back(tmp_path):
    torch = pytest.importorskip("torch")
    import torch.distributed.checkpoint as dcp

    bundle = make_bundle(tmp_path, falling(4), checkpoint=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        dcp.save({"model": {"w": torch.zeros(3, 3)}}, checkpoint_id=str(bundle / "train/checkpoint/step-4"))
    verdict = verify(bundle)
    assert verdict.check("checkpoint_loads").message == (
        "train/checkpoint/step-4 loads: 1 entries, 0.0 MiB of tensors, all finite"
    )
    assert verdict.passed
    (bundle / "train/checkpoint/step-4/.metadata").write_bytes(b"garbage")
    assert verify(bundle).check("checkpoint_loads").status == "fail"


def test_against_an_identical_deterministic_cpu_run_passes_with_exact_equality(tmp_path):
    mine = make_bundle(tmp_path, falling(12), name="demo/a")
    other = make_bundle(tmp_path, falling(12), name="demo/b")
    verdict = verify(mine, against=other)
    check = verdict.check("against")
    assert check.message == f"all 12 logged losses match {other} (exact equality; identical)"
    assert verdict.summary["tolerance"] == 0.0
    assert verdict.passed


def test_against_a_different_run_names_the_first_differing_step(tmp_path):
    losses = falling(12)
    losses[8] = losses[8] + 1e-9  # step 9, far inside any relative tolerance but not bit-equal
    mine = make_bundle(tmp_path, falling(12), name="demo/a")
    other = make_bundle(tmp_path, losses, name="demo/b")
    verdict = verify(mine, against=other)
    check = verdict.check("against")
    assert check.status == "fail"
    assert check.details["first_different_step"] == 9
    assert check.message.startswith("losses differ first at step 9: 7.6 here, 7.600000001 in ")
    assert verify(mine, against=other, tolerance=1e-6).passed  # an explicit tolerance overrides the default


def test_against_runs_without_recorded_device_use_the_relative_default(tmp_path):
    losses = falling(12)
    losses[8] = losses[8] * 1.001
    mine = make_bundle(tmp_path, falling(12), name="demo/a", device=None)
    other = make_bundle(tmp_path, losses, name="demo/b", device=None)
    verdict = verify(mine, against=other)
    assert verdict.passed
    assert verdict.summary["tolerance"] == 0.01


def test_a_device_named_in_the_metrics_records_counts_when_train_recorded_none(tmp_path):
    mine = make_bundle(tmp_path, falling(3), name="demo/a", device=None)
    other = make_bundle(tmp_path, falling(3), name="demo/b", device="cpu")
    path = mine / "train" / "metrics.jsonl"
    path.write_text(
        "".join(
            json.dumps({**json.loads(line), "device": "cpu"}) + "\n" for line in path.read_text().splitlines()
        )
    )
    verdict = verify(mine, against=other)
    # the device counts; the threads went unrecorded, so the comparison is not exact
    assert (verdict.summary["device"], verdict.summary["tolerance"]) == ("cpu", 1e-5)


@pytest.mark.parametrize(
    ("losses", "create", "file", "message"),
    [
        (None, False, "demo/abc123", "no run bundle here"),
        (
            None,
            True,
            "demo/abc123/train/metrics.jsonl",
            "no metrics file: training has not run in this bundle, or wrote nothing",
        ),
    ],
    ids=["no-bundle", "no-metrics"],
)
def test_a_missing_bundle_or_metrics_file_is_a_bundle_error_and_writes_nothing(
    tmp_path, losses, create, file, message
):
    if create:
        make_bundle(tmp_path, losses, steps=10)
    with pytest.raises(BundleError) as caught:
        verify(tmp_path / "demo/abc123")
    assert (caught.value.file, caught.value.message) == (str(tmp_path / file), message)
    assert not (tmp_path / "demo/abc123/verify").exists()


@pytest.mark.parametrize(
    ("tolerance", "with_against", "message", "hint"),
    [
        (
            0.01,
            False,
            "a tolerance applies only to a comparison",
            "add --against OTHER_BUNDLE, or drop --tolerance",
        ),
        (
            -0.1,
            True,
            "must be a relative tolerance >= 0 (0 = exact equality), got -0.1",
            "e.g. --tolerance 0.01 accepts losses within 1% of each other",
        ),
        (
            float("nan"),
            True,
            "must be a relative tolerance >= 0 (0 = exact equality), got nan",
            "e.g. --tolerance 0.01 accepts losses within 1% of each other",
        ),
    ],
    ids=["without-against", "negative", "nan"],
)
def test_a_bad_tolerance_is_a_config_error_and_writes_nothing(
    tmp_path, tolerance, with_against, message, hint
):
    mine = make_bundle(tmp_path, falling(5), name="demo/a")
    other = make_bundle(tmp_path, falling(5), name="demo/b") if with_against else None
    with pytest.raises(ConfigValueError) as caught:
        verify(mine, against=other, tolerance=tolerance)
    assert (caught.value.key, caught.value.message, caught.value.hint, caught.value.exit_code) == (
        "--tolerance",
        message,
        hint,
        2,
    )
    assert not (mine / "verify").exists()


def test_a_missing_against_bundle_is_a_bundle_error(tmp_path):
    mine = make_bundle(tmp_path, falling(5))
    with pytest.raises(BundleError) as caught:
        verify(mine, against=tmp_path / "nope")
    assert caught.value.file == str(tmp_path / "nope")
    assert not (mine / "verify").exists()


def test_a_check_that_raises_leaves_previous_outputs_untouched(tmp_path, monkeypatch):
    bundle = make_bundle(tmp_path, falling(5))
    verify(bundle)
    before = {p.name: p.read_bytes() for p in (bundle / "verify").iterdir()}

    def broken(log):
        raise RuntimeError("check bug")

    monkeypatch.setattr("primus.verify.checks.loss_finite", broken)
    with pytest.raises(RuntimeError, match="check bug"):
        verify(bundle)
    assert {p.name: p.read_bytes() for p in (bundle / "verify").iterdir()} == before


def test_a_check_that_raises_on_a_first_run_writes_nothing(tmp_path, monkeypatch):
    bundle = make_bundle(tmp_path, falling(5))
    monkeypatch.setattr("primus.verify.checks.throughput_recorded", lambda log: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        verify(bundle)
    assert not (bundle / "verify").exists()


def test_a_failure_while_writing_leaves_no_verdict_and_no_partial_files(tmp_path, monkeypatch):
    from primus.verify import outputs

    bundle = make_bundle(tmp_path, falling(5))
    verify(bundle)
    real = outputs.write_atomically

    def fail_on_plot(path, data):
        if path.name == "loss.png":
            raise OSError(28, "No space left on device")
        real(path, data)

    monkeypatch.setattr(outputs, "write_atomically", fail_on_plot)
    with pytest.raises(OSError, match="No space left"):
        verify(bundle)
    names = sorted(p.name for p in (bundle / "verify").iterdir())
    assert "verdict.json" not in names  # an old verdict must not vouch for a half-replaced report
    assert not [name for name in names if name.endswith(".partial")]


def test_other_files_in_the_verify_folder_survive(tmp_path):
    bundle = make_bundle(tmp_path, falling(5))
    (bundle / "verify").mkdir()
    (bundle / "verify" / "verify_run.log").write_text("the workflow's tee log\n")
    verify(bundle)
    assert (bundle / "verify" / "verify_run.log").read_text() == "the workflow's tee log\n"


def test_snakemake_report_files_point_into_the_verify_folder(tmp_path):
    bundle = make_bundle(tmp_path, falling(5))
    verify(bundle)
    files = snakemake_report_files(bundle)
    assert files == {
        "plot": bundle / "verify/loss.png",
        "html": bundle / "verify/report.html",
        "caption": bundle / "verify/caption.rst",
    }
    assert all(path.is_file() for path in files.values())


def test_verify_without_checkpoints_never_imports_torch(tmp_path):
    bundle = make_bundle(tmp_path, falling(5))
    script = (
        "import sys; from pathlib import Path; from primus.verify import verify; "
        f"assert verify(Path({str(bundle)!r})).passed; "
        "print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
