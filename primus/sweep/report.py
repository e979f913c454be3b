"""The sweep report: every point side by side, its loss curve overlaid with the others, and the best one.

``collect(plan)`` reads each point's bundle (``verify/verdict.json`` when verified, else whatever
``train/metrics.jsonl`` holds, so a point that failed part-way still shows how far it got); ``write_report``
renders ``report.md``, ``report.html`` (self-contained, the plot inlined) and ``loss.png`` into one folder,
``report.md`` last. The best point is chosen among the points that PASS, by the sweep file's ``metric``.
matplotlib is imported only to draw the plot.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from primus.bundle import layout
from primus.sweep.plan import SweepPlan
from primus.sweep.spec import METRICS

#: Files ``write_report`` writes (``report.md`` last).
REPORT_FILES = ("report.md", "report.html", "loss.png", "points.json")
_LABELS = {"final_loss": "final loss", "lowest_loss": "lowest loss", "tokens_per_second": "tokens/s"}


@dataclass(frozen=True)
class PointResult:
    """What the report shows of one point."""

    name: str
    overrides: str
    bundle: Path
    same_as: str | None
    verdict: str  # PASS, FAIL, not trained, not run
    detail: str  # failed checks, or where to look
    steps: tuple[int, ...]
    losses: tuple[float, ...]
    final_loss: float | None
    lowest_loss: float | None
    tokens_per_second: float | None

    def metric(self, name: str) -> float | None:
        value = getattr(self, name)
        return value if value is not None and math.isfinite(value) else None


def collect(plan: SweepPlan) -> list[PointResult]:
    """One result per point, from what its bundle holds now."""
    return [_result(point.name, point.point, point.bundle, point.same_as) for point in plan.points]


def _result(name: str, point: Any, bundle: Path, same_as: str | None) -> PointResult:
    from primus.errors import PrimusError
    from primus.verify.metrics import read_metrics

    overrides = " ".join(setting.shown() for setting in point.settings) or "(base)"
    metrics = bundle / layout.METRICS_PATH
    steps: tuple[int, ...] = ()
    losses: tuple[float, ...] = ()
    rates: list[float] = []
    if metrics.is_file():
        try:
            log = read_metrics(metrics)
            steps = tuple(r.step for r in log.steps)
            losses = tuple(r.loss for r in log.steps)
            rates = [r.tokens_per_second for r in log.steps if r.tokens_per_second is not None]
        except PrimusError:
            pass
    verdict, detail = _verdict(bundle)
    finite = [loss for loss in losses if math.isfinite(loss)]
    return PointResult(
        name=name,
        overrides=overrides,
        bundle=bundle,
        same_as=same_as,
        verdict=verdict,
        detail=detail,
        steps=steps,
        losses=losses,
        final_loss=losses[-1] if losses else None,
        lowest_loss=min(finite) if finite else None,
        tokens_per_second=statistics.fmean(rates) if rates else None,
    )


def _verdict(bundle: Path) -> tuple[str, str]:
    verdict_file = bundle / layout.VERDICT_PATH
    if verdict_file.is_file():
        try:
            verdict = json.loads(verdict_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return "FAIL", f"unreadable {verdict_file}"
        if verdict.get("passed"):
            return "PASS", ""
        failed = [c.get("name", "?") for c in verdict.get("checks", []) if c.get("status") == "fail"]
        return "FAIL", "failed checks: " + ", ".join(failed)
    if (bundle / layout.DONE_PATH).is_file():
        return _judged(bundle)
    if (bundle / layout.TRAIN_DIR).is_dir():
        return "FAIL", f"training failed or stopped: see {bundle / layout.TRAIN_DIR / layout.TRAIN_RULE_LOG}"
    if (bundle / layout.MANIFEST).is_file():
        return "not trained", "frozen, not trained yet"
    return "not run", "not frozen yet"


def _judged(bundle: Path) -> tuple[str, str]:
    """A trained point without a verdict file: Snakemake removes verify/ when the check fails, so the
    checks run again here, in memory (nothing is written into the bundle)."""
    from primus.errors import PrimusError
    from primus.verify import judge

    try:
        verdict = judge(bundle)
    except PrimusError as error:
        return "FAIL", f"cannot be verified: {error.message}"
    if verdict.passed:
        return "not verified", "passes its checks; the verify stage has not run"
    return "FAIL", "failed checks: " + ", ".join(check.name for check in verdict.failed)


def best_point(results: list[PointResult], metric: str) -> PointResult | None:
    """The passing point with the lowest loss (or the highest throughput); None when no point passed."""
    candidates = [r for r in results if r.verdict == "PASS" and r.metric(metric) is not None]
    if not candidates:
        return None
    pick = min if METRICS[metric] == "lower" else max
    return pick(candidates, key=lambda r: r.metric(metric))


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return format(value, ".6g") if math.isfinite(value) else str(value)


def _rows(results: list[PointResult]) -> list[list[str]]:
    rows = []
    for r in results:
        verdict = r.verdict + (f" ({r.detail})" if r.detail and r.verdict != "PASS" else "")
        bundle = f"{r.bundle.name}" + (f" (same as {r.same_as})" if r.same_as else "")
        rows.append(
            [
                r.name,
                r.overrides,
                _number(r.final_loss),
                _number(r.lowest_loss),
                _number(r.tokens_per_second),
                verdict,
                bundle,
            ]
        )
    return rows


_HEADER = ["point", "overrides", "final loss", "lowest loss", "tokens/s", "verdict", "bundle"]


def _best_line(best: PointResult | None, metric: str, *, code: str = "`") -> str:
    label = _LABELS[metric]
    if best is None:
        return f"Best point by {label}: none (no point passed)."
    return f"Best point by {label}: {code}{best.name}{code} ({_number(best.metric(metric))})."


def render_markdown(plan: SweepPlan, results: list[PointResult], *, plot_name: str = "loss.png") -> str:
    spec = plan.spec
    metric = spec.metric
    passed = sum(r.verdict == "PASS" for r in results)
    lines = [
        f"# Sweep `{spec.name}`",
        "",
        f"Sweep file `{spec.file}`, base experiment `{spec.base}`: {len(results)} points, "
        f"{len(plan.bundles)} bundles, {passed} PASS.",
        "",
        f"**{_best_line(best_point(results, metric), metric)}**",
        "",
        "| " + " | ".join(_HEADER) + " |",
        "|" + "---|" * len(_HEADER),
    ]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in _rows(results)]
    lines += ["", "## Loss", "", f"![loss per step of every point]({plot_name})", ""]
    return "\n".join(lines)


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_html(plan: SweepPlan, results: list[PointResult], *, png: bytes) -> str:
    spec = plan.spec
    best = best_point(results, spec.metric)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in _HEADER)
    body = "\n".join(
        f"<tr class='{'pass' if r.verdict == 'PASS' else 'fail'}"
        f"{' best' if best is not None and r.name == best.name else ''}'>"
        + "".join(f"<td>{html.escape(cell)}</td>" for cell in row)
        + "</tr>"
        for r, row in zip(results, _rows(results), strict=True)
    )
    image = base64.b64encode(png).decode("ascii")
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Sweep {html.escape(spec.name)}</title>
<style>body{{font-family:sans-serif;max-width:80em}}td,th{{padding:.2em .6em;text-align:left}}
tr.fail td{{color:#b00020}}tr.best td{{font-weight:bold}}</style></head>
<body><h1>Sweep <code>{html.escape(spec.name)}</code></h1>
<p>Sweep file <code>{html.escape(spec.file)}</code>,
base experiment <code>{html.escape(str(spec.base))}</code>:
{len(results)} points, {len(plan.bundles)} bundles.</p>
<p><strong>{html.escape(_best_line(best, spec.metric, code=""))}</strong></p>
<table><tr>{head}</tr>
{body}
</table>
<h2>Loss</h2><img alt="loss per step of every point" src="data:image/png;base64,{image}">
</body></html>
"""


def render_plot(plan: SweepPlan, results: list[PointResult]) -> bytes:
    """Every point's loss curve in one plot (PNG bytes); shared bundles are drawn once."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # deferred: only the report draws
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(9, 5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    best = best_point(results, plan.spec.metric)
    drawn = 0
    for r in results:
        if r.same_as or not r.steps:
            continue
        losses = [loss if math.isfinite(loss) else math.nan for loss in r.losses]
        style = "-" if r.verdict == "PASS" else ":"
        width = 2.5 if best is not None and r.name == best.name else 1.2
        label = r.name if r.verdict == "PASS" else f"{r.name} ({r.verdict})"
        marker = "o" if len(r.steps) <= 30 else None
        axes.plot(r.steps, losses, style, linewidth=width, marker=marker, markersize=3, label=label)
        drawn += 1
        if drawn >= 40:  # beyond 40 curves one plot says nothing more; the table has every point
            break
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    axes.set_title(f"sweep {plan.spec.name}: loss per step")
    axes.grid(True, alpha=0.3)
    if drawn:
        axes.legend(fontsize="small")
    else:
        axes.text(0.5, 0.5, "no point has logged a step yet", ha="center", transform=axes.transAxes)
    figure.subplots_adjust(left=0.08, right=0.98, top=0.93, bottom=0.1)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def points_json(plan: SweepPlan, results: list[PointResult]) -> str:
    """The table as JSON (for tools): each point with its values, verdict and metrics."""
    best = best_point(results, plan.spec.metric)
    points = [
        {
            "name": r.name,
            "overrides": {s.key: s.value for s in point.point.settings},
            "bundle": str(r.bundle),
            "same_as": r.same_as,
            "verdict": r.verdict,
            "detail": r.detail,
            "final_loss": _json_number(r.final_loss),
            "lowest_loss": _json_number(r.lowest_loss),
            "tokens_per_second": _json_number(r.tokens_per_second),
        }
        for r, point in zip(results, plan.points, strict=True)
    ]
    document = {
        "sweep": plan.spec.name,
        "metric": plan.spec.metric,
        "best": best.name if best else None,
        "points": points,
    }
    return json.dumps(document, indent=2) + "\n"


def _json_number(value: float | None) -> float | str | None:
    return value if value is None or math.isfinite(value) else str(value)


def write_report(plan: SweepPlan, folder: Path) -> list[PointResult]:
    """Write the report files into ``folder`` (``report.md`` last) and return the results shown."""
    from primus.verify.outputs import write_outputs

    results = collect(plan)
    png = render_plot(plan, results)
    write_outputs(
        Path(folder),
        {
            "loss.png": png,
            "report.html": render_html(plan, results, png=png).encode(),
            "points.json": points_json(plan, results).encode(),
            "report.md": render_markdown(plan, results).encode(),
        },
        seal="report.md",
    )
    return results


def write_report_quietly(plan: SweepPlan, folder: Path | None) -> None:
    """``write_report`` for the workflow's failure handler: a problem here must not hide the real failure."""
    if folder is None:
        return
    try:
        write_report(plan, folder)
    except Exception as error:  # the handler reports the failed points either way
        print(f"(the sweep report could not be written: {error})")
    else:
        print(f"sweep report (with the failed points): {Path(folder) / 'report.md'}")


def summary_lines(plan: SweepPlan, results: list[PointResult]) -> list[str]:
    """The report's table as aligned text lines (what ``primus-cli sweep report`` prints)."""
    rows = [_HEADER, *_rows(results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADER))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    lines.append(_best_line(best_point(results, plan.spec.metric), plan.spec.metric, code=""))
    return lines


__all__ = [
    "REPORT_FILES",
    "PointResult",
    "best_point",
    "collect",
    "render_html",
    "render_markdown",
    "render_plot",
    "summary_lines",
    "write_report",
    "write_report_quietly",
]
