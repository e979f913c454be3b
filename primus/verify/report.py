"""Human-readable outputs of a verdict: the Markdown report, a self-contained HTML page for a browser and
``snakemake --report``, its reStructuredText caption, and the plots (PNG bytes).

The HTML page is rendered from ``templates/report.html.j2`` with Jinja2 (autoescaped; Jinja2 comes with
Snakemake): the verdict first and coloured, the run's identity (``primus.verify.identity``), the checks, the
summary with numbers rounded as people read them, and one plot per quantity of ``metrics.jsonl`` (loss,
learning rate, grad norm, tokens/s, memory), each with the compared run overlaid and, for the loss, the
per-step difference when there is one.

Everything here renders to strings/bytes in memory; ``primus.verify.outputs`` writes them all at once.
matplotlib is imported only inside the plot functions and drawn on a bare ``Figure`` with the Agg canvas,
so no display is needed and no global pyplot backend is switched.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from typing import Any

from primus.verify.metrics import MetricsLog
from primus.verify.verdict import Verdict

_STATUS_WORD = {"pass": "PASS", "fail": "FAIL", "skip": "skip"}
_SUMMARY_LABELS = {
    "steps_configured": "steps configured (training.steps)",
    "steps_logged": "steps logged",
    "last_step": "last logged step",
    "first_loss": "first loss",
    "last_loss": "last loss",
    "min_loss": "lowest finite loss",
    "mean_tokens_per_second": "mean throughput (tokens/s)",
    "median_step_time_s": "median step time (s)",
    "peak_memory_gib": "peak memory (GiB)",
    "device": "device",
    "deterministic": "debug.deterministic",
    "against": "compared against",
    "tolerance": "comparison tolerance (relative; 0 = exact)",
}


def verdict_word(verdict: Verdict) -> str:
    return "PASSED" if verdict.passed else "FAILED"


def counts_line(verdict: Verdict) -> str:
    """``"5 checks: 3 passed, 1 failed, 1 skipped"``."""
    tally = {status: sum(c.status == status for c in verdict.checks) for status in ("pass", "fail", "skip")}
    passed, failed, skipped = tally["pass"], tally["fail"], tally["skip"]
    return f"{len(verdict.checks)} checks: {passed} passed, {failed} failed, {skipped} skipped"


def render_markdown(verdict: Verdict, *, title: str, plot_name: str = "loss.png") -> str:
    """The report: verdict line, table of checks, summary numbers and the embedded loss plot."""
    lines = [
        f"# Verification of `{title}`",
        "",
        f"**Verdict: {verdict_word(verdict)}** ({counts_line(verdict)})",
        "",
        "| check | status | details |",
        "|---|---|---|",
    ]
    lines += [f"| `{c.name}` | {_STATUS_WORD[c.status]} | {_md_cell(c.message)} |" for c in verdict.checks]
    lines += ["", "## Summary", "", "| quantity | value |", "|---|---|"]
    lines += [f"| {_md_cell(label)} | {_md_cell(value)} |" for label, value in _summary_rows(verdict)]
    lines += ["", "## Loss", "", f"![training loss per step]({plot_name})", ""]
    return "\n".join(lines)


def render_html(
    verdict: Verdict,
    *,
    title: str,
    png: bytes,
    identity: Sequence[tuple[str, str]] = (),
    plots: Sequence[tuple[str, bytes]] = (),
    other_name: str = "",
) -> str:
    """A self-contained HTML page (plots inlined as base64) for ``snakemake --report`` or a browser.

    ``png`` is the loss plot; ``plots`` are further ``(caption, PNG)`` pairs; ``identity`` the run's rows.
    """
    import jinja2  # deferred: only the writer of report.html needs it

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("primus.verify", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    figures = [("training loss per step", png), *plots]
    return environment.get_template("report.html.j2").render(
        title=title,
        passed=verdict.passed,
        verdict=verdict_word(verdict),
        counts=counts_line(verdict),
        checks=[(c.name, c.status, _STATUS_WORD[c.status], c.message) for c in verdict.checks],
        identity=list(identity),
        summary=_summary_rows(verdict),
        figures=[(caption, base64.b64encode(data).decode("ascii")) for caption, data in figures],
        other_name=other_name,
    )


def caption_rst(verdict: Verdict, *, title: str) -> str:
    """A short reStructuredText caption (Snakemake ``report(..., caption=...)`` files are RST)."""
    checks = ", ".join(f"``{c.name}`` {_STATUS_WORD[c.status]}" for c in verdict.checks)
    return (
        f"Training loss per step of run ``{title}``. Verdict: **{verdict_word(verdict)}** "
        f"({counts_line(verdict)}): {checks}.\n"
    )


#: The quantities of metrics.jsonl plotted beside the loss: (attribute, y-axis label, caption).
METRIC_PLOTS = (
    ("lr", "learning rate", "learning rate"),
    ("grad_norm", "grad norm", "gradient norm (after clipping)"),
    ("tokens_per_second", "tokens/s", "throughput (tokens/s)"),
    ("memory_gib", "GiB", "peak memory (GiB)"),
)


def render_loss_plot(
    log: MetricsLog, *, title: str, other: MetricsLog | None = None, other_name: str = ""
) -> bytes:
    """Loss against step as PNG bytes. Non-finite losses are drawn as red dashed vertical lines, since they
    have no place on the y axis; ``other`` (a compared run) is drawn dashed."""
    axes, figure = _figure(8, 4.5)
    _plot_curve(axes, log, "loss", label="this run", style="-")
    if other is not None:
        _plot_curve(axes, other, "loss", label=other_name or "other run", style="--")
    bad = [r.step for r in log.steps if not math.isfinite(r.loss)]
    for index, step in enumerate(bad[:50]):  # beyond 50 lines the plot says nothing more
        axes.axvline(step, color="tab:red", linestyle=":", label="non-finite loss" if index == 0 else None)
    axes.set_ylabel("loss")
    axes.set_title(title)
    if other is not None or bad:  # one plain curve needs no legend
        axes.legend()
    return _png(figure)


def render_metric_plots(
    log: MetricsLog, *, other: MetricsLog | None = None, other_name: str = ""
) -> list[tuple[str, bytes]]:
    """``(caption, PNG)`` for each quantity the run recorded (see ``METRIC_PLOTS``), the compared run
    overlaid; with ``other``, first the per-step loss difference."""
    plots = []
    if other is not None:
        caption = f"loss difference per step (this run − {other_name or 'other run'})"
        plots.append((caption, _difference(log, other)))
    for field, ylabel, caption in METRIC_PLOTS:
        if not any(getattr(r, field) is not None for r in log.steps):
            continue
        axes, figure = _figure(6.4, 3.2)
        _plot_curve(axes, log, field, label="this run", style="-")
        if other is not None and any(getattr(r, field) is not None for r in other.steps):
            _plot_curve(axes, other, field, label=other_name or "other run", style="--")
            axes.legend()
        axes.set_ylabel(ylabel)
        axes.set_title(caption)
        plots.append((caption, _png(figure)))
    return plots


def _difference(log: MetricsLog, other: MetricsLog) -> bytes:
    theirs = {r.step: r.loss for r in other.steps}
    pairs = [(r.step, r.loss - theirs[r.step]) for r in log.steps if r.step in theirs]
    axes, figure = _figure(6.4, 3.2)
    steps = [step for step, _ in pairs]
    differences = [d if math.isfinite(d) else math.nan for _, d in pairs]
    axes.axhline(0.0, color="0.6", linewidth=0.8)
    axes.plot(steps, differences, "-", marker="o" if len(steps) <= 30 else None, markersize=3)
    axes.set_ylabel("Δ loss")
    axes.set_title("loss difference per step")
    return _png(figure)


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # deferred: only verify's writer needs it
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole numbers
    axes.set_xlabel("step")
    axes.grid(True, alpha=0.3)
    return axes, figure


def _png(figure: Any) -> bytes:
    figure.subplots_adjust(left=0.12, right=0.98, top=0.9, bottom=0.15)  # fixed: tight_layout draws twice
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _plot_curve(axes: Any, log: MetricsLog, field: str, *, label: str, style: str) -> None:
    points = [(r.step, getattr(r, field)) for r in log.steps if getattr(r, field) is not None]
    steps = [step for step, _ in points]
    # NaN breaks the line where a value is not finite instead of stretching the y axis to infinity
    values = [value if math.isfinite(value) else math.nan for _, value in points]
    marker = "o" if len(steps) <= 30 else None
    axes.plot(steps, values, style, marker=marker, markersize=3, label=label)


def _summary_rows(verdict: Verdict) -> list[tuple[str, str]]:
    return [
        (_SUMMARY_LABELS.get(key, key), format_value(key, value))
        for key, value in verdict.summary.items()
        if value is not None
    ]


#: How each summary number is shown to people (the JSON keeps full precision).
_FORMATS = {
    "first_loss": "{:.4f}",
    "last_loss": "{:.4f}",
    "min_loss": "{:.4f}",
    "mean_tokens_per_second": "{:,.0f}",
    "median_step_time_s": "{:.3g}",
    "peak_memory_gib": "{:.2f}",
}


def format_value(key: str, value: Any) -> str:
    """``0.73`` for a peak memory of 0.731186 GiB, ``12,346`` tokens/s, 4 decimals for losses."""
    if isinstance(value, float) and math.isfinite(value):
        return _FORMATS.get(key, "{:.4g}").format(value)
    return str(value)


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
