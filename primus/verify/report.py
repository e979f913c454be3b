"""Human-readable outputs of a verdict: the Markdown report, a self-contained HTML page for
``snakemake --report``, its reStructuredText caption, and the loss plot (PNG bytes).

Everything here renders to strings/bytes in memory; ``primus.verify.outputs`` writes them all at once.
matplotlib is imported only inside ``render_loss_plot`` and drawn on a bare ``Figure`` with the Agg canvas,
so no display is needed and no global pyplot backend is switched.
"""

from __future__ import annotations

import base64
import html
import io
import math
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


def render_html(verdict: Verdict, *, title: str, png: bytes) -> str:
    """A self-contained HTML page (the plot inlined as base64) for ``snakemake --report`` or a browser."""
    rows = "\n".join(
        f"<tr class='{c.status}'><td><code>{html.escape(c.name)}</code></td>"
        f"<td>{_STATUS_WORD[c.status]}</td><td>{html.escape(c.message)}</td></tr>"
        for c in verdict.checks
    )
    summary = "\n".join(
        f"<tr><td>{html.escape(label)}</td><td>{html.escape(value)}</td></tr>"
        for label, value in _summary_rows(verdict)
    )
    image = base64.b64encode(png).decode("ascii")
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Verification of {html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:60em}}td{{padding:.2em .6em;vertical-align:top}}
tr.fail td{{color:#b00020}}tr.skip td{{color:#666}}</style></head>
<body><h1>Verification of <code>{html.escape(title)}</code></h1>
<p><strong>Verdict: {verdict_word(verdict)}</strong> ({counts_line(verdict)})</p>
<table><tr><th>check</th><th>status</th><th>details</th></tr>
{rows}
</table>
<h2>Summary</h2><table>
{summary}
</table>
<h2>Loss</h2><img alt="training loss per step" src="data:image/png;base64,{image}">
</body></html>
"""


def caption_rst(verdict: Verdict, *, title: str) -> str:
    """A short reStructuredText caption (Snakemake ``report(..., caption=...)`` files are RST)."""
    checks = ", ".join(f"``{c.name}`` {_STATUS_WORD[c.status]}" for c in verdict.checks)
    return (
        f"Training loss per step of run ``{title}``. Verdict: **{verdict_word(verdict)}** "
        f"({counts_line(verdict)}): {checks}.\n"
    )


def render_loss_plot(
    log: MetricsLog, *, title: str, other: MetricsLog | None = None, other_name: str = ""
) -> bytes:
    """Loss against step as PNG bytes. Non-finite losses are drawn as red dashed vertical lines, since they
    have no place on the y axis; ``other`` (a compared run) is drawn dashed."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # deferred: only verify's writer needs it
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(8, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    _plot_curve(axes, log, label="this run", style="-")
    if other is not None:
        _plot_curve(axes, other, label=other_name or "other run", style="--")
    bad = [r.step for r in log.steps if not math.isfinite(r.loss)]
    for index, step in enumerate(bad[:50]):  # beyond 50 lines the plot says nothing more
        axes.axvline(step, color="tab:red", linestyle=":", label="non-finite loss" if index == 0 else None)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole numbers
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    if other is not None or bad:  # one plain curve needs no legend
        axes.legend()
    figure.subplots_adjust(left=0.09, right=0.98, top=0.92, bottom=0.11)  # fixed: tight_layout draws twice
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _plot_curve(axes: Any, log: MetricsLog, *, label: str, style: str) -> None:
    steps = [r.step for r in log.steps]
    # NaN breaks the line where the loss is not finite instead of stretching the y axis to infinity
    losses = [r.loss if math.isfinite(r.loss) else math.nan for r in log.steps]
    marker = "o" if len(steps) <= 30 else None
    axes.plot(steps, losses, style, marker=marker, markersize=3, label=label)


def _summary_rows(verdict: Verdict) -> list[tuple[str, str]]:
    return [
        (_SUMMARY_LABELS.get(key, key), _format_value(value))
        for key, value in verdict.summary.items()
        if value is not None
    ]


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
