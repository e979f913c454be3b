"""The verify stage: judge a finished (or failed) training run from its bundle.

``verify(bundle)`` reads ``resolved.yaml`` and ``train/metrics.jsonl``, runs the checks below, and writes
``verify/report.md``, ``report.html``, ``caption.rst``, ``loss.png`` and, last, ``verdict.json`` (see
``primus.verify.outputs``). It returns the ``Verdict`` whether or not the run passed; ``verify_or_raise``
is the CLI's helper that turns a failed verdict into ``VerificationFailedError`` (exit status 1).

Checks, in order:

- ``steps_completed``: every step TorchTitan logs (1 and each multiple of ``metrics.log_freq``, up to
  ``training.steps``) has a metrics record;
- ``loss_finite``: no logged loss is NaN or infinite;
- ``loss_decreased``: with 20 or more logged steps, the last tenth's mean loss is below the first tenth's
  (skipped for shorter runs);
- ``throughput_recorded``: every record has a positive ``tokens_per_second``;
- ``checkpoint_loads``: with ``checkpoint.enable``, the newest ``train/<checkpoint.folder>/step-N`` loads
  with ``torch.distributed.checkpoint`` (torch is imported for this check only);
- ``against`` (only with ``against=``): the loss curve equals another bundle's, step by step, within the
  tolerance of ``primus.verify.compare`` (exact for two deterministic CPU runs, else relative 1e-2).
"""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
from pathlib import Path
from typing import Any

from primus.bundle import layout
from primus.errors import ConfigValueError, VerificationFailedError
from primus.verify import checks
from primus.verify.checkpoint import checkpoint_loads
from primus.verify.compare import DEFAULT_RELATIVE_TOLERANCE, compare_losses, default_tolerance
from primus.verify.identity import run_identity
from primus.verify.metrics import MetricsLog, read_metrics
from primus.verify.outputs import write_outputs
from primus.verify.report import (
    caption_rst,
    render_html,
    render_loss_plot,
    render_markdown,
    render_metric_plots,
)
from primus.verify.settings import RunSettings, read_settings
from primus.verify.verdict import Check, Verdict

__all__ = [
    "DEFAULT_RELATIVE_TOLERANCE",
    "OUTPUT_FILES",
    "Check",
    "Verdict",
    "judge",
    "outputs_dir",
    "read_verdict",
    "snakemake_report_files",
    "verify",
    "verify_or_raise",
]

#: What ``verify`` writes under ``<bundle>/verify/``.
OUTPUT_FILES = layout.VERIFY_FILES
METRICS_PATH = layout.METRICS_PATH


def verify(bundle: Path, *, against: Path | None = None, tolerance: float | None = None) -> Verdict:
    """Run every check on ``bundle``, write ``<bundle>/verify/``, and return the verdict.

    With ``against`` the outputs go to ``<bundle>/verify/against-<other hash>/`` instead (``outputs_dir``):
    the run's own verdict and report are never replaced by a comparison.

    ``against``: another bundle whose loss curve this one must reproduce. ``tolerance``: relative tolerance
    for that comparison (``0.0`` = exact); ``None`` picks the default described in ``primus.verify.compare``.
    Raises ``BundleError`` when a bundle or its metrics file is missing or unreadable, and
    ``ConfigValueError`` for a negative tolerance or one given without ``against``; nothing is written then,
    nor when a check raises.
    """
    bundle = Path(bundle)
    verdict, log, other_log = _judge(bundle, against=against, tolerance=tolerance)
    title = _title(bundle)
    other_title = _title(against) if against is not None else ""
    png = render_loss_plot(
        log,
        title=f"{title}: {'PASSED' if verdict.passed else 'FAILED'}",
        other=other_log,
        other_name=other_title,
    )
    html = render_html(
        verdict,
        title=title if against is None else f"{title} against {other_title}",
        png=png,
        identity=run_identity(bundle, device=verdict.summary.get("device")),
        plots=render_metric_plots(log, other=other_log, other_name=other_title),
        other_name=other_title,
    )
    write_outputs(
        outputs_dir(bundle, against),
        {
            layout.VERDICT: (json.dumps(verdict.to_json(), indent=2, allow_nan=False) + "\n").encode(),
            layout.REPORT_MD: render_markdown(verdict, title=title, plot_name=layout.LOSS_PLOT).encode(),
            layout.REPORT_HTML: html.encode(),
            layout.CAPTION: caption_rst(verdict, title=title).encode(),
            layout.LOSS_PLOT: png,
        },
        seal=layout.VERDICT,
    )
    return verdict


def outputs_dir(bundle: Path, against: Path | None = None) -> Path:
    """Where ``verify`` writes: ``<bundle>/verify/``, or for a comparison ``<bundle>/verify/against-<hash>/``
    (named by the other bundle's folder), so a comparison never replaces the run's own verdict."""
    folder = Path(bundle) / layout.VERIFY_DIR
    return folder if against is None else folder / f"{layout.AGAINST_PREFIX}{Path(against).resolve().name}"


def judge(bundle: Path, *, against: Path | None = None, tolerance: float | None = None) -> Verdict:
    """The verdict ``verify`` would write, computed without writing anything (the sweep report uses it
    for a point whose verify/ Snakemake removed after the check failed)."""
    return _judge(Path(bundle), against=against, tolerance=tolerance)[0]


def _judge(
    bundle: Path, *, against: Path | None, tolerance: float | None
) -> tuple[Verdict, MetricsLog, MetricsLog | None]:
    """Every check of ``bundle``: the verdict, its metrics and the compared run's metrics (or None)."""
    _check_tolerance(tolerance, against)
    settings, log = _read_run(bundle)
    results = [
        checks.steps_completed(settings, log),
        checks.loss_finite(log),
        checks.loss_decreased(log),
        checks.throughput_recorded(log),
        checkpoint_loads(bundle, settings),
    ]
    other_log, other_name = None, ""
    if against is not None:
        against = Path(against)
        other_settings, other_log = _read_run(against)
        other_name = str(against)
        if tolerance is None:
            tolerance = default_tolerance(settings, other_settings)
        results.append(compare_losses(log, other_log, tolerance=tolerance, other_name=other_name))
    return Verdict(tuple(results), _summary(settings, log, against, tolerance)), log, other_log


def verify_or_raise(bundle: Path, *, against: Path | None = None, tolerance: float | None = None) -> Verdict:
    """``verify``, then raise ``VerificationFailedError`` (exit status 1) naming the failed checks, if any."""
    verdict = verify(bundle, against=against, tolerance=tolerance)
    if not verdict.passed:
        failed = verdict.failed
        reasons = "; ".join(f"{c.name}: {c.message}" for c in failed)
        raise VerificationFailedError(
            f"{len(failed)} check{'s' if len(failed) != 1 else ''} failed"
            f" ({', '.join(c.name for c in failed)}): {reasons}",
            file=str(outputs_dir(bundle, against) / layout.VERDICT),
            hint=f"open {outputs_dir(bundle, against) / layout.REPORT_HTML} for every check and the plots",
        )
    return verdict


def read_verdict(bundle: Path) -> dict[str, Any]:
    """The JSON written by the last ``verify`` of ``bundle`` (for tools and the workflow's summary)."""
    return json.loads((Path(bundle) / layout.VERDICT_PATH).read_text(encoding="utf-8"))


def snakemake_report_files(bundle: Path) -> dict[str, Path]:
    """Paths for ``snakemake --report``: ``{"plot": loss.png, "html": report.html, "caption": caption.rst}``.

    A rule can declare ``report(<bundle>/verify/report.html, category="verify")`` (a self-contained page with
    the plot inlined) or the PNG itself; ``caption.rst`` is a one-paragraph RST caption naming the verdict.
    """
    folder = Path(bundle) / layout.VERIFY_DIR
    return {
        "plot": folder / layout.LOSS_PLOT,
        "html": folder / layout.REPORT_HTML,
        "caption": folder / layout.CAPTION,
    }


def _check_tolerance(tolerance: float | None, against: Path | None) -> None:
    if tolerance is None:
        return
    if against is None:
        raise ConfigValueError(
            "a tolerance applies only to a comparison",
            key="--tolerance",
            value=tolerance,
            hint="add --against OTHER_BUNDLE, or drop --tolerance",
        )
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or not tolerance >= 0:
        raise ConfigValueError(
            f"must be a relative tolerance >= 0 (0 = exact equality), got {tolerance!r}",
            key="--tolerance",
            value=tolerance,
            hint="e.g. --tolerance 0.01 accepts losses within 1% of each other",
        )


def _read_run(bundle: Path) -> tuple[RunSettings, MetricsLog]:
    """Settings and metrics of one bundle; the device falls back to one the metrics records name."""
    settings = read_settings(bundle)
    log = read_metrics(bundle / METRICS_PATH, display=str(bundle / METRICS_PATH))
    if settings.device is None:
        device = next((record.device for record in log.steps if record.device), None)
        settings = dataclasses.replace(settings, device=device)
    return settings, log


def _summary(settings: RunSettings, log: MetricsLog, against: Path | None, tolerance: float | None) -> dict:
    losses = log.losses()
    finite = [loss for loss in losses if math.isfinite(loss)]
    rates = [r.tokens_per_second for r in log.steps if r.tokens_per_second is not None]
    times = [r.step_time_s for r in log.steps if r.step_time_s is not None]
    memory = [r.memory_gib for r in log.steps if r.memory_gib is not None]
    summary: dict[str, Any] = {
        "steps_configured": settings.steps,
        "steps_logged": len(log.steps),
        "last_step": log.steps[-1].step if log.steps else None,
        "first_loss": _json_number(losses[0]) if losses else None,
        "last_loss": _json_number(losses[-1]) if losses else None,
        "min_loss": min(finite) if finite else None,
        "mean_tokens_per_second": _json_number(statistics.fmean(rates)) if rates else None,
        "median_step_time_s": _json_number(statistics.median(times)) if times else None,
        "peak_memory_gib": _json_number(max(memory)) if memory else None,
        "device": settings.device,
        "deterministic": settings.deterministic,
    }
    if log.truncated_line:
        summary["ignored_truncated_line"] = log.truncated_line
    if against is not None:
        summary["against"] = str(against)
        summary["tolerance"] = tolerance
    return summary


def _json_number(value: float) -> float | str:
    """JSON has no NaN/inf: write them as strings, as metrics.jsonl does."""
    return value if math.isfinite(value) else str(value)


def _title(bundle: Path) -> str:
    """``<exp_name>/<hash>`` for a bundle under runs/, else the folder name."""
    resolved = bundle.resolve()
    return f"{resolved.parent.name}/{resolved.name}" if resolved.parent.name else resolved.name
