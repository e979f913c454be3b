"""Rendering a verdict: Markdown report, HTML page, RST caption and the PNG loss plot."""

from __future__ import annotations

import math
from pathlib import Path

from primus.verify.metrics import MetricsLog, StepMetrics
from primus.verify.report import caption_rst, render_html, render_loss_plot, render_markdown
from primus.verify.verdict import Check, Verdict

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

VERDICT = Verdict(
    checks=(
        Check("steps_completed", "pass", "all 3 steps of 3 are present"),
        Check("against", "fail", "losses differ first at step 2: a|b <x> here"),
        Check("loss_decreased", "skip", "not judged: 3 logged steps, a trend needs 20 or more"),
    ),
    summary={"steps_configured": 3, "first_loss": 8.123456789, "device": None, "deterministic": True},
)


def test_markdown_has_verdict_table_summary_and_plot():
    text = render_markdown(VERDICT, title="demo/abc")
    assert text.splitlines()[:8] == [
        "# Verification of `demo/abc`",
        "",
        "**Verdict: FAILED** (3 checks: 1 passed, 1 failed, 1 skipped)",
        "",
        "| check | status | details |",
        "|---|---|---|",
        "| `steps_completed` | PASS | all 3 steps of 3 are present |",
        "| `against` | FAIL | losses differ first at step 2: a\\|b <x> here |",  # a pipe would split the cell
    ]
    assert "| first loss | 8.1235 |" in text  # rounded as people read a loss
    assert "device" not in text  # unknown values are left out rather than shown as None
    assert text.endswith("![training loss per step](loss.png)\n")


def test_html_escapes_messages_and_inlines_the_plot():
    page = render_html(VERDICT, title="demo/abc", png=PNG_MAGIC)
    assert "a|b &lt;x&gt; here" in page
    assert '<div class="verdict fail" id="verdict">' in page
    assert "<strong>FAILED</strong>" in page
    assert 'src="data:image/png;base64,iVBORw0KGgo="' in page


def test_caption_names_the_verdict_and_each_check():
    assert caption_rst(VERDICT, title="demo/abc") == (
        "Training loss per step of run ``demo/abc``. Verdict: **FAILED** (3 checks: 1 passed, 1 failed,"
        " 1 skipped): ``steps_completed`` PASS, ``against`` FAIL, ``loss_decreased`` skip.\n"
    )


def test_plot_draws_non_finite_losses_and_a_compared_run_as_png():
    def log(losses):
        steps = tuple(StepMetrics(step=i, loss=v) for i, v in enumerate(losses, start=1))
        return MetricsLog(path=Path("m"), steps=steps)

    mine = log([8.0, 7.5, math.nan, math.inf, -math.inf])
    png = render_loss_plot(mine, title="demo", other=log([8.0, 7.5, 7.2, 7.0, 6.9]), other_name="demo/b")
    assert png.startswith(PNG_MAGIC)
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")  # the IHDR chunk
    assert (width, height) == (800, 450)
