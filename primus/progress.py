"""What a person watching a training run sees: step/total, loss, tokens/s and an ETA (torch-free).

One view for every way a run is started (``primus-cli direct``, ``primus-cli train``, ``make train``,
``snakemake train``): the train stage feeds it the newest ``metrics.jsonl`` row whenever the file changes.
On a terminal it is a tqdm bar redrawn in place (tqdm: the well-kept standard for this, already a dependency
of the training stack); anywhere else (a pipe, ``tee``, Snakemake's log) it is one plain line per logged
step, so logs hold text rather than carriage returns. Neither ever prints colour.

The ETA is the remaining steps at the rate measured since the first metrics change seen after launch, so the
start-up, the first (warm-up) step and a resumed run's earlier steps never count: it shows ``?`` until a
second logged step arrives.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import IO, Any


def wants_color(stream: IO[str], env: Mapping[str, str] | None = None) -> bool:
    """True when ``stream`` is a terminal and neither NO_COLOR (no-color.org) nor TERM=dumb says otherwise."""
    env = os.environ if env is None else env
    if env.get("NO_COLOR") or env.get("TERM") == "dumb":
        return False
    return wants_tty(stream)


def hours_minutes_seconds(seconds: float) -> str:
    """``1:02:03`` for 3723 s."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02}:{secs:02}"


def _number(value: Any, spec: str) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return format(value, spec)
    return "?" if value is None else str(value)


class EtaClock:
    """The remaining time from (arrival time, step) pairs, measured from the first one on."""

    def __init__(self, total_steps: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total_steps
        self.clock = clock
        self.first: tuple[float, int] | None = None
        self.last: tuple[float, int] | None = None

    def observe(self, step: int) -> None:
        now = self.clock()
        if self.first is None:
            self.first = (now, step)
        self.last = (now, step)

    def seconds_left(self) -> float | None:
        """None until two observations a step apart exist."""
        if self.first is None or self.last is None:
            return None
        (t0, s0), (t1, s1) = self.first, self.last
        if s1 <= s0 or t1 <= t0:
            return None
        return max(self.total - s1, 0) * (t1 - t0) / (s1 - s0)


class ProgressView:
    """Shows training progress on ``stream``: a tqdm bar on a terminal, one line per logged step elsewhere."""

    def __init__(
        self,
        total_steps: int,
        *,
        stream: IO[str] | None = None,
        interactive: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = sys.stdout if stream is None else stream
        self.total = total_steps
        self.interactive = wants_tty(self.stream) if interactive is None else interactive
        self.eta = EtaClock(total_steps, clock)
        self.bar = None
        if self.interactive:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total_steps,
                file=self.stream,
                bar_format="step {n_fmt}/{total_fmt} |{bar:24}| {percentage:3.0f}% [{elapsed}{postfix}]",
                dynamic_ncols=True,
                mininterval=0,
                colour=None,
            )

    def text(self, row: Mapping[str, Any]) -> str:
        """``loss 7.1234 | 1,234 tok/s | ETA 0:00:12`` for the newest row."""
        left = self.eta.seconds_left()
        eta = hours_minutes_seconds(left) if left is not None else "?"
        return (
            f"loss {_number(row.get('loss'), '.4f')} | "
            f"{_number(row.get('tokens_per_second'), ',.0f')} tok/s | ETA {eta}"
        )

    def update(self, row: Mapping[str, Any]) -> None:
        """Show the newest metrics row (called when ``metrics.jsonl`` changed)."""
        step = int(row["step"])
        self.eta.observe(step)
        if self.bar is not None:
            self.bar.n = min(step, self.total)
            self.bar.set_postfix_str(self.text(row), refresh=True)
        else:
            self.stream.write(f"step {step}/{self.total} | {self.text(row)}\n")
            self.stream.flush()

    def message(self, line: str, stream: IO[str]) -> None:
        """Print ``line`` on ``stream`` without breaking the bar (tqdm clears and redraws it around it)."""
        if self.bar is not None:
            from tqdm import tqdm

            tqdm.write(line.rstrip("\n"), file=stream)
        else:
            stream.write(line)
        stream.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def wants_tty(stream: IO[str]) -> bool:
    """True when ``stream`` is a terminal (the bar redraws in place only there)."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
